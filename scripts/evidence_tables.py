"""The tables of docs/results.md and docs/neuron_selection.md, from the committed grid (issue #24 item 5).

    python scripts/evidence_tables.py     # reads docs/comparison, rewrites both pages' generated sections

Nothing is recomputed: the grid's ``results.csv`` and ``pairwise.csv`` are read as the report reads them, and
the tables are the comparison's own (:mod:`neuronllm_tl.comparison.result_tables`), with the columns a reader
of the evidence needs:

* ``docs/results.md`` (section ``evidence``): per task, every method's steering effect (Δ acc. and Δ p as the
  mean ± sd across split seeds, Δ p's paired 95% CI over distinct held-out examples, the random sets' Δ p,
  the unrelated task's Δ p with its CI and PCR), then who beats whom (group ``main``);
* ``docs/neuron_selection.md`` (section ``selection``): each selection sweep with its specificity, then every
  method and setting in one group per task and mode (``selection``), then each setting against Knowledge
  Neurons and the paper's setting task by task (:mod:`neuronllm_tl.comparison.against`: item 6's test of a
  preset).

A page's prose stays as it is; its reading is written by hand from these tables. The grid's banner ("k of n
cells done") heads both sections while the grid is not finished.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from neuronllm_tl.comparison.against import against_references, detail_table, summary_table
from neuronllm_tl.comparison.report import PROGRESS_FILE, SELECTION_TEXT, Progress
from neuronllm_tl.comparison.result_tables import main_table, standings_table, sweep_table
from neuronllm_tl.comparison.results_csv import read_pairs, read_rows
from neuronllm_tl.tables import write_section
from neuronllm_tl.tasks.registry import default_task_name

COLUMNS = ("method", "mode", "neurons steered", "Δ acc. (mean ± sd)", "Δ p (mean ± sd)", "Δ p 95% CI")
COLUMNS += ("random Δ p (mean ± sd)", "beyond random (sd)", "unrelated Δ p", "PCR")
SWEEP_COLUMNS = ("task", "setting", "mode", "Δ acc. (mean ± sd)", "Δ p (mean ± sd)", "Δ p 95% CI")
SELECTION_SWEEPS = ("mask", "aggregation", "z", "objective")
REFERENCES = {"Knowledge Neurons": ("knowledge_neurons",), "the paper's setting": ("neuronllm_ig", "neuronllm_gxa")}
AGAINST_TEXT = (
    "Each NeuronLLM setting against the two references a preset must beat, task by task and mode by mode: the "
    "paired difference of Δ p (setting minus reference, 95% CI) and whether it *beats* it (the CI excludes 0 on "
    "the side the mode predicts). The paper's setting is NeuronLLM with IG where the grid ran it, else with "
    "grad × act (ARC-Easy). Knowledge Neurons has good neurons only (no enhance or degrade) and was not run on "
    "ARC-Easy. *beats all*: tasks where every reference was run and beaten."
)


def read(folder: Path):
    with open(folder / "results.csv") as f:
        rows = read_rows(csv.DictReader(f))
    with open(folder / "pairwise.csv") as f:
        pairs = read_pairs(csv.DictReader(f))
    progress = Progress(**json.loads((folder / PROGRESS_FILE).read_text()))
    return rows, pairs, progress


def banner(progress: Progress, folder: Path) -> list[str]:
    if progress.complete:
        return []
    left = f"{folder / PROGRESS_FILE} lists the {len(progress.left)} left"
    return [f"**Partial: {progress.done} of {progress.total} cells of the grid done, and it goes on ({left}).**", ""]


def results_section(rows, pairs, progress: Progress, folder: Path) -> str:
    parts = banner(progress, folder)
    for task in dict.fromkeys(r.task for r in rows if r.group == "main"):
        mine = [r for r in rows if r.task == task and r.group == "main"]
        parts += [f"### {default_task_name(task)}", "", main_table(mine).select(*COLUMNS).to_markdown(), ""]
        versus = [p for p in pairs if p.task == task and p.group == "main"]
        if versus:
            parts += ["Who beats whom (paired 95% CI of the difference of Δ p):", ""]
            parts += [standings_table(versus).to_markdown(), ""]
    return "\n".join(parts)


def selection_section(rows, pairs, progress: Progress, folder: Path) -> str:
    parts = banner(progress, folder)
    for group in SELECTION_SWEEPS:
        mine = [r for r in rows if r.group == group]
        if mine:
            table = sweep_table(mine)
            columns = SWEEP_COLUMNS + tuple(h for h in ("unrelated Δ p", "PCR") if h in table.header)
            parts += [f"### Sweep: {group}", "", table.select(*columns).to_markdown(), ""]
    selection = [p for p in pairs if p.group == "selection"]
    if selection:
        parts += ["### Every method and setting", "", SELECTION_TEXT, "", standings_table(selection).to_markdown(), ""]
        versus = against_references(selection, candidates(rows, selection), REFERENCES)
        parts += ["### Against Knowledge Neurons and the paper's setting", "", AGAINST_TEXT, ""]
        parts += [summary_table(versus, REFERENCES).to_markdown(), ""]
        parts += [detail_table(versus, REFERENCES).to_markdown(), ""]
    return "\n".join(parts)


def candidates(rows, selection) -> list[str]:
    """grad x act and every sweep setting not measured as it (a sweep's paper setting is ``neuronllm_gxa``)."""
    names = [name.split(" = ") for p in selection for name in (p.a, p.b)]
    same = {n for parts in names if "neuronllm_gxa" in parts for n in parts}
    settings = dict.fromkeys(r.variant for r in rows if r.group in SELECTION_SWEEPS)
    return ["neuronllm_gxa", *(v for v in settings if v not in same)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=Path("docs/comparison"))
    ap.add_argument("--results-doc", type=Path, default=Path("docs/results.md"))
    ap.add_argument("--selection-doc", type=Path, default=Path("docs/neuron_selection.md"))
    args = ap.parse_args(argv)
    rows, pairs, progress = read(args.folder)
    write_section(args.results_doc, "evidence", results_section(rows, pairs, progress, args.folder))
    write_section(args.selection_doc, "selection", selection_section(rows, pairs, progress, args.folder))
    print(f"wrote {args.results_doc} and {args.selection_doc} from {args.folder} ({progress.done} of {progress.total})")


if __name__ == "__main__":
    main()
