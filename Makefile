# Two commands do all set-up: `make demo` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DR     := $(VENV)/bin/deeprecs
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-quick venv clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The main job on the embedded defaults: MovieLens 100K -> biased MF -> rating metrics; then
# EASE on the same split, positives >= 4 -> top-K metrics -> recommendations (README: why two models).
demo: $(STAMP)
	$(DR) fetch ml-100k
	$(DR) train biased-mf --data ml-100k --split random:0.2 --seed 0 --out runs/demo
	$(DR) evaluate runs/demo
	$(DR) train ease --data ml-100k --split random:0.2 --seed 0 --positive 4 --out runs/demo-topk
	$(DR) recommend runs/demo-topk --user 1 --user 196 --user 405 -k 5
	$(DR) similar runs/demo-topk --item 50 -k 5

test: $(STAMP)
	DEEPRECS_TEST_PG_START=1 $(PY) -m pytest -q tests

# Every benchmark beside its peers (installed here; LightFM is rectools-lightfm, built from its sdist).
bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[bench]'
	scripts/wrk.sh >/dev/null || echo "warning: no wrk; the HTTP benchmarks use the Python load generator" >&2
	$(PY) benchmarks/run_all.py

# CI smoke test (a few minutes on 2 cores, no peers): writes benchmarks/results/BENCHMARKS-quick.md.
bench-quick: $(STAMP)
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) runs .pytest_cache
