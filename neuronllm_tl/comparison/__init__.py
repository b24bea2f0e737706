"""Comparison harness: NeuronLLM next to its baselines and ablations under one protocol."""
