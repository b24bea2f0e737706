"""scripts/model_families.py: its depth and stability figures on hand-made sets, and its tables from two real
comparison folders of the tiny model."""

import json

import pytest

import neuronllm_tl as nl
from neuronllm_tl.testing import tiny_model
from neuronllm_tl.testing.tasks import tiny_examples
from tests.unit.scripts.conftest import loaded_script


@pytest.fixture(scope="module")
def mf():
    with loaded_script("model_families") as module:
        yield module


def test_depth_shares_and_jaccard_are_what_they_say(mf):
    records = [
        {"shape": [10, 4], "good": [[0, 1], [9, 2]], "bad": []},  # depths 0.05 and 0.95
        {"shape": [10, 4], "good": [[0, 1], [5, 0]], "bad": []},  # 0.05 and 0.55
    ]
    shares, mean = mf.depth_profile(records, "good")
    assert shares == [0.5, 0.0, 0.25, 0.0, 0.25] and mean == pytest.approx((0.05 * 2 + 0.95 + 0.55) / 4)
    assert mf.jaccard_across_seeds(records, "good") == pytest.approx(1 / 3)  # {(0,1)} of {(0,1), (9,2), (5,0)}
    assert mf.jaccard_across_seeds(records[:1], "good") is None  # one seed: no pair to compare


def test_tables_read_each_models_folder_and_mark_what_is_pending(mf, tmp_path, monkeypatch):
    task = tmp_path / "tiny.jsonl"
    task.write_text("\n".join(json.dumps(r) for r in tiny_examples()))
    config = nl.CompareConfig(
        tasks=(str(task),), variants=("neuronllm_gxa",), k=3, n_identify=4, n_eval=4, controls=1, seeds=(0, 1)
    )
    nl.compare(tiny_model(), config, out=tmp_path / "a", log=lambda _: None)
    monkeypatch.setattr(mf, "FOLDERS", {"one": tmp_path / "a", "other": tmp_path / "missing"})
    steering = mf.steering_table("neuronllm_gxa", ["tiny"]).rows
    assert [(r[1].text, r[2].text) for r in steering] == [("one", "enhance"), ("one", "degrade"), ("other", "pending")]
    assert steering[0][3].text == "0,1" and "[" in steering[0][5].text  # seeds, and Δ p with its CI
    layers = mf.layer_table("neuronllm_gxa", ["tiny"]).rows
    assert [(r[1].text, r[2].text) for r in layers] == [("one", "good"), ("one", "bad"), ("other", "pending")]
    assert layers[0][4].text == str(2 * 3)  # k = 3 good neurons per seed, 2 seeds
