"""Attacks on the grade from inside an exercise cell: each scores 0, its neighbours keep theirs.

Attack classes 1, 2 and 6 of the sealed-grading issue, each as a small notebook built here
(``tests/lesson01_example.py``) and graded as the grader grades: the exercise cells run in
the worker (``run_sandbox``) with the package redacted for the lesson
(``vae_tf.grading.redact``), and the judge decides every point in this process. Each test
asserts 0 points and a plain reason for the attacked exercise, full marks for an honest
notebook graded alongside, and the package unchanged byte for byte.

1. forging from inside a cell: the probes' ``__code__``, the worker's plan found through
   ``sys._getframe()``, ``builtins``/NumPy monkeypatched, a forged answer written to the
   result pipe (found in ``/proc/self/fd`` or with ``gc``) before ``os._exit(0)``;
2. the package's own answers: imported, read with ``inspect.getsource`` or from the
   ``.py`` file, taken from the check modules, inherited (``class MyVAE(VAE): pass``);
6. NaN, None and infinities; answers hard-coded from another run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from lesson01_example import lesson01_notebook

import vae_tf
from vae_tf.grading.notebook_code import ExerciseCode, extract_exercise_code
from vae_tf.grading.redact import redacted_package
from vae_tf.grading.registry import check_rng, exercises_of_lesson, get_exercise
from vae_tf.grading.sandbox import SandboxResult, run_sandbox

# Wrong on every check when graded honestly: float64, all zeros, the same for every seed.
WRONG_BINARIZE = """\
import numpy as np


def binarize(images, seed):
    return np.zeros(np.shape(images))
"""


def _package_digest() -> str:
    root = Path(vae_tf.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def grade(codes: dict[str, ExerciseCode], *, seed: int | None = None) -> dict[str, SandboxResult]:
    """Grade each student's exercise code as the grader does (one lesson per call)."""
    (lesson,) = {code.lesson for code in codes.values()}
    before = _package_digest()
    with tempfile.TemporaryDirectory(prefix="vae-tf-redacted-") as folder:
        package = redacted_package(lesson, Path(folder))
        results = {
            name: run_sandbox(code, timeout=300, memory_mb=3000, seed=seed, package=package)
            for name, code in codes.items()
        }
    assert _package_digest() == before, "grading changed the package"
    return results


def grade_lesson01(attack: str, *, seed: int | None = None) -> tuple[SandboxResult, SandboxResult]:
    """The attacker (binarize cell = ``attack``) and an honest neighbour, graded together."""
    results = grade(
        {
            "attacker": extract_exercise_code(lesson01_notebook(binarize_source=attack)),
            "honest": extract_exercise_code(lesson01_notebook()),
        },
        seed=seed,
    )
    honest = results["honest"]
    assert (honest.status, honest.points, honest.max_points) == ("ok", 8, 8), honest.message
    return results["attacker"], honest


def assert_zero_with_reasons(result: SandboxResult, exercise: str, *words: str) -> None:
    outcome = result.exercises[exercise]
    assert outcome.max_points == len(get_exercise(exercise).checks)
    assert outcome.points == 0, outcome.verdict()
    messages = "\n".join(failure.message for failure in outcome.failures())
    assert all(failure.message for failure in outcome.failures())
    for word in words:
        assert word in messages, f"{word!r} not in {messages}"


def test_the_wrong_answer_used_below_scores_zero_when_graded_honestly():
    attacker, _ = grade_lesson01(WRONG_BINARIZE)
    assert attacker.exercises["scale_pixels"].points == 4
    assert_zero_with_reasons(attacker, "binarize")


# --------------------------------------------------------------------------- 1: forging from a cell

REPLACE_CODE = (
    """\
import numpy as np
import vae_tf.grading.registry as registry


def _forged_probe(obj, inputs):
    return {"type": "ndarray", "array": np.zeros((1,), dtype=np.float32)}


def _forged_verdict(inputs, answer):
    return None


for exercise in registry.all_exercises().values():
    for item in exercise.checks:
        item.probe.__code__ = _forged_probe.__code__
        try:
            item.verdict.__code__ = _forged_verdict.__code__
        except ValueError:
            pass
        item.verdict = _forged_verdict
"""
    + WRONG_BINARIZE
)

EMPTY_THE_PLAN = (
    """\
import sys

frame = sys._getframe()
while frame is not None:
    plan = frame.f_locals.get("plan")
    if isinstance(plan, list):
        plan.clear()
    frame = frame.f_back
"""
    + WRONG_BINARIZE
)

MONKEYPATCH = (
    """\
import builtins

import numpy as np

builtins.abs = lambda x: 0
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)
"""
    + WRONG_BINARIZE
)

FORGED_ANSWER = """\
import gc
import io
import json
import os
import stat

import vae_tf.grading.registry as registry

claims = {"exercises": {}, "points": 100, "max_points": 8}
for exercise in registry.all_exercises().values():
    claims["exercises"][exercise.name] = {
        item.name: {"name": item.name, "passed": True, "value": 1.0} for item in exercise.checks
    }
claims["exercises"]["binarize"].update(
    {f"extra check {i}": {"passed": True} for i in range(100)}
)
forged = json.dumps(claims).encode()
written = False
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    try:
        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, forged)
            written = True
    except OSError:
        pass
if not written:
    for obj in gc.get_objects():
        if isinstance(obj, io.BufferedWriter) and not obj.closed:
            obj.write(forged)
            obj.flush()
os._exit(0)
"""


def test_replacing_the_probes_code_earns_nothing():
    attacker, _ = grade_lesson01(REPLACE_CODE)
    assert_zero_with_reasons(attacker, "binarize")


def test_emptying_the_workers_plan_through_frames_earns_nothing():
    attacker, _ = grade_lesson01(EMPTY_THE_PLAN)
    assert_zero_with_reasons(attacker, "binarize", "no answer for this check")
    assert attacker.max_points == 8


def test_monkeypatching_builtins_and_numpy_does_not_reach_the_judge():
    attacker, _ = grade_lesson01(MONKEYPATCH)
    assert_zero_with_reasons(attacker, "binarize")


def test_a_forged_answer_on_the_result_pipe_cannot_claim_100_of_8():
    attacker, _ = grade_lesson01(FORGED_ANSWER)
    assert attacker.status == "ok"  # the forged answer was read, and judged
    assert (attacker.points, attacker.max_points) == (0, 8)
    assert_zero_with_reasons(attacker, "binarize")
    assert_zero_with_reasons(attacker, "scale_pixels")


# --------------------------------------------------------------------------- 2: the package's answers

IMPORTED = "from vae_tf.data import binarize_images as binarize\n"

GETSOURCE = """\
import inspect

import numpy as np
import vae_tf.data

exec(inspect.getsource(vae_tf.data.binarize_images).replace("def binarize_images", "def binarize"))
"""

READ_THE_FILE = """\
import ast
from pathlib import Path

import numpy as np
import vae_tf.data

tree = ast.parse(Path(vae_tf.data.__file__).read_text())
node = next(n for n in tree.body if getattr(n, "name", None) == "binarize_images")
node.name = "binarize"
exec(compile(ast.Module([node], []), "copied", "exec"))
"""

FROM_THE_CHECKS = """\
from vae_tf.grading.exercises.lesson_01_data import _bernoulli_draws


def binarize(images, seed):
    return _bernoulli_draws(images, seed)[0]
"""


@pytest.mark.parametrize(
    "attack",
    [IMPORTED, GETSOURCE, READ_THE_FILE, FROM_THE_CHECKS],
    ids=["import", "inspect-getsource", "read-py-file", "check-module-reference"],
)
def test_the_packages_own_answer_earns_nothing(attack):
    attacker, _ = grade_lesson01(attack)
    assert_zero_with_reasons(attacker, "binarize", "not available while grading")
    assert attacker.exercises["scale_pixels"].points == 4


# Answers no lesson named as a reference before redaction by default: each earned full
# marks when graded, and now reaches a stub.
SCALE_BY_AS_IMAGES = """\
import numpy as np
from vae_tf.models import as_images


def scale_pixels(images):
    return np.asarray(as_images(np.asarray(images, dtype=np.float32) / 255.0))
"""

SCALE_BY_VALIDATION = """\
import numpy as np
from vae_tf.validation import float_images


def scale_pixels(images):
    return float_images(np.asarray(images) / 255.0)
"""

SCALE_THROUGH_IMPORTLIB = """\
import importlib

import numpy as np

_helper = getattr(importlib.import_module("vae_tf." + "models"), "as_" + "images")


def scale_pixels(images):
    return np.asarray(_helper(np.asarray(images, dtype=np.float32) / 255.0))
"""

SCALE_FROM_AN_UNLISTED_MODULE = """\
import numpy as np
from vae_tf.experiments import pick_one_per_digit  # any module off the allow-list
import vae_tf.experiments as experiments


def scale_pixels(images):
    experiments.pick_one_per_digit(np.arange(10))  # a helper no lesson names: stubbed
    return np.asarray(images, dtype=np.float32)[..., None] / 255.0
"""


@pytest.mark.parametrize(
    "attack",
    [
        SCALE_BY_AS_IMAGES,
        SCALE_BY_VALIDATION,
        SCALE_THROUGH_IMPORTLIB,
        SCALE_FROM_AN_UNLISTED_MODULE,
    ],
    ids=["models-as_images", "validation-float_images", "importlib-strings", "unlisted-module"],
)
def test_a_package_helper_no_lesson_named_before_earns_nothing(attack):
    results = grade(
        {
            "attacker": extract_exercise_code(lesson01_notebook(scale_pixels_source=attack)),
            "honest": extract_exercise_code(lesson01_notebook()),
        }
    )
    honest = results["honest"]
    assert (honest.status, honest.points, honest.max_points) == ("ok", 8, 8), honest.message
    attacker = results["attacker"]
    assert_zero_with_reasons(attacker, "scale_pixels", "not available while grading")
    assert attacker.exercises["binarize"].points == 4


@pytest.mark.slow
def test_lesson03_package_answers_imported_or_inherited_earn_nothing():
    from vae_tf.grading.notebook_code import exercise_code_from_path

    solution = exercise_code_from_path(
        Path(__file__).resolve().parents[1] / "solutions" / "03_vae.ipynb"
    )
    attacker = ExerciseCode(
        path="attacker.ipynb",
        lesson="03_vae",
        exercises=["sampling", "kl_divergence", "train_step"],
        cells=[
            ("sampling", "from vae_tf.models import Sampling\n"),
            ("kl_divergence", "from vae_tf.losses import kl_divergence\n"),
            ("train_step", "from vae_tf.models import VAE\n\n\nclass MyVAE(VAE):\n    pass\n"),
        ],
    )
    results = grade({"attacker": attacker, "honest": solution})
    honest = results["honest"]
    full = sum(len(ex.checks) for ex in exercises_of_lesson("03_vae"))  # the sandbox counts checks
    assert (honest.points, honest.max_points) == (full, full), honest.exercises
    for exercise in ("sampling", "kl_divergence", "train_step"):
        assert_zero_with_reasons(results["attacker"], exercise, "not available while grading")


# --------------------------------------------------------------------------- 6: NaN, None, hard-coding


@pytest.mark.parametrize(
    "value",
    [
        "np.full(np.shape(images), np.nan, dtype=np.float32)",
        "None",
        "np.full(np.shape(images), np.inf)",
    ],
    ids=["nan", "none", "inf"],
)
def test_nan_none_and_infinity_earn_nothing(value):
    attack = f"import numpy as np\n\n\ndef binarize(images, seed):\n    return {value}\n"
    attacker, _ = grade_lesson01(attack)
    reason = "returned None" if value == "None" else "NaN or infinite"
    assert_zero_with_reasons(attacker, "binarize", reason)


def _answers_seen_in_run(seed: int) -> list[np.ndarray]:
    """The right output of every call the binarize checks make in the run of ``seed``."""
    seen = []
    for item in get_exercise("binarize").checks:
        inputs = item.inputs(check_rng(seed, "binarize", item.name))
        seeds = [inputs["seed"]] * (3 if "reproducible" in item.name else 1)
        if "reproducible" in item.name:
            seeds[2] += 1
        for call_seed in seeds:
            draws = np.random.default_rng(call_seed).random(inputs["images"].shape)
            seen.append(draws < inputs["images"])
    return seen


def _hard_coded(answers: list[np.ndarray]) -> str:
    encoded = []
    for answer in answers:
        buffer = io.BytesIO()
        np.save(buffer, answer, allow_pickle=False)
        encoded.append(base64.b64encode(buffer.getvalue()).decode())
    return f"""\
import base64
import io
import itertools

import numpy as np

_SEEN = itertools.cycle(
    [np.load(io.BytesIO(base64.b64decode(text))).astype(np.float32) for text in {encoded!r}]
)


def binarize(images, seed):
    return next(_SEEN)
"""


def test_answers_hard_coded_from_another_run_earn_nothing():
    attack = _hard_coded(_answers_seen_in_run(1))
    seen_run, _ = grade_lesson01(attack, seed=1)
    assert seen_run.exercises["binarize"].points == 4  # they were the right answers, then
    attacker, _ = grade_lesson01(attack, seed=2)
    assert_zero_with_reasons(attacker, "binarize")


# The secret seed never reaches the worker: a cell that searches every frame above it (the
# worker's own locals and globals) and every container the interpreter holds (the request's
# leftovers, the inputs) for the seed's VALUE, under any name, also as the two 32-bit words
# that check_rng splits it into or as text, finds no trace of it, and reports what it found in
# its failure message, which the test reads back. (Searching for a key named "seed" would miss
# the seed sent under any other name.)
SEED_HUNT = """\
import gc
import sys

import numpy as np

SECRET = int("".join(["5EC12E7", "5EED"]), 16)  # at run time: in no source or constant
TRACES = {SECRET, SECRET & 0xFFFFFFFF}
TEXTS = (str(SECRET), hex(SECRET), hex(SECRET)[2:].upper())
found = []


def _look(where, value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, np.integer)) and int(value) in TRACES:
        found.append(f"{where}={int(value)!r}")
    elif isinstance(value, (str, bytes)):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if any(trace in text for trace in TEXTS):
            found.append(f"{where} holds it as text")
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size < 10**6:
        if np.isin(value, [SECRET & 0xFFFFFFFF]).any():
            found.append(f"an array at {where}")


seen = set()


def _walk(where, value, depth=8):
    # Into containers too: a dict of ints and arrays only is not tracked by gc.
    if id(value) in seen or any(value is own for own in mine):
        return
    seen.add(id(value))
    _look(where, value)
    if depth == 0:
        return
    if isinstance(value, dict):
        for key, item in list(value.items()):
            _look(f"{where}[{key!r}]", key)
            _walk(f"{where}[{key!r}]", item, depth - 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in list(value)[:10000]:
            _walk(f"{where}[...]", item, depth - 1)


mine = (globals(), TRACES, TEXTS, found, seen)
frame = sys._getframe()
while frame is not None:
    for scope in (frame.f_locals, frame.f_globals):
        if scope is globals():  # this cell's own names, SECRET among them
            continue
        for key, value in list(scope.items()):
            _walk(f"{frame.f_code.co_name}:{key}", value)
    frame = frame.f_back
for thing in gc.get_objects():
    if isinstance(thing, (dict, list, tuple, set, frozenset)):
        _walk("a container", thing, depth=2)


def binarize(images, seed):
    raise ValueError("hunt: " + (", ".join(found[:5]) or "nothing"))
"""


def test_the_secret_seed_never_reaches_the_worker():
    attacker, _honest = grade_lesson01(SEED_HUNT, seed=0x5EC12E75EED)
    messages = [
        check.message for exercise in attacker.exercises.values() for check in exercise.results
    ]
    hunted = [message for message in messages if "hunt:" in message]
    assert hunted and all("hunt: nothing" in message for message in hunted), hunted[:1]


# --------------------------------------------------------------------------- facts a probe reports
#
# A probe runs next to the student's code, so a number it reads from the student's object is
# a claim, not a fact. model.count_params() can be overridden to say what the check expects;
# the verdict now counts the parameters itself from the weights' shapes and refuses a count
# that disagrees with them.


def _forged_count_decoder(latent_dim):
    import keras

    from vae_tf.grading.exercises.lesson_02_autoencoder import decoder_parameter_count

    z = keras.Input(shape=(latent_dim,))
    h = keras.layers.Dense(256, activation="relu")(z)  # 256 hidden units, not 512
    h = keras.layers.Dense(28 * 28)(h)
    model = keras.Model(z, keras.layers.Reshape((28, 28, 1))(h))
    model.count_params = lambda: decoder_parameter_count(latent_dim)  # the forged claim
    return model


def _forged_count_encoder(latent_dim, hidden_units=512):
    import keras

    inputs = keras.Input(shape=(28, 28, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(7, activation="relu")(h)  # 7 hidden units, whatever hidden_units is
    model = keras.Model(inputs, [keras.layers.Dense(latent_dim)(h) for _ in range(2)])
    expected = 784 * hidden_units + hidden_units + hidden_units * 2 * latent_dim + 2 * latent_dim
    model.count_params = lambda: expected  # the forged claim
    return model


@pytest.mark.parametrize(
    ("exercise", "check", "obj"),
    [
        ("build_decoder", "has the 2 -> 512 -> 784 layers", _forged_count_decoder),
        ("build_encoder", "has the parameters of 784", _forged_count_encoder),
    ],
    ids=["decoder", "encoder"],
)
def test_a_forged_count_params_earns_no_parameter_point(exercise, check, obj):
    from vae_tf.grading.checking import run_checks

    outcome = run_checks(exercise, obj, seed=2026)
    (result,) = [r for r in outcome.results if r.name.startswith(check)]
    assert not result.passed, "a count_params() written in passed the parameter check"
    assert "does not match its own weights" in result.message, result.message


# The decoder's fit check counted the weights that changed in the worker, with np.array_equal,
# which a cell can replace; it now gets each weight's raw change and counts them itself.
DEAD_BRANCH_DECODER = """\
import keras
import numpy as np
from keras import layers

_array_equal = np.array_equal


def _every_weight_changed(a, b, *args, **kwargs):  # large float32 arrays: "changed"
    if isinstance(a, np.ndarray) and a.dtype == np.float32 and a.size >= 784:
        return False
    return _array_equal(a, b, *args, **kwargs)


np.array_equal = _every_weight_changed


def build_decoder(latent_dim):
    z = keras.Input(shape=(latent_dim,))
    h = layers.Dense(512, activation="relu")(z)
    logits = layers.Dense(28 * 28)(h)
    dead = layers.Dense(28 * 28)(z)  # trained by nothing: no gradient passes back to it
    logits = layers.Add()([logits, layers.Lambda(keras.ops.stop_gradient)(dead)])
    return keras.Model(z, layers.Reshape((28, 28, 1))(logits))
"""


def test_replacing_np_array_equal_does_not_hide_weights_that_never_train():
    from vae_tf.grading.notebook_code import exercise_code_from_path

    solution = exercise_code_from_path(
        Path(__file__).resolve().parents[1] / "solutions" / "02_autoencoder.ipynb"
    )
    cells = [
        (name, DEAD_BRANCH_DECODER if name == "build_decoder" else source)
        for name, source in solution.cells
    ]
    attacker = ExerciseCode(
        path="attacker.ipynb", lesson="02_autoencoder", exercises=solution.exercises, cells=cells
    )
    (result,) = grade({"attacker": attacker}, seed=2026).values()
    assert result.status == "ok", result.message
    (fit,) = [r for r in result.exercises["build_decoder"].results if r.name.startswith("trains")]
    assert not fit.passed and "does not update every weight" in fit.message, fit.message


# Lesson 08's training check trusted one number the probe computed next to the student's
# code ("the weights moved by this much"), and the losses it logged. A cell can wrap the
# probe's helper and write those in; the judge now gets each weight's change and the
# network's raw outputs before and after training, and refuses weights said to have moved
# under outputs that did not.
FROZEN_DECODER_FORGED_TRAINING = """\
import keras
import numpy as np
from keras import layers

import vae_tf.grading.exercises.lesson_08_convolutional_vae as checks
from vae_tf.grading.answers import describe

_honest_train = checks._train


def _forged_train(*args, **kwargs):
    answer = _honest_train(*args, **kwargs)
    answer.update(  # today's and the new format: a falling loss, every weight moved
        before=describe(550.0),
        after=describe(500.0),
        history=describe(np.linspace(550.0, 500.0, checks.TRAIN_STEPS)),
        moved=describe(1.0),
        changes=describe(np.ones(10)),
    )
    return answer


checks._train = _forged_train


def build_conv_decoder(latent_dim):
    inputs = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(256, activation="relu")(inputs)
    h = layers.Dense(7 * 7 * 64, activation="relu")(h)
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    logits = layers.Conv2DTranspose(1, 3, padding="same", name="logits")(h)
    model = keras.Model(inputs, logits, name="conv_decoder")
    model.trainable = False  # never trains: only the forged answer says it does
    return model
"""


@pytest.mark.slow
def test_a_forged_training_answer_does_not_pass_lesson_08s_training_check():
    from vae_tf.grading.notebook_code import exercise_code_from_path

    solution = exercise_code_from_path(
        Path(__file__).resolve().parents[1] / "solutions" / "08_convolutional_vae.ipynb"
    )
    cells = [
        (name, FROZEN_DECODER_FORGED_TRAINING if name == "build_conv_decoder" else source)
        for name, source in solution.cells
        if name in ("build_conv_encoder", "build_conv_decoder")
    ]
    attacker = ExerciseCode(
        path="attacker.ipynb",
        lesson="08_convolutional_vae",
        exercises=["build_conv_encoder", "build_conv_decoder"],
        cells=cells,
    )
    (result,) = grade({"attacker": attacker}, seed=2026).values()
    assert result.status == "ok", result.message
    decoder = result.exercises["build_conv_decoder"]
    (fit,) = [r for r in decoder.results if r.name.startswith("trains")]
    assert not fit.passed, "a forged training answer passed the training check"
    assert "outputs on the same inputs did not" in fit.message, fit.message
