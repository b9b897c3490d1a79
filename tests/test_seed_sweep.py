"""Every verdict is the same on every seed: the catalogue's answers over many seeds.

Grading draws each check's inputs from a secret seed, so a check whose verdict depends on
the seed takes points from correct students (or gives them to wrong ones) by luck. Each
catalogue module (``tests/test_catalogue_*.py``) lists its answers for this sweep:

- ``SWEEP_RIGHT = {exercise: {variant: obj}}``: right answers, written differently;
  each must get full points on every seed;
- ``SWEEP_WRONG = {exercise: {variant: obj}}``: typical mistakes; each must lose at least
  one point on every seed.

The number of seeds is ``VAE_TF_SWEEP_SEEDS`` for the exercises whose checks are NumPy
(default 40) and ``VAE_TF_SWEEP_SEEDS_KERAS`` for those whose checks build and train Keras
models (default 0: skipped). The defaults keep the test suite within CI's time; the full sweep
is ``VAE_TF_SWEEP_SEEDS=300 VAE_TF_SWEEP_SEEDS_KERAS=40 pytest tests/test_seed_sweep.py``
(hours on 2 cores). The catalogue tests themselves run every answer on one seed.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from catalogue import KERAS_EXERCISES, failing_seeds

HERE = Path(__file__).resolve().parent
SEEDS = int(os.environ.get("VAE_TF_SWEEP_SEEDS", "40"))
KERAS_SEEDS = int(os.environ.get("VAE_TF_SWEEP_SEEDS_KERAS", "0"))


def _catalogue_answers(kind: str) -> list[tuple[str, str, object]]:
    found = []
    for path in sorted(HERE.glob("test_catalogue_*.py")):
        module = importlib.import_module(path.stem)
        for exercise, variants in getattr(module, kind, {}).items():
            for variant, obj in variants.items():
                found.append((exercise, variant, obj))
    return found


def _seeds(exercise: str) -> range:
    return range(KERAS_SEEDS if exercise in KERAS_EXERCISES else SEEDS)


def _case_id(value: object) -> str:
    # exercise and variant name the case; the answer itself is a function (no stable id)
    return value[:40] if isinstance(value, str) else "answer"


RIGHT = _catalogue_answers("SWEEP_RIGHT")
WRONG = _catalogue_answers("SWEEP_WRONG")


def test_every_exercise_of_every_lesson_has_right_and_wrong_answers_in_the_sweep():
    from vae_tf.grading.registry import all_exercises

    exercises = set(all_exercises())
    missing_right = exercises - {exercise for exercise, _, _ in RIGHT}
    missing_wrong = exercises - {exercise for exercise, _, _ in WRONG}
    assert not missing_right and not missing_wrong, (missing_right, missing_wrong)


@pytest.mark.slow
@pytest.mark.parametrize(("exercise", "variant", "obj"), RIGHT, ids=_case_id)
def test_right_answer_gets_full_points_on_every_seed(exercise, variant, obj):
    seeds = _seeds(exercise)
    if not seeds:
        pytest.skip(f"{exercise} builds Keras models: set VAE_TF_SWEEP_SEEDS_KERAS to sweep it")
    failed = failing_seeds(exercise, obj, seeds, right=True)
    assert not failed, f"{exercise} / {variant}: lost points on seeds {failed} of {len(seeds)}"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a wrong answer overflows on purpose
@pytest.mark.parametrize(("exercise", "variant", "obj"), WRONG, ids=_case_id)
def test_wrong_answer_loses_points_on_every_seed(exercise, variant, obj):
    seeds = _seeds(exercise)
    if not seeds:
        pytest.skip(f"{exercise} builds Keras models: set VAE_TF_SWEEP_SEEDS_KERAS to sweep it")
    failed = failing_seeds(exercise, obj, seeds, right=False)
    assert not failed, f"{exercise} / {variant}: full points on seeds {failed} of {len(seeds)}"
