"""report.html of a real (tiny-model) demo run, opened in a headless Chromium: it draws, it sorts, it is offline.

Checks the page as a browser sees it: the tables are there, every plot decodes (naturalWidth > 0), no
console error or uncaught exception, and no request leaves the file (every request is the page itself or
a ``data:`` URI). A full-page screenshot is written to the test's folder, and also to
``$NEURONLLM_TL_SCREENSHOTS`` when it is set (to look at it, or keep it as a CI artefact).
Skips, saying so, only where no Chromium is installed (``.ci/run`` installs the Debian ``chromium``).
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from neuronllm_tl import cli
from neuronllm_tl.explanation import top_activating
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.reporting import render_report
from neuronllm_tl.testing import tiny_examples, tiny_model
from tests.integration.browser import Browser, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: install the Debian package (apt-get install -y chromium, as .ci/run does) "
    "or set NEURONLLM_TL_CHROMIUM to a Chromium/Chrome executable",
)
CORPUS = ["the sky is blue and the sea is blue .", "this movie was awful .", "one two three four five six", "the cat"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``neuronllm-tl demo`` on the tiny model (its real explanations), plus top-activating snippets."""
    folder = tmp_path_factory.mktemp("report")
    task = folder / "tiny.jsonl"
    task.write_text("\n".join(json.dumps(e) for e in tiny_examples()))
    out = folder / "demo"
    args = ["demo", "--model", "tiny-random", "--task", str(task), "--k", "6", "--controls", "2"]
    assert cli.main([*args, "--n-identify", "8", "--n-eval", "8", "--explain", "3", "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "explanations.json").is_file()
    neurons = NeuronSet.load(out / "neurons").top(3)
    top = top_activating(tiny_model(), neurons, CORPUS, k=2)
    (out / "top_activating.json").write_text(json.dumps(top.to_dict()))
    render_report(out)
    return out


def _keep(shot: Path) -> None:
    if os.environ.get("NEURONLLM_TL_SCREENSHOTS"):
        target = Path(os.environ["NEURONLLM_TL_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)


def _check_offline_and_clean(page) -> None:
    assert page.console_errors() == []
    leaving = [u for u in page.requests() if u != page.url and not u.startswith("data:")]
    assert leaving == [], f"requests that leave the file: {leaving}"
    widths = page.evaluate("Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth)))")
    assert widths and all(w > 0 for w in widths), widths


SORT_GOOD_BY_SCORE = """(() => {
  const table = document.getElementById("good-neurons");
  const scores = () => [...table.tBodies[0].rows].map(r => Number(r.cells[3].dataset.sort));
  const before = scores();
  table.tHead.rows[0].cells[3].click();
  const ascending = scores();
  table.tHead.rows[0].cells[3].click();
  return {before, ascending, descending: scores()};
})()"""


def test_demo_report_in_a_browser(demo_run):
    with Browser(CHROMIUM) as browser:
        page = browser.open(demo_run / "report.html")
        shot = page.screenshot(demo_run / "report_screenshot.png")
        _keep(shot)
        _check_offline_and_clean(page)
        counts = page.evaluate(
            """({
              good: document.querySelectorAll("#good-neurons tbody tr").length,
              bad: document.querySelectorAll("#bad-neurons tbody tr").length,
              steering: document.querySelectorAll("#steering-table tbody tr").length,
              cards: document.querySelectorAll("article.card").length,
              shaded: document.querySelectorAll(".snippet .tok").length,
              notes: [...document.querySelectorAll("[data-missing]")].map(n => n.dataset.missing),
              title: document.title,
            })"""
        )
        assert counts["good"] == 6 and counts["bad"] == 6 and counts["steering"] == 4
        assert counts["cards"] == 6 and counts["shaded"] > 0 and counts["notes"] == []
        assert counts["title"].startswith("NeuronLLM report: tiny:identify")
        sort = page.evaluate(SORT_GOOD_BY_SCORE)
        assert sort["before"] == sorted(sort["before"], reverse=True)  # best first, as written
        assert sort["ascending"] == sorted(sort["before"]) and sort["descending"] == sort["before"]
    assert shot.stat().st_size > 10_000


def test_comparison_report_in_a_browser(demo_run):
    out = demo_run.parent / "compare"
    args = ["compare", "--model", "tiny-random", "--tasks", str(demo_run.parent / "tiny.jsonl"), "--variants"]
    args += ["neuronllm_gxa", "random", "--sweeps", "k", "--k", "4", "--n-identify", "3", "--n-eval", "3"]
    assert cli.main([*args, "--controls", "1", "--out", str(out)]) == 0
    with Browser(CHROMIUM) as browser:
        page = browser.open(out / "report.html")
        _keep(page.screenshot(out / "comparison_screenshot.png"))
        _check_offline_and_clean(page)
        titles = page.evaluate("[...document.querySelectorAll('section#comparison h3')].map(h => h.textContent)")
        assert titles == ["tiny: methods", "Sweep: k"]
        assert page.evaluate("document.querySelectorAll('section#comparison img').length") == 2
