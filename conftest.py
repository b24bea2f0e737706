"""The namespace of the package's docstring examples (``pytest`` runs them: ``--doctest-modules`` in pyproject).

Every ``>>>`` example runs offline on the tiny random model and task of :mod:`neuronllm_tl.testing`, at one
thread, and writes only under ``tmp_path``: a fresh temporary folder per module, which is also the working
directory and the cache root of the package and of ``datasets`` while its examples run, and holds two tiny
question files (``task_files``). ``tests/conftest.py`` keeps the unit tests' own fixtures.
"""

import os

for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[var] = "1"

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

TASK_FILES = ("tiny.jsonl", "tiny-reversed.jsonl")
"""The tiny task's twelve questions as two question files (the second in reverse order): comparisons need two."""

TEXTS = [
    "the movie was great .",
    "the food was awful .",
    "what color is the sky ?",
    "the cat is a animal .",
    "this book is good .",
]
"""A five-text corpus in the tiny vocabulary (``texts``: what ``top_activating`` reads)."""


def write_task_files(folder):
    from neuronllm_tl.testing import tiny_examples

    rows = tiny_examples()
    for name, examples in zip(TASK_FILES, (rows, rows[::-1]), strict=True):
        (folder / name).write_text("\n".join(json.dumps(r) for r in examples) + "\n")
    return tuple(str(folder / name) for name in TASK_FILES)


PACKAGE = Path(__file__).parent / "neuronllm_tl"


def pytest_collection_modifyitems(config, items):
    """Doctests run for the package only: ``--doctest-modules`` also reads the test helpers' docstrings
    (``tests/integration/browser.py`` shows a browser session), which document and are not run."""
    outside = {id(item) for item in items if isinstance(item, pytest.DoctestItem) and PACKAGE not in item.path.parents}
    if outside:
        config.hook.pytest_deselected(items=[item for item in items if id(item) in outside])
        items[:] = [item for item in items if id(item) not in outside]


@pytest.fixture(scope="session")
def _doctest_objects():
    import neuronllm_tl as nl
    from neuronllm_tl.models.validation import model_spec
    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.testing import tiny_model, tiny_task

    model = tiny_model()
    task = tiny_task("cloze")
    ident, held_out = task.split(0.5, seed=0)
    return {
        "nl": nl,
        "json": json,
        "torch": torch,
        "model": model,
        "task": task,
        "ident": ident,
        "held_out": held_out,
        "neurons": nl.identify(model, ident, k=3),  # 3 good and 3 bad neurons, identified on half the task
        "spec": model_spec(model),
        "enc": QuestionEncoder(model, task).encode(task.questions()),
        "tokens": model.to_tokens(["the movie was great .", "the food was awful ."]),  # [2, 6]: no padding
        "QuestionEncoder": QuestionEncoder,
        "model_spec": model_spec,
        "task_files": TASK_FILES,
        "texts": TEXTS,
    }


@pytest.fixture(scope="session")
def _comparison(_doctest_objects, tmp_path_factory):
    """A small comparison grid on the two tiny question files (about 2 s): ``result`` of the comparison modules."""
    from neuronllm_tl.comparison.config import CompareConfig
    from neuronllm_tl.comparison.schedule import run_comparison

    folder = tmp_path_factory.mktemp("comparison")
    config = CompareConfig(
        tasks=write_task_files(folder),
        variants=("neuronllm_gxa", "tn", "random"),
        k=4,
        n_identify=6,
        n_eval=6,
        controls=1,
        seeds=(0,),
    )
    return run_comparison(_doctest_objects["model"], config, out=folder / "out", log=lambda line: None)


@pytest.fixture(autouse=True)
def _doctest_namespace(request):
    """Fills the examples' namespace and runs them in their own temporary folder; unit tests skip it."""
    if not isinstance(request.node, pytest.DoctestItem):
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(request.getfixturevalue("_doctest_objects"))
    if request.node.name.startswith("neuronllm_tl.comparison."):
        namespace["result"] = request.getfixturevalue("_comparison")
    tmp_path = request.getfixturevalue("tmp_path")
    write_task_files(tmp_path)
    namespace["tmp_path"] = tmp_path
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path / "cache"))  # mined distractors, converted models
    if request.node.name.startswith("neuronllm_tl.tasks."):  # they read files through datasets.load_dataset
        monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))
