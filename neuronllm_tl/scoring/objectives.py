"""The objective F whose attribution ranks the neurons, as a function of the logits of a batch.

Sign convention: every objective grows when the model favours the correct option, so a positive
attribution always means the neuron helps the task.

==================== ================================================================ ===============
name                 F for a question with correct option c                           used by
==================== ================================================================ ===============
``contrastive``      log softmax_j(s_j)[c] over the option scores only                 NeuronLLM (CNI)
``vocab_prob``       p(c) over the whole vocabulary (letter: the letter token;          QRNCA, Knowledge
                     cloze: the option text's likelihood)                               Neurons
``vocab_logprob``    log p(c) over the whole vocabulary (minus the LM loss)             TN (Taylor)
``margin``           s_c - max_{j != c} s_j (logit margin; cloze: log-likelihood)       ablation
==================== ================================================================ ===============

``s_j`` is :func:`~neuronllm_tl.scoring.encoding.option_scores`: the letter's logit (letter format)
or the option's log-likelihood (cloze format). ``contrastive`` rewards the correct option and
penalises the distractors; the vocabulary objectives also reward mass moved from unrelated tokens
onto the answer, which is what the reviewers of NeuronLLM contrasted it with.
"""

from __future__ import annotations

from typing import Literal

from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.scoring.encoding import EncodedQuestions, contrastive_objective, option_scores

Objective = Literal["contrastive", "vocab_prob", "vocab_logprob", "margin"]
OBJECTIVES: tuple[str, ...] = ("contrastive", "vocab_prob", "vocab_logprob", "margin")


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}.")


def objective_from_scores(
    scores: Float[Tensor, "question option"],
    vocab_scores: Float[Tensor, "question option"],
    correct: Tensor,
    objective: str,
) -> Float[Tensor, " question"]:
    """F per question from option scores (raw) and their vocabulary-normalized log-probabilities."""
    check_objective(objective)
    if objective == "contrastive":
        return contrastive_objective(scores, correct)
    if objective in ("vocab_prob", "vocab_logprob"):
        logp = vocab_scores.gather(-1, correct[:, None]).squeeze(-1)
        return logp.exp() if objective == "vocab_prob" else logp
    right = scores.gather(-1, correct[:, None]).squeeze(-1)
    others = scores.scatter(-1, correct[:, None], float("-inf"))
    return right - others.max(-1).values


def objective_and_scores(
    logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions, objective: str = "contrastive"
) -> tuple[Float[Tensor, " question"], Float[Tensor, "question option"]]:
    """(F per question, option scores) of a batch's logits."""
    scores = option_scores(logits, enc)
    needs_vocab = objective in ("vocab_prob", "vocab_logprob") and enc.answer_format == "letter"
    vocab_scores = option_scores(logits, enc, vocab_normalized=True) if needs_vocab else scores
    return objective_from_scores(scores, vocab_scores, enc.correct, objective), scores


__all__ = ["OBJECTIVES", "Objective", "check_objective", "objective_and_scores", "objective_from_scores"]
