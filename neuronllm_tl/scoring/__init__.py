"""Stage 4 of the pipeline: a task's questions become token batches, and a model's logits become option
scores and the objective F whose attribution ranks the neurons.

It sits between the tasks (stage 3), whose questions it encodes, and attribution (stage 5), which
differentiates F; evaluation reads its option scores too. ``encoding`` holds the batches and read-outs,
``objectives`` the registry of objectives (callables of the option scores), ``batches`` the grouping of
questions into passes.
"""
