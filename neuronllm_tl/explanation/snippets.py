"""The value ``top_activating`` returns: per neuron, the texts that activate it most, token by token.

:meth:`TopActivations.to_dict` is read by the HTML report (``{"neurons": [{"layer", "index", "snippets":
[{"text", "max_activation", "tokens", "activations"}]}]}``; ``tokens[j]`` is the text of the j-th token and
``activations[j]`` the neuron's activation there, for highlighting). ``to_markdown`` (also ``str()``) shows
each snippet with its most active token in bold and ``_repr_html_`` the same as an escaped HTML table.

Example:
    >>> top = nl.top_activating(model, neurons.top(1), texts, k=2)     # texts: five short sentences
    >>> print(top)
    Top-activating texts of 2 neurons of native over 5 texts.
    <BLANKLINE>
    #### L...
    <BLANKLINE>
    | # | max activation | text (most active token in bold) |
    |---|---|---|
    | 1 | ... | ...**...**... |
    ...
    >>> s = top.neurons[0].snippets[0]
    >>> len(s.tokens) == len(s.activations), s.max_activation in s.activations
    (True, True)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neuronllm_tl.display import markdown_cell, markdown_to_html

CONTEXT_TOKENS = 12
"""Tokens shown on each side of the most active one in the markdown view (the dict keeps them all)."""


@dataclass
class Snippet:
    """One text (cut to ``max_length`` tokens) with the neuron's activation at each of its tokens."""

    text: str
    max_activation: float
    tokens: list[str]
    activations: list[float]

    def marked(self, context: int = CONTEXT_TOKENS) -> str:
        """The tokens around the most active one, that one in ``**bold**`` (its leading space outside)."""
        peak = max(range(len(self.activations)), key=self.activations.__getitem__)
        lo, hi = max(0, peak - context), min(len(self.tokens), peak + context + 1)
        token = self.tokens[peak]
        bold = f"{token[: len(token) - len(token.lstrip())]}**{token.strip() or repr(token)}**"
        text = "".join(self.tokens[lo:peak]) + bold + "".join(self.tokens[peak + 1 : hi])
        return ("…" if lo > 0 else "") + text + ("…" if hi < len(self.tokens) else "")


@dataclass
class NeuronSnippets:
    layer: int
    index: int
    snippets: list[Snippet] = field(default_factory=list)
    """Most active first."""


@dataclass
class TopActivations:
    """The ``k`` most activating texts of each neuron over a corpus (``n_texts`` texts read)."""

    neurons: list[NeuronSnippets]
    model: str = ""
    n_texts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "n_texts": self.n_texts, "neurons": [asdict(n) for n in self.neurons]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TopActivations:
        neurons = [NeuronSnippets(n["layer"], n["index"], [Snippet(**s) for s in n["snippets"]]) for n in d["neurons"]]
        return cls(neurons, str(d.get("model") or ""), int(d.get("n_texts") or 0))

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def to_markdown(self) -> str:
        lines = [f"Top-activating texts of {len(self.neurons)} neurons of {self.model} over {self.n_texts} texts.", ""]
        for n in self.neurons:
            lines += [f"#### L{n.layer}:{n.index}", "", "| # | max activation | text (most active token in bold) |"]
            lines.append("|---|---|---|")
            for rank, s in enumerate(n.snippets, 1):
                lines.append(f"| {rank} | {s.max_activation:+.3f} | {markdown_cell(s.marked())} |")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return markdown_to_html(self.to_markdown())
