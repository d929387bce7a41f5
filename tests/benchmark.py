"""`make bench`: run every solution notebook and print the course's performance table.

Each notebook runs in a fresh kernel, as a learner would run it top to bottom, and its wall
time is measured (kernel start included). The speed and accuracy figures are the numbers the
notebooks compute themselves: after notebooks 05 to 08 have run, one extra cell prints the
variables named in ``MEASURED``. The table compares them with the course's quality bars. It is
printed, never asserted: timings depend on the machine.

Then it grades: for each assignment, a scratch copy of the released course gets
:data:`GRADED_SUBMISSIONS` copies of the solutions, and one ``make autograde`` run with one
worker grades them all (sandboxed kernels, the judge outside them, the gradebook); the table
reports that run's wall time per submission, in the same profile. A batch of
:data:`SCALE_BATCH` submissions of the first assignment then measures what the sandbox costs,
the speed-up of 2 workers over 1 (also on the first :data:`SMALL_BATCH` of them, where the
cluster's start and the workers' first imports weigh more), and what one hostile notebook
costs the batch.

Usage: ``COURSE_PROFILE=quick python tests/benchmark.py [--grading-only] [--write FILE]
[ASSIGNMENT...]`` (``COURSE_ASSETS`` for offline); assignments named limit the grading to
them. ``--write docs/performance.md`` (what ``make bench`` passes) also puts the tables into
that guide, between :data:`LATEST_START` and :data:`LATEST_END`, in place of the last run's.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader.sandbox import REFERENCE_PROFILE

ROOT = Path(__file__).resolve().parents[1]
MARKER = "BENCHMARK "

#: Notebook -> names of the variables it computes that the table reports.
MEASURED = {
    "05-feature-extraction": ["total_images", "extraction_seconds", "cached_epoch",
                              "end_to_end_epoch", "speedup", "probe_test", "chosen_test"],
    "06-fine-tuning-cats-vs-dogs": ["images_per_second", "head_test_accuracy",
                                    "longer_head_test_accuracy", "test_accuracy",
                                    "gain.estimate", "gain.low", "gain.high"],
    "07-fine-tuning-your-own-images": ["head_top1", "head_top5", "test_images_count",
                                       "pretrained_accuracy", "scratch_accuracy",
                                       "scaled_accuracy", "raw_pixels_accuracy",
                                       "raw_pixels_cost.low", "raw_pixels_cost.high"],
    "08-fine-tuning-toolkit": ["head_rate", "base_rate", "fine_top1", "fine_top5",
                               "fine_tuning_gain.estimate", "fine_tuning_gain.low",
                               "fine_tuning_gain.high", "keep_fine_tuned",
                               "validation_gain.estimate"],
}
#: Notebook -> the seeds (``COURSE_SEED``) it runs again under, besides the profile's own:
#: other splits and other initial weights, to show how much its headline comparison owes
#: to the draw (issue 23: the spread over 3 seeds).
SEED_RUNS = {"08-fine-tuning-toolkit": (1, 2)}

#: Wall-time bars in seconds, for the notebooks that have one.
TIME_BARS = {"05-feature-extraction": 180, "06-fine-tuning-cats-vs-dogs": 600,
             "07-fine-tuning-your-own-images": 360, "08-fine-tuning-toolkit": 360}
ACCURACY_BAR = 0.95
#: Solutions graded per assignment in one autograde run, and seconds-per-submission bars:
#: on the slowest submission after the first (the first also waits for the run's start: the
#: judge's and the first answer runner's imports).
GRADED_SUBMISSIONS = 3
#: Submissions of the first assignment graded to measure the sandbox and the workers: a
#: class's batch, and the smallest batch the speed-up bar (1.6x, at least 6) allows.
SCALE_BATCH = 12
SMALL_BATCH = 6
GRADING_BARS = {"01-trainable-weights": 10}
#: The lines of docs/performance.md between which --write puts the latest run's tables.
LATEST_START = "<!-- make bench: the latest run, written by tests/benchmark.py -->"
LATEST_END = "<!-- make bench: end of the latest run -->"


def run_notebook(path: Path, names: list[str]) -> tuple[float, dict[str, float]]:
    """Execute the notebook at ``path``; return its wall time and the variables ``names``."""
    notebook = nbformat.read(path, as_version=4)
    if names:
        values = ", ".join(f"{name!r}: float({name})" for name in names)
        notebook.cells.append(nbformat.v4.new_code_cell(
            f"import json\nprint({MARKER!r} + json.dumps({{{values}}}))"))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if not names:
        return seconds, {}
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return seconds, json.loads(printed.split(MARKER, 1)[1])


def run_under_seeds(path: Path, names: list[str], seeds: tuple[int, ...]
                    ) -> dict[int, dict[str, float]]:
    """The variables ``names`` of the notebook at ``path`` run again under each of ``seeds``."""
    from helpers.config import SEED_ENV

    previous, found = os.environ.get(SEED_ENV), {}
    try:
        for seed in seeds:
            os.environ[SEED_ENV] = str(seed)   # the kernel inherits it
            print(f"running {path.stem} under {SEED_ENV}={seed} ...", file=sys.stderr, flush=True)
            found[seed] = run_notebook(path, names)[1]
    finally:
        if previous is None:
            os.environ.pop(SEED_ENV, None)
        else:
            os.environ[SEED_ENV] = previous
    return found


def seed_table(spread: dict[int, dict[str, float]]) -> list[str]:
    """Notebook 08's headline comparison under each seed: the kept model minus its frozen
    head on test, with its interval by photo, and which model the validation rule kept."""
    lines = ["| seed | kept | kept minus head, test, top-1 | on validation |", "|---|---|---|---|"]
    for seed, found in spread.items():
        kept = found["keep_fine_tuned"] > 0
        lines.append(
            f"| {seed} | {'fine-tuned' if kept else 'the head'} | "
            f"{100 * found['fine_tuning_gain.estimate']:+.1f} points "
            f"[{100 * found['fine_tuning_gain.low']:+.1f}, "
            f"{100 * found['fine_tuning_gain.high']:+.1f}] | "
            f"{100 * found['validation_gain.estimate'] * kept:+.1f} points |")
    gains = [100 * found["fine_tuning_gain.estimate"] for found in spread.values()]
    return lines + ["", f"Across {len(gains)} seeds the gain on test ranges from "
                    f"{min(gains):+.1f} to {max(gains):+.1f} points (spread "
                    f"{max(gains) - min(gains):.1f})."]


def grading_seconds(assignments: list[str]
                    ) -> tuple[dict[str, tuple[float, list[float]]], list[str]]:
    """Per assignment, one autograde run (one worker, sandboxed) over GRADED_SUBMISSIONS
    copies of its solutions: its wall time per submission, and each submission's own
    seconds as the progress line gives them; then the table of :func:`grading_scale` (on
    the first assignment named)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from nbgrader_course import autograde, released_scratch_course

    seconds = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        course = released_scratch_course(Path(scratch) / "course")
        for assignment in assignments:
            submit_solutions(course, assignment, GRADED_SUBMISSIONS)
            print(f"grading {assignment} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            result = autograde(course, assignment, "--workers=1")
            seconds[assignment] = ((time.perf_counter() - start) / GRADED_SUBMISSIONS,
                                   submission_seconds(result.stderr))
        scale = grading_scale(course, assignments[0])
    return seconds, scale


def submission_seconds(progress: str) -> list[float]:
    """Each submission's grading time, in the order graded, from autograde's progress lines
    (``[###...] 2/3 student-1 01-trainable-weights: 4/4 (8.9 s)``)."""
    return [float(seconds) for seconds in
            re.findall(r"^\[[#.]+\] \d+/\d+ .*\(([\d.]+) s\)$", progress, re.MULTILINE)]


def submit_solutions(course: Path, assignment: str, count: int, first: int = 0) -> None:
    from nbgrader_course import fill_answers, submit

    release = course / "notebooks" / assignment / f"{assignment}.ipynb"
    source = course / "solutions" / assignment / f"{assignment}.ipynb"
    for number in range(first, first + count):
        submit(course, f"student-{number}", assignment, fill_answers(release, source))


def grading_scale(course: Path, assignment: str) -> list[str]:
    """A batch of SCALE_BATCH solutions of ``assignment``, graded (all with the limits of
    tests/test_sandbox.py) without the sandbox, with it, with 2 workers, and with 2 workers
    plus one hostile notebook that loops in cell after cell until its notebook limit."""
    from nbformat.v4 import new_code_cell
    from nbgrader_course import autograde, fill_answers, submit
    from test_sandbox import LIMITS, NOTEBOOK_LIMIT

    submit_solutions(course, assignment, SCALE_BATCH - GRADED_SUBMISSIONS, GRADED_SUBMISSIONS)

    def wall(*options: str) -> float:
        print(f"grading {assignment} {' '.join(options)} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        autograde(course, assignment, "--force", *LIMITS, *options)
        return time.perf_counter() - start

    bare = wall("--workers=1", "--Sandbox.enabled=False")
    one = wall("--workers=1")
    two = wall("--workers=2")
    small = [f"--student=student-{number}" for number in range(SMALL_BATCH)]
    small_one, small_two = wall("--workers=1", *small), wall("--workers=2", *small)
    hostile = fill_answers(course / "notebooks" / assignment / f"{assignment}.ipynb",
                           course / "solutions" / assignment / f"{assignment}.ipynb")
    hostile.cells[2:2] = [new_code_cell("while True:\n    pass") for _ in range(6)]
    submit(course, "hostile", assignment, hostile)
    with_hostile = wall("--workers=2")
    cap = NOTEBOOK_LIMIT  # 01's own limit, from its release's reference run
    n = SCALE_BATCH
    return [
        f"| grading {assignment}, a batch of {n} | wall time | per submission | bar |",
        "|---|---|---|---|",
        f"| 1 worker, no sandbox | {bare:.1f} s | {bare / n:.1f} s | |",
        f"| 1 worker, sandbox | {one:.1f} s | {one / n:.1f} s | sandbox adds "
        f"{(one - bare) / n:+.2f} s per submission; <= 2 s: {verdict((one - bare) / n <= 2)} |",
        f"| 2 workers, sandbox | {two:.1f} s | {two / n:.1f} s | speed-up {one / two:.2f}x; "
        f">= 1.6x: {verdict(one / two >= 1.6)} |",
        f"| the first {SMALL_BATCH} alone: 1 worker, then 2 | {small_one:.1f} s, then "
        f"{small_two:.1f} s | | speed-up {small_one / small_two:.2f}x |",
        f"| 2 workers, sandbox, + 1 hostile notebook (6 endless cells) | {with_hostile:.1f} s | "
        f"| costs the batch {with_hostile - two:+.1f} s; <= its {cap} s limit: "
        f"{verdict(with_hostile - two <= cap)} |",
    ]


def grading_table(seconds: dict[str, tuple[float, list[float]]]) -> list[str]:
    lines = ["| grading, one autograde run, 1 worker | wall time per submission | "
             "each submission, in order | bar (the slowest after the first) |",
             "|---|---|---|---|"]
    for name, (per_submission, each) in seconds.items():
        bar, later = GRADING_BARS.get(name), max(each[1:], default=math.inf)
        lines.append(f"| {name} ({GRADED_SUBMISSIONS} submissions) | {per_submission:.1f} s | "
                     f"{', '.join(f'{value:.1f} s' for value in each)} | "
                     f"{f'<= {bar} s: {verdict(later <= bar)}' if bar else ''} |")
    return lines


def machine() -> str:
    """CPU model, core count and accelerator, in one line."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"{model}, {os.cpu_count()} cores, {len(gpus) or 'no'} GPU"


def verdict(ok: bool) -> str:
    return "meets the bar" if ok else "**misses the bar**"


def table(times: dict[str, float], measured: dict[str, float]) -> list[str]:
    """The Markdown table of measurements and bars."""
    rows = [
        ("feature extraction (frozen base, 05)",
         f"{measured['total_images'] / measured['extraction_seconds']:.0f} images/s", ""),
        ("head epoch on cached features (05)", f"{measured['cached_epoch']:.2f} s", ""),
        ("end-to-end epoch, frozen base (05)", f"{measured['end_to_end_epoch']:.2f} s", ""),
        ("ratio end-to-end / cached", f"{measured['speedup']:.0f}x", ""),
        ("fine-tuning, whole model (06)", f"{measured['images_per_second']:.0f} images/s",
         "validation passes included"),
        ("test accuracy: linear probe on cached features (05)", f"{measured['probe_test']:.3f}",
         ""),
        ("test accuracy: chosen head of the search (05)", f"{measured['chosen_test']:.3f}",
         "simplest head tied with the best on validation"),
        ("test accuracy: head only, before fine-tuning (06)",
         f"{measured['head_test_accuracy']:.3f}", ""),
        ("test accuracy: head trained as many more epochs, frozen base (06)",
         f"{measured['longer_head_test_accuracy']:.3f}", "like-for-like baseline"),
        ("test accuracy: fine-tuned (06)", f"{measured['test_accuracy']:.3f}",
         f">= {ACCURACY_BAR}: {verdict(measured['test_accuracy'] >= ACCURACY_BAR)}"),
        ("fine-tuned minus the head trained as long (06)",
         f"{100 * measured['gain.estimate']:+.1f} points, 95% interval "
         f"[{100 * measured['gain.low']:+.1f}, {100 * measured['gain.high']:+.1f}]",
         "a gain when the interval excludes 0"),
        ("fine-tuned minus linear probe",
         f"{100 * (measured['test_accuracy'] - measured['probe_test']):+.1f} points", ""),
        ("logos, validation: frozen pretrained base and head / the same network from "
         "scratch (07)", f"{measured['pretrained_accuracy']:.3f} / "
         f"{measured['scratch_accuracy']:.3f}", "the head's epoch budget"),
        ("logos, validation: head on cached features, base's scaling / raw pixels (07)",
         f"{measured['scaled_accuracy']:.3f} / {measured['raw_pixels_accuracy']:.3f}",
         f"difference's interval by photo [{100 * measured['raw_pixels_cost.low']:+.1f}, "
         f"{100 * measured['raw_pixels_cost.high']:+.1f}] points"),
        ("peak rates from the range test (08)", f"head {measured['head_rate']:.1e}, base "
         f"{measured['base_rate']:.1e}", ""),
        (f"logos, frozen head: top-1 / top-5 on {measured['test_images_count']:.0f} test crops "
         "(07)", f"{measured['head_top1']:.3f} / {measured['head_top5']:.3f}", ""),
        ("logos, kept model (fine-tuned, or the head): top-1 / top-5 (08)",
         f"{measured['fine_top1']:.3f} / {measured['fine_top5']:.3f}", ""),
        ("logos, kept model minus its frozen head, top-1, interval by photo (08)",
         f"{100 * measured['fine_tuning_gain.estimate']:+.1f} points, 95% interval "
         f"[{100 * measured['fine_tuning_gain.low']:+.1f}, "
         f"{100 * measured['fine_tuning_gain.high']:+.1f}]",
         f"interval above 0: {verdict(measured['fine_tuning_gain.low'] > 0)}"),
    ]
    for name, seconds in times.items():
        bar = TIME_BARS.get(name)
        rows.append((f"wall time {name}", f"{seconds:.0f} s",
                     f"<= {bar} s: {verdict(seconds <= bar)}" if bar else ""))
    rows.append(("wall time, all notebooks", f"{sum(times.values()):.0f} s", ""))
    lines = ["| measure | value | bar |", "|---|---|---|"]
    return lines + [f"| {name} | {value} | {bar} |" for name, value, bar in rows]


def write_latest(guide: Path, report: str) -> None:
    """Put ``report`` into ``guide`` between its two markers, replacing what stood there."""
    text = guide.read_text()
    if LATEST_START not in text or LATEST_END not in text:
        raise SystemExit(f"{guide} has no section for the latest run: add the lines\n"
                         f"{LATEST_START}\n{LATEST_END}")
    before, rest = text.split(LATEST_START, 1)
    after = rest.split(LATEST_END, 1)[1]
    guide.write_text(f"{before}{LATEST_START}\n{report}\n{LATEST_END}{after}")


def store_reference_runs(paths: list[Path], times: dict[str, float], measured: str) -> None:
    """Store each solution notebook's wall time in its metadata (``course.reference_run``),
    where the grader sizes the notebook's time limit from (grader/sandbox.py)."""
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        notebook.metadata.setdefault("course", {})["reference_run"] = {
            "seconds": round(times[path.stem], 1), "profile": REFERENCE_PROFILE,
            "measured": measured}
        nbformat.write(notebook, path)


def main() -> int:
    import keras

    from helpers import config

    profile = config.load_profile()
    paths = sorted(ROOT.glob("solutions/[0-9]*/*.ipynb"))
    lines: list[str] = []
    if "--grading-only" not in sys.argv:
        times: dict[str, float] = {}
        measured: dict[str, float] = {}
        spreads: dict[str, dict[int, dict[str, float]]] = {}
        for path in paths:
            name = path.stem
            print(f"running {name} ...", file=sys.stderr, flush=True)
            times[name], values = run_notebook(path, MEASURED.get(name, []))
            measured.update(values)
            if name in SEED_RUNS:
                spreads[name] = {profile.seed: values} | run_under_seeds(
                    path, MEASURED[name], SEED_RUNS[name])
        lines += table(times, measured) + [""]
        for name, spread in spreads.items():
            lines += [f"{name}, under {len(spread)} seeds:", ""] + seed_table(spread) + [""]
    arguments = sys.argv[1:]
    guide = None
    if "--write" in arguments:
        position = arguments.index("--write")
        guide = Path(arguments[position + 1])
        del arguments[position:position + 2]
    named = [argument for argument in arguments if not argument.startswith("--")]
    seconds, scale = grading_seconds(named or [path.stem for path in paths])
    lines += grading_table(seconds) + [""] + scale
    report = (f"Benchmark, {date.today().isoformat()}: profile {profile.name!r} "
              f"({profile.base}, {profile.image_size}x{profile.image_size}), Keras "
              f"{keras.__version__}; {machine()}\n\n" + "\n".join(lines))
    print(report)
    if guide is not None:
        write_latest(guide, report)
        print(f"\nwrote the tables into {guide}")
        if "--grading-only" not in sys.argv and profile.name == REFERENCE_PROFILE:
            store_reference_runs(paths, times, f"{date.today().isoformat()}, {machine()}")
            print("stored each notebook's time in its metadata (the grader's per-notebook "
                  "limits): run `make generate` and commit solutions/ and notebooks/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
