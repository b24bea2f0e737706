"""Do the sets a comparison found act as the sum of their neurons? Issue #14's joint-effects measurement.

    python scripts/set_interactions.py --out /tmp/compare_rerun/out --tasks capitals-mini sentiment-mini \
        --variants neuronllm_gxa knowledge_neurons mask=False --json docs/measurements/set_interactions.json

For each task, variant and split seed of a ``neuronllm-tl compare`` folder, the variant's neuron set is read
from the folder's store (computed there if missing), and on the task's held-out split
:func:`neuronllm_tl.set_interaction` compares, per question, the summed exact effects of silencing each of
the set's good neurons alone with the exact effect of silencing them all at once (``silence_good``).
The objective is the task's contrastive F. Example-level means, their ratio, the paired 95% CI of
joint - single and the correlations over examples are printed and written to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def variants_by_name() -> dict:
    from neuronllm_tl.comparison.variants import SWEEPS, VARIANTS

    return {**VARIANTS, **{v.name: v for group in SWEEPS.values() for v in group}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="a neuronllm-tl compare output folder")
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--group", choices=["good", "bad"], default="good")
    parser.add_argument("--model", default="smollm2-135m", help="the model the comparison ran (its --model)")
    parser.add_argument("--json")
    opts = parser.parse_args()

    import torch

    import neuronllm_tl as nl
    from neuronllm_tl.comparison.config import CompareConfig
    from neuronllm_tl.comparison.run import ComparisonRun
    from neuronllm_tl.comparison.store import ArtefactStore

    torch.set_num_threads(2)
    out = Path(opts.out)
    config = CompareConfig.from_dict(json.loads((out / "config.json").read_text()))
    run = ComparisonRun(nl.load_model(opts.model, device="cpu"), config, ArtefactStore(out))
    known = variants_by_name()
    rows = []
    for task in opts.tasks:
        for name in opts.variants:
            for seed in opts.seeds:
                v = known[name]
                neurons, _ = run.neurons(task, v, seed)
                if opts.group == "bad" and len(neurons.bad) == 0:
                    continue
                result = nl.set_interaction(run.model, run.eval_task(task, v, seed), neurons, group=opts.group)
                rows.append({"task": task, "variant": name, "seed": seed, **result.summary()})
                print(json.dumps(rows[-1]), flush=True)
    print_table(rows)
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=2) + "\n")


def print_table(rows: list[dict]) -> None:
    print("\n| task | variant | seed | set | n | mean single | mean joint | joint / single | "
          "joint − single [95% CI] | Pearson r |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ci = r["joint_minus_single_ci"]
        print(f"| {r['task']} | {r['variant']} | {r['seed']} | {r['group']} | {r['n_neurons']} | "
              f"{r['mean_single']:+.4f} | {r['mean_joint']:+.4f} | {r['ratio_joint_to_single']:.2f} | "
              f"{ci['estimate']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}] | {r['pearson_r']:.2f} |")


if __name__ == "__main__":
    main()
