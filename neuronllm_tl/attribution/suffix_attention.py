"""Attention of replayed suffix rows over one shared copy of the prompt's keys and values (layer replay).

Every variant of a question attends to the same prompt before the answer position, so its keys and values
are cached once (``[kv_head, prefix, d_head]``) and every replayed row reads that one copy through an einsum;
only the suffix's own keys and values are per row. The suffix is causal, or packed
(:mod:`~neuronllm_tl.attribution.packing`: every option in one row, each attending to its own tokens).

Example:
    >>> from neuronllm_tl.testing import tiny_hf_llama
    >>> attn = tiny_hf_llama(str(tmp_path / "llama")).blocks[0].attn.original_component
    >>> kv_heads, d = attn.config.num_key_value_heads, attn.head_dim
    >>> prompt = (torch.randn(1, kv_heads, 5, d), torch.randn(1, kv_heads, 5, d))   # a 5-token prompt, cached once
    >>> x = torch.randn(3, 2, attn.config.hidden_size)                              # 3 rows of a 2-token suffix
    >>> no_rotation = (torch.ones(1, 2, d), torch.zeros(1, 2, d))
    >>> shared_prefix_attention(attn, x, prompt, no_rotation).shape
    torch.Size([3, 2, 32])
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.attribution.packing import PackedSuffix

ATTENTION_PARTS = ("q_proj", "k_proj", "v_proj", "o_proj")
"""The projections of a Hugging Face attention module that the replay runs."""


def shared_prefix_attention(
    attn: Any,
    x: Float[Tensor, "row suffix d_model"],
    kv: tuple[Tensor, Tensor],
    rotary: tuple[Tensor, Tensor],
    packing: PackedSuffix | None = None,
) -> Float[Tensor, "row suffix d_model"]:
    """Causal attention of every row's suffix over the one shared prefix cache plus its own suffix.

    The scores against the prefix are an einsum with the ``[kv_head, prefix, d_head]`` cache, so the
    cache is read once for all rows; grouped-query heads are grouped, not repeated. Query/key norms (Gemma 3,
    Qwen3) apply before the rotation, as in the model; a local layer's ``sliding_window`` lets a query at
    position i see keys j with i - j < window only. A packed suffix brings its own mask and positions.
    """
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    n, s, _ = x.shape
    d = attn.head_dim
    q, k, v = (getattr(attn, p)(x).view(n, s, -1, d).transpose(1, 2) for p in ATTENTION_PARTS[:3])
    if getattr(attn, "q_norm", None) is not None:
        q, k = attn.q_norm(q), attn.k_norm(k)
    q, k = apply_rotary_pos_emb(q, k, *rotary)
    kv_heads = k.shape[1]
    q = q.reshape(n, kv_heads, -1, s, d)
    keys, values = kv[0][0], kv[1][0]
    prefix_scores = torch.einsum("nkgsd,kpd->nkgsp", q, keys) * attn.scaling
    own = torch.einsum("nkgsd,nktd->nkgst", q, k) * attn.scaling
    p = keys.shape[1]
    prefix_scores, own = _masked(prefix_scores, own, p, getattr(attn, "sliding_window", None), packing)
    weights = torch.cat([prefix_scores, own], -1).softmax(-1, dtype=torch.float32).to(q.dtype)
    out = torch.einsum("nkgsp,kpd->nkgsd", weights[..., :p], values)
    out = out + torch.einsum("nkgst,nktd->nkgsd", weights[..., p:], v)
    return attn.o_proj(out.reshape(n, -1, s, d).transpose(1, 2).reshape(n, s, -1))


def _masked(
    prefix: Tensor, own: Tensor, p: int, window: int | None, packing: PackedSuffix | None
) -> tuple[Tensor, Tensor]:
    """The causal mask on the suffix's own scores and, for a local layer, the window on both: query t of the
    suffix sits at position p + t, prefix key j at j, suffix key u at p + u (packed: at p + its offset, and
    the packing's mask instead of the causal one)."""
    s, device = own.shape[-1], own.device
    if packing is None:
        t = torch.arange(s, device=device)
        allowed = t[None, :] <= t[:, None]
    else:
        t, allowed = packing.offset.to(device), packing.allowed.to(device)
    if window is not None:
        allowed = allowed & (t[:, None] - t[None, :] < window)
        keep = (p + t)[:, None] - torch.arange(p, device=device)[None, :] < window
        prefix = prefix.masked_fill(~keep, float("-inf"))
    return prefix, own.masked_fill(~allowed, float("-inf"))


__all__ = ["ATTENTION_PARTS", "shared_prefix_attention"]
