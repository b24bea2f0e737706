"""QA task transformation (QATT) and augmented question sets.

Any task becomes multiple-choice questions: a role/rule header, optional demonstrations, a stem
(with an optional context), lettered options, exactly one correct. :class:`Task` holds the
examples and the template; :meth:`Task.questions` expands each example into ``n_permutations``
questions whose options are permuted so that the correct option lands on a different position in
each (an *augmented question set*). Attribution scores are summed over an example's permutations,
so a model that always answers "A" cannot pass off luck as skill.

Example:
    >>> task = Task.from_examples(
    ...     [{"question": "2 + 2 =", "options": ["4", "5", "3"], "answer": 0}],
    ...     name="arith", answer_format="cloze")
    >>> sorted(q.correct for q in task.questions())  # the correct option visits every position
    [0, 1, 2]
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Literal, Mapping, Sequence

from neuronllm_tl.tasks.template import QATemplate

AnswerFormat = Literal["letter", "cloze"]
ANSWER_FORMATS: tuple[str, ...] = ("letter", "cloze")


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
    def from_dict(cls, row: Mapping[str, Any]) -> "MCExample":
        missing = [k for k in ("question", "options", "answer") if k not in row]
        if missing:
            raise ValueError(
                f"example {dict(row)!r} lacks {missing}: each example needs 'question' (str), "
                "'options' (list of str) and 'answer' (int index of the correct option)."
            )
        return cls(
            question=row["question"],
            options=tuple(row["options"]),
            answer=row["answer"],
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
        raise ValueError(
            f"{where}: 'answer' must be an int index in [0, {len(ex.options)}), got {ex.answer!r}."
        )


@dataclass(frozen=True)
class Question:
    """One rendered question of an augmented set.

    ``order[i]`` is the index (in the example's original options) of the option shown at position
    ``i``; ``correct`` is the position of the correct option after permutation.
    """

    example_index: int
    permutation_index: int
    prompt: str
    options: tuple[str, ...]
    order: tuple[int, ...]
    correct: int


def permutation_orders(
    n_options: int, correct: int, n_permutations: int, rng: random.Random
) -> list[tuple[int, ...]]:
    """Option orders that move the correct option to a different position in each permutation.

    With more permutations than options, positions repeat only after each was used once.
    """
    positions: list[int] = []
    while len(positions) < n_permutations:
        cycle = list(range(n_options))
        rng.shuffle(cycle)
        positions.extend(cycle)
    orders = []
    distractors = [i for i in range(n_options) if i != correct]
    for pos in positions[:n_permutations]:
        shuffled = distractors[:]
        rng.shuffle(shuffled)
        orders.append(tuple(shuffled[:pos] + [correct] + shuffled[pos:]))
    return orders


@dataclass(frozen=True)
class Task:
    """A task as multiple-choice questions: examples + template + answer format.

    Attributes:
        name: Identifier stored in the metadata of every neuron set made from this task.
        examples: The examples, each with its correct option.
        answer_format: ``"letter"`` (the paper's read-out: logits of the option letters at the answer
            position) or ``"cloze"`` (log-likelihood of each option's text as the continuation of the
            prompt, as lm-evaluation-harness scores multiple choice; works for small models).
        template: How a question is rendered (header, demonstrations, option lines).
        demonstrations: Solved examples shown before each question (k-shot); never scored.
        n_permutations: Questions per example, each with the options permuted (3 in the paper).
        seed: Seeds the permutations.
        prepend_bos: Prepend the tokenizer's BOS token; ``None`` follows ``model.cfg.default_prepend_bos``.
        cloze_normalization: ``"sum"`` (log-likelihood of the whole option) or ``"mean"`` (per token).
    """

    name: str
    examples: tuple[MCExample, ...]
    answer_format: AnswerFormat = "cloze"
    template: QATemplate = field(default_factory=QATemplate)
    demonstrations: tuple[MCExample, ...] = ()
    n_permutations: int = 3
    seed: int = 0
    prepend_bos: bool | None = None
    cloze_normalization: Literal["sum", "mean"] = "sum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "examples", tuple(self.examples))
        object.__setattr__(self, "demonstrations", tuple(self.demonstrations))
        if not self.examples:
            raise ValueError(
                f"task {self.name!r} has no examples: pass at least one example "
                "(dicts with 'question', 'options', 'answer', or MCExample)."
            )
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {self.answer_format!r}.")
        if self.cloze_normalization not in ("sum", "mean"):
            raise ValueError(f"cloze_normalization must be 'sum' or 'mean', got {self.cloze_normalization!r}.")
        if not isinstance(self.n_permutations, int) or self.n_permutations < 1:
            raise ValueError(f"n_permutations must be an int >= 1, got {self.n_permutations!r}.")
        max_options = max(len(e.options) for e in (*self.examples, *self.demonstrations))
        if max_options > len(self.template.letters):
            raise ValueError(
                f"an example has {max_options} options but the template has only "
                f"{len(self.template.letters)} letters; pass a QATemplate with more letters."
            )

    @classmethod
    def from_examples(
        cls,
        examples: Iterable[MCExample | Mapping[str, Any]],
        *,
        name: str,
        answer_format: AnswerFormat = "cloze",
        template: QATemplate | None = None,
        demonstrations: Iterable[MCExample | Mapping[str, Any]] = (),
        n_permutations: int = 3,
        seed: int = 0,
        prepend_bos: bool | None = None,
        cloze_normalization: Literal["sum", "mean"] = "sum",
    ) -> "Task":
        return cls(
            name=name,
            examples=tuple(_as_example(e) for e in examples),
            answer_format=answer_format,
            template=template or QATemplate(),
            demonstrations=tuple(_as_example(e) for e in demonstrations),
            n_permutations=n_permutations,
            seed=seed,
            prepend_bos=prepend_bos,
            cloze_normalization=cloze_normalization,
        )

    def __len__(self) -> int:
        return len(self.examples)

    def with_options(self, **changes: Any) -> "Task":
        """A copy with some fields changed (e.g. ``answer_format="letter"``)."""
        return replace(self, **changes)

    def subset(self, indices: Sequence[int], *, name: str | None = None) -> "Task":
        indices = list(indices)
        bad = [i for i in indices if not -len(self.examples) <= i < len(self.examples)]
        if bad:
            raise IndexError(f"task {self.name!r} has {len(self.examples)} examples; indices {bad[:5]} are out of range.")
        return replace(self, examples=tuple(self.examples[i] for i in indices), name=name or self.name)

    def split(self, fraction: float = 0.5, *, seed: int = 0) -> tuple["Task", "Task"]:
        """Seeded split into (identification, evaluation) tasks with no example in both."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
        if len(self.examples) < 2:
            raise ValueError(f"task {self.name!r} has {len(self.examples)} example(s); a split needs >= 2.")
        idx = list(range(len(self.examples)))
        random.Random(seed).shuffle(idx)
        cut = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        return (
            self.subset(sorted(idx[:cut]), name=f"{self.name}:identify"),
            self.subset(sorted(idx[cut:]), name=f"{self.name}:evaluate"),
        )

    @property
    def effective_permutations(self) -> int:
        """Permutations actually asked: 1 when the prompt does not list the options (they would be
        identical questions with identical scores), else ``n_permutations``."""
        return self.n_permutations if self.template.shows_options(self.answer_format) else 1

    def questions(self) -> list[Question]:
        """The augmented question set: ``effective_permutations`` questions per example, in example order."""
        out: list[Question] = []
        for e_idx, ex in enumerate(self.examples):
            rng = random.Random(f"{self.seed}:{e_idx}")
            for p_idx, order in enumerate(
                permutation_orders(len(ex.options), ex.answer, self.effective_permutations, rng)
            ):
                options = tuple(ex.options[i] for i in order)
                out.append(
                    Question(
                        example_index=e_idx,
                        permutation_index=p_idx,
                        prompt=self.template.render_prompt(
                            ex.question,
                            options,
                            ex.context,
                            demonstrations=self.demonstrations,
                            answer_format=self.answer_format,
                        ),
                        options=options,
                        order=order,
                        correct=order.index(ex.answer),
                    )
                )
        return out

    def describe(self) -> dict[str, Any]:
        """What identifies this task in saved metadata."""
        return {
            "name": self.name,
            "n_examples": len(self.examples),
            "answer_format": self.answer_format,
            "n_permutations": self.n_permutations,
            "effective_permutations": self.effective_permutations,
            "n_demonstrations": len(self.demonstrations),
            "seed": self.seed,
            "prepend_bos": self.prepend_bos,
            "cloze_normalization": self.cloze_normalization,
            "template": self.template.to_dict(),
        }


def _as_example(e: MCExample | Mapping[str, Any]) -> MCExample:
    if isinstance(e, MCExample):
        return e
    if isinstance(e, Mapping):
        return MCExample.from_dict(e)
    raise TypeError(f"expected an MCExample or a dict, got {type(e).__name__}: {e!r}")
