"""What a bug report needs: the installed versions, the device, and which fast paths run on a model.

``neuronllm-tl env`` prints it (as ``transformers env`` does); ``nl.environment(model)`` returns it. For a
model, every fast path is asked (:mod:`neuronllm_tl.models.fast_paths`): each check runs once per model
object, so a path is reported on and verified against the plain forward pass, or off with the reason
(its structure rules it out, or its check found a difference, which also warns).

Example:
    >>> from neuronllm_tl.testing import tiny_hf_llama
    >>> report = nl.environment(tiny_hf_llama(str(tmp_path / "llama")))    # a random Llama: every fast path applies
    >>> print(report.to_text())
    - Python: ...
    - torch threads: 1
    - model: ... (TransformerBridge)
      - shared_prompt: on, verified against the plain forward pass
      ...
      - layer_replay: on, verified against the plain forward pass
      ...
    >>> report.fast_paths["layer_replay"].on
    True
    >>> nl.environment(model).fast_paths["layer_replay"].on     # the native tiny bridge has no key/value cache
    False
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from neuronllm_tl.attribution.layer_replay import letter_unembedding_on, supports_layer_replay
from neuronllm_tl.attribution.replay import prefix_replay_on
from neuronllm_tl.models.fast_paths import FAST_PATHS, FastPathStatus, fast_path_status, installed_versions
from neuronllm_tl.models.validation import model_device
from neuronllm_tl.scoring.generation import cached_generation_on
from neuronllm_tl.scoring.shared_prompt import prompt_cache_on, shared_prompt_on

PACKAGES: tuple[str, ...] = ("torch", "transformers", "transformer_lens", "datasets", "neuronllm_tl")

_ASK: dict[str, Callable[[Any], bool]] = {
    "shared_prompt": shared_prompt_on,
    "prompt_cache": prompt_cache_on,
    "prefix_replay": prefix_replay_on,
    "layer_replay": supports_layer_replay,
    "letter_unembedding": letter_unembedding_on,
    "cached_generation": cached_generation_on,
}


@dataclass(frozen=True)
class Environment:
    """Versions, device and threads; with a model, its name and each fast path's status."""

    python: str
    versions: dict[str, str]
    device: str
    threads: int
    model: str | None = None
    fast_paths: dict[str, FastPathStatus] = field(default_factory=dict)

    def to_text(self) -> str:
        lines = [f"- Python: {self.python}"] + [f"- {name}: {v}" for name, v in self.versions.items()]
        lines += [f"- device: {self.device}", f"- torch threads: {self.threads}"]
        if self.model is not None:
            lines.append(f"- model: {self.model}")
            lines += [f"  - {name}: {status.describe()}" for name, status in self.fast_paths.items()]
        return "\n".join(lines)


def environment(model: Any = None) -> Environment:
    """The environment report; with ``model``, each fast path is checked on it (once per model object)."""
    device = str(model_device(model)) if model is not None else _default_device()
    statuses: dict[str, FastPathStatus] = {}
    if model is not None:
        for name in FAST_PATHS:
            _ASK[name](model)
            status = fast_path_status(model, name)
            statuses[name] = status or FastPathStatus(name, False, "not asked on this model", checked=False)
    return Environment(
        python=platform.python_version(),
        versions=installed_versions(PACKAGES),
        device=device,
        threads=torch.get_num_threads(),
        model=None if model is None else _model_name(model),
        fast_paths=statuses,
    )


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _model_name(model: Any) -> str:
    cfg = getattr(model, "cfg", None)
    name = getattr(cfg, "model_name", None) or type(model).__name__
    return f"{name} ({type(model).__name__})"


__all__ = ["Environment", "environment"]
