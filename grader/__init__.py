"""The instructor's grading machinery, apart from the lesson.

* :mod:`grader.autograde`: ``make autograde``, nbgrader's autograde in parallel on Dask.
* :mod:`grader.sandbox`, :mod:`grader.execute`: each submission's kernel in bubblewrap,
  under limits, cell by cell.
* :mod:`grader.judge`, :mod:`grader.verdicts`: the seeds of fresh inputs, and the verdicts
  decided in a process of their own, outside the learner's kernel.
* :mod:`grader.records`: what a kernel records about an answer, read back as data only.
* :mod:`grader.feedback`: ``make feedback`` without the hidden tests.
* :mod:`grader.release`: ``make release``, every assignment generated and released at once.
* :mod:`grader.grades`: ``make grades``, the per-exercise CSV export of the gradebook.

It reaches the exercises only through their registry (:func:`exercises.exercise`), and only
in the judge's process: nothing else here imports TensorFlow.
"""
