"""Tiny offline models, tokenizers and tasks for tests and benchmarks (no download, milliseconds a pass).

Example:
    >>> from neuronllm_tl.testing import tiny_model, tiny_task
    >>> model = tiny_model()                       # TransformerBridge, eval mode, word-level tokenizer
    >>> neurons = nl.identify(model, tiny_task(), k=5)
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from typing import Any

import torch

from neuronllm_tl.tasks.task import Task
from neuronllm_tl.tasks.template import QATemplate

TINY_WORDS = (
    "[PAD] [UNK] [BOS] A B C D E Question Answer Context : . ? , the a is was this that movie food "
    "book song good bad great awful fine poor positive negative neutral red blue green yellow cat dog "
    "bird fish one two three four five six sky sea grass sun color animal number which what of"
).split()
TINY_TEMPLATE = QATemplate(header="", show_options=True)


@lru_cache(maxsize=None)
def tiny_tokenizer() -> Any:
    """A word-level fast tokenizer over :data:`TINY_WORDS`, saved and reloaded as a bridge expects."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(TINY_WORDS)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]")
    folder = tempfile.mkdtemp(prefix="neuronllm_tl_tiny_tok_")
    fast.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def tiny_config(**overrides: Any) -> dict[str, Any]:
    cfg = dict(
        d_model=32, d_head=8, n_heads=4, n_layers=3, n_ctx=128, d_vocab=64, d_mlp=48,
        act_fn="silu", normalization_type="RMS", gated_mlp=True, seed=0,
    )
    cfg.update(overrides)
    return cfg


def tiny_model(*, dtype: torch.dtype = torch.float32, **overrides: Any) -> Any:
    """A random gated-MLP ``TransformerBridge`` (3 layers, d_mlp 48) with the tiny tokenizer, in eval mode."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    model = TransformerBridge.boot_native(TransformerBridgeConfig(**tiny_config(**overrides)), tokenizer=tiny_tokenizer())
    model = model.to(dtype) if dtype != torch.float32 else model
    return model.eval()


def tiny_hooked_transformer(*, dtype: torch.dtype = torch.float32, **overrides: Any) -> Any:
    """The same shape as a ``HookedTransformer`` (TL <= 3.9 only; raises ImportError on TL 4.x)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = tiny_config(**overrides)
    seed = cfg.pop("seed")
    torch.manual_seed(seed)
    model = HookedTransformer(HookedTransformerConfig(**cfg, dtype=dtype), tokenizer=tiny_tokenizer())
    return model.eval()


def tiny_examples() -> list[dict[str, Any]]:
    """Twelve made-up questions in the tiny vocabulary (2 to 4 options)."""
    return [
        {"question": "the movie was great .", "options": ["positive", "negative"], "answer": 0},
        {"question": "the food was awful .", "options": ["positive", "negative"], "answer": 1},
        {"question": "this book is good .", "options": ["positive", "negative", "neutral"], "answer": 0},
        {"question": "that song was poor .", "options": ["positive", "negative", "neutral"], "answer": 1},
        {"question": "the song is fine .", "options": ["positive", "negative", "neutral"], "answer": 2},
        {"question": "what color is the sky ?", "options": ["blue", "green", "red", "yellow"], "answer": 0},
        {"question": "what color is the grass ?", "options": ["blue", "green", "red", "yellow"], "answer": 1},
        {"question": "what color is the sun ?", "options": ["blue", "green", "red", "yellow"], "answer": 3},
        {"question": "which is a animal ?", "options": ["cat", "sky", "sea"], "answer": 0},
        {"question": "which is a number ?", "options": ["dog", "five", "sun"], "answer": 1},
        {"question": "which is a color ?", "options": ["fish", "bird", "red"], "answer": 2},
        {"question": "what is two ?", "options": ["number", "animal"], "answer": 0},
    ]


def tiny_task(answer_format: str = "cloze", **kwargs: Any) -> Task:
    kwargs.setdefault("template", TINY_TEMPLATE)
    return Task.from_examples(tiny_examples(), name=f"tiny-{answer_format}", answer_format=answer_format, **kwargs)
