"""The comparison grid end to end on a tiny model: every method, resuming, and never reusing a stale result."""

import csv
import json
import shutil

import pytest

from neuronllm_tl.comparison import run as run_module
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.variants import ALL_MODES
from neuronllm_tl.comparison.intervals import CI_COLUMNS
from neuronllm_tl.comparison.schedule import run_comparison
from neuronllm_tl.comparison.splits import make_splits
from neuronllm_tl.comparison.store import _read_jsonl
from neuronllm_tl.evaluation.measurement import SteeringMeasurement
from neuronllm_tl.tasks.identity import example_ids
from neuronllm_tl.testing import tiny_examples

QUIET = dict(log=lambda s: None)


def write_tasks(folder, rows_a=None):
    """Two tiny .jsonl tasks (the second reversed), as a user's files."""
    a, b = folder / "a.jsonl", folder / "b.jsonl"
    a.write_text("\n".join(json.dumps(r) for r in (rows_a or tiny_examples())))
    b.write_text("\n".join(json.dumps(r) for r in tiny_examples()[::-1]))
    return str(a), str(b)


def small(tasks, **kw):
    """A small grid on one split seed (the module's ``grid`` runs two)."""
    return CompareConfig(tasks=tasks, **{**dict(k=4, n_identify=4, n_eval=4, controls=2, ig_steps=2, seeds=(0,)), **kw})


@pytest.fixture(scope="module")
def grid(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    config = small(write_tasks(folder), sweeps=("objective", "k"), seeds=(0, 1))
    result = run_comparison(model, config, out=folder / "out", **QUIET)
    return folder / "out", config, result


def test_grid_runs_every_method_and_writes_its_outputs(grid):
    out, config, result = grid
    for name in ("results.md", "results.csv", "pairwise.csv", "delta_p.png", "sweep_k.png", "cells.jsonl",
                 "config.json"):
        assert (out / name).is_file(), name
    a, b = config.tasks
    main = {(r.task, r.variant, r.mode) for r in result.rows if r.group == "main"}
    for task in (a, b):
        for variant in ("qrnca", "knowledge_neurons", "tn", "lape", "random"):
            assert (task, variant, "silence_good") in main
        for mode in ALL_MODES:
            assert (task, "neuronllm_ig", mode) in main
    for r in result.rows:
        if r.group == "main" and r.variant != "random":
            assert r.random_n == 2 * len(config.seeds)  # every control of every split seed
            assert r.unrelated_task == (b if r.task == a else a).rsplit("/", 1)[-1].removesuffix(".jsonl")
        if r.mode in ("excite_good", "silence_good"):
            assert r.n_steered <= config.k  # every method steers at most K good neurons
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header.startswith("task,group,variant,method,mode,n_steered")
    assert "## Sweep: objective" in result.markdown and "objective=margin" in result.markdown


def _fail(*args, **kwargs):
    raise AssertionError("a finished result was recomputed")


def test_a_rerun_recomputes_nothing(grid, model, monkeypatch):
    out, config, before = grid
    for name in ("measure", "collect_attributions", "identify"):
        monkeypatch.setattr(run_module, name, _fail)
    notes = []
    after = run_comparison(model, config, out=out, log=notes.append)
    assert after.markdown == before.markdown
    assert not [n for n in notes if "changed since the last run" in n]  # manifest names carry the split seed


def test_a_cell_cut_by_a_crash_is_recomputed_alone(grid, model, monkeypatch):
    out, config, _ = grid
    path = out / "cells.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # half-written last line
    calls = []
    real = run_module.measure

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "measure", counting)
    run_comparison(model, config, out=out, **QUIET)
    assert len(calls) == 1


def test_flipped_answers_are_recomputed_and_said(model, tmp_path):
    """The stale-result defect: same --out, task file changed: nothing of the old task may be reused."""
    config = small(write_tasks(tmp_path), variants=("neuronllm_gxa", "tn"), controls=1)
    before = run_comparison(model, config, out=tmp_path / "out", **QUIET)
    flipped = [{**r, "answer": (r["answer"] + 1) % len(r["options"])} for r in tiny_examples()]
    write_tasks(tmp_path, rows_a=flipped)
    notes = []
    after = run_comparison(model, config, out=tmp_path / "out", log=notes.append)
    a = config.tasks[0].rsplit("/", 1)[-1].removesuffix(".jsonl")

    def rows(result, task):
        return {(r.variant, r.mode): (r.p_before, r.p_after) for r in result.rows if r.task.endswith(task)}

    assert rows(after, "a.jsonl") != rows(before, "a.jsonl")
    assert all(b[0] != a_[0] for b, a_ in zip(rows(before, "a.jsonl").values(), rows(after, "a.jsonl").values()))
    assert any("task changed since the last run; recomputing" in n and a in n for n in notes)
    b_rows = rows(before, "b.jsonl")
    assert {k: v for k, v in rows(after, "b.jsonl").items() if k in b_rows} == b_rows


def test_lape_is_skipped_with_a_note_when_there_is_no_other_task(model, tmp_path):
    notes = []
    config = small(write_tasks(tmp_path)[:1], variants=("lape", "tn"), controls=1)
    result = run_comparison(model, config, out=tmp_path / "out", log=notes.append)
    assert any("need at least two tasks" in n for n in notes)
    assert {r.variant for r in result.rows} == {"tn"}


def test_compare_command_runs_offline_and_resumes(tmp_path, capsys):
    from neuronllm_tl.cli import main

    paths = write_tasks(tmp_path)
    args = ["compare", "--model", "tiny-random", "--tasks", *paths, "--variants", "neuronllm_gxa", "tn", "random",
            "--sweeps", "k", "--k", "4", "--n-identify", "3", "--n-eval", "3", "--controls", "1",
            "--seeds", "0", "1", "--shots", f"{paths[0]}=1", "--task-option", f"{paths[1]}:cloze_normalization=mean",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "## a\n" in first and "neuronllm_gxa | silence_good" in first
    report = (tmp_path / "out" / "report.html").read_text()
    assert "a: methods" in report and "Sweep: k" in report and "<dt>model fingerprint</dt>" in report
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["shots"] == {paths[0]: 1}
    assert saved["task_options"] == {paths[1]: {"cloze_normalization": "mean"}}
    assert "## Who beats whom" in first and (tmp_path / "out" / "pairwise.csv").is_file()
    n_cells = len((tmp_path / "out" / "cells.jsonl").read_text().splitlines())
    assert main(args) == 0
    assert len((tmp_path / "out" / "cells.jsonl").read_text().splitlines()) == n_cells


def test_two_names_for_the_same_content_each_get_their_rows(model, tmp_path):
    a, _ = write_tasks(tmp_path)
    copy = tmp_path / "c.jsonl"
    copy.write_text(open(a).read())
    config = small((a, str(copy)), variants=("neuronllm_gxa",), controls=1, unrelated={})
    result = run_comparison(model, config, out=tmp_path / "out", **QUIET)
    by_task = {t: {(r.mode, r.delta_p) for r in result.rows if r.task == t} for t in config.tasks}
    assert by_task[a] and by_task[a] == by_task[str(copy)]


def test_rows_carry_paired_intervals_from_the_cells_per_example_values(grid):
    out, config, result = grid
    main = [r for r in result.rows if r.group == "main"]
    assert main and all(r.delta_p_ci is not None and r.delta_accuracy_ci is not None for r in main)
    distinct = _held_out(config)
    assert config.n_eval < distinct < len(config.seeds) * config.n_eval  # the seeds' held-out splits overlap
    for r in main:
        # over the distinct held-out examples of both seeds, each counted once (averaged over its seeds)
        assert r.delta_p_ci.n == distinct and r.delta_p_ci.low <= r.delta_p_ci.high
    assert "| Δ p (mean ± sd) | Δ p per seed | Δ p 95% CI | RCC |" in result.markdown
    assert f"| {main[0].delta_p_ci.bounds('+.4f')} |" in result.markdown
    header = (out / "results.csv").read_text().splitlines()[0]
    assert "pcr,delta_accuracy_ci_low,delta_accuracy_ci_high,delta_p_ci_low,delta_p_ci_high" in header
    first = next(csv.DictReader(open(out / "results.csv")))
    assert first["delta_p_ci_high"] != "" and first["seeds"] == "0;1"


def _held_out(config):
    """The distinct held-out examples of the first task over every seed."""
    names = set()
    for seed in config.seeds:
        splits = make_splits(config, config.tasks[0], config.answer_format, config.n_permutations, seed=seed)
        assert len(splits.evaluate) == config.n_eval
        names |= set(example_ids(splits.evaluate))
    return len(names)


def _legacy(cell):
    """A cell as an earlier version wrote it: flat, without per-example values."""
    m = cell["measurement"]
    if cell["kind"] == "unsteered":
        flat = {"accuracy": m["accuracy"], "p_correct": m["p"]}
    else:
        flat = {k: m[k] for k in ("accuracy_before", "accuracy_after", "p_before", "p_after")}
    return {"key": cell["key"], "kind": cell["kind"], "eval_task": cell["eval_task"], **flat, "seconds": m["seconds"]}


def test_cells_without_example_names_get_them_from_the_split_and_are_not_recomputed(grid, model, tmp_path, monkeypatch):
    out, config, before = grid
    old = tmp_path / "unnamed"
    shutil.copytree(out, old)
    cells = _read_jsonl(old / "cells.jsonl")
    for c in cells:
        c["measurement"]["per_example"]["example"] = None
    (old / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    for name in ("measure", "collect_attributions", "identify"):
        monkeypatch.setattr(run_module, name, _fail)
    after = run_comparison(model, config, out=old, **QUIET)
    assert [(r.variant, r.mode, r.delta_p_ci) for r in after.rows] == [(r.variant, r.mode, r.delta_p_ci) for r in before.rows]
    assert [p.row() for p in after.pairs] == [p.row() for p in before.pairs]


def test_cells_from_an_earlier_version_load_without_intervals(grid, model, tmp_path, monkeypatch):
    out, config, before = grid
    old = tmp_path / "old"
    shutil.copytree(out, old)
    (old / "cells.jsonl").unlink()
    with monkeypatch.context() as m:  # an earlier version stored each steered cell's before and after
        m.setattr(SteeringMeasurement, "final", lambda self: self)
        run_comparison(model, config, out=old, **QUIET)
    cells = _read_jsonl(old / "cells.jsonl")
    (old / "cells.jsonl").write_text("".join(json.dumps(_legacy(c)) + "\n" for c in cells))
    for name in ("measure", "collect_attributions", "identify"):
        monkeypatch.setattr(run_module, name, _fail)  # nothing is rescored: old cells are reused as they are
    after = run_comparison(model, config, out=old, **QUIET)
    assert all(r.delta_p_ci is None and r.delta_accuracy_ci is None for r in after.rows)
    assert [(r.variant, r.mode, r.delta_p) for r in after.rows] == [(r.variant, r.mode, r.delta_p) for r in before.rows]
    assert "| – | " in after.markdown.split("## ")[2]
    first = next(csv.DictReader(open(old / "results.csv")))
    assert [first[c] for c in CI_COLUMNS] == ["", "", "", ""] and first["seeds"] == "0;1"
    assert not after.pairs and "Who beats whom" not in after.markdown  # no per-example values to pair
    monkeypatch.undo()  # a new cell over an old folder: its unsteered cell is rescored for the per-example values
    more = run_comparison(model, small(config.tasks, variants=("random",), k=3, controls=1), out=old, **QUIET)
    assert all(r.delta_p_ci is not None for r in more.rows)


def test_formats_of_one_task_are_not_reported_as_changes(model, tmp_path):
    """The permutations ablation asks the same split in letter format: not a change of the task."""
    notes = []
    config = small(write_tasks(tmp_path)[:1], variants=("tn",), sweeps=("permutations",), controls=1)
    run_comparison(model, config, out=tmp_path / "out", log=notes.append)
    assert not [n for n in notes if "changed since the last run" in n]


def test_every_seed_has_its_own_split_neurons_and_cells(grid):
    out, config, result = grid
    steer = [c for c in _read_jsonl(out / "cells.jsonl") if c.get("kind") == "steer"]
    rows = [r for r in result.rows if r.variant == "neuronllm_ig" and r.mode == "degrade"]
    row = next(r for r in rows if r.task == config.tasks[0])
    assert row.seeds == (0, 1) and len(row.delta_p_per_seed) == 2
    assert row.delta_p == pytest.approx(sum(row.delta_p_per_seed) / 2)
    assert row.delta_p_sd == pytest.approx(abs(row.delta_p_per_seed[0] - row.delta_p_per_seed[1]) / 2**0.5)
    assert len(list((out / "neurons").glob("*a.jsonl-neuronllm_ig-*"))) == 2  # one neuron set per seed
    assert len({c["key"] for c in steer}) == len(steer)
    pairs = {(p.task, p.mode, p.a, p.b) for p in result.pairs}
    assert (config.tasks[0], "silence_good", "neuronllm_ig", "neuronllm_gxa") in pairs
    distinct = _held_out(config)
    first = [p for p in result.pairs if p.task == config.tasks[0]]
    assert first and all(p.seeds == (0, 1) and p.difference.interval.n == distinct for p in first)


def test_task_settings_change_the_cells_and_are_said(model, tmp_path):
    a, b = write_tasks(tmp_path)
    config = small((a, b), variants=("tn",), controls=1, seeds=(0, 1))
    before = run_comparison(model, config, out=tmp_path / "out", **QUIET)
    notes = []
    options = dict(shots={a: 1}, task_options={a: {"cloze_normalization": "mean"}})
    after = run_comparison(model, small((a, b), variants=("tn",), controls=1, seeds=(0, 1), **options),
                           out=tmp_path / "out", log=notes.append)  # fmt: skip
    changed = [n.strip() for n in notes if "task changed since the last run" in n]
    assert any(n.startswith(f"{a} / seed 1 / tn: task changed") for n in changed)  # a's neurons, per seed
    assert any(n.startswith("a:evaluate [seed 0, cloze") and "/ unsteered" in n for n in changed)
    assert not [n for n in changed if n.startswith((f"{b} / seed 0 / tn:", "b:"))]  # b's own splits did not change

    def rows(result, task):
        return {(r.mode, r.delta_p_per_seed) for r in result.rows if r.task == task}

    assert rows(after, a) != rows(before, a) and rows(after, b) == rows(before, b)
