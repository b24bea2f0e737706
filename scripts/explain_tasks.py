"""Explains SmolLM2-135M's good and bad neurons on capitals-mini, topics-mini and sentiment-mini (docs/explain.md).

    python scripts/explain_tasks.py --out docs/explain --neurons-dir /tmp/explain-neurons

Per task: the first 2 x --n examples in cloze format, split in halves (seed 0); ``nl.identify`` on one
half with the default method (NeuronLLM, gradient x activation, contrastive F) and K = --k, then
``nl.explain`` on the other, held-out half with exact ablation (accuracy is measured there too), then
``nl.top_activating`` of the --top-bad worst bad neurons over the question texts of all three tasks.
Writes ``<task>.md`` (the explanations' markdown), ``<task>.explanations.json``, ``<task>.top_activating.md``
and ``<task>.json`` (accuracy, timings, roles) under --out, and prints a summary. Resumable: a task whose
``<task>.json`` exists is skipped. With --neurons-dir, each NeuronSet is saved there and a later run reuses it
instead of identifying again.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import neuronllm_tl as nl

TASKS = ("capitals-mini", "topics-mini", "sentiment-mini")


def corpus(n: int) -> list[str]:
    """The question texts of the three tasks (their first n examples each): the inputs the neurons see."""
    return [ex.question for name in TASKS for ex in nl.load_task(name, answer_format="cloze").examples[:n]]


def load(name: str, n: int):
    task = nl.load_task(name, answer_format="cloze")
    return task.subset(range(min(n, len(task))), name=name)


def wrong_answers(model, task) -> dict[str, int]:
    """How often the model answers B where A is correct, as "A -> B" (cloze: one question per example)."""
    scores = nl.score_task(model, task)
    counts: dict[str, int] = {}
    for q, p, c in zip(task.questions(), scores.probs.argmax(-1).tolist(), scores.correct.tolist(), strict=True):
        if p != c:
            key = f"{q.options[c]} -> {q.options[p]}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def run(model, name: str, args: argparse.Namespace, out: Path) -> dict:
    task, held = load(name, 2 * args.n).split(0.5, seed=0)  # identify on one half, explain on the other
    start = time.time()
    saved = Path(args.neurons_dir) / f"{name}.neurons" if args.neurons_dir else None
    if saved is not None and saved.exists():
        neurons = nl.NeuronSet.load(saved, model=model)
    else:
        neurons = nl.identify(model, task, k=args.k)
        if saved is not None:
            neurons.save(saved)
    t_identify = time.time() - start
    ex = nl.explain(model, neurons, held, with_ablation=True, top_examples=3)
    t_explain = time.time() - start - t_identify
    (out / f"{name}.md").write_text(ex.to_markdown())
    ex.save_json(out / f"{name}.explanations.json")
    top = nl.top_activating(model, neurons.bad[: args.top_bad], corpus(args.n), k=3)
    (out / f"{name}.top_activating.md").write_text(top.to_markdown())
    top.save_json(out / f"{name}.top_activating.json")
    scores = nl.score_task(model, held)
    summary = {
        "task": name,
        "n_examples": len(held),
        "n_identify": len(task),
        "k": args.k,
        "accuracy": scores.accuracy,
        "seconds_identify": round(t_identify, 1),
        "seconds_explain": round(t_explain, 1),
        "roles": {f"L{r.layer}:{r.index}": [r.role, r.role_text] for r in ex.rows},
    }
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/explain")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--top-bad", type=int, default=5)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--wrong-answers", action="store_true", help="only print each task's wrong answers and labels")
    ap.add_argument("--neurons-dir", help="save each NeuronSet here, and reuse one found here instead of identifying")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    model = nl.load_model("smollm2-135m")
    if args.wrong_answers:
        for name in TASKS:
            task = load(name, args.n)
            labels: dict[str, int] = {}
            for ex in task.examples:
                labels[ex.options[ex.answer]] = labels.get(ex.options[ex.answer], 0) + 1
            print(f"{name}: wrong answers {wrong_answers(model, task)}; correct labels {labels}")
        return
    for name in TASKS:
        if (args.only and name not in args.only) or (out / f"{name}.json").exists():
            continue
        summary = run(model, name, args, out)
        print(json.dumps({k: v for k, v in summary.items() if k != "roles"}))
        for neuron, (role, text) in summary["roles"].items():
            print(f"  {neuron:>9} {role:4} {text}")


if __name__ == "__main__":
    main()
