"""Stage 10 of the pipeline: NeuronLLM next to its baselines and the sweeps of its settings, under one protocol.

Every registered method (stage 7) identifies neurons on one split of each task, and the evaluation
(stage 9) steers with them on another, once per split seed. ``config`` describes the grid (``variants`` its
methods and sweeps), ``splits`` makes each seed's splits (with per-task load options and k-shot
demonstrations), ``run`` runs one (task, variant, split seed) unit, ``schedule`` runs the grid within a time
budget, and ``store`` keys every artefact by the content that produced it (so a rerun recomputes only what
changed); ``estimate`` prices a grid before it runs. ``result_rows`` computes the metrics (mean ± sd across
seeds), ``intervals`` and ``pairwise`` the paired intervals (resampling distinct held-out examples, each
averaged over the seeds that held it out) and who beats whom, and ``report``, ``result_tables``,
``results_csv`` and ``plots`` write the tables and figures. The CLI's ``compare`` command calls it.
"""
