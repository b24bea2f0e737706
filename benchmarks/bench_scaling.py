"""How the cost of exact IG and exact ablation grows with the prompt's length and with the number of layers,
as ratios to the bare forward+backward pass measured in the same run.

    python benchmarks/bench_scaling.py --json docs/benchmark_scaling.json

* Prompt length: one ``capitals-mini`` question on SmolLM2-135M, its prompt lengthened to 64 ... 1,024 tokens
  by a filler passage inserted after the first token (the question and its options unchanged).
* Layers: a random Llama (d_model 256, d_mlp 512) with 4, 8 and 16 layers, one tiny-task question lengthened
  to 128 tokens.

Per point: the floor (forward + backward to layer 0's neurons), exact IG with m steps over all layers
(layer replay, the default) and exact zero-ablation of a sample of neurons of every layer by layer replay,
scaled to all neurons. One process, timed one after another; nothing else may run on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FILLER = (
    "The archive holds letters, maps and ledgers from many towns, sorted by year and by the family that kept "
    "them; each box is labelled in pencil and the labels are copied into a card index near the door. "
)


def lengthen(enc, n_extra: int, filler_ids):
    """The one-question batch ``enc`` with ``n_extra`` filler tokens inserted after its first token."""
    import torch

    ids = torch.tensor((filler_ids * (n_extra // max(len(filler_ids), 1) + 1))[:n_extra], dtype=torch.long)
    extra = ids[None].expand(enc.n_rows, -1)
    tokens = torch.cat([enc.tokens[:, :1], extra, enc.tokens[:, 1:]], 1)
    mask = torch.cat([enc.attention_mask[:, :1], torch.ones_like(extra), enc.attention_mask[:, 1:]], 1)
    return replace(enc, tokens=tokens, attention_mask=mask, answer_pos=enc.answer_pos + n_extra)


def timed(fn, repeats: int = 1) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def point(model, enc, steps: int, per_layer: int, max_rows: int) -> dict:
    from bench_attribution import floor_pass, sampled_neurons

    from neuronllm_tl.attribution.estimators import exact_ablation, integrated_gradients
    from neuronllm_tl.models.validation import model_spec

    spec = model_spec(model)
    sample = sampled_neurons(spec, max(1, spec.d_mlp // per_layer))
    floor = timed(lambda: floor_pass(model, spec, enc), 3)
    ig = timed(lambda: integrated_gradients(model, spec, enc, steps=steps, max_rows=max_rows))
    abl = timed(lambda: exact_ablation(model, spec, enc, candidates=sample, max_rows=max_rows))
    abl_all = abl * spec.n_layers * spec.d_mlp / len(sample)
    return {"prompt_tokens": int(enc.answer_pos[0]) + 1, "n_layers": spec.n_layers, "floor_s": floor,
            "ig_s": ig, "ig_over_floor": ig / floor, "ablation_all_s": abl_all, "ablation_over_floor": abl_all / floor}


def by_length(args) -> list[dict]:
    import neuronllm_tl as nl
    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.tasks.registry import load_task

    model = nl.load_model("smollm2-135m", device="cpu")
    filler = model.tokenizer(FILLER, add_special_tokens=False)["input_ids"]
    out = []
    for fmt in args.formats:
        task = load_task("capitals-mini", answer_format=fmt)
        enc = QuestionEncoder(model, task).encode(task.questions()[:1])
        base = int(enc.answer_pos[0]) + 1
        for length in args.lengths:
            row = point(model, lengthen(enc, max(0, length - base), filler), args.steps, args.per_layer, args.max_rows)
            out.append({"model": "smollm2-135m", "format": fmt, **row})
            print(out[-1], flush=True)
    return out


def by_layers(args) -> list[dict]:
    from bench_attribution import random_llama

    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.testing import tiny_task

    out = []
    for n_layers in args.layers:
        model = random_llama(n_layers=n_layers, d_model=256, d_mlp=512)
        task = tiny_task("letter")
        enc = QuestionEncoder(model, task).encode(task.questions()[:1])
        enc = lengthen(enc, 128 - int(enc.answer_pos[0]) - 1, enc.tokens[0, 1:-1].tolist())
        row = point(model, enc, args.steps, args.per_layer, args.max_rows)
        out.append({"model": f"random llama, {n_layers} layers", "format": "letter", **row})
        print(out[-1], flush=True)
    return out


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", nargs="+", type=int, default=[64, 256, 1024])
    ap.add_argument("--layers", nargs="+", type=int, default=[4, 8, 16])
    ap.add_argument("--formats", nargs="+", default=["letter", "cloze"])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--per-layer", type=int, default=32, help="neurons ablated per layer (then scaled)")
    ap.add_argument("--max-rows", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = by_length(args) + by_layers(args)
    print("\n| model | format | prompt tokens | layers | floor (s) | IG / floor | ablation, all neurons (s) | ablation / floor |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['format']} | {r['prompt_tokens']} | {r['n_layers']} | {r['floor_s']:.3f} | "
              f"{r['ig_over_floor']:.2f} | {r['ablation_all_s']:.1f} | {r['ablation_over_floor']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
