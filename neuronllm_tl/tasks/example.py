"""One multiple-choice example: a stem, its options, the index of the correct option.

Every task source (the shipped tasks, a ``.jsonl`` of questions, a dataset row) ends as
:class:`MCExample` values, and every check of an example lives here, so an invalid row gets the same
message whatever its source.

Example:
    >>> ex = MCExample.from_dict({"question": "2 + 2 =", "options": ["4", "5"], "answer": 0})
    >>> ex.options[ex.answer]
    '4'
    >>> MCExample.from_dict({"question": "2 + 2 =", "options": ["4", "5"], "answer": "4"}).answer  # or its text
    0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MCExample:
    """One multiple-choice example: a stem, its options, the index of the correct option."""

    question: str
    options: tuple[str, ...]
    answer: int
    context: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        _validate_example(self)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> MCExample:
        missing = [k for k in ("question", "options", "answer") if k not in row]
        if missing:
            raise ValueError(
                f"example {dict(row)!r} lacks {missing}: each example needs 'question' (str), "
                "'options' (list of str) and 'answer' (the correct option: its int index, or its text)."
            )
        options = tuple(row["options"])
        return cls(
            question=row["question"],
            options=options,
            answer=_answer_index(row["answer"], options),
            context=row.get("context"),
            id=None if row.get("id") is None else str(row["id"]),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"question": self.question, "options": list(self.options), "answer": self.answer}
        if self.context is not None:
            out["context"] = self.context
        if self.id is not None:
            out["id"] = self.id
        return out


def _answer_index(answer: Any, options: tuple[Any, ...]) -> Any:
    """``answer`` as an index: an option's text (exactly) is read as that option; anything else is left for
    the validator to judge."""
    if not isinstance(answer, str):
        return answer
    if answer in options:
        return options.index(answer)
    raise ValueError(
        f"'answer' {answer!r} is not one of the options {list(options)!r}: give the correct option's text exactly, "
        "or its int index."
    )


def _validate_example(ex: MCExample) -> None:
    where = f"example {ex.id!r}" if ex.id is not None else f"example with question {ex.question[:60]!r}"
    if not isinstance(ex.question, str):
        raise TypeError(f"{where}: 'question' must be a str, got {type(ex.question).__name__}.")
    if len(ex.options) < 2:
        raise ValueError(f"{where}: needs at least 2 options, got {len(ex.options)}.")
    if not all(isinstance(o, str) and o.strip() for o in ex.options):
        raise ValueError(f"{where}: every option must be a non-empty str, got {list(ex.options)!r}.")
    if len(set(ex.options)) != len(ex.options):
        raise ValueError(f"{where}: options repeat ({list(ex.options)!r}); make each option distinct.")
    if isinstance(ex.answer, bool) or not isinstance(ex.answer, int) or not 0 <= ex.answer < len(ex.options):
        raise ValueError(f"{where}: 'answer' must be an int index in [0, {len(ex.options)}), got {ex.answer!r}.")


def as_example(e: MCExample | Mapping[str, Any]) -> MCExample:
    if isinstance(e, MCExample):
        return e
    if isinstance(e, Mapping):
        return MCExample.from_dict(e)
    raise TypeError(f"expected an MCExample or a dict, got {type(e).__name__}: {e!r}")
