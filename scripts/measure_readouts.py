"""Accuracy of SmolLM2-135M on every task, per read-out and number of shots (docs/tasks.md).

    python scripts/measure_readouts.py --shared ../shared/data --out docs/measurements/readouts

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
from pathlib import Path

import torch
from scipy.stats import binomtest

import neuronllm_tl as nl
from neuronllm_tl.scoring.batches import example_batches
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.tasks.registry import load_task

LOCAL_COPIES = {"capitals-mini": None, "sentiment-mini": None, "topics-mini": None, "sst2": "sst2/dev.tsv",
                "rte": "rte/dev.tsv", "ag_news": "ag_news/test.csv", "arc_easy": "arc_easy/test.jsonl", "mmlu": None}
READOUTS = {"sum": {}, "mean": {"cloze_normalization": "mean"}, "char": {"cloze_normalization": "char"},
            "pmi": {"calibration": "pmi"}, "contextual": {"calibration": "contextual"}}
MARK_BEGIN, MARK_END = "<!-- readouts:begin -->", "<!-- readouts:end -->"


def held_out(name: str, shared: Path, shots: int, n_pool: int, n_eval: int):
    rel = LOCAL_COPIES[name]
    task = load_task(name, data_files=None if rel is None else str(shared / rel), answer_format="cloze")
    n = min(len(task), n_pool + n_eval)
    return task.subset(range(n)).split(1 - n_eval / n, seed=0, shots=shots)[1]


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
            enc = encoder.encode(batch)
            probs = option_scores(logits, enc).double().softmax(-1)
            right[r] += (probs.argmax(-1) == enc.correct).tolist()
            p_correct[r] += probs.gather(-1, enc.correct[:, None]).squeeze(-1).tolist()
    chance = sum(1 / len(q.options) for q in questions) / len(questions)
    return {r: {"correct": right[r], "p_correct": p_correct[r], "chance": chance} for r in READOUTS}


def summary(cell: dict) -> dict:
    n, k = len(cell["correct"]), sum(cell["correct"])
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return {"n": n, "accuracy": k / n, "low": ci.low, "high": ci.high,
            "p_correct": sum(cell["p_correct"]) / n, "chance": cell["chance"]}


def render(out: Path) -> str:
    results = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    tasks = sorted({k.rsplit("-", 1)[0] for k in results}, key=list(LOCAL_COPIES).index)
    lines = ["| task | shots | n | chance | " + " | ".join(READOUTS) + " |", "|---|---|---|---|" + "---|" * len(READOUTS)]
    for name in tasks:
        for shots in sorted(int(k.rsplit("-", 1)[1][:-4]) for k in results if k.rsplit("-", 1)[0] == name):
            cells = {r: summary(c) for r, c in results[f"{name}-{shots}shot"]["readouts"].items()}
            best = max(cells.values(), key=lambda s: s["accuracy"])["accuracy"]
            first = next(iter(cells.values()))
            row = [f"**{s['accuracy']:.2f}**" if s["accuracy"] == best else f"{s['accuracy']:.2f}" for s in cells.values()]
            row = [f"{a} [{s['low']:.2f}, {s['high']:.2f}]" for a, s in zip(row, cells.values())]
            lines.append(f"| {name} | {shots} | {first['n']} | {first['chance']:.2f} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_doc(doc: Path, table: str) -> None:
    text = doc.read_text()
    start, end = text.index(MARK_BEGIN) + len(MARK_BEGIN), text.index(MARK_END)
    doc.write_text(text[:start] + "\n" + table + text[end:])


def main():
    ap = argparse.ArgumentParser()
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
        model = nl.load_model("smollm2-135m")
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
                print(name, shots, {r: round(summary(c)["accuracy"], 3) for r, c in row["readouts"].items()},
                      f"{row['seconds']:.0f} s", flush=True)
    table = render(out)
    print(table)
    if Path(args.doc).exists() and MARK_BEGIN in Path(args.doc).read_text():
        write_doc(Path(args.doc), table)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
