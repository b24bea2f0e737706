"""What the package uses of a TransformerLens model, as a structural type (:class:`HookedModel`).

Theory: the plugin never subclasses or wraps the user's model. It reads the model's shape from
``cfg``, finds the MLP neurons by name in ``hook_dict`` (``blocks.{layer}.mlp.hook_post``), attaches
temporary forward hooks with ``hooks(...)`` / ``run_with_hooks(...)``, tokenizes with
``to_tokens(...)`` / ``tokenizer`` and runs ``model(tokens)``. Any object with that surface works:
``TransformerBridge`` (TransformerLens >= 3.9, the only class in 4.x) and ``HookedTransformer``
(TransformerLens <= 3.9) both match, without importing TransformerLens here.

The members are read-only properties (so a subclass of the config or a plain attribute still
matches) and the call signatures are loose (``*args, **kwargs``), because the two model classes
differ in signature detail but agree in use, as in TransformerLens' own ``model_protocol``. The
protocols are ``runtime_checkable``: ``isinstance`` checks only that the members exist.

Example:
    >>> from neuronllm_tl.models.protocol import HookedModel
    >>> from neuronllm_tl.testing import tiny_model
    >>> model = tiny_model()
    >>> isinstance(model, HookedModel), model.cfg.d_mlp
    (True, 48)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["HookedModel", "ModelConfig"]


@runtime_checkable
class ModelConfig(Protocol):
    """The fields of ``model.cfg`` the package reads (``TransformerBridgeConfig``, ``HookedTransformerConfig``)."""

    @property
    def n_layers(self) -> int: ...

    @property
    def d_mlp(self) -> int | None:
        """Neurons per MLP layer; ``None`` on attention-only models (refused by ``model_spec``)."""
        ...

    @property
    def d_model(self) -> int: ...

    @property
    def d_vocab(self) -> int: ...

    @property
    def n_ctx(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    @property
    def default_prepend_bos(self) -> bool: ...

    @property
    def device(self) -> str | torch.device | None: ...


@runtime_checkable
class HookedModel(Protocol):
    """A TransformerLens model: ``TransformerBridge`` or ``HookedTransformer`` (or any structural match).

    Used as ``model: HookedModel`` everywhere the package takes a model. Calls the package makes:
    ``model.hooks(fwd_hooks=[(name, fn), ...])`` as a context manager,
    ``model.run_with_hooks(tokens, fwd_hooks=[...])``, ``model.to_tokens(text, prepend_bos=...)``,
    ``model(tokens)`` (logits ``[batch, pos, d_vocab]``); ``forward`` is read only for its signature.
    """

    @property
    def cfg(self) -> ModelConfig: ...

    @property
    def hook_dict(self) -> Mapping[str, Any]:
        """Hook point name (``"blocks.0.mlp.hook_post"``) -> ``HookPoint``."""
        ...

    @property
    def tokenizer(self) -> Any: ...

    @property
    def training(self) -> bool: ...

    def hooks(self, *args: Any, **kwargs: Any) -> AbstractContextManager[Any]:
        """Context manager adding ``fwd_hooks=[(name, fn), ...]`` (and ``bwd_hooks=``) until it exits."""
        ...

    def run_with_hooks(self, *args: Any, **kwargs: Any) -> Any: ...

    def to_tokens(self, *args: Any, **kwargs: Any) -> Any: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, torch.nn.Parameter]]: ...

    def forward(self, *args: Any, **kwargs: Any) -> Any: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
