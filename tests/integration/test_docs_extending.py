"""docs/extending.md runs: every ```python block, in order, in one namespace (the setup block first).

The page registers a method, an objective, a task, a mode and two comparison variants. Those names
must not leak into other tests: the module fixture snapshots every registry before running the page
and restores it afterwards (tasks through the public ``unregister_task``; methods, objectives, modes
and variants have no public unregister, so their dicts are restored directly).
"""

from __future__ import annotations

import re
import sys
import tempfile
import types
from pathlib import Path

import pytest

import neuronllm_tl as nl
from neuronllm_tl.comparison import variants as comparison_variants
from neuronllm_tl.methods import base as methods_base
from neuronllm_tl.methods import registry as methods_registry
from neuronllm_tl.registry import Registry
from neuronllm_tl.scoring import objectives as scoring_objectives
from neuronllm_tl.steering import modes as steering_modes
from neuronllm_tl.tasks.registry import unregister_task

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
MAX_LINES = 15
REGISTERED = {"method": "act_magnitude", "objective": "ll_minus_distractors", "task": "colors", "mode": "dampen_bad"}
VARIANT_NAMES = ("act_magnitude", "neuronllm_ll")


def python_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def _registries() -> dict[str, Registry]:
    return {
        "methods": methods_registry._METHODS,
        "objectives": scoring_objectives._REGISTRY,
        "modes": steering_modes._MODES,
        "variants": comparison_variants._VARIANTS,
    }


def _restore(registry: Registry, before: dict) -> None:
    for name in set(registry.view) - set(before):
        registry.unregister(name)
    for name, value in before.items():
        registry.register(name, value, overwrite=True)


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    """The namespace after running every block of the page; the registries are restored afterwards."""
    registries = _registries()
    before = {name: dict(r.view) for name, r in registries.items()}
    configs_before = dict(methods_base.CONFIG_CLASSES)
    tasks_before = set(nl.list_tasks())
    mp = pytest.MonkeyPatch()
    mp.setattr(tempfile, "mkdtemp", lambda *a, **k: str(tmp_path_factory.mktemp("extending")))
    module = types.ModuleType("docs_extending")  # the page runs as a module of its own (dataclasses need one)
    mp.setitem(sys.modules, module.__name__, module)
    try:
        for i, source in enumerate(python_blocks()):
            # dont_inherit: the page runs under its own __future__ flags, not this file's
            exec(compile(source, f"{DOC}:python block {i}", "exec", dont_inherit=True), module.__dict__)
        yield module.__dict__
    finally:
        mp.undo()
        for name, r in registries.items():
            _restore(r, before[name])
        methods_base.CONFIG_CLASSES.clear()
        methods_base.CONFIG_CLASSES.update(configs_before)
        for task in set(nl.list_tasks()) - tasks_before:
            unregister_task(task)
    assert REGISTERED["method"] not in nl.METHODS
    assert REGISTERED["objective"] not in scoring_objectives.OBJECTIVES
    assert REGISTERED["task"] not in nl.list_tasks()
    assert REGISTERED["mode"] not in nl.MODES
    assert not set(VARIANT_NAMES) & set(comparison_variants.VARIANTS)


def test_the_page_has_a_setup_and_one_example_per_extension_point():
    blocks = python_blocks()
    assert "tiny_model()" in blocks[0] and "tiny_task(" in blocks[0]
    calls = ("nl.register_method(", "nl.register_objective(", "nl.register_task(", "nl.register_mode(")
    for call in calls:
        assert sum(call in b for b in blocks) == 1, call


def test_every_example_is_at_most_15_lines():
    for i, block in enumerate(python_blocks()):
        n = len(block.rstrip("\n").splitlines())
        assert n <= MAX_LINES, f"python block {i} of {DOC.name} has {n} lines (at most {MAX_LINES})"


def test_every_block_runs_and_registers_its_names(doc):
    assert REGISTERED["method"] in nl.METHODS
    assert nl.METHODS[REGISTERED["method"]].config_class is doc["ActMagnitudeConfig"]
    assert REGISTERED["objective"] in scoring_objectives.OBJECTIVES
    assert REGISTERED["task"] in nl.list_tasks()
    assert nl.MODES[REGISTERED["mode"]].factors == {"bad": 0.5}
    assert nl.MODES[REGISTERED["mode"]].expected_sign == 1


def test_the_custom_method_finds_k_neurons_and_its_config_round_trips(doc):
    neurons = nl.identify(doc["model"], doc["task"], method="act_magnitude", k=7, max_questions=6)
    assert len(neurons.good) == 7 and len(neurons.bad) == 0
    assert (neurons.good_scores > 0).all()
    assert neurons.metadata["config"] == {"method": "act_magnitude", "hook": "mlp.hook_post", "max_questions": 6}
    assert doc["restored"] == doc["ActMagnitudeConfig"](max_questions=24)


def test_the_custom_objective_is_recorded_by_name(doc):
    assert doc["neurons"].metadata["config"]["method"] == "neuronllm"
    config = nl.method_config("neuronllm", objective="ll_minus_distractors")
    assert nl.MethodConfig.from_dict(config.to_dict()) == config


def test_the_tasks_take_the_callers_options_and_name(doc):
    colors, mine = doc["colors"], doc["mine"]
    assert colors.name == "colors" and len(colors) == 3 and colors.answer_format == "letter"
    assert mine.name == "colors-v2" and len(mine) == 4 and mine.skipped_rows == ()


def test_the_custom_mode_steers_evaluates_and_saves(doc):
    assert {row.mode for row in doc["report"].rows} == {"silence_bad", "dampen_bad"}
    assert doc["saved"].mode == "dampen_bad"


def test_the_comparison_holds_the_custom_method_objective_task_and_mode(doc):
    rows = {(r.task, r.variant, r.mode) for r in doc["result"].rows}
    assert ("colors", "act_magnitude", "excite_good") in rows
    assert ("colors", "neuronllm_ll", "dampen_bad") in rows
