"""Offline stand-ins for tests, benchmarks and the CLI's ``--model tiny-random``: not part of the pipeline.

:mod:`~neuronllm_tl.testing.models` builds a tiny random transformer and its word-level tokenizer,
:mod:`~neuronllm_tl.testing.tasks` a twelve-question task in that vocabulary, and
:mod:`~neuronllm_tl.testing.reference` the slow one-question, one-layer loops that the batched
attribution methods are checked against (imported from that module, not re-exported here). It imports only
the stages it stands in for (models, tasks, scoring, attribution); no stage of the pipeline imports it,
except the CLI for ``tiny-random``.

Example:
    >>> from neuronllm_tl.testing import tiny_model, tiny_task
    >>> neurons = nl.identify(tiny_model(), tiny_task(), k=5)
"""

from neuronllm_tl.testing.models import (
    TINY_WORDS,
    tiny_config,
    tiny_hf_gemma3,
    tiny_hf_llama,
    tiny_hooked_transformer,
    tiny_model,
    tiny_tokenizer,
)
from neuronllm_tl.testing.tasks import TINY_TEMPLATE, tiny_examples, tiny_generation_task, tiny_task

__all__ = [
    "TINY_TEMPLATE",
    "TINY_WORDS",
    "tiny_config",
    "tiny_examples",
    "tiny_hf_gemma3",
    "tiny_hf_llama",
    "tiny_hooked_transformer",
    "tiny_model",
    "tiny_generation_task",
    "tiny_task",
    "tiny_tokenizer",
]
