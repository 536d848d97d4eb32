# Two commands on a fresh machine: `make demo` and `make test`. Everything else is plumbing.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LLVM_LIB ?= /usr/lib/x86_64-linux-gnu/libLLVM.so.19.1
export DRJIT_LIBLLVM_PATH ?= $(LLVM_LIB)
# Dr.Jit's LLVM backend and torch both spawn a thread per core; keep their sum sane on small machines.
export OMP_NUM_THREADS ?= 2
export PYTHONUNBUFFERED := 1
DEMO_OUT ?= runs/quick

.PHONY: setup demo test llvm clean bench demo-time
setup: $(VENV)/.stamp

llvm:
	@bash scripts/ensure_llvm.sh "$(LLVM_LIB)"

$(VENV)/.stamp: pyproject.toml scripts/ensure_llvm.sh
	@bash scripts/ensure_llvm.sh "$(LLVM_LIB)"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@# torch first and pinned: the CPU wheel on disk; never let a range pull CUDA builds.
	@$(BIN)/python -m pip install -q "torch==2.13.0"
	@$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

demo: setup
	$(BIN)/radiovisual benchmark --preset quick --out $(DEMO_OUT)

test: setup
	$(BIN)/python -m pytest -q tests

# The checked budgets (JSON under benchmarks/; figures in README and docs come from these files). Heavy: run alone.
# demo-time: `make demo`'s stages from an empty Dr.Jit cache -> benchmarks/measured/demo_time.json, README block
demo-time: setup
	$(BIN)/python benchmarks/demo_time.py
	$(BIN)/python benchmarks/demo_time.py --readme

bench: demo-time
	$(BIN)/python benchmarks/synth_throughput.py --scenarios parking_lot,suburban,street_canyon --samples 1800 \
		--workers 2 --cold --seed 9301 --out benchmarks/results
	$(BIN)/python benchmarks/pretrain_throughput.py --methods mcl,scl --ref d2ceda6 --rounds 3 \
		--out benchmarks/results/pretrain_throughput.json

clean:
	rm -rf $(VENV) runs .pytest_cache
