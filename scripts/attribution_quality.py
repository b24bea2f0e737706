r"""How close each neuron-attribution estimate comes to the exact ablation effect (docs/attribution_quality.md).

Ground truth. For question q and MLP neuron (l, i), the exact effect is
E_q(l, i) = F_q(clean) - F_q(a_l[i] := 0 at the answer position), every downstream path included
(``AttributionRequest(estimator="ablation", ablation_baseline="zero")``). E > 0: silencing the neuron lowers F,
it helps (good); E < 0: it hurts (bad).

Estimates, all on the same sign convention:

* ``grad_x_act``: a * dF/da, E's first-order Taylor term (F(a) - F(0) ~ a * F'(a)); one backward pass.
* ``ig_m4``, ``ig_m16``: integrated gradients along a * alpha, alpha in (0, 1], m = 4 or 16 right-Riemann
  steps (the paper's m = 16). Exact IG scales the whole layer: per layer, its sum over the neurons is the
  layer's joint effect F(a_l) - F(0) (completeness), not a sum of single-neuron effects.
* The baselines' own scores, where they rank by another quantity: ``ig_m16_vocab_prob`` (IG of p(correct)
  over the vocabulary, the attribution of Knowledge Neurons and QRNCA), ``knowledge_neurons`` and ``qrnca``
  (their task scores built from it: shares of examples that keep the neuron, ties by mean IG), and ``tn``
  (mean |a * dF/da| of log p(correct), unsigned: compared with |E|). LAPE is skipped: its score is the
  entropy of firing rates across tasks, which estimates no effect and needs every task at once.
* References without gradients: ``activation`` (the answer-position activation itself, compared with E)
  and ``abs_activation`` (|activation|, compared with |E|); ``ablation`` (E itself: Spearman 1, recall 1).

Metrics per task: Spearman's rho between estimate and E over all neurons, per question (median and IQR) and
at task level (each neuron's mean over the questions, each example's permutations averaged first, as
``method="ablation_oracle"`` ranks); recall@K of the exact top-K good (largest positive mean E) and bottom-K bad
(most negative) by the estimate's top-K (positive scores) and bottom-K (negative scores); and seconds per
question of each estimate, every run timed sequentially in one process (after one warm-up question).

Cost: the exact ablation reruns the answer suffix once per neuron (SmolLM2-135M: 46,080 variants a question,
one row per option in cloze format), about 2,000 s per 4-option question on one CPU thread, while grad x act
takes 1 s and IG (m = 16) 30 s. ``--sample-neurons S`` ablates only a seeded random sample of S neurons and
computes every metric over it (rho over the sample estimates rho over all neurons; recall@K is then the
sample's top-K); the ablation's time for all neurons is extrapolated from it.

    python scripts/attribution_quality.py --tasks capitals-mini topics-mini sst2 \
        --data-files sst2=../shared/data/sst2/dev.tsv --n-questions 4 --sample-neurons 2048 \
        --out docs/measurements/attribution_quality
    python scripts/attribution_quality.py --render --out docs/measurements/attribution_quality

Resumable: each finished task is saved as ``<task>.json`` (metrics, timings) and ``<task>.safetensors`` (the
task-level tensor of E, |E| and of every estimate, so the task-level metrics can be recomputed) under
``--out``, and skipped on a rerun. Within a task, each run's batches (``--batch-size`` examples) are saved under
``<out>/<task>.batches/`` as they are measured, keyed by their content, so ``--max-minutes N`` stops a task
between batches (exit 0) and the same command continues it; seconds per question add up each batch's own time.
``--shard I/N`` measures only every N-th batch from the I-th, so N processes (``0/N`` ... ``N-1/N``, same
``--out``) share a task's batches: the last to finish writes the task, or the command without ``--shard`` does.
``--model tiny`` (with ``--tasks tiny``) runs the random tiny model of :mod:`neuronllm_tl.testing` in seconds;
its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import bootstrap, spearmanr  # noqa: E402
from torch import Tensor  # noqa: E402

from neuronllm_tl.attribution.collect import (  # noqa: E402
    TaskAttributions,
    assemble_attributions,
    batch_attributions,
    collect_attributions,
)
from neuronllm_tl.attribution.exact_ablation import mean_answer_activations  # noqa: E402
from neuronllm_tl.attribution.stream import AttributionRequest, AttributionStream, RunOptions  # noqa: E402
from neuronllm_tl.comparison.store import digest  # noqa: E402
from neuronllm_tl.methods.ablation_oracle import mean_effect  # noqa: E402
from neuronllm_tl.methods.knowledge_neurons import KnowledgeNeuronsConfig, knowledge_neuron_scores  # noqa: E402
from neuronllm_tl.methods.qrnca import QRNCAConfig, qrnca_scores  # noqa: E402
from neuronllm_tl.models.fingerprint import model_fingerprint  # noqa: E402
from neuronllm_tl.models.loading import DEFAULT_MODEL  # noqa: E402
from neuronllm_tl.models.protocol import HookedModel  # noqa: E402
from neuronllm_tl.models.validation import model_device, model_spec  # noqa: E402
from neuronllm_tl.scoring.encoding import QuestionEncoder  # noqa: E402
from neuronllm_tl.tables import section_markers, write_section  # noqa: E402
from neuronllm_tl.tasks.registry import load_task  # noqa: E402
from neuronllm_tl.tasks.task import Task  # noqa: E402
from neuronllm_tl.version import __version__  # noqa: E402

DEFAULT_TASKS = ("capitals-mini", "topics-mini", "sst2")
DEFAULT_DOC = Path("docs/attribution_quality.md")
SECTION = "attribution_quality"


BEGIN, END = section_markers(SECTION)
TRUTH = "ablation"
ACTIVATION = "activation"


def runs(objective: str, sample: Tensor | None = None) -> dict[str, AttributionRequest | None]:
    """Run name -> what it attributes (None: the answer-position activations, no gradient); ``sample``
    (``[n, 2]`` (layer, index) pairs) limits the exact ablation to those neurons."""
    return {
        TRUTH: AttributionRequest("ablation", objective, ablation_baseline="zero", ablation_candidates=sample),
        "grad_x_act": AttributionRequest("grad_x_act", objective),
        "ig_m4": AttributionRequest("integrated_gradients", objective, ig_steps=4),
        "ig_m16": AttributionRequest("integrated_gradients", objective, ig_steps=16),
        "ig_m16_vocab_prob": AttributionRequest("integrated_gradients", "vocab_prob", ig_steps=16),
        "tn": AttributionRequest("grad_x_act", "vocab_logprob"),
        ACTIVATION: None,
    }


@dataclass(frozen=True)
class Estimate:
    """An estimate: the run it reads, how its score is formed, and whether it targets E or |E|."""

    name: str
    run: str
    score: str = "signed"
    """``signed`` (the attribution), ``abs`` (its absolute value), ``kn`` or ``qrnca`` (their task scores)."""
    target: str = "effect"
    """``effect``: compared with E; ``magnitude``: with |E| (unsigned scores)."""


ESTIMATES = (
    Estimate(TRUTH, TRUTH),
    Estimate("grad_x_act", "grad_x_act"),
    Estimate("ig_m4", "ig_m4"),
    Estimate("ig_m16", "ig_m16"),
    Estimate("ig_m16_vocab_prob", "ig_m16_vocab_prob"),
    Estimate("knowledge_neurons", "ig_m16_vocab_prob", "kn"),
    Estimate("qrnca", "ig_m16_vocab_prob", "qrnca"),
    Estimate("tn", "tn", "abs", "magnitude"),
    Estimate(ACTIVATION, ACTIVATION),
    Estimate("abs_activation", ACTIVATION, "abs", "magnitude"),
)


# ---- the runs -------------------------------------------------------------------------------------------


def answer_activations(model: HookedModel, task: Task) -> TaskAttributions:
    """Each question's answer-position activations ``[question, layer, d_mlp]``, one forward pass each."""
    spec, device = model_spec(model), model_device(model)
    encoder = QuestionEncoder(model, task)
    questions = task.questions()
    acts = [mean_answer_activations(model, spec, [encoder.encode([q]).to(device)]).float() for q in questions]
    example_index = torch.tensor([q.example_index for q in questions])
    n = len(questions)
    return TaskAttributions(torch.stack(acts), example_index, torch.zeros(n), torch.zeros(n, dtype=torch.bool))


def neuron_sample(n_layers: int, d_mlp: int, size: int | None, seed: int = 0) -> Tensor | None:
    """A seeded random sample of ``size`` neurons as sorted ``[size, 2]`` (layer, index) pairs (None: all)."""
    if size is None or size >= n_layers * d_mlp:
        return None
    flat = torch.randperm(n_layers * d_mlp, generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return torch.stack([flat // d_mlp, flat % d_mlp], 1)


class BudgetSpent(Exception):
    """The run's ``--max-minutes`` ran out at a batch boundary; the batches measured so far are saved."""


class OtherShards(Exception):
    """This shard's batches of a run are measured; the other shards' are not all saved yet."""


@dataclass
class BatchStore:
    """Each run's attributions per batch of its stream, saved under ``folder`` as soon as measured and keyed by
    the content that made them (the model's weights, the task's rendered questions, the request, the batching
    and the library version), so that a task longer than one sitting resumes from its last finished batch."""

    folder: Path
    model: HookedModel
    deadline: float = math.inf
    """``time.monotonic()`` after which no new batch starts."""
    shard: tuple[int, int] = (0, 1)
    """(rank, world): measure only the batches ``b`` with ``b % world == rank`` (``--shard rank/world``)."""

    def run(self, name: str, task: Task, request: AttributionRequest, options: RunOptions) -> tuple[Any, float]:
        """(TaskAttributions of every question of ``task``, seconds spent measuring them, over all sittings)."""
        stream = AttributionStream(self.model, task, request, options)
        folder = self.folder / f"{name}-{self.key(stream, options)[:16]}"
        saved = {int(p.stem) for p in folder.glob("*.safetensors")}
        rank, world = self.shard
        batches = stream.batches(skip=saved, rank=rank, world=world)
        for _ in range(sum(b % world == rank and b not in saved for b in range(len(stream.plan)))):
            if time.monotonic() > self.deadline:
                raise BudgetSpent(f"{name}, {len(stream.plan) - len(saved)} of its {len(stream.plan)} batches left")
            start = time.perf_counter()
            attributed = next(batches)  # the stream attributes a batch when it is asked for it
            batch = batch_attributions(attributed)
            batch.metadata["seconds"] = time.perf_counter() - start
            batch.save(folder / f"{attributed.index:04d}.safetensors")  # atomic: a cut batch is measured again
            saved.add(attributed.index)
        saved |= {int(p.stem) for p in folder.glob("*.safetensors")}  # other shards may have saved theirs meanwhile
        if len(saved) < len(stream.plan):
            raise OtherShards(f"{name}, {len(stream.plan) - len(saved)} of its {len(stream.plan)} batches")
        parts = [TaskAttributions.load(folder / f"{b:04d}.safetensors") for b in range(len(stream.plan))]
        return assemble_attributions(stream, parts), sum(part.metadata["seconds"] for part in parts)

    def key(self, stream: AttributionStream, options: RunOptions) -> str:
        parts = {"model": model_fingerprint(self.model), "task": stream.task.fingerprint()}
        parts["request"] = stream.request.to_dict()
        parts["plan"] = {"batch_size": options.batch_size, "max_tokens": options.max_tokens}
        return digest({**parts, "version": __version__})


def timed_runs(
    store: BatchStore, task: Task, objective: str, options: RunOptions, sample: Tensor | None = None
) -> dict[str, Any]:
    """Every run on ``task``, one after the other, after a warm-up: {name: (TaskAttributions, seconds)}."""
    collect_attributions(store.model, task.subset([0]), AttributionRequest("grad_x_act", objective), options)
    out, others = {}, []
    for name, request in runs(objective, sample).items():
        if request is None:
            start = time.perf_counter()
            out[name] = (answer_activations(store.model, task), time.perf_counter() - start)
        else:
            try:
                out[name] = store.run(name, task, request, options)
            except OtherShards as left:
                others.append(str(left))
                continue
        print(f"  {name}: {out[name][1]:.1f} s", flush=True)
    if others:
        raise OtherShards("; ".join(others))
    return out


# ---- scores ---------------------------------------------------------------------------------------------


def order_score(primary: Tensor, secondary: Tensor) -> Tensor:
    """A score whose order is ``primary`` descending, ties by ``secondary`` (as the baselines' sets rank);
    > 0 exactly where ``primary`` > 0, the neurons those sets may contain."""
    flat, order = primary.flatten(), secondary.flatten().argsort(descending=True, stable=True)
    order = order[flat[order].argsort(descending=True, stable=True)]
    rank = torch.empty(flat.numel(), dtype=torch.float64)
    rank[order] = torch.arange(flat.numel(), 0, -1, dtype=torch.float64)
    return torch.where(flat > 0, rank, rank - flat.numel()).view_as(primary)


def estimate_scores(estimate: Estimate, attr: TaskAttributions) -> tuple[Tensor | None, Tensor]:
    """(per-question scores or None where the method has only task scores, task-level scores)."""
    if estimate.score == "kn":
        s = knowledge_neuron_scores(attr, KnowledgeNeuronsConfig(ig_steps=16))
        return None, order_score(s.task_share, s.mean_ig)
    if estimate.score == "qrnca":
        q = qrnca_scores(attr, QRNCAConfig(ig_steps=16))
        return None, order_score(q.task_share, q.mean_naica)
    if estimate.score == "abs":
        attr = dataclasses.replace(attr, attributions=attr.attributions.abs())
    return attr.attributions.double(), mean_effect(attr)


def truth_scores(truth: TaskAttributions, target: str) -> tuple[Tensor, Tensor]:
    """(per-question, task-level) E, or |E| for ``target="magnitude"``."""
    per_question, task = estimate_scores(Estimate(TRUTH, TRUTH, "abs" if target == "magnitude" else "signed"), truth)
    assert per_question is not None
    return per_question, task


# ---- metrics --------------------------------------------------------------------------------------------


def spearman(a: Tensor, b: Tensor) -> float | None:
    """Spearman's rho over all neurons; None where either side is constant (rho undefined)."""
    x, y = a.flatten().double().numpy(), b.flatten().double().numpy()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def per_question_spearman(estimate: Tensor, truth: Tensor) -> dict[str, float | None] | None:
    """Median and quartiles over questions of Spearman's rho (None: no question had one)."""
    rhos = [r for r in (spearman(e, t) for e, t in zip(estimate, truth, strict=True)) if r is not None]
    if not rhos:
        return None
    q25, median, q75 = np.percentile(rhos, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75), "n": len(rhos)}


def extreme_set(scores: Tensor, k: int, side: str) -> set[int]:
    """Flat indices of the top-``k`` positive (``side="good"``) or bottom-``k`` negative (``"bad"``) scores."""
    flat = scores.flatten().double() * (1 if side == "good" else -1)
    top = flat.topk(min(k, flat.numel()))
    return {int(i) for i, v in zip(top.indices, top.values, strict=True) if v > 0}


def recall_at_k(estimate: Tensor, truth: Tensor, k: int, side: str) -> float | None:
    """Share of the exact top-``k`` good (or bad) neurons that the estimate's top-``k`` (bottom-``k``) finds."""
    want = extreme_set(truth, k, side)
    if not want:
        return None
    return len(want & extreme_set(estimate, k, side)) / len(want)


def restrict(scores: Tensor | None, flat: Tensor | None) -> Tensor | None:
    """``scores`` (``[..., layer, d_mlp]``) at the flat neuron indices ``flat`` only (None: every neuron)."""
    if scores is None or flat is None:
        return scores
    return scores.flatten(-2)[..., flat]


def estimate_metrics(scores: tuple[Tensor | None, Tensor], truth: tuple[Tensor, Tensor], ks: list[int]) -> dict:
    """Spearman (task level, per question) and recall@K of one estimate against (per-question, task) truth."""
    per_q, task = scores
    recall = {f"{side}@{k}": recall_at_k(task, truth[1], k, side) for k in ks for side in ("good", "bad")}
    return {
        "spearman_task": spearman(task, truth[1]),
        "spearman_question": None if per_q is None else per_question_spearman(per_q, truth[0]),
        "recall": recall,
    }


def all_metrics(
    results: dict[str, Any], ks: list[int], flat: Tensor | None = None
) -> tuple[dict[str, dict], dict[str, Tensor]]:
    """({estimate: metrics and seconds per question}, the task-level tensors to save) of one task's runs,
    the metrics over the neurons at flat indices ``flat`` (None: every neuron)."""
    truth, _ = results[TRUTH]
    n_questions = len(truth.attributions)
    targets = {t: truth_scores(truth, t) for t in ("effect", "magnitude")}
    metrics, tensors = {}, {"truth_effect": targets["effect"][1], "truth_magnitude": targets["magnitude"][1]}
    for est in ESTIMATES:
        attr, seconds = results[est.run]
        scores = estimate_scores(est, attr)
        target = targets[est.target]
        row = estimate_metrics(
            (restrict(scores[0], flat), restrict(scores[1], flat)),
            (restrict(target[0], flat), restrict(target[1], flat)),
            ks,
        )
        row["recall"].update({key: None for key in row["recall"] if not has_side(est, key)})
        metrics[est.name] = {"run": est.run, "target": est.target, "seconds_per_question": seconds / n_questions}
        metrics[est.name].update(row)
        tensors[est.name] = scores[1]
    return metrics, tensors


# ---- uncertainty ----------------------------------------------------------------------------------------


def resample(attr: TaskAttributions, examples: np.ndarray) -> TaskAttributions:
    """The questions of the drawn ``examples`` (with replacement), each draw counted as its own example."""
    rows = [(attr.example_index == int(e)).nonzero().flatten() for e in examples]
    labels = torch.cat([torch.full((len(r),), j) for j, r in enumerate(rows)])
    picked = torch.cat(rows)
    return dataclasses.replace(
        attr,
        attributions=attr.attributions[picked],
        example_index=labels,
        objective_values=attr.objective_values[picked],
        correct=attr.correct[picked],
    )


def metric_names(ks: list[int]) -> list[str]:
    """What :func:`task_level_values` returns per estimate, in order."""
    return ["spearman_task", *(f"{side}@{k}" for k in ks for side in ("good", "bad"))]


def task_level_values(results: dict[str, Any], ks: list[int], flat: Tensor | None, examples: np.ndarray) -> np.ndarray:
    """Every estimate's task-level rho and recall@K (NaN: undefined) on the drawn examples, flattened."""
    cache: dict[str, TaskAttributions] = {}

    def drawn(run: str) -> TaskAttributions:
        if run not in cache:
            cache[run] = resample(results[run][0], examples)
        return cache[run]

    targets = {t: restrict(truth_scores(drawn(TRUTH), t)[1], flat) for t in ("effect", "magnitude")}
    values = []
    for est in ESTIMATES[1:]:
        task, truth = restrict(estimate_scores(est, drawn(est.run))[1], flat), targets[est.target]
        assert task is not None and truth is not None
        row = estimate_metrics((None, task), (truth, truth), ks)  # task level only: no per-question scores
        values.append(row["spearman_task"])
        # a side the estimate does not report is a constant 0 (a NaN would make scipy warn)
        values += [row["recall"][n] if has_side(est, n) else 0.0 for n in metric_names(ks)[1:]]
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def has_side(est: Estimate, metric: str) -> bool:
    """Whether ``est`` reports ``metric``: unsigned and positive-only set scores have no bad side."""
    return not (metric.startswith("bad") and est.score in ("abs", "kn", "qrnca"))


def bootstrap_errors(
    results: dict[str, Any], ks: list[int], flat: Tensor | None, n_resamples: int, seed: int = 0
) -> dict[str, dict[str, float | None]]:
    """Each estimate's task-level rho and recall@K bootstrap standard error over the task's examples
    (``scipy.stats.bootstrap``): how much each value depends on which examples were asked. A standard error,
    not an interval: a resample repeats some examples and drops others, which shifts these rank statistics, so
    a percentile interval can miss the estimate, and BCa degenerates where rho is near 1. Empty with a single
    example (nothing to resample)."""
    examples = np.unique(results[TRUTH][0].example_index.numpy())
    if len(examples) < 2:
        return {}
    errors = bootstrap(
        (examples,),
        lambda draw: task_level_values(results, ks, flat, draw),
        vectorized=False,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).standard_error
    names, out = metric_names(ks), {}
    for i, est in enumerate(ESTIMATES[1:]):
        mine = errors[i * len(names) : (i + 1) * len(names)]
        out[est.name] = {
            n: float(se) if math.isfinite(se) and has_side(est, n) else None for n, se in zip(names, mine, strict=True)
        }
    return out


# ---- one task -------------------------------------------------------------------------------------------


def measure_task(store: BatchStore, task: Task, args: argparse.Namespace) -> tuple[dict, dict[str, Tensor]]:
    """The result row and task-level tensors of one task."""
    options = RunOptions(batch_size=args.batch_size, max_rows=args.max_rows)
    spec = model_spec(store.model)
    sample = neuron_sample(spec.n_layers, spec.d_mlp, args.sample_neurons)
    results = timed_runs(store, task, args.objective, options, sample)
    flat = None if sample is None else sample[:, 0] * spec.d_mlp + sample[:, 1]
    metrics, tensors = all_metrics(results, args.ks, flat)
    if args.bootstrap:
        for name, errors in bootstrap_errors(results, args.ks, flat, args.bootstrap).items():
            metrics[name]["se"] = errors
    truth = results[TRUTH][0]
    if flat is not None:
        tensors["sample"] = flat
    n_neurons = spec.n_layers * spec.d_mlp
    n_measured = n_neurons if flat is None else len(flat)
    per_question = {name: s / len(truth.attributions) for name, (_, s) in results.items()}
    row = {
        "task": task.name,
        "model": args.model,
        "task_description": task.describe(),
        "objective": args.objective,
        "ablation_baseline": "zero",
        "n_questions": len(truth.attributions),
        "n_neurons": n_neurons,
        "n_neurons_measured": n_measured,
        "ks": args.ks,
        "bootstrap_resamples": args.bootstrap,
        "run_options": dataclasses.asdict(options),
        "torch_threads": torch.get_num_threads(),
        "library_version": __version__,
        "accuracy": float(truth.correct.float().mean()),
        "seconds_per_question": per_question,
        "exact_seconds_per_question_all_neurons": per_question[TRUTH] * n_neurons / n_measured,
        "estimates": metrics,
    }
    return row, {k: (v if k == "sample" else v.float()).contiguous() for k, v in tensors.items()}


def load_model_arg(name: str) -> HookedModel:
    """``tiny`` (the random tiny model), or a name for :func:`neuronllm_tl.load_model`."""
    from neuronllm_tl.cli.loading import TINY_MODEL, model_from_args

    return model_from_args(TINY_MODEL if name in ("tiny", TINY_MODEL) else name)


def make_task(name: str, data_files: dict[str, str], answer_format: str, n: int) -> Task:
    """The first ``n`` examples of task ``name`` (``tiny``: the testing task of the tiny model)."""
    if name == "tiny":
        from neuronllm_tl.testing import tiny_task

        task = tiny_task(answer_format)  # type: ignore[arg-type]
    else:
        task = load_task(name, data_files=data_files.get(name), answer_format=answer_format)
    return task.subset(range(min(n, len(task))))


def to_json(value: Any) -> Any:
    """NaN and inf become null, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def save_task(out: Path, key: str, row: dict, tensors: dict[str, Tensor]) -> None:
    """``<key>.safetensors`` (task-level tensors) then ``<key>.json``, which marks the task as done."""
    from safetensors.torch import save_file

    save_file(tensors, str(out / f"{key}.safetensors"), metadata={"task": key, "objective": row["objective"]})
    tmp = out / f"{key}.json.tmp"
    tmp.write_text(json.dumps(to_json(row), indent=2))
    tmp.replace(out / f"{key}.json")


# ---- rendering ------------------------------------------------------------------------------------------


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def with_se(x: float | None, se: float | None) -> str:
    """``x`` and its bootstrap standard error, where there is one."""
    return fmt(x) if x is None or se is None else f"{x:.2f} ± {se:.2f}"


def question_cell(q: dict | None) -> str:
    return "—" if q is None else f"{q['median']:.2f} [{q['q25']:.2f}, {q['q75']:.2f}]"


def best_per_second(row: dict, tolerance: float = 0.05) -> str:
    """The cheapest estimate whose task-level rho is within ``tolerance`` of the best estimate's."""
    est = {n: m for n, m in row["estimates"].items() if n != TRUTH and m["target"] == "effect"}
    rhos = {n: m["spearman_task"] for n, m in est.items() if m["spearman_task"] is not None}
    if not rhos:
        return "no estimate has a Spearman correlation"
    best = max(rhos, key=lambda n: rhos[n])
    close = [n for n in rhos if rhos[n] >= rhos[best] - tolerance]
    cheap = min(close, key=lambda n: est[n]["seconds_per_question"])
    return (
        f"closest to E: `{best}` (rho {rhos[best]:.2f}); closest per second: `{cheap}` (rho {rhos[cheap]:.2f}, "
        f"{est[cheap]['seconds_per_question']:.2f} s/question, the cheapest within {tolerance} of the best)"
    )


def task_table(row: dict) -> list[str]:
    """The markdown table of one task: one line per estimate."""
    ks = row["ks"]
    exact = row["exact_seconds_per_question_all_neurons"]
    head = "| estimate | compared with | s/question | × exact | rho (task) | rho per question: median [IQR] | "
    head += " | ".join(f"good@{k} | bad@{k}" for k in ks) + " |"
    lines = [head, "|---" * (6 + 2 * len(ks)) + "|"]
    compared = {"effect": "E", "magnitude": "\\|E\\|"}
    for name, m in row["estimates"].items():
        s = exact if name == TRUTH else m["seconds_per_question"]
        about = "≈" if name == TRUTH and sampled(row) else ""
        se = m.get("se", {})
        recall = " | ".join(
            f"{with_se(m['recall'][f'{side}@{k}'], se.get(f'{side}@{k}'))}" for k in ks for side in ("good", "bad")
        )
        lines.append(
            f"| `{name}` | {compared[m['target']]} | {about}{s:.3g} | {s / exact:.3g} | "
            f"{with_se(m['spearman_task'], se.get('spearman_task'))} | {question_cell(m['spearman_question'])} | "
            f"{recall} |"
        )
    return lines


def sampled(row: dict) -> bool:
    return row["n_neurons_measured"] < row["n_neurons"]


def setting(row: dict) -> str:
    """The line under a task's title: model, format, sizes, and the sampled neurons if any."""
    text = (
        f"`{row['model']}`, {row['task_description']['answer_format']} format, objective `{row['objective']}`, "
        f"{row['n_questions']} questions, {row['n_neurons']:,} neurons, accuracy {row['accuracy']:.2f}, "
        f"{row['torch_threads']} CPU thread(s), neuronllm_tl {row['library_version']}."
    )
    if sampled(row):
        text += (
            f" Metrics over a seeded random sample of {row['n_neurons_measured']:,} neurons, the only ones ablated "
            f"({row['seconds_per_question'][TRUTH]:.3g} s/question; the ablation's time for every neuron is "
            "extrapolated from it)."
        )
    return text


def render(out: Path) -> str:
    """The doc's tables from every ``<task>.json`` under ``out``."""
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    if not rows:
        return "No results yet: run the command above.\n"
    lines = []
    for row in rows:
        lines += [
            f"### {row['task']}",
            "",
            setting(row),
            "",
            *task_table(row),
            "",
            best_per_second(row) + ".",
            "",
        ]
    return "\n".join(lines)


# ---- command line ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    ap.add_argument("--data-files", nargs="*", default=[], metavar="TASK=PATH", help="local copy of a dataset task")
    ap.add_argument("--n-questions", type=int, default=4, help="examples per task (the first N)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="a load_model name, or 'tiny' (random, for tests)")
    ap.add_argument("--answer-format", default="cloze", choices=["cloze", "letter"])
    ap.add_argument("--objective", default="contrastive")
    ap.add_argument("--ks", type=int, nargs="+", default=[50, 100])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-rows", type=int, default=64, help="rows per pass of IG and ablation variants")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--bootstrap",
        type=int,
        default=200,
        metavar="B",
        help="resamples of the examples for the standard errors of task-level rho and recall@K (0: none)",
    )
    ap.add_argument(
        "--sample-neurons",
        type=int,
        default=None,
        metavar="S",
        help="ablate only a seeded random sample of S neurons and compute every metric over them (default: all)",
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="start no new batch after this many minutes; the same command again continues (default: no limit)",
    )
    ap.add_argument(
        "--shard",
        type=shard_arg,
        default=(0, 1),
        metavar="I/N",
        help="measure only every N-th question from the I-th (0 <= I < N), e.g. 0/2 and 1/2 in two processes "
        "into the same --out; then the command without --shard writes the results from their batches",
    )
    ap.add_argument("--out", type=Path, default=Path("docs/measurements/attribution_quality"))
    ap.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the doc whose tables are rewritten")
    ap.add_argument("--section", default=SECTION, help="which marked section of --doc the tables go in")
    ap.add_argument("--render", action="store_true", help="only rewrite the doc's tables from --out")
    return ap.parse_args(argv)


def shard_arg(text: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N), checked."""
    try:
        rank, world = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N, e.g. 0/2; got {text!r}") from None
    if not 0 <= rank < world:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N, e.g. 0/2 and 1/2; got {text!r}")
    return rank, world


def data_file_map(pairs: list[str]) -> dict[str, str]:
    if any("=" not in p for p in pairs):
        raise SystemExit(f"--data-files takes TASK=PATH pairs, got {pairs}.")
    return dict(p.split("=", 1) for p in pairs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.render:
        run_tasks(args)
    tables = render(args.out)
    (args.out / "tables.md").write_text(tables)
    if args.doc.exists():
        write_section(args.doc, args.section, tables)
    print(tables)


def run_tasks(args: argparse.Namespace, load: Callable[[str], HookedModel] = load_model_arg) -> None:
    """Measure every task not finished yet under ``args.out``, each run's batches saved under
    ``<out>/<task>.batches/`` (megabytes: not committed) as they are measured."""
    files = data_file_map(args.data_files)
    todo = [name for name in args.tasks if not (args.out / f"{name}.json").exists()]
    for name in sorted(set(args.tasks) - set(todo)):
        print(f"{name}: done already")
    if not todo:
        return
    model = load(args.model)
    deadline = math.inf if args.max_minutes is None else time.monotonic() + 60 * args.max_minutes
    for i, name in enumerate(todo):
        task = make_task(name, files, args.answer_format, args.n_questions)
        print(f"{name}: {len(task.questions())} questions", flush=True)
        store = BatchStore(args.out / f"{name}.batches", model, deadline, args.shard)
        try:
            row, tensors = measure_task(store, task, args)
        except BudgetSpent as stop:
            left = ", ".join(todo[i:])
            print(f"--max-minutes reached before {stop}; left: {left}. Rerun the same command to continue.")
            return
        except OtherShards as left:
            print(
                f"{name}: shard {args.shard[0]}/{args.shard[1]} is measured; left to the other shards: {left}. Once "
                "every shard has finished, run the command without --shard to write the task's results."
            )
            continue
        save_task(args.out, name, row, tensors)


if __name__ == "__main__":
    main()
