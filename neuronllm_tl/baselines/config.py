"""The configuration every baseline shares: a frozen dataclass with ``to_dict``/``from_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Mapping

from neuronllm_tl.models.validation import DEFAULT_HOOK


@dataclass(frozen=True)
class BaselineConfig:
    """Options of one baseline. ``method`` (the registry name) is a class attribute, written by ``to_dict``."""

    method: ClassVar[str] = ""
    hook: str = DEFAULT_HOOK

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BaselineConfig":
        d = dict(d)
        method = d.pop("method", cls.method)
        if method != cls.method:
            raise ValueError(f"this is a {method!r} configuration, not a {cls.method!r} one.")
        return cls(**d)

    def _check_fraction(self, name: str, low_open: bool = True) -> None:
        value = getattr(self, name)
        if not (0.0 < value < 1.0 if low_open else 0.0 <= value < 1.0):
            raise ValueError(f"{type(self).__name__}.{name} must be a fraction in (0, 1), got {value!r}.")

    def _check_positive_int(self, name: str) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(self).__name__}.{name} must be an int >= 1, got {value!r}.")
