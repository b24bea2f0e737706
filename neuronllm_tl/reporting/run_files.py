"""What a run wrote to its folder, read back for the report; a missing or unreadable piece becomes a note.

A run folder is what ``neuronllm-tl demo``, ``identify`` or ``compare`` (or your own script) wrote:

* a neuron set (:meth:`NeuronSet.save`): the folder itself (``identify --out x.neurons``), ``neurons/``
  (``demo``), or the first ``*.neurons`` folder in it;
* ``report.json``: the steering evaluation (:meth:`EvaluationReport.to_dict`, with paired intervals);
* ``explanations.json``: :meth:`Explanations.to_dict` of ``nl.explain``; ``top_activating.json``:
  :meth:`TopActivations.to_dict` of ``nl.top_activating``;
* ``results.csv``, ``pairwise.csv`` (who beats whom) and ``config.json`` of ``compare``, with its plots
  ``delta_p.png`` and ``sweep_k.png``;
* ``layers.png``: the per-layer plot (drawn from the neuron set when the folder has none).

Nothing here needs a model: a report can be rendered anywhere the folder is copied to.
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuronllm_tl.evaluation.plots import plot_layer_counts
from neuronllm_tl.neurons.neuron_set import METADATA_FILE, TENSORS_FILE, NeuronSet

REPORT_JSON = "report.json"
EXPLANATIONS_JSON = "explanations.json"
TOP_ACTIVATING_JSON = "top_activating.json"
RESULTS_CSV = "results.csv"
PAIRWISE_CSV = "pairwise.csv"
COMPARE_CONFIG = "config.json"
PROGRESS_JSON = "progress.json"
LAYER_PLOT = "layers.png"
COMPARE_PLOTS = {
    "delta_p.png": "Δ p(correct) per task and method, one panel per mode (error bars: sd across split seeds, when "
    "there are several; black: random controls, mean ± sd)",
    "sweep_k.png": "Δ p(correct) against the number of steered neurons K",
}
EARLIER_PLOT_NAMES = {"sweep_k.png": "ablation_k.png"}
"""A plot's file name in folders written before it was renamed, read when the current name is absent."""


@dataclass
class RunFiles:
    """The pieces of one run folder; ``None`` where the folder lacks a piece (see ``notes``)."""

    folder: Path
    neurons: NeuronSet | None = None
    neurons_path: Path | None = None
    report: dict[str, Any] | None = None
    explanations: dict[str, Any] | None = None
    top_activating: dict[str, Any] | None = None
    results: list[dict[str, str]] | None = None
    pairs: list[dict[str, str]] | None = None
    """The lines of a comparison's ``pairwise.csv`` (None: the folder has none)."""
    compare_config: dict[str, Any] | None = None
    plots: dict[str, bytes] = field(default_factory=dict)
    """File name -> PNG bytes, in display order."""
    notes: dict[str, str] = field(default_factory=dict)
    """Section name -> why it is missing or incomplete (shown in the report)."""

    @property
    def is_comparison(self) -> bool:
        return self.results is not None


def _is_neuron_set(folder: Path) -> bool:
    return (folder / TENSORS_FILE).is_file() and (folder / METADATA_FILE).is_file()


def find_neuron_set(folder: Path) -> Path | None:
    """The run's neuron set: the folder itself, ``neurons/``, or the first ``*.neurons`` folder in it."""
    candidates = [folder, folder / "neurons", *sorted(folder.glob("*.neurons"))]
    return next((c for c in candidates if _is_neuron_set(c)), None)


def _read_json(files: RunFiles, name: str, section: str) -> dict[str, Any] | None:
    path = files.folder / name
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        files.notes[section] = f"{name} could not be read ({e}); this section is left out."
        return None
    if not isinstance(value, dict):
        files.notes[section] = f"{name} does not hold a JSON object; this section is left out."
        return None
    return value


def _read_neurons(files: RunFiles) -> None:
    path = find_neuron_set(files.folder)
    if path is None:
        return
    try:
        files.neurons, files.neurons_path = NeuronSet.load(path), path
    except (OSError, ValueError, KeyError) as e:
        files.notes["neurons"] = f"the neuron set in {path} could not be read ({e})."


def _read_results(files: RunFiles) -> None:
    path = files.folder / RESULTS_CSV
    if not path.is_file():
        return
    with open(path, newline="") as f:
        files.results = list(csv.DictReader(f))
    files.compare_config = _read_json(files, COMPARE_CONFIG, "compare")
    progress = _read_json(files, PROGRESS_JSON, "compare")
    if progress and int(progress.get("done", 0)) < int(progress.get("total", 0)):
        left = progress.get("left") or []
        files.notes["compare"] = (
            f"Partial results: {progress['done']} of {progress['total']} cells done; rerun the same command to "
            f"continue (cells left: {', '.join(map(str, left[:5]))}{', ...' if len(left) > 5 else ''})."
        )
    if (files.folder / PAIRWISE_CSV).is_file():
        with open(files.folder / PAIRWISE_CSV, newline="") as f:
            files.pairs = list(csv.DictReader(f))


def _layer_plot(files: RunFiles) -> bytes | None:
    """``layers.png`` of the folder (or of the neuron set's folder), else drawn from the neuron set."""
    for folder in (files.folder, files.neurons_path):
        if folder is not None and (folder / LAYER_PLOT).is_file():
            return (folder / LAYER_PLOT).read_bytes()
    if files.neurons is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return plot_layer_counts(files.neurons, Path(tmp) / LAYER_PLOT).read_bytes()


def read_run(run_dir: str | Path) -> RunFiles:
    """Read every piece of ``run_dir`` the report shows; missing pieces are noted, never raised."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder. Pass the output folder of a run (neuronllm-tl demo --out, "
            "identify --out, compare --out)."
        )
    files = RunFiles(folder=folder)
    _read_neurons(files)
    files.report = _read_json(files, REPORT_JSON, "steering")
    files.explanations = _read_json(files, EXPLANATIONS_JSON, "explanations")
    files.top_activating = _read_json(files, TOP_ACTIVATING_JSON, "top_activating")
    _read_results(files)
    layers = _layer_plot(files)
    if layers is not None:
        files.plots[LAYER_PLOT] = layers
    for name in COMPARE_PLOTS:
        for path in (folder / name, folder / EARLIER_PLOT_NAMES.get(name, name)):
            if path.is_file():
                files.plots[name] = path.read_bytes()
                break
    return files


__all__ = ["COMPARE_PLOTS", "LAYER_PLOT", "PAIRWISE_CSV", "RunFiles", "find_neuron_set", "read_run"]
