"""The one attribution loop: a task's questions, batched, encoded and attributed, one batch at a time.

Every consumer of attributions reads this stream: CNI identification folds each batch into running
sums (and checkpoints or shards the batches), :func:`~neuronllm_tl.attribution.collect.collect_attributions`
keeps each batch's per-question tensors for the baselines and the comparison grid.

An :class:`AttributionRequest` is *what* is attributed (estimator, objective, hook, IG steps, the ablation's
baseline and candidates); it is a value that names its content, so a cache of attributions can be keyed
by it. :class:`RunOptions` is
*how* (batch sizes, memory budgets, progress bar): it never changes the numbers.

Example:
    >>> request = AttributionRequest(estimator="integrated_gradients", objective="vocab_prob", ig_steps=4)
    >>> for batch in stream_attributions(model, task, request):
    ...     batch.attribution.attributions.shape        # [question, layer, d_mlp]
    torch.Size([24, 3, 48])
    torch.Size([12, 3, 48])
    >>> AttributionRequest(estimator="ablation", ablation_baseline="mean")   # exact effects, mean ablation
    AttributionRequest(estimator='ablation', objective='contrastive', hook='mlp.hook_post', ig_steps=16,
                       ablation_baseline='mean', ablation_candidates=None, positions='answer')
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterator
from dataclasses import InitVar, asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from neuronllm_tl.attribution.estimators import (
    ATTRIBUTION_POSITIONS,
    ESTIMATORS,
    AttributionPositions,
    BatchAttribution,
    Estimator,
    attribute,
)
from neuronllm_tl.attribution.exact_ablation import (
    ABLATION_BASELINES,
    AblationBaseline,
    Candidates,
    as_candidates,
    mean_answer_activations,
)
from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import DEFAULT_HOOK, ModelSpec, model_device, model_spec
from neuronllm_tl.scoring.batches import example_batches, progress_bar
from neuronllm_tl.scoring.encoding import EncodedQuestions, QuestionEncoder
from neuronllm_tl.scoring.objectives import check_objective_fits, get_objective
from neuronllm_tl.tasks.task import Question, Task


@dataclass(frozen=True)
class AttributionRequest:
    """What is attributed: ``estimator`` of ``objective`` at ``blocks.{l}.{hook}``; ``ig_steps`` for IG;
    ``ablation_baseline`` and ``ablation_candidates`` for exact ablation.

    ``method=`` is the estimator's earlier name and still works, with a FutureWarning; the content
    (:meth:`to_dict`) keeps the key ``"method"`` so that caches made before the rename stay valid."""

    estimator: Estimator = "grad_x_act"
    objective: str = "contrastive"
    """A registered objective's name (a name, not a callable, so that the request can key a cache)."""
    hook: str = DEFAULT_HOOK
    ig_steps: int = 16
    ablation_baseline: AblationBaseline = "zero"
    """``"zero"``, or ``"mean"``: each neuron's mean answer-position activation over the task's questions."""
    ablation_candidates: Candidates | None = None
    """The ``(layer, index)`` pairs to ablate (None: every neuron); normalised to sorted distinct pairs."""
    positions: AttributionPositions = "answer"
    """``"answer"``: the answer position (the paper's); ``"answer_tokens"`` (grad_x_act only): the answer position
    and every option token's position, activation x gradient summed over them (for free-text references)."""
    method: InitVar[str | None] = None

    def __post_init__(self, method: str | None) -> None:
        if method is not None:
            self._take_deprecated_method(method)
        if self.positions not in ATTRIBUTION_POSITIONS:
            raise ValueError(f"positions must be one of {ATTRIBUTION_POSITIONS}, got {self.positions!r}.")
        if self.positions != "answer" and self.estimator != "grad_x_act":
            raise ValueError(
                f"positions={self.positions!r} is computed by estimator='grad_x_act' only; use it, or "
                "positions='answer'."
            )
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown attribution estimator {self.estimator!r}; choose one of {ESTIMATORS}.")
        if not isinstance(self.objective, str):
            raise TypeError(
                "AttributionRequest.objective is a registered objective's name; register your callable with "
                "neuronllm_tl.register_objective(name, fn) and pass the name."
            )
        get_objective(self.objective)
        check_positive_int(self.ig_steps, "ig_steps")
        if self.ablation_baseline not in ABLATION_BASELINES:
            raise ValueError(f"ablation_baseline must be one of {ABLATION_BASELINES}, got {self.ablation_baseline!r}.")
        object.__setattr__(self, "ablation_candidates", as_candidates(self.ablation_candidates))

    def _take_deprecated_method(self, method: str) -> None:
        if self.estimator != "grad_x_act" and self.estimator != method:
            raise ValueError(
                f"AttributionRequest got estimator={self.estimator!r} and method={method!r}; give estimator= only."
            )
        warnings.warn(
            "AttributionRequest(method=...) is now AttributionRequest(estimator=...); method= goes in the next "
            "release.",
            FutureWarning,
            stacklevel=4,
        )
        object.__setattr__(self, "estimator", method)

    def to_dict(self) -> dict[str, Any]:
        """The request's content: each estimator's own fields only where they change the numbers (``ig_steps``
        for IG, ``ablation_*`` for ablation), as JSON values. The estimator's key is ``"method"``, its name
        before the rename, so that the cache keys of earlier runs still match."""
        d = {"method": self.estimator, **asdict(self)}
        del d["estimator"]
        if self.estimator != "integrated_gradients":
            del d["ig_steps"]
        if self.estimator != "ablation":
            del d["ablation_baseline"], d["ablation_candidates"]
        elif self.ablation_candidates is not None:
            d["ablation_candidates"] = [list(pair) for pair in self.ablation_candidates]
        if self.positions == "answer":  # the default keeps the keys of runs made before the field existed
            del d["positions"]
        return d


@dataclass(frozen=True)
class RunOptions:
    """How a run is batched; none of these change the numbers.

    ``batch_size`` examples per batch (with all their permutations), at most ``max_tokens`` padded tokens
    per batch (rows x longest row: the memory of a forward+backward), ``max_rows`` rows per pass of
    integrated gradients' (layer, step) variants and of exact ablation's (question, neuron) variants (their
    memory budget).
    """

    batch_size: int = 8
    max_rows: int = 64
    max_tokens: int = 4096
    progress: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_rows", "max_tokens"):
            check_positive_int(getattr(self, name), name)


@dataclass
class AttributedBatch:
    """One batch of the stream: its position, its questions, their encoding and their attributions."""

    index: int
    questions: list[Question]
    encoded: EncodedQuestions
    attribution: BatchAttribution

    @property
    def example_index(self) -> Tensor:
        return torch.tensor([q.example_index for q in self.questions])

    @property
    def correct(self) -> Tensor:
        """Whether the unsteered model ranks the correct option first, per question."""
        return (self.attribution.scores.argmax(-1) == self.encoded.correct).cpu()


@dataclass
class AttributionStream:
    """The batches of a task for one model and request; iterate :meth:`batches` to attribute them."""

    model: HookedModel
    task: Task
    request: AttributionRequest
    run: RunOptions

    def __post_init__(self) -> None:
        self.spec: ModelSpec = model_spec(self.model, hook=self.request.hook)
        check_objective_fits(self.request.objective, self.task)
        self.encoder = QuestionEncoder(self.model, self.task)
        self.questions = self.task.questions()
        self.plan = list(
            example_batches(self.questions, self.run.batch_size, encoder=self.encoder, max_tokens=self.run.max_tokens)
        )
        self._mean_activations: Tensor | None = None

    def batches(self, *, skip: Collection[int] = (), rank: int = 0, world: int = 1) -> Iterator[AttributedBatch]:
        """Attributed batches, except those in ``skip``; with ``world > 1`` only this rank's share."""
        device = model_device(self.model)
        mine = [b for b in range(len(self.plan)) if b % world == rank and b not in skip]
        desc = f"attribute {self.task.name} ({self.request.estimator}, {self.request.objective})"
        for b in progress_bar(mine, self.run.progress, desc, leave=False):
            enc = self.encoder.encode(self.plan[b]).to(device)
            out = attribute(
                self.model,
                self.spec,
                enc,
                estimator=self.request.estimator,
                objective=self.request.objective,
                ig_steps=self.request.ig_steps,
                max_rows=self.run.max_rows,
                ablation_baseline=self._ablation_baseline(),
                ablation_candidates=self.request.ablation_candidates,
                positions=self.request.positions,
            )
            yield AttributedBatch(b, self.plan[b], enc, out)

    def _ablation_baseline(self) -> AblationBaseline | Tensor:
        """The ablation's baseline; ``"mean"`` becomes the mean over the whole task (every batch), computed once."""
        if self.request.estimator != "ablation" or self.request.ablation_baseline != "mean":
            return self.request.ablation_baseline
        if self._mean_activations is None:
            device = model_device(self.model)
            batches = (self.encoder.encode(batch).to(device) for batch in self.plan)
            self._mean_activations = mean_answer_activations(self.model, self.spec, batches)
        return self._mean_activations


def stream_attributions(
    model: HookedModel, task: Task, request: AttributionRequest, run: RunOptions = RunOptions()
) -> Iterator[AttributedBatch]:
    """Every batch of ``task`` attributed as ``request`` asks (a convenience over :class:`AttributionStream`)."""
    return AttributionStream(model, task, request, run).batches()
