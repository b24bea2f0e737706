"""Layer replay with every option of a cloze question packed into one row, against one row per option, side by
side in one run on the same questions (neuronllm_tl.attribution.packing).

    python benchmarks/bench_packing.py                       # SmolLM2-135M, capitals-mini's first 4 questions
    python benchmarks/bench_packing.py --json docs/benchmark_packing.json

Each method runs packed and unpacked in turn (ABAB, ``--repeats`` times each) after one warm-up of each; the
figures are the medians and their ratio (unpacked / packed: > 1 means packing is faster). Exact ablation is
timed on every ``--stride``-th neuron of every layer and scaled to all neurons; IG runs every layer. Both
results are compared: packing changes only the order of floating-point sums.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch


@contextlib.contextmanager
def unpacked():
    """Layer replay with one row per option, as before packing."""
    from neuronllm_tl.attribution import layer_replay

    real = layer_replay.pack_suffix
    layer_replay.pack_suffix = lambda read: None
    try:
        yield
    finally:
        layer_replay.pack_suffix = real


def methods(model, spec, enc, stride: int, steps: int):
    from neuronllm_tl.attribution.estimators import exact_ablation, integrated_gradients

    sample = [(layer, i) for layer in range(spec.n_layers) for i in range(0, spec.d_mlp, stride)]
    return {
        "ablation": (lambda: exact_ablation(model, spec, enc, candidates=sample).attributions, len(sample)),
        "ig": (lambda: integrated_gradients(model, spec, enc, steps=steps).attributions, None),
    }


def timed(fn) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def compare(fn, repeats: int) -> dict:
    with unpacked():
        timed(fn)
    timed(fn)  # warm-up of both (hook wiring, the self-checks)
    times: dict[str, list[float]] = {"packed": [], "unpacked": []}
    outs = {}
    for _ in range(repeats):
        seconds, outs["packed"] = timed(fn)
        times["packed"].append(seconds)
        with unpacked():
            seconds, outs["unpacked"] = timed(fn)
        times["unpacked"].append(seconds)
    packed, plain = (statistics.median(times[k]) for k in ("packed", "unpacked"))
    scale = float(outs["unpacked"].abs().max().clamp_min(1e-30))
    return {
        "packed_s": packed,
        "unpacked_s": plain,
        "speed-up (unpacked / packed)": plain / packed,
        "max relative difference": float((outs["packed"] - outs["unpacked"]).abs().max()) / scale,
        "times": times,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--task", default="capitals-mini")
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--stride", type=int, default=96, help="ablate every stride-th neuron of each layer")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import neuronllm_tl as nl
    from neuronllm_tl.models.validation import model_spec
    from neuronllm_tl.scoring.encoding import QuestionEncoder

    model = nl.load_model(args.model, device="cpu")
    spec = model_spec(model)
    task = nl.load_task(args.task, answer_format="cloze")
    enc = QuestionEncoder(model, task).encode(task.questions()[: args.questions])
    read = [enc.cont_mask[enc.row_question == q].sum(1).tolist() for q in range(enc.n_questions)]
    out = {"model": args.model, "task": args.task, "option tokens per question": read, "threads": args.threads}
    for name, (fn, sampled) in methods(model, spec, enc, args.stride, args.steps).items():
        out[name] = compare(fn, args.repeats)
        if sampled:
            out[name]["sampled neurons"] = sampled
            out[name]["packed_s, all neurons, per question"] = (
                out[name]["packed_s"] * spec.n_layers * spec.d_mlp / sampled / enc.n_questions
            )
        print(name, {k: v for k, v in out[name].items() if k != "times"}, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
