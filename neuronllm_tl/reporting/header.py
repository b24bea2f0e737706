"""The report's header: what was run, on what, with which versions, read from the run's own records.

For a neuron set the source is its metadata (``NeuronSet.metadata``: model, task, method config,
library versions, model and task fingerprints, identification statistics); for a comparison, its
``config.json`` and the metadata of one of the neuron sets it stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuronllm_tl.comparison.store import NEURON_SETS_FILE
from neuronllm_tl.reporting.report_tables import fmt
from neuronllm_tl.reporting.run_files import RunFiles
from neuronllm_tl.tasks.registry import default_task_name


@dataclass(frozen=True)
class Item:
    label: str
    value: str
    title: str = ""
    """Shown on hover (a full fingerprint, say)."""
    code: bool = False


def _pairs(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()) if k not in skip and v is not None)


def _fingerprint(label: str, value: Any) -> Item | None:
    return Item(label, str(value)[:16] + "…", str(value), code=True) if value else None


def _task_text(task: Mapping[str, Any]) -> str:
    parts = [str(task.get("name", "?"))]
    if task.get("n_examples") is not None:
        parts.append(f"{task['n_examples']} examples")
    if task.get("answer_format"):
        parts.append(f"{task['answer_format']} format")
    if task.get("effective_permutations") is not None:
        parts.append(f"{task['effective_permutations']} question(s) per example")
    return ", ".join(parts)


def model_name(model: Any) -> str:
    """A model as the title names it: a local folder (a cached conversion) by its last part."""
    text = str(model if model is not None else "a model")
    return Path(text).name if text.startswith(("/", "~", ".")) else text


def _model_item(meta: Mapping[str, Any]) -> Item:
    model = meta.get("model", "?")
    return Item("model", f"{model_name(model)} ({meta.get('model_class', '?')})", str(model))


def neuron_items(meta: Mapping[str, Any], n_good: int, n_bad: int) -> list[Item | None]:
    config = meta.get("config") or {}
    ident = meta.get("identification") or {}
    return [
        _model_item(meta),
        Item("task (identification)", _task_text(meta.get("task") or {})),
        Item("method", f"{config.get('method', '?')}: {_pairs(config, skip=('method',))}", code=True),
        Item("neurons", f"{n_good} good, {n_bad} bad; hook {meta.get('hook', 'mlp.hook_post')}"),
        Item(
            "identification",
            f"accuracy {fmt(ident.get('accuracy'), '.3f')} on {ident.get('n_questions', '?')} questions",
        )
        if ident
        else None,
        Item("versions", _pairs(meta.get("versions") or {}), code=True),
        _fingerprint("model fingerprint", meta.get("model_fingerprint")),
        _fingerprint("task fingerprint", meta.get("task_fingerprint")),
    ]


def _report_items(report: Mapping[str, Any]) -> list[Item | None]:
    base = report.get("baseline") or {}
    run_time = report.get("run_time_s")
    return [
        Item(
            "task (steering)",
            f"{report.get('task', '?')}: {_examples(report)}, "
            f"{report.get('n_questions', '?')} questions; unsteered accuracy {fmt(base.get('accuracy'), '.3f')}, "
            f"p(correct) {fmt(base.get('p_correct'), '.3f')}",
        ),
        Item("run time", f"{float(run_time):.0f} s") if run_time is not None else None,
    ]


def _examples(report: Mapping[str, Any]) -> str:
    """What the evaluation recorded of its examples ("held-out" only where they were); a report of an earlier
    version did not record it."""
    described = (report.get("settings") or {}).get("examples")
    return str(described) if described else f"{report.get('n_examples', '?')} examples (held out: not recorded)"


def _stored_metadata(folder: Path) -> dict[str, Any]:
    """The metadata of the first neuron set a comparison stored (model, versions, fingerprint): from its
    compact records (``neuron_sets.jsonl``, the part of a folder that travels), else its set folders."""
    for text in _metadata_texts(folder):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value["metadata"] if isinstance(value.get("metadata"), dict) else value
    return {}


def _metadata_texts(folder: Path) -> Iterator[str]:
    """The first record's line, then each set folder's metadata, read only as far as they are needed."""
    records = folder / NEURON_SETS_FILE
    if records.is_file():
        with records.open() as f:
            yield f.readline()
    for path in sorted((folder / "neurons").glob("*/metadata.json")):
        try:
            yield path.read_text()
        except OSError:
            continue


def _seeds_item(cfg: Mapping[str, Any]) -> Item:
    """The split seeds (``seeds``; a config of an earlier version has one ``seed``)."""
    seeds = cfg.get("seeds")
    if seeds is None:
        seeds = [] if cfg.get("seed") is None else [cfg["seed"]]
    if not isinstance(seeds, list | tuple):
        seeds = [seeds]
    text = ", ".join(map(str, seeds)) or "?"
    if len(seeds) > 1:
        text += " (every cell once per seed; Δ: mean ± sd across seeds)"
    return Item("split seeds", text)


def _options(value: Any) -> str:
    return _pairs(value) if isinstance(value, Mapping) else str(value)


def _per_task(values: Any, show: Callable[[Any], str] = str) -> str:
    """``{task: value}`` as ``a.jsonl: value; b.jsonl: ...``, or "none"."""
    if not isinstance(values, Mapping) or not values:
        return "none"
    return "; ".join(f"{default_task_name(str(t))}: {show(v)}" for t, v in sorted(values.items()))


def _compared(cfg: dict[str, Any], files: RunFiles) -> list[str]:
    """The configured methods that have rows (one skipped by the run, e.g. LAPE with one task, is not listed)."""
    present = {row.get("variant") for row in files.results or []}
    return [v for v in cfg.get("variants") or [] if not files.results or v in present]


def _comparison_items(files: RunFiles) -> list[Item | None]:
    cfg = files.compare_config or {}
    meta = _stored_metadata(files.folder)
    settings = ("k", "n_identify", "n_eval", "controls", "ig_steps", "answer_format", "n_permutations")
    return [
        _model_item(meta) if meta else None,
        Item("tasks", ", ".join(default_task_name(t) for t in cfg.get("tasks") or [])) if cfg else None,
        Item("methods", ", ".join(_compared(cfg, files))) if cfg else None,
        Item("sweeps", ", ".join(cfg.get("sweeps") or cfg.get("ablations") or []) or "none") if cfg else None,
        Item("settings", _pairs({k: cfg.get(k) for k in settings}), code=True) if cfg else None,
        _seeds_item(cfg) if cfg else None,
        Item("not run (skipped)", _per_task(cfg.get("skip"), ", ".join)) if cfg and cfg.get("skip") else None,
        Item("shots", _per_task(cfg.get("shots"))) if cfg else None,
        Item("task options", _per_task(cfg.get("task_options"), _options), code=True) if cfg else None,
        Item("versions", _pairs(meta.get("versions") or {}), code=True) if meta else None,
        _fingerprint("model fingerprint", meta.get("model_fingerprint")),
    ]


def header_items(files: RunFiles) -> list[Item]:
    """The header's label/value pairs, in order, for whatever the run folder holds."""
    items: list[Item | None] = []
    if files.is_comparison:
        items += _comparison_items(files)
    elif files.neurons is not None:
        items += neuron_items(files.neurons.metadata, len(files.neurons.good), len(files.neurons.bad))
    if files.report is not None:
        items += _report_items(files.report)
    return [i for i in items if i is not None]


def title(files: RunFiles) -> str:
    """``NeuronLLM report: <task> on <model>`` (or the comparison's tasks)."""
    if files.is_comparison:
        tasks = ", ".join(default_task_name(t) for t in (files.compare_config or {}).get("tasks") or [])
        return f"Method comparison: {tasks}" if tasks else "Method comparison"
    if files.neurons is not None:
        meta = files.neurons.metadata
        return f"NeuronLLM report: {(meta.get('task') or {}).get('name', 'task')} on {model_name(meta.get('model'))}"
    if files.report is not None:
        return f"NeuronLLM report: {files.report.get('task', 'task')}"
    return f"NeuronLLM report: {files.folder.name}"


__all__ = ["Item", "header_items", "title"]
