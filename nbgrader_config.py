"""nbgrader configuration for the course (one assignment per notebook).

    solutions/<assignment>/<assignment>.ipynb   instructor sources: solutions, hidden tests
    notebooks/<assignment>/<assignment>.ipynb   student versions, made by `make release`
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "keras-transfer"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# The gradebook and the exchange (where released assignments are fetched from and
# submissions collected) live in .nbgrader/, which git ignores.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, ".nbgrader", "gradebook.db")
c.Exchange.root = os.path.join(c.CourseDirectory.root, ".nbgrader", "exchange")

# Submissions are notebooks: Python files shipped beside one (an `exercises/` package, a
# `numpy.py`) are not copied where it is graded, so they cannot shadow the course's modules.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*.py", "*.so", "*.pth"]

# Collect copies regular files and folders only: a symbolic link in a submission (to the
# solutions, the grading secret) is refused with the student's name (grader/exchange.py).
c.ExchangeFactory.collect = "grader.exchange.ExchangeCollectRegularFiles"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback pages come from the autograded notebooks, which hold the hidden tests: nbgrader's
# default would show them to the student (grader/feedback.py).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "grader.feedback.FeedbackWithoutHiddenTests",
]

# The kernel runs the notebook for what it shows; the answers run apart, in a sandboxed
# answer runner, on inputs the notebook never showed; a separate, isolated Python judges
# what they did and writes each test cell's verdict, so nothing the submission's kernel
# patched decides a grade (grader/judge.py).
c.Autograde.autograde_preprocessors = [
    "grader.judge.CollectEvidence",
    "grader.execute.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "grader.judge.JudgeOutsideKernel",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.CollectEvidence.secret_file = os.path.join(c.CourseDirectory.root, ".nbgrader", "grading-secret")

# Each submission's kernel runs in a sandbox, under limits (grader/sandbox.py,
# grader/execute.py): a kernel sees the system, Python, the course's code and the assets read-only,
# its own folder writable, and nothing else (no network, no other process). These are the
# defaults; change them here, or for one run with e.g. --Sandbox.memory_mb=2048.
c.Sandbox.memory_mb = 4096             # one kernel's memory (allocations and resident)
c.Sandbox.cell_timeout = 120           # s per cell, except...
c.Sandbox.slow_cell_timeout = 900      # ...cells the release tags `slow`, left as released
c.Sandbox.submission_timeout = 1800    # s per notebook in all, at most; a notebook whose
c.Sandbox.timeout_factor = 5.0         # release holds its reference run's time gets this
c.Sandbox.timeout_floor = 60           # many times that, at least this (01: 60 s)
# c.Sandbox.assignment_timeouts = {"06-fine-tuning-cats-vs-dogs": 3600}  # over all the rest
c.Sandbox.interrupt_grace = 5          # s a cell past its limit has to stop when interrupted
c.Sandbox.output_limit_kb = 1024       # stored output per notebook
c.Sandbox.disk_mb = 1024               # what a kernel may write (its /tmp, its folders)
c.Sandbox.processes = 1024             # processes and threads of one kernel at once
# Where bubblewrap cannot run, grading stops; only for trusted submissions:
# c.Sandbox.allow_unsandboxed = True

# A test cell deleted from a submission is put back (and scores what it scores), instead of
# leaving its grade empty ("needs manual grading").
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell 0 if it wrote anything to stderr. TensorFlow and Keras write
# warnings and log lines there that say nothing about the answer, so grading ignores
# stderr; a failed check is an error output, which still scores 0.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]*"
