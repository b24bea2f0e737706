"""Plots of a comparison (PNG, matplotlib Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuronllm_tl.steering.modes import MODES


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_delta_p(rows: Sequence[Any], path: str | Path) -> Path:
    """Δ p(correct) per task and method, one panel per mode (error bars: sd across split seeds, when there are
    several); black markers: random controls (mean ± sd). Each method keeps its colour in every panel, and
    every panel has its legend."""
    plt = _pyplot()
    main = [r for r in rows if r.group == "main"]
    modes = [m for m in MODES if any(r.mode == m for r in main)]
    tasks = list(dict.fromkeys(r.task for r in main))
    variants = list(dict.fromkeys(r.variant for r in main))
    fig, axes = plt.subplots(1, max(1, len(modes)), figsize=(4.2 * max(1, len(modes)), 3.8), squeeze=False)
    width = 0.8 / max(1, len(variants))
    colours = {v: f"C{j % 10}" for j, v in enumerate(variants)}
    for ax, mode in zip(axes[0], modes, strict=False):  # one empty panel when there is no mode
        for j, variant in enumerate(variants):
            xs, ys, es, rx, ry, re = [], [], [], [], [], []
            for i, task in enumerate(tasks):
                for r in main:
                    if (r.task, r.variant, r.mode) == (task, variant, mode):
                        x = i + (j - (len(variants) - 1) / 2) * width
                        xs.append(x)
                        ys.append(r.delta_p)
                        es.append(getattr(r, "delta_p_sd", None) or 0.0)
                        if r.random_n:
                            rx.append(x)
                            ry.append(r.random_delta_p_mean)
                            re.append(r.random_delta_p_sd)
            if xs:
                ax.bar(xs, ys, width, yerr=es if any(es) else None, capsize=2, label=variant, color=colours[variant])
            if rx:
                named = "random controls (mean ± sd)" not in ax.get_legend_handles_labels()[1]
                label = "random controls (mean ± sd)" if named else None
                ax.errorbar(rx, ry, yerr=re, fmt="_", color="black", linewidth=1, capsize=2, label=label)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(tasks)))
        ax.set_xticklabels(tasks, rotation=20, fontsize=8)
        ax.set_title(mode)
        ax.set_ylabel("Δ p(correct)")
        if ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=6)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep_k(rows: Sequence[Any], path: str | Path) -> Path:
    """Δ p(correct) against K for Enhance and Degrade (the k sweep)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for task in dict.fromkeys(r.task for r in rows if r.group == "k"):
        for mode, style in (("enhance", "-o"), ("degrade", "--s")):
            pts = sorted(
                (int(r.variant.split("=")[1]), r.delta_p)
                for r in rows
                if r.group == "k" and r.task == task and r.mode == mode
            )
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=f"{task} {mode}")
    ax.set_xscale("log")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("K (good and bad neurons each)")
    ax.set_ylabel("Δ p(correct)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
