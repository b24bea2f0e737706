"""``render_report(run_dir)``: the run folder as one self-contained HTML page (Jinja2, autoescaped).

Self-contained: the plots are embedded as base64 ``data:image/png`` URIs, the style sheet and the few
lines of table-sorting script are inline, and nothing is loaded from the network (no CDN, no web fonts,
no external links the page needs). Every text that comes from the run (task names, tokens, examples) is
escaped by the template engine, so a task named ``<script>`` shows as text.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

import jinja2

from neuronllm_tl.comparison.pairwise import PairResult
from neuronllm_tl.comparison.result_tables import comparison_tables, pairs_table, standings_table
from neuronllm_tl.comparison.results_csv import read_pairs, read_rows
from neuronllm_tl.reporting.cards import build_cards
from neuronllm_tl.reporting.header import header_items, title
from neuronllm_tl.reporting.report_tables import fmt, neuron_table, steering_table
from neuronllm_tl.reporting.run_files import COMPARE_PLOTS, LAYER_PLOT, RunFiles, read_run
from neuronllm_tl.tables import Table
from neuronllm_tl.version import __version__

REPORT_FILE = "report.html"
TEMPLATE = "report.html"


def visible(token: str) -> str:
    """A vocabulary token with its whitespace made visible (``" Paris"`` -> ``"␣Paris"``; empty -> ``∅``)."""
    if token == "":
        return "∅"
    return token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape on, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neuronllm_tl.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["visible"] = visible
    return env


def _missing_notes(files: RunFiles) -> dict[str, str]:
    """Why a section of a neuron run is empty, with the call that fills it (read errors come first)."""
    notes = dict(files.notes)
    if files.neurons is None:
        notes.setdefault(
            "neurons",
            "No neuron set in this folder (neurons.safetensors and metadata.json, written by NeuronSet.save or "
            "neuronllm-tl identify --out): the neuron tables are left out.",
        )
    if LAYER_PLOT not in files.plots:
        notes.setdefault("layers", "No per-layer plot: the folder has no layers.png and no neuron set to draw it from.")
    if files.explanations is None:
        notes.setdefault(
            "explanations",
            "No explanations.json: save nl.explain(model, neurons.top(5), task).to_dict() there as JSON "
            "(neuronllm-tl demo and identify write it), then run neuronllm-tl report again.",
        )
    if files.top_activating is None:
        notes.setdefault(
            "top_activating",
            "No top_activating.json: save nl.top_activating(model, neurons.top(5), texts).to_dict() there as JSON "
            "to see each neuron's top-activating snippets.",
        )
    if files.report is None:
        notes.setdefault(
            "steering",
            "No report.json: save nl.evaluate(...).to_dict() there as JSON "
            "(neuronllm-tl evaluate --report RUN_DIR/report.json).",
        )
    return notes


def _comparison_context(files: RunFiles) -> dict[str, Any]:
    plots = [
        {"name": name, "caption": caption, "uri": data_uri(files.plots[name])}
        for name, caption in COMPARE_PLOTS.items()
        if name in files.plots
    ]
    missing = [name for name in COMPARE_PLOTS if name not in files.plots and name != "sweep_k.png"]
    notes = dict(files.notes)
    if missing:
        notes["compare_plots"] = f"Missing plot(s): {', '.join(missing)} (written by neuronllm-tl compare)."
    return {
        "tables": comparison_tables(read_rows(files.results or [])),
        "ranking": _ranking(read_pairs(files.pairs or [])),
        "plots": plots,
        "notes": notes,
    }


def build_context(files: RunFiles) -> dict[str, Any]:
    """Everything the template shows, from a read run folder."""
    cards = build_cards(files.explanations, files.top_activating)
    explained = [(c.layer, c.index) for c in cards]
    comparison = files.is_comparison
    neurons = files.neurons
    return {
        "title": title(files),
        "header": header_items(files),
        "folder": files.folder.resolve().name,
        "rendered": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "version": __version__,
        "comparison": _comparison_context(files) if comparison else None,
        "show_neurons": not comparison or neurons is not None,
        "layer_plot": data_uri(files.plots[LAYER_PLOT]) if LAYER_PLOT in files.plots else None,
        "neuron_tables": [neuron_table(neurons, r, explained) for r in ("good", "bad")] if neurons else [],
        "cards": cards,
        "thresholds": (files.explanations or {}).get("thresholds") or {},
        "explained_on": (files.explanations or {}).get("task"),
        "explained_examples": (files.explanations or {}).get("examples"),
        "steering": steering_table(files.report) if files.report is not None else None,
        "baseline": (files.report or {}).get("baseline") or {},
        "notes": _missing_notes(files) if not comparison else dict(files.notes),
    }


def render_html(files: RunFiles) -> str:
    return environment().get_template(TEMPLATE).render(**build_context(files))


def _ranking(pairs: list[PairResult]) -> list[Table]:
    """Who beats whom: the compact table, then every pair (none without a readable pair)."""
    return [standings_table(pairs), pairs_table(pairs)] if pairs else []


def render_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Write ``run_dir/report.html`` (or ``out``): one self-contained page of everything the run wrote.

    Shows the run's header (model, task, method config, versions, fingerprints), the per-layer plot, the
    sortable good and bad neuron tables, a card per explained neuron, the steering table with its
    intervals, and for a ``compare`` run the method tables and plots. Pieces the folder lacks are left out
    with a note saying how to produce them. Returns the path written.
    """
    files = read_run(run_dir)
    path = Path(out) if out is not None else files.folder / REPORT_FILE
    path.write_text(render_html(files), encoding="utf-8")
    return path


__all__ = ["REPORT_FILE", "build_context", "data_uri", "environment", "render_html", "render_report"]
