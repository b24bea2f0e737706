"""QA task transformation (QATT) and augmented question sets.

Any task becomes multiple-choice questions: a role/rule header, optional demonstrations, a stem
(with an optional context), lettered options, exactly one correct. :class:`Task` holds the
examples and the template; :meth:`Task.questions` expands each example into ``n_permutations``
questions whose options are permuted so that the correct option lands on a different position in
each (an *augmented question set*). Attribution scores are summed over an example's permutations,
so a model that always answers "A" cannot pass off luck as skill.

:meth:`Task.fingerprint` hashes what a model is asked (every rendered prompt, its options and the
correct one, and the settings of :meth:`Task.describe` but the name), so a cache keyed by it is
invalidated when an answer or a prompt changes, and is shared by two names for the same questions.

Example:
    >>> task = Task.from_examples(
    ...     [{"question": "2 + 2 =", "options": ["4", "5", "3"], "answer": 0}],
    ...     name="arith", answer_format="letter")
    >>> sorted(q.correct for q in task.questions())  # the correct option visits every position
    [0, 1, 2]
    >>> task.fingerprint() == task.with_options(name="sums").fingerprint()
    True
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.generation import as_any_example, check_generation_examples, distractor_sources
from neuronllm_tl.tasks.question import Question, permutation_orders
from neuronllm_tl.tasks.shots import pick_demonstrations
from neuronllm_tl.tasks.template import QATemplate

__all__ = [
    "ANSWER_FORMATS",
    "CALIBRATIONS",
    "CLOZE_NORMALIZATIONS",
    "AnswerFormat",
    "MCExample",
    "Question",
    "Task",
    "permutation_orders",
]

AnswerFormat = Literal["letter", "cloze", "generate"]
ANSWER_FORMATS: tuple[str, ...] = ("letter", "cloze", "generate")
ClozeNormalization = Literal["sum", "mean", "char"]
CLOZE_NORMALIZATIONS: tuple[str, ...] = ("sum", "mean", "char")
Calibration = Literal["none", "pmi", "contextual"]
CALIBRATIONS: tuple[str, ...] = ("none", "pmi", "contextual")


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
        cloze_normalization: ``"sum"`` (log-likelihood of the whole option), ``"mean"`` (per token) or
            ``"char"`` (per character, lm-evaluation-harness's ``acc_norm``). Cloze format only.
        calibration: ``"none"``, ``"pmi"`` (minus the option's log-likelihood after the answer prefix
            alone; cloze only) or ``"contextual"`` (Zhao et al. 2021). See :mod:`neuronllm_tl.scoring.calibration`.
        skipped_rows: Row numbers of the source (1-based; line numbers for a ``.jsonl``) dropped as
            invalid by ``invalid_rows="skip"``. A record only: not compared, described or fingerprinted.
    """

    name: str
    examples: tuple[MCExample, ...]
    answer_format: AnswerFormat = "cloze"
    template: QATemplate = field(default_factory=QATemplate)
    demonstrations: tuple[MCExample, ...] = ()
    n_permutations: int = 3
    seed: int = 0
    prepend_bos: bool | None = None
    cloze_normalization: ClozeNormalization = "sum"
    calibration: Calibration = "none"
    skipped_rows: tuple[int, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "examples", tuple(self.examples))
        object.__setattr__(self, "demonstrations", tuple(self.demonstrations))
        object.__setattr__(self, "skipped_rows", tuple(self.skipped_rows))
        if not self.examples:
            raise ValueError(
                f"task {self.name!r} has no examples: pass at least one example "
                "(dicts with 'question', 'options', 'answer', or MCExample)."
            )
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {self.answer_format!r}.")
        self._check_readout()
        self._check_generation()
        if not isinstance(self.n_permutations, int) or self.n_permutations < 1:
            raise ValueError(f"n_permutations must be an int >= 1, got {self.n_permutations!r}.")
        self._check_letters()

    def _check_readout(self) -> None:
        if self.cloze_normalization not in CLOZE_NORMALIZATIONS:
            raise ValueError(
                f"cloze_normalization must be one of {CLOZE_NORMALIZATIONS}, got {self.cloze_normalization!r}."
            )
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}.")
        if self.answer_format == "letter" and (self.calibration == "pmi" or self.cloze_normalization != "sum"):
            raise ValueError(
                f"task {self.name!r}: calibration='pmi' and cloze_normalization={self.cloze_normalization!r} "
                "read the options' text, which letter format does not score. Use answer_format='cloze', or "
                "calibration='contextual' (which works in both formats) with cloze_normalization='sum'."
            )

    @property
    def is_generation(self) -> bool:
        """Whether the examples are free-text prompts with reference answers (``answer_format="generate"``)."""
        return self.answer_format == "generate"

    def _check_generation(self) -> None:
        examples = (*self.examples, *self.demonstrations)
        check_generation_examples(self.name, self.is_generation, examples, self.calibration, self.cloze_normalization)

    @property
    def readout(self) -> str:
        """The read-out in one word, for tables: ``letter``, ``sum``, ``mean``, ``char``, ``pmi``,
        ``contextual``, or a normalisation and a calibration joined by ``+`` (``char+pmi``)."""
        base = "letter" if self.answer_format == "letter" else self.cloze_normalization
        if self.calibration == "none":
            return base
        return self.calibration if base == "sum" else f"{base}+{self.calibration}"

    def _check_letters(self) -> None:
        """Letters label the options only where they are shown or read (cloze prompts show none)."""
        if self.answer_format != "letter" and not self.template.shows_options(self.answer_format):
            return
        max_options = max(len(e.options) for e in (*self.examples, *self.demonstrations))
        letters = self.template.letters
        if max_options > len(letters):
            raise ValueError(
                f"task {self.name!r}: an example has {max_options} options but the template has only "
                f"{len(letters)} letters ({letters!r}) to label them. Use answer_format='cloze' (its prompts "
                f"show no letters), or pass template=QATemplate(letters=...) with at least {max_options} letters."
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
        cloze_normalization: ClozeNormalization = "sum",
        calibration: Calibration = "none",
        skipped_rows: Iterable[int] = (),
    ) -> Task:
        return cls(
            name=name,
            examples=tuple(as_any_example(e) for e in examples),
            answer_format=answer_format,
            template=template or QATemplate(),
            demonstrations=tuple(as_any_example(e) for e in demonstrations),
            n_permutations=n_permutations,
            seed=seed,
            prepend_bos=prepend_bos,
            cloze_normalization=cloze_normalization,
            calibration=calibration,
            skipped_rows=tuple(skipped_rows),
        )

    def __len__(self) -> int:
        return len(self.examples)

    def with_options(self, **changes: Any) -> Task:
        """A copy with some fields changed (e.g. ``answer_format="letter"``)."""
        return replace(self, **changes)

    def subset(self, indices: Sequence[int], *, name: str | None = None) -> Task:
        indices = list(indices)
        bad = [i for i in indices if not -len(self.examples) <= i < len(self.examples)]
        if bad:
            raise IndexError(
                f"task {self.name!r} has {len(self.examples)} examples; indices {bad[:5]} are out of range."
            )
        return replace(self, examples=tuple(self.examples[i] for i in indices), name=name or self.name)

    def split(self, fraction: float = 0.5, *, seed: int = 0, shots: int = 0) -> tuple[Task, Task]:
        """Seeded split into (identification, evaluation) tasks with no example in both.

        ``shots``: that many label-balanced demonstrations (:mod:`neuronllm_tl.tasks.shots`) are drawn
        from the identification part, removed from it, and shown before every question of both parts.
        """
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
        if len(self.examples) < 2:
            raise ValueError(f"task {self.name!r} has {len(self.examples)} example(s); a split needs >= 2.")
        idx = list(range(len(self.examples)))
        random.Random(seed).shuffle(idx)
        cut = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        identify = self.subset(sorted(idx[:cut]), name=f"{self.name}:identify").with_shots(shots, seed=seed)
        held_out = self.subset(sorted(idx[cut:]), name=f"{self.name}:evaluate")
        return identify, replace(held_out, demonstrations=identify.demonstrations)

    def with_shots(self, shots: int, *, seed: int = 0) -> Task:
        """This task with ``shots`` label-balanced demonstrations drawn from (and removed from) its examples."""
        picked = pick_demonstrations(self.examples, shots, seed=seed)
        shown = set(picked)
        rest = [i for i in range(len(self.examples)) if i not in shown]
        demos = self.demonstrations + tuple(self.examples[i] for i in picked)
        return replace(self.subset(rest), demonstrations=demos)

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

    def __repr__(self) -> str:
        asked = f", {self.effective_permutations} asked" if self.effective_permutations != self.n_permutations else ""
        shots = f", {len(self.demonstrations)} shots" if self.demonstrations else ""
        return (
            f"Task({self.name!r}, {len(self.examples)} examples, {self.answer_format}, "
            f"{self.n_permutations} permutations{asked}, calibration {self.calibration}{shots})"
        )

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
            "calibration": self.calibration,
            "template": self.template.to_dict(),
            **({"distractor_sources": distractor_sources(self.examples)} if self.is_generation else {}),
        }

    def fingerprint(self) -> str:
        """sha256 hex of the content: :meth:`describe` but the name, and every question's prompt,
        options and correct position. Flipping an answer or editing a prompt changes it; renaming does not."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:  # the task is frozen, so its questions are computed once
        settings = {k: v for k, v in self.describe().items() if k != "name"}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        for q in self.questions():
            digest.update(b"\n" + json.dumps([q.prompt, list(q.options), q.correct]).encode())
        for e in self.examples if self.is_generation else ():
            digest.update(b"\n" + json.dumps(list(getattr(e, "references", ()))).encode())
        return digest.hexdigest()
