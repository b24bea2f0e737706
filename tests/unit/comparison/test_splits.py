"""Per-seed splits, and the task settings (load_task options, k-shot demonstrations) passed through to them."""

import json

import pytest

from neuronllm_tl.comparison import splits as splits_module
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.splits import make_splits
from neuronllm_tl.testing import tiny_examples


class FakeTask:
    """Records what the comparison asks of a task."""

    def __init__(self, calls):
        self.calls, self.name = calls, "fake"

    def __len__(self):
        return 12

    def subset(self, indices):
        self.calls.append(("subset", list(indices)))
        return self

    def split(self, fraction, **kwargs):
        self.calls.append(("split", fraction, kwargs))
        return "identify", "evaluate"


@pytest.fixture
def fake_load(monkeypatch):
    calls = []

    def load_task(task, **kwargs):
        calls.append(("load", task, kwargs))
        return FakeTask(calls)

    monkeypatch.setattr(splits_module, "load_task", load_task)
    return calls


def test_task_options_and_shots_reach_load_task_and_split(fake_load):
    config = CompareConfig(
        tasks=("sst2", "b"),
        n_identify=6,
        n_eval=2,
        task_options={"sst2": {"calibration": "contextual", "cloze_normalization": "char"}},
        shots={"sst2": 4},
        data_files={"sst2": "dev.tsv"},
    )
    s = make_splits(config, "sst2", "cloze", 3, seed=2)
    assert (s.identify, s.evaluate, s.seed) == ("identify", "evaluate", 2)
    load, subset, split = fake_load
    assert load == ("load", "sst2", dict(data_files="dev.tsv", answer_format="cloze", n_permutations=3, seed=0,
                                         calibration="contextual", cloze_normalization="char"))  # fmt: skip
    assert subset == ("subset", list(range(8))) and split == ("split", 0.75, {"seed": 2, "shots": 4})
    fake_load.clear()
    make_splits(config, "b", "letter", 1, seed=0)  # no options, no shots
    assert fake_load[0][2] == dict(data_files=None, answer_format="letter", n_permutations=1, seed=0)
    assert fake_load[2] == ("split", 0.75, {"seed": 0, "shots": 0})


def write_task(folder):
    path = folder / "a.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_examples()))
    return str(path)


def test_real_splits_differ_by_seed_and_carry_the_settings(tmp_path):
    a = write_task(tmp_path)
    config = CompareConfig(
        tasks=(a,),
        n_identify=6,
        n_eval=6,
        seeds=(0, 1),
        task_options={a: {"cloze_normalization": "mean"}},
        shots={a: 2},
    )
    s0, s1 = (make_splits(config, a, "cloze", 3, seed=s) for s in (0, 1))
    for s in (s0, s1):
        assert len(s.identify) == 4 and len(s.evaluate) == 6  # the 2 demonstrations leave the identification part
        assert len(s.identify.demonstrations) == 2 and s.evaluate.demonstrations == s.identify.demonstrations
        assert s.identify.cloze_normalization == s.evaluate.cloze_normalization == "mean"
        shown = {d.question for d in s.identify.demonstrations}
        asked = {e.question for e in (*s.identify.examples, *s.evaluate.examples)}
        assert not shown & asked
    assert {e.question for e in s0.evaluate.examples} != {e.question for e in s1.evaluate.examples}
    assert s0.evaluate.fingerprint() != s1.evaluate.fingerprint()  # so each seed gets its own stored cells
