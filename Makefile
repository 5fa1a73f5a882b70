# Two entry points do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

.PHONY: demo test lint bench serve eval-real-model
demo: $(BIN)/.installed
	$(BIN)/warroom demo

lint: $(BIN)/.installed
	$(BIN)/ruff check warroom tests bench
	$(BIN)/mypy warroom
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n 2
	$(BIN)/python -m bench.ai_eval

# bench/ai_eval through llama-cpp-python's server and a tiny model (its own venv, .venv-llm; the first run builds
# llama.cpp, ~25 min here). The first 6 cases, ~20 min on two cores (LLM_CASES= for all). Not part of `make test`.
eval-real-model: $(BIN)/.installed
	LLM_CASES=$${LLM_CASES-6} PYTHON=$(PYTHON) VENV=$(VENV) bash bench/real_model.sh -v

bench: $(BIN)/.installed
	$(BIN)/python -m bench.fanout
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.sync
	$(BIN)/python -m bench.commands
	$(BIN)/python -m bench.teams_fanout
	$(BIN)/python -m bench.oncall
	$(BIN)/python -m bench.statuspage
	$(BIN)/python -m bench.ai_eval
