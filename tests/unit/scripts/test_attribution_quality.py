"""scripts/attribution_quality.py: its metrics on hand-made tensors, and one run end to end on the tiny model."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from neuronllm_tl.methods.baseline_sets import rank_neurons
from neuronllm_tl.tables import section_markers
from tests.unit.scripts.conftest import loaded_script


@pytest.fixture(scope="module")
def aq():
    with loaded_script("attribution_quality") as module:
        yield module


def test_recall_counts_the_exact_extremes_found(aq):
    truth = torch.tensor([[5.0, 4.0, 3.0, -1.0, -2.0, -6.0]])
    estimate = torch.tensor([[5.0, -1.0, 3.0, 0.5, -2.0, -6.0]])
    assert aq.recall_at_k(estimate, truth, 2, "good") == 0.5  # exact top-2 {0, 1}; estimate's {0, 2}
    assert aq.recall_at_k(estimate, truth, 2, "bad") == 1.0  # exact bottom-2 {5, 4}
    assert aq.recall_at_k(truth, truth, 3, "bad") == 1.0
    # only positive scores count as good: an estimate with one positive neuron finds at most one
    assert aq.recall_at_k(-truth.abs(), truth, 2, "good") == 0.0
    assert aq.recall_at_k(estimate, -truth.abs(), 2, "good") is None  # no exact good neuron at all


def test_spearman_is_scipys_and_undefined_on_constants(aq):
    a, b = torch.randn(3, 7), torch.randn(3, 7)
    assert aq.spearman(a, b) == pytest.approx(spearmanr(a.flatten(), b.flatten()).statistic)
    assert aq.spearman(torch.zeros(5), torch.randn(5)) is None
    per_q = aq.per_question_spearman(torch.stack([a[0], a[0], -a[0]]), torch.stack([a[0], a[0], a[0]]))
    assert per_q["median"] == pytest.approx(1.0) and per_q["q25"] == pytest.approx(0.0) and per_q["n"] == 3


def test_order_score_ranks_as_the_baselines_sets(aq):
    primary = torch.tensor([[0.5, 0.0, 0.5, 0.25], [0.0, 1.0, 0.25, 0.0]])
    secondary = torch.tensor([[1.0, 9.0, 2.0, 0.0], [3.0, 0.0, 1.0, 2.0]])
    score = aq.order_score(primary, secondary)
    assert score.flatten().argsort(descending=True)[:5].tolist() == rank_neurons(primary, secondary).tolist()
    assert torch.equal(score > 0, primary > 0)  # a set never holds a neuron its method scored 0


def _run(aq, out, doc, *extra):
    argv = ["--model", "tiny", "--tasks", "tiny", "--n-questions", "4", "--ks", "5", "10"]
    aq.main([*argv, "--out", str(out), "--doc", str(doc), *extra])


def test_end_to_end_on_the_tiny_model(aq, tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Doc\n\nintro\n\n{aq.BEGIN}\nold table\n{aq.END}\n\nafter\n")
    out = tmp_path / "results"
    _run(aq, out, doc)
    row = json.loads((out / "tiny.json").read_text())
    est = row["estimates"]
    assert row["n_questions"] == 12 and row["n_neurons"] == 3 * 48 and list(est) == [e.name for e in aq.ESTIMATES]
    # the truth against itself: rho 1 and every exact extreme found
    assert est["ablation"]["spearman_task"] == pytest.approx(1.0)
    assert est["ablation"]["spearman_question"]["median"] == pytest.approx(1.0)
    assert all(r == 1.0 for r in est["ablation"]["recall"].values())
    # grad x act: computed from the run's tensors, an estimate (not E itself), of the right sign
    tensors = _load(out / "tiny.safetensors")
    rho = spearmanr(tensors["grad_x_act"].flatten(), tensors["truth_effect"].flatten()).statistic
    assert est["grad_x_act"]["spearman_task"] == pytest.approx(rho, abs=1e-6)
    assert 0.5 < rho < 1.0 and not torch.equal(tensors["grad_x_act"], tensors["truth_effect"])
    assert math.isfinite(est["grad_x_act"]["spearman_question"]["median"])
    # unsigned and set-only scores have no bad set; every estimate is timed
    assert est["tn"]["recall"]["bad@5"] is None and est["qrnca"]["spearman_question"] is None
    assert all(m["seconds_per_question"] > 0 for m in est.values())
    text = doc.read_text()
    assert "old table" not in text and "| `grad_x_act` | E |" in text and text.endswith(f"{aq.END}\n\nafter\n")
    assert (out / "tables.md").read_text().strip() in text
    # resumable: a finished task is not measured again; --render alone rewrites the doc from the JSON
    _run(aq, out, doc)
    assert "tiny: done already" in capsys.readouterr().out
    doc.write_text(f"{aq.BEGIN}\n{aq.END}\n")
    _run(aq, out, doc, "--render")
    assert "| `ablation` | E |" in doc.read_text()
    # a second section of the same doc takes another folder's tables, leaving the first as it is
    begin, end = section_markers("all_neurons")
    doc.write_text(f"{aq.BEGIN}\nfirst\n{aq.END}\n{begin}\n{end}\n")
    _run(aq, out, doc, "--render", "--section", "all_neurons")
    assert doc.read_text().startswith(f"{aq.BEGIN}\nfirst\n{aq.END}\n{begin}\n### tiny")


def _load(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_a_neuron_sample_limits_the_ablation_and_the_metrics(aq, tmp_path):
    sample = aq.neuron_sample(3, 48, 40)
    assert torch.equal(sample, aq.neuron_sample(3, 48, 40)) and aq.neuron_sample(3, 48, 144) is None
    flat = sample[:, 0] * 48 + sample[:, 1]
    assert len(set(flat.tolist())) == 40 and flat.tolist() == sorted(flat.tolist()) and int(sample[:, 0].max()) < 3
    out, doc = tmp_path / "results", tmp_path / "doc.md"
    doc.write_text(f"{aq.BEGIN}\n{aq.END}\n")
    _run(aq, out, doc, "--sample-neurons", "40")
    row, tensors = json.loads((out / "tiny.json").read_text()), _load(out / "tiny.safetensors")
    assert row["n_neurons_measured"] == 40 and torch.equal(tensors["sample"], flat)
    outside = torch.ones(144, dtype=torch.bool).index_fill_(0, flat, False)
    assert not tensors["truth_effect"].flatten()[outside].any()  # neurons outside the sample were not ablated
    assert row["estimates"]["ablation"]["spearman_task"] == pytest.approx(1.0)
    rho = spearmanr(tensors["grad_x_act"].flatten()[flat], tensors["truth_effect"].flatten()[flat]).statistic
    assert row["estimates"]["grad_x_act"]["spearman_task"] == pytest.approx(rho, abs=1e-6)
    exact = row["seconds_per_question"]["ablation"] * 144 / 40
    assert row["exact_seconds_per_question_all_neurons"] == pytest.approx(exact)
    assert "| `ablation` | E | ≈" in doc.read_text() and "random sample of 40 neurons" in doc.read_text()


def test_saved_batches_equal_one_pass_and_a_stopped_task_resumes_from_them(aq, tmp_path, capsys):
    one, batched, doc = tmp_path / "one", tmp_path / "batched", tmp_path / "doc.md"
    _run(aq, one, doc, "--batch-size", "8")
    _run(aq, batched, doc, "--batch-size", "1")
    files = sorted((batched / "tiny.batches").glob("*/*.safetensors"))
    assert len([f for f in files if f.parent.name.startswith("ablation-")]) == 4  # one batch per example
    a, b = _load(one / "tiny.safetensors"), _load(batched / "tiny.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    # stopped with one batch left: the saved batches are reused, nothing is measured twice, the result is the same
    (batched / "tiny.json").unlink()
    missing = next(f for f in files if f.parent.name.startswith("ig_m16-") and f.name == "0003.safetensors")
    missing.unlink()
    before = {f: f.stat().st_mtime_ns for f in files if f != missing}
    _run(aq, batched, doc, "--batch-size", "1", "--max-minutes", "0")
    assert "left: tiny. Rerun the same command to continue." in capsys.readouterr().out
    assert not (batched / "tiny.json").exists() and not missing.exists()
    _run(aq, batched, doc, "--batch-size", "1")
    assert missing.exists() and all(f.stat().st_mtime_ns == t for f, t in before.items())
    assert torch.allclose(_load(batched / "tiny.safetensors")["ig_m16"], a["ig_m16"], atol=1e-5)
    assert json.loads((batched / "tiny.json").read_text())["seconds_per_question"]["ig_m16"] > 0


def _attributions(values, example_index):
    from neuronllm_tl.attribution.collect import TaskAttributions

    n = len(example_index)
    return TaskAttributions(values, torch.tensor(example_index), torch.zeros(n), torch.ones(n, dtype=torch.bool))


def test_a_resample_counts_each_draw_as_its_own_example(aq):
    from neuronllm_tl.methods.ablation_oracle import mean_effect

    # example 0 asked twice (its mean is 1), example 1 once (its value is 4)
    attr = _attributions(torch.tensor([0.0, 2.0, 4.0]).view(3, 1, 1), [0, 0, 1])
    drawn = aq.resample(attr, np.array([1, 1, 0]))
    assert drawn.example_index.tolist() == [0, 1, 2, 2] and drawn.attributions.flatten().tolist() == [4, 4, 0, 2]
    assert mean_effect(drawn).item() == pytest.approx((4 + 4 + 1) / 3)  # example 1 weighs twice


def test_standard_errors_over_examples_come_with_the_task_level_values(aq, tmp_path):
    out, doc = tmp_path / "results", tmp_path / "doc.md"
    doc.write_text(f"{aq.BEGIN}\n{aq.END}\n")
    _run(aq, out, doc, "--bootstrap", "50")
    row = json.loads((out / "tiny.json").read_text())
    est = row["estimates"]
    assert row["bootstrap_resamples"] == 50 and "se" not in est["ablation"]  # E against itself: nothing to resample
    se = est["ig_m16"]["se"]["spearman_task"]
    assert 0 < se < 0.5 and all(v is None or v >= 0 for v in est["ig_m16"]["se"].values())
    assert est["tn"]["se"]["bad@5"] is None and est["tn"]["se"]["good@5"] is not None  # no bad side, no error
    assert f"| {est['ig_m16']['spearman_task']:.2f} ± {se:.2f} |" in doc.read_text()
    _run(aq, tmp_path / "none", doc, "--bootstrap", "0")
    assert "se" not in json.loads((tmp_path / "none" / "tiny.json").read_text())["estimates"]["ig_m16"]
    assert aq.with_se(0.5, 0.02) == "0.50 ± 0.02" and aq.with_se(None, 0.1) == "—" and aq.with_se(0.5, None) == "0.50"


def test_shards_share_a_tasks_batches_and_the_last_one_writes_it(aq, tmp_path, capsys):
    one, sharded, doc = tmp_path / "one", tmp_path / "sharded", tmp_path / "doc.md"
    _run(aq, one, doc, "--batch-size", "1", "--bootstrap", "0")
    _run(aq, sharded, doc, "--batch-size", "1", "--bootstrap", "0", "--shard", "0/2")
    assert "shard 0/2 is measured; left to the other shards: ablation, 2 of its 4 batches" in capsys.readouterr().out
    assert not (sharded / "tiny.json").exists()
    ablation = next((sharded / "tiny.batches").glob("ablation-*"))
    assert sorted(f.name for f in ablation.iterdir()) == ["0000.safetensors", "0002.safetensors"]
    _run(aq, sharded, doc, "--batch-size", "1", "--bootstrap", "0", "--shard", "1/2")  # finds shard 0's batches
    a, b = _load(one / "tiny.safetensors"), _load(sharded / "tiny.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    with pytest.raises(SystemExit):
        aq.parse_args(["--shard", "2/2"])
    assert "needs 0 <= I < N" in capsys.readouterr().err
