"""Stage 6 of the pipeline: from attributions to neurons, and the neuron set every later stage works with.

``selection`` turns per-example attribution sums into good and bad neurons (contrastive neuron
identification: coarse sets, ambiguity mask, top-k), and ``neuron_set`` holds the result, a
:class:`~neuronllm_tl.neurons.neuron_set.NeuronSet` that the methods (stage 7) return and steering
(stage 8) applies.
"""
