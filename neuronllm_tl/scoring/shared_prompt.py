"""Cloze questions whose options share one pass over their prompt.

In cloze format a question is one row per option: its prompt followed by that option's tokens, so a
14-option question reads its prompt 14 times. Causal attention makes the prompt's keys and values the
same in every one of those rows, so they can be computed once:

1. the prompts of the batch's questions, up to (not including) their answer position, run once, one
   right-padded row per question, returning the Hugging Face key/value cache;
2. the cache is indexed to one row per option (each option row gets its question's row);
3. each option row runs only its *suffix* (answer position, then the option's tokens), attending to its
   prompt through an attention mask that spans the cached prompt and the suffix. Positions continue each
   row's own prompt: the bridge derives them from that mask (a padded prompt leaves a gap before the suffix).

The answer position, where neurons are read and steered, is the suffix's first position, so a steering at
``positions="answer"`` hooks the suffix pass only; one at every position hooks both passes. The scores
equal those of the one-row-per-option pass up to floating-point summation order
(``tests/unit/scoring/test_shared_prompt.py``).

A :class:`PromptCache` keeps the prompt passes' caches between calls, keyed by the model's weights
(:func:`~neuronllm_tl.models.fingerprint.model_fingerprint`) and the prompts' tokens. Scoring one task under
many steerings at the answer position (``evaluate``'s modes and random controls, ``compare``'s cells) then
runs each prompt once in all, and each steering only the option suffixes. Hooked prompt passes (a steering
at every position) are never cached.

It needs a model that returns a Hugging Face cache (:func:`~neuronllm_tl.scoring.kv_cache.supports_prefix_cache`:
Hugging Face-backed ``TransformerBridge``s); :func:`can_share_prompt` says whether a batch can. Both paths
check themselves once per model against one row per option on a small probe
(:func:`shared_prompt_on`, :func:`prompt_cache_on`); a path that disagrees is off for the model, with a warning.

Example:
    >>> from neuronllm_tl.scoring.encoding import option_scores
    >>> from neuronllm_tl.testing import tiny_hf_llama
    >>> can_share_prompt(model, enc)                 # the tiny native bridge returns no Hugging Face cache
    False
    >>> llama = tiny_hf_llama(str(tmp_path / "llama"))     # a random Hugging Face Llama does
    >>> enc = QuestionEncoder(llama, task).encode(task.questions())
    >>> can_share_prompt(llama, enc)
    True
    >>> with torch.no_grad():
    ...     logits, suffix = shared_prompt_logits(llama, enc)
    ...     scores = option_scores(logits, suffix)
    ...     plain = option_scores(forward_logits(llama, enc), enc)     # one full row per option
    >>> torch.testing.assert_close(scores, plain, rtol=1e-4, atol=1e-4)
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.models.fast_paths import fast_path_on, logit_difference, rule_out
from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.scoring.check_batches import check_batch, read_positions
from neuronllm_tl.scoring.encoded import EncodedQuestions, forward_logits
from neuronllm_tl.scoring.kv_cache import cache_paths_fit, prompt_kv_cache, run_with_cache_kv, supports_prefix_cache


def can_share_prompt(model: HookedModel, enc: EncodedQuestions) -> bool:
    """Whether ``enc``'s options can share their prompt on ``model``: cloze rows, more rows than questions,
    at least one token before every answer position, and a model that returns a Hugging Face cache."""
    return (
        enc.answer_format == "cloze"
        and enc.n_rows > enc.n_questions
        and bool((enc.answer_pos >= 1).all())
        and shared_prompt_on(model)
        and cache_paths_fit(model, int(enc.tokens.shape[1]))
    )


def shared_prompt_on(model: HookedModel) -> bool:
    """Whether shared-prompt scoring runs on ``model``: it returns a Hugging Face cache, and the shared pass
    reproduces one row per option on a probe of unequal prompts (checked once per model object)."""
    if not supports_prefix_cache(model):
        return rule_out(model, "shared_prompt", "the model returns no Hugging Face key/value cache")
    return fast_path_on(model, "shared_prompt", lambda m: _check(m, None))


def has_active_hooks(model: HookedModel) -> bool:
    """Whether forward hooks are attached to the model's hook points now (e.g. inside ``nl.steer``)."""
    points = getattr(model, "hook_dict", {}).values()
    return any(getattr(p, "fwd_hooks", None) or getattr(p, "_forward_hooks", None) for p in points)


def prompt_cache_on(model: HookedModel) -> bool:
    """Whether a :class:`PromptCache` serves ``model``: shared-prompt scoring runs on it, and a stored cache
    served twice (a miss, then a hit) reproduces one row per option (checked once per model object)."""
    if not shared_prompt_on(model):
        return rule_out(model, "prompt_cache", "shared-prompt scoring is off for this model")
    return fast_path_on(model, "prompt_cache", lambda m: _check(m, PromptCache()))


def _check(model: HookedModel, prompt_cache: PromptCache | None) -> str | None:
    enc = check_batch(model)
    with torch.no_grad():
        want = read_positions(forward_logits(model, enc), enc)
        for _ in range(1 if prompt_cache is None else 2):
            logits, suffix = _shared_prompt_logits(model, enc, (), (), prompt_cache)
            problem = logit_difference(read_positions(logits, suffix), want)
            if problem is not None:
                return problem
    return None


def split_prompts(
    enc: EncodedQuestions,
) -> tuple[Int[Tensor, "question prompt_pos"], Int[Tensor, "question prompt_pos"], EncodedQuestions]:
    """(each question's prompt before its answer position, right-padded; its attention mask; ``enc``'s rows
    from their answer position on, with ``answer_pos`` 0)."""
    rows = torch.arange(enc.n_rows, device=enc.tokens.device)
    first = torch.full((enc.n_questions,), enc.n_rows, device=rows.device)
    first = first.scatter_reduce(0, enc.row_question, rows, reduce="amin")
    prompt_len = enc.answer_pos[first]
    width = torch.arange(int(prompt_len.max()), device=rows.device)
    prompt_mask = (width < prompt_len[:, None]).long()
    prompt = enc.tokens[first, : len(width)] * prompt_mask

    row_len = enc.attention_mask.sum(1)
    offsets = torch.arange(int((row_len - enc.answer_pos).max()), device=rows.device)
    index = (enc.answer_pos[:, None] + offsets).clamp(max=enc.tokens.shape[1] - 1)
    suffix_mask = (enc.answer_pos[:, None] + offsets < row_len[:, None]).long()
    suffix = replace(
        enc,
        tokens=enc.tokens.gather(1, index) * suffix_mask,
        attention_mask=suffix_mask,
        answer_pos=torch.zeros_like(enc.answer_pos),
    )
    return prompt, prompt_mask, suffix


class PromptCache:
    """Prompt passes' key/value caches, keyed by the model's fingerprint and the prompts' tokens and mask.

    Least recently used entries are dropped beyond ``max_bytes`` (the keys and values held: about
    n_layers x 2 x n_kv_heads x d_head x prompt tokens numbers per question). Hold one while scoring a task
    many times and drop it after; an edit of the weights changes the fingerprint, so it cannot serve stale caches.
    """

    def __init__(self, *, max_bytes: int = 2 * 1024**3) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.calibration: dict = {}
        """Calibration offsets kept across scorings (``QuestionEncoder(calibration_store=...)``), keyed by the
        model's fingerprint and read-out: a calibrated task's baselines run once, not once per steering."""
        self.hits = 0
        self.misses = 0

    def fetch(self, model: HookedModel, prompt: Tensor, prompt_mask: Tensor, run: Callable[[], Any]) -> Any:
        """A private copy of the cache of ``prompt`` on ``model``: ``run()``'s, run now or remembered."""
        digest = hashlib.sha256(model_fingerprint(model).encode())
        for t in (prompt, prompt_mask):
            digest.update(str(tuple(t.shape)).encode() + t.detach().cpu().numpy().tobytes())
        key = digest.hexdigest()
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
        else:
            self.misses += 1
            cache = run()
            self._entries[key] = (cache, _cache_bytes(cache))
            self._evict()
        return copy.deepcopy(self._entries[key][0])

    def _evict(self) -> None:
        while len(self._entries) > 1 and sum(size for _, size in self._entries.values()) > self.max_bytes:
            self._entries.popitem(last=False)


def _cache_bytes(cache: Any) -> int:
    layers = getattr(cache, "layers", [])
    return sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values) if t is not None)


def shared_prompt_logits(
    model: HookedModel,
    enc: EncodedQuestions,
    *,
    prompt_hooks: Sequence = (),
    suffix_hooks: Sequence = (),
    prompt_cache: PromptCache | None = None,
) -> tuple[Float[Tensor, "row suffix_pos vocab"], EncodedQuestions]:
    """(the logits of ``enc``'s rows from their answer position on, those rows as a batch to read them with).

    ``prompt_hooks`` run on the prompt pass, ``suffix_hooks`` on the suffix pass (they index its rows;
    the answer position is 0); both are removed afterwards, always. The prompt pass runs without gradients:
    gradients reach the answer position and what follows it, never the prompt. Check :func:`can_share_prompt` first.
    A ``prompt_cache`` is used only where :func:`prompt_cache_on` says it is verified on the model.
    """
    if prompt_cache is not None and (has_active_hooks(model) or not prompt_cache_on(model)):
        prompt_cache = None  # a prompt run under a user's hooks (nl.steer) must not serve an unhooked call
    return _shared_prompt_logits(model, enc, prompt_hooks, suffix_hooks, prompt_cache)


def _shared_prompt_logits(
    model: HookedModel,
    enc: EncodedQuestions,
    prompt_hooks: Sequence,
    suffix_hooks: Sequence,
    prompt_cache: PromptCache | None,
) -> tuple[Tensor, EncodedQuestions]:
    prompt, prompt_mask, suffix = split_prompts(enc)

    def run() -> Any:
        return prompt_kv_cache(model, prompt, prompt_mask, prompt_hooks)

    cached = prompt_cache is not None and not prompt_hooks
    cache = prompt_cache.fetch(model, prompt, prompt_mask, run) if cached and prompt_cache is not None else run()
    cache.batch_select_indices(enc.row_question)
    mask = torch.cat([prompt_mask[enc.row_question], suffix.attention_mask], dim=1)
    return run_with_cache_kv(model, suffix.tokens, cache, suffix_hooks, attention_mask=mask), suffix


def read_logits(
    model: HookedModel,
    enc: EncodedQuestions,
    hooks_at: Callable[[Int[Tensor, " row"]], Sequence] = lambda answer_pos: (),
    *,
    prompt_hooks: Sequence = (),
    share_prompt: bool = True,
    prompt_cache: PromptCache | None = None,
) -> tuple[Float[Tensor, "row pos vocab"], EncodedQuestions]:
    """(logits of ``enc``'s rows, the batch whose positions index them), by a shared prompt where it can
    (``share_prompt`` and :func:`can_share_prompt`), else by one full pass.

    ``hooks_at(answer_pos)`` builds the hooks for the rows' answer positions in the pass that reads them
    (0 in a shared-prompt suffix); ``prompt_hooks`` run on a shared prompt's pass only (a hook for every
    position: in a full pass, ``hooks_at`` already covers the prompt). ``prompt_cache``: see :class:`PromptCache`.
    """
    if share_prompt and can_share_prompt(model, enc):
        suffix_hooks = hooks_at(torch.zeros_like(enc.answer_pos))
        return shared_prompt_logits(
            model, enc, prompt_hooks=prompt_hooks, suffix_hooks=suffix_hooks, prompt_cache=prompt_cache
        )
    return forward_logits(model, enc, hooks_at(enc.answer_pos)), enc


__all__ = [
    "PromptCache",
    "can_share_prompt",
    "has_active_hooks",
    "prompt_cache_on",
    "read_logits",
    "shared_prompt_logits",
    "shared_prompt_on",
    "split_prompts",
]
