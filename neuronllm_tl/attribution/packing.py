"""Every option of a cloze question in one replayed row: layer replay's suffix, packed.

Layer replay (:mod:`~neuronllm_tl.attribution.layer_replay`) replays, for each variant of a question, the
positions whose logits are read: the answer position, then each option's tokens but its last. Unpacked, every
option is a row of its own, right-padded to the longest option, and every row repeats the answer position.
With options of 1 to 14 tokens (capitals-mini) most of that work is padding and repeats. Packed, one row holds
the answer position once, then each option's tokens one after the other, and a mask keeps each option's
tokens attending to the prompt, the answer position and its own earlier tokens only, at their own positions
(rotary offsets from the answer position). Each option therefore reads exactly the logits it read unpacked,
up to floating-point summation order, and a variant replays 1 + sum(len - 1) positions instead of
n_options x max(len).

Example:
    >>> packed = pack_suffix(torch.tensor([1, 3, 2]))    # three options of 1, 3 and 2 tokens
    >>> packed.row.tolist(), packed.offset.tolist()      # answer position, option 1's two tokens, option 2's one
    ([0, 1, 1, 2], [0, 1, 2, 1])
    >>> packed.gather.tolist()                           # packed position of each (option, position) read
    [[0, 0, 0], [0, 1, 2], [0, 3, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor


@dataclass(frozen=True)
class PackedSuffix:
    """Where each packed position comes from, who it may attend to, and where each option's reads went."""

    row: Int[Tensor, " packed"]
    """The replayed (unpacked) row each packed position is taken from."""
    offset: Int[Tensor, " packed"]
    """Its position in that row: its offset from the answer position (its rotary position)."""
    allowed: Bool[Tensor, "packed packed"]
    """Query a may attend key b: b is the answer position, or an earlier-or-same token of a's option."""
    gather: Int[Tensor, "replayed width"]
    """The packed position of each replayed row's suffix position (0 where the row reads nothing)."""

    @property
    def length(self) -> int:
        return int(self.row.shape[0])

    def pack(self, unpacked: Tensor) -> Tensor:
        """``[replayed, width, ...]`` -> ``[1, packed, ...]``."""
        return unpacked[self.row.to(unpacked.device), self.offset.to(unpacked.device)][None]

    def positions(self, table: Tensor) -> Tensor:
        """A per-position table of the suffix (rotary cos or sin, ``[rows, width, d]``, the same for every row)
        at the packed positions: ``[1, packed, d]``."""
        return table[:1, self.offset.to(table.device)]

    def unpack(self, packed: Tensor) -> Tensor:
        """``[variant, packed, ...]`` -> ``[variant, replayed, width, ...]`` (unread positions: the answer's)."""
        return packed[:, self.gather.to(packed.device)]


def pack_suffix(read: Int[Tensor, " replayed"]) -> PackedSuffix | None:
    """The packing of replayed rows that read ``read[r]`` positions each (the answer position first); None
    where it would save nothing (a single row, or rows that read the answer position only)."""
    read = read.cpu()
    width = int(read.max())
    if len(read) < 2 or width < 2:
        return None
    rows, offsets = [0], [0]  # the answer position, shared: every row's is the same clean state
    gather = torch.zeros(len(read), width, dtype=torch.long)
    for r, n in enumerate(read.tolist()):
        gather[r, 1:n] = torch.arange(len(rows), len(rows) + n - 1)
        rows += [r] * (n - 1)
        offsets += list(range(1, n))
    row, offset = torch.tensor(rows), torch.tensor(offsets)
    same_option = row[:, None] == row[None, :]
    allowed = (offset[None, :] == 0) | (same_option & (offset[None, :] <= offset[:, None]))
    return PackedSuffix(row, offset, allowed, gather)


__all__ = ["PackedSuffix", "pack_suffix"]
