"""Checkpoint/resume and multi-process identification give the same neurons as one uninterrupted run."""

import os

import pytest
import torch
import torch.multiprocessing as mp

import neuronllm_tl as nl
from neuronllm_tl.attribution import stream as stream_module
from neuronllm_tl.testing import tiny_model, tiny_task


def _same(a, b):
    assert a.good.tolist() == b.good.tolist() and a.bad.tolist() == b.bad.tolist()
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-6, atol=1e-9)
    assert a.metadata["identification"]["n_examples"] == b.metadata["identification"]["n_examples"]
    assert a.metadata["identification"]["accuracy"] == pytest.approx(b.metadata["identification"]["accuracy"])


def test_killed_run_resumes_from_checkpoint(model, tmp_path, monkeypatch):
    task = tiny_task("cloze")
    full = nl.identify(model, task, k=5, batch_size=2)
    path = tmp_path / "run.ckpt"
    real = stream_module.attribute
    calls = {"n": 0}

    def dies_after_three(*args, **kwargs):
        if calls["n"] == 3:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(stream_module, "attribute", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        nl.identify(model, task, k=5, batch_size=2, checkpoint=path)
    assert len(torch.load(path, weights_only=True)["done"]) == 3
    counted = {"n": 0}

    def counting(*args, **kwargs):
        counted["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(stream_module, "attribute", counting)
    resumed = nl.identify(model, task, k=5, batch_size=2, checkpoint=path)
    assert counted["n"] == 6 - 3, "only the unfinished batches are recomputed"
    _same(resumed, full)


def test_checkpoint_of_another_run_is_refused(model, tmp_path):
    path = tmp_path / "run.ckpt"
    nl.identify(model, tiny_task("cloze"), k=5, batch_size=4, checkpoint=path)
    with pytest.raises(ValueError, match="belongs to another run"):
        nl.identify(model, tiny_task("letter"), k=5, batch_size=4, checkpoint=path)


def test_checkpoint_is_refused_after_the_weights_change(tmp_path):
    model, path = tiny_model(), tmp_path / "run.ckpt"
    nl.identify(model, tiny_task("cloze"), k=5, batch_size=4, checkpoint=path)
    with torch.no_grad():
        next(model.parameters()).mul_(1.5)
    with pytest.raises(ValueError, match="weights"):
        nl.identify(model, tiny_task("cloze"), k=5, batch_size=4, checkpoint=path)


def _worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        neurons = nl.identify(tiny_model(), tiny_task("cloze"), k=5, batch_size=2)
        neurons.save(os.path.join(out_dir, f"rank{rank}"))
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one(model, tmp_path):
    single = nl.identify(model, tiny_task("cloze"), k=5, batch_size=2)
    mp.start_processes(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    for rank in range(2):
        shard = nl.NeuronSet.load(tmp_path / f"rank{rank}")
        _same(shard, single)
        assert shard.metadata["identification"]["world_size"] == 2


def test_distributed_without_a_process_group_is_refused(model):
    with pytest.raises(ValueError, match="torchrun"):
        nl.identify(model, tiny_task("cloze"), k=5, distributed=True)
