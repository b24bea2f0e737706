"""The objective F whose attribution ranks the neurons: a callable of a batch's option scores.

An objective is any function ``F(scores: OptionScores) -> Tensor[question]``, in the spirit of
TransformerLens metrics (a function of a run's output returning a number to differentiate). It is
passed by name (a registered one) or as the callable itself, wherever ``objective=`` is accepted.

Sign convention: every objective grows when the model favours the correct option, so a positive
attribution always means the neuron helps the task. A custom objective should keep to it.

==================== ================================================================ =============================
name                 F for a question with correct option c                           used by
==================== ================================================================ =============================
``contrastive``      log softmax_j(s_j)[c] over the option scores only                 NeuronLLM (CNI)
``vocab_prob``       p(c) over the whole vocabulary (letter: the letter token;          QRNCA, Knowledge
                     cloze: the option text's likelihood)                               Neurons
``vocab_logprob``    log p(c) over the whole vocabulary (minus the LM loss)             TN (Taylor)
``margin``           s_c - max_{j != c} s_j (logit margin; cloze: log-likelihood)       compare --sweeps objective
``sequence_logprob`` log p(reference) teacher-forced, summed over its tokens (the same   generation tasks
                     function as ``vocab_logprob``: in cloze and generation format the
                     correct option's text is the reference)
==================== ================================================================ =============================

``contrastive`` and ``margin`` compare the correct option with the others, so they need at least two options:
:func:`check_objective_fits` refuses them on a generation task whose examples have no distractors.

``s_j`` is :attr:`OptionScores.raw` (:func:`~neuronllm_tl.scoring.encoded.option_scores`): the
task's read-out, i.e. the letter's logit (letter format) or the option's log-likelihood (cloze format),
normalised and calibrated as the task says. :attr:`OptionScores.vocab_logprobs` is log p over the whole
vocabulary, never normalised or calibrated: computed only when an objective reads it (in cloze format
with the default ``sum`` read-out it is ``raw`` itself). ``contrastive`` rewards the
correct option and penalises the distractors; the vocabulary objectives also reward mass moved from
unrelated tokens onto the answer, which is what the reviewers of NeuronLLM contrasted it with.

Example (register an objective, then use it by name anywhere):
    >>> from neuronllm_tl.scoring.objectives import OptionScores, register_objective
    >>> def correct_minus_mean(scores: OptionScores):
    ...     s = scores.raw.masked_fill(scores.raw.isinf(), float("nan"))    # absent options are -inf
    ...     right = s.gather(-1, scores.correct[:, None]).squeeze(-1)
    ...     return right - s.nanmean(-1)
    >>> register_objective("correct_minus_mean", correct_minus_mean) is correct_minus_mean
    True
    >>> nl.identify(model, task, objective="correct_minus_mean", k=3).metadata["config"]["objective"]
    'correct_minus_mean'
    >>> unregister_objective("correct_minus_mean") is correct_minus_mean
    True
"""

from __future__ import annotations

from collections.abc import Callable, KeysView
from typing import Protocol

from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.registry import Registry
from neuronllm_tl.scoring.encoding import EncodedQuestions, option_scores
from neuronllm_tl.tasks.task import Task


class OptionScores:
    """What an objective reads from one batch: the option scores, the correct options, and (lazily)
    the options' log-probabilities over the whole vocabulary.

    Build it from a forward pass with :meth:`from_logits`, or directly from tensors (tests, custom
    read-outs). ``logits`` and ``enc`` are kept when built from a pass (``None`` otherwise), for
    objectives that need more than the options' scores.
    """

    def __init__(
        self,
        raw: Float[Tensor, "question option"],
        correct: Int[Tensor, " question"],
        *,
        vocab_logprobs: Tensor | Callable[[], Tensor] | None = None,
        logits: Float[Tensor, "row pos vocab"] | None = None,
        enc: EncodedQuestions | None = None,
    ) -> None:
        self.raw = raw
        """[question, option]: the letter logits (letter format) or the options' log-likelihoods (cloze);
        ``-inf`` where a question has fewer options."""
        self.correct = correct
        """[question]: the index of the correct option."""
        self.logits = logits
        self.enc = enc
        self._vocab_logprobs = vocab_logprobs

    @classmethod
    def from_logits(
        cls, logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions, *, vocab: bool = True
    ) -> OptionScores:
        """The scores of a batch's logits; the vocabulary log-probabilities wait until one reads them.

        ``vocab=False``: the logits are not over the whole vocabulary (only the option letters' columns were
        unembedded), so reading ``vocab_logprobs`` raises instead of normalising over the wrong tokens.
        """
        raw = option_scores(logits, enc)
        if not vocab:
            return cls(raw, enc.correct, logits=logits, enc=enc)
        if _raw_is_vocab_logprob(enc):  # summed, uncalibrated cloze scores are vocabulary log-likelihoods
            return cls(raw, enc.correct, vocab_logprobs=raw, logits=logits, enc=enc)

        def whole_vocabulary() -> Tensor:
            return option_scores(logits, enc, vocab_normalized=True)

        return cls(raw, enc.correct, vocab_logprobs=whole_vocabulary, logits=logits, enc=enc)

    @property
    def vocab_logprobs(self) -> Float[Tensor, "question option"]:
        """[question, option]: log p(option) over the whole vocabulary, computed on first access."""
        if callable(self._vocab_logprobs):
            self._vocab_logprobs = self._vocab_logprobs()
        if self._vocab_logprobs is None:
            raise ValueError(
                "these OptionScores were built without vocabulary log-probabilities; build them with "
                "OptionScores.from_logits(logits, enc), or pass vocab_logprobs=."
            )
        return self._vocab_logprobs


def _raw_is_vocab_logprob(enc: EncodedQuestions) -> bool:
    return enc.answer_format == "cloze" and enc.normalization == "sum" and not bool(enc.score_offset.any())


class Objective(Protocol):
    """F per question of a batch; larger when the model favours the correct option."""

    def __call__(self, scores: OptionScores, /) -> Float[Tensor, " question"]: ...


def _of_correct(values: Float[Tensor, "question option"], correct: Int[Tensor, " question"]) -> Tensor:
    return values.gather(-1, correct[:, None]).squeeze(-1)


def reads_only_option_scores(objective: Objective) -> bool:
    """Whether an objective reads only ``OptionScores.raw`` (so the whole vocabulary need not be unembedded).

    Declared by the attribute ``reads_only_option_scores = True`` on the callable (set on ``contrastive``
    and ``margin``; set it on yours to let letter-format replays unembed only the option letters).
    """
    return bool(getattr(objective, "reads_only_option_scores", False))


def contrastive(scores: OptionScores) -> Float[Tensor, " question"]:
    """F = log softmax(option scores)[correct]: rewards the correct option, penalises the distractors.

    Its gradient is ds_correct/dw - sum_j p_j ds_j/dw (the paper's ACE objective, reconstructed).
    """
    return _of_correct(scores.raw.log_softmax(-1), scores.correct)


def vocab_logprob(scores: OptionScores) -> Float[Tensor, " question"]:
    """F = log p(correct) over the whole vocabulary (minus the LM loss of the answer)."""
    return _of_correct(scores.vocab_logprobs, scores.correct)


def vocab_prob(scores: OptionScores) -> Float[Tensor, " question"]:
    """F = p(correct) over the whole vocabulary."""
    return vocab_logprob(scores).exp()


def margin(scores: OptionScores) -> Float[Tensor, " question"]:
    """F = s_correct - max over the other options of s_j."""
    others = scores.raw.scatter(-1, scores.correct[:, None], float("-inf"))
    return _of_correct(scores.raw, scores.correct) - others.max(-1).values


contrastive.reads_only_option_scores = True  # type: ignore[attr-defined]
margin.reads_only_option_scores = True  # type: ignore[attr-defined]

_REGISTRY: Registry[Objective] = Registry(
    "objective", hint="Pass one of these, or register yours with register_objective(name, fn)."
)
for _name, _fn in (
    ("contrastive", contrastive),
    ("vocab_prob", vocab_prob),
    ("vocab_logprob", vocab_logprob),
    ("margin", margin),
    ("sequence_logprob", vocab_logprob),
):
    _REGISTRY.register(_name, _fn)
OBJECTIVES: KeysView[str] = _REGISTRY.view.keys()
"""The registered objectives' names: a read-only view that stays current as objectives register."""


def register_objective(name: str, fn: Objective, *, overwrite: bool = False) -> Objective:
    """Register ``fn`` under ``name`` so that ``objective=name`` reaches it everywhere; returns ``fn``."""
    if not callable(fn):
        raise TypeError(f"objective {name!r} must be a callable of OptionScores, got {type(fn).__name__}.")
    return _REGISTRY.register(name, fn, overwrite=overwrite)


def unregister_objective(name: str) -> Objective:
    """Remove an objective (a built-in one too; reimport the package to get it back)."""
    return _REGISTRY.unregister(name)


def get_objective(objective: str | Objective) -> Objective:
    """The objective registered under a name; a callable passes through unchanged."""
    if isinstance(objective, str):
        return _REGISTRY.get(objective)
    if callable(objective):
        return objective
    raise TypeError(f"objective must be a registered name or a callable, got {type(objective).__name__}.")


def check_objective(objective: str | Objective) -> None:
    """Raise (ValueError, listing the registered names) unless ``objective`` is usable."""
    get_objective(objective)


def check_objective_fits(objective: str | Objective, task: Task) -> None:
    """Refuse an objective that compares options (``contrastive``, ``margin``, or one declaring
    ``reads_only_option_scores``) on a task with a single-option question: its F would be constant."""
    fn = get_objective(objective)
    if not reads_only_option_scores(fn) or min(len(e.options) for e in task.examples) > 1:
        return
    lonely = sum(len(e.options) == 1 for e in task.examples)
    raise ValueError(
        f"objective {objective_name(objective)!r} compares the reference with distractors, but {lonely} example(s) "
        f"of task {task.name!r} have none, so its F would be constant. Use objective='sequence_logprob' (the "
        "reference's log-likelihood), give distractors in the data, or mine the model's own wrong answers with "
        "nl.with_model_distractors(model, task) (command line: --objective sequence_logprob, or --model-distractors N)."
    )


def objective_name(objective: str | Objective) -> str:
    """A name for messages and metadata: the registered name, else the callable's ``__name__``."""
    if isinstance(objective, str):
        return objective
    for name, fn in _REGISTRY.view.items():
        if fn is objective:
            return name
    return str(getattr(objective, "__name__", None) or objective)


def objective_and_scores(
    logits: Float[Tensor, "row pos vocab"],
    enc: EncodedQuestions,
    objective: str | Objective = "contrastive",
    *,
    vocab: bool = True,
) -> tuple[Float[Tensor, " question"], Float[Tensor, "question option"]]:
    """(F per question, raw option scores) of a batch's logits (``vocab``: see :meth:`OptionScores.from_logits`)."""
    fn = get_objective(objective)
    scores = OptionScores.from_logits(logits, enc, vocab=vocab)
    f = fn(scores)
    if not isinstance(f, Tensor) or tuple(f.shape) != (enc.n_questions,):
        got = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
        raise ValueError(
            f"objective {objective_name(objective)!r} returned {got}; an objective must return one value per "
            f"question, a tensor of shape ({enc.n_questions},)."
        )
    return f, scores.raw


__all__ = [
    "OBJECTIVES",
    "Objective",
    "OptionScores",
    "check_objective",
    "check_objective_fits",
    "contrastive",
    "get_objective",
    "margin",
    "objective_and_scores",
    "objective_name",
    "reads_only_option_scores",
    "register_objective",
    "vocab_logprob",
    "vocab_prob",
]
