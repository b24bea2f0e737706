"""scripts/evidence_tables.py: docs/results.md's and docs/neuron_selection.md's tables from a comparison folder,
written between their markers, with the grid's progress while it is not finished."""

import json
from dataclasses import replace

import pytest

from neuronllm_tl.comparison.report import Progress
from neuronllm_tl.comparison.results_csv import write_rows
from neuronllm_tl.tables import section_markers
from tests.unit.reporting.test_comparison_report import write_seeded
from tests.unit.scripts.conftest import loaded_script


@pytest.fixture(scope="module")
def ev():
    with loaded_script("evidence_tables") as module:
        yield module


def _doc(path, section):
    begin, end = section_markers(section)
    path.write_text(f"# Page\n\nreading\n{begin}\nold\n{end}\nmore\n")
    return path


def test_both_pages_get_their_tables_between_their_markers(ev, tmp_path):
    folder, result = write_seeded(tmp_path / "c")
    swept = [replace(r, group="mask", variant="mask=False") for r in result.rows if r.variant == "tn"]
    write_rows([*result.rows, *swept], folder / "results.csv")
    (folder / "progress.json").write_text(json.dumps(Progress(5, 8, ("a / tn / seed 2",) * 3).to_dict()))
    results, selection = _doc(tmp_path / "results.md", "evidence"), _doc(tmp_path / "selection.md", "selection")
    ev.main(["--folder", str(folder), "--results-doc", str(results), "--selection-doc", str(selection)])
    page = results.read_text()
    assert page.startswith("# Page\n\nreading\n") and page.endswith("-->\nmore\n") and "old" not in page
    assert "**Partial: 5 of 8 cells of the grid done, and it goes on" in page
    assert "| method | mode | neurons steered | Δ acc. (mean ± sd) | Δ p (mean ± sd) | Δ p 95% CI |" in page
    row = next(r for r in result.rows if r.variant == "neuronllm_ig")
    assert f"| neuronllm_ig | {row.mode} | " in page and f"{row.delta_p:+.4f} ± {row.delta_p_sd:.4f}" in page
    assert "Who beats whom" in page and "neuronllm_ig" in page.split("Who beats whom")[1]
    chosen = selection.read_text()
    assert "### Sweep: mask" in chosen and "| a | mask=False |" in chosen and "old" not in chosen


def test_a_finished_grid_has_no_banner(ev, tmp_path):
    folder, _ = write_seeded(tmp_path / "c")
    (folder / "progress.json").write_text(json.dumps(Progress(8, 8).to_dict()))
    results, selection = _doc(tmp_path / "results.md", "evidence"), _doc(tmp_path / "selection.md", "selection")
    ev.main(["--folder", str(folder), "--results-doc", str(results), "--selection-doc", str(selection)])
    assert "Partial" not in results.read_text() and "Partial" not in selection.read_text()
