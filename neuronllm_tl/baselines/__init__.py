"""Neuron-identification baselines next to NeuronLLM, each returning a :class:`~neuronllm_tl.NeuronSet`."""
