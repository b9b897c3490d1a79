"""The judge decides every point from plain data, on inputs drawn from a secret seed.

Unit tests of the two halves of a check (probe and verdict), of the plain-data encoding
between them, of the judge's counting and of the redacted package copy the worker sees.
The attacks of the sealed-grading issue are in ``tests/test_judge_attacks.py``.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from vae_tf.grading import answers, run_checks
from vae_tf.grading.checking import check
from vae_tf.grading.judge import judge
from vae_tf.grading.notebook_code import ExerciseCode
from vae_tf.grading.redact import NOT_AVAILABLE, redacted_package, references_of
from vae_tf.grading.registry import (
    all_exercises,
    check_rng,
    exercises_of_lesson,
    lessons,
)

LESSON01 = ExerciseCode(path="nb.ipynb", lesson="01_data", exercises=["scale_pixels", "binarize"])


def _same(first: object, second: object) -> bool:
    """Inputs equal, arrays included."""
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        return (
            isinstance(first, np.ndarray)
            and isinstance(second, np.ndarray)
            and first.shape == second.shape
            and np.array_equal(first, second)
        )
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(_same(first[k], second[k]) for k in first)
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return len(first) == len(second) and all(map(_same, first, second))
    return first == second


# --------------------------------------------------------------------------- the registry


def test_every_check_of_the_15_exercises_has_a_probe_a_verdict_and_inputs():
    exercises = all_exercises()
    # Every exercise registered is one that a solution notebook lists, and vice versa.
    solutions = Path(__file__).resolve().parents[1] / "solutions"
    listed = {
        name
        for path in solutions.glob("*.ipynb")
        for name in json.loads(path.read_text())["metadata"]["vae_course"]["exercises"]
    }
    assert set(exercises) == listed
    for ex in exercises.values():
        assert ex.checks, ex.name
        for item in ex.checks:
            where = f"{ex.name}: {item.name}"
            # the verdict is the check module's own function; the probe and inputs too
            for part in (item.verdict, item.probe, item.inputs):
                assert callable(part), where
            assert item.verdict.__module__.startswith("vae_tf.grading.exercises."), where
            assert item.verdict is not item.probe, where


def test_check_inputs_are_the_same_for_a_seed_and_change_with_it():
    for ex in all_exercises().values():
        for item in ex.checks:
            first = item.inputs(check_rng(11, ex.name, item.name))
            again = item.inputs(check_rng(11, ex.name, item.name))
            others = [item.inputs(check_rng(seed, ex.name, item.name)) for seed in range(12, 16)]
            assert _same(first, again), f"{ex.name}: {item.name} is not reproducible"
            assert not all(_same(first, other) for other in others), (
                f"{ex.name}: {item.name} does not depend on the seed"
            )


# --------------------------------------------------------------------------- plain data


def test_plain_data_round_trips_arrays_without_pickle():
    answer = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, None, "x"]}
    back = answers.decode(answers.encode(answer))
    assert back["b"] == [1, 2.5, None, "x"]
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], answer["a"])
    with pytest.raises(TypeError):
        answers.encode({"a": np.array([object()], dtype=object)})


def test_decoding_refuses_a_pickled_array_and_garbage():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    pickled = json.dumps({"__npy__": base64.b64encode(buffer.getvalue()).decode()}).encode()
    for data in (pickled, b"\xff\xfe", b"[" * 100000, b'{"__npy__": "AAAA"}'):
        with pytest.raises(answers.MalformedAnswer):
            answers.decode(data)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, "text"])
def test_validation_rejects_nan_infinity_none_and_non_numbers(bad):
    described = answers.decode(answers.encode(answers.describe(bad)))
    with pytest.raises(answers.CheckFailed) as failure:
        answers.array_of(described, "f")
    assert any(word in str(failure.value) for word in ("NaN or infinite", "None", "array"))


FUNCTIONS = [
    ex.name
    for ex in all_exercises().values()
    if ex.name not in ("sampling", "train_step", "kl_warmup_callback")
]


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), None], ids=["nan", "inf", "none"])
def test_nan_infinity_and_none_score_zero_in_every_function_exercise(name, value):
    def returns_bad(*args, **kwargs):
        if value is None:
            return None
        first = np.asarray(args[0], dtype=np.float64)
        return np.full(first.shape, value) if first.ndim else value

    outcome = run_checks(name, returns_bad, seed=5)
    assert outcome.points == 0, outcome.verdict()
    assert all(result.message for result in outcome.failures())


# --------------------------------------------------------------------------- the judge


def _honest_lesson01_answer(seed: int, *, binarize_correct: bool = True) -> bytes:
    from vae_tf.grading.checking import run_probe

    def scale_pixels(images):
        images = np.asarray(images)
        images = images[..., None] if images.ndim == 3 else images
        return images.astype(np.float32) / 255.0

    def binarize(images, seed):
        rng = np.random.default_rng(seed)
        result = (rng.random(np.shape(images)) < images).astype(np.float32)
        return result if binarize_correct else 1.0 - result

    report = {}
    for ex, obj in (
        (all_exercises()["scale_pixels"], scale_pixels),
        (all_exercises()["binarize"], binarize),
    ):
        report[ex.name] = {
            item.name: run_probe(item, obj, item.inputs(check_rng(seed, ex.name, item.name)))
            for item in ex.checks
        }
    return answers.encode({"exercises": report})


def test_judge_scores_an_honest_answer_fully_and_a_wrong_one_with_reasons():
    results = judge(LESSON01, 21, _honest_lesson01_answer(21))
    assert {name: r.points for name, r in results.items()} == {"scale_pixels": 4, "binarize": 4}
    results = judge(LESSON01, 21, _honest_lesson01_answer(21, binarize_correct=False))
    assert results["binarize"].points < 4
    assert all(failure.message for failure in results["binarize"].failures())


def test_an_answer_for_another_seed_fails_the_value_checks():
    results = judge(LESSON01, 22, _honest_lesson01_answer(21))
    assert results["binarize"].points == 0
    assert results["scale_pixels"].points < 4


def test_judge_counts_its_own_checks_whatever_the_answer_claims():
    forged = {
        "exercises": {
            "binarize": {f"check {i}": {"passed": True, "value": 1} for i in range(100)},
            "scale_pixels": {
                item.name: {"passed": True} for item in all_exercises()["scale_pixels"].checks
            },
            "kl_divergence": {"x": {"passed": True}},
        },
        "points": 100,
    }
    results = judge(LESSON01, 3, json.dumps(forged).encode())
    assert set(results) == {"scale_pixels", "binarize"}
    assert sum(r.points for r in results.values()) == 0
    assert sum(r.max_points for r in results.values()) == 8
    assert "no answer for this check" in results["binarize"].results[0].message


@pytest.mark.parametrize(
    "answer",
    [b"", b"not json", b'{"exercises": 5}', b"[" * 50000, b'{"exercises": {"binarize": 7}}'],
)
def test_a_malformed_answer_scores_zero_with_a_reason(answer):
    results = judge(LESSON01, 3, answer)
    assert sum(r.points for r in results.values()) == 0
    assert sum(r.max_points for r in results.values()) == 8
    for result in results.values():
        assert all(failure.message for failure in result.failures())


def test_a_value_of_the_wrong_form_fails_with_a_reason_instead_of_crashing_the_judge():
    forged = {
        "exercises": {
            "binarize": {
                item.name: {"value": {"weird": [1, {"x": 2}]}}
                for item in all_exercises()["binarize"].checks
            }
        }
    }
    results = judge(LESSON01, 3, json.dumps(forged).encode())
    assert results["binarize"].points == 0
    assert all(failure.message for failure in results["binarize"].failures())


# --------------------------------------------------------------------------- the self-check cell


def test_self_check_prints_the_verdict_with_plain_reasons(capsys):
    check("kl_divergence", lambda mu, log_var: np.zeros(len(mu)))
    printed = capsys.readouterr().out
    assert printed.startswith("NOT YET: exercise 'kl_divergence'")
    assert "closed-form KL" in printed


@pytest.mark.slow
def test_the_package_train_step_passes_in_process_so_the_numpy_reference_matches_it():
    # Inherited VAE.train_step: full marks in the kernel (full package), 0 while grading.
    from vae_tf.models import VAE

    class PackageStep(VAE):
        pass

    outcome = run_checks("train_step", PackageStep, seed=8)
    assert outcome.passed, outcome.verdict()


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("lesson", lessons())
def test_redacted_copy_replaces_every_reference_and_verdict_by_a_raise(lesson, tmp_path):
    package = redacted_package(lesson, tmp_path)
    references = references_of(lesson)
    for module, qualnames in references.items():
        path = package.joinpath(*module.split(".")[1:]).with_suffix(".py")
        tree = ast.parse(path.read_text())
        for qualname in qualnames:
            node = _function(tree, qualname)
            assert len(node.body) == 1 and isinstance(node.body[0], ast.Raise), qualname
            assert "not available while grading" in ast.unparse(node.body[0])
    for path in (package / "grading" / "exercises").glob("lesson_*.py"):
        text = path.read_text()
        assert "def reference_" not in text or "return -0.5" not in text
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and any(
                "verdict" in ast.unparse(d) or "judge_only" in ast.unparse(d)
                for d in node.decorator_list
            ):
                assert len(node.body) == 1 and isinstance(node.body[0], ast.Raise), node.name
    assert NOT_AVAILABLE.split(":")[0] == "{name}"


def _function(tree: ast.Module, qualname: str) -> ast.FunctionDef:
    body = tree.body
    *classes, name = qualname.split(".")
    for class_name in classes:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == class_name).body
    return next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)


def test_every_lesson_with_a_package_answer_names_it_as_a_reference():
    named = {lesson: set(references_of(lesson)) for lesson in lessons()}
    assert "vae_tf.losses" in named["03_vae"] and "vae_tf.models" in named["03_vae"]
    assert "vae_tf.losses" in named["02_autoencoder"]
    assert "vae_tf.data" in named["01_data"]
    assert "vae_tf.latent" in named["06_loss_terms"]
    assert exercises_of_lesson("03_vae")[-1].references[0] == "vae_tf.models:VAE.train_step"


def test_the_redacted_copy_leaves_the_real_package_unchanged(tmp_path):
    import vae_tf

    real = Path(vae_tf.__file__).resolve().parent
    before = {p: p.read_bytes() for p in real.rglob("*.py")}
    redacted_package("03_vae", tmp_path)
    assert {p: p.read_bytes() for p in real.rglob("*.py")} == before


def test_the_judge_needs_neither_tensorflow_nor_the_students_code():
    # The verdicts are NumPy: the grader's process never loads TensorFlow to judge.
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from vae_tf.grading.judge import judge\n"
        "from vae_tf.grading.notebook_code import ExerciseCode\n"
        "for lesson in ('02_autoencoder', '03_vae', '07_beta_and_posterior_collapse'):\n"
        "    judge(ExerciseCode('x', lesson), 1, json.dumps({'exercises': {}}).encode())\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", [name for name in FUNCTIONS if name != "build_decoder"])
def test_feedback_shows_a_few_numbers_not_the_hidden_inputs_or_answers(name):
    # Saying what is wrong needs shapes and a few numbers; whole arrays would let a student
    # rebuild the inputs or hard-code the expected outputs.
    def wrong(*args, **kwargs):
        first = np.asarray(args[0], dtype=np.float64)
        return np.full(first.shape, 0.5) if first.ndim else 0.5

    outcome = run_checks(name, wrong, seed=3)
    assert outcome.failures()
    for failure in outcome.failures():
        numbers = re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", failure.message)
        assert len(failure.message) < 700 and len(numbers) <= 24, failure.message


def test_hints_are_revealed_one_step_per_failed_self_check(capsys, monkeypatch):
    from vae_tf.grading import checking, hint
    from vae_tf.grading.registry import get_exercise

    exercise = get_exercise("scale_pixels")
    monkeypatch.setattr(exercise, "hints", ("look at the dtype", "divide by 255"))
    monkeypatch.setattr(checking, "_REVEALED", {})

    def wrong(images):
        return images

    checking.check("scale_pixels", wrong)
    first = capsys.readouterr().out
    assert "hint 1 of 2: look at the dtype" in first
    assert "divide by 255" not in first
    hint("scale_pixels")
    second = capsys.readouterr().out
    assert "hint 2 of 2: divide by 255" in second
    assert 'hint("scale_pixels")' not in second  # nothing more to ask for


def test_a_passing_self_check_reveals_no_hint(capsys, monkeypatch):
    from vae_tf.grading import checking
    from vae_tf.grading.registry import get_exercise

    exercise = get_exercise("scale_pixels")
    monkeypatch.setattr(exercise, "hints", ("look at the dtype",))
    monkeypatch.setattr(checking, "_REVEALED", {})

    def right(images):
        import numpy as np

        images = np.asarray(images, dtype=np.float32) / 255.0
        return images[..., None] if images.ndim == 3 else images

    checking.check("scale_pixels", right)
    out = capsys.readouterr().out
    assert out.startswith("PASSED"), out
    assert "hint" not in out


def test_a_forged_answer_of_millions_of_tiny_lists_is_refused_before_it_is_parsed():
    import tracemalloc

    from vae_tf.grading.answers import MalformedAnswer, decode

    forged = b'{"exercises": [' + b"[]," * 16_000_000 + b"[]]}"  # 48 MB, as the attack sent
    tracemalloc.start()
    try:
        with pytest.raises(MalformedAnswer, match="JSON items"):
            decode(forged)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"decoding took {peak / 2**20:.0f} MB"
