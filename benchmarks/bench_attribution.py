"""Attribution cost, side by side in one run: every figure is a ratio to the bare forward+backward pass
measured in the same run.

    python benchmarks/bench_attribution.py                      # tiny Llama (random) and SmolLM2-135M
    python benchmarks/bench_attribution.py --models tiny --questions 4 --json out.json

For each model, on the same letter-format questions:
  floor       forward + backward of F to layer 0's answer-position neurons: a backward through every layer,
              activations only (no weight gradients): the least any gradient method through all layers costs
  grad_x_act  every neuron of every layer, one forward + one backward
  ig_prefix   exact IG, m steps, all layers, prefix replay (the default on HF-backed bridges)
  ig_full     exact IG, m steps, all layers, whole sequences batched
  naive       the peers' loop: one question, one layer, one step per forward+backward
              (timed on --naive-layers layers and scaled to all layers; the scaling is printed)
Each method runs in its own process so its peak resident memory (ru_maxrss) can be read.
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


def build_model(name: str):
    import torch

    if name == "tiny":
        from transformer_lens.model_bridge import TransformerBridge
        from transformers import LlamaConfig, LlamaForCausalLM

        from neuronllm_tl.testing import tiny_tokenizer

        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
        folder = tempfile.mkdtemp(prefix="bench_tiny_")
        LlamaForCausalLM(cfg).save_pretrained(folder)
        tiny_tokenizer().save_pretrained(folder)
        return TransformerBridge.boot_transformers(folder, device="cpu").eval()
    import neuronllm_tl as nl

    return nl.load_model(name, device="cpu")


def build_batch(model, name: str, n_questions: int):
    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.tasks.registry import load_task
    from neuronllm_tl.testing import tiny_task

    task = tiny_task("letter") if name == "tiny" else load_task("capitals-mini", answer_format="letter")
    return QuestionEncoder(model, task).encode(task.questions()[:n_questions])


def run_method(args: tuple) -> dict:
    model_name, method, n_questions, steps, naive_layers, threads = args
    import torch

    torch.set_num_threads(threads)
    from neuronllm_tl.attribution.methods import grad_x_act, integrated_gradients
    from neuronllm_tl.models.validation import model_spec
    from neuronllm_tl.scoring.encoding import forward_logits
    from neuronllm_tl.scoring.objectives import objective_and_scores
    from neuronllm_tl.testing.reference import integrated_gradients_reference

    model = build_model(model_name)
    spec = model_spec(model)
    enc = build_batch(model, model_name, n_questions)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def floor():
        from neuronllm_tl.attribution.probes import AnswerProbe

        mask = torch.zeros(enc.n_rows, spec.n_layers, dtype=torch.bool)
        mask[:, 0] = True
        probe = AnswerProbe(spec, enc.answer_pos, mask)
        with torch.enable_grad():
            f = objective_and_scores(forward_logits(model, enc, probe.hooks()), enc, "contrastive")[0]
            probe.gradients(f.sum())
        return None

    layers = list(range(min(naive_layers, spec.n_layers)))
    runs = {
        "floor": floor,
        "grad_x_act": lambda: grad_x_act(model, spec, enc).attributions,
        "ig_prefix": lambda: integrated_gradients(model, spec, enc, steps=steps, replay="prefix", max_rows=256).attributions,
        "ig_full": lambda: integrated_gradients(model, spec, enc, steps=steps, replay="full", max_rows=64).attributions,
        "naive": lambda: torch.stack([
            torch.stack([integrated_gradients_reference(model, spec, enc, question=q, layer=l, steps=steps) for l in layers])
            for q in range(enc.n_questions)
        ]),
    }
    fn = runs[method]
    fn()  # warm-up (lazy hook wiring, allocator)
    repeats = 1 if method in ("naive", "ig_full", "ig_prefix") else 3
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    seconds = (time.perf_counter() - start) / repeats
    result = {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "rss_above_loaded_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024,
              "n_layers": spec.n_layers, "tokens": int(enc.attention_mask.sum())}
    if method == "naive":
        result["layers_timed"] = len(layers)
        result["seconds_all_layers"] = seconds * spec.n_layers / len(layers)
    if out is not None:
        result["scores"] = out[:, : len(layers)].tolist() if method != "naive" else out.tolist()
    return result


def max_relative_difference(a, b) -> float:
    import torch

    a, b = torch.tensor(a), torch.tensor(b)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def bench_model(name: str, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    results = {}
    for method in ("floor", "grad_x_act", "ig_prefix", "ig_full", "naive"):
        with ctx.Pool(1) as pool:
            results[method] = pool.apply(run_method, ((name, method, args.questions, args.steps, args.naive_layers, args.threads),))
        print(f"  {name} {method}: {results[method]['seconds']:.3f} s", flush=True)
    floor = results["floor"]["seconds"]
    naive_all = results["naive"]["seconds_all_layers"]
    table = {
        "model": name,
        "questions": args.questions,
        "tokens": results["floor"]["tokens"],
        "n_layers": results["floor"]["n_layers"],
        "ig_steps": args.steps,
        "floor_s": floor,
        "grad_x_act_over_floor": results["grad_x_act"]["seconds"] / floor,
        "ig_prefix_over_floor": results["ig_prefix"]["seconds"] / floor,
        "ig_full_over_floor": results["ig_full"]["seconds"] / floor,
        "naive_over_floor": naive_all / floor,
        "speedup_ig_prefix_vs_naive": naive_all / results["ig_prefix"]["seconds"],
        "speedup_ig_full_vs_naive": naive_all / results["ig_full"]["seconds"],
        "naive_layers_timed": results["naive"]["layers_timed"],
        "max_rel_diff_ig_prefix_vs_naive": max_relative_difference(results["ig_prefix"]["scores"], results["naive"]["scores"]),
        "max_rel_diff_ig_full_vs_naive": max_relative_difference(results["ig_full"]["scores"], results["naive"]["scores"]),
        "rss_above_loaded_mb": {m: round(results[m]["rss_above_loaded_mb"], 1) for m in results},
    }
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"])
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--naive-layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    tables = [bench_model(m, args) for m in args.models]
    keys = [k for k in tables[0] if k not in ("model", "rss_above_loaded_mb")]
    print("\n| figure | " + " | ".join(t["model"] for t in tables) + " |")
    print("|---|" + "---|" * len(tables))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{t[k]:.4g}" if isinstance(t[k], float) else str(t[k]) for t in tables) + " |")
    for m in ("floor", "grad_x_act", "ig_prefix", "ig_full", "naive"):
        print(f"| peak RSS above loaded model, {m} (MB) | " + " | ".join(str(t["rss_above_loaded_mb"][m]) for t in tables) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(tables, f, indent=2)


if __name__ == "__main__":
    main()
