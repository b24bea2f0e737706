"""The comparison protocol: metrics from cells, the grid end to end on a tiny model, and resuming."""

import json
import math

import pytest

import neuronllm_tl.comparison.protocol as protocol
from neuronllm_tl.comparison.protocol import CompareConfig, run_comparison
from neuronllm_tl.comparison.report import rows_from_cells
from neuronllm_tl.testing import tiny_task


def load(name, answer_format, n_permutations):
    order = list(range(12)) if name == "a" else list(range(11, -1, -1))
    return tiny_task(answer_format, n_permutations=n_permutations).subset(order, name=name)


SMALL = dict(tasks=("a", "b"), k=4, n_identify=4, n_eval=4, controls=2, ig_steps=2)


def cell(neurons, p_after, acc_after=0.5, eval="target", seed=None, mode="degrade"):
    return {"key": f"{neurons}{eval}{seed}{mode}", "kind": "steer", "task": "t", "group": "main", "variant": "v",
            "method": "neuronllm", "mode": mode, "neurons": neurons, "seed": seed, "eval": eval,
            "eval_task": "u:evaluate" if eval == "unrelated" else "t:evaluate", "n_good": 3, "n_bad": 3, "n_steered": 6,
            "accuracy_before": 0.8, "accuracy_after": acc_after, "p_before": 0.6, "p_after": p_after}


def test_metrics_are_signed_and_relative():
    cells = [cell("identified", 0.3), cell("random", 0.58, seed=0), cell("random", 0.62, seed=1),
             cell("identified", 0.55, eval="unrelated")]
    (row,) = rows_from_cells(cells)
    assert row.delta_p == pytest.approx(-0.3) and row.delta_accuracy == pytest.approx(-0.3)
    assert row.rac == pytest.approx(-0.3 / 0.8) and row.rcc == pytest.approx(-0.5)
    assert row.random_delta_p_mean == pytest.approx(0.0, abs=1e-12)
    assert row.random_delta_p_sd == pytest.approx(math.sqrt(2 * 0.02**2))
    assert row.beyond_random == pytest.approx(-0.3 / math.sqrt(2 * 0.02**2))
    assert row.as_expected  # degrade should lower p(correct), by more than 2 control sds here
    assert row.unrelated_task == "u" and row.unrelated_delta_p == pytest.approx(-0.05)
    assert row.pcr == pytest.approx(6.0)


def test_an_effect_in_the_wrong_direction_is_not_counted():
    cells = [cell("identified", 0.9), cell("random", 0.58, seed=0), cell("random", 0.62, seed=1)]
    (row,) = rows_from_cells(cells)
    assert row.beyond_random > 2 and not row.as_expected


def test_config_round_trips_and_refuses_bad_values():
    config = CompareConfig(**SMALL, ablations=("k",), unrelated={"a": "b", "b": "a"})
    assert CompareConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown variant"):
        CompareConfig(variants=("neuronllm", "qr"))
    with pytest.raises(ValueError, match="its own unrelated task"):
        CompareConfig(tasks=("a",), unrelated={"a": "a"})
    with pytest.raises(ValueError, match="tasks is empty"):
        CompareConfig(tasks=())


@pytest.fixture(scope="module")
def grid(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    config = CompareConfig(**SMALL, ablations=("objective", "k"))
    result = run_comparison(model, config, out=out, load_task=load, log=lambda s: None)
    return out, config, result


def test_grid_runs_every_method_and_writes_its_outputs(grid):
    out, config, result = grid
    for name in ("results.md", "results.csv", "delta_p.png", "ablation_k.png", "cells.jsonl", "config.json"):
        assert (out / name).is_file(), name
    main = {(r.task, r.variant, r.mode) for r in result.rows if r.group == "main"}
    for task in ("a", "b"):
        for variant in ("qrnca", "knowledge_neurons", "tn", "lape", "random"):
            assert (task, variant, "silence_good") in main
        for mode in protocol.ALL_MODES:
            assert (task, "neuronllm", mode) in main
    for r in result.rows:
        if r.group == "main" and r.variant != "random":
            assert r.random_n == 2 and r.unrelated_task == ("b" if r.task == "a" else "a")
        if r.mode in ("excite_good", "silence_good"):
            assert r.n_steered <= config.k  # every method steers at most K good neurons
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header.startswith("task,group,variant,method,mode,n_steered")
    assert "## Ablation: objective" in result.markdown and "objective=margin" in result.markdown


def test_a_rerun_recomputes_nothing(grid, model, monkeypatch):
    out, config, _ = grid

    def fail(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(protocol, "score_task", fail)
    monkeypatch.setattr(protocol, "collect_attributions", fail)
    monkeypatch.setattr(protocol, "identify_baseline", fail)
    run_comparison(model, config, out=out, load_task=load, log=lambda s: None)


def test_a_cell_cut_by_a_crash_is_recomputed_alone(grid, model, monkeypatch):
    out, config, _ = grid
    path = out / "cells.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # half-written last line
    calls = []
    real = protocol.score_task

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(protocol, "score_task", counting)
    run_comparison(model, config, out=out, load_task=load, log=lambda s: None)
    assert len(calls) == 1


def test_lape_is_skipped_with_a_note_when_there_is_no_other_task(model, tmp_path):
    notes = []
    config = CompareConfig(tasks=("a",), variants=("lape", "tn"), k=4, n_identify=4, n_eval=4, controls=1)
    result = run_comparison(model, config, out=tmp_path, load_task=load, log=notes.append)
    assert any("lape needs at least two tasks" in n for n in notes)
    assert {r.variant for r in result.rows} == {"tn"}


def test_compare_command_runs_offline_and_resumes(tmp_path, capsys):
    from neuronllm_tl.cli import main
    from neuronllm_tl.testing import tiny_examples

    paths = []
    for name, rows in (("first", tiny_examples()), ("second", tiny_examples()[::-1])):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows))
        paths.append(str(path))
    args = ["compare", "--model", "tiny-random", "--tasks", *paths, "--variants", "neuronllm_gxa", "tn", "random",
            "--ablations", "k", "--k", "4", "--n-identify", "3", "--n-eval", "3", "--controls", "1", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "## first.jsonl" in first and "neuronllm_gxa | silence_good" in first
    n_cells = len((tmp_path / "out" / "cells.jsonl").read_text().splitlines())
    assert main(args) == 0
    assert len((tmp_path / "out" / "cells.jsonl").read_text().splitlines()) == n_cells
