"""The worker: the process that runs a student's exercise cells (inside the sandbox).

Started as ``python -m vae_tf.grading.worker --result-fd N`` by
:mod:`vae_tf.grading.sandbox`. It reads a request (from :func:`vae_tf.grading.judge.make_request`)
on stdin, runs the exercise cells in one fresh namespace, then runs the PROBE of each
check of the lesson on the student's objects, with the inputs the request carries (drawn
by the grader from its secret seed, which never comes here), and writes what the probes observed, plain JSON (:mod:`vae_tf.grading.answers`), to
file descriptor ``N``.

The worker decides nothing: it reports no "passed", and whatever it writes is judged by
:func:`vae_tf.grading.judge.judge` in the grader's own process, against the judge's own
list of checks. The copy of ``vae_tf`` it imports holds no verdicts and none of the
lesson's reference answers (:mod:`vae_tf.grading.redact`).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
from typing import Any

from vae_tf.grading.notebook_code import ExerciseCode


def _undefined(symbol: str, name: str, cell_errors: dict[str, str]) -> dict[str, Any]:
    if name in cell_errors:
        why = f"`{symbol}` is not defined: running the exercise cell raised {cell_errors[name]}"
    else:
        why = f"`{symbol}` is not defined: no exercise cell for '{name}' defines it"
    return {"error": {"kind": "undefined", "message": why}}


def run(result_fd: int) -> None:
    """Run the request read on stdin and write the answer to ``result_fd``, then exit."""
    # Take everything the worker needs before the student's code can touch it.
    result_file = os.fdopen(os.dup(result_fd), "wb")
    os.close(result_fd)
    request = json.loads(sys.stdin.read())
    code = ExerciseCode.from_json(json.dumps(request["code"]))
    from vae_tf.grading import answers, checking, registry

    all_inputs = answers.decode_inputs(request["inputs"])
    plan = [
        (ex.name, ex.symbol, list(ex.checks)) for ex in registry.exercises_of_lesson(code.lesson)
    ]
    answers.CELLS[:] = code.cells
    run_probe, encode = checking.run_probe, answers.encode
    write, flush, exit_now = result_file.write, result_file.flush, os._exit
    del request

    sys.stdin = io.StringIO("")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    cell_errors: dict[str, str] = {}
    for index, (name, source) in enumerate(code.cells):
        try:
            exec(compile(source, f"<exercise cell {index + 1}: {name}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - SystemExit too: it is the student's code
            cell_errors.setdefault(name, answers.truncate(f"{type(error).__name__}: {error}", 500))

    report: dict[str, dict[str, Any]] = {}
    for name, symbol, checks in plan:
        obj = namespace.get(symbol)
        outcomes: dict[str, Any] = {}
        for check in checks:
            if obj is None:
                outcomes[check.name] = _undefined(symbol, name, cell_errors)
                continue
            inputs = all_inputs.get(name, {}).get(check.name)
            if not isinstance(inputs, dict):
                outcomes[check.name] = {"error": {"kind": "check_failed", "message": "no inputs"}}
                continue
            outcome = run_probe(check, obj, inputs, catch=BaseException)
            try:
                encode(outcome)
            except (TypeError, ValueError) as error:
                outcome = {
                    "error": {"kind": "check_failed", "message": f"unusable answer: {error}"}
                }
            outcomes[check.name] = outcome
        report[name] = outcomes
    write(encode({"exercises": report}))
    flush()
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
