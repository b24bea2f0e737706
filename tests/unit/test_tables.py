"""Writing a measured table into its doc: the page keeps its prose, a rerun replaces only the section."""

import pytest

from neuronllm_tl.tables import section_markers, write_section


def test_a_section_is_replaced_between_its_markers_and_the_rest_of_the_page_kept(tmp_path):
    doc = tmp_path / "page.md"
    begin, end = section_markers("results")
    other_begin, other_end = section_markers("other")
    doc.write_text(f"# Page\n\nprose\n{begin}\nold\n{end}\nmore prose\n{other_begin}\nkept\n{other_end}\n")
    write_section(doc, "results", "| a |\n|---|\n| 1 |\n\n")
    write_section(doc, "results", "| a |\n|---|\n| 2 |\n")  # a rerun replaces, it does not append
    page = doc.read_text()
    assert page == f"# Page\n\nprose\n{begin}\n| a |\n|---|\n| 2 |\n{end}\nmore prose\n{other_begin}\nkept\n{other_end}\n"


def test_a_page_without_the_markers_is_refused_with_where_to_put_them(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text("# Page\n")
    with pytest.raises(ValueError, match="no <!-- results:begin --> ... <!-- results:end --> markers"):
        write_section(doc, "results", "x")
    assert doc.read_text() == "# Page\n"


def test_a_table_keeps_the_columns_asked_for_in_their_order_and_names_the_ones_it_lacks():
    from neuronllm_tl.tables import Cell, Table

    t = Table("t", ("a", "b", "c"), [[Cell("1"), Cell("2"), Cell("3")]], "caption")
    picked = t.select("c", "a")
    assert picked.header == ("c", "a") and [c.text for c in picked.rows[0]] == ["3", "1"] and picked.caption == "caption"
    with pytest.raises(ValueError, match=r"has no column \['d'\]; its columns: \['a', 'b', 'c'\]"):
        t.select("a", "d")
