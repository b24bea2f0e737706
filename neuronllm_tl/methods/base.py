"""What every neuron-finding method shares: its config base class and the inputs of a run.

A method is a config dataclass (a subclass of :class:`MethodConfig` whose class attribute ``method``
names it) plus one function ``(MethodInputs) -> NeuronSet``. ``to_dict`` records the method's name and
:meth:`MethodConfig.from_dict` dispatches on it (SAELens style), so a saved config rebuilds its own class.
A method that ranks neurons from per-question attributions says which in
:meth:`MethodConfig.attribution_request`; runs that share a request (QRNCA and Knowledge Neurons, or
NeuronLLM at several K) can share one attribution run.

Example:
    >>> @dataclass(frozen=True)
    ... class MyConfig(MethodConfig):
    ...     method: ClassVar[str] = "mine"
    ...     threshold: float = 0.1
    >>> MyConfig(threshold=0.2).to_dict()
    {'method': 'mine', 'hook': 'mlp.hook_post', 'threshold': 0.2}
    >>> MyConfig.from_dict({"method": "mine", "threshold": 0.2})
    MyConfig(hook='mlp.hook_post', threshold=0.2)
    >>> MethodConfig.from_dict({"method": "mine", "threshold": 0.2})   # the same, once nl.register_method("mine", ...)
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'mine'; registered methods: [...].
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from neuronllm_tl.attribution.collect import TaskAttributions, check_attributions, collect_attributions
from neuronllm_tl.attribution.stream import AttributionRequest, RunOptions
from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import DEFAULT_HOOK, ModelSpec, model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.tasks.identity import example_ids
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.version import __version__

CONFIG_CLASSES: dict[str, type[MethodConfig]] = {}
RENAMED_METHODS: dict[str, str] = {"ablation": "ablation_oracle"}
"""Old method name -> new. A config saved under the old name still loads; a user who types it gets a
FutureWarning for one release (``ablation`` was also an attribution estimator's name)."""
"""Method name -> config class; filled by :func:`neuronllm_tl.methods.registry.register_method`."""


@dataclass(frozen=True)
class MethodConfig:
    """Options of one method. ``method`` (the registry name) is a class attribute, written by ``to_dict``."""

    method: ClassVar[str] = ""
    needs_contrast_tasks: ClassVar[bool] = False
    streams: ClassVar[bool] = False
    """Whether the method honours ``identify``'s ``checkpoint=`` and ``distributed=`` (streamed batches)."""
    """Whether the method compares the task with other tasks (``MethodInputs.contrast_tasks``)."""
    hook: str = DEFAULT_HOOK
    """Per-block hook of the neurons, ``blocks.{l}.<hook>``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every config checks its fields' types before its own ``__post_init__`` runs (a third-party one too):
        ``mask="False"`` or ``z="0.5"`` is refused with the fix, and an int given to a float field becomes a float."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")

        def __post_init__(self: MethodConfig) -> None:
            check_field_types(self)
            if own is not None:
                own(self)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]

    def attribution_request(self) -> AttributionRequest | None:
        """The per-question attributions this method ranks neurons from (None: it needs none)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MethodConfig:
        """The config ``d`` describes: on the base class, of the registered method ``d["method"]``."""
        d = dict(d)
        name = d.pop("method", cls.method)
        name = RENAMED_METHODS.get(name, name) if name not in CONFIG_CLASSES else name
        target = cls if cls.method else CONFIG_CLASSES.get(name)
        if target is None:
            raise ValueError(f"unknown method {name!r}; registered methods: {sorted(CONFIG_CLASSES)}.")
        if name != target.method:
            raise ValueError(f"this is a {name!r} configuration, not a {target.method!r} one.")
        return target(**d)

    def with_defaults(self, **values: Any) -> MethodConfig:
        """A copy with those of ``values`` that are fields of this config *still at their default* set: how a
        comparison applies its shared settings (``ig_steps``, ``z``) to every method that has them, without
        overriding a variant that sets its own (issue #14's ``z=0.01`` variant keeps its z)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        kept = {k: v for k, v in values.items() if k in fields and getattr(self, k) == fields[k].default}
        return dataclasses.replace(self, **kept)

    def _check_fraction(self, name: str, *, closed_low: bool = False) -> None:
        value = getattr(self, name)
        if not (0.0 <= value < 1.0 if closed_low else 0.0 < value < 1.0):
            interval = "[0, 1)" if closed_low else "(0, 1)"
            raise ValueError(f"{type(self).__name__}.{name} must be a fraction in {interval}, got {value!r}.")

    def _check_positive_int(self, *names: str) -> None:
        for name in names:
            check_positive_int(getattr(self, name), f"{type(self).__name__}.{name}")


def check_field_types(config: Any) -> None:
    """Refuse a field whose value does not have its declared type (bool, int, float, str, unions of them;
    Literal choices and other annotations are the config's own ``__post_init__``'s to check, with messages of
    their own); an int in a float field is stored as a float."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        annotation, value = hints[f.name], getattr(config, f.name)
        if not _conforms(value, annotation):
            raise ValueError(
                f"{type(config).__name__}.{f.name} must be {_describe(annotation)}, got {value!r} "
                f"({type(value).__name__}). Pass a value of that type (e.g. {f.name}={f.default!r})."
            )
        if annotation is float and isinstance(value, int):
            object.__setattr__(config, f.name, float(value))


def _conforms(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(annotation)
        return not all(_checkable(a) for a in arms) or any(_conforms(value, a) for a in arms)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation is type(None):
        return value is None
    return True  # an annotation we do not check (a tensor, a tuple of pairs): the config's own __post_init__


def _checkable(annotation: Any) -> bool:
    return annotation in (bool, int, float, str, type(None))


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    return "None" if annotation is type(None) else f"a {getattr(annotation, '__name__', annotation)}"


@dataclass
class MethodInputs:
    """Everything a method's function receives. ``k`` good (and, for signed methods, k bad) neurons."""

    model: HookedModel
    task: Task
    config: MethodConfig
    k: int
    run: RunOptions = RunOptions()
    attributions: TaskAttributions | None = None
    contrast_tasks: Sequence[Task] = ()
    checkpoint: str | Path | None = None
    distributed: bool | None = None
    spec: ModelSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = model_spec(self.model, hook=self.config.hook)

    def task_attributions(self) -> TaskAttributions:
        """The given attributions (checked against the config's request), or a fresh collection."""
        request = self.config.attribution_request()
        if request is None:
            raise ValueError(f"method {self.config.method!r} declares no attribution_request(); it needs none.")
        if self.attributions is None:
            return collect_attributions(self.model, self.task, request, self.run)
        check_attributions(self.attributions, request, self.config.method)
        return self.attributions

    def metadata(self) -> dict[str, Any]:
        return build_metadata(self.model, self.spec, self.task, self.config)


def build_metadata(model: HookedModel, spec: ModelSpec, task: Task, config: MethodConfig) -> dict[str, Any]:
    """What a saved NeuronSet records: model (and its weights' fingerprint), hook, task, config, versions."""
    return {
        "model": spec.model_name,
        "model_class": type(model).__name__,
        "model_fingerprint": model_fingerprint(model),
        "hook": spec.hook,
        "n_layers": spec.n_layers,
        "d_mlp": spec.d_mlp,
        "task": {**task.describe(), "prepend_bos": QuestionEncoder(model, task).prepend_bos},
        "task_fingerprint": task.fingerprint(),
        "identified_examples": example_ids(task),
        "config": config.to_dict(),
        "seed": task.seed,
        "versions": {
            "neuronllm_tl": __version__,
            "transformer_lens": importlib.metadata.version("transformer_lens"),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def check_k(k: int) -> None:
    check_positive_int(k, "k")
