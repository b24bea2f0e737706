"""Reuse without a word is gone (issue #27, item 3): another model's weights, another read-out."""

import pytest

import neuronllm_tl as nl
from neuronllm_tl.models import fingerprint
from neuronllm_tl.testing import tiny_model, tiny_task


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = tiny_model()
    task = tiny_task("cloze")
    ident, rest = task.split(0.5, seed=0)
    path = nl.identify(model, ident, k=4).save(tmp_path_factory.mktemp("reuse") / "set")
    return model, rest, path


def test_a_set_loaded_on_other_weights_of_the_same_shape_is_refused_or_warned(saved):
    model, _, path = saved
    other = tiny_model(seed=1)
    assert nl.NeuronSet.load(path, model=model).metadata["model_fingerprint"]
    with pytest.raises(ValueError, match="weights differ.*allow_other_model=True"):
        nl.NeuronSet.load(path, model=other)
    with pytest.warns(UserWarning, match="weights differ"):
        nl.NeuronSet.load(path, model=other, allow_other_model=True)


def test_a_fingerprint_recorded_before_keys_dropped_the_folder_path_still_matches(saved):
    model, _, path = saved
    neurons = nl.NeuronSet.load(path)
    neurons.metadata["model_fingerprint"] = fingerprint._compute(model, full_name=True)
    neurons.check_same_weights(model)  # no error


def test_evaluating_under_another_read_out_warns_naming_both(saved):
    model, rest, path = saved
    neurons = nl.NeuronSet.load(path, model=model)
    with pytest.warns(UserWarning, match="calibration: identified with 'none', now 'pmi'"):
        nl.evaluate(model, rest.with_options(calibration="pmi"), neurons, modes=["degrade"], controls=0)
