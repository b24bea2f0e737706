"""k-shot demonstrations: which solved examples are shown before each question.

Demonstrations are drawn from the identification split only (never from the held-out split, whose
questions would otherwise be answered in their own prompt) and removed from it, so no scored question
shows itself solved. They are label-balanced: examples are grouped by the text of their correct option
(a classification task's label), and the groups are visited round-robin in a seeded order, so 3 shots
of a 2-label task show both labels. Where every answer is different (capitals), this is a seeded
random draw.

Example:
    >>> task = nl.load_task("sentiment-mini")
    >>> ident, held_out = task.split(0.5, seed=0, shots=3)   # 3 demonstrations, in both splits' prompts
    >>> [d.options[d.answer] for d in ident.demonstrations]
    ['positive', 'negative', 'positive']
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from neuronllm_tl.tasks.example import MCExample


def pick_demonstrations(examples: Sequence[MCExample], k: int, *, seed: int) -> list[int]:
    """Indices of ``k`` label-balanced examples, in the order they are shown."""
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"shots must be an int >= 0, got {k!r}.")
    if k >= len(examples):
        raise ValueError(
            f"shots={k} needs more than {k} examples to draw from (demonstrations are removed from the "
            f"questions), but there are {len(examples)}; use fewer shots or more identification examples."
        )
    rng = random.Random(f"shots:{seed}")
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.options[ex.answer], []).append(i)
    queues = list(groups.values())
    for queue in queues:
        rng.shuffle(queue)
    rng.shuffle(queues)
    picked: list[int] = []
    while len(picked) < k:
        for queue in queues:
            if queue and len(picked) < k:
                picked.append(queue.pop())
    return picked


__all__ = ["pick_demonstrations"]
