"""One card per explained neuron, from ``Explanations.to_dict()`` rows and ``TopActivations.to_dict()``.

A card shows what the neuron does to the options (its direct effect through the final norm and the
unembedding), which vocabulary tokens it promotes and suppresses, when it fires (right vs wrong answers,
per correct label), the task examples that activate it most and least, its role in words, and its
top-activating snippets with each token shaded by its activation (orange: positive, blue: negative,
scaled by the largest absolute activation over the neuron's snippets; the value is in each token's
tooltip). Keys a row lacks are left out of its card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuronllm_tl.reporting.report_tables import card_id, num

MAX_OPTIONS = 12
"""Options shown per card: a task with more distinct options (capitals) shows the half most pushed up and the
half most pushed down."""
POSITIVE_RGB = "255, 140, 0"
NEGATIVE_RGB = "30, 110, 255"


@dataclass(frozen=True)
class Token:
    text: str
    activation: float
    style: str


@dataclass(frozen=True)
class Snippet:
    max_activation: float | None
    tokens: list[Token]


@dataclass(frozen=True)
class Bar:
    """A labelled value with a bar: width in percent of the largest absolute value of its list."""

    label: str
    detail: str
    value: float | None
    width: float
    negative: bool


@dataclass
class Card:
    id: str
    layer: int
    index: int
    role: str
    row: Mapping[str, Any]
    """The explanation row as written (scalars and example lists are read from it by the template)."""
    option_effects: list[Bar] = field(default_factory=list)
    n_options: int = 0
    """Options the row has (``option_effects`` shows at most :data:`MAX_OPTIONS` of them)."""
    by_label: list[Bar] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)


def bars(items: Sequence[Mapping[str, Any]], label: str, value: str, detail: str = "") -> list[Bar]:
    """One bar per item: ``item[label]``, ``detail`` (a format with the item's keys), ``item[value]``."""
    values = [num(item.get(value)) for item in items]
    scale = max((abs(v) for v in values if v is not None), default=0.0) or 1.0
    return [
        Bar(
            label=str(item.get(label, "")),
            detail=_detail(detail, item),
            value=v,
            width=round(100 * abs(v) / scale, 1) if v is not None else 0.0,
            negative=v is not None and v < 0,
        )
        for item, v in zip(items, values, strict=True)
    ]


def extremes(items: list[Bar], n: int = MAX_OPTIONS) -> list[Bar]:
    """The bars by value, highest first; beyond ``n`` only the n/2 highest and the n/2 lowest."""
    ranked = sorted(items, key=lambda b: -(b.value if b.value is not None else float("-inf")))
    return ranked if len(ranked) <= n else ranked[: n // 2] + ranked[-(n - n // 2) :]


def _detail(template: str, item: Mapping[str, Any]) -> str:
    try:
        return template.format(**{k: (repr(v) if isinstance(v, str) else v) for k, v in item.items()})
    except (KeyError, IndexError, ValueError):
        return ""


def shade(activation: float, scale: float) -> str:
    """The background of a token: orange for positive, blue for negative, alpha = |activation| / scale."""
    alpha = min(1.0, abs(activation) / scale) if scale > 0 else 0.0
    rgb = POSITIVE_RGB if activation >= 0 else NEGATIVE_RGB
    return f"background-color: rgba({rgb}, {alpha:.2f})"


def snippets(neuron: Mapping[str, Any]) -> list[Snippet]:
    """The neuron's top-activating snippets with every token shaded on one scale for the neuron."""
    raw = neuron.get("snippets") or []
    values = [num(a) or 0.0 for s in raw for a in s.get("activations") or []]
    scale = max((abs(v) for v in values), default=0.0)
    out = []
    for s in raw:
        tokens = list(s.get("tokens") or [])
        acts = [num(a) or 0.0 for a in s.get("activations") or []]
        if len(acts) != len(tokens):  # no token-level values: show the text unshaded
            tokens, acts = [str(s.get("text", ""))], [0.0]
        shaded = [Token(str(t), a, shade(a, scale)) for t, a in zip(tokens, acts, strict=True)]
        out.append(Snippet(num(s.get("max_activation")), shaded))
    return out


def _key(item: Mapping[str, Any]) -> tuple[int, int] | None:
    layer, index = item.get("layer"), item.get("index")
    return (int(layer), int(index)) if layer is not None and index is not None else None


def build_cards(explanations: Mapping[str, Any] | None, top_activating: Mapping[str, Any] | None) -> list[Card]:
    """A card per explanation row, plus one per neuron that only has top-activating snippets."""
    tops = {_key(n): n for n in (top_activating or {}).get("neurons", []) if _key(n) is not None}
    cards, seen = [], set()
    for row in (explanations or {}).get("rows", []):
        key = _key(row)
        if key is None or key in seen:
            continue
        seen.add(key)
        cards.append(
            Card(
                id=card_id(*key),
                layer=key[0],
                index=key[1],
                role=str(row.get("role", "")),
                row=row,
                option_effects=extremes(bars(row.get("option_effects") or [], "option", "logit", "token {token}")),
                n_options=len(row.get("option_effects") or []),
                by_label=bars(row.get("activation_by_label") or [], "label", "mean", "n={n}"),
                snippets=snippets(tops.get(key, {})),
            )
        )
    for key, neuron in tops.items():
        if key is not None and key not in seen:
            cards.append(Card(id=card_id(*key), layer=key[0], index=key[1], role="", row={}, snippets=snippets(neuron)))
    return cards


__all__ = ["Bar", "Card", "Snippet", "Token", "bars", "build_cards", "extremes", "shade", "snippets"]
