# Transfer learning & fine-tuning with Keras: the course's commands.
#   make lab       set up .venv if needed, then open JupyterLab on the course
#                  (LAB_ARGS="--no-browser --port=8899" passes options to jupyter lab)
#   make test      set up .venv if needed, then run the whole test suite
#   make release   regenerate notebooks/ (student versions) from solutions/ with nbgrader
#   make outputs   re-execute solutions/ in place (quick profile) to refresh stored outputs
#   make bench     run every notebook (quick profile) and print the performance table

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))

# The venv's tools first on PATH: nbgrader runs `alembic` from there to create its gradebook.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install lab test release outputs bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed: make PYTHON=python3.11 ..."'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# Publish notebooks/ to the course-local exchange so that JupyterLab's Assignment List shows
# them, then serve the course folder (Jupyter prints the URL to open).
lab: $(STAMP)
	mkdir -p .nbgrader
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader release_assignment "$$a" --force --log-level=WARN || exit 1; done
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root) \
	  --LabApp.default_url=/lab/tree/notebooks $(LAB_ARGS)

test: $(STAMP)
	COURSE_PROFILE=quick $(BIN)/python -m pytest

release: $(STAMP)
	mkdir -p .nbgrader
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader generate_assignment "$$a" --force || exit 1; done

outputs: $(STAMP)
	for nb in solutions/*/*.ipynb; do \
	  COURSE_PROFILE=quick $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False "$$nb" || exit 1; \
	done

bench: $(STAMP)
	COURSE_PROFILE=quick $(BIN)/python tests/benchmark.py

clean:
	rm -rf .nbgrader .pytest_cache
