"""The result of identification: good and bad neurons with their scores, saved as safetensors + JSON.

A neuron is ``(layer, index)`` into ``blocks.{layer}.{hook}`` (by default ``mlp.hook_post``, the
input of ``W_out``). ``scores[layer, index]`` is the task score (ACE). Positive means good: the
neuron raises the correct option's share of the option softmax. Negative means bad. Zero means
never kept in any example's coarse set, or ambiguous (good for one example, bad for another).

Example:
    >>> neurons = nl.identify(model, task, k=10)
    >>> neurons.top(5).good.shape   # [5, 2] (layer, index), best first
    torch.Size([5, 2])
    >>> counts = neurons.per_layer_counts()   # {"good": [...], "bad": [...]}: how many in each layer
    >>> [sum(counts["good"]), sum(counts["bad"]), len(counts["good"])]
    [10, 10, 3]
    >>> folder = neurons.save("tiny.neurons")     # a folder: neurons.safetensors and metadata.json
    >>> torch.equal(nl.NeuronSet.load(folder).good, neurons.good)
    True
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.display import markdown_to_html
from neuronllm_tl.models.fingerprint import model_fingerprint, same_model
from neuronllm_tl.models.protocol import HookedModel

TENSORS_FILE = "neurons.safetensors"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1


@dataclass
class NeuronSet:
    """Good and bad neurons of one model for one task, best first."""

    good: Int[Tensor, "n_good 2"]
    bad: Int[Tensor, "n_bad 2"]
    good_scores: Float[Tensor, " n_good"]
    bad_scores: Float[Tensor, " n_bad"]
    scores: Float[Tensor, "n_layers d_mlp"]
    ambiguous: Bool[Tensor, "n_layers d_mlp"]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.scores.shape[0])

    @property
    def d_mlp(self) -> int:
        return int(self.scores.shape[1])

    @property
    def hook(self) -> str:
        return str(self.metadata.get("hook", "mlp.hook_post"))

    def __len__(self) -> int:
        return len(self.good) + len(self.bad)

    def __repr__(self) -> str:
        return (
            f"NeuronSet(good={len(self.good)}, bad={len(self.bad)}, n_layers={self.n_layers}, "
            f"d_mlp={self.d_mlp}, hook={self.hook!r}, task={self.metadata.get('task', {}).get('name')!r}, "
            f"method={self.metadata.get('config', {}).get('method')!r})"
        )

    def to_markdown(self, k: int = 10) -> str:
        """The ``k`` best good and worst bad neurons side by side, and the per-layer counts (layers with any)."""
        lines = [repr(self), "", "| # | good | score | bad | score |", "|---|---|---|---|---|"]
        for j in range(min(k, max(len(self.good), len(self.bad)))):
            cells = []
            for pairs, scores in ((self.good, self.good_scores), (self.bad, self.bad_scores)):
                cells += [f"L{pairs[j, 0]}:{pairs[j, 1]}", f"{float(scores[j]):+.4g}"] if j < len(pairs) else ["", ""]
            lines.append(f"| {j + 1} | " + " | ".join(cells) + " |")
        counts = self.per_layer_counts()
        lines += ["", "| layer | good | bad |", "|---|---|---|"]
        lines += [
            f"| {i} | {g} | {b} |" for i, (g, b) in enumerate(zip(counts["good"], counts["bad"], strict=True)) if g or b
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return markdown_to_html(self.to_markdown())

    def top(self, k: int) -> NeuronSet:
        """The k best good and k worst bad neurons (the lists are already sorted by |score|)."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}.")
        return replace(
            self,
            good=self.good[:k],
            bad=self.bad[:k],
            good_scores=self.good_scores[:k],
            bad_scores=self.bad_scores[:k],
            metadata={**self.metadata, "k": k},
        )

    def per_layer_counts(self) -> dict[str, list[int]]:
        return {
            "good": torch.bincount(self.good[:, 0], minlength=self.n_layers).tolist(),
            "bad": torch.bincount(self.bad[:, 0], minlength=self.n_layers).tolist(),
        }

    def as_set(self, which: str = "good") -> set[tuple[int, int]]:
        t = {"good": self.good, "bad": self.bad}[which]
        return {(int(layer), int(i)) for layer, i in t.tolist()}

    def overlap(self, other: NeuronSet) -> dict[str, float | int]:
        """Shared neurons and Jaccard index of the good and of the bad sets."""
        out: dict[str, float | int] = {}
        for which in ("good", "bad"):
            a, b = self.as_set(which), other.as_set(which)
            union = len(a | b)
            out[f"{which}_shared"] = len(a & b)
            out[f"{which}_jaccard"] = len(a & b) / union if union else 0.0
        return out

    def check_compatible(self, model: HookedModel) -> None:
        """Refuse a model whose neuron grid differs from the one this set was identified on."""
        cfg = getattr(model, "cfg", None)
        n_layers, d_mlp = getattr(cfg, "n_layers", None), getattr(cfg, "d_mlp", None)
        if (n_layers, d_mlp) != (self.n_layers, self.d_mlp):
            raise ValueError(
                f"this NeuronSet was identified on {self.metadata.get('model', 'a model')!r} with "
                f"n_layers={self.n_layers}, d_mlp={self.d_mlp}, but the model has n_layers={n_layers}, "
                f"d_mlp={d_mlp}. Identify neurons on this model (nl.identify) instead of reusing the set."
            )

    def to_record(self) -> dict[str, Any]:
        """The set without its score grid, as JSON values (kilobytes): the good and bad neurons with their
        scores, the grid's shape and the metadata. :meth:`from_record` rebuilds a set that steers exactly as
        this one (and gives the same :meth:`random_like` controls); only its ``scores`` grid is empty outside
        the chosen neurons, and ``ambiguous`` is not kept."""
        return {
            "format_version": FORMAT_VERSION,
            "shape": [self.n_layers, self.d_mlp],
            **{name: getattr(self, name).tolist() for name in ("good", "bad", "good_scores", "bad_scores")},
            "metadata": json.loads(json.dumps(self.metadata, default=str)),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NeuronSet:
        """The set of :meth:`to_record` (its score grid holds only the chosen neurons' scores)."""
        n_layers, d_mlp = record["shape"]
        good, bad = (torch.tensor(record[k], dtype=torch.long).reshape(-1, 2) for k in ("good", "bad"))
        good_scores, bad_scores = (torch.tensor(record[k], dtype=torch.float32) for k in ("good_scores", "bad_scores"))
        scores = torch.zeros(n_layers, d_mlp)
        scores[good[:, 0], good[:, 1]], scores[bad[:, 0], bad[:, 1]] = good_scores, bad_scores
        ambiguous = torch.zeros(n_layers, d_mlp, dtype=torch.bool)
        return cls(good, bad, good_scores, bad_scores, scores, ambiguous, dict(record["metadata"]))

    def check_same_weights(self, model: HookedModel, *, allow_other_model: bool = False) -> None:
        """Refuse (or, with ``allow_other_model``, warn about) a model whose weights' fingerprint differs from
        the one recorded when the set was identified: the same shape is not the same model."""
        recorded = self.metadata.get("model_fingerprint")
        if recorded is None or same_model(model, recorded):
            return
        message = (
            f"this NeuronSet was identified on {self.metadata.get('model', 'another model')!r} (weights "
            f"{str(recorded)[:12]}...), and this model's weights differ ({model_fingerprint(model)[:12]}...): its "
            "neurons need not mean the same here."
        )
        if not allow_other_model:
            raise ValueError(message + " Identify on this model, or pass allow_other_model=True to use the set anyway.")
        warnings.warn(message, UserWarning, stacklevel=3)

    def random_like(self, seed: int) -> NeuronSet:
        """Random neurons with the same per-layer counts of good and bad (a control), good and bad disjoint."""
        gen = torch.Generator().manual_seed(seed)
        good_counts = torch.bincount(self.good[:, 0], minlength=self.n_layers)
        bad_counts = torch.bincount(self.bad[:, 0], minlength=self.n_layers)
        good, bad = [], []
        for layer in range(self.n_layers):
            n_g, n_b = int(good_counts[layer]), int(bad_counts[layer])
            idx = torch.randperm(self.d_mlp, generator=gen)[: n_g + n_b]
            good.append(torch.stack([torch.full((n_g,), layer), idx[:n_g]], 1))
            bad.append(torch.stack([torch.full((n_b,), layer), idx[n_g:]], 1))
        good_t, bad_t = torch.cat(good).long(), torch.cat(bad).long()
        return NeuronSet(
            good=good_t,
            bad=bad_t,
            good_scores=self.scores[good_t[:, 0], good_t[:, 1]],
            bad_scores=self.scores[bad_t[:, 0], bad_t[:, 1]],
            scores=self.scores,
            ambiguous=self.ambiguous,
            metadata={**self.metadata, "control": {"kind": "random_same_layer_counts", "seed": seed}},
        )

    def save(self, path: str | Path) -> Path:
        """Write ``path/neurons.safetensors`` and ``path/metadata.json``; returns the folder."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {
            "good": self.good.contiguous(),
            "bad": self.bad.contiguous(),
            "good_scores": self.good_scores.float().contiguous(),
            "bad_scores": self.bad_scores.float().contiguous(),
            "scores": self.scores.float().contiguous(),
            "ambiguous": self.ambiguous.to(torch.uint8).contiguous(),
        }
        save_file(tensors, str(folder / TENSORS_FILE), metadata={"format_version": str(FORMAT_VERSION)})
        meta = {**self.metadata, "format_version": FORMAT_VERSION, "n_layers": self.n_layers, "d_mlp": self.d_mlp}
        (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return folder

    @classmethod
    def load(cls, path: str | Path, *, model: HookedModel | None = None, allow_other_model: bool = False) -> NeuronSet:
        """Read a set written by :meth:`save`. With ``model=``, also refuse a model of another shape, and one
        whose weights differ from those the set was identified on (``allow_other_model=True``: warn instead)."""
        from safetensors.torch import load_file

        folder = Path(path)
        if not (folder / TENSORS_FILE).is_file() or not (folder / METADATA_FILE).is_file():
            raise FileNotFoundError(
                f"{folder} is not a saved NeuronSet: it needs {TENSORS_FILE} and {METADATA_FILE} "
                "(written by NeuronSet.save)."
            )
        t = _read_part(folder / TENSORS_FILE, load_file)
        meta = _read_part(folder / METADATA_FILE, lambda f: json.loads(Path(f).read_text()))
        missing = [name for name in _TENSOR_NAMES if name not in t]
        if missing:
            raise ValueError(
                f"{folder / TENSORS_FILE} lacks the tensors {missing}: it is not a NeuronSet's tensor file. "
                "Identify the set again, or restore the folder from where it was saved."
            )
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"{folder} was written by a newer neuronllm_tl (format {meta['format_version']}); upgrade the package."
            )
        out = cls(
            good=t["good"].long(),
            bad=t["bad"].long(),
            good_scores=t["good_scores"],
            bad_scores=t["bad_scores"],
            scores=t["scores"],
            ambiguous=t["ambiguous"].bool(),
            metadata=meta,
        )
        if model is not None:
            out.check_compatible(model)
            out.check_same_weights(model, allow_other_model=allow_other_model)
        return out


_TENSOR_NAMES = ("good", "bad", "good_scores", "bad_scores", "scores", "ambiguous")


def _read_part(file: Path, read: Any) -> Any:
    """``read(file)``, with an error that names the file and the fix when it is damaged (a truncated or
    overwritten safetensors file raises "header too small" or similar, naming neither)."""
    try:
        return read(str(file))
    except Exception as error:  # noqa: BLE001 - any failure to parse means the same to the user
        raise ValueError(
            f"{file} is damaged and cannot be read ({type(error).__name__}: {error}). The NeuronSet in "
            f"{file.parent} must be identified again (or restored from a copy); nothing was loaded."
        ) from error
