"""What a comparison compares: the methods as :class:`Variant` values (a method config plus protocol
settings), the sweeps (groups of settings of NeuronLLM: the reviewers' and issue #14's), and their open
registry (:func:`register_variant`).

A variant holds a :class:`~neuronllm_tl.methods.base.MethodConfig`, so any registered method (your own
too) is compared by the same code: nothing here branches on a method's name.

Example:
    >>> from neuronllm_tl.methods.registry import method_config
    >>> mine = Variant("neuronllm_margin", method_config("neuronllm", objective="margin"), modes=("enhance", "degrade"))
    >>> register_variant(mine).name           # CompareConfig(variants=(..., "neuronllm_margin")) can name it
    'neuronllm_margin'
    >>> unregister_variant("neuronllm_margin") is mine
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from neuronllm_tl.methods.base import MethodConfig
from neuronllm_tl.methods.registry import method_config
from neuronllm_tl.neurons.selection import AGGREGATIONS
from neuronllm_tl.registry import Registry
from neuronllm_tl.steering.modes import MODES

GOOD_ONLY_MODES = ("excite_good", "silence_good")
ALL_MODES = ("enhance", "degrade", *GOOD_ONLY_MODES, "excite_bad", "silence_bad")


@dataclass(frozen=True)
class Variant:
    """One neuron-identification method with its settings: a row group of the comparison."""

    name: str
    config: MethodConfig
    k: int | None = None
    answer_format: str | None = None
    n_permutations: int | None = None
    modes: tuple[str, ...] = GOOD_ONLY_MODES
    controls: bool = True
    specificity: bool = True
    group: str = "main"

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ValueError(f"variant {self.name!r}: unknown modes {unknown}; choose from {sorted(MODES)}.")

    @property
    def method(self) -> str:
        return self.config.method

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config": self.config.to_dict()}


def _reviewers_setting(
    name: str,
    group: str,
    *,
    k: int | None = None,
    answer_format: str | None = None,
    n_permutations: int | None = None,
    **options: Any,
) -> Variant:
    return Variant(
        name,
        method_config("neuronllm", attribution="grad_x_act", **options),
        k=k,
        answer_format=answer_format,
        n_permutations=n_permutations,
        modes=("enhance", "degrade"),
        controls=False,
        specificity=False,
        group=group,
    )


_VARIANTS: Registry[Variant] = Registry("variant", hint="Add one with register_variant(Variant(...)).")
for _variant in [
    Variant("neuronllm_ig", method_config("neuronllm", attribution="integrated_gradients"), modes=ALL_MODES),
    Variant(
        "neuronllm_gxa",
        method_config("neuronllm", attribution="grad_x_act"),
        modes=("enhance", "degrade", *GOOD_ONLY_MODES),
    ),
    *(Variant(name, method_config(name)) for name in ("qrnca", "knowledge_neurons", "tn", "lape")),
    Variant("random", method_config("random"), controls=False),
    Variant("ablation_oracle", method_config("ablation_oracle"), modes=ALL_MODES),
]:
    _VARIANTS.register(_variant.name, _variant)
VARIANTS: Mapping[str, Variant] = _VARIANTS.view
"""The main comparison: NeuronLLM (IG, the paper's; and grad x act), the baselines, and the exact-ablation
oracle (the neurons whose single silencing changes F most; opt-in, see :data:`DEFAULT_VARIANTS`)."""

RENAMED_VARIANTS: dict[str, str] = {"neuronllm": "neuronllm_ig", "ablation": "ablation_oracle"}
"""Old variant name -> new (read with a FutureWarning for one release): ``neuronllm`` named the IG variant,
while ``identify(method="neuronllm")`` defaults to grad x act, so each variant now names its attribution;
``ablation`` was also an attribution estimator's name and a family of settings."""

for _old, _new in RENAMED_VARIANTS.items():
    _VARIANTS.rename(_old, _new)

ORACLE_VARIANTS: tuple[str, ...] = ("ablation_oracle",)
"""Variants a comparison runs only when named: exact ablation of every neuron costs ~100-250 forward+backward
passes per question (docs/performance.md), far more than every other method together."""
DEFAULT_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v not in ORACLE_VARIANTS)

SELECTION_MODES = ("enhance", "degrade", *GOOD_ONLY_MODES)
"""The modes of issue #14's grid: good-only modes compare with the positive-only baselines at equal K."""


def _selection(name: str, group: str, **options: Any) -> Variant:
    """A setting of NeuronLLM's selection (issue #14), grad x act unless it sets ``attribution``."""
    options.setdefault("attribution", "grad_x_act")
    config = method_config("neuronllm", **options)
    return Variant(name, config, modes=SELECTION_MODES, controls=False, group=group)


SWEEPS: dict[str, list[Variant]] = {
    "objective": [
        _reviewers_setting(f"objective={o}", "objective", objective=o)
        for o in ("contrastive", "vocab_prob", "margin", "vocab_logprob")
    ],
    "permutations": [
        _reviewers_setting(f"permutations={n}", "permutations", answer_format="letter", n_permutations=n)
        for n in (1, 3, 6)
    ],
    # On a gated MLP, hook_post = act(gate) * up is linear in up, so grad x act, IG and x0/x2 steering give
    # the same numbers at hook_pre_linear as at hook_post; hook_pre (the gate) is the point that differs.
    "hook": [
        _reviewers_setting(f"hook={h}", "hook", hook=h)
        for h in ("mlp.hook_post", "mlp.hook_pre_linear", "mlp.hook_pre")
    ],
    "k": [_reviewers_setting(f"k={k}", "k", k=k) for k in (10, 25, 50, 100, 200)],
    # issue #14: why do Knowledge Neurons' sets move the model more? Each a setting of NeuronLLM.
    "mask": [_selection(f"mask={m}", "mask", mask=m) for m in (True, False)],
    "aggregation": [_selection(f"aggregation={a}", "aggregation", aggregation=a) for a in AGGREGATIONS],
    "z": [_selection(f"z={z}", "z", z=z) for z in (0.01, 0.05, 0.2, 1.0)],
    "attribution": [
        _selection(f"attribution={a}", "attribution", attribution=a)
        for a in ("grad_x_act", "integrated_gradients", "ablation")
    ],
}
"""The sweeps, each a group of settings of NeuronLLM: the reviewers' (objective, permutations, hook, k: grad x
act, Enhance/Degrade only) and issue #14's selection grid (mask, aggregation, z, attribution: also the good-only
modes and specificity)."""


def __getattr__(name: str) -> Any:
    if name == "ABLATIONS":  # the sweeps' earlier name
        warnings.warn("ABLATIONS is now SWEEPS; the old name goes in the next release.", FutureWarning, stacklevel=2)
        return SWEEPS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_variant(variant: Variant, *, overwrite: bool = False) -> Variant:
    """Add a variant (your method, or a setting of one) that ``CompareConfig(variants=(...))`` can name."""
    return _VARIANTS.register(variant.name, variant, overwrite=overwrite)


def unregister_variant(name: str) -> Variant:
    """Remove a variant (a built-in one too; reimport the package to get it back)."""
    return _VARIANTS.unregister(name)


def renamed(variants: tuple[str, ...]) -> tuple[str, ...]:
    """``variants`` with old names replaced by new ones (a FutureWarning for each old name, by the registry)."""
    return tuple(_VARIANTS.resolve(v, stacklevel=5) for v in variants)


__all__ = [
    "SWEEPS",
    "ALL_MODES",
    "DEFAULT_VARIANTS",
    "GOOD_ONLY_MODES",
    "ORACLE_VARIANTS",
    "RENAMED_VARIANTS",
    "SELECTION_MODES",
    "VARIANTS",
    "Variant",
    "register_variant",
    "renamed",
    "unregister_variant",
]
