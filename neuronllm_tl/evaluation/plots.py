"""Plots of neuron sets, saved as PNG (matplotlib, Agg backend: no display needed).

Two views: where a set's good and bad neurons sit (count per layer), and how much the sets of several
tasks share (the Jaccard index |A ∩ B| / |A ∪ B| of every pair of good, or bad, sets).

Example:
    >>> from neuronllm_tl.evaluation.plots import plot_layer_counts, plot_overlap_heatmap
    >>> plot_layer_counts(neurons, tmp_path / "layers.png")
    PosixPath('.../layers.png')
    >>> from neuronllm_tl.testing import tiny_task
    >>> letter = nl.identify(model, tiny_task("letter"), k=3)        # the same questions, answered by letter
    >>> plot_overlap_heatmap({"cloze": neurons, "letter": letter}, tmp_path / "overlap.png", which="good")
    PosixPath('.../overlap.png')
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuronllm_tl.neurons.neuron_set import NeuronSet


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (imported lazily: plotting is optional)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    """Lay out, write ``fig`` to ``path`` as a 120 dpi PNG, and free it."""
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    _pyplot().close(fig)
    return out


def plot_layer_counts(neurons: NeuronSet, path: str | Path, *, title: str | None = None) -> Path:
    """Bar chart of good (up) and bad (down) neurons per layer."""
    plt = _pyplot()
    counts = neurons.per_layer_counts()
    layers = range(neurons.n_layers)
    fig, ax = plt.subplots(figsize=(max(6, neurons.n_layers * 0.3), 3.5))
    ax.bar(layers, counts["good"], color="tab:green", label=f"good ({len(neurons.good)})")
    ax.bar(layers, [-c for c in counts["bad"]], color="tab:red", label=f"bad ({len(neurons.bad)})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("layer")
    ax.set_xticks(list(layers)[:: max(1, neurons.n_layers // 16)])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("neurons (bad shown below 0)")
    ax.set_title(title or f"{neurons.metadata.get('task', {}).get('name', 'task')}: good and bad neurons per layer")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_overlap_heatmap(sets: Mapping[str, NeuronSet], path: str | Path, *, which: str = "good") -> Path:
    """Task x task Jaccard index of the good (or bad) sets."""
    plt = _pyplot()
    names = list(sets)
    grid = [[sets[a].overlap(sets[b])[f"{which}_jaccard"] for b in names] for a in names]
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 1.0 * len(names) + 1.5))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{grid[i][j]:.2f}",
                ha="center",
                va="center",
                color="white" if grid[i][j] < 0.6 else "black",
                fontsize=8,
            )
    fig.colorbar(im, ax=ax, label=f"Jaccard index of {which} sets")
    ax.set_title(f"Overlap of {which} neurons between tasks")
    return _save(fig, path)
