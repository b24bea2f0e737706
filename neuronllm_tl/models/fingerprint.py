"""A content fingerprint of a model: the same weights give the same key, any edited weight a new one.

Theory: cached artefacts (attributions, neuron sets, comparison cells, checkpoints) are keyed by what
produced them, so a rerun after the model changed must not reuse them. The fingerprint is the
sha256 of the model's name (a local folder's last component only, so the key is the same wherever the
folder lies: another user's cache, another machine) and class, its shape (``n_layers``, ``d_mlp``,
``d_model``, ``d_vocab``) and, in ``named_parameters()`` order, every parameter's name, dtype, shape and
raw bytes (read as ``uint8``, so bfloat16 and float16 weights hash exactly like float32 ones).

Hashing every weight costs about a second per 500 MB, so the digest is memoised per model object in
a ``WeakKeyDictionary`` (nothing is written onto the model, and the entry goes when the model does).
The memo is checked against each parameter's ``(data_ptr(), _version)``: replacing a parameter or
editing it in place (``with torch.no_grad(): p.add_(1)``, ``load_state_dict``, ``model.to(...)``)
invalidates it. An edit through ``p.data`` bypasses PyTorch's version counter and is not seen; pass
``recompute=True`` after one.

Example:
    >>> from neuronllm_tl.models.fingerprint import model_fingerprint
    >>> from neuronllm_tl.testing import tiny_model
    >>> model = tiny_model()
    >>> key = model_fingerprint(model)              # 64 hex digits
    >>> with torch.no_grad():
    ...     _ = next(model.parameters()).add_(1.0)
    >>> model_fingerprint(model) != key
    True
"""

from __future__ import annotations

import hashlib
import json
import weakref
from pathlib import Path

import torch

from neuronllm_tl.models.protocol import HookedModel

__all__ = ["model_fingerprint", "same_model"]

_StateKey = tuple[tuple[int, int], ...]
_MEMO: weakref.WeakKeyDictionary[HookedModel, tuple[_StateKey, str]] = weakref.WeakKeyDictionary()


def _state_key(model: HookedModel) -> _StateKey:
    """Where every parameter lives and how often it was edited in place."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    """The tensor's raw bytes on the CPU, for any dtype (numpy has no bfloat16, so view as uint8)."""
    flat = t.detach().reshape(-1).contiguous().cpu()
    return flat.view(torch.uint8).numpy().data


def _compute(model: HookedModel, *, full_name: bool = False) -> str:
    cfg = model.cfg
    header = {
        # a local folder's name, not where it lies: keys travel (full_name: the rule before 2026-12-06)
        "model_name": str(cfg.model_name) if full_name else Path(str(cfg.model_name)).name,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "n_layers": cfg.n_layers,
        "d_mlp": cfg.d_mlp,
        "d_model": cfg.d_model,
        "d_vocab": cfg.d_vocab,
    }
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for name, p in model.named_parameters():
        h.update(f"\n{name}|{p.dtype}|{tuple(p.shape)}\n".encode())
        h.update(_tensor_bytes(p))
    return h.hexdigest()


def same_model(model: HookedModel, recorded: str) -> bool:
    """Whether ``recorded`` is ``model``'s fingerprint, also as computed before keys dropped the folder path."""
    return recorded in (model_fingerprint(model), _compute(model, full_name=True))


def model_fingerprint(model: HookedModel, *, recompute: bool = False) -> str:
    """The sha256 hex digest of ``model``'s name, class, shape and weights (memoised; see the module doc).

    Args:
        model: A TransformerLens model (``TransformerBridge`` or ``HookedTransformer``).
        recompute: Ignore the memo and hash the weights again (needed only after an edit through
            ``p.data``, which PyTorch does not record).
    """
    state = _state_key(model)
    try:
        memo = _MEMO.get(model)
    except TypeError:  # not weak-referenceable (not an nn.Module): hash every time
        return _compute(model)
    if memo is not None and memo[0] == state and not recompute:
        return memo[1]
    digest = _compute(model)
    _MEMO[model] = (state, digest)
    return digest
