"""Exercise checks for students (``check``) and grading for instructors.

``check(name, obj)`` is what each self-check cell calls (a failed check reveals one more
step of the exercise's hints; ``hint(name)`` asks for the next one); the grader in
``vae_tf.grading.grader`` runs the same checks on a folder of submissions.
"""

from vae_tf.grading.checking import ExerciseResult, check, hint, run_checks
from vae_tf.grading.registry import CheckFailed, all_exercises, exercise, get_exercise

__all__ = [
    "CheckFailed",
    "ExerciseResult",
    "all_exercises",
    "check",
    "exercise",
    "get_exercise",
    "hint",
    "run_checks",
]
