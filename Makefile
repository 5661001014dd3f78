# `make run` and `make test` do all set-up on a fresh machine (python3 3.11 and make are all they need).
VENV ?= .venv
PYTHON3 ?= python3
PY = $(VENV)/bin/python

.PHONY: all test run bench clean

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

test: $(VENV)/.installed
	$(PY) -m pytest

run: $(VENV)/.installed-run
	$(PY) -m streamlit run app.py

bench: $(VENV)/.installed
	$(PY) benchmarks/solvers.py

clean:
	rm -rf $(VENV)
