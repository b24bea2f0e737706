"""issue #26 item 4: each comparison table is built once from typed rows; results.md and the HTML report are
two views of it, with the same columns and the same numbers (the report reads the rows back from the CSVs)."""

import csv
from dataclasses import replace

from neuronllm_tl.comparison.result_tables import comparison_tables, pairs_table, standings_table, summary_table
from neuronllm_tl.comparison.results_csv import read_pairs, read_rows, write_rows
from neuronllm_tl.evaluation.statistics import Interval
from neuronllm_tl.reporting import render_report
from tests.unit.reporting.test_comparison_report import write_seeded


def _texts(table):
    return table.header, [[c.text for c in row] for row in table.rows]


def test_every_table_carries_the_same_columns_and_numbers_in_both_views(tmp_path):
    folder, result = write_seeded(tmp_path / "c")
    rows = [*result.rows, *(replace(r, group="k", variant="k=10", random_n=2) for r in result.rows)]
    write_rows(rows, folder / "results.csv")
    with open(folder / "results.csv") as f:
        back = read_rows(csv.DictReader(f))
    with open(folder / "pairwise.csv") as f:
        pairs = read_pairs(csv.DictReader(f))

    def tables(rs, ps):
        return [*comparison_tables(rs), summary_table(rs), standings_table(ps), pairs_table(ps)]

    in_memory, from_csv = tables(rows, result.pairs), tables(back, pairs)
    assert [t.title for t in in_memory] == ["a: methods", "Sweep: k", "Summary over tasks", "Best per task and mode",
                                            "Every pair"]  # fmt: skip
    for md, html in zip(in_memory, from_csv, strict=True):
        assert _texts(md) == _texts(html), md.title

    page = render_report(folder).read_text()
    main, ablation = in_memory[:2]
    assert "RAC" in main.header and "Δ p 95% CI" in ablation.header
    for table in (main, ablation, in_memory[3], in_memory[4]):
        assert all(h in page for h in table.header), table.title
        assert all(c.text in page for row in table.rows for c in row if "<" not in c.text), table.title
    markdown = main.to_markdown().splitlines()[0]
    assert markdown.startswith("| method | mode | neurons steered |") and "| RAC |" in markdown


def test_a_sweep_measured_on_the_unrelated_task_shows_its_specificity_and_one_that_was_not_does_not(tmp_path):
    _, result = write_seeded(tmp_path / "c")
    on_unrelated = {
        "unrelated_task": "b",
        "unrelated_delta_p": -0.02,
        "unrelated_delta_p_ci": Interval(-0.02, -0.03, -0.01),
    }
    measured = [replace(r, group="mask", variant="mask=False", **on_unrelated, pcr=7.25) for r in result.rows]
    unmeasured = [replace(r, group="mask", variant="mask=False") for r in result.rows]
    assert all(r.unrelated_delta_p is None for r in unmeasured)
    [selection] = [t for t in comparison_tables(measured) if t.title == "Sweep: mask"]
    [reviewers] = [t for t in comparison_tables(unmeasured) if t.title == "Sweep: mask"]
    assert selection.header[-2:] == ["unrelated Δ p", "PCR"] and len(selection.rows[0]) == len(selection.header)
    assert "PCR" not in reviewers.header and len(reviewers.rows[0]) == len(reviewers.header)
    assert [c.text for c in selection.rows[0][-2:]] == ["-0.0200 [-0.0300, -0.0100]", "7.2"]
