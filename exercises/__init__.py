"""The course's exercises, each declared once, in the module of its notebook.

An exercise is a subclass of :class:`Exercise`. Everything about it stands in that class:

* ``check(...)``: the visible check, run in the learner's kernel on the notebook's objects;
  it prints ``✓ ...`` or fails with expected / found / hint;
* ``inputs(seed)``: the fresh inputs grading runs the answer on, built the same way in every
  process (seeded, every layer named); where the right answer is a value, they depend on
  the seed the grader draws for each submission;
* ``run(answer, inputs)``: what the kernel records, a :class:`grader.records.Record`;
* ``judge(record, inputs)``: the verdict, in a process of the grader's own, outside the
  kernel: it returns when the answer is right on every fresh input and raises
  :class:`exercises.checks.CheckFailed` on the first where it is not.

Declaring the class registers it under its ``name``. A notebook's test cell calls
``check(NAME, ...)``, and its hidden part is ``exercises.record(NAME, answer)``: the line
that tells the grader which exercise the cell grades and which name holds the answer (the
grader runs it apart from the notebook, :mod:`grader.answer_runner`). The grader finds an
exercise only through :func:`exercise`. ``docs/writing-exercises.md`` walks through
writing one.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import abc
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable, ClassVar

from exercises import checks
from grader import records

checks.install()

#: Every declared exercise, by name (filled by declaring subclasses of :class:`Exercise`).
REGISTRY: dict[str, "Exercise"] = {}


class Exercise(abc.ABC):
    """One graded exercise. Subclass it with a ``name`` to declare (and register) one; a
    subclass without a ``name`` is a kind of exercise that others build on."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            return
        if cls.name in REGISTRY:
            raise ValueError(f"two exercises are named {cls.name!r}: "
                             f"{type(REGISTRY[cls.name]).__qualname__} and {cls.__qualname__}")
        REGISTRY[cls.name] = cls()

    @abc.abstractmethod
    def check(self, *args, **kwargs) -> None:
        """The visible check: print ✓, or raise CheckFailed with expected / found / hint."""

    @abc.abstractmethod
    def inputs(self, seed: int) -> Any:
        """The fresh inputs for ``seed``, the same in the kernel and in the judge."""

    @abc.abstractmethod
    def run(self, answer: Callable, inputs: Any) -> records.Record:
        """Run ``answer`` on ``inputs`` in the kernel; what it did, as a record."""

    @abc.abstractmethod
    def judge(self, record: records.Record, inputs: Any) -> None:
        """Decide from ``record`` on freshly rebuilt ``inputs``; raise CheckFailed if wrong."""


def exercise(name: str) -> Exercise:
    """The exercise declared as ``name``.

    Raises:
        KeyError: no exercise has that name.
    """
    if name not in REGISTRY:
        raise KeyError(f"no exercise is named {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def check(name: str, *args, **kwargs) -> None:
    """Run exercise ``name``'s visible check (a notebook's test cell).

    While grading, a failure is printed instead of raised: the cell's hidden part must still
    run the answer on the fresh inputs, which alone decide the grade. The visible check reads
    the notebook's own objects, which a wrong answer to an earlier exercise can leave broken,
    and that must not cost this exercise its points."""
    if not records.grading():
        exercise(name).check(*args, **kwargs)
        return
    try:
        exercise(name).check(*args, **kwargs)
    except Exception as error:  # the learner's notebook can leave anything behind
        print(f"(the visible check, on the notebook's own objects: {error})"[:2000])


def record(name: str, answer: Callable) -> None:
    """A test cell's hidden part: run ``answer`` on exercise ``name``'s fresh inputs (of seed
    0) and record what it did, to a temporary folder, so that the instructor's run of the
    solutions runs every answer as grading will. While grading it does nothing: the grader
    runs the answers apart from the notebook, on inputs of its own."""
    if not records.grading():
        write_record(name, answer, exercise(name).inputs(0), records.kernel_folder())


def write_record(name: str, answer: Callable, inputs: Any, folder: Path) -> None:
    """Run ``answer`` on exercise ``name``'s ``inputs`` and write what it did to ``folder``.
    Nothing here decides a grade: the judge does, from the record."""
    made = exercise(name).run(answer, inputs)
    try:
        records.write(folder, name, made)
    except Exception as error:  # a model the answer built that Keras cannot save
        failed = {"error": f"{type(error).__name__}: {error}"[:500]}
        records.write(folder, name, records.Record([failed] * len(made.cases)))


# Every module of this package is imported with it, so that every exercise is declared (and
# the registry complete) before a notebook's first cell returns: nothing is imported later,
# through whatever a submission may have put in sys.modules.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
