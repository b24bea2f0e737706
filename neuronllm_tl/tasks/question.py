"""One rendered question of an augmented set, and the option orders that make the set."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    """One rendered question of an augmented set.

    ``order[i]`` is the index (in the example's original options) of the option shown at position
    ``i``; ``correct`` is the position of the correct option after permutation.
    """

    example_index: int
    permutation_index: int
    prompt: str
    options: tuple[str, ...]
    order: tuple[int, ...]
    correct: int


def permutation_orders(n_options: int, correct: int, n_permutations: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Option orders that move the correct option to a different position in each permutation.

    With more permutations than options, positions repeat only after each was used once.
    """
    positions: list[int] = []
    while len(positions) < n_permutations:
        cycle = list(range(n_options))
        rng.shuffle(cycle)
        positions.extend(cycle)
    orders = []
    distractors = [i for i in range(n_options) if i != correct]
    for pos in positions[:n_permutations]:
        shuffled = distractors[:]
        rng.shuffle(shuffled)
        orders.append(tuple(shuffled[:pos] + [correct] + shuffled[pos:]))
    return orders


__all__ = ["Question", "permutation_orders"]
