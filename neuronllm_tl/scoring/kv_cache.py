"""Hugging Face key/value caches: whether a model returns one, and copies of one per row.

Shared-prompt scoring (:mod:`neuronllm_tl.scoring.shared_prompt`), prefix replay and layer replay
(:mod:`neuronllm_tl.attribution.replay`, :mod:`neuronllm_tl.attribution.layer_replay`) all start from the
cache of a question's prompt. Every pass that fills or reads such a cache runs inside
:func:`cache_handoff`, which keeps TransformerLens bridges working across transformers' rename of the cache
argument, and each fast path verifies itself against the plain forward pass once per model
(:mod:`neuronllm_tl.models.fast_paths`).
"""

from __future__ import annotations

import copy
import inspect
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import torch
from torch import Tensor

from neuronllm_tl.models.fast_paths import FastPathWarning
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device
from neuronllm_tl.scoring.encoding import EncodedQuestions

T = TypeVar("T")


def answer_suffix(question: EncodedQuestions, width: int | None = None) -> EncodedQuestions:
    """One question's rows from the answer position on (``width`` positions of it, or all), its answer
    position now 0; refused unless every row has the same answer position, after at least one token."""
    a = int(question.answer_pos[0])
    if a < 1 or not bool((question.answer_pos == a).all()):
        raise ValueError(
            "replay from the answer position needs at least one token before the answer position, shared by all rows."
        )
    end = None if width is None else a + width
    return replace(
        question,
        tokens=question.tokens[:, a:end],
        attention_mask=question.attention_mask[:, a:end],
        answer_pos=torch.zeros_like(question.answer_pos),
    )


def prompt_kv_cache(model: HookedModel, prompt: Tensor, prompt_mask: Tensor | None = None, hooks: Sequence = ()) -> Any:
    """The key/value cache of a pass over ``prompt`` (right-padded rows, ``prompt_mask``) with ``hooks``,
    without gradients and, where the model allows it, without the prompt's logits (they are never read)."""
    keep = {"logits_to_keep": 1} if _can_skip_prompt_logits(model) else {}
    with torch.no_grad(), cache_handoff(model):
        return model.run_with_hooks(
            prompt, attention_mask=prompt_mask, fwd_hooks=list(hooks), return_type="logits_and_cache", **keep
        )[1]


def run_with_cache_kv(model: HookedModel, tokens: Tensor, cache: Any, hooks: Sequence = (), **kwargs: Any) -> Tensor:
    """The logits of ``tokens`` continuing the key/value ``cache`` (extended in place), with ``hooks``."""
    with cache_handoff(model):
        return model.run_with_hooks(
            tokens, past_key_values=cache, fwd_hooks=list(hooks), return_type="logits", **kwargs
        )


@contextmanager
def cache_handoff(model: Any) -> Iterator[None]:
    """Within it, the bridge's attention components see the Hugging Face cache whichever name it comes by.

    transformers 5.25 renamed the decoder layers' ``past_key_values`` argument to ``cache``; TransformerLens
    4.3's attention bridges still read ``past_key_values`` and, not finding it, neither fill nor read the
    cache (the prompt is silently ignored). A forward pre-hook on each of them copies ``cache`` across; it
    does nothing where ``past_key_values`` is already given, and it is removed on exit, always.
    """
    handles = [m.register_forward_pre_hook(_hand_cache_over, with_kwargs=True) for m in _cache_readers(model)]
    try:
        with warnings.catch_warnings():  # the bridge still passes the old name to the model: not the user's to fix
            warnings.filterwarnings("ignore", message=".*`past_key_values` is deprecated", category=FutureWarning)
            yield
    finally:
        for handle in handles:
            handle.remove()


def _hand_cache_over(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    if kwargs.get("cache") is not None and kwargs.get("past_key_values") is None:
        return args, {**kwargs, "past_key_values": kwargs["cache"]}
    return None


_CACHE_READERS: weakref.WeakKeyDictionary[Any, list] = weakref.WeakKeyDictionary()


def _cache_readers(model: Any) -> list:
    """The model's modules that update a Hugging Face cache themselves (TransformerLens attention bridges)."""
    modules = getattr(model, "modules", None)
    if modules is None:
        return []
    return remembered(_CACHE_READERS, model, _find_cache_readers)


def _find_cache_readers(model: Any) -> list:
    return [m for m in model.modules() if hasattr(m, "_update_kv_cache")]


def base_model_cache(model: Any, tokens: Tensor, cache: Any = None) -> Any:
    """The cache after the wrapped Hugging Face base model's pass over ``tokens`` (continuing ``cache``);
    it stops before the unembedding, so no logits are computed."""
    base = model.original_model.base_model
    name = "cache" if "cache" in _parameters(base.forward) else "past_key_values"
    with cache_handoff(model):
        out = base(input_ids=tokens, use_cache=True, **({name: cache} if cache is not None else {}))
    return out["cache"] if "cache" in out else out["past_key_values"]


def _parameters(fn: Any) -> dict:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def _can_skip_prompt_logits(model: HookedModel) -> bool:
    """Whether the wrapped Hugging Face model takes ``logits_to_keep`` (transformers >= 4.45 causal LMs)."""
    forward = getattr(getattr(model, "original_model", None), "forward", None)
    return forward is not None and "logits_to_keep" in _parameters(forward)


def split_at_answer(model: HookedModel, question: EncodedQuestions) -> tuple[EncodedQuestions, Any]:
    """(the question from its answer position on, the key/value cache of the tokens before it)."""
    suffix = answer_suffix(question)
    return suffix, prompt_kv_cache(model, question.tokens[:1, : int(question.answer_pos[0])])


def expand_cache(cache: Any, n_rows: int) -> Any:
    """A copy of a one-row key/value cache repeated to ``n_rows`` rows (the forward pass appends to it)."""
    out = copy.deepcopy(cache)
    out.batch_repeat_interleave(n_rows)
    return out


def layer_kv(cache: Any, layer: int) -> tuple[Tensor, Tensor]:
    """One layer's cached (keys, values), ``[batch, kv_head, pos, d_head]``."""
    if hasattr(cache, "layers"):  # transformers >= 4.56
        return cache.layers[layer].keys, cache.layers[layer].values
    return cache.key_cache[layer], cache.value_cache[layer]


_PREFIX_CACHE_SUPPORT: weakref.WeakKeyDictionary[HookedModel, bool] = weakref.WeakKeyDictionary()
"""supports_prefix_cache's answer per model object, forgotten when the model is (never stored on it)."""


def remembered(
    table: weakref.WeakKeyDictionary[HookedModel, T], model: HookedModel, ask: Callable[[HookedModel], T]
) -> T:
    """``ask(model)``, asked once per model object and remembered beside it in ``table`` (a weak-keyed
    table, so the answer is forgotten with the model and nothing is stored on it)."""
    try:
        return table[model]
    except KeyError:
        answer = ask(model)
    except TypeError:  # not weak-referenceable: ask every time
        return ask(model)
    table[model] = answer
    return answer


def supports_prefix_cache(model: HookedModel) -> bool:
    """Whether ``model`` returns a Hugging Face key/value cache that can be replayed (HF-backed bridges).

    Asked once per model object with a two-token forward pass (:func:`remembered`).
    """
    return remembered(_PREFIX_CACHE_SUPPORT, model, _probe_prefix_cache)


def _probe_prefix_cache(model: HookedModel) -> bool:
    if not _takes_past_key_values(model):
        return False
    tokens = torch.zeros(1, 2, dtype=torch.long, device=model_device(model))
    try:
        with torch.no_grad():
            out = model(tokens, return_type="logits_and_cache")
    except ValueError:  # TransformerBridge before TL 4: "Invalid return_type: logits_and_cache"
        return False
    # native TL 4 bridges return (logits, None): no Hugging Face cache to replay
    return isinstance(out, tuple) and len(out) == 2 and hasattr(out[1], "batch_repeat_interleave")


def _takes_past_key_values(model: HookedModel) -> bool:
    """Whether ``forward`` accepts ``past_key_values`` (by name or ``**kwargs``). HookedTransformer's does
    not: asked for ``"logits_and_cache"`` it would only log "Invalid return_type" and return None."""
    try:
        params = inspect.signature(getattr(model, "forward", model)).parameters.values()
    except (TypeError, ValueError):  # no readable signature: let a forward pass answer
        return True
    return any(p.name == "past_key_values" or p.kind is p.VAR_KEYWORD for p in params)


_BEYOND_WINDOW: weakref.WeakSet[Any] = weakref.WeakSet()


def sliding_window_of(model: Any) -> int | None:
    """The smallest attention window of ``model``'s Hugging Face config (None: every layer is global)."""
    cfg = getattr(getattr(model, "original_model", None), "config", None)
    window = getattr(cfg, "sliding_window", None)
    if not window:
        return None
    layer_types = getattr(cfg, "layer_types", None)
    sliding = "sliding_attention" in layer_types if layer_types else getattr(cfg, "use_sliding_window", True)
    return int(window) if sliding else None


def cache_paths_fit(model: Any, n_tokens: int) -> bool:
    """Whether the key/value-cache paths (shared prompt, prompt cache, prefix replay, cached generation) may run
    on sequences of ``n_tokens``: continuing a bridge's cache past a sliding window's span does not apply the
    window (measured on a random Gemma 3), so longer sequences take the plain forward pass, said once per model.
    Layer replay runs its own windowed attention and is not limited."""
    window = sliding_window_of(model)
    if window is None or n_tokens <= window:
        return True
    if model not in _BEYOND_WINDOW:
        _BEYOND_WINDOW.add(model)
        warnings.warn(
            f"neuronllm_tl: sequences of {n_tokens} tokens exceed this model's {window}-token sliding window, where "
            "its key/value cache is not exact: they run by the plain forward pass (same results, slower). Said once "
            "per model.",
            FastPathWarning,
            stacklevel=3,
        )
    return False
