"""A neuron's role in words, from its measured numbers, by written-down rules.

**The direct path's share of F.** Per question q the neuron adds ``e_q(o) = a_q * u[t_o]`` to the logit
of each offered option's token ``t_o`` (``a_q``: its answer-position activation on q; ``u``: its direct
effect per unit activation, :mod:`neuronllm_tl.explanation.direct`). To first order this changes
F = log p(correct) (the option softmax) by::

    DF_q = e_q(c) - sum_o p_q(o) e_q(o) = sum_{o != c} p_q(o) (e_q(c) - e_q(o))

(``p_q``: the model's option probabilities; in cloze format the option's later tokens and the
vocabulary-wide normalisation are the same for every option and drop out). Silencing the neuron removes
that, so ``D`` = the mean of ``DF_q`` (each example's questions averaged, then the examples) is the part
of its effect ``T`` that runs through the direct path (``T``: the exact ablation effect when measured,
else the mean gradient x activation per question). Each distractor o of q contributes
``p_q(o) (e_q(c) - e_q(o))``, and each question contributes ``DF_q`` to its correct option's name.

**The rules**, joined with ``"; "`` (``"mixed"`` when none holds). The option rules end with the direct
path's share ``(direct path 80% of the effect)``, i.e. D / T:

* ``"acts through later layers"``: the direct path does not explain the effect: D has the other sign
  than T, or ``|D| < direct_share * |T|``. The option rules below are then not stated.
* Otherwise, for a neuron that lowers F (D < 0): ``"pushes distractor 'X'"`` when the distractor X
  carries at least ``dominant_share`` of D (summed over the questions where X is wrong), else
  ``"suppresses the correct option"`` (the harm is spread over the distractors). ``"a frequent wrong
  answer"`` is noted when X is the model's answer in at least ``frequent_wrong_share`` of the questions
  it gets wrong. For a neuron that raises F (D > 0): ``"pushes the answer 'X'"`` when the questions whose
  correct option is X carry at least ``dominant_share`` of D (and the task has several answers), else
  ``"pushes the correct option"``.
* ``"fires on label 'Y'"`` (classification tasks, where every example offers the same labels): the mean
  activation over the examples whose correct label is Y exceeds every other label's mean by at least
  ``label_margin_sd`` standard deviations of the per-example activations (all examples).
  ``"fires negatively on label 'Y'"``: Y's mean is below every other label's by that margin (gated MLPs
  fire both ways). Where both hold (always with two labels), the larger gap wins, then the larger |mean|.

The values (:data:`THRESHOLDS`, also in ``Explanations.thresholds``): ``direct_share`` 1/4 (the direct
path is a quarter of the effect or more), ``dominant_share`` 1/2 (one option carries most of it),
``frequent_wrong_share`` 1/4, ``label_margin_sd`` 0.8 (a large effect size by Cohen's convention).

Example:
    >>> import torch
    >>> evidence = RoleEvidence(            # two questions whose answer is 'negative'; the model picks 'positive' once
    ...     effects=[torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.0])], probs=[torch.tensor([0.6, 0.4]),
    ...     torch.tensor([0.3, 0.7])], names=[("positive", "negative")] * 2, correct=[1, 1], weights=[0.5, 0.5],
    ...     total=-0.5, labels=[{"label": "positive", "mean": -0.2}, {"label": "negative", "mean": 0.9}],
    ...     activation_sd=0.5)
    >>> role_text(evidence, THRESHOLDS)
    "pushes distractor 'positive' (a frequent wrong answer; direct path 75% of the effect); fires on label 'negative'"
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from torch import Tensor

THRESHOLDS: dict[str, float] = {
    "direct_share": 0.25,
    "dominant_share": 0.5,
    "frequent_wrong_share": 0.25,
    "label_margin_sd": 0.8,
}


@dataclass
class RoleEvidence:
    """What the rules read for one neuron; the lists run over the task's questions."""

    effects: list[Tensor]
    """The direct effect on each offered option's logit, at that question's activation."""
    probs: list[Tensor]
    """The model's probability of each offered option."""
    names: list[tuple[str, ...]]
    """The offered options' names (letters or texts), in the question's order."""
    correct: list[int]
    weights: list[float]
    """1 / (questions of the example x examples): each example's questions averaged, then the examples."""
    total: float | None
    """T: the neuron's whole effect on F (exact ablation, or gradient x activation per question)."""
    labels: list[dict[str, Any]]
    """``activation_by_label`` (empty outside classification tasks)."""
    activation_sd: float
    """Standard deviation of the per-example activations."""

    @property
    def predicted(self) -> list[int]:
        return [int(p.argmax()) for p in self.probs]

    def direct_change(self) -> list[float]:
        """DF_q per question: the first-order change of F through the direct path."""
        return [float(e[c] - (p * e).sum()) for e, p, c in zip(self.effects, self.probs, self.correct, strict=True)]


def _frequent_wrong(ev: RoleEvidence, x: str, th: dict[str, float]) -> bool:
    wrong = [q for q, (p, c) in enumerate(zip(ev.predicted, ev.correct, strict=True)) if p != c]
    chosen = sum(ev.names[q][ev.predicted[q]] == x for q in wrong)
    return bool(wrong) and chosen / len(wrong) >= th["frequent_wrong_share"]


def _harmful(ev: RoleEvidence, d: float, th: dict[str, float]) -> tuple[str, str]:
    by_distractor: dict[str, float] = defaultdict(float)
    for q, (e, p, c) in enumerate(zip(ev.effects, ev.probs, ev.correct, strict=True)):
        for o, name in enumerate(ev.names[q]):
            if o != c:
                by_distractor[name] += ev.weights[q] * float(p[o] * (e[c] - e[o]))
    x = min(by_distractor, key=by_distractor.__getitem__)
    if by_distractor[x] / d < th["dominant_share"]:
        return "suppresses the correct option", ""
    return f"pushes distractor {x!r}", "a frequent wrong answer; " if _frequent_wrong(ev, x, th) else ""


def _helpful(ev: RoleEvidence, d: float, change: list[float], th: dict[str, float]) -> tuple[str, str]:
    by_answer: dict[str, float] = defaultdict(float)
    for q, c in enumerate(ev.correct):
        by_answer[ev.names[q][c]] += ev.weights[q] * change[q]
    x = max(by_answer, key=by_answer.__getitem__)
    if len(by_answer) > 1 and by_answer[x] / d >= th["dominant_share"]:
        return f"pushes the answer {x!r}", ""
    return "pushes the correct option", ""


def _option_rule(ev: RoleEvidence, th: dict[str, float]) -> str | None:
    if not ev.total:
        return None
    change = ev.direct_change()
    d = sum(w * c for w, c in zip(ev.weights, change, strict=True))
    share = f"direct path {d / ev.total:.0%} of the effect"
    if d * ev.total <= 0 or abs(d) < th["direct_share"] * abs(ev.total):
        return f"acts through later layers ({share})"
    text, note = _harmful(ev, d, th) if d < 0 else _helpful(ev, d, change, th)
    return f"{text} ({note}{share})"


def _label_rule(ev: RoleEvidence, th: dict[str, float]) -> str | None:
    if len(ev.labels) < 2 or ev.activation_sd <= 0:
        return None
    ranked = sorted(ev.labels, key=lambda r: r["mean"], reverse=True)
    top, bottom = ranked[0], ranked[-1]
    high_gap, low_gap = top["mean"] - ranked[1]["mean"], ranked[-2]["mean"] - bottom["mean"]
    margin = th["label_margin_sd"] * ev.activation_sd
    negative = (low_gap, abs(bottom["mean"])) > (high_gap, abs(top["mean"]))
    if max(high_gap, low_gap) < margin:
        return None
    return f"fires negatively on label {bottom['label']!r}" if negative else f"fires on label {top['label']!r}"


def role_text(ev: RoleEvidence, thresholds: dict[str, float] = THRESHOLDS) -> str:
    """The rules of the module docstring that hold for this neuron, joined, or ``"mixed"``."""
    found = [text for rule in (_option_rule, _label_rule) if (text := rule(ev, thresholds)) is not None]
    return "; ".join(found) if found else "mixed"
