"""How a task's questions are grouped into model passes, and the progress bar over those passes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.tasks.task import Question

T = TypeVar("T")


def example_batches(
    questions: list[Question], batch_size: int, *, encoder: QuestionEncoder | None = None, max_tokens: int | None = None
) -> Iterator[list[Question]]:
    """Questions grouped so that all rows of an example share a batch, with at most ``batch_size``
    examples and (given an encoder) at most ``max_tokens`` padded tokens (rows x longest row).

    The token budget bounds memory: attention keeps ~tokens x length values per head and layer for the
    backward pass, so long questions (MMLU in cloze format) need smaller batches than short ones.
    An example over the budget on its own still gets a batch of its own.
    """
    groups: dict[int, list[Question]] = {}
    for q in questions:
        groups.setdefault(q.example_index, []).append(q)
    batch: list[Question] = []
    n_examples, rows, width = 0, 0, 0
    for group in groups.values():
        g_rows, g_width = _rows_and_width(encoder, group) if encoder is not None and max_tokens else (0, 0)
        over = max_tokens is not None and batch and (rows + g_rows) * max(width, g_width) > max_tokens
        if batch and (n_examples == batch_size or over):
            yield batch
            batch, n_examples, rows, width = [], 0, 0, 0
        batch += group
        n_examples, rows, width = n_examples + 1, rows + g_rows, max(width, g_width)
    if batch:
        yield batch


def _rows_and_width(encoder: QuestionEncoder, group: list[Question]) -> tuple[int, int]:
    enc = encoder.encode(group, calibrate=False)
    return enc.n_rows, int(enc.tokens.shape[1])


def progress_bar(items: Iterable[T], enabled: bool, desc: str, *, leave: bool = True) -> Iterable[T]:
    """``items`` behind a tqdm bar when ``enabled``, else ``items`` as they are."""
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=leave)
