"""The grades export behind ``make grades``: one CSV row per student, assignment and exercise.

nbgrader's own ``nbgrader export`` writes one row per student and assignment (the totals).
:class:`PerExerciseCsvExport` is an nbgrader export plugin that adds the exercises, so an
instructor sees which exercise each student lost points on:

    nbgrader export --exporter=grader.grades.PerExerciseCsvExport --to grades.csv

Each graded cell is one exercise, named by its ``grade_id`` (``ex1-check``, ...). A student
without a submission gets a row per exercise with score 0 and ``submitted`` False. Every
student and assignment row also has an ``exercise`` of ``total``.
"""

from __future__ import annotations

import csv

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

COLUMNS = ["student_id", "assignment", "exercise", "score", "max_score", "submitted",
           "needs_manual_grade"]


def exercise_rows(gradebook: Gradebook, assignment, student_id: str) -> list[dict]:
    """The rows of one student's assignment: each graded cell, then the total."""
    try:
        submission = gradebook.find_submission(assignment.name, student_id)
    except MissingEntry:
        submission = None
    rows = []
    for notebook in assignment.notebooks:
        for cell in notebook.grade_cells:
            grade = None if submission is None else gradebook.find_grade(
                cell.name, notebook.name, assignment.name, student_id)
            rows.append({
                "exercise": cell.name,
                "score": 0.0 if grade is None else grade.score,
                "max_score": cell.max_score,
                "needs_manual_grade": False if grade is None else grade.needs_manual_grade,
            })
    total = {"exercise": "total", "score": sum(row["score"] for row in rows),
             "max_score": assignment.max_score,
             "needs_manual_grade": any(row["needs_manual_grade"] for row in rows)}
    common = {"student_id": student_id, "assignment": assignment.name,
              "submitted": submission is not None}
    return [{**common, **row} for row in rows + [total]]


class PerExerciseCsvExport(ExportPlugin):
    """nbgrader export plugin: a CSV with a row per student, assignment and exercise."""

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        students = [s.id for s in gradebook.students if not self.student or s.id in self.student]
        assignments = [a for a in gradebook.assignments
                       if not self.assignment or a.name in self.assignment]
        self.log.info("Exporting per-exercise grades to %s", destination)
        with open(destination, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            for student_id in sorted(students):
                for assignment in sorted(assignments, key=lambda a: a.name):
                    writer.writerows(exercise_rows(gradebook, assignment, student_id))
