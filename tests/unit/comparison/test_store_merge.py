"""Merging a shard's run folder: the shard's last word on a key counts, and only what it finished is copied."""

import json

from neuronllm_tl.comparison.store import CELLS_FILE, MANIFEST_FILE, NEURON_SETS_FILE, ArtefactStore


def _lines(path, *entries, cut=""):
    path.write_text("".join(json.dumps(e) + "\n" for e in entries) + cut)


def test_the_shards_last_line_for_a_key_is_merged_and_a_cut_line_is_not(tmp_path):
    shard = tmp_path / "shard"
    shard.mkdir()
    _lines(shard / CELLS_FILE, {"key": "k", "kind": "unsteered", "v": "stale"},
           {"key": "k", "kind": "unsteered", "v": "rescored"}, cut='{"key": "half')  # fmt: skip
    _lines(shard / MANIFEST_FILE, {"name": "a / unsteered", "parts": {"task": "old"}},
           {"name": "a / unsteered", "parts": {"task": "new"}})  # fmt: skip
    _lines(shard / NEURON_SETS_FILE, {"key": "n", "good": [[0, 1]]})
    whole = ArtefactStore(tmp_path / "whole", log=lambda _: None)
    assert whole.merge(shard) == {"cells": 1, "neuron sets": 1, "files": 0}
    again = ArtefactStore(tmp_path / "whole", log=lambda _: None)  # as a later run reads the merged folder
    assert again.cells["k"]["v"] == "rescored" and again._parts["a / unsteered"] == {"task": "new"}
    assert again.neuron_sets["n"]["good"] == [[0, 1]] and "half" not in again.cells


def test_only_finished_speed_only_files_are_copied(tmp_path):
    shard = tmp_path / "shard"
    (shard / "neurons" / "done-1").mkdir(parents=True)
    (shard / "neurons" / "done-1" / "metadata.json").write_text("{}")
    (shard / "neurons" / "writing-2").mkdir()  # its tensors are written, its metadata not yet
    (shard / "neurons" / "writing-2" / "neurons.safetensors").write_bytes(b"x")
    (shard / "attributions").mkdir()
    (shard / "attributions" / "a.safetensors").write_bytes(b"x")
    (shard / "attributions" / "b.safetensors.tmp").write_bytes(b"x")  # being written
    _lines(shard / CELLS_FILE)
    whole = ArtefactStore(tmp_path / "whole", log=lambda _: None)
    assert whole.merge(shard)["files"] == 2
    assert sorted(p.name for p in (tmp_path / "whole" / "neurons").iterdir()) == ["done-1"]
    assert sorted(p.name for p in (tmp_path / "whole" / "attributions").iterdir()) == ["a.safetensors"]
    (shard / "neurons" / "writing-2" / "metadata.json").write_text("{}")
    assert whole.merge(shard)["files"] == 1  # a later merge takes it once it is finished
