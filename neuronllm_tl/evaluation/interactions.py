"""Do a neuron set's single effects add up? Its summed single-neuron effects against its joint effect.

For question q and a set S of neurons silenced at the answer position (issue #14):

* ``single_q = sum over w in S of [F_q(clean) - F_q(w := 0)]``: exact, one variant per neuron
  (:func:`~neuronllm_tl.attribution.exact_ablation.exact_ablation` with ``candidates=S``);
* ``joint_q = F_q(clean) - F_q(every w in S := 0)``: one pass with the whole set silenced, as ``silence_good``
  (or ``silence_bad``) steering does.

Methods rank neurons by single effects (or first-order estimates of them) and then steer them as a set.
When the neurons act on F independently, joint = single for every question. ``joint / single < 1`` means the
set is redundant (its neurons carry overlapping signal), ``> 1`` that they compound. The sign convention is
that of exact ablation: > 0 where the set helps F.

Example:
    >>> out = nl.set_interaction(model, task, neurons, group="good")
    >>> summary = out.summary()   # means, their ratio, the paired CI of joint - single, Pearson and Spearman r
    >>> list(summary)
    ['group', 'n_neurons', 'n_examples', 'mean_single', 'mean_joint', 'ratio_joint_to_single',
     'joint_minus_single_ci', 'pearson_r', 'spearman_rho']
    >>> summary["group"], summary["n_neurons"], summary["n_examples"]
    ('good', 3, 12)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from scipy import stats
from torch import Tensor

from neuronllm_tl.attribution.exact_ablation import exact_ablation
from neuronllm_tl.evaluation.scores import per_example_mean
from neuronllm_tl.evaluation.statistics import paired_ci
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device, model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.batches import example_batches
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.objectives import Objective, objective_and_scores
from neuronllm_tl.scoring.shared_prompt import read_logits
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.tasks.task import Task


@dataclass
class SetInteraction:
    """Per question: the set's summed single-neuron effects and its joint effect on F (float64)."""

    single: Float[Tensor, " question"]
    joint: Float[Tensor, " question"]
    example_index: Int[Tensor, " question"]
    group: str
    n_neurons: int

    def per_example(self) -> tuple[Float[Tensor, " example"], Float[Tensor, " example"]]:
        """(single, joint) averaged over each example's permutations: the unit the statistics resample."""
        return per_example_mean(self.single, self.example_index), per_example_mean(self.joint, self.example_index)

    def summary(self) -> dict[str, Any]:
        single, joint = (v.numpy() for v in self.per_example())
        pearson = stats.pearsonr(single, joint) if len(single) > 2 else None
        spearman = stats.spearmanr(single, joint) if len(single) > 2 else None
        return {
            "group": self.group,
            "n_neurons": self.n_neurons,
            "n_examples": len(single),
            "mean_single": float(single.mean()),
            "mean_joint": float(joint.mean()),
            "ratio_joint_to_single": float(joint.mean() / single.mean()) if single.mean() != 0 else float("nan"),
            "joint_minus_single_ci": paired_ci(single, joint).to_dict(),
            "pearson_r": float(pearson.statistic) if pearson is not None else None,
            "spearman_rho": float(spearman.statistic) if spearman is not None else None,
        }


def set_interaction(
    model: HookedModel,
    task: Task,
    neurons: NeuronSet,
    *,
    group: Literal["good", "bad"] = "good",
    objective: str | Objective = "contrastive",
    batch_size: int = 8,
    max_rows: int = 256,
) -> SetInteraction:
    """The summed single effects and the joint effect of silencing ``neurons``' ``group`` on every question."""
    if group not in ("good", "bad"):
        raise ValueError(f"group is 'good' or 'bad', got {group!r}.")
    members = neurons.good if group == "good" else neurons.bad
    if len(members) == 0:
        raise ValueError(f"the neuron set has no {group} neurons to silence; pass group='good' or a set that has some.")
    spec = model_spec(model, hook=neurons.hook)
    neurons.check_compatible(model)
    silence = Steering(neurons, {group: 0.0})
    encoder = QuestionEncoder(model, task)
    device = model_device(model)
    questions = task.questions()
    single, joint = [], []
    for batch in example_batches(questions, batch_size):
        enc = encoder.encode(batch).to(device)
        each = exact_ablation(model, spec, enc, candidates=members, objective=objective, max_rows=max_rows)
        layer, index = members[:, 0].to(device), members[:, 1].to(device)
        single.append(each.attributions[:, layer, index].double().sum(1).cpu())
        with torch.no_grad():
            logits, read = read_logits(model, enc, lambda pos: silence.hooks(model, positions=pos))
            f_silenced, _ = objective_and_scores(logits, read, objective)
        joint.append((each.objective.double() - f_silenced.double()).cpu())
    example_index = torch.tensor([q.example_index for q in questions])
    return SetInteraction(torch.cat(single), torch.cat(joint), example_index, group, len(members))


__all__ = ["SetInteraction", "set_interaction"]
