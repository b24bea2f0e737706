"""The dequantized-model cache: converted once, never half-written, safe for processes started together."""

import multiprocessing
import os
import sys
import time

import pytest

from neuronllm_tl.models import loading


def test_conversion_runs_once_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path))
    calls = []

    def fake_convert(target):
        calls.append(target)
        (target / "config.json").write_text("{}")

    first = loading.cached_conversion("fake-model", fake_convert)
    second = loading.cached_conversion("fake-model", fake_convert)
    assert first == second == tmp_path / "models" / "fake-model"
    assert len(calls) == 1 and (first / "config.json").is_file()


def test_failed_conversion_leaves_no_half_written_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path))

    def broken(target):
        (target / "partial.bin").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        loading.cached_conversion("fake-model", broken)
    assert not (tmp_path / "models" / "fake-model").exists()
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []


def _slow_convert(target):
    with open(target.parent / "conversions.log", "a") as log:
        log.write("converted\n")
    time.sleep(0.5)  # long enough for the other process to reach the cache while this one converts
    (target / "config.json").write_text(str(os.getpid()))


def _convert_then_read(cache, ready):
    os.environ["NEURONLLM_TL_CACHE"] = cache
    ready.wait()
    folder = loading.cached_conversion("fake-model", _slow_convert)
    made_by, inode = (folder / "config.json").read_text(), folder.stat().st_ino
    time.sleep(0.7)  # the other process finishes meanwhile: it must not have replaced this folder
    assert (folder / "config.json").read_text() == made_by and folder.stat().st_ino == inode


@pytest.mark.skipif(sys.platform == "win32", reason="the test forks its two processes")
def test_processes_started_together_convert_once_and_keep_each_others_folder(tmp_path):
    """Two shards of one job load the model at the same moment (before the lock, one deleted the other's folder)."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    processes = [context.Process(target=_convert_then_read, args=(str(tmp_path), ready)) for _ in range(2)]
    try:
        for process in processes:
            process.start()
        ready.set()
        for process in processes:
            process.join(timeout=30)
        assert [p.exitcode for p in processes] == [0, 0]
    finally:
        for process in processes:
            process.kill()
    assert (tmp_path / "models" / "conversions.log").read_text() == "converted\n"


def test_a_killed_conversions_leftovers_are_removed_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path))
    (tmp_path / "models" / ".fake-model.tmp-dead").mkdir(parents=True)
    (tmp_path / "models" / ".fake-model.tmp-dead" / "model.safetensors").write_text("half")
    (tmp_path / "models" / ".fake-model-other.tmp-x").mkdir()  # another model's: not this conversion's to remove
    loading.cached_conversion("fake-model", lambda target: (target / "config.json").write_text("{}"))
    names = sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock"))
    assert names == [".fake-model-other.tmp-x", "fake-model"]


def test_a_waiting_process_says_what_it_waits_for(tmp_path, monkeypatch, capfd):
    from filelock import FileLock

    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path))
    (tmp_path / "models").mkdir()
    holder = FileLock(str(tmp_path / "models" / ".fake-model.lock"), thread_local=False)
    holder.acquire()
    context = multiprocessing.get_context("fork")
    waiter = context.Process(target=loading.cached_conversion, args=("fake-model", _slow_convert))
    waiter.start()
    time.sleep(1.0)
    holder.release()
    waiter.join(timeout=30)
    assert waiter.exitcode == 0
    assert "waiting for another process converting fake-model into" in capfd.readouterr().err


def test_a_cache_on_a_filesystem_without_locks_converts_with_a_warning(tmp_path, monkeypatch):
    from filelock import FileLock

    def unsupported(self, *args, **kwargs):
        raise NotImplementedError("FileSystem does not appear to support flock")

    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path))
    monkeypatch.setattr(FileLock, "acquire", unsupported)
    with pytest.warns(UserWarning, match="cannot be locked.*NEURONLLM_TL_CACHE"):
        folder = loading.cached_conversion("fake-model", lambda target: (target / "config.json").write_text("{}"))
    assert (folder / "config.json").is_file()
