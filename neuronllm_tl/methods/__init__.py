"""Stage 7 of the pipeline: neuron-finding methods (NeuronLLM and its baselines) behind one registry,
:mod:`neuronllm_tl.methods.registry`, reached through :func:`~neuronllm_tl.methods.registry.identify`.

Each method turns (model, task, its config) into a :class:`~neuronllm_tl.neurons.neuron_set.NeuronSet`,
from attributions or activations (stage 5) and the selection of stage 6; steering (stage 8) and the
comparison (stage 10) take its result.
"""
