# Transfer learning & fine-tuning with Keras: the course's commands.
#   make lab       set up .venv from the lock if needed, copy the student notebooks into
#                  workspace/ on first use, then open JupyterLab there (the learner's lab;
#                  LAB_ARGS="--no-browser --port=8899" passes options to jupyter lab)
#   make reset NOTEBOOK=01-trainable-weights   start one notebook afresh (old copy kept)
#   make instructor-lab   JupyterLab on the course with Formgrader and every assignment
#                  in the gradebook (none released by it)
#   make test      set up .venv from the lock if needed, then run the whole test suite
#   make lock      re-resolve requirements.txt after editing pyproject.toml's dependencies
#                  (keeps every other pin as it is)
#   make upgrade   re-resolve every package to its newest version, re-run the outputs and
#                  the tests, and show what changed (commit it yourself once it is green)
#   make collect / autograde / feedback / grades   grade what students submitted (every
#                  assignment, or ASSIGNMENT=<name>); grades.csv per student and exercise.
#                  autograde runs each kernel in a sandbox, WORKERS at a time (default: the
#                  cores) on an embedded Dask cluster, or on SCHEDULER=tcp://host:8786;
#                  AUTOGRADE_ARGS="--force --Sandbox.memory_mb=2048" passes more options
#   make backup    copy the gradebook and grading secret into backups/<date-time>/;
#                  make restore BACKUP=backups/<date-time> puts one back
#   make clean     delete what can be rebuilt (never grades: make delete-class, which asks)
#   make generate  regenerate notebooks/ (student versions) from solutions/ with nbgrader
#   make release   generate, then release to students what is named (ASSIGNMENT=<name>);
#                  without it, asks before releasing any not released yet
#   make outputs   re-execute solutions/ in place (quick profile) to refresh stored outputs;
#                  NOTEBOOK=<name> for one notebook
#   make site      build the course website offline into book/_build/html (its own .venv-site
#                  from book/requirements.txt): the README, the guides and the learner's
#                  notebooks with their stored outputs, checked for broken links and leaks
#   make site-lock re-resolve book/requirements.txt after editing book/requirements.in
#   make bench     run every notebook (quick profile), print the performance tables and
#                  write them into docs/performance.md (its latest-run section), and each
#                  notebook's time into its metadata (the grader sizes its limit from it)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))

# The venv's tools first on PATH: nbgrader runs `alembic` from there to create its gradebook.
export PATH := $(abspath $(BIN)):$(PATH)

# A relative COURSE_ASSETS or COURSE_CACHE names a folder from where make runs; kernels run
# elsewhere (workspace/<notebook>/, a grading copy), so every recipe gets it made absolute.
ifdef COURSE_ASSETS
override COURSE_ASSETS := $(if $(filter ~%,$(COURSE_ASSETS)),$(COURSE_ASSETS),$(abspath $(COURSE_ASSETS)))
export COURSE_ASSETS
endif
ifdef COURSE_CACHE
override COURSE_CACHE := $(if $(filter ~%,$(COURSE_CACHE)),$(COURSE_CACHE),$(abspath $(COURSE_CACHE)))
export COURSE_CACHE
endif

.PHONY: install lock site site-lock upgrade lab workspace reset instructor-lab collect autograde feedback grades \
  backup restore delete-class test generate release outputs bench clean

install: $(STAMP)

# requirements.txt is the lock: every package at an exact version, with the hashes of its
# files, resolved from pyproject.toml's ranges by uv. The venv is made anew whenever the
# lock's content changes (the stamp is a copy of the lock it was made from), so it holds the
# locked set and nothing else (tests/test_environment.py checks). The course's own packages
# (helpers, exercises, grader) are installed in editable mode again whenever pyproject.toml
# changes, so a venv made before a package was added still imports it.
LOCK := requirements.txt
UV_COMPILE = $(BIN)/uv pip compile --quiet pyproject.toml --all-extras --universal \
  --python-version 3.11 --generate-hashes --custom-compile-command "make lock" --output-file $(LOCK)

$(STAMP): $(LOCK) $(wildcard pyproject.toml)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed: make PYTHON=python3.11 ..."'
	if ! cmp -s $(LOCK) $(STAMP); then \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK) ; \
	fi
	$(if $(wildcard pyproject.toml),$(BIN)/python -m pip install --quiet --no-deps -e .)
	cp $(LOCK) $(STAMP)

lock: $(STAMP)
	$(UV_COMPILE)

# The website's tools have a lock of their own, made the same way (book/requirements.in ->
# book/requirements.txt) and installed the same way into .venv-site, made anew whenever that
# lock changes. Jupyter Book 1 needs markdown-it-py 3, the course's lock holds 4.
SITE_VENV  ?= .venv-site
SITE_LOCK  := book/requirements.txt
SITE_STAMP := $(SITE_VENV)/.installed
UV_SITE_COMPILE = $(BIN)/uv pip compile --quiet book/requirements.in --universal \
  --python-version 3.11 --generate-hashes --custom-compile-command "make site-lock" \
  --output-file $(SITE_LOCK)

$(SITE_STAMP): $(SITE_LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed: make PYTHON=python3.11 ..."'
	rm -rf $(SITE_VENV) && $(PYTHON) -m venv $(SITE_VENV) && \
	  $(SITE_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(SITE_LOCK)
	cp $(SITE_LOCK) $(SITE_STAMP)

site-lock: $(STAMP)
	$(UV_SITE_COMPILE)

# The website: book/build.py stages the pages, builds them with Jupyter Book (warnings are
# errors) and checks the result (links, leaks of solutions, figures); see docs/site.md.
site: $(SITE_STAMP)
	$(SITE_VENV)/bin/python book/build.py

# Newest versions everywhere. The old lock is kept in .cache/ to show what changed; nothing
# is committed. A red test here is what a new learner would meet: fix it, or keep the lock.
upgrade: $(STAMP)
	mkdir -p .cache && cp $(LOCK) .cache/$(LOCK).before
	$(UV_COMPILE) --upgrade
	$(UV_SITE_COMPILE) --upgrade
	$(BIN)/python tests/lockfile.py .cache/$(LOCK).before $(LOCK)
	$(MAKE) install outputs generate
	git --no-pager diff --stat -- solutions notebooks
	$(MAKE) test

# The learner's lab: JupyterLab on workspace/, a git-ignored copy of the student notebooks
# made on first use (a notebook already there is never overwritten), with nbgrader's
# instructor tools hidden (jupyter/learner/). Jupyter prints the URL to open.
WORKSPACE ?= workspace
JUPYTER_LAB = $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

lab: $(STAMP) workspace
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter/learner" $(JUPYTER_LAB) \
	  --ServerApp.root_dir="$(abspath $(WORKSPACE))"

workspace:
	@for nb in notebooks/*/*.ipynb; do \
	  copy="$(WORKSPACE)/$${nb#notebooks/}"; \
	  if [ ! -e "$$copy" ]; then mkdir -p "$$(dirname "$$copy")" && cp "$$nb" "$$copy" && echo "new: $$copy"; fi; \
	done

# Start one notebook afresh; the learner's copy is kept beside it, renamed with the time.
reset:
	@test -f "notebooks/$(NOTEBOOK)/$(NOTEBOOK).ipynb" || \
	  { echo "usage: make reset NOTEBOOK=<name>, one of: $(ASSIGNMENTS)"; exit 2; }
	@copy="$(WORKSPACE)/$(NOTEBOOK)/$(NOTEBOOK).ipynb"; \
	if [ -e "$$copy" ]; then \
	  kept="$(WORKSPACE)/$(NOTEBOOK)/$(NOTEBOOK)-before-reset-$$(date +%Y%m%d-%H%M%S).ipynb"; \
	  mv "$$copy" "$$kept" && echo "your answers: $$kept"; \
	fi; \
	mkdir -p "$(WORKSPACE)/$(NOTEBOOK)" && cp "notebooks/$(NOTEBOOK)/$(NOTEBOOK).ipynb" "$$copy" && \
	echo "fresh: $$copy"

# The instructor's lab, on the course folder: every assignment generated into the gradebook
# (released to students by Formgrader's Release button or make release, never by opening
# the lab), Formgrader and Create Assignment available.
instructor-lab: generate
	$(JUPYTER_LAB) --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/solutions

# The test files run on TEST_WORKERS processes (pytest-xdist), each file's tests in one of
# them, in order (nbval runs a notebook's cells in one kernel).
TEST_WORKERS ?= 2
test: $(STAMP)
	COURSE_PROFILE=quick $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Grading, once students have submitted through the exchange: nbgrader's commands (autograde
# through grader/autograde.py: sandboxed, in parallel) for every assignment, or only
# ASSIGNMENT=<name>. Submissions are collected into submitted/,
# graded into autograded/ and the gradebook, feedback goes to feedback/ (all git-ignored).
GRADED = $(or $(ASSIGNMENT),$(ASSIGNMENTS))

collect: $(STAMP)
	for a in $(GRADED); do $(BIN)/nbgrader collect "$$a" --update --log-level=WARN || exit 1; done

autograde: $(STAMP)
	$(BIN)/python -m grader.autograde $(ASSIGNMENT) $(if $(WORKERS),--workers=$(WORKERS)) \
	  $(if $(SCHEDULER),--scheduler=$(SCHEDULER)) $(AUTOGRADE_ARGS)

feedback: $(STAMP)
	for a in $(GRADED); do \
	  if ls -d autograded/*/"$$a" >/dev/null 2>&1; then $(BIN)/nbgrader generate_feedback "$$a" || exit 1; fi; \
	done

# grades.csv: a row per student, assignment and exercise, and each assignment's total.
grades: $(STAMP)
	$(BIN)/nbgrader export --exporter=grader.grades.PerExerciseCsvExport --to grades.csv
	@echo "wrote grades.csv"

# nbgrader's generate_assignment (solutions/ -> notebooks/, and each assignment into the
# gradebook) for every assignment, or ASSIGNMENT=<name>; students see nothing new.
generate: $(STAMP)
	mkdir -p .nbgrader
	$(BIN)/python -m grader.release --generate-only $(GRADED)

# generate, then nbgrader's release_assignment (notebooks/ -> the exchange, where every
# student can fetch it) for what is named: ASSIGNMENT=<name> releases that one. Without it,
# the assignments already released are released again (updated), and the ones not released
# yet only once the instructor types "release" (CONFIRM=release answers ahead, for scripts).
release: $(STAMP)
	mkdir -p .nbgrader
	$(BIN)/python -m grader.release $(if $(ASSIGNMENT),,--ask $(if $(filter release,$(CONFIRM)),--yes)) $(GRADED)

# The second nbconvert keeps of each progress bar (fit(verbose=1), Progbar) what its last
# redraw shows, as JupyterLab displays it, instead of every redraw with its \r and \b.
outputs: $(STAMP)
	for nb in $(if $(NOTEBOOK),solutions/$(NOTEBOOK)/$(NOTEBOOK).ipynb,solutions/*/*.ipynb); do \
	  COURSE_PROFILE=quick $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False "$$nb" && \
	  $(BIN)/jupyter nbconvert --to notebook --inplace --log-level=WARN \
	    --CoalesceStreamsPreprocessor.enabled=True "$$nb" || exit 1; \
	done

bench: $(STAMP)
	COURSE_PROFILE=quick $(BIN)/python tests/benchmark.py --write docs/performance.md

# What can be rebuilt, and nothing else: never the gradebook, the exchange, the secret or
# the submissions (make delete-class deletes those, and asks first).
clean:
	rm -rf .pytest_cache book/_build

# The class's gradebook and grading secret, copied consistently into backups/<date-time>/
# (SQLite's backup API); make restore BACKUP=backups/<date-time> puts one back, after
# backing up what the course has.
backup: $(STAMP)
	$(BIN)/python -m grader.backup

restore: $(STAMP)
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=backups/<date-time>"; exit 2; }
	$(BIN)/python -m grader.backup --restore "$(BACKUP)"

# Deletes the class: the gradebook, the exchange with every submission, the grading secret,
# and the collected, graded and feedback folders. It lists them and asks for "delete"
# (CONFIRM=delete answers for it); without an answer it deletes nothing.
CLASS_DATA := .nbgrader submitted autograded feedback grades.csv
delete-class:
	@echo "make delete-class deletes the class's grading data, which nothing can rebuild:"
	@for path in $(CLASS_DATA); do if [ -e "$$path" ]; then du -sh "$$path"; fi; done
	@if [ "$(CONFIRM)" != delete ]; then \
	  printf 'Type "delete" to delete them (make backup keeps a copy of the gradebook): '; \
	  read answer || true; \
	  if [ "$$answer" != delete ]; then echo; echo "nothing deleted"; exit 1; fi; \
	fi
	rm -rf $(CLASS_DATA)
