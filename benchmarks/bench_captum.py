"""Our exact integrated gradients against Captum's ``IntegratedGradients`` on the same questions, in one run.

    pip install captum==0.9.0 --no-deps      # only for this benchmark; the package never imports it
    python benchmarks/bench_captum.py --json docs/benchmark_captum.json
    python benchmarks/bench_captum.py --models tiny --layers 2

The quantity is NeuronLLM's per-layer IG at the answer position: for layer l, the activation at
``blocks.{l}.mlp.hook_post`` of the answer position is scaled by alpha = k/m (k = 1..m, right Riemann sum),
and IG_i = a_i * mean_k dF/da_i, F = log softmax(option scores)[correct] (the ``contrastive`` objective).

Captum runs on the Hugging Face model itself (``model.original_model``), not through TransformerLens: a forward
pre-hook on ``layers[l].mlp.down_proj`` (whose input is ``hook_post``) puts Captum's scaled input at the
answer position. One ``IntegratedGradients.attribute`` call per question and layer, ``n_steps=m``,
``method="riemann_right"``, zero baseline, ``internal_batch_size`` 16 (the setting of the figure issue #13
quotes). Ours: ``integrated_gradients(...)`` with the default replay. Captum is timed on ``--layers`` layers
and scaled to all; the difference is over those layers. Issue #13's P5: equal to 1e-3, ours >= 40x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(model_name: str, answer_format: str, n_questions: int):
    import neuronllm_tl as nl
    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.testing import tiny_hf_llama, tiny_task

    if model_name == "tiny":
        model, task = tiny_hf_llama(n_layers=4), tiny_task(answer_format)
    else:
        model = nl.load_model(model_name, device="cpu")
        task = nl.load_task("capitals-mini", answer_format=answer_format)
    return model, QuestionEncoder(model, task).encode(task.questions()[:n_questions])


def captum_layer_ig(hf, enc, question: int, layer: int, steps: int, internal_batch_size: int):
    """Captum's IG of F for one question at one layer's answer-position neurons, on the HF model."""
    import torch
    from captum.attr import IntegratedGradients

    from neuronllm_tl.scoring.objectives import objective_and_scores

    q = enc.take_questions(torch.tensor([question]))
    down_proj = hf.model.layers[layer].mlp.down_proj
    clean: dict[str, torch.Tensor] = {}

    def record(module, args):
        clean["a"] = args[0][0, int(q.answer_pos[0])].detach()

    handle = down_proj.register_forward_pre_hook(record)
    with torch.no_grad():
        hf(input_ids=q.tokens[:1], attention_mask=q.attention_mask[:1])
    handle.remove()

    def forward(x):  # x: [n, d_mlp], one scaled activation per copy of the question
        sub = q.take_questions(torch.zeros(x.shape[0], dtype=torch.long))
        rows = torch.arange(sub.n_rows)

        def put(module, args):
            return (args[0].index_put((rows, sub.answer_pos), x[sub.row_question].to(args[0].dtype)),)

        h = down_proj.register_forward_pre_hook(put)
        try:
            logits = hf(input_ids=sub.tokens, attention_mask=sub.attention_mask).logits
        finally:
            h.remove()
        return objective_and_scores(logits, sub, "contrastive")[0]

    a = clean["a"][None]
    attr = IntegratedGradients(forward).attribute(
        a, baselines=torch.zeros_like(a), n_steps=steps, method="riemann_right", internal_batch_size=internal_batch_size
    )
    return attr[0].detach()


def bench(model_name: str, answer_format: str, opts) -> dict:
    import torch

    from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
    from neuronllm_tl.models.validation import model_spec

    model, enc = build(model_name, answer_format, opts.questions)
    spec = model_spec(model)
    integrated_gradients(model, spec, enc.take_questions(torch.tensor([0])), steps=2)  # warm-up: self-check, hooks
    start = time.perf_counter()
    ours = integrated_gradients(model, spec, enc, steps=opts.steps).attributions
    ours_s = time.perf_counter() - start
    layers = list(range(0, spec.n_layers, max(1, spec.n_layers // opts.layers)))[: opts.layers]
    hf = model.original_model
    start = time.perf_counter()
    theirs = torch.stack([
        torch.stack([captum_layer_ig(hf, enc, q, layer, opts.steps, opts.internal_batch_size) for layer in layers])
        for q in range(enc.n_questions)
    ])
    captum_s = (time.perf_counter() - start) * spec.n_layers / len(layers)
    mine = ours[:, layers].float()
    return {
        "model": model_name,
        "format": answer_format,
        "questions": enc.n_questions,
        "layers": spec.n_layers,
        "captum_layers_timed": layers,
        "ig_steps": opts.steps,
        "ours_s": ours_s,
        "captum_s_all_layers": captum_s,
        "speedup": captum_s / ours_s,
        "max_relative_difference": float((mine - theirs).abs().max() / theirs.abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"])
    parser.add_argument("--formats", nargs="+", default=["letter", "cloze"])
    parser.add_argument("--questions", type=int, default=2)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--layers", type=int, default=6, help="layers Captum is timed on (scaled to all)")
    parser.add_argument("--internal-batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    opts = parser.parse_args()
    import torch

    torch.set_num_threads(opts.threads)
    rows = []
    for name in opts.models:
        for answer_format in opts.formats:
            rows.append(bench(name, answer_format, opts))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| model | format | questions | layers | ours (s) | Captum, all layers (s) | speed-up | max rel diff |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['format']} | {r['questions']} | {r['layers']} | {r['ours_s']:.2f} | "
              f"{r['captum_s_all_layers']:.1f} | {r['speedup']:.0f}× | {r['max_relative_difference']:.1e} |")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"threads": opts.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
