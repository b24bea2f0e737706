"""The dequantized-model cache: converted once, never half-written, safe for processes started together."""

import multiprocessing
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
    (target / "config.json").write_text("{}")


def _convert_then_read(cache, ready):
    import os

    os.environ["NEURONLLM_TL_CACHE"] = cache
    ready.wait()
    folder = loading.cached_conversion("fake-model", _slow_convert)
    time.sleep(0.7)  # the other process finishes meanwhile: it must not have replaced this folder
    assert (folder / "config.json").read_text() == "{}"


def test_processes_started_together_convert_once_and_keep_each_others_folder(tmp_path):
    """Two shards of one job load the model at the same moment (before the lock, one deleted the other's folder)."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    processes = [context.Process(target=_convert_then_read, args=(str(tmp_path), ready)) for _ in range(2)]
    for process in processes:
        process.start()
    ready.set()
    for process in processes:
        process.join(timeout=30)
    assert [p.exitcode for p in processes] == [0, 0]
    assert (tmp_path / "models" / "conversions.log").read_text() == "converted\n"
