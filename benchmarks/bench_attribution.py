"""Attribution cost, side by side in one run: every figure is a ratio to the bare forward+backward pass
measured in the same run, on the same questions.

    python benchmarks/bench_attribution.py --json docs/benchmark_attribution.json    # tiny Llama and SmolLM2-135M
    python benchmarks/bench_attribution.py --models tiny --formats letter --questions 4

For each model and answer format, on the same questions of ``capitals-mini`` (tiny: the tiny task):
  floor         forward + backward of F to layer 0's answer-position neurons: a backward through every layer,
                activations only: the least any gradient method through all layers costs
  grad_x_act    every neuron of every layer, one forward + one backward
  ig_layer      exact IG, m steps, all layers, replay from each variant's layer (the default, replay="auto")
  ig_vocab_prob exact IG of p(correct) over the whole vocabulary, as Knowledge Neurons and QRNCA attribute
                (the same engine as ig_layer, another objective; issue #24 item 7)
  ig_prefix     exact IG by the previous engine: every layer of the answer suffix after the cached prompt
  ig_loop       the peers' loop: one question, one layer, one step per forward+backward
                (timed on --loop-layers layers and scaled to all layers)
  ablation      exact zero-ablation by layer replay of every --ablation-stride-th neuron of every layer,
                scaled to all neurons
  ablation_loop one forward per neuron (--loop-neurons neurons of the first and the last layer, scaled)
Each method runs in its own process, so its peak resident memory (ru_maxrss) can be read.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
METHODS = ("floor", "grad_x_act", "ig_layer", "ig_vocab_prob", "ig_prefix", "ig_loop", "ablation", "ablation_loop")


def random_llama(n_layers: int = 4, d_model: int = 64, d_mlp: int = 128):
    import torch
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import LlamaConfig, LlamaForCausalLM

    from neuronllm_tl.testing import tiny_tokenizer

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=d_model, intermediate_size=d_mlp, num_hidden_layers=n_layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)
    folder = tempfile.mkdtemp(prefix="bench_llama_")
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return TransformerBridge.boot_transformers(folder, device="cpu").eval()


def build_model(name: str):
    if name == "tiny":
        return random_llama()
    import neuronllm_tl as nl

    return nl.load_model(name, device="cpu")


def build_batch(model, name: str, answer_format: str, n_questions: int):
    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.tasks.registry import load_task
    from neuronllm_tl.testing import tiny_task

    task = tiny_task(answer_format) if name == "tiny" else load_task("capitals-mini", answer_format=answer_format)
    return QuestionEncoder(model, task).encode(task.questions()[:n_questions])


def floor_pass(model, spec, enc):
    import torch

    from neuronllm_tl.attribution.probes import AnswerProbe
    from neuronllm_tl.scoring.encoding import forward_logits
    from neuronllm_tl.scoring.objectives import objective_and_scores

    mask = torch.zeros(enc.n_rows, spec.n_layers, dtype=torch.bool)
    mask[:, 0] = True
    probe = AnswerProbe(spec, enc.answer_pos, mask)
    with torch.enable_grad():
        f = objective_and_scores(forward_logits(model, enc, probe.hooks()), enc, "contrastive")[0]
        probe.gradients(f.sum())


def sampled_neurons(spec, stride: int) -> list[tuple[int, int]]:
    return [(layer, i) for layer in range(spec.n_layers) for i in range(0, spec.d_mlp, stride)]


def loop_neurons(spec, n: int) -> list[tuple[int, int]]:
    """``n`` neurons (among the sampled ones: index 0, stride, ...) of the first and the last layer."""
    return [(layer, i) for layer in (0, spec.n_layers - 1) for i in range(0, n)]


def runs(model, spec, enc, opts: dict) -> dict:
    import torch

    from neuronllm_tl.attribution.estimators import exact_ablation, grad_x_act, integrated_gradients
    from neuronllm_tl.testing.reference import ablation_reference, integrated_gradients_reference

    steps, rows = opts["steps"], opts["max_rows"]
    loop_layers = list(range(min(opts["loop_layers"], spec.n_layers)))
    stride = max(1, spec.d_mlp // opts["ablation_per_layer"])
    sample = sampled_neurons(spec, stride)
    loop = [(layer, i * stride) for layer, i in loop_neurons(spec, opts["loop_neurons"])]

    def ablation_loop():
        out = torch.zeros(enc.n_questions, spec.n_layers, spec.d_mlp, dtype=torch.float64)
        for q in range(enc.n_questions):
            for layer in sorted({layer for layer, _ in loop}):
                mine = [i for l2, i in loop if l2 == layer]
                out[q, layer] = ablation_reference(model, spec, enc, question=q, layer=layer, neurons=mine)
        return out

    return {
        "floor": lambda: floor_pass(model, spec, enc),
        "grad_x_act": lambda: grad_x_act(model, spec, enc).attributions,
        "ig_layer": lambda: integrated_gradients(model, spec, enc, steps=steps, max_rows=rows).attributions,
        "ig_vocab_prob": lambda: integrated_gradients(
            model, spec, enc, steps=steps, max_rows=rows, objective="vocab_prob"
        ).attributions,
        "ig_prefix": lambda: integrated_gradients(model, spec, enc, steps=steps, replay="prefix", max_rows=rows).attributions,
        "ig_loop": lambda: torch.stack([
            torch.stack([integrated_gradients_reference(model, spec, enc, question=q, layer=l, steps=steps) for l in loop_layers])
            for q in range(enc.n_questions)
        ]),
        "ablation": lambda: exact_ablation(model, spec, enc, candidates=sample, max_rows=rows).attributions,
        "ablation_loop": ablation_loop,
    }, {"loop_layers": len(loop_layers), "sampled": len(sample), "loop_neurons": loop}


def run_method(args: tuple) -> dict:
    model_name, answer_format, method, opts = args
    import torch

    torch.set_num_threads(opts["threads"])
    from neuronllm_tl.models.validation import model_spec

    model = build_model(model_name)
    spec = model_spec(model)
    enc = build_batch(model, model_name, answer_format, opts["questions"])
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    table, info = runs(model, spec, enc, opts)
    fn = table[method]
    fn()  # warm-up (lazy hook wiring, allocator, the layer-replay self-check)
    repeats = 3 if method in ("floor", "grad_x_act") else 1
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    seconds = (time.perf_counter() - start) / repeats
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"seconds": seconds, "rss_above_loaded_mb": (rss - base_rss) / 1024, "n_layers": spec.n_layers,
              "d_mlp": spec.d_mlp, "tokens": int(enc.attention_mask.sum()), "rows": enc.n_rows, **info}
    n_neurons = spec.n_layers * spec.d_mlp
    if method == "ig_loop":
        result["seconds_all"] = seconds * spec.n_layers / info["loop_layers"]
        result["scores"] = out.tolist()
    elif method in ("ig_layer", "ig_prefix"):
        result["scores"] = out[:, : info["loop_layers"]].tolist()
    elif method == "ablation":
        result["seconds_all"] = seconds * n_neurons / info["sampled"]
        result["scores"] = [[float(out[q, layer, i]) for layer, i in info["loop_neurons"]] for q in range(enc.n_questions)]
    elif method == "ablation_loop":
        result["seconds_all"] = seconds * n_neurons / len(info["loop_neurons"])
        result["scores"] = [[float(out[q, layer, i]) for layer, i in info["loop_neurons"]] for q in range(enc.n_questions)]
    return result


def max_relative_difference(a, b) -> float:
    import torch

    a, b = torch.tensor(a), torch.tensor(b)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def bench(name: str, answer_format: str, opts: dict) -> dict:
    ctx = mp.get_context("spawn")
    r = {}
    for method in METHODS:
        with ctx.Pool(1) as pool:
            r[method] = pool.apply(run_method, ((name, answer_format, method, opts),))
        print(f"  {name} {answer_format} {method}: {r[method]['seconds']:.3f} s", flush=True)
    floor = r["floor"]["seconds"]
    per_q = floor / opts["questions"]
    return {
        "model": name,
        "format": answer_format,
        "questions": opts["questions"],
        "tokens": r["floor"]["tokens"],
        "rows": r["floor"]["rows"],
        "n_layers": r["floor"]["n_layers"],
        "ig_steps": opts["steps"],
        "max_rows": opts["max_rows"],
        "floor_s": floor,
        "P1 grad_x_act / floor (<= 1.1)": r["grad_x_act"]["seconds"] / floor,
        "P2 ig_layer / floor (<= 5 letter, <= 8 cloze)": r["ig_layer"]["seconds"] / floor,
        "ig_vocab_prob (KN, QRNCA) / floor": r["ig_vocab_prob"]["seconds"] / floor,
        "ig_vocab_prob / ig_layer (<= 1.2)": r["ig_vocab_prob"]["seconds"] / r["ig_layer"]["seconds"],
        "ig_prefix / floor": r["ig_prefix"]["seconds"] / floor,
        "ig_loop / floor": r["ig_loop"]["seconds_all"] / floor,
        "P2 speed-up ig_layer vs loop (>= 50)": r["ig_loop"]["seconds_all"] / r["ig_layer"]["seconds"],
        "P2 max rel diff ig_layer vs loop (<= 1e-3)": max_relative_difference(r["ig_layer"]["scores"], r["ig_loop"]["scores"]),
        "max rel diff ig_prefix vs loop": max_relative_difference(r["ig_prefix"]["scores"], r["ig_loop"]["scores"]),
        "ablation, all neurons, s per question": r["ablation"]["seconds_all"] / opts["questions"],
        "ablation / floor (<= 300)": r["ablation"]["seconds_all"] / floor,
        "ablation_loop / floor": r["ablation_loop"]["seconds_all"] / floor,
        "speed-up ablation vs loop (>= 50)": r["ablation_loop"]["seconds_all"] / r["ablation"]["seconds_all"],
        "max rel diff ablation vs loop (<= 1e-3)": max_relative_difference(r["ablation"]["scores"], r["ablation_loop"]["scores"]),
        "floor s per question": per_q,
        "rss_above_loaded_mb": {m: round(r[m]["rss_above_loaded_mb"], 1) for m in r},
        "P3 peak memory ig_layer / floor (<= 1.5)": r["ig_layer"]["rss_above_loaded_mb"] / max(r["floor"]["rss_above_loaded_mb"], 1.0),
        "P3 peak memory ablation / floor (<= 1.5)": r["ablation"]["rss_above_loaded_mb"] / max(r["floor"]["rss_above_loaded_mb"], 1.0),
    }


def print_table(tables: list[dict]) -> None:
    keys = [k for k in tables[0] if k not in ("model", "format", "rss_above_loaded_mb")]
    print("\n| figure | " + " | ".join(f"{t['model']} {t['format']}" for t in tables) + " |")
    print("|---|" + "---|" * len(tables))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{t[k]:.3g}" if isinstance(t[k], float) else str(t[k]) for t in tables) + " |")
    for m in METHODS:
        print(f"| peak RSS above the loaded model, {m} (MB) | " + " | ".join(str(t["rss_above_loaded_mb"][m]) for t in tables) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"])
    ap.add_argument("--formats", nargs="+", default=["letter", "cloze"])
    ap.add_argument("--questions", type=int, default=2)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--max-rows", type=int, default=256)
    ap.add_argument("--loop-layers", type=int, default=2)
    ap.add_argument("--loop-neurons", type=int, default=4, help="per layer, first and last layer")
    ap.add_argument("--ablation-per-layer", type=int, default=32, help="neurons timed per layer (then scaled)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    opts = {k: getattr(args, k) for k in ("questions", "steps", "max_rows", "loop_layers", "loop_neurons",
                                          "ablation_per_layer", "threads")}
    tables = []
    for m in args.models:
        for f in args.formats:
            tables.append(bench(m, f, opts))
            if args.json:  # after every model and format, so a run cut short keeps what it measured
                with open(args.json, "w") as out:
                    json.dump(tables, out, indent=2)
    print_table(tables)


if __name__ == "__main__":
    main()
