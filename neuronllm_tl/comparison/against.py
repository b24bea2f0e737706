"""Each setting against named references, task by task: the evidence a preset needs (issue #24 item 6).

A preset is worth shipping only if it beats the methods a researcher would otherwise pick on most tasks, with
intervals that exclude 0. :func:`against_references` reads that off the pairs of the ``selection`` group
(:func:`~neuronllm_tl.comparison.pairwise.selection_pairs`, every method and selection setting of a task and
mode compared on the same held-out examples): for each candidate, mode and task, the paired difference of Δ p
(candidate minus reference, with its 95% CI) against each reference, and whether it *beats* it (the interval
excludes 0 on the side the mode predicts). A reference is a list of alternatives, the first the task has: the
paper's setting is ``neuronllm_ig`` where the grid ran IG, else ``neuronllm_gxa``. Names joined by `` = ``
(settings whose cells are the same measurements) match any of their parts.

Example (issue #24's grid: ``refs = {"Knowledge Neurons": ("knowledge_neurons",), "the paper's setting":
("neuronllm_ig", "neuronllm_gxa")}`` and every sweep setting as a candidate; ``scripts/evidence_tables.py``):
    >>> import dataclasses
    >>> pairs = [dataclasses.replace(p, group="selection") for p in result.pairs]  # a grid with sweeps has these
    >>> refs = {"TN": ("tn",), "random": ("random",)}
    >>> rows = against_references(pairs, ("neuronllm_gxa",), refs)
    >>> sorted({(v.mode, v.reference) for v in rows})
    [('excite_good', 'TN'), ('excite_good', 'random'), ('silence_good', 'TN'), ('silence_good', 'random')]
    >>> summary_table(rows, refs).header   # per candidate and mode: on how many tasks it beats each, and all
    ('setting', 'mode', 'beats TN', 'beats random', 'beats all')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from neuronllm_tl.comparison.pairwise import PairResult
from neuronllm_tl.steering.modes import MODES
from neuronllm_tl.tables import Cell, Table
from neuronllm_tl.tasks.registry import default_task_name


@dataclass(frozen=True)
class Versus:
    """One candidate against one reference on one task and mode (``pair`` is None where either was not run)."""

    candidate: str
    mode: str
    task: str
    reference: str
    pair: PairResult | None

    @property
    def beats(self) -> bool:
        return self.pair is not None and self.pair.winner == self.pair.a

    def text(self) -> str:
        if self.pair is None:
            return "–"
        verdict = "beats" if self.beats else "beaten" if self.pair.winner == self.pair.b else "tie"
        return f"{self.pair.difference.interval.format('+.3f')} {verdict}"


def _names(joined: str) -> set[str]:
    return set(joined.split(" = "))


def _find(pairs: Sequence[PairResult], task: str, mode: str, a: str, b: str) -> PairResult | None:
    for p in pairs:
        if p.task == task and p.mode == mode and p.group == "selection":
            if a in _names(p.a) and b in _names(p.b):
                return p
            if a in _names(p.b) and b in _names(p.a):
                return p.flipped()
    return None


def _has(pairs: Sequence[PairResult], task: str, mode: str, name: str) -> bool:
    return any(p.task == task and p.mode == mode and name in _names(p.a) | _names(p.b) for p in pairs)


def _same(pairs: Sequence[PairResult], a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one measurement (one name, or joined by `` = `` in a pair)."""
    return a == b or any({a, b} <= _names(name) for p in pairs for name in (p.a, p.b))


def _in_mode(pairs: Sequence[PairResult], mode: str, names: Sequence[str]) -> bool:
    """Whether any task has any of ``names`` in ``mode`` (Knowledge Neurons has no enhance: not a reference there)."""
    return any(_has(pairs, t, mode, n) for t in dict.fromkeys(p.task for p in pairs) for n in names)


def against_references(
    pairs: Sequence[PairResult], candidates: Sequence[str], references: Mapping[str, Sequence[str]]
) -> list[Versus]:
    """Every (candidate, mode, task, reference) of the ``selection`` pairs where the candidate was measured; a
    reference with no cell of that mode on any task (a method without bad neurons, for enhance) is left out of
    that mode, one the grid skipped on a task is there with ``pair=None``, and one that *is* the candidate on a
    task (grad × act is the paper's setting where IG was not run) is left out of that task."""
    pairs = [p for p in pairs if p.group == "selection"]
    tasks = list(dict.fromkeys(p.task for p in pairs))
    out = []
    for candidate in candidates:
        for mode in MODES:
            measured = {label: alts for label, alts in references.items() if _in_mode(pairs, mode, alts)}
            for task in (t for t in tasks if _has(pairs, t, mode, candidate)):
                for label, alternatives in measured.items():
                    name = next((r for r in alternatives if _has(pairs, task, mode, r)), None)
                    if name is not None and _same(pairs, candidate, name):
                        continue  # the candidate is that reference on this task: nothing to compare or count
                    pair = None if name is None else _find(pairs, task, mode, candidate, name)
                    out.append(Versus(candidate, mode, task, label, pair))
    return out


def detail_table(rows: Sequence[Versus], references: Mapping[str, Sequence[str]]) -> Table:
    """Per candidate, mode and task: the difference of Δ p against each reference, its CI and the verdict."""
    header = ("setting", "mode", "task", *(f"vs {label}" for label in references))
    keyed = {(v.candidate, v.mode, v.task, v.reference): v for v in rows}
    lines = []
    for c, m, t in dict.fromkeys((v.candidate, v.mode, v.task) for v in rows):
        versus = [keyed.get((c, m, t, label)) for label in references]
        cells = [Cell("–") if v is None else Cell(v.text(), css="sig" if v.beats else "") for v in versus]
        lines.append([Cell(c), Cell(m), Cell(default_task_name(t)), *cells])
    return Table("Against the references, per task", header, lines)


def summary_table(rows: Sequence[Versus], references: Mapping[str, Sequence[str]]) -> Table:
    """Per candidate and mode: on how many of the tasks where the reference was run the candidate beats it,
    and on how many of all its tasks it beats every reference (a task where one of them was not run counts as
    not beaten)."""
    header = ("setting", "mode", *(f"beats {label}" for label in references), "beats all")
    lines = []
    for c, m in dict.fromkeys((v.candidate, v.mode) for v in rows):
        mine = [v for v in rows if v.candidate == c and v.mode == m]
        counts = []
        for label in references:
            ran = [v for v in mine if v.reference == label and v.pair is not None]
            won = sum(v.beats for v in ran)
            counts.append(Cell(f"{won} of {len(ran)}", won) if ran else Cell("–"))
        tasks = list(dict.fromkeys(v.task for v in mine))
        every = [t for t in tasks if all(v.beats for v in mine if v.task == t)]  # each reference run and beaten
        lines.append([Cell(c), Cell(m), *counts, Cell(f"{len(every)} of {len(tasks)}", len(every))])
    return Table("Against the references", header, lines)


__all__ = ["Versus", "against_references", "detail_table", "summary_table"]
