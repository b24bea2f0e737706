"""The report of a run: ``neuronllm-tl report RUN_DIR``, and what ``demo``, ``identify`` and ``compare`` write
at their end (``explanations.json`` of their top neurons, then ``report.html``; ``--no-report`` skips both
the report and the explanations, ``--explain 0`` only the explanations)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from neuronllm_tl.explanation.corpus import top_activating
from neuronllm_tl.explanation.explain import explain
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.reporting.render import render_report
from neuronllm_tl.reporting.run_files import EXPLANATIONS_JSON, TOP_ACTIVATING_JSON, find_neuron_set
from neuronllm_tl.tasks.task import Task

DEFAULT_EXPLAIN = 5
"""Neurons per role (good, bad) that ``demo`` and ``identify`` explain for the report."""


def add_report_args(p: argparse.ArgumentParser, *, explains: bool = True) -> None:
    p.add_argument("--no-report", action="store_true", help="do not write report.html (nor explanations.json)")
    if explains:
        p.add_argument(
            "--explain",
            type=int,
            default=DEFAULT_EXPLAIN,
            metavar="N",
            help=f"explain the top N good and N bad neurons in explanations.json (default {DEFAULT_EXPLAIN}; 0: none)",
        )
        p.add_argument(
            "--top-activating",
            metavar="FILE",
            help="a text file (one text per line): the explained neurons' top-activating snippets in it go to "
            "top_activating.json and the report's cards (default: none)",
        )


def write_explanations(model: HookedModel, neurons: NeuronSet, task: Task, out: Path, *, n: int) -> Path | None:
    """``nl.explain`` of the top ``n`` good and bad neurons on ``task``, saved as ``out/explanations.json``.

    A failure is reported and skipped (the run's own results are already written): the report then says
    that there are no explanations. An ``explanations.json`` of an earlier run in ``out`` is removed first.
    """
    path = out / EXPLANATIONS_JSON
    path.unlink(missing_ok=True)  # an earlier run's explanations would not describe this run's neurons
    if n <= 0:
        return None
    start = time.time()
    try:
        explanations = explain(model, neurons.top(n), task, held_out="allow")  # labelled when not held out
    except (ValueError, TypeError, KeyError, RuntimeError, NotImplementedError) as e:
        print(f"neuronllm-tl: explanations skipped ({type(e).__name__}: {e})", file=sys.stderr)
        return None
    path.write_text(json.dumps(explanations.to_dict(), indent=2))
    print(f"Explained {len(explanations.rows)} neurons on {task.name} in {time.time() - start:.1f} s: {path}")
    return path


def read_texts(texts_file: str | None) -> list[str] | None:
    """The lines of ``--top-activating FILE`` (read before the run, so a wrong path fails at once)."""
    if texts_file is None:
        return None
    source = Path(texts_file)
    if not source.is_file():
        raise FileNotFoundError(f"--top-activating {texts_file}: no such file (give a text file, one text per line).")
    texts = [line.strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise ValueError(f"--top-activating {texts_file} has no text: give one text per line.")
    return texts


def write_top_activating(model: HookedModel, neurons: NeuronSet, out: Path, texts: list[str] | None, *, n: int) -> None:
    """``nl.top_activating`` of the top ``n`` good and bad neurons over ``texts``, saved as
    ``out/top_activating.json`` (an earlier run's file is removed first: it described other neurons)."""
    path = out / TOP_ACTIVATING_JSON
    path.unlink(missing_ok=True)
    if not texts or n <= 0:
        return
    start = time.time()
    tops = top_activating(model, neurons.top(n), texts, k=5)
    path.write_text(json.dumps(tops.to_dict(), indent=2))
    print(f"Top-activating snippets of {2 * n} neurons over {len(texts)} texts in {time.time() - start:.1f} s: {path}")


def write_report(out: Path, args: argparse.Namespace) -> Path | None:
    """``out/report.html``, unless ``--no-report``."""
    if getattr(args, "no_report", False):
        return None
    path = render_report(out)
    print(f"Report: {path} (open it in a browser; one self-contained file)")
    return path


def report_run(
    model: HookedModel,
    neurons: NeuronSet,
    task: Task,
    out: Path,
    args: argparse.Namespace,
    texts: list[str] | None = None,
) -> None:
    """The explanations (on ``task``), the top-activating snippets (over ``texts``, from ``read_texts``) and
    ``out/report.html`` of an identify or demo run, unless ``--no-report``."""
    if getattr(args, "no_report", False):
        return
    write_explanations(model, neurons, task, out, n=args.explain)
    write_top_activating(model, neurons, out, texts, n=args.explain)
    write_report(out, args)


def save_evaluation(report: Any, path: Path) -> None:
    """The evaluation as JSON at ``path``, and the report.html of its folder re-rendered when the folder is a
    run (it holds a neuron set): the set's own folder by default."""
    report.save_json(path)
    print(f"saved {path}")
    if find_neuron_set(path.parent) is None:
        print(f"report.html not rendered: {path.parent} holds no neuron set (--report alone writes to the set)")
        return
    print(f"Report: {render_report(path.parent)} (re-rendered with this evaluation)")


def cmd_report(args: argparse.Namespace) -> int:
    path = render_report(args.run_dir, out=args.out)
    print(f"wrote {path}")
    return 0


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="render RUN_DIR/report.html: one self-contained page of a run's results")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the output folder of demo, identify or compare (or your own)")
    p.add_argument("--out", help="write the page here instead of RUN_DIR/report.html")
    p.set_defaults(func=cmd_report)


__all__ = [
    "add_report_args",
    "add_report_parser",
    "cmd_report",
    "read_texts",
    "report_run",
    "save_evaluation",
    "write_explanations",
    "write_report",
    "write_top_activating",
]
