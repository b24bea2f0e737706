"""Markdown tables for the terminal and the same tables as escaped HTML for Jupyter (``_repr_html_``).

Stage 0: imports nothing of ours, so every stage's result value (``NeuronSet``, ``EvaluationReport``,
``Explanations``, ``TopActivations``) renders its ``to_markdown()`` text in a notebook through
:func:`markdown_to_html`, one conversion for all of them. Only the subset of markdown those values write
is understood: ``|``-tables (the second line is the separator), ``#`` headings, ``**bold**`` and plain
lines. Every piece of text is passed through :func:`html.escape` before any tag is added, so a task's
text (``<b>``, ``&``) shows as written and never becomes markup.

Example:
    >>> md = "| a | b |\\n|---|---|\\n| 1 | <x> |"
    >>> markdown_to_html(md)
    '<div><table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>&lt;x&gt;</td></tr></tbody></table></div>'
"""

from __future__ import annotations

import html
import re

__all__ = ["markdown_cell", "markdown_to_html"]

_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown_cell(text: object, *, max_chars: int | None = None) -> str:
    """``text`` as one markdown table cell: on one line, ``|`` escaped, cut to ``max_chars`` with an ellipsis."""
    out = " ".join(str(text).split())
    if max_chars is not None and len(out) > max_chars:
        out = out[: max_chars - 1] + "…"
    return out.replace("|", "\\|")


def _inline(text: str) -> str:
    """Escaped text with ``**bold**`` as ``<b>`` (escaping first, so no text becomes a tag)."""
    return _BOLD.sub(r"<b>\1</b>", html.escape(text.replace("\\|", "|")))


def _cells(line: str) -> list[str]:
    parts = _CELL_SPLIT.split(line.strip())
    return [p.strip() for p in parts[1:-1]] if len(parts) > 2 else [line.strip()]


def _table(lines: list[str]) -> str:
    head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(line)) + "</tr>" for line in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_to_html(markdown: str) -> str:
    """The tables, headings and lines of ``markdown`` as one escaped HTML fragment."""
    parts: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            parts.append(_table(lines[i:j]))
            i = j
            continue
        if line.startswith("#"):
            parts.append(f"<h4>{_inline(line.lstrip('#').strip())}</h4>")
        elif line:
            parts.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "<div>" + "".join(parts) + "</div>"
