"""issue #26 item 6: one registry type behind methods, objectives, tasks, steering modes and variants, with the
same rules, read-only views, and entry points for other packages."""

import warnings
from dataclasses import dataclass

import pytest

import neuronllm_tl as nl
from neuronllm_tl import registry as registry_module
from neuronllm_tl.comparison import variants
from neuronllm_tl.methods import registry as methods
from neuronllm_tl.registry import PluginWarning, Registry
from neuronllm_tl.scoring import objectives
from neuronllm_tl.steering import modes
from neuronllm_tl.tasks import registry as tasks

EVERY = {
    "method": (methods._METHODS, methods.METHODS, "neuronllm"),
    "objective": (objectives._REGISTRY, None, "contrastive"),
    "task": (tasks._TASKS, tasks.TASKS, "capitals-mini"),
    "steering mode": (modes._MODES, modes.MODES, "degrade"),
    "variant": (variants._VARIANTS, variants.VARIANTS, "tn"),
}


@pytest.mark.parametrize("kind", sorted(EVERY))
def test_every_registry_keeps_the_same_rules(kind):
    reg, view, builtin = EVERY[kind]
    assert isinstance(reg, Registry) and reg.kind == kind
    value = reg.get(builtin)
    with pytest.raises(ValueError, match="registered already; pass overwrite=True"):
        reg.register(builtin, object())
    assert reg.register(builtin, value) is value  # the same value again: a no-op
    with pytest.raises(ValueError, match=f"unknown {kind} 'nope'; registered {kind}s: \\["):
        reg.get("nope")
    if view is not None:
        with pytest.raises(TypeError):
            view[builtin] = value  # read-only
    assert reg.unregister(builtin) is value and builtin not in reg.view
    reg.register(builtin, value)
    assert reg.get(builtin) is value


@dataclass
class _Entry:
    name: str
    value: str
    target: object

    def load(self):
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def test_entry_points_add_methods_and_tasks_and_a_broken_one_is_named(monkeypatch):
    added = []
    entries = [_Entry("good", "pkg:register", lambda: added.append("called")),
               _Entry("broken", "bad_pkg:register", ImportError("No module named 'bad_pkg'"))]  # fmt: skip
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: entries if group == "g" else [])
    reg = Registry("thing", entry_points="g")
    reg.register("builtin", 1)
    with pytest.warns(PluginWarning, match="plugin 'broken' \\(bad_pkg:register, group g\\) was skipped: ImportError"):
        assert "builtin" in reg.view
    assert added == ["called"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.get("builtin") == 1 and list(reg.view) == ["builtin"]  # loaded once: no second warning


def test_the_package_names_its_entry_point_groups():
    assert methods._METHODS.entry_points == "neuronllm_tl.methods" == nl.registry.METHOD_ENTRY_POINTS
    assert tasks._TASKS.entry_points == "neuronllm_tl.tasks"
