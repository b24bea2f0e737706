"""Command-line flags built from the code's own declarations: one flag per field of every registered
method's config (so a method you register gets its flags for free), and the task flags of ``load_task``."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
import typing
import warnings
from collections.abc import Callable
from typing import Any

from neuronllm_tl.methods.base import MethodConfig
from neuronllm_tl.methods.registry import DEFAULT_K, DEFAULT_METHOD, METHODS, canonical_method, method_config
from neuronllm_tl.tasks.task import CALIBRATIONS, CLOZE_NORMALIZATIONS

OPTION_PREFIX = "method_option_"


TRUE_WORDS = ("true", "yes", "1", "on")
FALSE_WORDS = ("false", "no", "0", "off")


def number(text: str) -> int | float:
    """For an ``int | float`` field, the value as written: ``50`` is an int (a count), ``0.5`` and ``1.0``
    are floats (fractions). Python's own literal rules decide, so the flag means what the same value
    means in ``nl.method_config(...)``."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def boolean(text: str) -> bool:
    """``true/false``, ``yes/no``, ``1/0``, ``on/off`` (any case)."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected one of {TRUE_WORDS + FALSE_WORDS}, got {text!r}")


class RenamedFlag(argparse.Action):
    """A flag whose first option string is its name and whose last is its earlier one: the earlier one still
    works, with a FutureWarning, for one release."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None):
        if option_string == self.option_strings[-1] != self.option_strings[0]:
            warnings.warn(
                f"{option_string} is now {self.option_strings[0]}; the old flag goes in the next release.",
                FutureWarning,
                stacklevel=2,
            )
        setattr(namespace, self.dest, values)


def _parser_of(annotation: Any) -> tuple[Callable[[str], Any], list[Any] | None]:
    if typing.get_origin(annotation) is typing.Literal:
        return str, list(typing.get_args(annotation))
    if annotation is bool:
        return boolean, None
    if annotation in (int, float, str):
        return annotation, None
    if set(typing.get_args(annotation)) == {int, float}:
        return number, None
    return str, None


def plain(text: str) -> str:
    """reST markup dropped for the terminal: ``code`` and :role:`target` become code and target."""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")


_FIELD_DOCS: dict[type, dict[str, str]] = {}


def field_docs(config_class: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it in the class body), first sentence, one line;
    inherited fields from the base classes too. Read from the source once per class (the help of every flag
    asks for it)."""
    if config_class not in _FIELD_DOCS:
        _FIELD_DOCS[config_class] = _read_field_docs(config_class)
    return _FIELD_DOCS[config_class]


def _read_field_docs(config_class: type) -> dict[str, str]:
    out: dict[str, str] = {}
    for cls in reversed(config_class.__mro__):
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            continue
        nodes = getattr(body, "body", [])
        for node, after in zip(nodes, nodes[1:], strict=False):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                    text = " ".join(str(after.value.value).split())
                    out[node.target.id] = plain(text.split(". ")[0].rstrip("."))
    return out


def _help(field: str, methods: list[str], what: str = "") -> str:
    """``methods: meaning (default: each method's)``, from the configs' own declarations."""
    docs = [field_docs(METHODS[m].config_class).get(field) for m in methods]
    meaning = next((d for d in docs if d), "") or what
    defaults = {m: getattr(METHODS[m].config_class, field, None) for m in methods}
    shown = sorted({repr(v) for v in defaults.values()})
    default = shown[0] if len(shown) == 1 else ", ".join(f"{m} {v!r}" for m, v in defaults.items())
    return f"{', '.join(methods)}: {meaning} (default {default})".replace("%", "%%")


def _method_fields() -> dict[str, tuple[Any, list[str]]]:
    """Field name -> (its annotation, the methods that have it), over every registered method."""
    out: dict[str, tuple[Any, list[str]]] = {}
    for name, spec in METHODS.items():
        hints = typing.get_type_hints(spec.config_class)
        for f in dataclasses.fields(spec.config_class):
            out.setdefault(f.name, (hints[f.name], []))[1].append(name)
    return out


def add_method_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method",
        type=canonical_method,
        choices=sorted(METHODS),
        default=DEFAULT_METHOD,
        help=f"neuron-finding method (default {DEFAULT_METHOD})",
    )
    p.add_argument(
        "--k", type=int, default=DEFAULT_K, help=f"size of the good set and of the bad set (default {DEFAULT_K})"
    )
    group = p.add_argument_group("method options (each applies to the methods named in its help)")
    for field, (annotation, methods) in _method_fields().items():
        parse, choices = _parser_of(annotation)
        flag = f"--{field.replace('_', '-')}"
        if flag in p._option_string_actions:  # e.g. random's seed beside the task's --seed
            flag = f"--{methods[0].replace('_', '-')}-{field.replace('_', '-')}"
        if parse is boolean:
            _add_boolean_flag(group, flag, field, methods)
            continue
        group.add_argument(
            flag,
            dest=OPTION_PREFIX + field,
            type=parse,
            choices=choices,
            default=None,
            metavar=None if choices else field.upper(),
            help=_help(field, methods),
        )
    p.add_argument("--contrast-tasks", nargs="+", default=[], help="other tasks, for methods that compare tasks (lape)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=4096, help="padded tokens per batch (memory budget)")
    p.add_argument(
        "--max-rows",
        type=int,
        default=64,
        help="rows per pass for integrated gradients and exact ablation (memory budget)",
    )
    p.add_argument("--checkpoint", help="neuronllm: save progress here after every batch; a rerun resumes from it")


def _add_boolean_flag(group: Any, flag: str, field: str, methods: list[str]) -> None:
    """``--mask``, ``--mask false`` and ``--no-mask``."""
    group.add_argument(
        flag,
        dest=OPTION_PREFIX + field,
        type=boolean,
        nargs="?",
        const=True,
        default=None,
        metavar="BOOL",
        help=_help(field, methods) + "; true/false/yes/no/1/0",
    )
    group.add_argument(
        "--no-" + flag[2:], dest=OPTION_PREFIX + field, action="store_false", help=f"the same as {flag} false"
    )


def method_config_from_args(args: argparse.Namespace) -> MethodConfig:
    """The chosen method's config from the flags given; a flag of another method is refused."""
    given = {k[len(OPTION_PREFIX) :]: v for k, v in vars(args).items() if k.startswith(OPTION_PREFIX) and v is not None}
    fields = {f.name for f in dataclasses.fields(METHODS[args.method].config_class)}
    foreign = sorted(set(given) - fields)
    if foreign:
        raise ValueError(
            f"option(s) {foreign} do not apply to --method {args.method}; its options are {sorted(fields)}."
        )
    return method_config(args.method, **given)


def add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="a registered task (see `neuronllm-tl tasks`) or a .jsonl file of questions")
    p.add_argument("--name", help="the task's name in results (default: the registry name or the file's stem)")
    p.add_argument(
        "--format",
        choices=["cloze", "letter", "generate"],
        help="answer read-out (default: cloze; a generation task (*-gen, or a .jsonl with references): generate)",
    )
    p.add_argument("--permutations", type=int, default=3, help="option permutations per example (default 3)")
    p.add_argument(
        "--normalization",
        choices=CLOZE_NORMALIZATIONS,
        help="cloze option score: summed log-likelihood, per token, or per character (default: the task's, "
        "see `neuronllm-tl tasks`; else sum)",
    )
    p.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        help="pmi: minus log p(option | answer prefix alone); contextual: Zhao et al. 2021 (default: the "
        "task's; else none)",
    )
    p.add_argument(
        "--shots",
        type=int,
        help="label-balanced demonstrations shown before each question, drawn from the task's examples, which "
        "are then not asked (default: the task's, see `neuronllm-tl tasks`; else 0)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="smollm2-135m", help="model name or folder (default: offline smollm2-135m)")
    p.add_argument(
        "--limit", type=int, help="use only the first N examples (dataset tasks are shuffled with seed 0 first)"
    )
    p.add_argument("--data-files", nargs="+", help="local csv/tsv/jsonl/parquet for a dataset task (offline route)")
    p.add_argument("--subjects", nargs="+", help="MMLU subjects to keep")
    p.add_argument(
        "--invalid-rows",
        choices=["error", "skip"],
        default="error",
        help="rows that cannot become a question: stop with an error (default) or skip and count them",
    )
