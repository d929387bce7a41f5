"""How a failed check shows up in Jupyter: its feedback text, without a traceback.

A failed check (:mod:`helpers.grading`) raises :class:`CheckFailed`. :func:`install` makes
IPython show that error as its message alone (what was expected, what was found, a hint).
The cell still ends in an error, so nbgrader still gives it zero points.
"""

from __future__ import annotations


class CheckFailed(AssertionError):
    """A learner's answer did not pass a check. ``str()`` is the full feedback."""


class AccuracyBelowTarget(CheckFailed):
    """A model scored below a check's accuracy floor.

    A failure like any other for the learner and for nbgrader. Its own class lets the test
    suite's full-profile dry run, whose bases are untrained, tell this failure (which it
    expects) from every other (tests/test_full_profile.py).
    """


def _show_without_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: the feedback text, no traceback."""
    shell._showtraceback(etype, value, [str(value)])


def install() -> bool:
    """Show :class:`CheckFailed` as plain feedback in IPython. Returns False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((CheckFailed,), _show_without_traceback)
    return True
