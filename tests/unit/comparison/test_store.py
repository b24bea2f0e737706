"""The content-keyed store: a key changes exactly when a part changes, and the change is said."""

from neuronllm_tl.comparison.store import CELLS_FILE, ArtefactStore


def test_keys_follow_content_and_changes_are_logged(tmp_path):
    notes = []
    store = ArtefactStore(tmp_path, notes.append)
    k1 = store.key("t / m", {"model": "w1", "task": "q1", "config": {"z": 1}})
    assert store.key("t / m", {"model": "w1", "task": "q1", "config": {"z": 1}}) == k1 and notes == []
    k2 = store.key("t / m", {"model": "w1", "task": "q2", "config": {"z": 1}})
    assert k2 != k1 and notes == ["  t / m: task changed since the last run; recomputing"]
    reopened = ArtefactStore(tmp_path, notes.append)  # the manifest survives the process
    assert reopened.key("t / m", {"model": "w2", "task": "q2", "config": {"z": 2}}) not in (k1, k2)
    assert notes[-1] == "  t / m: config, model changed since the last run; recomputing"


def test_cells_survive_a_cut_line(tmp_path):
    store = ArtefactStore(tmp_path)
    store.record({"key": "a", "x": 1})
    (tmp_path / CELLS_FILE).write_text((tmp_path / CELLS_FILE).read_text() + '{"key": "b", "x"')
    store = ArtefactStore(tmp_path)
    store.record({"key": "c", "x": 3})
    assert set(ArtefactStore(tmp_path).cells) == {"a", "c"}
