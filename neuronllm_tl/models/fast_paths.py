"""Fast paths that re-implement part of a forward pass, each verified once per model object.

Theory: shared-prompt scoring, the prompt cache, prefix replay, layer replay, letter-only unembedding and
cached generation compute what the model's plain forward pass computes, faster, by reading Hugging Face
key/value caches or by running blocks themselves. A dependency can change under them (transformers 5.25
stopped filling the bridge's cache: every cached prompt was attended to as if it were empty), so each path
is compared with the plain forward pass on a small probe the first time it is asked for on a model, and
the answer is remembered beside the model (a weak-keyed table: nothing is stored on the model).

A path whose check finds a difference beyond its tolerance, **or whose check raises anything**, is turned
off for that model: the call goes on by the plain path and one :class:`FastPathWarning` names the path, the
size of the difference and the installed torch, transformers and transformer_lens. A self-check never
crashes a call. A path the model's structure cannot run (a ``HookedTransformer`` has no Hugging Face cache)
is simply off, without a warning: that is not a fault. :func:`fast_path_statuses` says which paths are on,
verified, or off and why (``neuronllm-tl env``).

Example:
    >>> from neuronllm_tl.testing import tiny_model
    >>> model, probe = tiny_model(), torch.tensor([[2, 15, 21, 18, 27]])
    >>> def check(model):                    # None: agrees with the plain pass; else what differs
    ...     with torch.no_grad():            # here the "fast path" is the probe in a batch of three
    ...         return logit_difference(model(probe.repeat(3, 1))[:1], model(probe))
    >>> fast_path_on(model, "batched", check)            # checked on the first call, then remembered
    True
    >>> fast_path_status(model, "batched")
    FastPathStatus(name='batched', on=True, reason=None, checked=True)
    >>> logit_difference(torch.zeros(2, 3), torch.ones(2, 3))
    'its logits differ from the plain forward pass by up to 1 (tolerance 0.002)'
"""

from __future__ import annotations

import importlib.metadata
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

FAST_PATHS: tuple[str, ...] = (
    "shared_prompt",
    "prompt_cache",
    "prefix_replay",
    "layer_replay",
    "letter_unembedding",
    "cached_generation",
)
"""The fast paths, in the order ``neuronllm-tl env`` lists them."""

VERSIONED_PACKAGES: tuple[str, ...] = ("torch", "transformers", "transformer_lens")


class FastPathWarning(UserWarning):
    """A fast path disagreed with the plain forward pass (or its check failed) and is off for a model."""


@dataclass(frozen=True)
class FastPathStatus:
    """Whether a fast path runs on a model: ``on`` only when its check passed; ``reason`` says why not."""

    name: str
    on: bool
    reason: str | None = None
    checked: bool = False
    """True when the comparison with the plain pass ran (False: the model's structure ruled the path out)."""

    def describe(self) -> str:
        if self.on:
            return "on, verified against the plain forward pass"
        return f"off: {self.reason}"


_STATUSES: weakref.WeakKeyDictionary[Any, dict[str, FastPathStatus]] = weakref.WeakKeyDictionary()


def installed_versions(packages: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str]:
    """``{distribution: version}`` of what is installed ("not installed" where absent)."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fast_path_on(model: Any, name: str, check: Callable[[Any], str | None]) -> bool:
    """Whether fast path ``name`` may run on ``model``: ``check(model)`` (None when the path agrees with the
    plain forward pass, else what differs) asked once per model object. A problem or any exception turns
    the path off for the model with one :class:`FastPathWarning`."""
    table = _table(model)
    if table is not None and name in table:
        return table[name].on
    try:
        problem = check(model)
    except Exception as error:  # noqa: BLE001 - a self-check must never crash the call it guards
        problem = f"its self-check raised {type(error).__name__}: {error}"
    status = FastPathStatus(name, problem is None, problem, checked=True)
    _remember(model, status, table)
    if problem is not None:
        _warn(status)
    return status.on


def rule_out(model: Any, name: str, reason: str) -> bool:
    """Record that ``model``'s structure cannot run fast path ``name`` (no warning); returns False."""
    table = _table(model)
    if table is None or name not in table:
        _remember(model, FastPathStatus(name, False, reason), table)
    return False


def fast_path_status(model: Any, name: str) -> FastPathStatus | None:
    """What was decided for fast path ``name`` on ``model`` (None: not asked yet)."""
    table = _table(model)
    return None if table is None else table.get(name)


def forget_fast_paths(model: Any) -> None:
    """Drop what was decided for ``model`` (the next call checks every path again)."""
    _STATUSES.pop(model, None)


def logit_difference(got: Tensor, want: Tensor, *, what: str = "logits") -> str | None:
    """None when ``got`` equals ``want`` within the float tolerance (1e-3 of the logits' scale in float32,
    3e-2 in half precision), else a sentence with the largest difference."""
    if got.shape != want.shape:
        return f"its {what} have shape {tuple(got.shape)} where the plain pass gives {tuple(want.shape)}"
    tol = (1e-3 if want.dtype == torch.float32 else 3e-2) * (float(want.abs().max()) + 1.0)
    worst = float((got.float() - want.float()).abs().max())
    if not worst <= tol:  # NaN fails too
        return f"its {what} differ from the plain forward pass by up to {worst:.3g} (tolerance {tol:.3g})"
    return None


def _table(model: Any) -> dict[str, FastPathStatus] | None:
    try:
        return _STATUSES.setdefault(model, {})
    except TypeError:  # not weak-referenceable: nothing remembered, every call checks
        return None


def _remember(model: Any, status: FastPathStatus, table: dict[str, FastPathStatus] | None) -> None:
    if table is not None:
        table[status.name] = status


def _warn(status: FastPathStatus) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in installed_versions().items())
    warnings.warn(
        f"neuronllm_tl: the fast path '{status.name}' is off for this model: {status.reason}. Calls go on by "
        f"the plain forward pass (same results, slower). Installed: {versions}. Please report it with the "
        f"output of `neuronllm-tl env`.",
        FastPathWarning,
        stacklevel=3,
    )


__all__ = [
    "FAST_PATHS",
    "FastPathStatus",
    "FastPathWarning",
    "fast_path_on",
    "fast_path_status",
    "forget_fast_paths",
    "installed_versions",
    "logit_difference",
    "rule_out",
]
