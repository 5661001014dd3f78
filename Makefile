# `make run` and `make test` do all set-up on a fresh machine (python3 3.11 and make are all they need).
VENV ?= .venv
VENV_BENCH ?= .venv-bench
PYTHON3 ?= python3
PY = $(VENV)/bin/python
PY_BENCH = $(VENV_BENCH)/bin/python

.PHONY: all test run bench bench-env bench-peers clean

all: test

# Runtime and test dependencies; re-installed when either requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

# Runtime dependencies only, for `make run`.
$(VENV)/.installed-run: requirements.txt
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

# numba compiles the solver kernels on first use (about a minute cold) and caches them beside
# wlra_core/solvers/compiled/: compiled once here, after installing and whenever the kernels change.
KERNELS = wlra_core/solvers/kernels.py $(wildcard wlra_core/solvers/compiled/*.py) wlra_core/blockmatch.py
$(VENV)/.kernels-warm: $(VENV)/.installed-run $(KERNELS)
	$(PY) -m wlra_core.solvers.warm
	touch $@

test: $(VENV)/.installed $(VENV)/.kernels-warm
	$(PY) -m pytest

run: $(VENV)/.installed-run $(VENV)/.kernels-warm
	$(PY) -m streamlit run app.py

bench: $(VENV)/.installed
	$(PY) benchmarks/solvers.py

# The peer libraries (scikit-surprise, implicit) live in their own venv so they never become app dependencies.
$(VENV_BENCH)/.installed: requirements.txt requirements-dev.txt requirements-bench.txt
	test -x $(PY_BENCH) || $(PYTHON3) -m venv $(VENV_BENCH)
	$(PY_BENCH) -m pip install --quiet --upgrade pip
	$(PY_BENCH) -m pip install -r requirements-bench.txt
	touch $@

bench-env: $(VENV_BENCH)/.installed

# Extra options through PEERS_ARGS, e.g. `make bench-peers PEERS_ARGS="--cases 100k"`.
bench-peers: $(VENV_BENCH)/.installed
	$(PY_BENCH) benchmarks/peers.py $(PEERS_ARGS)

clean:
	rm -rf $(VENV)
