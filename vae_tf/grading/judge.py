"""The judge: decides every point in the grader's own process, from plain data only.

The contract between the grader and the sandboxed worker:

- :func:`make_request` builds the bytes the worker reads on stdin (the exercise code and
  the per-run secret seed from which the worker draws its inputs);
- the worker answers with plain JSON on its result file descriptor;
- :func:`judge` turns that answer into one :class:`~vae_tf.grading.checking.ExerciseResult`
  per exercise of the lesson. It counts points over the registry's own list of checks, so
  nothing in the answer can add a check or score above an exercise's maximum; a missing or
  malformed answer scores 0 with a reason.
"""

from __future__ import annotations

import json

from vae_tf.grading.checking import CheckResult, ExerciseResult
from vae_tf.notebook_code import ExerciseCode

MESSAGE_LIMIT = 2000


def make_request(code: ExerciseCode, seed: int) -> bytes:
    """The worker's stdin: the exercise cells of ``code`` and the secret ``seed``."""
    return json.dumps({"code": json.loads(code.to_json()), "seed": int(seed)}).encode("utf-8")


def failed_everywhere(lesson: str | None, reason: str) -> dict[str, ExerciseResult]:
    """Every check of every exercise of ``lesson`` failed, with ``reason``."""
    from vae_tf.grading.registry import exercises_of_lesson

    return {
        ex.name: ExerciseResult(ex.name, [CheckResult(check.name, False, reason) for check in ex.checks])
        for ex in (exercises_of_lesson(lesson) if lesson else [])
    }


def judge(code: ExerciseCode, seed: int, answer: bytes) -> dict[str, ExerciseResult]:
    """Verdicts for every exercise of ``code.lesson`` from the worker's ``answer``."""
    from vae_tf.grading.registry import exercises_of_lesson

    try:
        report = json.loads(answer.decode("utf-8"))["exercises"]
        if not isinstance(report, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return failed_everywhere(code.lesson, "the worker's answer could not be read")
    results = {}
    for ex in exercises_of_lesson(code.lesson) if code.lesson else []:
        reported = report.get(ex.name)
        by_name = {}
        if isinstance(reported, list):
            for item in reported:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    by_name.setdefault(item["name"], item)
        checks = []
        for check in ex.checks:
            item = by_name.get(check.name)
            if item is None:
                checks.append(CheckResult(check.name, False, "no answer for this check"))
                continue
            passed = item.get("passed") is True
            message = str(item.get("message", ""))[:MESSAGE_LIMIT]
            checks.append(CheckResult(check.name, passed, "" if passed else message))
        results[ex.name] = ExerciseResult(ex.name, checks)
    return results
