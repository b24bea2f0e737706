"""The report of a comparison over several split seeds: its seeds and task settings, mean ± sd and per-seed
columns, and who beats whom, from the files ``compare`` writes (built from hand-made cells, no model)."""

import json

import numpy as np

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.report import ComparisonResult
from neuronllm_tl.reporting import read_run, render_report
from neuronllm_tl.reporting.header import header_items
from tests.unit.reporting.fixtures import write_comparison
from tests.unit.reporting.test_render import Tags

N = 8


def cell(variant, seed, delta):
    before = list(np.linspace(0.4, 0.9, N))
    after = [b + delta + 0.01 * np.sin(i + seed) for i, b in enumerate(before)]
    names = [f"e{i + 2 * seed}" for i in range(N)]  # the seeds' held-out splits overlap
    per = {"accuracy_before": [1] * N, "accuracy_after": [1, 0] * (N // 2), "p_before": before, "p_after": after,
           "example": names}  # fmt: skip
    return {
        "key": f"{variant}{seed}", "kind": "steer", "task": "a.jsonl", "group": "main", "variant": variant,
        "method": variant, "mode": "degrade", "neurons": "identified", "seed": None, "split_seed": seed,
        "eval": "target", "eval_task": "a:evaluate", "n_good": 3, "n_bad": 3, "n_steered": 4 + seed,
        "accuracy_before": 1.0, "accuracy_after": 0.5, "p_before": float(np.mean(before)),
        "p_after": float(np.mean(after)), "per_example": per,
    }  # fmt: skip


def write_seeded(folder):
    config = CompareConfig(
        tasks=("a.jsonl", "b.jsonl"), variants=("neuronllm_ig", "tn"), seeds=(0, 1, 2), shots={"a.jsonl": 2},
        task_options={"b.jsonl": {"calibration": "contextual"}},
    )  # fmt: skip
    cells = [cell(v, s, d) for v, d in (("neuronllm_ig", -0.3), ("tn", -0.01)) for s in (0, 1, 2)]
    result = ComparisonResult.from_cells(cells, config)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    result.write_csv(folder / "results.csv")
    result.write_pairs_csv(folder / "pairwise.csv")
    return folder, result


def test_the_header_shows_seeds_shots_and_task_options(tmp_path):
    folder, _ = write_seeded(tmp_path / "c")
    items = {i.label: i.value for i in header_items(read_run(folder))}
    assert items["split seeds"].startswith("0, 1, 2 (every cell once per seed")
    assert items["shots"] == "a: 2" and items["task options"] == "b: calibration=contextual"
    assert "seed=" not in items["settings"]


def test_an_old_config_with_one_seed_still_shows_it(tmp_path, png=b"\x89PNG"):
    folder = write_comparison(tmp_path / "old", png)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "seed": 7}))
    items = {i.label: i.value for i in header_items(read_run(folder))}
    assert items["split seeds"] == "7" and items["shots"] == "none" and items["task options"] == "none"


def test_mean_sd_per_seed_columns_and_who_beats_whom(tmp_path):
    folder, result = write_seeded(tmp_path / "c")
    page = render_report(folder).read_text(encoding="utf-8")
    tags = Tags(page)
    ids = [t.get("id") for t in tags.all("table")]
    assert ids == ["compare-1", "ranking-1", "ranking-2"]  # the answer first: plot and main table, then the pairs
    assert page.count("<details><summary>") == 2  # every pair, collapsed
    assert 'id="who-beats-whom"' in page and 'href="#who-beats-whom"' in page
    (row,) = [r for r in result.rows if r.variant == "neuronllm_ig"]
    assert ">Δ p (mean ± sd)<" in page and "Δ p per seed" in page and "Δ acc. per seed" in page
    assert f"{row.delta_p:+.4f} ± {row.delta_p_sd:.4f}" in page
    assert ", ".join(f"{x:+.4f}" for x in row.delta_p_per_seed) in page
    assert "4–6" in page  # neurons steered differ across seeds
    (pair,) = result.pairs
    assert pair.verdict == "neuronllm_ig beats tn" and "neuronllm_ig beats tn" in page
    assert f'<td data-sort="{pair.difference.interval.n}">{pair.difference.interval.n}</td>' in page  # examples
    assert pair.difference.interval.n == N + 4  # distinct examples over the three seeds, not 3 N
    assert "neuronllm_ig (" in page and f"tn {pair.difference.interval.format('+.4f')}" in page  # the compact table
    assert "counts once" in page  # the captions say what is resampled


def test_a_single_seed_comparison_has_no_per_seed_columns(tmp_path, png=b"\x89PNG"):
    page = render_report(write_comparison(tmp_path / "one", png)).read_text(encoding="utf-8")
    assert "per seed" not in page and ">Δ p (mean ± sd)<" not in page and 'id="who-beats-whom"' not in page
