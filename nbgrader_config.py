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

# Submissions are notebooks: Python files shipped beside one (a `helpers/` package, a
# `numpy.py`) are not copied where it is graded, so they cannot shadow the course's modules.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*.py", "*.so", "*.pth"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback pages come from the autograded notebooks, which hold the hidden tests: nbgrader's
# default would show them to the student (helpers/returned.py).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "helpers.returned.FeedbackWithoutHiddenTests",
]

# Hidden tests only record what the answer did, on inputs the notebook never showed; a
# separate, isolated Python judges the records and writes each test cell's verdict, so
# nothing the submission's kernel patched decides a grade (helpers/judge.py).
c.Autograde.autograde_preprocessors = [
    "helpers.judge.CollectEvidence",
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "helpers.judge.JudgeOutsideKernel",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.CollectEvidence.secret_file = os.path.join(c.CourseDirectory.root, ".nbgrader", "grading-secret")

# Training cells take longer than nbgrader's 30 s default (seconds per cell).
c.Execute.timeout = 600

# nbgrader scores a test cell 0 if it wrote anything to stderr. TensorFlow and Keras write
# warnings and log lines there that say nothing about the answer, so grading ignores
# stderr; a failed check is an error output, which still scores 0.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]*"
