"""The two bad inputs that used to fail quietly or deep (issue #23, item 6)."""

import pytest

import neuronllm_tl as nl
from neuronllm_tl.neurons.neuron_set import TENSORS_FILE
from neuronllm_tl.testing import tiny_task


def test_k_above_the_neurons_with_a_score_warns_with_the_counts(model):
    with pytest.warns(nl.FewerNeuronsWarning, match=r"k asked for 1000 .* only \d+ good and \d+ bad") as record:
        neurons = nl.identify(model, tiny_task("cloze"), k=1000)
    assert str(len(neurons.good)) in str(record[0].message) and len(neurons.good) < 1000


def test_k_above_the_neurons_warns_for_a_good_only_baseline(model):
    with pytest.warns(nl.FewerNeuronsWarning, match=r"only \d+ good"):
        nl.identify(model, tiny_task("cloze"), method="tn", k=100_000)


def test_a_damaged_tensor_file_names_the_file_and_the_fix(model, tmp_path):
    folder = nl.identify(model, tiny_task("cloze"), k=5).save(tmp_path / "set")
    (folder / TENSORS_FILE).write_bytes(b"\x01\x00")
    with pytest.raises(ValueError, match=rf"{TENSORS_FILE} is damaged.*identified again"):
        nl.NeuronSet.load(folder)
