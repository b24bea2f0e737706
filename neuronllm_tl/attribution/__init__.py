"""Stage 5 of the pipeline: per-question, per-neuron attributions of the objective F (gradient x activation
or exact integrated gradients), read at each question's answer position through TransformerLens hooks.

It differentiates the objectives of scoring (stage 4) and feeds the neuron selection and the methods
(stages 6 and 7): ``stream`` is the one batched loop every consumer reads, ``collect`` keeps its output
per question, and ``activations`` counts firing rates for methods that need no gradient.
"""
