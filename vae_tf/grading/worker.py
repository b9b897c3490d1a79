"""The worker: the process that runs a student's exercise cells (inside the sandbox).

Started as ``python -m vae_tf.grading.worker --result-fd N`` by
:mod:`vae_tf.grading.sandbox`. It reads a request (from :func:`vae_tf.grading.judge.make_request`)
on stdin, runs the exercise cells in one fresh namespace, runs the lesson's checks on the
student's objects and writes the answer, plain JSON, to file descriptor ``N``.

Nothing the worker writes is trusted: :func:`vae_tf.grading.judge.judge` decides every point.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
from typing import Any

from vae_tf.notebook_code import ExerciseCode

MESSAGE_LIMIT = 2000


def _truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return (
        text
        if len(text) <= limit
        else text[:limit] + f"\n... ({len(text) - limit} more characters cut)"
    )


def _describe(error: BaseException, describe: Any, cells: list[tuple[str, str]]) -> str:
    """Plain words for a failed check, pointing only at the student's lines.

    Frames inside the checks are never shown: they would leak the hidden tests.
    """
    if isinstance(error, (NotImplementedError, AssertionError)):
        return describe(error)
    import traceback

    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith("<exercise cell "):
            index = int(frame.filename.split()[2].rstrip(":")) - 1
            lines = cells[index][1].splitlines()
            line = lines[frame.lineno - 1].strip() if 0 < (frame.lineno or 0) <= len(lines) else "?"
            where = f" (in your exercise cell, line {frame.lineno}: {line})"
            break
    return f"your code raised {type(error).__name__}: {error}{where}"


def run(result_fd: int) -> None:
    # Take everything the worker needs before the student's code can touch it.
    result_file = os.fdopen(os.dup(result_fd), "w", encoding="utf-8")
    os.close(result_fd)
    request = json.loads(sys.stdin.read())
    code = ExerciseCode.from_json(json.dumps(request["code"]))
    from vae_tf.grading import checking, registry

    describe = checking._describe_exception
    plan = [
        (ex.name, ex.symbol, [(check.name, check.function) for check in ex.checks])
        for ex in registry.exercises_of_lesson(code.lesson)
    ]
    write, dumps, exit_now = result_file.write, json.dumps, os._exit

    sys.stdin = io.StringIO("")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    cell_errors: dict[str, str] = {}
    for index, (name, source) in enumerate(code.cells):
        try:
            exec(compile(source, f"<exercise cell {index + 1}: {name}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - SystemExit too: it is the student's code
            cell_errors.setdefault(name, f"{type(error).__name__}: {error}")

    report: dict[str, list[dict]] = {}
    for name, symbol, checks in plan:
        outcomes = []
        obj = namespace.get(symbol)
        for check_name, function in checks:
            if obj is None:
                why = (
                    f"`{symbol}` is not defined: running the exercise cell raised "
                    f"{cell_errors[name]}"
                    if name in cell_errors
                    else f"`{symbol}` is not defined: no exercise cell for '{name}' defines it"
                )
                outcomes.append({"name": check_name, "passed": False, "message": why})
                continue
            try:
                function(obj)
            except BaseException as error:  # noqa: BLE001 - a failing or exiting check costs the point
                message = _truncate(_describe(error, describe, code.cells))
                outcomes.append({"name": check_name, "passed": False, "message": message})
            else:
                outcomes.append({"name": check_name, "passed": True, "message": ""})
        report[name] = outcomes
    write(dumps({"exercises": report}))
    result_file.flush()
    exit_now(0)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m vae_tf.grading.worker",
        description="Internal: run a student's exercise cells for the grader (request on stdin).",
    )
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args(argv)
    run(args.result_fd)


if __name__ == "__main__":
    main()
