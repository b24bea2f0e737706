"""Cloze scoring with options sharing their prompt's pass, against one full row per option, side by side.

    python benchmarks/bench_scoring.py --json docs/benchmark_scoring.json       # tiny Llama and SmolLM2-135M
    python benchmarks/bench_scoring.py --models tiny --examples 8

For each model and task, ``score_task`` runs the same questions both ways, unsteered and under a Degrade
steering at the answer position (what ``evaluate`` and ``compare`` run most), alternating the two paths
``--repeats`` times; the figure is the best time of each. The ratio is full / shared; the equality check is
the largest difference of any option probability, and whether every question's prediction is the same.

Tasks:
  capitals-14   a 14-option capitals task made here for the benchmark (issue #13's P6 asks for >= 10 options):
                each capitals-mini question with its answer and 13 other capitals' countries, listed in the prompt
  capitals-mini the built-in 4-option task (prompt not listing the options)
  ag_news       ../shared/data/ag_news/test.csv, 4 options, 1 demonstration (its chosen read-out), if present
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
AG_NEWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ag_news" / "test.csv"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def many_option_task(n_options: int = 14, n_examples: int = 32):
    """capitals-mini's questions, each with its answer and ``n_options - 1`` other countries, listed."""
    from dataclasses import replace

    from neuronllm_tl.tasks.registry import load_task
    from neuronllm_tl.tasks.task import Task

    base = load_task("capitals-mini")
    countries = sorted({o for ex in base.examples for o in ex.options})
    rng = random.Random(0)
    examples = []
    for ex in base.examples[:n_examples]:
        answer = ex.options[ex.answer]
        options = rng.sample([c for c in countries if c != answer], n_options - 1) + [answer]
        rng.shuffle(options)
        examples.append({"question": ex.question, "options": options, "answer": options.index(answer)})
    template = replace(base.template, letters=LETTERS, show_options=True)
    return Task.from_examples(examples, name=f"capitals-{n_options}", template=template, n_permutations=1)


def build_tasks(model_name: str, n_examples: int) -> list:
    from neuronllm_tl.tasks.registry import load_task
    from neuronllm_tl.testing import tiny_task

    if model_name == "tiny":
        return [tiny_task("cloze")]
    tasks = [many_option_task(14, n_examples), load_task("capitals-mini").subset(range(n_examples // 3))]
    if AG_NEWS.is_file():
        news = load_task("ag_news", data_files=str(AG_NEWS), calibration="none")
        tasks.append(news.subset(range(n_examples // 3 + 1)).with_shots(1))
    return tasks


def degrade(model):
    """A Degrade steering of 50 + 50 neurons spread over the layers (what is steered does not change the cost)."""
    import torch

    from neuronllm_tl.models.validation import model_spec
    from neuronllm_tl.neurons.neuron_set import NeuronSet
    from neuronllm_tl.steering.steering import Steering

    spec = model_spec(model)
    g = torch.Generator().manual_seed(0)
    picks = torch.randperm(spec.n_layers * spec.d_mlp, generator=g)[:100]
    neurons = torch.stack([picks // spec.d_mlp, picks % spec.d_mlp], 1)
    n = len(neurons) // 2
    scores = torch.zeros(spec.n_layers, spec.d_mlp)
    ambiguous = torch.zeros_like(scores, dtype=torch.bool)
    neuron_set = NeuronSet(neurons[:n], neurons[n:], torch.ones(n), -torch.ones(n), scores, ambiguous, {})
    return Steering.from_mode(neuron_set, "degrade")


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def compare_paths(model, task, steering, repeats: int, batch_size: int) -> dict:
    from neuronllm_tl.evaluation.scores import score_task

    best = {"full": float("inf"), "shared": float("inf")}
    result = {}
    for _ in range(repeats):
        for path, share in (("full", False), ("shared", True)):
            seconds, scores = timed(
                lambda share=share: score_task(model, task, steering=steering, share_prompt=share, batch_size=batch_size)
            )
            best[path] = min(best[path], seconds)
            result[path] = scores
    full, shared = result["full"], result["shared"]
    return {
        "task": task.name,
        "steering": steering.mode if steering is not None else "none",
        "questions": len(full.correct),
        "options": int(full.probs.shape[1]),
        "full_s": best["full"],
        "shared_s": best["shared"],
        "speedup": best["full"] / best["shared"],
        "max_abs_prob_diff": float((full.probs - shared.probs).abs().max()),
        "same_predictions": bool((full.probs.argmax(-1) == shared.probs.argmax(-1)).all()),
        "accuracy": full.accuracy,
    }


def bench_model(name: str, opts: argparse.Namespace) -> list[dict]:
    import neuronllm_tl as nl
    from neuronllm_tl.scoring.encoding import QuestionEncoder

    model = random_llama() if name == "tiny" else nl.load_model(name, device="cpu")
    rows = []
    for task in build_tasks(name, opts.examples):
        enc = QuestionEncoder(model, task).encode(task.questions()[:1])
        for steering in (None, degrade(model)):
            row = compare_paths(model, task, steering, opts.repeats, opts.batch_size)
            row.update(model=name, prompt_tokens=int(enc.answer_pos[0]) + 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def random_llama():
    from neuronllm_tl.testing import tiny_hf_llama

    return tiny_hf_llama(n_layers=4)


def print_table(rows: list[dict]) -> None:
    print("\n| model | task | options | prompt tokens | steering | questions | full s | shared s | speed-up | "
          "max abs Δp | same predictions |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['task']} | {r['options']} | {r['prompt_tokens']} | {r['steering']} | "
              f"{r['questions']} | {r['full_s']:.2f} | {r['shared_s']:.2f} | {r['speedup']:.1f}× | "
              f"{r['max_abs_prob_diff']:.1e} | {r['same_predictions']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"])
    parser.add_argument("--examples", type=int, default=32, help="questions of the 14-option task")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the rows here")
    opts = parser.parse_args()
    import torch

    torch.set_num_threads(opts.threads)
    rows = [row for name in opts.models for row in bench_model(name, opts)]
    print_table(rows)
    if opts.json:
        Path(opts.json).write_text(json.dumps({"threads": opts.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
