"""The comparison's files, keyed by the content that made them.

Every artefact (attributions, neuron sets, evaluated cells) is stored under a key that is a digest of
its *parts*: the fingerprints of the model's weights and of the task's rendered questions, options and
answers, the method config, the library version, and whatever else produced it. A rerun into the same
folder reuses an artefact only if every part is unchanged. ``manifest.jsonl`` remembers the parts of
each artefact by a readable name, so that when a part changed the rerun says which
("capitals-mini / neuronllm: task changed since the last run; recomputing") instead of silently
reusing or silently recomputing.

Cells are lines of ``cells.jsonl`` (appended, flushed); a line cut by a crash is ignored and recomputed.

A folder travels: what the report needs is small (``config.json``, ``manifest.jsonl``, ``cells.jsonl``, and
``neuron_sets.jsonl``, each neuron set without its score grid: :meth:`NeuronSet.to_record`), and what only
speeds a rerun is large (``attributions/``, ``neurons/``: :data:`SPEED_ONLY`). A copy of the small part in
another clone, on another machine, is resumed without recomputing anything: every key is a digest of content
(weights, rendered questions, configs, the library version), never of a path, a thread count or a clock.

For the same reason folders merge (:meth:`ArtefactStore.merge`): shards of one grid run on several machines
into their own folders add up to the folder of the whole grid, each artefact under the key its content gives.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neuronllm_tl.neurons.neuron_set import METADATA_FILE

MANIFEST_FILE = "manifest.jsonl"
CELLS_FILE = "cells.jsonl"
NEURON_SETS_FILE = "neuron_sets.jsonl"
CONFIG_FILE = "config.json"
SPEED_ONLY: tuple[str, ...] = ("attributions", "neurons")
"""Sub-folders that only make a rerun faster (tensors, megabytes): leave them out of a copy that travels."""


def digest(value: Any) -> str:
    """sha256 of ``value``'s canonical JSON (strings, e.g. fingerprints, are hashed as they are)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def slug(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.=" else "-" for c in text)
    return safe[:80]


class ArtefactStore:
    """Content-keyed files and cells under ``root``."""

    def __init__(self, root: Path, log: Callable[[str], None] = print, *, read_only: bool = False) -> None:
        """``read_only``: read what ``root`` holds and never write to it (new keys and records stay in memory)."""
        self.root, self.log, self.read_only = root, log, read_only
        if not read_only:
            root.mkdir(parents=True, exist_ok=True)
        self._parts: dict[str, dict[str, str]] = {}
        self.cells: dict[str, dict[str, Any]] = {}
        for entry in _read_jsonl(root / MANIFEST_FILE):
            self._parts[entry["name"]] = entry["parts"]
        for cell in _read_jsonl(root / CELLS_FILE):
            self.cells[cell["key"]] = cell
        self.neuron_sets: dict[str, dict[str, Any]] = {r["key"]: r for r in _read_jsonl(root / NEURON_SETS_FILE)}

    def key(self, name: str, parts: Mapping[str, Any]) -> str:
        """The content key of artefact ``name`` made from ``parts``; logs which parts changed since last time."""
        hashed = {part: digest(value) for part, value in parts.items()}
        before = self._parts.get(name)
        if before != hashed:
            if before is not None:
                changed = sorted(p for p in hashed.keys() | before.keys() if hashed.get(p) != before.get(p))
                self.log(f"  {name}: {', '.join(changed)} changed since the last run; recomputing")
            self._parts[name] = hashed
            self._append(MANIFEST_FILE, {"name": name, "parts": hashed})
        return digest(hashed)

    def path(self, kind: str, name: str, key: str, suffix: str = "") -> Path:
        return self.root / kind / f"{slug(name)}-{key[:16]}{suffix}"

    def record(self, cell: dict[str, Any]) -> dict[str, Any]:
        self.cells[cell["key"]] = cell
        self._append(CELLS_FILE, cell)
        return cell

    def record_neuron_set(self, key: str, record: dict[str, Any]) -> None:
        """Keep a neuron set's compact record (``NeuronSet.to_record``) under its content key."""
        self.neuron_sets[key] = {"key": key, **record}
        self._append(NEURON_SETS_FILE, self.neuron_sets[key])

    def _append(self, file: str, entry: dict[str, Any]) -> None:
        if not self.read_only:
            _append_jsonl(self.root / file, entry)

    def merge(self, source: Path) -> dict[str, int]:
        """Add what the run folder ``source`` holds and this one does not: its cells and neuron sets (by content
        key), the manifest names this folder lacks, and its finished speed-only files (attributions, neuron
        folders). An artefact both hold is kept as it is here; of a key ``source`` wrote twice, its last line
        counts (as when it reads itself). ``source`` may still be running. Returns how many of each were added."""
        if not (source / CELLS_FILE).is_file():
            raise ValueError(f"{source} holds no {CELLS_FILE}: give the --out folder of a compare run to merge.")
        added = {"cells": 0, "neuron sets": 0, "files": 0}
        theirs = ArtefactStore(source, log=lambda _: None)
        for name, parts in theirs._parts.items():
            if name not in self._parts:
                self._parts[name] = parts
                _append_jsonl(self.root / MANIFEST_FILE, {"name": name, "parts": parts})
        for key, cell in theirs.cells.items():
            if key not in self.cells:
                self.record(cell)
                added["cells"] += 1
        for key, record in theirs.neuron_sets.items():
            if key not in self.neuron_sets:
                self.record_neuron_set(key, {k: v for k, v in record.items() if k != "key"})
                added["neuron sets"] += 1
        for part in SPEED_ONLY:
            added["files"] += _copy_missing(source / part, self.root / part)
        self.log(f"merged {source}: " + ", ".join(f"{n} {what}" for what, n in added.items()) + " added")
        return added


def _finished(entry: Path) -> bool:
    """A file or neuron folder a running shard has finished writing: no temporary or hidden name, and a folder
    holds its metadata (:meth:`NeuronSet.save` writes it last) as readable JSON."""
    if entry.name.startswith(".") or entry.suffix == ".tmp":
        return False
    if not entry.is_dir():
        return True
    try:
        json.loads((entry / METADATA_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return True


def _copy_missing(source: Path, into: Path) -> int:
    """Copy each finished entry of ``source`` (a file or a folder, named by its content key) that ``into`` lacks."""
    if not source.is_dir():
        return 0
    into.mkdir(parents=True, exist_ok=True)
    copied = 0
    for entry in sorted(source.iterdir()):
        target = into / entry.name
        if target.exists() or not _finished(entry):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target)
        else:
            shutil.copy2(entry, target)
        copied += 1
    return copied


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: what it held is recomputed
            continue
    return out


def _append_jsonl(path: Path, entry: dict[str, Any]) -> None:
    line = json.dumps(entry, default=str) + "\n"
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        line = "\n" + line  # the last line was cut by a crash: start a new one
    with open(path, "a") as f:
        f.write(line)
        f.flush()
