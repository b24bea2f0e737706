"""Evidence that finishes (issue #24, items 1-3): a time budget, a cost estimate, a folder that travels."""

import dataclasses
import json
import shutil

import pytest

from neuronllm_tl.cli import main
from neuronllm_tl.comparison import run as run_module
from neuronllm_tl.comparison import schedule
from neuronllm_tl.comparison.estimate import estimate_comparison
from neuronllm_tl.comparison.schedule import measured_so_far, run_comparison
from neuronllm_tl.comparison.splits import make_splits
from neuronllm_tl.comparison.store import SPEED_ONLY, ArtefactStore
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.reporting import render_report
from neuronllm_tl.scoring.shared_prompt import PromptCache
from neuronllm_tl.testing import tiny_hf_llama
from tests.integration.test_comparison import QUIET, small, write_tasks


def _fail(*args, **kwargs):
    raise AssertionError("recomputed")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("budget")
    return small(write_tasks(folder), variants=("neuronllm_gxa", "tn", "random"), controls=1, seeds=(0, 1))


@pytest.fixture(scope="module")
def whole(model, config, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out"
    return out, run_comparison(model, config, out=out, **QUIET)


def _table(result):
    return [(r.task, r.variant, r.mode, r.delta_p, r.delta_p_ci, r.random_delta_p_mean) for r in result.rows]


def test_a_stopped_run_and_its_continuation_give_the_uninterrupted_results(model, config, whole, tmp_path):
    out = tmp_path / "out"
    notes = []
    first = run_comparison(model, config, out=out, max_minutes=0.0, log=notes.append)  # stops after one cell
    assert first.progress.done == 1 and first.progress.total == 12 and not first.complete
    assert "1 of 12 cells done; rerun the same command to continue" in (out / "results.md").read_text()
    assert any("left:" in n for n in notes) and len(first.progress.left) == 11
    assert json.loads((out / "progress.json").read_text())["done"] == 1
    page = render_report(out).read_text(encoding="utf-8")
    assert "Partial results: 1 of 12 cells done; rerun the same command to continue" in page
    while not (result := run_comparison(model, config, out=out, max_minutes=0.0, **QUIET)).complete:
        pass
    assert _table(result) == _table(whole[1])
    assert "rerun the same command" not in (out / "results.md").read_text()


def test_past_its_budget_a_run_still_reports_the_cells_a_smaller_grid_measured(model, config, whole, tmp_path):
    out = tmp_path / "out"
    later = dataclasses.replace(config, variants=("random",), seeds=(1,))  # each task's last unit, measured first
    smaller = run_comparison(model, later, out=out, **QUIET)
    first = run_comparison(model, config, out=out, max_minutes=0.0, **QUIET)  # one new unit, then only reuse
    assert first.progress.done == 3 and "random / seed 1" not in " ".join(first.progress.left)
    assert len(first.progress.left) == 9 and json.loads((out / "progress.json").read_text())["done"] == 3
    reused = [r for r in first.rows if r.variant == "random"]
    assert reused and _table_of(reused) == _table_of(smaller.rows)
    assert not any(r.variant == "tn" for r in first.rows)  # a unit not stored adds no row, not even a partial one


def _table_of(rows):
    return [(r.task, r.mode, r.delta_p, r.delta_p_ci) for r in rows]


def test_the_small_part_of_a_folder_travels_and_nothing_is_recomputed(model, config, whole, tmp_path, monkeypatch):
    out, before = whole
    copy = tmp_path / "elsewhere" / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(*SPEED_ONLY))
    assert not any((copy / part).exists() for part in SPEED_ONLY)
    for name in ("measure", "collect_attributions", "identify"):
        monkeypatch.setattr(run_module, name, _fail)
    notes = []
    after = run_comparison(model, config, out=copy, log=notes.append)
    assert _table(after) == _table(before)
    assert not [n for n in notes if "changed since the last run" in n]
    page = render_report(copy).read_text(encoding="utf-8")  # its header from the travelling records alone
    assert "<dt>model</dt>" in page and "<dt>versions</dt>" in page and "neuronllm_tl=" in page


def test_the_estimate_covers_every_task_and_variant_without_running_the_grid(model, config, tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "run_comparison", _fail)
    estimate = estimate_comparison(model, config)
    assert {(c.task, c.variant) for c in estimate.cells} == {(t, v.name) for t, v in config.grid()}
    assert estimate.total_s > 0 and all(c.scoring_s > 0 for c in estimate.cells)
    shared = [c for c in estimate.cells if c.variant == "tn"]
    assert all(c.identify_s > 0 for c in shared)
    assert "Expected total" in estimate.to_markdown()


def test_a_run_reports_its_own_compute_time_in_the_estimates_shape(model, config, whole, tmp_path):
    out, result = whole
    cost = result.cost
    assert cost is not None and cost.measured
    assert {(c.task, c.variant) for c in cost.cells} == {(t, v.name) for t, v in config.grid()}
    cells = json.loads("[" + ",".join((out / "cells.jsonl").read_text().splitlines()) + "]")
    assert cost.total_s == pytest.approx(
        sum(c["measurement"]["seconds"] for c in cells)
        + sum(json.loads(line)["metadata"]["selection_seconds"] for line in (out / "neuron_sets.jsonl").open())
    )  # every cell and neuron set once: a rerun reads the same seconds back
    assert all(c.identify_s > 0 for c in cost.cells if c.variant != "random") and set(cost.unsteered_s) == set(
        config.tasks
    )
    assert "## Compute time" in result.markdown and "Measured total" in result.markdown
    assert measured_so_far(model, config, out=out).total_s == pytest.approx(cost.total_s)  # read back, same


def test_the_compute_time_counts_every_read_out_of_a_split(model, config, tmp_path):
    """The permutations sweep asks the same held-out split in letter format: its unsteered scoring is another
    cell of the same task and seed, and both count."""
    letters = dataclasses.replace(config, variants=("random",), sweeps=("permutations",), seeds=(0,))
    result = run_comparison(model, letters, out=tmp_path / "o", **QUIET)
    cells = [json.loads(line) for line in (tmp_path / "o" / "cells.jsonl").open()]
    unsteered = [c["measurement"]["seconds"] for c in cells if c["kind"] == "unsteered"]
    assert len(unsteered) == 3  # both tasks in cloze, and the swept one in letters too
    assert sum(result.cost.unsteered_s.values()) == pytest.approx(sum(unsteered))


def test_the_command_line_stops_at_its_budget_and_estimates(tmp_path, capsys):
    a, b = write_tasks(tmp_path)
    common = ["compare", "--model", "tiny-random", "--tasks", a, b, "--variants", "tn", "random", "--k", "4",
              "--n-identify", "4", "--n-eval", "4", "--controls", "1", "--seeds", "0", "--no-report"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "o"), "--max-minutes", "0"]) == 0
    assert "1 of 4 cells done; rerun the same command to continue" in capsys.readouterr().out
    files = {f.name: f.read_bytes() for f in (tmp_path / "o").iterdir() if f.is_file()}
    assert main([*common, "--out", str(tmp_path / "o"), "--estimate"]) == 0
    assert {f.name: f.read_bytes() for f in (tmp_path / "o").iterdir() if f.is_file()} == files  # read only
    printed = capsys.readouterr().out
    assert "Expected total" in printed and "| expected, units done | measured | measured / expected |" in printed
    lines = printed.split("measured / expected |")[1].splitlines()
    beside = {line.split(" | ")[0].strip("| "): line for line in lines}  # by task (its file, as given)
    assert beside[b].endswith("| – | – | – |")  # the second task: nothing done
    assert beside[a].count(" min") == 3 and not beside[a].endswith("| – |")  # its first unit: done and timed
    assert main([*common, "--out", str(tmp_path / "fresh"), "--estimate"]) == 0
    assert "measured / expected" not in capsys.readouterr().out  # nothing measured yet: the estimate alone


def test_shards_run_in_their_own_folders_merge_into_the_whole_grid(model, config, whole, tmp_path, monkeypatch):
    """Shards of one grid (here one variant each, same tasks) run elsewhere merge into the uninterrupted result."""
    shards = [tmp_path / f"shard-{v}" for v in config.variants]
    for variant, folder in zip(config.variants, shards, strict=True):
        run_comparison(model, dataclasses.replace(config, variants=(variant,)), out=folder, **QUIET)
    for name in ("measure", "collect_attributions", "identify"):
        monkeypatch.setattr(run_module, name, _fail)
    notes = []
    merged = run_comparison(model, config, out=tmp_path / "merged", merge_from=shards, log=notes.append)
    assert merged.complete and _table(merged) == _table(whole[1])
    assert sum("merged" in n for n in notes) == 3 and not [n for n in notes if "changed since the last run" in n]
    again = ArtefactStore(tmp_path / "merged", log=notes.append).merge(shards[0])
    assert again == {"cells": 0, "neuron sets": 0, "files": 0}  # what a folder holds already is kept, not doubled
    with pytest.raises(ValueError, match="give the --out folder of a compare run"):
        ArtefactStore(tmp_path / "merged").merge(tmp_path)


def test_the_command_line_merges_a_shard_first(tmp_path, capsys):
    a, b = write_tasks(tmp_path)
    common = ["compare", "--model", "tiny-random", "--tasks", a, b, "--k", "4", "--n-identify", "4", "--n-eval", "4",
              "--controls", "1", "--seeds", "0", "--no-report"]  # fmt: skip
    assert main([*common, "--variants", "random", "--out", str(tmp_path / "shard")]) == 0
    assert main([*common, "--variants", "tn", "random", "--out", str(tmp_path / "o"), "--max-minutes", "0",
                 "--merge-from", str(tmp_path / "shard")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"merged {tmp_path / 'shard'}" in out and "3 of 4 cells done" in out  # one tn unit, then the shard's


def test_report_only_computes_nothing_and_reports_what_the_folder_holds(model, config, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    run_comparison(model, dataclasses.replace(config, variants=("random",)), out=out, **QUIET)
    for name in ("measure", "collect_attributions", "identify"):
        monkeypatch.setattr(run_module, name, _fail)
    result = run_comparison(model, config, out=out, report_only=True)
    assert result.progress.done == 4 and len(result.progress.left) == 8 and not result.complete
    assert {r.variant for r in result.rows} == {"random"}
    assert "Report only: 4 of 12 cells done" in capsys.readouterr().out
    assert "4 of 12 cells done" in (out / "results.md").read_text()


def test_units_go_split_seed_by_seed_so_the_prompt_cache_keeps_their_splits(tmp_path, monkeypatch):
    model = tiny_hf_llama(str(tmp_path / "llama"), n_layers=2)  # a model that returns a cache: prompts are shared
    a, b = write_tasks(tmp_path)
    config = small((a, b), variants=("neuronllm_gxa", "random"), controls=1, seeds=(0, 1, 2))
    one_split = PromptCache()
    score_task(model, make_splits(config, a, "cloze", 3, seed=0).evaluate, prompt_cache=one_split, batch_size=8)
    capacity = int(2.5 * sum(size for _, size in one_split._entries.values()))  # a target and an unrelated split
    runs = []

    class SmallCache(run_module.ComparisonRun):
        def __post_init__(self):
            super().__post_init__()
            self.prompt_cache = PromptCache(max_bytes=capacity)
            runs.append(self)

    monkeypatch.setattr(schedule, "ComparisonRun", SmallCache)
    run_comparison(model, config, out=tmp_path / "out", **QUIET)
    units = [tuple(name.split(" / ")[:3]) for name in runs[0].cells if name.startswith(f"{a} / ")]
    assert list(dict.fromkeys(units)) == [(a, f"seed {s}", v) for s in range(3) for v in ("neuronllm_gxa", "random")]
    # each task's block computes each seed's two splits (its own and the unrelated task's) once: 2 x 2 x 3; variant
    # by variant, the seeds took turns and every unit missed both (24 here)
    assert runs[0].prompt_cache.misses == 2 * 2 * 3
