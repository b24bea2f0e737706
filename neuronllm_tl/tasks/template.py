"""How a multiple-choice question is written out as a prompt.

A question renders as::

    {header}

    {demonstration 1}            (each: the same layout, followed by its answer)

    {context_prefix} {context}   (only when the example has a context)
    {question_prefix} {stem}
    A. {option 0}
    B. {option 1}
    {answer_prefix}

The prompt always ends with ``answer_prefix``. The model's answer is read right after it: the
logit of the option letter (``letter`` format) or the log-likelihood of ``" " + option text``
(``cloze`` format). The *answer position* is the last token of the prompt: the activations there
are the ones attributed and steered.

Example:
    >>> print(QATemplate(header="").render_prompt("2 + 2 =", ["4", "5"], answer_format="letter"))
    Question: 2 + 2 =
    A. 4
    B. 5
    Answer:
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neuronllm_tl.tasks.example import MCExample

DEFAULT_HEADER = (
    "You are an expert at answering multiple-choice questions. "
    "Read the question and the options, then give the correct answer."
)


@dataclass(frozen=True)
class QATemplate:
    """Text layout of a QATT question. Every field is plain text; ``letters`` label the options."""

    header: str = DEFAULT_HEADER
    context_prefix: str = "Context:"
    question_prefix: str = "Question:"
    option_format: str = "{letter}. {option}"
    answer_prefix: str = "Answer:"
    letters: str = "ABCDEFGHIJ"
    show_options: bool | None = None
    """List the lettered options in the prompt. ``None``: yes for ``letter``, no for ``cloze`` (measured
    on SmolLM2-135M: listing them in a cloze prompt cut capitals-mini accuracy from 0.96 to 0.33)."""
    continuation_prefix: str = " "

    def __post_init__(self) -> None:
        if len(set(self.letters)) != len(self.letters):
            raise ValueError(f"template letters must be distinct, got {self.letters!r}.")
        if "{option}" not in self.option_format:
            raise ValueError(f"option_format must contain '{{option}}', got {self.option_format!r}.")
        if not self.answer_prefix.strip():
            raise ValueError("answer_prefix must be non-empty: the answer is read right after it.")

    def render_prompt(
        self,
        question: str,
        options: Sequence[str],
        context: str | None = None,
        *,
        demonstrations: Sequence[MCExample] = (),
        answer_format: str = "cloze",
    ) -> str:
        """Header, solved demonstrations, then the question, ending with ``answer_prefix``."""
        blocks = [self.header] if self.header else []
        blocks += [
            self._render_body(d.question, d.options, d.context, answer_format)
            + self.answer_text(d.options, d.answer, answer_format)
            for d in demonstrations
        ]
        blocks.append(self._render_body(question, options, context, answer_format))
        return "\n\n".join(blocks)

    def shows_options(self, answer_format: str) -> bool:
        return self.show_options if self.show_options is not None else answer_format == "letter"

    def _render_body(self, question: str, options: Sequence[str], context: str | None, answer_format: str) -> str:
        lines = []
        if context:
            lines.append(f"{self.context_prefix} {context}".strip())
        lines.append(f"{self.question_prefix} {question}".strip())
        if self.shows_options(answer_format):
            lines += [self.option_format.format(letter=self.letters[i], option=o) for i, o in enumerate(options)]
        lines.append(self.answer_prefix)
        return "\n".join(lines)

    def answer_text(self, options: Sequence[str], correct: int, answer_format: str) -> str:
        """What follows ``answer_prefix`` when a question is answered (used for demonstrations)."""
        if answer_format == "letter":
            return f" {self.letters[correct]}"
        return f"{self.continuation_prefix}{options[correct]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QATemplate:
        return cls(**dict(d))
