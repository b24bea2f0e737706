"""NeuronLLM next to QRNCA, Knowledge Neurons, TN, LAPE and random neurons on SmolLM2-135M (offline).

Run:  python examples/compare_methods.py [--out compare_out] [--quick] [--seeds 0 1 2]

For every split seed (three by default), it splits every task into an identification part and a
held-out part, identifies each method's neurons on the first, and steers the model with them on the
second (and on an unrelated task's held-out part). It writes results.md and results.csv (Δ as the mean ±
sd across seeds, with each seed's value; paired 95% intervals resampling distinct held-out examples, each
averaged over the seeds that held it out), pairwise.csv (who beats whom), delta_p.png and report.html.
Rerunning with the same --out resumes: finished cells are not recomputed, and adding a seed computes
only that seed's cells. ``--quick`` is a two-task, few-example, one-seed version for a first look.
"""

import argparse

import neuronllm_tl as nl

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="compare_out")
parser.add_argument("--quick", action="store_true")
parser.add_argument("--seeds", type=int, nargs="+", default=None, help="split seeds (default: 0 1 2; --quick: 0)")
args = parser.parse_args()

if args.quick:
    seeds = tuple(args.seeds or (0,))
    config = nl.CompareConfig(
        tasks=("capitals-mini", "topics-mini"), n_identify=8, n_eval=12, ig_steps=2, controls=2, seeds=seeds
    )
else:
    config = nl.CompareConfig(
        tasks=("capitals-mini", "topics-mini", "sentiment-mini"),
        sweeps=("objective", "permutations", "hook", "k"),
        ig_steps=4,
        seeds=tuple(args.seeds or (0, 1, 2)),
    )
model = nl.load_model("smollm2-135m")
result = nl.compare(model, config, out=args.out, progress=True)
nl.render_report(args.out)
print(result.markdown)
