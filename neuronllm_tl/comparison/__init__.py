"""Stage 10 of the pipeline: NeuronLLM next to its baselines and ablations under one protocol.

Every registered method (stage 7) identifies neurons on one split of each task, and the evaluation
(stage 9) steers with them on another; ``config`` describes the grid, ``run`` runs it, ``store`` keys
every artefact by the content that produced it (so a rerun recomputes only what changed), and
``report`` and ``plots`` write the tables and figures. The CLI's ``compare`` command calls it.
"""
