"""Checks that a TransformerLens model can be attributed and steered, with errors that say what to do.

Works with any model that has TransformerLens' hook API: ``TransformerBridge`` (TL >= 3.9, the only
class in TL 4.x) and ``HookedTransformer`` (TL <= 3.9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from neuronllm_tl.models.protocol import HookedModel

DEFAULT_HOOK = "mlp.hook_post"
NEURON_HOOKS = ("mlp.hook_post", "mlp.hook_pre", "mlp.hook_pre_linear")


@dataclass(frozen=True)
class ModelSpec:
    """What the plugin needs to know of a model: its neuron grid and where the neurons live."""

    n_layers: int
    d_mlp: int
    hook: str
    model_name: str

    def hook_name(self, layer: int) -> str:
        return f"blocks.{layer}.{self.hook}"

    @property
    def hook_names(self) -> list[str]:
        return [self.hook_name(layer) for layer in range(self.n_layers)]


def model_spec(model: HookedModel, *, hook: str = DEFAULT_HOOK, require_eval: bool = True) -> ModelSpec:
    """Validate ``model`` and return its :class:`ModelSpec`.

    Refuses a model in training mode (dropout would make attributions random), a model without
    ``cfg.n_layers``/``cfg.d_mlp``, and a hook point missing on any layer.
    """
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(model, "hook_dict") or not hasattr(model, "hooks"):
        raise TypeError(
            f"expected a TransformerLens model (TransformerBridge or HookedTransformer), got "
            f"{type(model).__name__}. Wrap a Hugging Face model with "
            "TransformerBridge.boot_transformers(name, hf_model=...) or use neuronllm_tl.load_model(...)."
        )
    if require_eval and getattr(model, "training", False):
        raise ValueError(
            "the model is in training mode (dropout is active, so attributions and accuracies would be "
            "random). Call model.eval() first; TransformerBridge.boot_native returns training-mode models."
        )
    n_layers, d_mlp = getattr(cfg, "n_layers", None), getattr(cfg, "d_mlp", None)
    if not n_layers or not d_mlp:
        raise ValueError(
            f"model.cfg has n_layers={n_layers!r}, d_mlp={d_mlp!r}; both are needed to index MLP neurons. "
            "Set them on the config (MoE and attention-only models are not supported)."
        )
    if not re.fullmatch(r"[A-Za-z_][\w.]*", hook) or hook.startswith("blocks."):
        raise ValueError(
            f"hook must be a per-block hook suffix such as 'mlp.hook_post' (the neurons are "
            f"'blocks.{{layer}}.<hook>'), got {hook!r}."
        )
    names = model.hook_dict
    missing = [f"blocks.{layer}.{hook}" for layer in range(n_layers) if f"blocks.{layer}.{hook}" not in names]
    if missing:
        available = sorted({n.split(".", 2)[2] for n in names if n.startswith("blocks.0.") and "mlp" in n})
        raise ValueError(
            f"hook point {missing[0]!r} does not exist on this model ({len(missing)} of {n_layers} layers "
            f"lack 'blocks.{{l}}.{hook}'). MLP hooks on layer 0: {available}. Pass one of them as hook=..."
        )
    name = getattr(cfg, "model_name", None) or getattr(cfg, "tokenizer_name", None) or type(model).__name__
    return ModelSpec(n_layers=int(n_layers), d_mlp=int(d_mlp), hook=hook, model_name=str(name))


def check_width(act: torch.Tensor, spec: ModelSpec, hook_name: str) -> None:
    """Raise if a neuron activation is not ``d_mlp`` wide (MoE blocks alias hook_post to d_model)."""
    if act.shape[-1] != spec.d_mlp:
        raise ValueError(
            f"{hook_name} carries a tensor of shape {tuple(act.shape)}, whose last dimension is not "
            f"cfg.d_mlp={spec.d_mlp}. This hook is not the MLP's neuron layer on this architecture "
            "(MoE blocks alias it to the d_model-wide output); choose another hook= or another model."
        )


def check_finite(t: torch.Tensor, what: str) -> None:
    if not torch.isfinite(t).all():
        raise FloatingPointError(
            f"{what} contains NaN or inf. Check the model's weights and dtype (float16 overflows are "
            "common: load in float32 or bfloat16)."
        )


def model_device(model: HookedModel) -> torch.device:
    cfg_device = getattr(getattr(model, "cfg", None), "device", None)
    for p in model.parameters():
        return p.device
    return torch.device(cfg_device or "cpu")


def tokenizer_of(model: HookedModel) -> Any:
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise ValueError(
            "the model has no tokenizer; attach one (model.tokenizer = AutoTokenizer.from_pretrained(...)) "
            "or pass tokenizer= when building it."
        )
    return tok
