# Transfer learning & fine-tuning with Keras: the course's commands.
#   make lab       set up .venv from the lock if needed, then open JupyterLab on the course
#                  (LAB_ARGS="--no-browser --port=8899" passes options to jupyter lab)
#   make test      set up .venv from the lock if needed, then run the whole test suite
#   make lock      re-resolve requirements.txt after editing pyproject.toml's dependencies
#                  (keeps every other pin as it is)
#   make upgrade   re-resolve every package to its newest version, re-run the outputs and
#                  the tests, and show what changed (commit it yourself once it is green)
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

.PHONY: install lock upgrade lab test release outputs bench clean

install: $(STAMP)

# requirements.txt is the lock: every package at an exact version, with the hashes of its
# files, resolved from pyproject.toml's ranges by uv. The venv is made anew whenever the
# lock's content changes (the stamp is a copy of the lock it was made from), so it holds the
# locked set and nothing else (tests/test_environment.py checks).
LOCK := requirements.txt
UV_COMPILE = $(BIN)/uv pip compile --quiet pyproject.toml --all-extras --universal \
  --python-version 3.11 --generate-hashes --custom-compile-command "make lock" --output-file $(LOCK)

$(STAMP): $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed: make PYTHON=python3.11 ..."'
	if ! cmp -s $(LOCK) $(STAMP); then \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK) && \
	  $(BIN)/python -m pip install --quiet --no-deps -e . ; \
	fi
	cp $(LOCK) $(STAMP)

lock: $(STAMP)
	$(UV_COMPILE)

# Newest versions everywhere. The old lock is kept in .cache/ to show what changed; nothing
# is committed. A red test here is what a new learner would meet: fix it, or keep the lock.
upgrade: $(STAMP)
	mkdir -p .cache && cp $(LOCK) .cache/$(LOCK).before
	$(UV_COMPILE) --upgrade
	$(BIN)/python tests/lockfile.py .cache/$(LOCK).before $(LOCK)
	$(MAKE) install outputs release
	git --no-pager diff --stat -- solutions notebooks
	$(MAKE) test

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
