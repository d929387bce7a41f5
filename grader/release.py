"""``make generate`` and ``make release``: the student versions, and releasing them to students.

nbgrader's command line takes one assignment per call, and each call spends seconds importing
nbgrader before it starts; six assignments, generated and released, took about 50 s that way.
This runs the same steps through nbgrader's own API (what Formgrader's buttons call), with the
course's ``nbgrader_config.py``::

    python -m grader.release --generate-only A B ...   # make generate: notebooks/ and the
                                                       # gradebook; students see nothing new
    python -m grader.release A B ...                   # make release ASSIGNMENT="A B"
    python -m grader.release --ask A B ...             # make release: asks first

Releasing puts an assignment in the exchange, where every student can fetch it, so an
assignment is released only when it is named: by ``ASSIGNMENT=``, or by answering "release"
to the question ``make release`` asks about the ones not yet released (``CONFIRM=release``
answers it ahead, for scripts; without a terminal and without it, none is released). The
ones already released are released again (updated). ``generate`` alone releases nothing.

A step that fails stops with nbgrader's log and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from traitlets.config.loader import PyFileConfigLoader


def course_api(config_file: Path = Path("nbgrader_config.py")) -> NbGraderAPI:
    """nbgrader's API on the course, quiet, replacing what an earlier release left."""
    config = PyFileConfigLoader(config_file.name, str(config_file.resolve().parent)).load_config()
    config.ExchangeReleaseAssignment.force = True
    config.Application.log_level = "WARN"  # nbgrader logs each file at INFO
    return NbGraderAPI(config=config)


def run(step, assignment: str) -> None:
    result = step(assignment)
    if not result["success"]:  # nbgrader's own error lines, else its traceback
        detail = result.get("log", "").strip() or result.get("error", "")
        sys.exit(f"{step.__name__} {assignment} failed:\n{detail}")


def approved(new: list[str], confirmed: bool) -> bool:
    """Whether to release ``new`` (never released) assignments: confirmed ahead, or the
    instructor types "release" at a terminal."""
    print("not released yet, so students cannot fetch them:", " ".join(new))
    if confirmed:
        return True
    if not sys.stdin.isatty():
        print("not released: run make release ASSIGNMENT=<name> for one, or CONFIRM=release "
              "for all of them")
        return False
    answer = input('Type "release" to release them all to every student: ').strip()
    return answer == "release"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.release", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--generate-only", action="store_true",
                        help="generate the student versions and the gradebook; release nothing")
    parser.add_argument("--ask", action="store_true",
                        help="release the assignments not released yet only once confirmed")
    parser.add_argument("--yes", action="store_true", help="confirm ahead (with --ask)")
    options = parser.parse_args(argv)
    api = course_api()
    for assignment in options.assignments:
        run(api.generate_assignment, assignment)
    if options.generate_only:
        print("generated (not released):", " ".join(options.assignments))
        return 0
    chosen = options.assignments
    if options.ask:
        already = api.get_released_assignments()
        new = [name for name in chosen if name not in already]
        if new and not approved(new, options.yes):
            chosen = [name for name in chosen if name in already]
    for assignment in chosen:
        run(api.release_assignment, assignment)
        print(f"released {assignment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
