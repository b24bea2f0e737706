"""Packing a cloze question's replayed rows into one: where each position comes from and whom it may see."""

import torch

from neuronllm_tl.attribution.packing import pack_suffix


def test_each_option_sees_the_answer_position_and_its_own_earlier_tokens_only():
    packed = pack_suffix(torch.tensor([1, 3, 2]))
    assert packed.row.tolist() == [0, 1, 1, 2] and packed.offset.tolist() == [0, 1, 2, 1]
    assert packed.allowed.tolist() == [
        [True, False, False, False],  # the answer position: itself
        [True, True, False, False],  # option 1's first token: the answer position and itself
        [True, True, True, False],  # option 1's second token
        [True, False, False, True],  # option 2's token: not option 1's, though it comes before it
    ]
    unpacked = torch.arange(3 * 3).view(3, 3)  # [row, position] -> a value
    assert packed.pack(unpacked).tolist() == [[0, 4, 5, 7]]
    assert packed.unpack(packed.pack(unpacked))[0].tolist() == [[0, 0, 0], [0, 4, 5], [0, 7, 0]]


def test_nothing_to_pack_gives_none():
    assert pack_suffix(torch.tensor([4])) is None  # one row
    assert pack_suffix(torch.tensor([1, 1, 1])) is None  # every row reads the answer position only
