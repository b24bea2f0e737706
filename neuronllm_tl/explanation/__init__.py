"""Explanation: what a task's good and bad neurons do, measured (the stage after evaluation).

TransformerLens users explain a neuron two ways, and both are here:

* the **direct path** (:mod:`.direct`): its output direction ``W_out[l, i]`` through the final norm and the
  unembedding onto the options' tokens and the whole vocabulary (a logit lens of one neuron); with the
  neuron's activations on the task (right vs wrong answers, per label), the examples that activate it most
  and least, its exact effect when silenced, and a role in words by written-down rules (:mod:`.roles`):
  :func:`explain` -> :class:`Explanations`;
* the **texts that activate it most** over any corpus, streamed with a bounded heap (Neuroscope,
  Neuronpedia): :func:`top_activating` -> :class:`TopActivations`.

Both results print as markdown in a terminal and render as an escaped HTML table in Jupyter; their
``to_dict`` is what the HTML report (:mod:`neuronllm_tl.reporting`) reads.

Example:
    >>> ex = nl.explain(model, neurons.top(2), task, with_ablation=True)     # the 2 best good and bad neurons
    >>> print(ex)
    Explanations of 4 neurons of native on task tiny-cloze (6 held-out examples; 6 that identified the set ...
    <BLANKLINE>
    | neuron | role | score ± sd | role text | act. right / wrong | silenced: ΔF |
    |---|---|---|---|---|---|
    ...
    >>> top = nl.top_activating(model, neurons.top(2), texts, k=2)          # texts: five short sentences
    >>> print(top)
    Top-activating texts of 4 neurons of native over 5 texts.
    ...
"""

from neuronllm_tl.explanation.corpus import top_activating
from neuronllm_tl.explanation.explain import explain
from neuronllm_tl.explanation.roles import THRESHOLDS
from neuronllm_tl.explanation.snippets import NeuronSnippets, Snippet, TopActivations
from neuronllm_tl.explanation.table import Explanations, NeuronExplanation

__all__ = [
    "THRESHOLDS",
    "Explanations",
    "NeuronExplanation",
    "NeuronSnippets",
    "Snippet",
    "TopActivations",
    "explain",
    "top_activating",
]
