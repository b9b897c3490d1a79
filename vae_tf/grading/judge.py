"""The judge: decides every point in the grader's own process, from plain data only.

The contract between the grader and the sandboxed worker:

- :func:`make_request` builds the bytes the worker reads on stdin: the exercise code and
  every check's inputs, drawn here from the per-run secret seed (the seed itself never
  leaves the grader, so student code cannot draw any other check's or run's inputs);
- the worker answers with plain JSON on its result file descriptor: for each exercise and
  check, what the check's probe observed (:mod:`vae_tf.grading.answers`);
- :func:`judge` turns that answer into one :class:`~vae_tf.grading.checking.ExerciseResult`
  per exercise of the lesson. For each check of the registry's own list it draws the
  check's inputs again from the seed, validates the answer (type, dtype, shape,
  finiteness, size) and calls the check's verdict, which compares with values it
  computes itself. Nothing in the answer can add a check or score above an exercise's
  maximum; a missing or malformed answer scores 0 with a reason. Nothing is unpickled
  and nothing from the sandbox is imported.
"""

from __future__ import annotations

import json

from vae_tf.grading.answers import MalformedAnswer, decode, encode_inputs
from vae_tf.grading.checking import CheckResult, ExerciseResult, judge_check
from vae_tf.grading.notebook_code import ExerciseCode

MESSAGE_LIMIT = 2000


def make_request(code: ExerciseCode, seed: int) -> bytes:
    """The worker's stdin: the exercise cells of ``code`` and each check's inputs.

    The inputs are drawn from the secret ``seed`` here, in the grader; the seed is not sent.
    """
    from vae_tf.grading.registry import check_rng, exercises_of_lesson

    inputs = {
        ex.name: {
            check.name: check.inputs(check_rng(seed, ex.name, check.name)) for check in ex.checks
        }
        for ex in (exercises_of_lesson(code.lesson) if code.lesson else [])
    }
    request = {"code": json.loads(code.to_json()), "inputs": encode_inputs(inputs)}
    return json.dumps(request).encode("utf-8")


def failed_everywhere(lesson: str | None, reason: str) -> dict[str, ExerciseResult]:
    """Every check of every exercise of ``lesson`` failed, with ``reason``."""
    from vae_tf.grading.registry import exercises_of_lesson

    return {
        ex.name: ExerciseResult(
            ex.name, [CheckResult(check.name, False, reason) for check in ex.checks]
        )
        for ex in (exercises_of_lesson(lesson) if lesson else [])
    }


def judge(code: ExerciseCode, seed: int, answer: bytes) -> dict[str, ExerciseResult]:
    """Verdicts for every exercise of ``code.lesson`` from the worker's ``answer``.

    Parameters
    ----------
    code : ExerciseCode
        The notebook's exercise code; only its lesson is used here.
    seed : int
        The secret seed sent in the request; the judge draws the same inputs from it.
    answer : bytes
        What the worker wrote on its result file descriptor.

    Returns
    -------
    dict
        Exercise name -> result, for exactly the lesson's registered exercises and checks.
    """
    from vae_tf.grading.registry import check_rng, exercises_of_lesson

    try:
        report = decode(answer)["exercises"]
        if not isinstance(report, dict):
            raise TypeError
    except (MalformedAnswer, KeyError, TypeError):
        return failed_everywhere(code.lesson, "the worker's answer could not be read")
    results = {}
    for ex in exercises_of_lesson(code.lesson) if code.lesson else []:
        reported = report.get(ex.name)
        reported = reported if isinstance(reported, dict) else {}
        checks = []
        for check in ex.checks:
            inputs = check.inputs(check_rng(seed, ex.name, check.name))
            result = judge_check(check, inputs, reported.get(check.name))
            result.message = result.message[:MESSAGE_LIMIT]
            checks.append(result)
        results[ex.name] = ExerciseResult(ex.name, checks)
    return results
