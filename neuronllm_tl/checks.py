"""Argument checks shared by every stage, with errors that name the argument and what it must be.

Stage 0: imports nothing of ours, so any stage may use it. A count (a batch size, a number of steps, k)
must be a true ``int`` of at least 1; ``True`` is an ``int`` to Python but not a count, so it is refused.

Example:
    >>> check_positive_int(8, "batch_size")
    >>> check_positive_int(0, "batch_size")
    Traceback (most recent call last):
    ValueError: batch_size must be an int >= 1, got 0.
"""

from __future__ import annotations

__all__ = ["check_positive_int", "is_positive_int"]


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an ``int`` >= 1 (a ``bool`` is not)."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def check_positive_int(value: object, what: str) -> None:
    """Refuse anything but an ``int`` >= 1, naming it ``what`` in the error."""
    if not is_positive_int(value):
        raise ValueError(f"{what} must be an int >= 1, got {value!r}.")
