"""Greedy decoding of a task's prompts, batched, with hooks from the answer position on.

The prompt of a question ends at its answer position (the last prompt token). Generation continues from
there: at each step the most likely next token is appended (greedy decoding), until ``max_new_tokens`` or
every row has produced a stop token (a newline or the end-of-sequence token). The answer is the generated
text up to the first newline.

Hooks are given as ``hooks_from(start)``: hooks that act on every position ``>= start[row]``. They act on
the answer position and on every generated position, never on the prompt before the answer position
(``prompt_hooks`` do, for a steering at every position). Two engines compute the same tokens:

* a model that returns a Hugging Face key/value cache (:func:`~neuronllm_tl.scoring.kv_cache.supports_prefix_cache`)
  and passes :func:`cached_generation_on`'s check (once per model object: greedy tokens equal to the other
  engine's on two probe prompts of unequal length) runs the prompts before their answer positions once,
  right-padded (reusable across steerings through a :class:`~neuronllm_tl.scoring.shared_prompt.PromptCache`),
  then one position per row per step against the growing cache; the attention mask skips the padding and
  gives each row its own positions;
* any other model (a ``HookedTransformer``) reruns each row's whole sequence at every step, one row at a time.

``tests/unit/scoring/test_generation.py`` checks both against a one-row, whole-sequence loop.

Example:
    >>> from neuronllm_tl.models.validation import tokenizer_of
    >>> from neuronllm_tl.testing import tiny_generation_task
    >>> task = tiny_generation_task()                                    # 8 free-text prompts
    >>> encoder = QuestionEncoder(model, task)
    >>> ids = [encoder.prompt_ids(q) for q in task.questions()]
    >>> out = greedy_generate(model, ids, max_new_tokens=8, stop_ids=stop_token_ids(tokenizer_of(model)))
    >>> len(out), all(len(tokens) <= 8 for tokens in out)             # each prompt's new tokens
    (8, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from neuronllm_tl.models.fast_paths import fast_path_on, rule_out
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device
from neuronllm_tl.scoring.check_batches import random_tokens
from neuronllm_tl.scoring.kv_cache import cache_paths_fit, prompt_kv_cache, run_with_cache_kv, supports_prefix_cache
from neuronllm_tl.scoring.shared_prompt import PromptCache, prompt_cache_on

HooksFrom = Callable[[Tensor], Sequence]
"""``hooks_from(start)``: forward hooks that act on every position ``>= start[row]`` of a pass."""


def no_hooks(start: Tensor) -> list:
    return []


def stop_token_ids(tokenizer: Any) -> set[int]:
    """Tokens that end an answer: the end-of-sequence token and every token whose text contains a newline."""
    stops = {tokenizer.eos_token_id} if getattr(tokenizer, "eos_token_id", None) is not None else set()
    vocab = tokenizer.get_vocab()
    for token, index in vocab.items():
        if "\n" in tokenizer.convert_tokens_to_string([token]):
            stops.add(index)
    return stops


def greedy_generate(
    model: HookedModel,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    stop_ids: set[int] = frozenset(),  # type: ignore[assignment]
    hooks_from: HooksFrom = no_hooks,
    prompt_hooks: Sequence = (),
    first_tokens: Tensor | None = None,
    prompt_cache: PromptCache | None = None,
) -> list[list[int]]:
    """The greedy continuation of each prompt (token ids, the stop token included when reached).

    ``first_tokens``: force each row's first generated token (alternative answers start from them).
    """
    if any(len(p) < 2 for p in prompts):
        raise ValueError("every prompt needs at least 2 tokens (the answer position and one before it).")
    with torch.no_grad():
        if cached_generation_on(model) and cache_paths_fit(model, max(map(len, prompts)) + max_new_tokens):
            return _cached(
                model, prompts, max_new_tokens, stop_ids, hooks_from, prompt_hooks, first_tokens, prompt_cache
            )
        return [
            _recomputed(
                model, p, max_new_tokens, stop_ids, hooks_from, None if first_tokens is None else first_tokens[i]
            )
            for i, p in enumerate(prompts)
        ]


def cached_generation_on(model: HookedModel) -> bool:
    """Whether the cached engine runs on ``model`` (its own check, once per model object)."""
    if not supports_prefix_cache(model):
        return rule_out(model, "cached_generation", "the model returns no Hugging Face key/value cache")
    return fast_path_on(model, "cached_generation", _check_cached)


def _check_cached(model: HookedModel) -> str | None:
    prompts = [row[: 4 - i] for i, row in enumerate(random_tokens(model, (2, 4)).tolist())]
    with torch.no_grad():
        got = _cached(model, prompts, 3, set(), no_hooks, (), None, None)
        want = [_recomputed(model, p, 3, set(), no_hooks, None) for p in prompts]
    differ = sum(a != b for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=True))
    if differ:
        return f"{differ} of 6 greedy tokens differ from those of the plain forward pass"
    return None


def _cached(
    model: HookedModel,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_ids: set[int],
    hooks_from: HooksFrom,
    prompt_hooks: Sequence,
    first_tokens: Tensor | None,
    prompt_cache: PromptCache | None,
) -> list[list[int]]:
    device = model_device(model)
    before = [list(p[:-1]) for p in prompts]
    width = max(len(b) for b in before)
    prompt = torch.tensor([b + [0] * (width - len(b)) for b in before], device=device)
    mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in before], device=device)

    def run() -> Any:
        return prompt_kv_cache(model, prompt, mask, prompt_hooks)

    cached = prompt_cache is not None and not prompt_hooks and prompt_cache_on(model)
    cache = prompt_cache.fetch(model, prompt, mask, run) if cached and prompt_cache is not None else run()
    current = torch.tensor([p[-1] for p in prompts], device=device)
    hooks = list(hooks_from(torch.zeros(len(prompts), dtype=torch.long, device=device)))
    out: list[list[int]] = [[] for _ in prompts]
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        logits = run_with_cache_kv(model, current[:, None], cache, hooks, attention_mask=mask)
        current = logits[:, -1].argmax(-1) if step or first_tokens is None else first_tokens.to(device)
        done = _append(out, current, done, stop_ids)
        if bool(done.all()):
            break
    return out


def _append(out: list[list[int]], tokens: Tensor, done: Tensor, stop_ids: set[int]) -> Tensor:
    """Append each unfinished row's token; returns which rows are finished now."""
    for row, token in enumerate(tokens.tolist()):
        if not done[row]:
            out[row].append(token)
    stopped = torch.tensor([t in stop_ids for t in tokens.tolist()], device=done.device)
    return done | stopped


def _recomputed(
    model: HookedModel,
    prompt: Sequence[int],
    max_new_tokens: int,
    stop_ids: set[int],
    hooks_from: HooksFrom,
    first_token: Tensor | None,
) -> list[int]:
    device = model_device(model)
    tokens = torch.tensor([list(prompt)], device=device)
    hooks = list(hooks_from(torch.tensor([len(prompt) - 1], device=device)))
    out: list[int] = []
    for step in range(max_new_tokens):
        logits = model.run_with_hooks(tokens, fwd_hooks=hooks, return_type="logits")
        token = int(logits[0, -1].argmax()) if step or first_token is None else int(first_token)
        out.append(token)
        if token in stop_ids:
            break
        tokens = torch.cat([tokens, torch.tensor([[token]], device=device)], dim=1)
    return out


def answer_text(tokenizer: Any, ids: Sequence[int]) -> str:
    """The generated answer: decoded, up to the first newline, stripped."""
    text = tokenizer.decode(list(ids), skip_special_tokens=True)
    return text.split("\n", 1)[0].strip()


__all__ = ["HooksFrom", "answer_text", "greedy_generate", "no_hooks", "stop_token_ids"]
