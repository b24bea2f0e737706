"""NeuronLLM next to QRNCA, Knowledge Neurons, TN, LAPE and random neurons on SmolLM2-135M (offline).

Run:  python examples/compare_methods.py [--out compare_out] [--quick]

It identifies each method's neurons on one split of every task, steers the model with them on the
held-out split (and on an unrelated task), and writes results.md, results.csv and delta_p.png.
Rerunning with the same --out resumes: finished cells are not recomputed. ``--quick`` is a
two-task, few-example version for a first look.
"""

import argparse

import neuronllm_tl as nl

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="compare_out")
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()

if args.quick:
    config = nl.CompareConfig(tasks=("capitals-mini", "topics-mini"), n_identify=8, n_eval=12, ig_steps=2, controls=2)
else:
    config = nl.CompareConfig(
        tasks=("capitals-mini", "topics-mini", "sentiment-mini"),
        ablations=("objective", "permutations", "hook", "k"),
        ig_steps=4,
    )
model = nl.load_model("smollm2-135m")
result = nl.compare(model, config, out=args.out, progress=True)
print(result.markdown)
