"""The compare command's flags for split seeds and per-task settings become the CompareConfig they say."""

import json

import pytest

from neuronllm_tl.cli import build_parser, main
from neuronllm_tl.cli.compare_args import compare_config_from_args
from neuronllm_tl.comparison.config import CompareConfig


def config_of(*flags):
    return compare_config_from_args(build_parser().parse_args(["compare", "--tasks", "sst2", "data/x:y.jsonl", *flags]))


def test_defaults_are_the_configs():
    config = config_of()
    assert config.seeds == (0, 1, 2) and config.task_options is None and config.shots is None


def test_seeds_task_options_and_shots():
    config = config_of(
        "--seeds",
        "3",
        "1",
        "--task-option",
        "sst2:calibration=contextual",
        "--task-option",
        "sst2:cloze_normalization=char",
        "--task-option",
        "data/x:y.jsonl:prepend_bos=false",  # a path with a colon: the last one splits
        "--shots",
        "2",
        "sst2=4",
    )
    assert config.seeds == (3, 1)
    assert config.task_options == {
        "sst2": {"calibration": "contextual", "cloze_normalization": "char"},
        "data/x:y.jsonl": {"prepend_bos": False},  # VALUE read as JSON when it parses
    }
    assert config.shots == {"sst2": 4, "data/x:y.jsonl": 2}  # a bare K for every task, TASK=K wins
    assert config_of("--seed", "5").seeds == (5,)  # the old flag still works


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task-option", "sst2=contextual"], "TASK:KEY=VALUE"),
        (["--shots", "sst2=many"], "whole number"),
        (["--seeds", "0", "0"], "repeats"),
        (["--shots", "mnli=2"], "does not run"),
    ],
)
def test_bad_flags_are_refused_with_how_to_fix(flags, message, capsys):
    assert main(["compare", "--model", "tiny-random", "--tasks", "sst2", "topics-mini", *flags]) == 2
    assert message in capsys.readouterr().err


def test_the_exact_ablation_oracle_runs_only_when_named():
    assert "ablation_oracle" not in config_of().variants  # hundreds of passes per question: opt-in
    named = config_of("--variants", "neuronllm_ig", "ablation_oracle")
    assert named.variants == ("neuronllm_ig", "ablation_oracle")
    from neuronllm_tl.comparison.variants import VARIANTS

    oracle = VARIANTS["ablation_oracle"]
    assert oracle.method == "ablation_oracle" and "degrade" in oracle.modes  # it finds bad neurons too


def test_the_renamed_words_still_work_for_one_release_with_a_warning():
    """issue #26 item 5: "ablation" named an estimator, a method, the settings grid and the oracle variant."""
    with pytest.warns(FutureWarning, match="'ablation' is now 'ablation_oracle'"):
        assert config_of("--variants", "ablation").variants == ("ablation_oracle",)
    with pytest.warns(FutureWarning, match="--ablations is now --sweeps"):
        config = config_of("--ablations", "z", "--ablation-tasks", "sst2")
    assert (config.sweeps, config.sweep_tasks) == (("z",), ("sst2",))
    with pytest.warns(FutureWarning, match=r"CompareConfig\(ablations=...\) is now CompareConfig\(sweeps=...\)"):
        assert CompareConfig(tasks=("sst2",), ablations=("k",)).sweeps == ("k",)
    old = {**CompareConfig(tasks=("sst2",), sweeps=("k",)).to_dict(), "ablation_tasks": ["sst2"]}
    old["ablations"] = old.pop("sweeps")
    del old["sweep_tasks"]
    assert CompareConfig.from_dict(old) == CompareConfig(tasks=("sst2",), sweeps=("k",), sweep_tasks=("sst2",))
    with pytest.warns(FutureWarning, match="ABLATIONS is now SWEEPS"):
        from neuronllm_tl.comparison.variants import ABLATIONS
    from neuronllm_tl.comparison.variants import SWEEPS

    assert ABLATIONS is SWEEPS


def test_the_grid_variants_keep_their_own_settings_under_the_comparisons():
    from neuronllm_tl.comparison.variants import SWEEPS
    from neuronllm_tl.comparison.run import ComparisonRun

    run = ComparisonRun.__new__(ComparisonRun)  # method_config reads only the comparison's config
    run.config = config_of("--ig-steps", "8")
    configs = [run.method_config(v) for v in SWEEPS["z"]]
    assert [c.z for c in configs] == [0.01, 0.05, 0.2, 1.0]
    assert {c.ig_steps for c in configs} == {8}


def test_the_old_name_of_the_ig_variant_still_works_with_a_warning():
    """issue #27 item 5: compare's IG variant was "neuronllm", the word identify uses for grad x act."""
    with pytest.warns(FutureWarning, match="'neuronllm' is now 'neuronllm_ig'"):
        config = config_of("--variants", "neuronllm", "tn")
    assert config.variants == ("neuronllm_ig", "tn")
    assert config.to_dict()["variants"] == ("neuronllm_ig", "tn")  # a saved config carries the new name


def test_skip_leaves_variants_out_of_one_tasks_cells_only():
    config = config_of(
        "--tasks",
        "capitals-mini",
        "sentiment-mini",
        "--variants",
        "tn",
        "lape",
        "random",
        "--skip",
        "sentiment-mini=lape,random",
    )
    cells = [(t, v.name) for t, v in config.grid()]
    assert cells == [
        ("capitals-mini", "tn"),
        ("capitals-mini", "lape"),
        ("capitals-mini", "random"),
        ("sentiment-mini", "tn"),
    ]
    assert CompareConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="not one of tasks"):
        config_of("--tasks", "capitals-mini", "--skip", "arc_easy=tn")
    with pytest.raises(ValueError, match="unknown variant"):
        config_of("--tasks", "capitals-mini", "--variants", "tn", "--skip", "capitals-mini=qrnca")


def test_skip_leaves_a_sweep_group_or_setting_out_of_one_task():
    args = ("--tasks", "capitals-mini", "sentiment-mini", "--variants", "tn", "--sweeps", "mask", "z")
    config = config_of(*args, "--sweep-tasks", "capitals-mini", "sentiment-mini", "--skip", "sentiment-mini=z,tn")
    cells = [(t, v.name) for t, v in config.grid()]
    assert ("sentiment-mini", "mask=False") in cells and ("capitals-mini", "z=0.01") in cells
    assert not [c for c in cells if c[0] == "sentiment-mini" and (c[1].startswith("z=") or c[1] == "tn")]
    one = config_of(*args, "--sweep-tasks", "capitals-mini", "--skip", "capitals-mini=z=1.0")
    assert [v.name for _, v in one.grid() if v.group == "z"] == ["z=0.01", "z=0.05", "z=0.2"]
    assert CompareConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown variant or sweep.*'objective'"):
        config_of(*args, "--skip", "capitals-mini=objective")  # not a group of --sweeps
    with pytest.raises(ValueError, match="unknown variant or sweep run on 'sentiment-mini'.*'mask'"):
        config_of(*args, "--skip", "sentiment-mini=mask")  # sentiment-mini runs no sweeps (default: the first task)
    only_swept = config_of("--tasks", "capitals-mini", "--variants", "tn", "--sweeps", "z", "--sweep-tasks",
                           "sentiment-mini", "--skip", "sentiment-mini=z=1.0")  # fmt: skip
    assert ("sentiment-mini", "z=0.2") in [(t, v.name) for t, v in only_swept.grid()]
    assert ("sentiment-mini", "z=1.0") not in [(t, v.name) for t, v in only_swept.grid()]
