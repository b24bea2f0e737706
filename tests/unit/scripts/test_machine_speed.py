"""scripts/machine_speed.py: a grid's unsteered cells rerun here, beside the seconds the grid recorded."""

import dataclasses
import json

import pytest

from neuronllm_tl.comparison import run as run_module
from neuronllm_tl.comparison.schedule import run_comparison
from neuronllm_tl.comparison.splits import make_splits
from neuronllm_tl.testing import tiny_model
from tests.integration.test_comparison import QUIET, small, write_tasks
from tests.unit.scripts.conftest import loaded_script


@pytest.fixture(scope="module")
def speed():
    with loaded_script("machine_speed") as module:
        yield module


def _marked(task):
    """Seconds that name the held-out split they were recorded for."""
    return 100.0 + int(task.fingerprint()[:4], 16) % 900


def _grid(tmp_path, monkeypatch, tasks, **kw):
    real = run_module.measure

    def marking(model, task, steering, **options):
        m = real(model, task, steering, **options)
        return m if steering is not None else dataclasses.replace(m, seconds=_marked(task))

    config = small(tasks, variants=("random",), **kw)
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "measure", marking)
        run_comparison(tiny_model(), config, out=tmp_path / "out", **QUIET)
    return config


def _rows(out):
    return [line.split(" | ") for line in out.splitlines() if line.startswith("| ")][1:]  # the header out


def test_each_tasks_unsteered_cell_is_found_by_its_split_and_set_beside_its_recorded_seconds(
    speed, tmp_path, monkeypatch, capsys
):
    """Stored cells carry no split seed of their own: seed 1's cell is the one keyed by seed 1's split."""
    tasks = write_tasks(tmp_path)
    config = _grid(tmp_path, monkeypatch, tasks, seeds=(0, 1))
    speed.main(["--out", str(tmp_path / "out"), "--seed", "1", "--model", "tiny-random"])
    rows = _rows(capsys.readouterr().out)
    assert [r[0].removeprefix("| ") for r in rows] == [*tasks, "all"]
    recorded = [_marked(make_splits(config, t, config.answer_format, config.n_permutations, seed=1).evaluate)
                for t in tasks]  # fmt: skip
    assert recorded != [_marked(make_splits(config, t, "cloze", 3, seed=0).evaluate) for t in tasks]
    for row, then in zip(rows[:-1], recorded, strict=True):  # (the tiny model's time now is ~0: no ratio check)
        assert row[1] == f"{then:.1f} s" and float(row[3].removesuffix(" |")) > 0
    assert rows[-1][1] == f"{sum(recorded):.1f} s"


def test_a_task_the_grid_has_not_scored_is_said_not_guessed(speed, tmp_path, monkeypatch, capsys):
    tasks = write_tasks(tmp_path)
    _grid(tmp_path, monkeypatch, tasks[:1])
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    (tmp_path / "out" / "config.json").write_text(json.dumps({**config, "tasks": list(tasks)}))
    speed.main(["--out", str(tmp_path / "out"), "--model", "tiny-random"])
    assert (
        f"| {tasks[1]} | not stored (for this model, version and split, with per-example values) | – | – |"
        in capsys.readouterr().out
    )
