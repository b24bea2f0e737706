"""Good and bad neurons of the built-in generation tasks, judged by what SmolLM2 generates (issue #12).

    python scripts/measure_generation.py --json docs/measurements/generation.json

For each task: a seeded half split (identification / held-out); ``nl.identify`` (NeuronLLM, grad x act,
contrastive F against the task's distractors, K good and K bad) on at most ``--n-identify`` identification
examples; ``nl.evaluate_generation`` (greedy decoding, ``--max-new-tokens``, Enhance and Degrade against
``--controls`` random sets) on the held-out half. The unsteered exact match carries a Clopper-Pearson interval
(``scipy.stats.binomtest``). For capitals-gen the neurons of its multiple-choice twin capitals-mini (cloze,
same settings, the same number of examples) are identified too and the sets' overlap is printed beside the
overlap two random sets of that size would have by chance (K^2 / neurons).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TASKS = ("capitals-gen", "antonyms-gen", "arithmetic-gen")


def measure_task(model, name: str, args: argparse.Namespace) -> tuple[dict, object, object]:
    from scipy import stats

    import neuronllm_tl as nl

    ident, held_out = nl.load_task(name).split(0.5, seed=args.seed)
    ident = ident.subset(range(min(args.n_identify, len(ident))))
    start = time.time()
    neurons = nl.identify(model, ident, k=args.k, batch_size=8)
    identify_s = time.time() - start
    report = nl.evaluate_generation(
        model, held_out, neurons, controls=args.controls, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    hits = round(report.baseline["exact_match"] * report.n_examples)
    ci = stats.binomtest(hits, report.n_examples).proportion_ci(0.95, method="exact")
    row = {
        "task": name,
        "n_identify": len(ident),
        "n_eval": report.n_examples,
        "exact_match_ci": [ci.low, ci.high],
        "identify_seconds": identify_s,
        "per_layer": neurons.per_layer_counts(),
        "report": report.to_dict(),
    }
    print(report.to_markdown(), flush=True)
    return row, neurons, ident


def twin_overlap(model, neurons, ident, args: argparse.Namespace) -> dict:
    """Overlap of capitals-gen's sets with capitals-mini's (cloze), identified on as many examples."""
    import neuronllm_tl as nl

    twin, _ = nl.load_task("capitals-mini").split(0.5, seed=args.seed)
    twin = twin.subset(range(min(len(ident), len(twin))))
    mc = nl.identify(model, twin, k=args.k, batch_size=8)
    n_neurons = mc.n_layers * mc.d_mlp
    out = {**neurons.overlap(mc), "k": args.k, "chance_shared": args.k**2 / n_neurons, "n_identify_mc": len(twin)}
    out["good_of_gen_in_mc_bad"] = len(neurons.as_set("good") & mc.as_set("bad"))
    out["bad_of_gen_in_mc_good"] = len(neurons.as_set("bad") & mc.as_set("good"))
    print("overlap capitals-gen vs capitals-mini:", out, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--n-identify", type=int, default=100)
    p.add_argument("--controls", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    import torch

    import neuronllm_tl as nl

    torch.manual_seed(0)
    model = nl.load_model("smollm2-135m")
    rows, overlap = [], None
    for name in args.tasks:
        row, neurons, ident = measure_task(model, name, args)
        rows.append(row)
        if name == "capitals-gen":
            overlap = twin_overlap(model, neurons, ident, args)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        record = {"settings": settings, "threads": torch.get_num_threads(), "tasks": rows, "overlap": overlap}
        args.json.write_text(json.dumps(record, indent=2, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
