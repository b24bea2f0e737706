"""Tiny offline models and their tokenizer for tests, benchmarks and ``--model tiny-random`` (no download).

A 3-layer gated-MLP transformer (d_model 32, d_mlp 48) with random weights and a word-level tokenizer over
:data:`TINY_WORDS` runs a forward pass in milliseconds, so the whole pipeline can be exercised on a laptop.
The same shape is offered as a ``TransformerBridge`` (:func:`tiny_model`) and, on TransformerLens <= 3.9,
as a ``HookedTransformer`` (:func:`tiny_hooked_transformer`). :func:`tiny_hf_llama` is a real Hugging Face
architecture (a 2-layer random Llama) behind ``TransformerBridge.boot_transformers``: the model class that
returns a key/value cache, so prefix replay runs on it.

Example:
    >>> from neuronllm_tl.testing import tiny_model, tiny_task
    >>> model = tiny_model()                       # TransformerBridge, eval mode, word-level tokenizer
    >>> neurons = nl.identify(model, tiny_task(), k=5)
"""

from __future__ import annotations

import tempfile
from functools import cache
from typing import Any

import torch

from neuronllm_tl.models.protocol import HookedModel

TINY_WORDS = (
    "[PAD] [UNK] [BOS] A B C D E Question Answer Context : . ? , the a is was this that movie food "
    "book song good bad great awful fine poor positive negative neutral red blue green yellow cat dog "
    "bird fish one two three four five six sky sea grass sun color animal number which what of"
).split()


@cache
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
    """The tiny model's config as keyword arguments (``overrides`` replace single fields)."""
    cfg = dict(
        d_model=32,
        d_head=8,
        n_heads=4,
        n_layers=3,
        n_ctx=128,
        d_vocab=64,
        d_mlp=48,
        act_fn="silu",
        normalization_type="RMS",
        gated_mlp=True,
        seed=0,
    )
    cfg.update(overrides)
    return cfg


def tiny_model(*, dtype: torch.dtype = torch.float32, **overrides: Any) -> HookedModel:
    """A random gated-MLP ``TransformerBridge`` (3 layers, d_mlp 48) with the tiny tokenizer, in eval mode."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    config = TransformerBridgeConfig(**tiny_config(**overrides))
    # boot_native is attached to the class at import time by transformer_lens.model_bridge.sources (setattr),
    # so TransformerLens' own class stub does not declare it.
    model = TransformerBridge.boot_native(config, tokenizer=tiny_tokenizer())  # type: ignore[attr-defined]
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


_TINY_HF: dict[str, Any] = dict(
    vocab_size=64, hidden_size=32, intermediate_size=40, num_attention_heads=4, num_key_value_heads=2
)
"""The shape the tiny Hugging Face models share (the tiny tokenizer's vocabulary, d_mlp 40)."""


def _save_and_boot(model: Any, folder: str | None, prefix: str) -> Any:
    """``model`` saved with the tiny tokenizer to ``folder`` (a fresh temporary one by default) and loaded from
    there by ``boot_transformers``, as a user's local model is."""
    from transformer_lens.model_bridge import TransformerBridge

    folder = folder or tempfile.mkdtemp(prefix=prefix)
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return TransformerBridge.boot_transformers(str(folder), device="cpu").eval()


def tiny_hf_llama(folder: str | None = None, *, n_layers: int = 2) -> Any:
    """A random Hugging Face Llama (2 layers by default, d_mlp 40) with the tiny tokenizer, wrapped by
    ``boot_transformers`` (saved to ``folder``, a fresh temporary folder by default, and loaded from there)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**_TINY_HF, num_hidden_layers=n_layers, max_position_embeddings=128)
    return _save_and_boot(LlamaForCausalLM(cfg), folder, "neuronllm_tl_tiny_llama_")


def tiny_hf_gemma3(folder: str | None = None, *, n_layers: int = 3, sliding_window: int = 4) -> Any:
    """A random Hugging Face Gemma 3 (query/key norms, four norms a block, GeGLU; local layers with a
    ``sliding_window``-token window and their own rotary base, the last layer global) with the tiny
    tokenizer, wrapped by ``boot_transformers``. The window is short, so the tiny tasks' prompts exceed it."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    layer_types = ["sliding_attention"] * (n_layers - 1) + ["full_attention"]
    cfg = Gemma3TextConfig(
        **_TINY_HF,
        num_hidden_layers=n_layers,
        head_dim=8,
        query_pre_attn_scalar=8,
        sliding_window=sliding_window,
        layer_types=layer_types,
        max_position_embeddings=128,
    )
    model = Gemma3ForCausalLM(cfg)
    with torch.no_grad():  # random norm weights: Gemma's norms scale by 1 + weight, which starts at 0
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.3)
    return _save_and_boot(model, folder, "neuronllm_tl_tiny_gemma3_")
