# Two commands set everything up on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: test demo bench clean models

$(STAMP): setup.py requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The person detector's model files (neural_body_fitting/detection): extracted once from
# the mediapipe wheel into $NBF_CACHE; a no-op when they are there with the right hash.
models: $(STAMP)
	$(PY) -m neural_body_fitting.cli.models fetch

test: $(STAMP) models
	$(PY) -m pytest -q -n 2 --dist loadscope tests  # Two workers, a module each at a time (its fixtures are built once).

demo: $(STAMP) models
	$(PY) -m neural_body_fitting.cli.demo

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
