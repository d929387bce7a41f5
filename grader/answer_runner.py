"""The answer runner: a sandboxed process that runs a submission's answers on the grader's
fresh inputs, apart from its notebook.

:mod:`grader.judge` starts it in a sandbox like the kernel's (its own user when root grades),
beside the kernel, and sends its request while the kernel runs. It imports the course's
exercises first, before any code of the submission, then waits for that one request on its
standard input (:func:`main`). For each graded exercise, it:

1. selects, from the notebook's code cells before that exercise's test cell, only the
   top-level statements that define the answer's name and what it reads, transitively
   (:func:`definitions`): ``def``, ``class``, ``import`` and assignments to a plain name.
   No other statement of the submission runs here: no bare call, loop or ``with``, no
   assignment to an attribute or item (``exercises.check = ...``), nor any definition the
   answer does not read, so no IPython hook, nothing that rewrites a cell;
2. runs them in a fresh namespace, in a child process of its own (forked before any code
   of the submission ran), and calls the answer on the inputs the grader built, read from a
   folder it may not write (pickled by the judge; the seed they come from is never here);
3. writes what the answer did as a record (:func:`exercises.write_record`) to the folder it
   may write, which the judge reads back as data only.

Anything the answer's own code does in this process can change only what it records for
inputs it is given: to record the right result, it has to compute it.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import pickle
import select
import signal
import symtable
import sys
import time
from pathlib import Path

#: The file of an exercise's fresh inputs, in the folder the judge writes them to.
INPUTS_FILE = "{name}.inputs.pickle"


def assigned_names(statement: ast.stmt) -> set[str]:
    """The global names a top-level ``statement`` defines, if it is one that may run here."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names
                if alias.name != "*"}
    targets = (statement.targets if isinstance(statement, ast.Assign)
               else [statement.target] if isinstance(statement, ast.AnnAssign)
               and statement.value is not None else [])
    names: set[str] = set()
    for target in targets:
        if not all(isinstance(node, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store))
                   for node in ast.walk(target)):
            return set()  # an attribute or an item: a change to some other object
        names |= {node.id for node in ast.walk(target) if isinstance(node, ast.Name)}
    return names


def read_names(statement: ast.stmt) -> set[str]:
    """The global names ``statement`` reads, in its own code or in any function or class it
    defines (Python's own symbol tables decide what is local)."""
    table = symtable.symtable(ast.unparse(statement), "<statement>", "exec")
    names = {symbol.get_name() for symbol in table.get_symbols() if symbol.is_referenced()}
    children = list(table.get_children())
    while children:
        child = children.pop()
        names |= {symbol.get_name() for symbol in child.get_symbols()
                  if symbol.is_global() and symbol.is_referenced()}
        children += child.get_children()
    return names


def parsed(source: str) -> list[ast.stmt]:
    """A cell's top-level statements, IPython's syntax (magics, ``!``) made Python first;
    none for a cell that does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source)).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []


def definitions(cells: list[str], answer: str) -> list[ast.stmt]:
    """The statements of ``cells`` that define ``answer`` and, transitively, what it reads,
    in the notebook's order."""
    statements = [(statement, assigned_names(statement))
                  for source in cells for statement in parsed(source)]
    statements = [(statement, names) for statement, names in statements if names]
    needed, grown = {answer}, True
    while grown:
        grown = False
        for statement, names in statements:
            if names & needed:
                more = read_names(statement) - needed
                if more:
                    needed |= more
                    grown = True
    return [statement for statement, names in statements if names & needed]


def answer_from(cells: list[str], answer: str) -> tuple[object | None, list[str]]:
    """``answer``'s value after running its definitions in a fresh namespace, or None; and
    the errors the definitions raised."""
    namespace: dict = {"__name__": "__answers__"}
    errors = []
    for statement in definitions(cells, answer):
        try:
            exec(compile(ast.Module([statement], []), "<answer cell>", "exec"), namespace)
        except Exception as error:  # the submission's code can raise anything
            errors.append(f"line `{ast.unparse(statement).splitlines()[0][:80]}`: "
                          f"{type(error).__name__}: {error}"[:300])
    return namespace.get(answer), errors


def not_found(answer: str, errors: list[str], value: object = None) -> str:
    """Why the answer (``value``, not a function) could not be run, for its verdict."""
    found = (f"no `{answer}`" if value is None
             else f"`{answer}` is a {type(value).__name__}, not a function")
    message = (f"✗ your answer was not run on the grader's inputs\n"
               f"  expected: `{answer}` defined by a `def` at the top level of its answer cell\n"
               f"  found:    {found}")
    if errors:
        message += " (" + "; ".join(errors)[:600] + ")"
    return message + ("\n  hint:     keep the name the exercise gives, and define it with "
                      "`def`; the grader runs only the notebook's definitions (def, class, "
                      "import, name = ...), not its other statements.")


def run_one(request: dict, item: dict) -> None:
    """In a fresh child process: run one exercise's answer on its pickled inputs; write its
    record, or why it could not run (:func:`grader.records.write_not_run`)."""
    import exercises
    from grader import records

    name, answer = str(item["name"]), str(item["answer"])
    cells = [str(source) for source in request["cells"]][:int(item["before"])]
    value, errors = answer_from(cells, answer)
    if not callable(value):
        records.write_not_run(Path(request["records"]), name,
                              not_found(answer, errors, value))
        return
    with open(Path(request["inputs"]) / INPUTS_FILE.format(name=name), "rb") as file:
        inputs = pickle.load(file)  # the grader's own data
    exercises.write_record(name, value, inputs, Path(request["records"]))


def finished(pid: int, seconds: float) -> int | None:
    """The exit status of child ``pid`` once it exits within ``seconds``, else None."""
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def run(request: dict) -> None:
    """Run each requested exercise in a child process of its own, forked from this one
    before any code of the submission ran here, so that nothing one answer changes (the
    course's code, Keras's settings) reaches another's. Each gets an even share of the time
    left; one that runs past its share, or dies, is stopped and gets a reason instead of a
    record."""
    from grader import records

    folder = Path(request["records"])
    deadline = time.monotonic() + float(request["seconds"])
    items = list(request["exercises"])
    for position, item in enumerate(items):
        share = max(0.0, (deadline - time.monotonic()) / (len(items) - position))
        pid = os.fork()
        if pid == 0:  # the child: its own process group, so that it is stopped whole
            status = 1
            try:
                os.setpgid(0, 0)
                silent = os.open(os.devnull, os.O_WRONLY)  # what the answer prints: nowhere
                os.dup2(silent, 1)
                os.dup2(silent, 2)
                run_one(request, item)
                status = 0
            except BaseException as error:  # the answer's code may raise anything
                if not records.written(folder, str(item["name"])):
                    records.write_not_run(folder, str(item["name"]), (
                        f"✗ your answer could not be run on the grader's inputs: "
                        f"{type(error).__name__}: {error}"))
            finally:
                os._exit(status)
        status = finished(pid, share)
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            why = f"ran past its share of the time, {share:.0f} s"
        else:
            why = f"stopped with exit status {status}" if status else "wrote no record"
        if not records.written(folder, str(item["name"])):
            records.write_not_run(folder, str(item["name"]),
                                  records.stopped_message(f"it {why}"))


def main() -> None:
    """Import the exercises, then wait for one request (a JSON line) at most ``argv[1]``
    seconds, and run it."""
    import exercises  # noqa: F401 (before any code of the submission)

    ready = select.select([sys.stdin], [], [], float(sys.argv[1]))[0]
    line = sys.stdin.readline() if ready else ""
    if line:
        run(json.loads(line))
