"""The value ``explain`` returns: one row per neuron, as a dict (the report's input), markdown, CSV, HTML.

:meth:`Explanations.to_dict` is the contract with the HTML report (:mod:`neuronllm_tl.reporting`): its
keys are exactly the fields of :class:`NeuronExplanation` (plain JSON values), and
:meth:`Explanations.from_dict` reads it back. ``to_markdown`` (also ``str()``) is the terminal view,
``_repr_html_`` the same text as an escaped HTML table in Jupyter.

Example:
    >>> ex = nl.explain(model, neurons.top(2), task)
    >>> print(ex)                                   # a table, then one paragraph per neuron
    Explanations of 4 neurons ...
    | neuron | role | score ± sd | role text | act. right / wrong |
    ...
    #### L...
    >>> csv_path = ex.to_csv(tmp_path / "explanations.csv")
    >>> json_path = ex.save_json(tmp_path / "explanations.json")
    >>> Explanations.from_dict(json.loads(json_path.read_text())) == ex
    True
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from neuronllm_tl.display import markdown_cell, markdown_to_html

NESTED = ("option_effects", "promoted", "suppressed", "activation_by_label", "top_examples", "bottom_examples")


@dataclass
class NeuronExplanation:
    """One neuron, explained (the fields are the keys of a row of :meth:`Explanations.to_dict`)."""

    layer: int
    index: int
    role: str
    score: float
    score_sd: float
    option_effects: list[dict[str, Any]]
    promoted: list[dict[str, Any]]
    suppressed: list[dict[str, Any]]
    activation_when_right: float | None
    activation_when_wrong: float | None
    activation_by_label: list[dict[str, Any]]
    top_examples: list[dict[str, Any]]
    bottom_examples: list[dict[str, Any]]
    ablation_effect: float | None
    role_text: str

    @property
    def name(self) -> str:
        return f"L{self.layer}:{self.index}"


def _num(value: float | None, fmt: str = "+.3f") -> str:
    return "–" if value is None else f"{value:{fmt}}"


def _tokens(items: list[dict[str, Any]], n: int = 5) -> str:
    return ", ".join(f"{item['token']!r} {item['logit']:+.3f}" for item in items[:n])


def _options(row: NeuronExplanation, n: int = 3) -> str:
    """The options' direct effects, largest first; the middle of a long list left out."""

    def show(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"{e['option']} {e['logit']:+.3f}" for e in items)

    effects = row.option_effects
    return show(effects) if len(effects) <= 2 * n else f"{show(effects[:n])}, …, {show(effects[-n:])}"


def _examples(items: list[dict[str, Any]]) -> str:
    return " · ".join(f"{e['activation']:+.2f}{'' if e['correct'] else ' ✗'} “{e['text']}”" for e in items)


def _details(row: NeuronExplanation) -> list[str]:
    lines = [f"#### {row.name} ({row.role}): {row.role_text}"]
    lines.append(f"Options (direct effect in logits; only differences between options matter): {_options(row)}.")
    lines.append(f"Promoted: {_tokens(row.promoted)}. Suppressed: {_tokens(row.suppressed)}.")
    if row.activation_by_label:
        labels = ", ".join(f"{r['label']} {r['mean']:+.3f} (n={r['n']})" for r in row.activation_by_label)
        lines.append(f"Mean activation by correct label: {labels}.")
    lines.append(f"Most active: {markdown_cell(_examples(row.top_examples), max_chars=400)}")
    lines.append(f"Least active: {markdown_cell(_examples(row.bottom_examples), max_chars=400)}")
    return [*lines, ""]


@dataclass
class Explanations:
    """Explanations of a neuron set's neurons on one task (good ones first, then bad, in the set's order)."""

    task: str
    model: str
    rows: list[NeuronExplanation] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    examples: str = ""
    """Which examples were measured, e.g. "40 held-out examples; 24 that identified the set were excluded"."""

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        head = {"task": self.task, "model": self.model, "examples": self.examples}
        return {**head, "thresholds": dict(self.thresholds), "rows": self._rows()}

    def _rows(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rows]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Explanations:
        rows = [NeuronExplanation(**row) for row in d["rows"]]
        examples = str(d.get("examples") or "")
        return cls(task=d["task"], model=d["model"], rows=rows, thresholds=dict(d["thresholds"]), examples=examples)

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def to_csv(self, path: str | Path) -> Path:
        """One line per neuron; the list fields are JSON text in their cells."""
        path = Path(path)
        names = [f.name for f in fields(NeuronExplanation)]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            for row in self._rows():
                writer.writerow({k: json.dumps(v) if k in NESTED else v for k, v in row.items()})
        return path

    def to_markdown(self) -> str:
        lines = [
            f"Explanations of {len(self.rows)} neurons of {self.model} on task {self.task}"
            + (f" ({self.examples})" if self.examples else "")
            + ". Direct effects: "
            "the neuron's output direction through the final norm (mean scale at the answer positions) and "
            "the unembedding, at its mean answer-position activation. ✗: the model gets the example wrong.",
            "",
            "| neuron | role | score ± sd | role text | act. right / wrong | silenced: ΔF |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            acts = f"{_num(r.activation_when_right)} / {_num(r.activation_when_wrong)}"
            lines.append(
                f"| {r.name} | {r.role} | {r.score:+.4g} ± {r.score_sd:.3g} | {markdown_cell(r.role_text)} "
                f"| {acts} | {_num(r.ablation_effect, '+.4f')} |"
            )
        lines += ["", "Silenced: ΔF = F(clean) − F(neuron at 0), mean over examples (with_ablation=True).", ""]
        for r in self.rows:
            lines += _details(r)
        return "\n".join(lines).rstrip() + "\n"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return markdown_to_html(self.to_markdown())
