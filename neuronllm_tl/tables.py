"""One table model for every view: a :class:`Table` of typed :class:`Cell` rows, written as markdown here and
laid out as HTML by the report's template (:mod:`neuronllm_tl.reporting`), so the two cannot drift.

Stage 0: imports nothing of ours. A cell holds the text both views show, the value the HTML view sorts by
(numbers sort as numbers, "–" last) and CSS classes for signs and intervals that exclude 0 (the markdown view
shows the text alone).

Example:
    >>> t = Table("demo", ("method", "Δ p"), [[Cell("tn"), number_cell(-0.0123, "+.4f")]])
    >>> print(t.to_markdown())
    | method | Δ p |
    |---|---|
    | tn | -0.0123 |
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str | float | None = None
    """The value sorted by (None: the text); numbers sort numerically."""
    css: str = ""
    """Extra CSS classes: ``pos``/``neg`` (sign), ``sig`` (an interval that excludes 0)."""
    href: str = ""
    """A link inside the page (``#card-...``), or empty."""


@dataclass(frozen=True)
class Table:
    title: str
    header: Sequence[str]
    rows: list[list[Cell]]
    caption: str = ""

    def select(self, *columns: str) -> Table:
        """The same table with only ``columns`` (header names), in that order."""
        missing = [c for c in columns if c not in self.header]
        if missing:
            raise ValueError(f"table {self.title!r} has no column {missing}; its columns: {list(self.header)}")
        index = [list(self.header).index(c) for c in columns]
        return replace(self, header=tuple(columns), rows=[[row[i] for i in index] for row in self.rows])

    def to_markdown(self) -> str:
        """The header, its rule, then one line per row (cell texts, ``|`` escaped)."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(c.text.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


def fmt(x: Any, spec: str = "+.3f") -> str:
    """A number as text: ``–`` for missing, ``∞`` for infinite, ``nan`` kept visible."""
    if x is None or x == "":
        return "–"
    try:
        value = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if math.isnan(value):
        return "nan"
    return format(value, spec)


def num(x: Any) -> float | None:
    """A float, or None for a missing or unreadable value (CSV cells are strings, empty when missing)."""
    if x is None or x == "":
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def number_cell(x: Any, spec: str = "+.3f", *, signed: bool = True) -> Cell:
    """A number, coloured by its sign when ``signed``."""
    value = num(x)
    css = "" if value is None or not signed or value == 0 else ("pos" if value > 0 else "neg")
    return Cell(fmt(value, spec), value, css)


def section_markers(section: str) -> tuple[str, str]:
    """The comments around a generated part of a markdown page: ``<!-- section:begin -->`` ... ``:end -->``."""
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


def write_section(doc: Path, section: str, text: str) -> None:
    """Replace what lies between ``doc``'s markers of ``section`` with ``text`` (the scripts that write the docs'
    measured tables: a page keeps its prose, and a rerun replaces its numbers)."""
    begin, end = section_markers(section)
    page = doc.read_text()
    if begin not in page or end not in page:
        raise ValueError(f"{doc} has no {begin} ... {end} markers to put the tables between; add them where they go.")
    head, rest = page.split(begin, 1)
    doc.write_text(f"{head}{begin}\n{text.rstrip()}\n{end}{rest.split(end, 1)[1]}")


__all__ = ["Cell", "Table", "fmt", "num", "number_cell", "section_markers", "write_section"]
