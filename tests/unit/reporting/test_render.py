"""render_report on hand-written run folders (no model, no browser): content, escaping, missing pieces, no network."""

import json
from html.parser import HTMLParser
from importlib import resources

import pytest

from neuronllm_tl import cli
from neuronllm_tl.reporting import read_run, render_report
from neuronllm_tl.reporting.cards import shade
from neuronllm_tl.reporting.render import visible
from neuronllm_tl.reporting.report_tables import fmt
from tests.unit.reporting.fixtures import write_comparison, write_run

EVIL = "<script>alert('x')</script>"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def all(self, tag):
        return [attrs for t, attrs in self.tags if t == tag]


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run")


def render(folder):
    path = render_report(folder)
    assert path == folder / "report.html"
    return path.read_text(encoding="utf-8")


def test_a_full_run_shows_every_section(run):
    page = render(run)
    tags = Tags(page)
    tables = {t.get("id") for t in tags.all("table")}
    assert {"good-neurons", "bad-neurons", "steering-table"} <= tables
    assert all("sortable" in t["class"] for t in tags.all("table"))
    cards = [a for a in tags.all("article") if "card" in a["class"]]
    assert len(cards) == 4  # 2 good + 2 bad explained; the snippets belong to the good ones
    assert [c["class"] for c in cards] == ["card good"] * 2 + ["card bad"] * 2
    assert "pushes distractor &#39;Berlin&#39;" in page
    assert 'class="tok" style="background-color: rgba(255, 140, 0, 1.00)"' in page  # the snippet's max token
    assert 'class="sig"' in page and "[-0.2000, -0.0500]" in page  # the CI that excludes 0, in bold
    assert 'data-missing="' not in page  # nothing is missing
    for label in ("model fingerprint", "task fingerprint", "versions", "method"):
        assert f"<dt>{label}</dt>" in page
    assert "abababababababab…" in page and 'title="' + "ab" * 32 + '"' in page


def test_the_page_is_self_contained(run):
    tags = Tags(render(run))
    images = tags.all("img")
    assert images and all(i["src"].startswith("data:image/png;base64,") for i in images)
    assert not tags.all("link") and not tags.all("iframe") and not tags.all("object")
    assert all("src" not in s for s in tags.all("script"))
    urls = [a[k] for _, a in tags.tags for k in ("src", "href", "action") if k in a]
    assert not [u for u in urls if "http" in u.lower() or u.startswith("//")]
    assert all(u.startswith("#") for _, a in tags.tags for k, u in a.items() if k == "href")
    assert not [s for s in tags.scripts if "http" in s or "import" in s or "fetch(" in s]


def test_run_text_is_escaped(tmp_path):
    folder = write_run(tmp_path / "run", task_name=EVIL)
    page = render(folder)
    tags = Tags(page)
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert len(tags.all("script")) == 1  # only the page's own sorting script
    assert "&lt;script&gt;" in page.split("Top-activating text")[1]  # a token of a snippet, shown as text
    assert '<span class="chip up" title="&lt;b&gt;">&lt;b&gt;<small>' in page  # a promoted token


def test_missing_pieces_are_noted_not_raised(tmp_path):
    folder = write_run(tmp_path / "bare", explanations=False, report=False)
    page = render(folder)
    missing = {a["data-missing"] for a in Tags(page).all("p") if "data-missing" in a}
    assert missing == {"explanations", "steering"}
    assert "No explanations.json" in page and "nl.explain(" in page
    assert Tags(page).all("img")  # the per-layer plot, drawn from the neuron set
    empty = tmp_path / "empty"
    empty.mkdir()
    page = render(empty)
    assert {a["data-missing"] for a in Tags(page).all("p") if "data-missing" in a} >= {"neurons", "layers"}


def test_an_unreadable_piece_is_noted(run):
    (run / "explanations.json").write_text("{not json")
    (run / "report.json").write_text("[1, 2]")
    page = render(run)
    assert "explanations.json could not be read" in page
    assert "report.json does not hold a JSON object" in page


def test_a_comparison_shows_its_tables_and_plots(tmp_path, run):
    folder = write_comparison(tmp_path / "compare", read_run(run).plots["layers.png"])
    page = render(folder)
    tags = Tags(page)
    assert page.count('<img class="zoom" src="data:image/png;base64,') == 1  # delta_p.png (no sweep_k.png)
    titles = [h for h in page.split("<h3>")[1:]]
    assert titles[0].startswith("a: methods") and titles[1].startswith("Sweep: k")
    assert len(tags.all("table")) == 2 and "[-0.6000, -0.4000]" in page and "-50.0 ✓" in page
    assert "-50.0 (only 2 random sets: no verdict)" in page
    assert "Method comparison: a" in page and "a.jsonl" not in page and "good-neurons" not in page


def test_format_and_shading():
    assert fmt(None) == "–" and fmt("") == "–" and fmt(float("inf")) == "∞" and fmt(0.5, ".2f") == "0.50"
    assert shade(-2.0, 4.0) == "background-color: rgba(30, 110, 255, 0.50)"
    assert shade(1.0, 0.0).endswith("0.00)")
    assert visible(" Paris") == "␣Paris" and visible("") == "∅" and visible("a\n") == "a↵"


def test_templates_are_package_data():
    templates = resources.files("neuronllm_tl.reporting") / "templates"
    assert {p.name for p in templates.iterdir()} >= {"report.html", "card.html", "macros.html", "style.css", "sort.js"}


def test_cli_report(run, tmp_path, capsys):
    assert cli.main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert cli.main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_the_explanations_contract_is_read_as_written(run):
    rows = json.loads((run / "explanations.json").read_text())["rows"]
    page = render(run)
    for r in rows:
        assert f'id="card-L{r["layer"]}-N{r["index"]}"' in page
        assert f'href="#card-L{r["layer"]}-N{r["index"]}"' in page  # linked from the neuron tables


def test_a_method_the_run_skipped_is_not_listed(tmp_path, run):
    from neuronllm_tl.reporting.header import _compared

    folder = write_comparison(tmp_path / "compare", read_run(run).plots["layers.png"])
    files = read_run(folder)
    cfg = {**(files.compare_config or {}), "variants": ["neuronllm", "lape", "qrnca"]}  # lape: no rows (skipped)
    assert _compared(cfg, files) == ["neuronllm", "qrnca"]


def test_a_comparison_written_before_the_k_plot_was_renamed_still_shows_it(tmp_path, run):
    png = read_run(run).plots["layers.png"]
    folder = write_comparison(tmp_path / "compare", png)
    (folder / "ablation_k.png").write_bytes(png)  # the name a comparison gave its K plot before the sweeps' rename
    assert read_run(folder).plots["sweep_k.png"] == png
    assert render(folder).count('<img class="zoom" src="data:image/png;base64,') == 2
