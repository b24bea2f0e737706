"""Accuracy of a model on every task, per read-out and number of shots (docs/tasks.md).

    python scripts/measure_readouts.py --shared ../shared/data --out docs/measurements/readouts
    python scripts/measure_readouts.py --model gemma3-270m --shots 0 --out docs/measurements/readouts-gemma3-270m

Each model's table sits between its own markers in ``--doc`` (``<!-- readouts:begin -->`` for the default
model, ``<!-- readouts-MODEL:begin -->`` for another).

For each task: the first ``--n-pool + --n-eval`` examples (dataset tasks come shuffled with seed 0) are
split with seed 0 into a demonstration pool and ``--n-eval`` held-out examples. The held-out questions
are the same for every read-out and shot count; k-shot demonstrations are drawn label-balanced from the
pool (:meth:`Task.split`). Cloze format: one forward pass per question serves every read-out (they read
the same logits; only normalisation and calibration offsets differ). Accuracy with its exact
(Clopper-Pearson) 95% interval from ``scipy.stats.binomtest``. Resumable per (task, shots).
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from scipy.stats import binomtest

import neuronllm_tl as nl
from neuronllm_tl.scoring.batches import example_batches
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.tables import section_markers, write_section
from neuronllm_tl.tasks.registry import load_task

LOCAL_COPIES = {
    "capitals-mini": None,
    "sentiment-mini": None,
    "topics-mini": None,
    "sst2": "sst2/dev.tsv",
    "rte": "rte/dev.tsv",
    "ag_news": "ag_news/test.csv",
    "arc_easy": "arc_easy/test.jsonl",
    "mmlu": None,
}
READOUTS = {
    "sum": {},
    "mean": {"cloze_normalization": "mean"},
    "char": {"cloze_normalization": "char"},
    "pmi": {"calibration": "pmi"},
    "contextual": {"calibration": "contextual"},
}
DEFAULT_MODEL = "smollm2-135m"


def section(model: str) -> str:
    """The doc section (between its markers) that holds ``model``'s table."""
    return "readouts" if model == DEFAULT_MODEL else f"readouts-{model}"


def held_out(name: str, shared: Path, shots: int, n_pool: int, n_eval: int, *, confirm: bool = False):
    """The held-out questions (``confirm``: the next ``n_eval`` examples, never used to choose a read-out),
    with ``shots`` demonstrations from the pool."""
    rel = LOCAL_COPIES[name]
    task = load_task(name, data_files=None if rel is None else str(shared / rel), answer_format="cloze")
    n = min(len(task), n_pool + n_eval)
    ident, held = task.subset(range(n)).split(1 - n_eval / n, seed=0, shots=shots)
    if not confirm:
        return held
    fresh = task.subset(range(n, min(len(task), n + n_eval)), name=f"{name}:confirm")
    return replace(fresh, demonstrations=ident.demonstrations)


def measure(model, task, batch_size: int) -> dict:
    """Per read-out: the held-out questions' correctness and p(correct), from one pass per batch."""
    variants = {r: task.with_options(**o) for r, o in READOUTS.items()}
    encoders = {r: QuestionEncoder(model, t) for r, t in variants.items()}
    right = {r: [] for r in READOUTS}
    p_correct = {r: [] for r in READOUTS}
    questions = task.questions()
    for batch in example_batches(questions, batch_size, encoder=encoders["sum"], max_tokens=6000):
        plain = encoders["sum"].encode(batch)
        with torch.no_grad():
            logits = forward_logits(model, plain)
        for r, encoder in encoders.items():
            enc = plain if r == "sum" else encoder.encode(batch)
            probs = option_scores(logits, enc).double().softmax(-1)
            right[r] += (probs.argmax(-1) == enc.correct).tolist()
            p_correct[r] += probs.gather(-1, enc.correct[:, None]).squeeze(-1).tolist()
    chance = sum(1 / len(q.options) for q in questions) / len(questions)
    return {r: {"correct": right[r], "p_correct": p_correct[r], "chance": chance} for r in READOUTS}


def summary(cell: dict) -> dict:
    n, k = len(cell["correct"]), sum(cell["correct"])
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return {
        "n": n,
        "accuracy": k / n,
        "low": ci.low,
        "high": ci.high,
        "p_correct": sum(cell["p_correct"]) / n,
        "chance": cell["chance"],
    }


def mcnemar(a: list[bool], b: list[bool]) -> float:
    """Exact McNemar p-value of two read-outs' correctness on the same questions (binomial test on the
    questions only one of them gets right)."""
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    return 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue


def choose(results: dict, name: str) -> tuple[str, int, float, float]:
    """(read-out, shots, its accuracy, McNemar p against sum/0 shots) of the most accurate cell of a task."""
    base = results[f"{name}-0shot"]["readouts"]["sum"]["correct"]
    cells = [
        (r, res["shots"], c["correct"])
        for key, res in results.items()
        if key.rsplit("-", 1)[0] == name
        for r, c in res["readouts"].items()
    ]
    readout, shots, best = max(cells, key=lambda c: (sum(c[2]), -c[1], c[0] == "sum"))
    return readout, shots, sum(best) / len(best), mcnemar(best, base)


def render_choice(out: Path, results: dict, tasks: list[str]) -> str:
    lines = [
        "",
        "| task | sum, 0 shots | most accurate | accuracy | McNemar p (selection) | fresh examples: sum → "
        "chosen | McNemar p (fresh) | default |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in tasks:
        if f"{name}-0shot" not in results:
            continue
        base = summary(results[f"{name}-0shot"]["readouts"]["sum"])["accuracy"]
        readout, shots, acc, p = choose(results, name)
        fresh = "pending" if p < 0.05 else "not run (p ≥ 0.05)"
        p_fresh, default = None, "sum, 0 shots"
        path = out / "confirm" / f"{name}.json"
        if path.exists():
            cells = json.loads(path.read_text())["cells"]
            a, b = summary(cells["sum"]), summary(cells[readout])
            p_fresh = mcnemar(cells[readout]["correct"], cells["sum"]["correct"])
            fresh = f"{a['accuracy']:.2f} → {b['accuracy']:.2f} (n = {a['n']})"
            if p_fresh < 0.05 and b["accuracy"] > a["accuracy"]:
                default = f"{readout}, {shots} shots"
        p_text = "" if p_fresh is None else f"{p_fresh:.3g}"
        lines.append(
            f"| {name} | {base:.2f} | {readout}, {shots} shots | {acc:.2f} | {p:.3g} | {fresh} | {p_text} | {default} |"
        )
    return "\n".join(lines) + "\n"


def render(out: Path) -> str:
    results = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*shot.json"))}
    tasks = sorted({k.rsplit("-", 1)[0] for k in results}, key=list(LOCAL_COPIES).index)
    lines = [
        "| task | shots | n | chance | " + " | ".join(READOUTS) + " |",
        "|---|---|---|---|" + "---|" * len(READOUTS),
    ]
    for name in tasks:
        for shots in sorted(int(k.rsplit("-", 1)[1][:-4]) for k in results if k.rsplit("-", 1)[0] == name):
            cells = {r: summary(c) for r, c in results[f"{name}-{shots}shot"]["readouts"].items()}
            best = max(cells.values(), key=lambda s: s["accuracy"])["accuracy"]
            first = next(iter(cells.values()))
            row = [
                f"**{s['accuracy']:.2f}**" if s["accuracy"] == best else f"{s['accuracy']:.2f}" for s in cells.values()
            ]
            row = [f"{a} [{s['low']:.2f}, {s['high']:.2f}]" for a, s in zip(row, cells.values(), strict=True)]
            lines.append(f"| {name} | {shots} | {first['n']} | {first['chance']:.2f} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n" + render_choice(out, results, tasks)


def confirm(model, out: Path, args) -> None:
    """Each task whose most accurate cell beat sum/0 shots (uncorrected p < 0.05 on the selection sample) is
    measured again on fresh examples: one pre-chosen comparison, so its p-value needs no correction."""
    results = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*shot.json"))}
    for name in args.tasks:
        path = out / "confirm" / f"{name}.json"
        if f"{name}-0shot" not in results or path.exists():
            continue
        readout, shots, _, p = choose(results, name)
        if p >= 0.05:
            continue
        cells = {
            "sum": measure(
                model, held_out(name, Path(args.shared), 0, args.n_pool, args.n_eval, confirm=True), args.batch_size
            )["sum"],
            readout: measure(
                model, held_out(name, Path(args.shared), shots, args.n_pool, args.n_eval, confirm=True), args.batch_size
            )[readout],
        }
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"task": name, "readout": readout, "shots": shots, "cells": cells}))
        print(name, "confirm", {r: round(summary(c)["accuracy"], 3) for r, c in cells.items()}, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL, help="a name nl.load_model knows")
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="docs/measurements/readouts")
    ap.add_argument("--tasks", nargs="*", default=list(LOCAL_COPIES))
    ap.add_argument("--shots", nargs="*", type=int, default=[0, 1, 3])
    ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--n-pool", type=int, default=40, help="examples the demonstrations are drawn from")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--doc", default="docs/tasks.md")
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        model = nl.load_model(args.model)
        for name in args.tasks:
            for shots in args.shots:
                path = out / f"{name}-{shots}shot.json"
                if path.exists():
                    continue
                start = time.time()
                task = held_out(name, Path(args.shared), shots, args.n_pool, args.n_eval)
                row = {"task": name, "shots": shots, "readouts": measure(model, task, args.batch_size)}
                row["seconds"] = time.time() - start
                path.write_text(json.dumps(row))
                print(
                    name,
                    shots,
                    {r: round(summary(c)["accuracy"], 3) for r, c in row["readouts"].items()},
                    f"{row['seconds']:.0f} s",
                    flush=True,
                )
        confirm(model, out, args)
    table = render(out)
    print(table)
    if Path(args.doc).exists() and section_markers(section(args.model))[0] in Path(args.doc).read_text():
        write_section(Path(args.doc), section(args.model), table)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
