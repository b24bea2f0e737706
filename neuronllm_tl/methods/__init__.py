"""Neuron-finding methods (NeuronLLM and its baselines) behind one registry: :mod:`neuronllm_tl.methods.registry`."""
