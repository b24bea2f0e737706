"""The direct path of a neuron to the logits: its output direction through the final norm and the unembedding.

Neuron (l, i) adds ``a * W_out[l, i]`` to the residual stream (``a``: its activation). The logits are
``norm(x) @ W_U + b_U``, with ``norm(x) = w * (x - centre(x)) / scale(x)`` (RMSNorm: no centring;
LayerNorm: minus the mean over d_model). Holding the scale fixed, as TransformerLens's
``ActivationCache.apply_ln_to_stack`` does with a cached scale, the neuron's direct contribution to the
logit of token t is::

    a * ((W_out[l, i] - centre) * w) @ W_U[:, t] / scale

**The approximation**: ``scale`` (the final norm's ``ln_final.hook_scale``) differs per question and
position; here it is the mean of its values at the task's answer positions (the position whose logits
read the options), recorded on the same forward pass as the activations. A model without a final norm
hook uses 1. The bias ``b_U`` adds the same to every direction and is left out. The norm's weight ``w``
is read from ``model.ln_final.w`` (1 where the model folded it into ``W_U``); ``model.blocks[l].mlp.W_out`` and
``model.W_U`` exist on both ``TransformerBridge`` (TL 4.x) and ``HookedTransformer``
(TL 3.9).

Example:
    >>> unit = unit_direct_effects(model, neurons=torch.tensor([[2, 17]]), scale=1.4)   # neuron 17 of layer 2
    >>> unit.shape                                                                        # [neuron, d_vocab]
    torch.Size([1, 64])
    >>> top = vocabulary_top(model, unit[0] * 0.5, k=3)           # promoted tokens, at an activation of 0.5
    >>> [sorted(t) for t in top]
    [['logit', 'token'], ['logit', 'token'], ['logit', 'token']]
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import tokenizer_of

FINAL_SCALE_HOOK = "ln_final.hook_scale"
CENTRED_NORMS = ("LN", "LNPre")


def _weight(owner: Any, name: str, where: str) -> Tensor:
    value = getattr(owner, name, None)
    if not isinstance(value, Tensor):
        raise ValueError(
            f"the model has no {where} weight; the direct effect of a neuron reads its output direction "
            "(model.blocks[layer].mlp.W_out[index]) through the unembedding (model.W_U). Use a TransformerBridge "
            "or a HookedTransformer with a dense MLP and an unembedding."
        )
    return value


def output_directions(model: HookedModel, neurons: Int[Tensor, "n 2"]) -> Float[Tensor, "n d_model"]:
    """Each neuron's row of its layer's ``W_out`` (float64), read per layer rather than stacking all layers."""
    blocks = getattr(model, "blocks", None)
    rows = []
    for layer, index in neurons.tolist():
        mlp = getattr(blocks[layer], "mlp", None) if blocks is not None else None
        rows.append(_weight(mlp, "W_out", f"blocks[{layer}].mlp.W_out")[index].double())
    return torch.stack(rows)


def final_norm_weight(model: HookedModel) -> Float[Tensor, " d_model"] | None:
    """The final norm's elementwise weight ``w`` (None: no weight, e.g. folded into W_U)."""
    w = getattr(getattr(model, "ln_final", None), "w", None)
    return w if isinstance(w, Tensor) else None


def unit_direct_effects(model: HookedModel, neurons: Int[Tensor, "n 2"], *, scale: float) -> Float[Tensor, "n d_vocab"]:
    """Per unit of activation, each neuron's direct effect on every token's logit (float64, CPU)."""
    with torch.no_grad():
        w_u = _weight(model, "W_U", "W_U (unembedding)")
        rows = output_directions(model, neurons)
        if getattr(model.cfg, "normalization_type", None) in CENTRED_NORMS:
            rows = rows - rows.mean(-1, keepdim=True)
        w = final_norm_weight(model)
        if w is not None:
            rows = rows * w.double().to(rows.device)
        return (rows @ w_u.double().to(rows.device) / scale).cpu()


def token_text(tokenizer: Any, token_id: int) -> str:
    """One token as the text it decodes to (``" Paris"``, not the tokenizer's ``"ĠParis"``)."""
    return str(tokenizer.decode([int(token_id)]))


def vocabulary_top(
    model: HookedModel, logits: Float[Tensor, " d_vocab"], *, k: int, largest: bool = True
) -> list[dict[str, Any]]:
    """The ``k`` tokens with the largest (``largest=False``: smallest) values of ``logits``, as
    ``{"token", "logit"}``, most extreme first."""
    tokenizer = tokenizer_of(model)
    values, ids = logits.topk(min(k, logits.shape[-1]), largest=largest)
    return [{"token": token_text(tokenizer, i), "logit": float(v)} for v, i in zip(values, ids.tolist(), strict=True)]
