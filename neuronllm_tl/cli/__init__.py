"""``neuronllm-tl``: identify good/bad neurons, evaluate steering, compare methods, or run the offline demo.

Examples:
    neuronllm-tl demo
    neuronllm-tl identify --task sentiment-mini --k 50 --out sentiment.neurons
    neuronllm-tl identify --task my_questions.jsonl --format letter --attribution integrated_gradients
    neuronllm-tl identify --task sst2 --data-files ../shared/data/sst2/dev.tsv --method qrnca --v 10
    neuronllm-tl evaluate --neurons sentiment.neurons --task sentiment-mini --controls 5
    neuronllm-tl identify --task capitals-gen --k 50          # a generation task: free-text answers
    neuronllm-tl evaluate --neurons capitals-gen.neurons --task capitals-gen   # judged by what it generates
    neuronllm-tl compare --tasks capitals-mini topics-mini sentiment-mini --sweeps objective k --out compare_out
    neuronllm-tl compare --tasks sst2 topics-mini --data-files sst2=dev.tsv --seeds 0 1 2 --shots sst2=4 \
        --task-option sst2:calibration=contextual --task-option sst2:cloze_normalization=char
    neuronllm-tl report neuronllm_demo          # (re)write neuronllm_demo/report.html from what the run wrote
    neuronllm-tl env                            # versions, device, and which fast paths run on the model

Every method's options are flags (``neuronllm-tl identify --help`` lists them with the methods they apply to).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from neuronllm_tl.cli.commands import (
    DEMO_DEFAULTS,
    cmd_compare,
    cmd_demo,
    cmd_env,
    cmd_evaluate,
    cmd_identify,
    cmd_overlap,
    cmd_tasks,
)
from neuronllm_tl.cli.flags import RenamedFlag, add_method_args, add_task_args, plain
from neuronllm_tl.cli.loading import tiny_tasks_for
from neuronllm_tl.cli.reporting import add_report_args, add_report_parser
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.variants import SWEEPS, VARIANTS
from neuronllm_tl.steering.modes import MODES


def _identify_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("identify", help="identify good and bad neurons of a task")
    add_task_args(p)
    add_method_args(p)
    p.add_argument("--out", help="folder for the neuron set (default: <task>.neurons)")
    p.add_argument(
        "--genuine-only", action="store_true", help="keep only examples answered right under every permutation"
    )
    p.add_argument(
        "--split",
        type=float,
        metavar="F",
        help="identify on a fraction F of the examples (drawn with --seed) and record the rest as the set's "
        "held-out split, which `evaluate --neurons` uses when no --task is given",
    )
    p.add_argument(
        "--model-distractors",
        type=int,
        metavar="N",
        help="generation tasks: replace the distractors by N of the model's own wrong answers (mined once, cached)",
    )
    add_report_args(p)
    p.set_defaults(func=cmd_identify)


def _evaluate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="steering effects of a saved neuron set on a task")
    add_task_args(p)
    p.add_argument("--neurons", required=True, help="a folder written by identify")
    p.add_argument("--modes", nargs="+", default=["enhance", "degrade"], choices=sorted(MODES))
    p.add_argument("--controls", type=int, default=5, help="random neuron sets per mode")
    p.add_argument("--max-new-tokens", type=int, default=8, help="generation tasks: greedy tokens per answer")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="keep the examples that identified the set (labelled: not held out); by default they are excluded",
    )
    p.add_argument(
        "--report",
        nargs="?",
        const="",
        metavar="JSON",
        help="save the evaluation as JSON (default path: NEURONS/report.json) and re-render report.html in that "
        "folder when it holds a neuron set (default: no file written)",
    )
    p.set_defaults(func=cmd_evaluate)


def _compare_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compare",
        help="NeuronLLM against its baselines and its settings' sweeps: a resumable grid",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # every option shows its default
    )
    d = CompareConfig()
    p.add_argument("--tasks", nargs="+", default=list(d.tasks), help="task names or .jsonl question files")
    p.add_argument(
        "--variants",
        nargs="+",
        default=list(d.variants),
        metavar="VARIANT",
        help=f"methods compared, of {', '.join(VARIANTS)}: all but the exact-ablation oracle unless named "
        "('ablation_oracle': ~100-250 passes per question)",
    )
    p.add_argument(
        "--sweeps",
        "--ablations",
        nargs="*",
        default=[],
        choices=list(SWEEPS),
        action=RenamedFlag,
        help="groups of NeuronLLM settings to sweep (--ablations: its earlier name)",
    )
    p.add_argument(
        "--sweep-tasks",
        "--ablation-tasks",
        nargs="+",
        action=RenamedFlag,
        help="tasks the sweeps run on (None: the first task; --ablation-tasks: its earlier name)",
    )
    p.add_argument("--k", type=int, default=d.k, help="neurons per set, the same for every method")
    p.add_argument("--n-identify", type=int, default=d.n_identify, help="examples each method identifies on")
    p.add_argument("--n-eval", type=int, default=d.n_eval, help="held-out examples the steering is measured on")
    p.add_argument("--controls", type=int, default=d.controls, help="random sets per cell")
    p.add_argument("--ig-steps", type=int, default=d.ig_steps, help="integrated-gradients steps m per layer")
    p.add_argument("--format", choices=["cloze", "letter"], default=d.answer_format, help="answer read-out")
    p.add_argument("--permutations", type=int, default=d.n_permutations, help="option permutations per example")
    _add_compare_task_args(p, d)
    p.add_argument("--model", default="smollm2-135m", help="model name or folder")
    p.add_argument("--out", default="compare_out", help="output folder; rerunning with it resumes")
    _add_budget_args(p)
    add_report_args(p, explains=False)
    p.set_defaults(func=cmd_compare)


def _add_compare_task_args(p: argparse.ArgumentParser, d: CompareConfig) -> None:
    p.add_argument(
        "--seeds",
        "--seed",
        nargs="+",
        type=int,
        default=list(d.seeds),
        help=f"identification/evaluation split seeds; every cell runs once per seed (default {list(d.seeds)})",
    )
    p.add_argument(
        "--task-option",
        action="append",
        metavar="TASK:KEY=VALUE",
        help="a load_task option of one task, repeatable, e.g. sst2:calibration=contextual (VALUE is read as JSON "
        "when it parses, else as text)",
    )
    p.add_argument(
        "--shots",
        nargs="+",
        metavar="TASK=K",
        help="k label-balanced demonstrations for a task, drawn from its identification split (default 0), e.g. "
        "sst2=4; a bare K applies to every task",
    )
    p.add_argument("--unrelated", nargs="+", help="TASK=OTHER pairs for specificity (None: the next task)")
    p.add_argument(
        "--skip",
        nargs="+",
        metavar="TASK=VARIANT[,VARIANT]",
        help="variants not run on a task, e.g. arc_easy=neuronllm_ig,qrnca; a sweep group or setting of --sweeps "
        "too, e.g. arc_easy=objective,z=1.0 (default: none skipped)",
    )
    p.add_argument("--data-files", nargs="+", help="NAME=PATH for dataset tasks, e.g. sst2=../shared/data/sst2/dev.tsv")


def _add_budget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-minutes",
        type=float,
        help="stop at the first cell boundary after this many minutes, write the partial results, and exit 0; "
        "the same command again continues (default: no limit)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="compute nothing: write the results of the cells --out holds (partial, with the cells left, when the "
        "grid is not done), e.g. after --merge-from",
    )
    p.add_argument(
        "--merge-from",
        nargs="+",
        default=[],
        metavar="FOLDER",
        help="first add to --out what these run folders hold (shards of the same grid run elsewhere, each into its "
        "own folder, with the same --tasks): every artefact is reused only under the key its content gives",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="time one identification example and one held-out scoring per task and method on this machine, "
        "print the expected time of the grid per task, per method and in total, and stop (runs no cell)",
    )


def _demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on the offline default model and a built-in task")
    add_task_args(p)
    add_method_args(p)
    p.set_defaults(k=DEMO_DEFAULTS["k"], format=DEMO_DEFAULTS["format"])
    p.add_argument("--n-identify", type=int, default=DEMO_DEFAULTS["n_identify"])
    p.add_argument("--n-eval", type=int, default=DEMO_DEFAULTS["n_eval"])
    p.add_argument("--controls", type=int, default=DEMO_DEFAULTS["controls"])
    p.add_argument("--out", default="neuronllm_demo")
    add_report_args(p)
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuronllm-tl", description=plain(__doc__ or ""), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tasks", help="list the registered tasks").set_defaults(func=cmd_tasks)
    _identify_parser(sub)
    _evaluate_parser(sub)
    p = sub.add_parser("overlap", help="Jaccard overlap of saved neuron sets, as tables and heatmaps")
    p.add_argument("neurons", nargs="+", help="folders written by identify")
    p.add_argument("--out", default="overlap", help="PNG prefix (default: overlap_good.png, overlap_bad.png)")
    p.set_defaults(func=cmd_overlap)
    _compare_parser(sub)
    _demo_parser(sub)
    add_report_parser(sub)
    p = sub.add_parser("env", help="versions, device and threads, and which fast paths run on a model")
    p.add_argument("--model", default="smollm2-135m", help="model name or folder (default: offline smollm2-135m)")
    p.add_argument("--no-model", action="store_true", help="report the versions only (loads no model)")
    p.set_defaults(func=cmd_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the subcommand's parser, with its own usage, not the top-level one
        parser._subparsers._group_actions[0].choices[args.command].error(  # type: ignore[union-attr,index]
            f"unrecognized arguments: {' '.join(unknown)}"
        )
    try:
        with tiny_tasks_for(getattr(args, "model", None)):
            return int(args.func(args))
    except (ValueError, KeyError, OSError, ModuleNotFoundError) as e:  # OSError covers FileNotFoundError
        print(f"neuronllm-tl: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
