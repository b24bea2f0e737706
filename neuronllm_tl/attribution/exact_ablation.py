"""Exact single-neuron ablation: the change in F when one neuron is set to a baseline at the answer position.

For question q and neuron (l, i), ``E_q(l, i) = F_q(clean) - F_q(a_l[i] := b_l[i] at the answer position)``,
with the baseline ``b`` either 0 (``"zero"``: silencing, what steering by x0 does) or the neuron's mean
answer-position activation over the task's questions (``"mean"``: mean ablation). It is the quantity that
gradient x activation estimates to first order (``a * dF/da`` ~ F(a) - F(0)) and that IG's completeness
sums per layer, so the three share one sign convention: **E > 0 means the neuron helps F** (good),
E < 0 that it hurts F (bad), and they are directly comparable (AtP*, Kramar et al. 2024, measures
attribution patching against exactly this).

Every (question, neuron) pair is one *variant*, and the variants of a batch run as rows of a few passes
(``max_rows`` rows each) through the replay engine shared with integrated gradients
(:mod:`neuronllm_tl.attribution.replay`): where the model returns a Hugging Face key/value cache, each
question's prompt runs once and each variant replays only the answer position (and the option tokens in
cloze format); otherwise whole sequences are rerun. Each question's clean F is one more variant of the
same passes, so E is a difference of two numbers computed the same way. No gradients are taken.

Cost: questions x neurons variants (SmolLM2-135M: 30 x 1536 = 46,080 per question), each a replay of the
answer suffix. ``candidates=`` restricts the variants to a list of neurons; the others get E = 0 and are
marked outside ``mask``.

Example:
    >>> enc = enc.take_questions(torch.arange(6))                     # the tiny task's first 6 questions
    >>> out = exact_ablation(model, model_spec(model), enc, baseline="zero")
    >>> out.attributions.shape     # [question, layer, d_mlp]: E, > 0 where the neuron helps F
    torch.Size([6, 3, 48])
    >>> out = exact_ablation(model, spec, enc, candidates=[(1, 17), (2, 2)])   # only these two
    >>> int(out.mask.sum()), bool(out.attributions[:, 0].eq(0).all())     # the others: E = 0, outside mask
    (2, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.attribution.probes import BatchAttribution, first_rows, probed_objective
from neuronllm_tl.attribution.replay import Replay, check_replay, replay_mode, variant_passes
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec, check_width
from neuronllm_tl.scoring.encoding import EncodedQuestions, forward_logits
from neuronllm_tl.scoring.objectives import Objective, get_objective, reads_only_option_scores
from neuronllm_tl.scoring.shared_prompt import read_logits

AblationBaseline = Literal["zero", "mean"]
ABLATION_BASELINES: tuple[str, ...] = ("zero", "mean")
Candidates = tuple[tuple[int, int], ...]


def exact_ablation(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    baseline: AblationBaseline | Tensor = "zero",
    candidates: Any = None,
    max_rows: int = 64,
    replay: Replay = "auto",
    objective: str | Objective = "contrastive",
) -> BatchAttribution:
    """E = F(clean) - F(neuron at its baseline), per question and neuron, at most ``max_rows`` rows a pass.

    Args:
        baseline: ``"zero"``; ``"mean"`` (the mean answer-position activation over ``enc``'s questions; the
            attribution stream passes the mean over the whole task instead); or a ``[layer, d_mlp]`` tensor.
        candidates: ``None`` (every neuron) or ``(layer, index)`` pairs (a ``[n, 2]`` tensor, a list of
            pairs, or ``"layer:index,..."``); the others get 0 and ``mask`` marks the candidates.
        replay: ``"layer"``, ``"prefix"``, ``"full"`` or ``"auto"``, as for integrated gradients; the result
            does not depend on it nor on ``max_rows``.
    """
    fn = get_objective(objective)
    check_replay(replay, max_rows)
    neurons = candidate_neurons(spec, as_candidates(candidates)).to(enc.tokens.device)
    values = baseline_values(model, spec, enc, baseline)
    mode = replay_mode(model, replay, int(enc.tokens.shape[1]))
    # variant 0 is the clean question (no hook: its replay starts at the last layer), variant 1 + n ablates neuron n
    variant_layer = torch.cat([torch.tensor([spec.n_layers - 1]), neurons[:, 0].cpu()])
    with torch.no_grad():
        f, scores = probed_objective(*read_logits(model, enc), fn)
        table = torch.zeros(enc.n_questions, 1 + len(neurons), dtype=torch.float64, device=f.device)
        passes = variant_passes(
            model,
            enc,
            1 + len(neurons),
            max_rows=max_rows,
            mode=mode,
            variant_layer=variant_layer,
            letter_columns=reads_only_option_scores(fn),
        )
        for p in passes:
            answer_pos, row_sub_question = p.hook_rows()
            hooks = _ablation_hooks(spec, answer_pos, neurons, p.variant[row_sub_question] - 1, values)
            f_variant, _ = probed_objective(p.logits(model, hooks), p.sub, fn, vocab=p.columns is None)
            table[p.question.to(f.device), p.variant.to(f.device)] = f_variant.double()
    return _effects(spec, neurons, table, f, scores)


def _effects(spec: ModelSpec, neurons: Tensor, table: Tensor, f: Tensor, scores: Tensor) -> BatchAttribution:
    """E = F(clean) - F(ablated) per question and neuron from the table of F per (question, variant)."""
    effects = torch.zeros(table.shape[0], spec.n_layers, spec.d_mlp, dtype=torch.float64, device=f.device)
    layer, index = neurons[:, 0].to(f.device), neurons[:, 1].to(f.device)
    effects[:, layer, index] = table[:, :1] - table[:, 1:]
    mask = torch.zeros(spec.n_layers, spec.d_mlp, dtype=torch.bool)
    mask[layer.cpu(), index.cpu()] = True
    return BatchAttribution(effects.float(), f, scores, mask=mask)


def as_candidates(value: Any) -> Candidates | None:
    """Neurons as sorted, distinct ``(layer, index)`` pairs (JSON-friendly, hashable), or None for all.

    Accepts None, a ``[n, 2]`` tensor, a sequence of pairs, or a string ``"layer:index,layer:index"``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = [tuple(int(x) for x in item.split(":")) for item in value.replace(" ", "").split(",") if item]
        except ValueError:
            raise ValueError(f"candidates as text are 'layer:index' pairs, comma-separated, got {value!r}.") from None
    if isinstance(value, Tensor):
        value = value.tolist()
    pairs = [tuple(pair) for pair in value]
    if not pairs or any(len(p) != 2 or not all(_is_index(x) for x in p) for p in pairs):
        raise ValueError(f"candidates must be a non-empty list of (layer, index) pairs of ints >= 0, got {value!r}.")
    return tuple(sorted({(int(layer), int(index)) for layer, index in pairs}))


def _is_index(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, int) and x >= 0


def candidate_neurons(spec: ModelSpec, candidates: Candidates | None) -> Int[Tensor, "n 2"]:
    """The neurons to ablate as a ``[n, 2]`` tensor: every neuron (layer-major) or the candidates, checked."""
    if candidates is None:
        layer = torch.arange(spec.n_layers).repeat_interleave(spec.d_mlp)
        return torch.stack([layer, torch.arange(spec.d_mlp).repeat(spec.n_layers)], 1)
    out = torch.tensor(candidates, dtype=torch.long).view(-1, 2)
    bad = out[(out[:, 0] >= spec.n_layers) | (out[:, 1] >= spec.d_mlp)].tolist()
    if bad:
        raise ValueError(f"candidates {bad} are out of range for {spec.n_layers} layers of {spec.d_mlp} neurons.")
    return out


def baseline_values(
    model: HookedModel, spec: ModelSpec, enc: EncodedQuestions, baseline: AblationBaseline | Tensor
) -> Float[Tensor, "layer d_mlp"]:
    """The value each neuron is set to: zeros, the mean over ``enc``'s questions, or the given tensor."""
    if isinstance(baseline, Tensor):
        if tuple(baseline.shape) != (spec.n_layers, spec.d_mlp):
            raise ValueError(f"a baseline tensor must be [{spec.n_layers}, {spec.d_mlp}], got {tuple(baseline.shape)}.")
        return baseline.detach()
    if baseline == "zero":
        return torch.zeros(spec.n_layers, spec.d_mlp)
    if baseline == "mean":
        return mean_answer_activations(model, spec, [enc])
    raise ValueError(f"baseline must be one of {ABLATION_BASELINES} or a [layer, d_mlp] tensor, got {baseline!r}.")


def mean_answer_activations(
    model: HookedModel, spec: ModelSpec, batches: Iterable[EncodedQuestions]
) -> Float[Tensor, "layer d_mlp"]:
    """Each neuron's mean answer-position activation over the questions of ``batches`` (float64, CPU)."""
    total = torch.zeros(spec.n_layers, spec.d_mlp, dtype=torch.float64)
    n = 0
    for enc in batches:
        rows = first_rows(enc)
        hooks = [_recording_hook(spec, layer, rows, enc.answer_pos[rows], total) for layer in range(spec.n_layers)]
        with torch.no_grad():
            forward_logits(model, enc, hooks)
        n += enc.n_questions
    if n == 0:
        raise ValueError("no questions to average the activations over.")
    return total / n


def _recording_hook(spec: ModelSpec, layer: int, rows: Tensor, pos: Tensor, total: Tensor) -> tuple[str, Any]:
    name = spec.hook_name(layer)

    def hook(act: Float[Tensor, "row pos d_mlp"], hook: Any) -> None:
        check_width(act, spec, name)
        total[layer] += act[rows.to(act.device), pos.to(act.device)].double().sum(0).cpu()

    return name, hook


def _ablation_hooks(
    spec: ModelSpec,
    answer_pos: Int[Tensor, " row"],
    neurons: Int[Tensor, "n 2"],
    row_target: Int[Tensor, " row"],
    values: Float[Tensor, "layer d_mlp"],
) -> list[tuple[str, Any]]:
    """Hooks setting neuron ``neurons[row_target[r]]`` of row r to its baseline (row_target -1: clean row)."""
    rows = torch.nonzero(row_target >= 0).flatten()
    target = neurons[row_target[rows]]
    hooks = []
    for layer in torch.unique(target[:, 0]).tolist():
        mine = target[:, 0] == layer
        hooks.append(_set_hook(spec, layer, rows[mine], answer_pos[rows[mine]], target[mine, 1], values))
    return hooks


def _set_hook(spec: ModelSpec, layer: int, rows: Tensor, pos: Tensor, index: Tensor, values: Tensor) -> tuple[str, Any]:
    name = spec.hook_name(layer)
    value = values[layer].to(index.device)[index]

    def hook(act: Float[Tensor, "row pos d_mlp"], hook: Any) -> Tensor:
        check_width(act, spec, name)
        where = (rows.to(act.device), pos.to(act.device), index.to(act.device))
        return act.index_put(where, value.to(act.device, act.dtype))

    return name, hook
