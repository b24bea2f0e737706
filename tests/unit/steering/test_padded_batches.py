"""``nl.steer`` on a right-padded batch of unequal prompts steers each row's last real token, never a pad
(issue #26, item 2): placed by the call's attention mask, or refused when it cannot be placed."""

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.steering.positions import last_real_positions
from neuronllm_tl.testing import tiny_hf_llama
from tests.conftest import hook_count


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_hf_llama(str(tmp_path_factory.mktemp("llama_padded")), n_layers=2)


def _set(llama):
    d_mlp = llama.cfg.d_mlp
    idx = torch.tensor([[0, i] for i in range(0, d_mlp, 2)])
    return NeuronSet(
        good=idx,
        bad=torch.zeros(0, 2, dtype=torch.long),
        good_scores=torch.ones(len(idx)),
        bad_scores=torch.zeros(0),
        scores=torch.zeros(llama.cfg.n_layers, d_mlp),
        ambiguous=torch.zeros(llama.cfg.n_layers, d_mlp, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )


ROWS = [[5, 9, 12, 7, 20], [6, 11, 3]]


def _padded(llama):
    pad = llama.tokenizer.pad_token_id
    width = max(len(r) for r in ROWS)
    tokens = torch.tensor([r + [pad] * (width - len(r)) for r in ROWS])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ROWS])
    return tokens, mask


def _alone(llama, neurons):
    """Each row's last logits, steered alone (no padding): what the batch must give."""
    out = []
    for row in ROWS:
        with nl.steer(llama, neurons, mode="excite_good"):
            out.append(llama(torch.tensor([row]), return_type="logits")[0, -1])
    return torch.stack(out)


def test_a_padded_batch_with_its_mask_is_steered_at_each_rows_last_real_token(llama):
    neurons = _set(llama)
    tokens, mask = _padded(llama)
    want = _alone(llama, neurons)
    last = last_real_positions(mask)
    with torch.no_grad(), nl.steer(llama, neurons, mode="excite_good"):
        got = llama(tokens, attention_mask=mask, return_type="logits")[torch.arange(2), last]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    hooks = nl.steering_hooks(llama, neurons, mode="excite_good", attention_mask=mask)
    with torch.no_grad():
        via_hooks = llama.run_with_hooks(tokens, attention_mask=mask, fwd_hooks=hooks)[torch.arange(2), last]
    torch.testing.assert_close(via_hooks, want, atol=1e-4, rtol=1e-4)


def test_a_padded_batch_without_a_mask_is_refused_and_no_hook_stays(llama):
    tokens, _ = _padded(llama)
    before = hook_count(llama)
    with pytest.raises(ValueError, match="cannot place the answer position.*attention_mask"):
        with nl.steer(llama, _set(llama), mode="excite_good"):
            llama(tokens)
    assert hook_count(llama) == before
    assert not any(m._forward_pre_hooks for m in [llama])


def test_rows_of_equal_length_and_other_positions_need_no_mask(llama):
    neurons = _set(llama)
    tokens = torch.tensor([ROWS[0], ROWS[0]])
    with torch.no_grad(), nl.steer(llama, neurons, mode="excite_good"):
        llama(tokens)  # no padding: the last column is every row's answer position
        llama(torch.tensor([ROWS[1] + [llama.tokenizer.pad_token_id] * 2] * 2), return_type="logits")
    with torch.no_grad(), nl.steer(llama, neurons, mode="excite_good", positions="all"):
        llama(_padded(llama)[0])  # every position: nothing to place
