"""Replay from the variant's layer: the fastest exact replay, for Llama- and Gemma-3-family Hugging Face bridges.

A variant that changes layer l's answer-position activation (an IG step scaling layer l, an ablation of a
neuron of layer l) changes nothing below layer l, at any position, and nothing before the answer position,
at any layer. So one clean pass per question records

* the key/value cache of the prompt before the answer position (one copy, batch 1), and
* the residual stream entering every block at the answer suffix (the answer position, plus the option
  tokens in cloze format),

and a variant of layer l runs only blocks l..L-1 on its suffix rows, starting from the clean residual.
In cloze format the suffix rows of a question are packed into one (:mod:`~neuronllm_tl.attribution.packing`:
the answer position once, then every option's tokens, each attending only to its own), so a variant replays
no padding and no repeated answer position.
Its attention reads the prompt's keys and values *shared* by every row (an einsum over the one cached
copy, never a per-row copy), so memory is that of the bare pass plus the variant rows. Where only the
option letters' logits are read (letter format, an objective of option scores only), only those columns
of ``W_U`` are unembedded.

The blocks are run here, not by the model's forward: pre-norm residual blocks (``ln1``, ``attn``,
``ln2``, ``mlp`` children of the bridge's blocks) whose attention is a Hugging Face module with
``q_proj``/``k_proj``/``v_proj``/``o_proj`` and rotary position embeddings (Llama, Mistral, Qwen2,
SmolLM). The MLP components are the bridge's own, so hooks on ``blocks.{l}.mlp.*`` fire as usual; hooks
on attention and residual hook points do not fire in a replay (variants only hook MLP neurons).
:func:`supports_layer_replay` checks the structure and then, once per model object, that replays from the
first and the last layer reproduce the model's own logits (:mod:`neuronllm_tl.models.fast_paths`; a failing
or crashing check warns); a model that fails either uses prefix replay (:mod:`neuronllm_tl.attribution.replay`).
Letter-only unembedding checks itself the same way (:func:`letter_unembedding_on`).

Example:
    >>> from neuronllm_tl.testing import tiny_hf_llama
    >>> llama = tiny_hf_llama(str(tmp_path / "llama"))                # a 2-layer random Llama, saved there
    >>> question = QuestionEncoder(llama, task).encode(task.questions()[:1])
    >>> suffix, state = capture_question(llama, question)
    >>> logits = replayed_logits(llama, state, start=torch.tensor([1]))[0]   # one variant, from block 1
    >>> with torch.no_grad():
    ...     clean = llama(question.tokens[:1, : int(question.answer_pos[0]) + 1])[0, -1]
    >>> torch.testing.assert_close(logits[0, 0], clean, rtol=1e-4, atol=1e-4)   # no hooks: the clean logits
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.attribution.packing import PackedSuffix, pack_suffix
from neuronllm_tl.attribution.suffix_attention import ATTENTION_PARTS, shared_prefix_attention
from neuronllm_tl.models.fast_paths import fast_path_on, fast_path_status, logit_difference, rule_out
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.scoring.check_batches import read_positions, shared_prompt_check_batch
from neuronllm_tl.scoring.encoding import EncodedQuestions
from neuronllm_tl.scoring.kv_cache import (
    answer_suffix,
    base_model_cache,
    expand_cache,
    layer_kv,
    remembered,
    supports_prefix_cache,
)

_BLOCK_PARTS = ("ln1", "attn", "ln2", "mlp")


@dataclass
class QuestionState:
    """One question's clean state: what every variant of it starts from."""

    prefix_kv: list[tuple[Tensor, Tensor]]
    """Per layer, the prompt's keys and values before the answer position, ``[1, kv_head, prefix, d_head]``."""
    residuals: list[Float[Tensor, "replayed suffix d_model"]]
    """Per layer l, the clean residual entering block l at the suffix positions, one row per replayed row."""
    rotary: list[tuple[Tensor, Tensor]]
    """Per layer, the rotary cos and sin of the suffix positions, ``[1, suffix, d_head]`` (one object shared by
    every layer of a Llama; Gemma's local and global layers have different bases)."""
    replayed_row: Int[Tensor, " row"]
    """For each row of the question, the replayed row whose logits it reads (rows that read the same
    positions of the same tokens share one)."""
    n_replayed: int
    """Distinct suffix rows: what :func:`replayed_logits` returns per variant."""
    packing: PackedSuffix | None = None
    """Set when the replayed rows run packed into one (``residuals`` and ``rotary`` are then packed too)."""

    @property
    def n_run(self) -> int:
        """The rows a variant runs: 1 when packed, else every replayed row."""
        return int(self.residuals[0].shape[0])


def capture_question(
    model: Any, question: EncodedQuestions, *, pack: bool = True
) -> tuple[EncodedQuestions, QuestionState]:
    """(the question's rows from the answer position on, its clean state). One question only.

    The suffix keeps only the positions whose logits are read: the answer position and every continuation
    token but the last (cloze). Rows that read the same tokens there (one-token options all read only the
    answer position) are replayed once, and with ``pack`` the rows left run as one
    (:mod:`~neuronllm_tl.attribution.packing`). Both clean runs go through the Hugging Face base model, which stops
    before the unembedding: no logits are computed for the prompt's positions.
    """
    read = question.cont_mask.sum(1).clamp(min=1)
    width = int(read.max())
    suffix = answer_suffix(question, width)
    a = int(question.answer_pos[0])
    unread = torch.arange(width, device=read.device)[None] >= read[:, None]
    replayed, replayed_row = torch.unique(suffix.tokens.masked_fill(unread, 0), dim=0, return_inverse=True)
    with torch.no_grad():
        cache = base_model_cache(model, question.tokens[:1, :a])
        prefix_kv = [layer_kv(cache, j) for j in range(len(model.blocks))]
        residuals, rotary = _clean_suffix_run(model, replayed, expand_cache(cache, len(replayed)))
    read_replayed = torch.zeros(len(replayed), dtype=read.dtype, device=read.device)
    packing = pack_suffix(read_replayed.scatter_reduce(0, replayed_row, read, "amax")) if pack else None
    if packing is not None:
        residuals = [packing.pack(r) for r in residuals]
        rotary = [(packing.positions(cos), packing.positions(sin)) for cos, sin in rotary]
    return suffix, QuestionState(prefix_kv, residuals, rotary, replayed_row, len(replayed), packing)


def _clean_suffix_run(model: Any, tokens: Tensor, cache: Any) -> tuple[list[Tensor], list[tuple[Tensor, Tensor]]]:
    """The base model's forward over the suffix rows, recording each block's input and the rotary tables."""
    seen: dict[int, tuple[tuple, dict]] = {}

    def recorder(j: int) -> Any:
        def pre_hook(module: Any, args: tuple, kwargs: dict) -> None:
            seen[j] = (args, kwargs)

        return pre_hook

    handles = [b.register_forward_pre_hook(recorder(j), with_kwargs=True) for j, b in enumerate(model.blocks)]
    try:
        base_model_cache(model, tokens, cache)
    finally:
        for h in handles:
            h.remove()
    residuals = [_hidden_states(*seen[j]).detach() for j in range(len(model.blocks))]
    rotary = []
    for j in range(len(model.blocks)):
        cos_sin = seen[j][1].get("position_embeddings")
        if cos_sin is None:
            raise ValueError("layer replay needs rotary position embeddings passed to the blocks (Llama, Gemma 3).")
        rotary.append((cos_sin[0].detach(), cos_sin[1].detach()))
    return residuals, rotary


def _hidden_states(args: tuple, kwargs: dict) -> Tensor:
    return args[0] if args and isinstance(args[0], Tensor) else kwargs["hidden_states"]


def run_from(
    model: Any,
    state: QuestionState,
    start: Int[Tensor, " row"],
    rows: Int[Tensor, " row"],
    hooks: Any = (),
    columns: Int[Tensor, " column"] | None = None,
) -> Float[Tensor, "row suffix vocab"]:
    """Logits of the captured suffix rows ``rows`` (repeats allowed), row r replayed from block ``start[r]``.

    ``start`` must not decrease: the batch grows as it goes up, row r joining it at block ``start[r]`` with
    its clean residual, so a hook on block j sees exactly the rows started at or below j, in order.
    ``hooks`` are attached for the replay only; with ``columns``, only those unembedding columns are read.
    """
    start = start.cpu()
    if bool((start[1:] < start[:-1]).any()):
        raise ValueError("run_from needs the rows ordered by their start layer.")
    x: Tensor | None = None
    with model.hooks(fwd_hooks=list(hooks)):
        for j in range(int(start[0]), len(model.blocks)):
            joining = rows[start == j]
            if len(joining):
                clean = state.residuals[j][joining.to(state.residuals[j].device)]
                x = clean if x is None else torch.cat([x, clean])
            assert x is not None  # the first block is start[0], where row 0 joins
            x = _block(model.blocks[j], x, state.prefix_kv[j], state.rotary[j], state.packing)
        x = model.ln_final(x)
        if columns is None:
            return model.unembed(x)
    b_u = model.b_U[columns] if getattr(model, "b_U", None) is not None else 0.0
    return x @ model.W_U[:, columns] + b_u


def replayed_logits(
    model: Any,
    state: QuestionState,
    start: Int[Tensor, " variant"],
    hooks: Any = (),
    columns: Int[Tensor, " column"] | None = None,
) -> Float[Tensor, "variant replayed suffix vocab"]:
    """The logits of every replayed row of each variant, variant v replayed from block ``start[v]`` (not
    decreasing); hooks see :attr:`QuestionState.n_run` rows per variant, the answer position at 0."""
    n = state.n_run
    out = run_from(model, state, start.repeat_interleave(n), torch.arange(n).repeat(len(start)), hooks, columns)
    out = out.view(len(start), n, *out.shape[1:])
    return out if state.packing is None else state.packing.unpack(out[:, 0])


def _block(
    block: Any, x: Tensor, kv: tuple[Tensor, Tensor], rotary: tuple[Tensor, Tensor], packing: PackedSuffix | None
) -> Tensor:
    """A pre-norm block; Gemma's also norms the attention and MLP outputs (``ln1_post``, ``ln2_post``)."""
    attended = shared_prefix_attention(block.attn.original_component, block.ln1(x), kv, rotary, packing)
    x = x + (block.ln1_post(attended) if hasattr(block, "ln1_post") else attended)
    out = block.mlp(block.ln2(x))
    return x + (block.ln2_post(out) if hasattr(block, "ln2_post") else out)


_STRUCTURE: weakref.WeakKeyDictionary[HookedModel, str | None] = weakref.WeakKeyDictionary()


def layer_replay_problem(model: HookedModel) -> str | None:
    """Why layer replay cannot run on ``model`` (None when it can): its structure, or its self-check
    against the model's own logits. Asked once per model object."""
    problem = remembered(_STRUCTURE, model, _structure_problem)
    if problem is not None:
        rule_out(model, "layer_replay", problem)
        return problem
    if fast_path_on(model, "layer_replay", _self_check):
        return None
    status = fast_path_status(model, "layer_replay")
    return status.reason if status is not None else "its self-check failed"


def supports_layer_replay(model: HookedModel) -> bool:
    return layer_replay_problem(model) is None


def letter_unembedding_on(model: HookedModel) -> bool:
    """Whether layer replay may unembed only the option letters' columns on ``model`` (checked once)."""
    if not supports_layer_replay(model):
        return rule_out(model, "letter_unembedding", "layer replay is off for this model")
    return fast_path_on(model, "letter_unembedding", _letter_check)


def _structure_problem(model: Any) -> str | None:
    if not supports_prefix_cache(model):
        return "the model returns no Hugging Face key/value cache"
    if getattr(getattr(model, "original_model", None), "base_model", None) is None:
        return "it does not wrap a Hugging Face model with a base model"
    blocks = getattr(model, "blocks", None)
    if blocks is None or not all(hasattr(model, n) for n in ("ln_final", "unembed", "W_U", "hooks")):
        return "the model has no blocks / ln_final / unembed / W_U to run block by block"
    for block in blocks:
        if not all(hasattr(block, n) for n in _BLOCK_PARTS):
            return f"its blocks are not pre-norm ln1/attn/ln2/mlp blocks ({type(block).__name__})"
        attn = getattr(block.attn, "original_component", None)
        if attn is None or not all(hasattr(attn, n) for n in (*ATTENTION_PARTS, "head_dim", "scaling")):
            return "its attention is not a q/k/v/o-projection module with rotary embeddings"
        if getattr(attn, "attn_logit_softcapping", None) is not None:
            return "its attention soft-caps its logits (Gemma 2), which the replay does not"
    return None


def _self_check(model: Any) -> str | None:
    """Whether replays from the first and the last layer reproduce the model's own logits."""
    question = shared_prompt_check_batch(model)
    start = torch.tensor([0, len(model.blocks) - 1])
    with torch.no_grad():
        want = read_positions(model(question.tokens, return_type="logits"), question)
        states = [capture_question(model, question, pack=pack)[1] for pack in (True, False)]  # cloze rows, both ways
        got = torch.stack([replayed_logits(model, state, start)[:, state.replayed_row] for state in states])
    return logit_difference(got, want.expand_as(got), what="replayed logits")


def _letter_check(model: Any) -> str | None:
    """Whether a replay that unembeds two columns reproduces those columns of the model's own logits."""
    question = shared_prompt_check_batch(model)
    columns = torch.tensor([1, 3])
    with torch.no_grad():
        want = read_positions(model(question.tokens, return_type="logits"), question)[..., columns]
        _, state = capture_question(model, question)
        got = replayed_logits(model, state, torch.zeros(1, dtype=torch.long), columns=columns)[0, state.replayed_row]
    return logit_difference(got, want, what="letter columns")
