"""One open registry type for every named thing a user can add: methods, objectives, tasks, steering modes and
comparison variants. The same rules hold for all of them:

* ``register(name, value)`` adds; a name already taken by another value is refused unless ``overwrite=True``
  (registering the same value twice is a no-op);
* ``unregister(name)`` removes (a built-in one too);
* ``view`` is a read-only, live mapping (``METHODS``, ``MODES``, ``TASKS``, ... are views), so nothing outside
  the registry can change it by accident;
* an unknown name is refused with the registered names and how to add one;
* ``rename(old, new)`` keeps an old name working for one release: ``get(old)`` and ``resolve(old)`` return
  the new entry with a ``FutureWarning``; the old name is not listed in ``view``.

Third-party packages add methods and tasks through entry points, as pytest plugins and TransformerLens
adapters are found: in their ``pyproject.toml``::

    [project.entry-points."neuronllm_tl.methods"]
    my_method = "my_package.neurons:register"     # a callable, called once with no arguments

The callable registers what it brings through the public API (``nl.register_method(...)``,
``nl.register_task(...)``). Entry points are loaded the first time the registry is read; one that fails to
load is skipped with a :class:`PluginWarning` naming it and the error (the built-in names keep working).

Example:
    >>> colours = Registry("colour", hint="add one with colours.register(name, value)")
    >>> colours.register("red", (255, 0, 0))
    (255, 0, 0)
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; registered colours: ['red']. add one with colours.register(name, value)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from importlib import metadata
from types import MappingProxyType
from typing import Generic, TypeVar

T = TypeVar("T")

METHOD_ENTRY_POINTS = "neuronllm_tl.methods"
TASK_ENTRY_POINTS = "neuronllm_tl.tasks"


class PluginWarning(UserWarning):
    """An entry point of a neuronllm_tl plugin could not be loaded (it is skipped)."""


class Registry(Generic[T]):
    """Named values of one kind (see the module doc for the rules)."""

    def __init__(self, kind: str, *, hint: str = "", entry_points: str | None = None) -> None:
        self.kind, self.hint, self.entry_points = kind, hint, entry_points
        self._items: dict[str, T] = {}
        self._renamed: dict[str, str] = {}
        self._plugins_loaded = entry_points is None
        self.view: Mapping[str, T] = _LiveView(self)

    def register(self, name: str, value: T, *, overwrite: bool = False) -> T:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.kind} name must be a non-empty str, got {name!r}.")
        if name in self._items and self._items[name] is not value and not overwrite:
            raise ValueError(
                f"{self.kind} {name!r} is registered already; pass overwrite=True to replace it, or choose another "
                "name."
            )
        self._items[name] = value
        return value

    def unregister(self, name: str) -> T:
        self.load_plugins()
        if name not in self._items:
            raise ValueError(f"{self.kind} {name!r} is not registered; registered {self.kind}s: {sorted(self._items)}.")
        return self._items.pop(name)

    def rename(self, old: str, new: str) -> None:
        """Let ``old`` stand for ``new`` (with a FutureWarning) for one release."""
        self._renamed[old] = new

    def resolve(self, name: str, *, stacklevel: int = 3) -> str:
        """``name``, or the new name of a renamed one (with a FutureWarning); it is not checked further."""
        if isinstance(name, str) and name in self._renamed and name not in self._items:
            new = self._renamed[name]
            warnings.warn(
                f"{self.kind} {name!r} is now {new!r} (the old name goes in the next release).",
                FutureWarning,
                stacklevel=stacklevel,
            )
            return new
        return name

    def get(self, name: str) -> T:
        self.load_plugins()
        name = self.resolve(name, stacklevel=4)
        if not isinstance(name, str) or name not in self._items:
            hint = f" {self.hint}" if self.hint else ""
            raise ValueError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {sorted(self._items)}.{hint}")
        return self._items[name]

    def load_plugins(self) -> None:
        """Call every entry point of this registry's group once (on the first read)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry in metadata.entry_points(group=self.entry_points or ""):
            try:
                loaded = entry.load()
                if callable(loaded):
                    loaded()
            except Exception as e:  # a broken plugin must not take the built-ins down; it is named instead
                warnings.warn(
                    f"neuronllm_tl plugin {entry.name!r} ({entry.value}, group {self.entry_points}) was skipped: "
                    f"{type(e).__name__}: {e}",
                    PluginWarning,
                    stacklevel=2,
                )


class _LiveView(Mapping[str, T]):
    """The registry's read-only mapping; reading it loads the plugins first."""

    def __init__(self, registry: Registry[T]) -> None:
        self._registry = registry
        self._proxy = MappingProxyType(registry._items)

    def __getitem__(self, name: str) -> T:
        self._registry.load_plugins()
        return self._proxy[name]

    def __iter__(self) -> Iterator[str]:
        self._registry.load_plugins()
        return iter(self._proxy)

    def __len__(self) -> int:
        self._registry.load_plugins()
        return len(self._proxy)

    def __contains__(self, name: object) -> bool:
        self._registry.load_plugins()
        return name in self._proxy

    def __repr__(self) -> str:
        return f"{self._registry.kind}s({sorted(self._proxy)})"


__all__ = ["METHOD_ENTRY_POINTS", "TASK_ENTRY_POINTS", "PluginWarning", "Registry"]
