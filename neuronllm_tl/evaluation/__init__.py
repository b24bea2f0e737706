"""Stage 9 of the pipeline: what a steering does to a task, measured on held-out questions.

``scores`` scores every question unsteered or under a
:class:`~neuronllm_tl.steering.steering.Steering` (and filters genuine examples), ``evaluate`` compares
the identified neurons' steering with random sets of the same shape, ``interactions`` asks whether a set's
single-neuron effects add up to its joint effect, and ``plots`` draws neuron sets.
The comparison (stage 10) runs it for every method and task.
"""
