"""Contrastive neuron identification (CNI): from per-example scores to good and bad neurons.

For example e, ES_e(w) is the attribution of neuron w summed over e's permuted questions. Then:

1. coarse sets: G_e = the top-z neurons with ES_e > 0, B_e = the bottom-z neurons with ES_e < 0
   (z over all layers at once, or z per layer);
2. ambiguity: w is ambiguous if it is in some G_e and in some B_e';
3. ACE(w) = (1/|E|) * sum_e 1[w in G_e or B_e] * ES_e(w), set to 0 for ambiguous neurons;
4. good = the top-K neurons with ACE > 0, bad = the bottom-K with ACE < 0 (global or per layer).

Issue #14's ablations of step 2-3 (:meth:`ContrastiveAccumulator.scores`): the mask can be left off, and
the task score can instead be the plain mean of ES_e (``"mean"``), or Knowledge Neurons' rule made signed
(``"share"``): the share of examples whose ES_e(w) passes t x max_w' ES_e(w'), minus the share whose
ES_e(w) falls below t x min_w' ES_e(w') (t = ``share_threshold``, 0.2 as in Knowledge Neurons).

:class:`ContrastiveAccumulator` keeps only [layer, d_mlp] running sums and counts, so memory does not
grow with the number of examples. The sums are float64, so a sum over shards in any order (batches,
processes) gives the same neurons.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.checks import check_positive_int, is_positive_int

Selection = Literal["global", "per_layer"]
Aggregation = Literal["ace", "mean", "share"]
AGGREGATIONS: tuple[str, ...] = ("ace", "mean", "share")


def resolve_z(z: int | float, n_layers: int, d_mlp: int, selection: Selection) -> int:
    """z as a count: an int is taken as is, a float in (0, 1] as a fraction of the neurons it ranks."""
    pool = d_mlp if selection == "per_layer" else n_layers * d_mlp
    if isinstance(z, float):
        if not 0.0 < z <= 1.0:
            raise ValueError(f"z as a fraction must be in (0, 1], got {z}.")
        return max(1, round(z * pool))
    if not is_positive_int(z):
        raise ValueError(f"z must be an int >= 1 or a fraction in (0, 1], got {z!r}.")
    return min(z, pool)


class ContrastiveAccumulator:
    """Streaming CNI over batches of per-example scores ``[example, layer, d_mlp]``."""

    def __init__(
        self, n_layers: int, d_mlp: int, *, z: int, selection: Selection = "global", share_threshold: float = 0.2
    ) -> None:
        if selection not in ("global", "per_layer"):
            raise ValueError(f"selection must be 'global' or 'per_layer', got {selection!r}.")
        self.n_layers, self.d_mlp, self.z, self.selection = n_layers, d_mlp, z, selection
        self.share_threshold = share_threshold
        self.kept_sum = torch.zeros(n_layers, d_mlp, dtype=torch.float64)
        self.raw_sum = torch.zeros(n_layers, d_mlp, dtype=torch.float64)
        self.good_count = torch.zeros(n_layers, d_mlp, dtype=torch.long)
        self.bad_count = torch.zeros(n_layers, d_mlp, dtype=torch.long)
        self.pass_count = torch.zeros(n_layers, d_mlp, dtype=torch.long)
        """Examples in which the neuron passes share_threshold x the example's max (minus those below x min)."""
        self.n_examples = 0

    def coarse_sets(
        self, es: Float[Tensor, "example layer d_mlp"]
    ) -> tuple[Bool[Tensor, "example layer d_mlp"], Bool[Tensor, "example layer d_mlp"]]:
        """Per-example G_e (top-z positive) and B_e (bottom-z negative) as masks."""
        flat = es.reshape(es.shape[0], -1) if self.selection == "global" else es
        z = min(self.z, flat.shape[-1])
        top = flat.topk(z, dim=-1)
        bottom = flat.topk(z, dim=-1, largest=False)
        good = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, top.indices, top.values > 0)
        bad = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, bottom.indices, bottom.values < 0)
        return good.view_as(es), bad.view_as(es)

    def update(self, es: Float[Tensor, "example layer d_mlp"]) -> None:
        if es.shape[1:] != (self.n_layers, self.d_mlp):
            raise ValueError(
                f"expected scores of shape [example, {self.n_layers}, {self.d_mlp}], got {tuple(es.shape)}."
            )
        es = es.detach().to("cpu", torch.float64)
        good, bad = self.coarse_sets(es)
        self.kept_sum += torch.einsum("eln,eln->ln", (good | bad).double(), es)
        self.raw_sum += es.sum(0)
        self.good_count += good.sum(0)
        self.bad_count += bad.sum(0)
        self.pass_count += self._passes(es)
        self.n_examples += es.shape[0]

    def _passes(self, es: Float[Tensor, "example layer d_mlp"]) -> Int[Tensor, "layer d_mlp"]:
        flat = es.flatten(1)
        high = flat.amax(1).clamp(min=0) * self.share_threshold
        low = flat.amin(1).clamp(max=0) * self.share_threshold
        up = (flat > high[:, None]) & (flat > 0)
        down = (flat < low[:, None]) & (flat < 0)
        return (up.long() - down.long()).sum(0).view(self.n_layers, self.d_mlp)

    def state_dict(self) -> dict[str, Tensor]:
        return {
            "kept_sum": self.kept_sum,
            "raw_sum": self.raw_sum,
            "good_count": self.good_count,
            "bad_count": self.bad_count,
            "pass_count": self.pass_count,
            "n_examples": torch.tensor(self.n_examples),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.kept_sum, self.raw_sum = state["kept_sum"].clone(), state["raw_sum"].clone()
        self.good_count, self.bad_count = state["good_count"].clone(), state["bad_count"].clone()
        self.pass_count = state["pass_count"].clone()
        self.n_examples = int(state["n_examples"])

    @property
    def ambiguous(self) -> Bool[Tensor, "layer d_mlp"]:
        return (self.good_count > 0) & (self.bad_count > 0)

    def ace(self) -> Float[Tensor, "layer d_mlp"]:
        return self.scores()

    def scores(self, aggregation: Aggregation = "ace", *, mask: bool = True) -> Float[Tensor, "layer d_mlp"]:
        """The task score of every neuron: ACE (the paper's), or an ablation of it (module docstring);
        ``mask`` sets the ambiguous neurons to 0."""
        if self.n_examples == 0:
            raise ValueError("no examples were scored, so there is no task score; give the task examples.")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}.")
        total = {"ace": self.kept_sum, "mean": self.raw_sum, "share": self.pass_count.double()}[aggregation]
        score = total / self.n_examples
        return score.masked_fill(self.ambiguous, 0.0) if mask else score


def select_top_k(
    ace: Float[Tensor, "layer d_mlp"], k: int, *, selection: Selection = "global"
) -> tuple[Int[Tensor, "n 2"], Float[Tensor, " n"], Int[Tensor, "m 2"], Float[Tensor, " m"]]:
    """Good = top-k with ACE > 0 (descending), bad = bottom-k with ACE < 0 (ascending), as (layer, index)."""
    check_positive_int(k, "k")
    n_layers, d_mlp = ace.shape
    out = []
    for sign in (1.0, -1.0):
        signed = ace * sign
        if selection == "global":
            kk = min(k, signed.numel())
            vals, idx = signed.flatten().topk(kk)
            layer, index = idx // d_mlp, idx % d_mlp
        else:
            kk = min(k, d_mlp)
            vals, idx = signed.topk(kk, dim=-1)
            layer = torch.arange(n_layers)[:, None].expand_as(idx).flatten()
            vals, index = vals.flatten(), idx.flatten()
            order = vals.argsort(descending=True, stable=True)
            vals, layer, index = vals[order], layer[order], index[order]
        keep = vals > 0
        out += [torch.stack([layer[keep], index[keep]], 1).long(), (vals[keep] * sign).float()]
    wanted = k if selection == "global" else k * n_layers
    warn_if_fewer(wanted, {"good": len(out[0]), "bad": len(out[2])}, int(ace.numel()))
    return out[0], out[1], out[2], out[3]


class FewerNeuronsWarning(UserWarning):
    """A neuron set holds fewer neurons than ``k`` asked for: too few neurons have a score of that sign."""


def warn_if_fewer(wanted: int, found: dict[str, int], n_neurons: int) -> None:
    """One :class:`FewerNeuronsWarning` when any of the ``found`` counts (``{"good": n, "bad": m}``) is
    below ``wanted``, naming the counts: the set is kept, smaller, never padded with score-0 neurons."""
    short = {name: n for name, n in found.items() if n < wanted}
    if short:
        counts = " and ".join(f"{n} {name}" for name, n in short.items())
        warnings.warn(
            f"k asked for {wanted} neurons per set, but only {counts} neurons (of {n_neurons}) have a score "
            f"of that sign (the rest are 0: e.g. masked as ambiguous, or never active); the set holds "
            f"{counts}. Lower k, or give more examples, to compare sets of equal size.",
            FewerNeuronsWarning,
            stacklevel=3,
        )
