"""``compare``'s flags read into a :class:`~neuronllm_tl.comparison.config.CompareConfig`: ``NAME=VALUE``
pairs (data files, shots) and ``TASK:OPTION=VALUE`` task options."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from neuronllm_tl.cli.loading import default_tasks
from neuronllm_tl.comparison.config import CompareConfig


def pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} takes NAME=VALUE pairs, got {item!r}.")
        name, value = item.split("=", 1)
        out[name] = value
    return out


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def task_option_pairs(items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """``--task-option TASK:KEY=VALUE`` (repeated) as ``{task: {key: value}}``; VALUE is JSON when it parses
    (``4``, ``true``, ``null``, ``["a", "b"]``), else text (``contextual``)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        head, sep, value = item.partition("=")
        task, colon, key = head.rpartition(":")
        if not (sep and colon and task and key):
            raise ValueError(f"--task-option takes TASK:KEY=VALUE, e.g. sst2:calibration=contextual; got {item!r}.")
        out.setdefault(task, {})[key] = _json_or_text(value)
    return out


def shot_pairs(items: Sequence[str] | None, tasks: Sequence[str]) -> dict[str, int]:
    """``--shots TASK=K ...`` as ``{task: k}``; a bare ``K`` gives every task of ``tasks`` k (a TASK=K wins)."""
    out: dict[str, int] = {}
    for item in sorted(items or [], key=lambda i: "=" in i):  # bare K first, so that TASK=K overrides it
        task, _, k = item.rpartition("=")
        try:
            shots = int(k)
        except ValueError:
            raise ValueError(f"--shots takes TASK=K (or K for every task), K a whole number; got {item!r}.") from None
        out.update({task: shots} if task else dict.fromkeys(tasks, shots))
    return out


def compare_config_from_args(args: argparse.Namespace) -> CompareConfig:
    """The comparison ``neuronllm-tl compare`` runs, from its flags."""
    tasks = tuple(args.tasks)
    if tasks == CompareConfig().tasks:  # the defaults: the tiny model's own under tiny-random
        tasks = default_tasks(args.model, tasks)
    return CompareConfig(
        tasks=tasks,
        variants=tuple(args.variants),
        sweeps=tuple(args.sweeps),
        sweep_tasks=tuple(args.sweep_tasks) if args.sweep_tasks else None,
        k=args.k,
        n_identify=args.n_identify,
        n_eval=args.n_eval,
        controls=args.controls,
        ig_steps=args.ig_steps,
        answer_format=args.format or "cloze",
        n_permutations=args.permutations,
        seeds=tuple(args.seeds),
        unrelated=pairs(args.unrelated, "--unrelated") or None,
        data_files=pairs(args.data_files, "--data-files") or None,
        task_options=task_option_pairs(args.task_option) or None,
        shots=shot_pairs(args.shots, list(tasks)) or None,
        skip={t: tuple(v.split(",")) for t, v in pairs(args.skip, "--skip").items()} or None,
    )


__all__ = ["compare_config_from_args", "pairs", "shot_pairs", "task_option_pairs"]
