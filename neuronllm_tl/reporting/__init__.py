"""Stage 11 of the pipeline: one self-contained HTML report of a run folder (after comparison, before cli).

``render_report(run_dir)`` reads what a run wrote there (``read_run``: the neuron set, ``report.json``,
``explanations.json``, ``top_activating.json``, a comparison's ``results.csv``, ``pairwise.csv`` and plots) and writes
``run_dir/report.html`` from the Jinja2 templates in ``templates/`` (package data): the header, the
per-layer plot, sortable good and bad neuron tables, a card per explained neuron, the steering table
with its intervals, and for a comparison its split seeds and task settings, who beats whom, its method
tables (mean ± sd across seeds and each seed's value) and plots. ``neuronllm-tl report RUN_DIR``
calls it; ``demo``, ``identify`` and ``compare`` call it at their end.

Example:
    >>> run = neurons.save("run")                                   # a run folder: the neuron set, ...
    >>> _ = nl.evaluate(model, held_out, neurons, controls=1).save_json(run / "report.json")   # ... its steering
    >>> nl.render_report(run)
    PosixPath('run/report.html')
    >>> "<html" in (run / "report.html").read_text()
    True
"""

from neuronllm_tl.reporting.render import REPORT_FILE, render_html, render_report
from neuronllm_tl.reporting.run_files import RunFiles, read_run

__all__ = ["REPORT_FILE", "RunFiles", "read_run", "render_html", "render_report"]
