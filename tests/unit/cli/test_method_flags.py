"""Every method option means the same on the command line as in Python (issue #26, item 1).

For every registered method and every field of its config, a value other than the default is given both
ways: as a flag parsed by ``neuronllm-tl identify``'s parser, and as a keyword of ``nl.method_config``. The
two configs must be equal, field types included (``--mask false`` is False, ``--z 1.0`` is the float
fraction 1.0, not the count 1).
"""

import dataclasses
import typing

import pytest

import neuronllm_tl as nl
from neuronllm_tl.cli import build_parser
from neuronllm_tl.cli.flags import method_config_from_args
from neuronllm_tl.methods.registry import METHODS


def _other_values(annotation, default):
    """(text on the command line, the Python value) pairs for values other than ``default``."""
    if typing.get_origin(annotation) is typing.Literal:
        return [(v, v) for v in typing.get_args(annotation) if v != default][:1]
    if annotation is bool:
        return [(word, value) for word, value in (("false", False), ("no", False), ("1", True)) if value != default]
    if annotation is int:
        return [(str(default + 1), default + 1)]
    if annotation is float:
        return [("0.375", 0.375)]
    if set(typing.get_args(annotation)) == {int, float}:
        return [("7", 7), ("1.0", 1.0), ("0.25", 0.25)]
    return []  # str fields and structured ones (candidates) have their own tests


CASES = [
    pytest.param(name, f.name, text, value, id=f"{name}-{f.name}-{text}")
    for name, spec in METHODS.items()
    for f in dataclasses.fields(spec.config_class)
    for text, value in _other_values(typing.get_type_hints(spec.config_class)[f.name], f.default)
]


def _flag(parser, field):
    identify = parser._subparsers._group_actions[0].choices["identify"]
    dest = "method_option_" + field
    return next(a.option_strings[0] for a in identify._actions if a.dest == dest and a.type is not None)


@pytest.mark.parametrize("method, field, text, value", CASES)
def test_a_flag_builds_the_config_python_builds(method, field, text, value):
    parser = build_parser()
    args = parser.parse_args(["identify", "--task", "capitals-mini", "--method", method, _flag(parser, field), text])
    from_cli = method_config_from_args(args)
    from_python = nl.method_config(method, **{field: value})
    assert from_cli == from_python
    assert type(getattr(from_cli, field)) is type(getattr(from_python, field))


def test_every_bool_field_has_a_negative_flag_and_a_bare_flag():
    parser = build_parser()
    off = method_config_from_args(parser.parse_args(["identify", "--task", "t", "--no-mask"]))
    on = method_config_from_args(parser.parse_args(["identify", "--task", "t", "--mask"]))
    assert off.mask is False and on.mask is True


def test_a_count_and_a_fraction_stay_apart():
    parser = build_parser()
    as_fraction = method_config_from_args(parser.parse_args(["identify", "--task", "t", "--z", "1.0"]))
    as_count = method_config_from_args(parser.parse_args(["identify", "--task", "t", "--z", "1"]))
    assert as_fraction.z == 1.0 and isinstance(as_fraction.z, float)
    assert as_count.z == 1 and isinstance(as_count.z, int)


def test_a_bad_word_for_a_bool_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["identify", "--task", "t", "--mask", "maybe"])
    assert "expected one of" in capsys.readouterr().err


@pytest.mark.parametrize(
    "field, value", [("mask", "False"), ("z", "0.5"), ("ig_steps", 2.5), ("share_threshold", True)]
)
def test_a_config_refuses_a_value_of_the_wrong_type(field, value):
    with pytest.raises(ValueError, match=f"NeuronLLMConfig.{field} must be"):
        nl.method_config("neuronllm", **{field: value})


@dataclasses.dataclass(frozen=True)
class _ThirdPartyConfig(nl.MethodConfig):
    method: typing.ClassVar[str] = "third_party_for_test"
    scale: float = 0.5
    keep: bool = True


def test_a_third_party_config_is_checked_too_and_an_int_in_a_float_field_becomes_a_float():
    assert type(_ThirdPartyConfig(scale=2).scale) is float
    with pytest.raises(ValueError, match="_ThirdPartyConfig.keep must be a bool, got 'no'"):
        _ThirdPartyConfig(keep="no")


def test_method_flags_show_their_meaning_and_default_and_compare_options_their_defaults():
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    helps = {a.option_strings[0]: a.help for a in subparsers["identify"]._actions if a.option_strings}
    assert "paper's CNI" in helps["--mask"] and "(default True)" in helps["--mask"]
    assert "(default neuronllm 16, qrnca 16, knowledge_neurons 20)" in helps["--ig-steps"]
    assert ":mod:" not in "".join(h or "" for h in helps.values())
    compare_help = " ".join(subparsers["compare"].format_help().split())
    assert "(default: 64)" in compare_help and "(default: 100)" in compare_help
    assert "``" not in parser.format_help()
