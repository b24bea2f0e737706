"""Layer replay (start each variant at its own layer, shared prompt cache, letter columns only) against the
one-layer-one-step and one-neuron-at-a-time loops, in both formats, on padded batches and any max_rows."""

from dataclasses import replace

import pytest
import torch

from neuronllm_tl.attribution.exact_ablation import exact_ablation
from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
from neuronllm_tl.attribution.layer_replay import capture_question, layer_replay_problem, replayed_logits, run_from
from neuronllm_tl.attribution.replay import replay_mode, variant_passes
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.objectives import OptionScores, objective_and_scores
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.testing import tiny_hf_gemma3, tiny_hf_llama, tiny_task
from neuronllm_tl.testing.tasks import TINY_TEMPLATE
from neuronllm_tl.testing.reference import ablation_reference, integrated_gradients_reference
from tests.conftest import hook_count


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def hf_model(request, tmp_path_factory):
    """A 3-layer Llama, and a 3-layer Gemma 3 (query/key norms, post-norms, two local layers whose 4-token
    window the prompts exceed, a global last layer): issue #25."""
    make = tiny_hf_llama if request.param == "llama" else tiny_hf_gemma3
    return make(str(tmp_path_factory.mktemp(request.param)), n_layers=3)


def _padded(model, task, examples=(0, 2, 5)):
    questions = [next(q for q in task.questions() if q.example_index == e) for e in examples]
    return QuestionEncoder(model, task).encode(questions)


def _loop(reference, model, spec, enc, **kwargs):
    """``reference`` (one question and one layer at a time) over every question and layer: [question, layer, d_mlp]."""
    per_question = [
        torch.stack([reference(model, spec, enc, question=q, layer=layer, **kwargs) for layer in range(spec.n_layers)])
        for q in range(enc.n_questions)
    ]
    return torch.stack(per_question)


def test_auto_picks_layer_replay_on_hf_llama_and_gemma_and_not_on_a_native_bridge(hf_model, model):
    assert layer_replay_problem(hf_model) is None
    assert replay_mode(hf_model, "auto") == "layer"
    assert layer_replay_problem(model) is not None
    assert replay_mode(model, "auto") == "full"
    enc = QuestionEncoder(model, tiny_task("letter")).encode(tiny_task("letter").questions()[:1])
    with pytest.raises(ValueError, match="replay='layer' cannot run on .*key/value cache"):
        integrated_gradients(model, model_spec(model), enc, steps=2, replay="layer")


PHRASES = [  # options of one to three words of the tiny vocabulary: one to three tokens each
    {"question": "what color is the sky ?", "options": ["blue", "the green grass", "red sun"], "answer": 0},
    {"question": "which is a animal ?", "options": ["the cat", "sky", "the red sea", "five"], "answer": 0},
    {"question": "what is two ?", "options": ["a number", "the animal"], "answer": 0},
]


def phrases_task(answer_format="cloze"):
    return Task.from_examples(PHRASES, name=f"phrases-{answer_format}", answer_format=answer_format,
                              template=TINY_TEMPLATE)  # fmt: skip


def _multi_token_question(model, task):
    """The first question with options of different token lengths (cloze), or the first question (letter)."""
    enc = QuestionEncoder(model, task).encode(task.questions())
    lengths = [enc.cont_mask[enc.row_question == q].sum(1) for q in range(enc.n_questions)]
    q = next((q for q, n in enumerate(lengths) if n.max() > 1 and len(set(n.tolist())) > 1), 0)
    return enc.take_questions(torch.tensor([q]))


@pytest.mark.parametrize("pack", [True, False])
def test_a_replay_from_any_layer_reproduces_the_model(hf_model, answer_format, pack):
    question = _multi_token_question(hf_model, phrases_task(answer_format))
    read = question.cont_mask.sum(1).clamp(min=1).tolist()  # positions whose logits a row reads
    with torch.no_grad():
        want = hf_model(question.tokens, return_type="logits")[:, int(question.answer_pos[0]) :]
        suffix, state = capture_question(hf_model, question, pack=pack)
        assert (state.packing is not None) == (pack and answer_format == "cloze")  # letters read one position
        got = replayed_logits(hf_model, state, torch.tensor([0, 1, 1, 2]))[:, state.replayed_row]
        for variant in got:
            for r, n in enumerate(read):
                torch.testing.assert_close(variant[r, :n], want[r, :n], rtol=1e-4, atol=1e-5)
        with pytest.raises(ValueError, match="ordered by their start layer"):
            run_from(hf_model, state, torch.tensor([1, 0]), torch.tensor([0, 0]))
    assert all(k.shape[0] == 1 and v.shape[0] == 1 for k, v in state.prefix_kv)  # one copy, not one per row
    assert state.n_replayed <= suffix.n_rows


def test_packing_replays_each_option_token_once_and_the_answer_position_once(hf_model):
    question = _multi_token_question(hf_model, phrases_task())
    _, packed = capture_question(hf_model, question)
    _, unpacked = capture_question(hf_model, question, pack=False)
    read = question.cont_mask.sum(1)
    assert packed.n_run == 1 and unpacked.n_run == unpacked.n_replayed > 1
    assert packed.packing.length == 1 + int((read - 1).sum()) < unpacked.n_run * int(read.max())
    assert packed.residuals[0].shape[:2] == (1, packed.packing.length)


def test_one_token_options_are_replayed_once(hf_model):
    task = tiny_task("cloze")
    enc = QuestionEncoder(hf_model, task).encode(task.questions())
    q = next(q for q in range(enc.n_questions) if bool((enc.cont_mask[enc.row_question == q].sum(1) == 1).all()))
    suffix, state = capture_question(hf_model, enc.take_questions(torch.tensor([q])))
    assert suffix.n_rows > 1 and state.n_replayed == 1 and suffix.tokens.shape[1] == 1


@pytest.mark.parametrize("objective", ["contrastive", "vocab_prob"])
def test_layer_replay_ig_equals_the_loop(hf_model, answer_format, objective):
    task = tiny_task(answer_format)
    spec = model_spec(hf_model)
    enc = _padded(hf_model, task)
    _ig_equals_the_loop(hf_model, spec, enc, objective)


def test_layer_replay_ig_of_options_of_several_tokens_equals_the_loop(hf_model):
    task = phrases_task()
    enc = QuestionEncoder(hf_model, task).encode(task.questions())
    _ig_equals_the_loop(hf_model, model_spec(hf_model), enc, "contrastive")


def _ig_equals_the_loop(hf_model, spec, enc, objective):
    ref = _loop(integrated_gradients_reference, hf_model, spec, enc, steps=4, objective=objective)
    for max_rows in (1, 7, 1000):
        fast = integrated_gradients(
            hf_model, spec, enc, steps=4, replay="layer", max_rows=max_rows, objective=objective
        )
        torch.testing.assert_close(fast.attributions, ref, rtol=1e-3, atol=1e-7)
    assert ref.abs().max() > 1e-5


@pytest.mark.parametrize("objective", ["contrastive", "vocab_logprob"])
def test_layer_replay_ablation_equals_the_loop(hf_model, answer_format, objective):
    task = tiny_task(answer_format)
    spec = model_spec(hf_model)
    enc = _padded(hf_model, task)
    _ablation_equals_the_loop(hf_model, spec, enc, objective)


@pytest.mark.parametrize("objective", ["contrastive", "vocab_logprob"])
def test_layer_replay_ablation_of_options_of_several_tokens_equals_the_loop(hf_model, objective):
    """Packed options (1 to 3 tokens, cloze): each reads the logits it read unpacked."""
    task = phrases_task()
    enc = QuestionEncoder(hf_model, task).encode(task.questions())
    assert int(enc.cont_mask.sum(1).max()) == 3
    _ablation_equals_the_loop(hf_model, model_spec(hf_model), enc, objective)


def _ablation_equals_the_loop(hf_model, spec, enc, objective):
    ref = _loop(ablation_reference, hf_model, spec, enc, objective=objective)
    for max_rows in (5, 10_000):
        fast = exact_ablation(hf_model, spec, enc, replay="layer", max_rows=max_rows, objective=objective)
        torch.testing.assert_close(fast.attributions, ref, rtol=1e-3, atol=2e-6)
    assert ref.abs().max() > 1e-4


def test_letter_passes_unembed_only_the_letters_and_refuse_vocabulary_reads(hf_model):
    task = tiny_task("letter")
    enc = QuestionEncoder(hf_model, task).encode(task.questions()[:2])
    layers = torch.tensor([0, 2])
    passes = list(variant_passes(hf_model, enc, 2, max_rows=4, mode="layer", variant_layer=layers, letter_columns=True))
    assert [p.start.tolist() for p in passes] == [[0, 2], [0, 2]]
    p = passes[0]
    logits = p.logits(hf_model)
    assert logits.shape[-1] == enc.letter_ids.shape[1]
    scores = OptionScores.from_logits(logits, p.sub, vocab=False)
    with pytest.raises(ValueError, match="without vocabulary log-probabilities"):
        _ = scores.vocab_logprobs
    full = list(variant_passes(hf_model, enc, 2, max_rows=4, mode="layer", variant_layer=layers))[0].logits(hf_model)
    f_cols, _ = objective_and_scores(logits, p.sub, "contrastive", vocab=False)
    f_full, _ = objective_and_scores(full, replace(p.sub, letter_ids=enc.letter_ids[p.question]), "contrastive")
    torch.testing.assert_close(f_cols, f_full, rtol=1e-5, atol=1e-6)


def test_a_failing_hook_leaves_no_hook_behind(hf_model):
    task = tiny_task("letter")
    question = QuestionEncoder(hf_model, task).encode(task.questions()[:1])
    suffix, state = capture_question(hf_model, question)
    before = hook_count(hf_model)

    def boom(act, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        rows = state.replayed_row
        run_from(hf_model, state, torch.ones_like(rows), rows, [("blocks.2.mlp.hook_post", boom)])
    assert hook_count(hf_model) == before


def test_the_support_check_leaves_the_global_random_state_alone(tmp_path):
    model = tiny_hf_llama(str(tmp_path / "llama"))
    state = torch.get_rng_state()
    assert layer_replay_problem(model) is None
    assert torch.equal(torch.get_rng_state(), state)
