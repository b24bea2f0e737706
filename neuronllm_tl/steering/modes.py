"""The steering modes: one table of factors per neuron group and the direction each mode should push.

A steering *mode* gives a multiplicative factor for each group of a :class:`NeuronSet` (``"good"``,
``"bad"``); the activation of every neuron of a group is multiplied by its factor, and a group the mode
does not name is left unchanged. x2 excites, x0 silences (the paper's values). ``expected_sign`` is the
direction p(correct) should move if the neurons are what their method claims: +1 up, -1 down.

================ ============ ============ ==============
mode             good         bad          expected sign
================ ============ ============ ==============
``enhance``      x2           x0           +1
``degrade``      x0           x2           -1
``excite_good``  x2           (unchanged)  +1
``silence_good`` x0           (unchanged)  -1
``excite_bad``   (unchanged)  x2           -1
``silence_bad``  (unchanged)  x0           +1
================ ============ ============ ==============

Example:
    >>> from neuronllm_tl.steering import MODES, register_mode
    >>> MODES["enhance"].factors
    {'good': 2.0, 'bad': 0.0}
    >>> register_mode("damp_good", {"good": 0.5}, expected_sign=-1)
    Mode(factors={'good': 0.5}, expected_sign=-1)
    >>> # now a mode name like the others: nl.steer(model, neurons, mode="damp_good"), nl.evaluate(..., modes=[...])
    >>> unregister_mode("damp_good")
    Mode(factors={'good': 0.5}, expected_sign=-1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from neuronllm_tl.registry import Registry

GROUPS = ("good", "bad")
"""The neuron groups of a NeuronSet that a steering can scale."""


def check_factors(factors: Mapping[str, float]) -> dict[str, float]:
    """``factors`` as a plain ``{group: float}`` dict; refuses unknown groups and non-finite factors."""
    if not isinstance(factors, Mapping):
        raise TypeError(f"factors must be a mapping such as {{'good': 2.0, 'bad': 0.0}}, got {type(factors).__name__}.")
    unknown = set(factors) - set(GROUPS)
    if unknown:
        raise ValueError(f"factors take the keys 'good' and 'bad', got {sorted(map(str, unknown))}.")
    out = {group: float(factors[group]) for group in GROUPS if group in factors}
    bad = {g: f for g, f in out.items() if not math.isfinite(f)}
    if bad:
        raise ValueError(f"steering factors must be finite numbers, got {bad}.")
    return out


@dataclass(frozen=True)
class Mode:
    """A named steering recipe: the factor of each group it scales, and the expected sign of its effect."""

    factors: dict[str, float] = field(hash=False)
    expected_sign: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", check_factors(self.factors))
        if not self.factors:
            raise ValueError("a steering mode must scale at least one group: pass factors such as {'good': 2.0}.")
        if self.expected_sign not in (1, -1):
            raise ValueError(
                f"expected_sign must be +1 (p(correct) should rise) or -1 (fall), got {self.expected_sign!r}."
            )

    @property
    def groups(self) -> frozenset[str]:
        """The groups this mode touches (the others stay unchanged)."""
        return frozenset(self.factors)


_MODES: Registry[Mode] = Registry(
    "steering mode",
    hint="Pass factors=, or add it with neuronllm_tl.steering.register_mode(name, factors, expected_sign=...).",
)
for _name, _mode in (
    ("enhance", Mode({"good": 2.0, "bad": 0.0}, +1)),
    ("degrade", Mode({"good": 0.0, "bad": 2.0}, -1)),
    ("excite_good", Mode({"good": 2.0}, +1)),
    ("silence_good", Mode({"good": 0.0}, -1)),
    ("excite_bad", Mode({"bad": 2.0}, -1)),
    ("silence_bad", Mode({"bad": 0.0}, +1)),
):
    _MODES.register(_name, _mode)
MODES: Mapping[str, Mode] = _MODES.view
"""Every registered mode by name (read-only; add one with :func:`register_mode`)."""


def register_mode(name: str, factors: Mapping[str, float], *, expected_sign: int, overwrite: bool = False) -> Mode:
    """Add a steering mode; it is then accepted wherever a mode name is (``steer``, ``evaluate``, ``compare``)."""
    return _MODES.register(name, Mode(dict(factors), expected_sign), overwrite=overwrite)


def unregister_mode(name: str) -> Mode:
    """Remove a steering mode (a built-in one too; reimport the package to get it back)."""
    return _MODES.unregister(name)


def get_mode(name: str) -> Mode:
    """The registered mode ``name``; an unknown name is refused with the list of known ones."""
    return _MODES.get(name)


def mode_groups(name: str) -> frozenset[str]:
    """The groups (``"good"``, ``"bad"``) that mode ``name`` touches."""
    return get_mode(name).groups


def mode_of(factors: Mapping[str, float]) -> str | None:
    """The first registered mode whose factors are exactly ``factors``, or None."""
    wanted = check_factors(factors)
    return next((name for name, mode in MODES.items() if mode.factors == wanted), None)


__all__ = ["GROUPS", "MODES", "Mode", "check_factors", "get_mode", "mode_groups", "mode_of", "register_mode"]
