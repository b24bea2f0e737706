"""Free-text (generation) examples: a prompt, its reference answers, optional distractor answers.

A generation task (``Task(answer_format="generate")``) asks each example as a prompt the model answers in
its own words. For attribution it is scored like a cloze question whose options are the first reference
followed by the distractors (the correct option is the reference), so every objective of
:mod:`neuronllm_tl.scoring.objectives` applies unchanged:

* ``sequence_logprob``: the reference's teacher-forced log-likelihood, summed over its tokens (needs no
  distractors);
* ``contrastive``: the option softmax over the sequence log-likelihoods of the reference and the distractors
  (given in the data, or the model's own wrong answers mined by
  :func:`neuronllm_tl.scoring.distractors.with_model_distractors`).

Evaluation generates the answer (:mod:`neuronllm_tl.evaluation.generation`) and compares it with every
reference after :func:`normalize_answer` (lower case, no punctuation, articles or extra spaces, as
SQuAD's exact match does).

Example:
    >>> ex = GenerationExample.make("What is the capital of France?", ["Paris"], distractors=["Lyon", "Nice"])
    >>> ex.options, ex.answer
    (('Paris', 'Lyon', 'Nice'), 0)
    >>> answer_matches("paris.", ex.references), answer_contains("It is Paris, of course", ex.references)
    (True, True)
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuronllm_tl.tasks.example import MCExample, as_example

DISTRACTOR_SOURCES: tuple[str, ...] = ("given", "none", "model")
"""Where an example's distractors come from: the data, nowhere, or the model's own wrong answers."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, without punctuation, the articles a/an/the, or repeated whitespace (SQuAD's normalisation)."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def answer_matches(generated: str, references: Sequence[str]) -> bool:
    """Exact match: the normalised answer equals some normalised reference."""
    answer = normalize_answer(generated)
    return any(answer == normalize_answer(r) for r in references)


def answer_contains(generated: str, references: Sequence[str]) -> bool:
    """The normalised answer contains some normalised reference as whole words."""
    answer = f" {normalize_answer(generated)} "
    return any(f" {normalize_answer(r)} " in answer for r in references if normalize_answer(r))


@dataclass(frozen=True)
class GenerationExample(MCExample):
    """A prompt (``question``) with reference answers; ``options`` are the first reference then the distractors.

    Build it with :meth:`make` or :meth:`from_dict`; ``answer`` is always 0 (the first reference).
    """

    references: tuple[str, ...] = ()
    distractor_source: str = "given"

    @classmethod
    def make(
        cls,
        prompt: str,
        references: Sequence[str],
        *,
        distractors: Sequence[str] = (),
        context: str | None = None,
        id: str | None = None,
        distractor_source: str | None = None,
    ) -> GenerationExample:
        refs = tuple(references)
        source = distractor_source or ("given" if distractors else "none")
        options = (refs[0], *distractors) if refs else tuple(distractors)
        return cls(prompt, options, 0, context, id, references=refs, distractor_source=source)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "references", tuple(self.references))
        _validate_generation(self)

    @property
    def distractors(self) -> tuple[str, ...]:
        return self.options[1:]

    def with_distractors(self, distractors: Sequence[str], *, source: str) -> GenerationExample:
        return GenerationExample.make(
            self.question,
            self.references,
            distractors=distractors,
            context=self.context,
            id=self.id,
            distractor_source=source,
        )

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> GenerationExample:
        prompt = row.get("prompt", row.get("question"))
        refs = row.get("references", row.get("reference"))
        if prompt is None or refs is None:
            raise ValueError(
                f"generation example {dict(row)!r} lacks {'prompt' if prompt is None else 'references'}: each "
                "needs 'prompt' (str) and 'references' (list of str, or 'reference': str); 'distractors' is optional."
            )
        return cls.make(
            prompt,
            [refs] if isinstance(refs, str) else list(refs),
            distractors=list(row.get("distractors") or ()),
            context=row.get("context"),
            id=None if row.get("id") is None else str(row["id"]),
            distractor_source=row.get("distractor_source"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.question, "references": list(self.references)}
        if self.distractors:
            out["distractors"] = list(self.distractors)
            out["distractor_source"] = self.distractor_source
        if self.context is not None:
            out["context"] = self.context
        if self.id is not None:
            out["id"] = self.id
        return out


def _validate_generation(ex: GenerationExample) -> None:
    where = f"example {ex.id!r}" if ex.id is not None else f"example with prompt {ex.question[:60]!r}"
    if not isinstance(ex.question, str) or not ex.question.strip():
        raise ValueError(f"{where}: 'prompt' must be a non-empty str.")
    if not ex.references or not all(isinstance(r, str) and normalize_answer(r) for r in ex.references):
        raise ValueError(f"{where}: needs at least one reference answer with letters or digits, got {ex.references!r}.")
    if ex.distractor_source not in DISTRACTOR_SOURCES:
        raise ValueError(
            f"{where}: distractor_source must be one of {DISTRACTOR_SOURCES}, got {ex.distractor_source!r}."
        )
    if ex.answer != 0 or not ex.options or ex.options[0] != ex.references[0]:
        raise ValueError(
            f"{where}: build it with GenerationExample.make (options = first reference, then distractors)."
        )
    if not all(isinstance(o, str) and o.strip() for o in ex.options) or len(set(ex.options)) != len(ex.options):
        raise ValueError(f"{where}: distractors must be distinct non-empty str, got {list(ex.distractors)!r}.")
    wrong = [d for d in ex.distractors if answer_matches(d, ex.references)]
    if wrong:
        raise ValueError(f"{where}: distractors {wrong} match a reference answer after normalisation; drop them.")


def check_generation_examples(
    name: str, is_generation: bool, examples: Sequence[MCExample], calibration: str, normalization: str
) -> None:
    """Refuse a task whose examples do not fit its answer format, or a generation task with another read-out."""
    free_text = [isinstance(e, GenerationExample) for e in examples]
    if is_generation and not all(free_text):
        raise ValueError(
            f"task {name!r}: answer_format='generate' needs generation examples (dicts with 'prompt' and "
            "'references', or GenerationExample); for multiple-choice examples use 'cloze' or 'letter'."
        )
    if not is_generation and any(free_text):
        raise ValueError(
            f"task {name!r}: its examples are free-text prompts with reference answers; pass answer_format='generate'."
        )
    if is_generation and (calibration != "none" or normalization != "sum"):
        raise ValueError(
            f"task {name!r}: a generation task scores a reference by its summed log-likelihood; drop "
            f"calibration={calibration!r} / cloze_normalization={normalization!r}."
        )


def distractor_sources(examples: Sequence[MCExample]) -> dict[str, int]:
    """How many examples take their distractors from each source (given / none / model)."""
    counts: dict[str, int] = {}
    for e in examples:
        source = getattr(e, "distractor_source", "given")
        counts[source] = counts.get(source, 0) + 1
    return dict(sorted(counts.items()))


def is_generation_row(row: Mapping[str, Any]) -> bool:
    """Whether a JSON row describes a generation example (it has ``references`` or ``reference``)."""
    return "references" in row or "reference" in row


def as_any_example(e: MCExample | Mapping[str, Any]) -> MCExample:
    """An example as is, or one from a dict: a :class:`GenerationExample` when it has references."""
    if isinstance(e, Mapping) and is_generation_row(e):
        return GenerationExample.from_dict(e)
    return as_example(e)


__all__ = [
    "DISTRACTOR_SOURCES",
    "GenerationExample",
    "answer_contains",
    "answer_matches",
    "as_any_example",
    "check_generation_examples",
    "distractor_sources",
    "is_generation_row",
    "normalize_answer",
]
