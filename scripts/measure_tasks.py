"""Measures SmolLM2-135M on every task (docs/tasks.md): accuracy per format, identification, overlaps, steering.

    python scripts/measure_tasks.py --shared ../shared/data --out docs/measurements

Resumable: each finished task is saved under --out and skipped on a rerun.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import neuronllm_tl as nl
from neuronllm_tl.evaluation.plots import plot_layer_counts, plot_overlap_heatmap
from neuronllm_tl.tasks.datasets import load_dataset_task
from neuronllm_tl.tasks.registry import load_task


def tasks(shared: Path, n: int):
    return {
        "capitals-mini": lambda **o: load_task("capitals-mini", **o),
        "sentiment-mini": lambda **o: load_task("sentiment-mini", **o),
        "topics-mini": lambda **o: load_task("topics-mini", **o),
        "sst2": lambda **o: load_dataset_task("sst2", data_files=str(shared / "sst2/dev.tsv"), **o),
        "rte": lambda **o: load_dataset_task("rte", data_files=str(shared / "rte/dev.tsv"), **o),
        "ag_news": lambda **o: load_dataset_task("ag_news", data_files=str(shared / "ag_news/test.csv"), **o),
        "mmlu": lambda **o: load_dataset_task("mmlu", **o),
        "arc_easy": lambda **o: load_dataset_task("arc_easy", data_files=str(shared / "arc_easy/test.jsonl"), **o),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="docs/measurements")
    ap.add_argument("--n-score", type=int, default=48, help="examples for the accuracy table")
    ap.add_argument("--n-identify", type=int, default=48)
    ap.add_argument("--n-eval", type=int, default=40)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--controls", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = nl.load_model("smollm2-135m")
    for name, make in tasks(Path(args.shared), args.n_score).items():
        if args.only and name not in args.only:
            continue
        result_file = out / f"{name}.json"
        if result_file.exists():
            print(f"{name}: done already")
            continue
        start = time.time()
        row = {"task": name, "formats": {}}
        for fmt in ("cloze", "letter"):
            t = make(answer_format=fmt).subset(range(args.n_score))
            s = nl.score_task(model, t)
            chance = float((1.0 / (s.probs > 0).sum(-1).float()).mean())
            row["formats"][fmt] = {**s.summary(), "chance": chance, "n_examples": len(t), "questions_per_example": t.effective_permutations}
            print(name, fmt, row["formats"][fmt], flush=True)
        task = make(answer_format="cloze").subset(range(args.n_identify + args.n_eval))
        ident, held_out = task.split(args.n_identify / len(task), seed=0)
        neurons = nl.identify(model, ident, k=args.k)
        neurons.save(out / f"{name}.neurons")
        plot_layer_counts(neurons, out / f"{name}_layers.png", title=f"{name}: good and bad neurons per layer")
        report = nl.evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=args.controls)
        row["identification"] = neurons.metadata["identification"]
        row["per_layer_counts"] = neurons.per_layer_counts()
        row["evaluation"] = report.to_dict()
        row["seconds"] = time.time() - start
        result_file.write_text(json.dumps(row, indent=2))
        print(report.to_markdown(), f"\n{name}: {row['seconds']:.0f} s", flush=True)
    sets = {p.name[: -len(".neurons")]: nl.NeuronSet.load(p) for p in sorted(out.glob("*.neurons"))}
    if len(sets) > 1:
        plot_overlap_heatmap(sets, out / "overlap_good.png", which="good")
        plot_overlap_heatmap(sets, out / "overlap_bad.png", which="bad")
        overlap = {a: {b: sets[a].overlap(sets[b]) for b in sets} for a in sets}
        (out / "overlap.json").write_text(json.dumps(overlap, indent=2))


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
