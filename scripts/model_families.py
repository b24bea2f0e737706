"""Gemma 3 270M next to SmolLM2-135M under the same comparison protocol (issue #25 item 4; docs/gemma.md).

    python scripts/model_families.py      # reads both comparison folders, rewrites docs/gemma.md's tables

Each model's comparison folder (``docs/comparison`` for SmolLM2, the grid of issue #24, and
``docs/comparison-gemma3-270m``) is read as the report reads it, and nothing is recomputed:

* **steering**, from ``results.csv``: one variant's Enhance and Degrade rows on each shared task (Δ is after
  minus before on the held-out split, the mean across split seeds; [low, high] the paired 95% bootstrap CI over
  distinct held-out examples; sd across seeds; the random sets' Δ p as mean ± sd);
* **layers**, from ``neuron_sets.jsonl``: where the identified good and bad neurons sit, as the share in each
  fifth of the model's depth (layer l of L counts at (l + 0.5) / L), their mean relative depth, and how stable
  the sets are across split seeds (mean Jaccard index over pairs of seeds).

A (task, model) whose cells are not done yet is listed as pending, so the page can be rewritten as the runs
go on.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from pathlib import Path

from neuronllm_tl.comparison.results_csv import read_rows
from neuronllm_tl.comparison.variants import RENAMED_VARIANTS
from neuronllm_tl.tables import Cell, Table, fmt, section_markers, write_section
from neuronllm_tl.tasks.registry import default_task_name

FOLDERS = {"smollm2-135m": Path("docs/comparison"), "gemma3-270m": Path("docs/comparison-gemma3-270m")}
SECTION = "model-families"
FIFTHS = ("0-20%", "20-40%", "40-60%", "60-80%", "80-100%")


def interval_text(value: float, ci) -> str:
    return fmt(value) + ("" if ci is None else f" [{fmt(ci.low)}, {fmt(ci.high)}]")


def steering_table(variant: str, tasks: list[str]) -> Table:
    header = (
        "task",
        "model",
        "mode",
        "seeds",
        "Δ accuracy [95% CI]",
        "Δ p(correct) [95% CI]",
        "sd of Δ p",
        "random Δ p",
    )
    rows = []
    for task, (model, folder) in itertools.product(tasks, FOLDERS.items()):
        path = folder / "results.csv"
        results = read_rows(csv.DictReader(path.open())) if path.is_file() else []
        mine = [r for r in results if (default_task_name(r.task), r.variant, r.group) == (task, variant, "main")]
        mine = [r for r in mine if r.mode in ("enhance", "degrade")]
        if not mine:
            rows.append([Cell(task), Cell(model), Cell("pending")] + [Cell("–")] * (len(header) - 3))
        for r in mine:
            random = (
                "–"
                if r.random_delta_p_mean is None
                else f"{fmt(r.random_delta_p_mean)} ± {fmt(r.random_delta_p_sd, '.3f')}"
            )
            rows.append(
                [
                    Cell(task),
                    Cell(model),
                    Cell(r.mode),
                    Cell(",".join(map(str, r.seeds))),
                    Cell(interval_text(r.delta_accuracy, r.delta_accuracy_ci)),
                    Cell(interval_text(r.delta_p, r.delta_p_ci)),
                    Cell(fmt(r.delta_p_sd, ".3f")),
                    Cell(random),
                ]
            )
    return Table(f"{variant}: steering", header, rows)


def neuron_sets(folder: Path, variant: str) -> dict[tuple[str, int], dict]:
    """(task, split seed) -> the compact record of ``variant``'s identified set."""
    path = folder / "neuron_sets.jsonl"
    out = {}
    for line in path.open() if path.is_file() else []:
        record = json.loads(line)
        meta = record["metadata"]
        name = meta["variant"]["name"]
        if RENAMED_VARIANTS.get(name, name) == variant:
            out[(meta["task"]["name"].removesuffix(":identify"), meta["split_seed"])] = record
    return out


def depth_profile(records: list[dict], which: str) -> tuple[list[float], float]:
    """Share of the ``which`` neurons in each fifth of the depth, and their mean relative depth."""
    depths = [(layer + 0.5) / r["shape"][0] for r in records for layer, _ in r[which]]
    if not depths:
        return [0.0] * len(FIFTHS), float("nan")
    counts = [sum(min(int(d * len(FIFTHS)), len(FIFTHS) - 1) == b for d in depths) for b in range(len(FIFTHS))]
    return [c / len(depths) for c in counts], sum(depths) / len(depths)


def jaccard_across_seeds(records: list[dict], which: str) -> float | None:
    sets = [{tuple(pair) for pair in r[which]} for r in records]
    pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2) if a | b]
    return sum(pairs) / len(pairs) if pairs else None


def layer_table(variant: str, tasks: list[str]) -> Table:
    header = ("task", "model", "set", "seeds", "neurons", "mean depth", *FIFTHS, "Jaccard across seeds")
    rows = []
    for task, (model, folder) in itertools.product(tasks, FOLDERS.items()):
        found = sorted((seed, r) for (t, seed), r in neuron_sets(folder, variant).items() if t == task)
        records = [r for _, r in found]
        if not records:
            rows.append([Cell(task), Cell(model), Cell("pending")] + [Cell("–")] * (len(header) - 3))
            continue
        for which in ("good", "bad"):
            shares, mean = depth_profile(records, which)
            n = sum(len(r[which]) for r in records)
            rows.append(
                [
                    Cell(task),
                    Cell(model),
                    Cell(which),
                    Cell(",".join(str(s) for s, _ in found)),
                    Cell(str(n)),
                    Cell(fmt(mean, ".2f")),
                    *(Cell(fmt(s, ".2f")) for s in shares),
                    Cell(fmt(jaccard_across_seeds(records, which), ".2f")),
                ]
            )
    return Table(f"{variant}: layers", header, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="neuronllm_gxa")
    ap.add_argument("--tasks", nargs="+", default=["capitals-mini", "ag_news"])
    ap.add_argument("--doc", type=Path, default=Path("docs/gemma.md"))
    args = ap.parse_args()
    text = (
        "\n\n".join(
            f"**{t.title}**\n\n{t.to_markdown()}"
            for t in (steering_table(args.variant, args.tasks), layer_table(args.variant, args.tasks))
        )
        + "\n"
    )
    print(text)
    if args.doc.is_file() and section_markers(SECTION)[0] in args.doc.read_text():
        write_section(args.doc, SECTION, text)


if __name__ == "__main__":
    main()
