"""Attribution methods against finite differences, IG completeness and the loop-based reference."""

import pytest
import torch

from neuronllm_tl.attribution.estimators import grad_x_act, integrated_gradients
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.testing import tiny_task
from neuronllm_tl.testing.reference import (
    answer_activation,
    integrated_gradients_reference,
    objective_with_answer_activation,
)


def _encode(model, task, n=None):
    qs = task.questions()
    return QuestionEncoder(model, task).encode(qs[:n] if n else qs)


def test_gradient_matches_finite_difference_of_F(model64, answer_format):
    task = tiny_task(answer_format)
    spec = model_spec(model64)
    enc = _encode(model64, task, 9)
    out = grad_x_act(model64, spec, enc)
    eps = 3e-3  # central difference: truncation O(eps^2); parts of the native model compute in float32
    checked = 0
    for question in (0, 4, 7):
        for layer in range(spec.n_layers):
            a = answer_activation(model64, spec, enc, question, layer)
            for neuron in torch.argsort(a.abs(), descending=True)[:3].tolist():
                e = torch.zeros_like(a)
                e[neuron] = eps
                f_plus = objective_with_answer_activation(model64, spec, enc, question, layer, a + e)
                f_minus = objective_with_answer_activation(model64, spec, enc, question, layer, a - e)
                fd_grad = float((f_plus - f_minus).detach()) / (2 * eps)
                got = float(out.attributions[question, layer, neuron])
                assert got == pytest.approx(float(a[neuron]) * fd_grad, rel=1e-3, abs=1e-6)
                checked += 1
    assert checked == 27


def test_objective_is_log_softmax_of_correct_option(model, task):
    enc = _encode(model, task)
    out = grad_x_act(model, model_spec(model), enc)
    expected = out.scores.log_softmax(-1)[torch.arange(enc.n_questions), enc.correct]
    torch.testing.assert_close(out.objective, expected)
    assert (out.objective <= 0).all()


def test_integrated_gradients_completeness(model64, answer_format):
    """Per layer, IG sums to F(actual) - F(that layer's answer activation zeroed).

    IG is a right Riemann sum of g(alpha) = a . grad F(alpha a) over [0, 1]; by Euler-Maclaurin it
    exceeds the integral by (g(1) - g(0)) / (2m) + O(1/m^2), so that term is added to the gap.
    """
    task = tiny_task(answer_format)
    spec = model_spec(model64)
    enc = _encode(model64, task, 6)
    steps = 100
    out = integrated_gradients(model64, spec, enc, steps=steps, max_rows=4096)
    for question in range(enc.n_questions):
        for layer in range(spec.n_layers):
            a = answer_activation(model64, spec, enc, question, layer)
            g = []
            for x in (torch.zeros_like(a), a.clone()):
                x.requires_grad_(True)
                f = objective_with_answer_activation(model64, spec, enc, question, layer, x)
                g.append(float(a @ torch.autograd.grad(f, x)[0]))
            with torch.no_grad():
                f_actual = objective_with_answer_activation(model64, spec, enc, question, layer, a)
                f_zero = objective_with_answer_activation(model64, spec, enc, question, layer, torch.zeros_like(a))
            gap = float(f_actual - f_zero)
            ig_sum = float(out.attributions[question, layer].sum())
            assert ig_sum == pytest.approx(gap + (g[1] - g[0]) / (2 * steps), rel=1e-3, abs=2e-6)
            assert ig_sum == pytest.approx(gap, rel=0.05, abs=5e-4)


@pytest.mark.parametrize("max_rows", [1, 7, 10_000])
def test_integrated_gradients_equals_one_layer_one_step_reference(model, task, max_rows):
    spec = model_spec(model)
    enc = _encode(model, task, 5)
    steps = 6
    out = integrated_gradients(model, spec, enc, steps=steps, max_rows=max_rows)
    for question in range(enc.n_questions):
        for layer in range(spec.n_layers):
            ref = integrated_gradients_reference(model, spec, enc, question=question, layer=layer, steps=steps)
            torch.testing.assert_close(out.attributions[question, layer], ref, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_subset_of_layers(model, task):
    spec = model_spec(model)
    enc = _encode(model, task, 3)
    full = integrated_gradients(model, spec, enc, steps=4)
    part = integrated_gradients(model, spec, enc, steps=4, layers=[1])
    torch.testing.assert_close(part.attributions[:, 1], full.attributions[:, 1])
    assert (part.attributions[:, [0, 2]] == 0).all()
    with pytest.raises(ValueError, match="out of range"):
        integrated_gradients(model, spec, enc, steps=4, layers=[3])


def test_cloze_gradient_is_total_over_option_rows(model64):
    """In cloze format one activation feeds every option row; its gradient sums over them."""
    task = tiny_task("cloze")
    spec = model_spec(model64)
    enc = _encode(model64, task, 8)
    out = grad_x_act(model64, spec, enc)
    question, layer = 6, 1
    assert int((enc.row_question == question).sum()) == 3
    a = answer_activation(model64, spec, enc, question, layer)
    x = a.clone().requires_grad_(True)
    f = objective_with_answer_activation(model64, spec, enc, question, layer, x)
    (grad,) = torch.autograd.grad(f, x)
    torch.testing.assert_close(out.attributions[question, layer], (a * grad).float(), rtol=1e-5, atol=1e-8)
