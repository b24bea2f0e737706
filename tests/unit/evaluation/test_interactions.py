"""A set's summed single effects and its joint effect, against direct computations (issue #14)."""

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits
from neuronllm_tl.scoring.objectives import objective_and_scores
from neuronllm_tl.testing import tiny_task
from neuronllm_tl.testing.reference import ablation_reference
from tests.conftest import hook_count
from tests.unit.evaluation.test_evaluate import neurons


def _f_with_silenced(model, enc, members):
    """F with ``members`` set to 0 at each row's answer position, by run_with_hooks directly."""
    spec = model_spec(model)
    rows = torch.arange(enc.n_rows)

    def hook_for(layer):
        index = members[members[:, 0] == layer, 1]

        def hook(act, hook):
            act = act.clone()
            act[rows[:, None], enc.answer_pos[:, None], index[None]] = 0.0
            return act

        return hook

    hooks = [(spec.hook_name(int(layer)), hook_for(int(layer))) for layer in torch.unique(members[:, 0])]
    with torch.no_grad():
        return objective_and_scores(forward_logits(model, enc, hooks), enc)[0].double()


def test_joint_and_single_effects_equal_direct_computations(model, answer_format):
    task = tiny_task(answer_format).subset(range(4))
    ns = neurons()
    out = nl.set_interaction(model, task, ns, group="bad", batch_size=3)
    enc = QuestionEncoder(model, task).encode(task.questions())
    with torch.no_grad():
        clean = objective_and_scores(forward_logits(model, enc), enc)[0].double()
    torch.testing.assert_close(out.joint, clean - _f_with_silenced(model, enc, ns.bad), atol=1e-5, rtol=1e-4)
    spec = model_spec(model)
    single = torch.zeros(enc.n_questions, dtype=torch.float64)
    for layer, index in ns.bad.tolist():
        for q in range(enc.n_questions):
            effects = ablation_reference(model, spec, enc, question=q, layer=layer, neurons=[index])
            single[q] += float(effects[index])
    torch.testing.assert_close(out.single, single.double(), atol=1e-5, rtol=1e-4)
    assert hook_count(model) == 0


def test_one_neuron_sets_add_up_exactly_and_the_summary_reads_scipy(model):
    task = tiny_task("cloze")
    one = nl.NeuronSet(
        good=torch.tensor([[1, 3]]), bad=torch.zeros(0, 2, dtype=torch.long), good_scores=torch.ones(1),
        bad_scores=torch.zeros(0), scores=torch.zeros(3, 48), ambiguous=torch.zeros(3, 48, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )  # fmt: skip
    out = nl.set_interaction(model, task, one)
    torch.testing.assert_close(out.joint, out.single, atol=1e-5, rtol=1e-4)
    summary = out.summary()
    assert summary["n_examples"] == len(task) and summary["n_neurons"] == 1
    assert summary["pearson_r"] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="no bad neurons"):
        nl.set_interaction(model, task, one, group="bad")
