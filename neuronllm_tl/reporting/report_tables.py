"""The report's tables as plain rows: the good and bad neurons, the steering effects, the comparison grid.

Every cell is a :class:`Cell`: the text shown and the value the inline script sorts by (numbers sort as
numbers, "–" last). The templates only lay the rows out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.tables import Cell, Table, fmt, num, number_cell


def interval_cell(ci: Mapping[str, Any] | None, spec: str = "+.4f") -> Cell:
    """``[low, high]`` of an interval dict (``Interval`` as JSON), bold when it excludes 0."""
    if not ci:
        return Cell("–")
    low, high = num(ci.get("low")), num(ci.get("high"))
    if low is None or high is None:
        return Cell("–")
    excludes = low > 0 or high < 0
    return Cell(f"[{fmt(low, spec)}, {fmt(high, spec)}]", low, "sig" if excludes else "")


def neuron_table(neurons: NeuronSet, role: str, explained: Iterable[tuple[int, int]] = ()) -> Table:
    """One row per good (or bad) neuron, best first, linking to its card when it was explained."""
    ids, scores = (neurons.good, neurons.good_scores) if role == "good" else (neurons.bad, neurons.bad_scores)
    cards = set(explained)
    rows = []
    for rank, ((layer, index), score) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True), start=1):
        anchor = card_id(layer, index) if (layer, index) in cards else ""
        rows.append(
            [
                Cell(str(rank), rank),
                Cell(str(layer), layer),
                Cell(str(index), index),
                number_cell(score, "+.3e"),
                Cell("card" if anchor else "", 1 if anchor else 0, href=f"#{anchor}" if anchor else ""),
            ]
        )
    title = f"{role.capitalize()} neurons ({len(rows)})"
    return Table(title, ("rank", "layer", "index", "score (ACE)", "explained"), rows)


def card_id(layer: int, index: int) -> str:
    return f"card-L{layer}-N{index}"


def _delta_cells(row: Mapping[str, Any], key: str, spec: str) -> list[Cell]:
    """Δ and its interval (identified rows) or Δ ± sd (random rows)."""
    value = row.get(f"delta_{key}")
    sd = num(row.get(f"delta_{key}_sd"))
    delta = number_cell(value, spec)
    if sd is not None:
        delta = Cell(f"{delta.text} ± {sd:.3f}", delta.sort, delta.css)
    return [delta, interval_cell(row.get(f"delta_{key}_ci"), spec)]


def steering_table(report: Mapping[str, Any]) -> Table:
    """The rows of :meth:`EvaluationReport.to_dict`: accuracy and p(correct) after steering, their Δ and CIs."""
    rows = []
    for r in report.get("rows", []):
        n = int(r.get("n_sets", 1) or 1)
        name = str(r.get("neuron_set", "")) + (f" (n={n})" if n > 1 else "")
        rows.append(
            [
                Cell(str(r.get("mode", ""))),
                Cell(name),
                number_cell(r.get("accuracy"), ".3f", signed=False),
                *_delta_cells(r, "accuracy", "+.3f"),
                number_cell(r.get("p_correct"), ".3f", signed=False),
                *_delta_cells(r, "p_correct", "+.4f"),
            ]
        )
    header = ("mode", "neurons", "accuracy", "Δ accuracy", "Δ accuracy CI", "p(correct)", "Δ p(correct)", "Δ p CI")
    return Table(f"Steering on {report.get('task', 'the task')}", header, rows, steering_caption(report))


def steering_caption(report: Mapping[str, Any]) -> str:
    cis = [r[k] for r in report.get("rows", []) for k in ("delta_accuracy_ci", "delta_p_correct_ci") if r.get(k)]
    text = "Δ: after minus before. Random rows: mean ± sd over random sets with the same per-layer counts."
    if cis:
        methods = " / ".join(sorted({str(ci.get("method", "")) for ci in cis}))
        confidence = num(cis[0].get("confidence")) or 0.95
        text += (
            f" CI: paired {confidence:.0%} bootstrap interval ({methods}) over the {cis[0].get('n', '?')} held-out "
            "examples, each example's permutations averaged first; bold: the interval excludes 0."
        )
    return text


__all__ = ["Cell", "Table", "card_id", "fmt", "interval_cell", "neuron_table", "num", "steering_table"]
