"""Redaction by default: the package's answers are out of reach while grading, and the
self-check says so at once.

- ``vae_tf.grading.redact``: every package function not on the allow-list
  (``redact.ALLOWED``) and every lesson reference is a ``raise`` in the worker's copy; the
  allow-list names only modules that exist, and what it allows still imports and runs;
- ``vae_tf.grading.package_uses``: a cell that uses a package answer (import, attribute,
  ``importlib`` string, inheritance) is found, and an honest solution cell is not;
- the self-check (``vae_tf.grading.check``) prints "PASSED HERE ONLY, 0 WHEN GRADED" for
  such a cell and nothing of the kind for honest code;
- through the sandbox, as the grader grades: answers that were reachable before
  (``kl_per_dimension``, the package's ``build_encoder``, ``as_images``, another lesson's
  callback) earn 0.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import linecache
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import vae_tf
from vae_tf.grading import check
from vae_tf.grading.package_uses import (
    package_answers_used,
    uses_in_source,
    uses_of_object,
)
from vae_tf.grading.redact import (
    ALLOWED,
    NOT_AVAILABLE,
    is_redacted,
    redacted_package,
)
from vae_tf.grading.registry import get_exercise

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(vae_tf.__file__).resolve().parent


# --------------------------------------------------------------------------- the allow-list


def test_every_allowed_module_exists_so_a_rename_must_update_the_list():
    for module in ALLOWED:
        assert importlib.util.find_spec(module) is not None, (
            f"ALLOWED names {module}: no such module"
        )


@pytest.mark.parametrize(
    ("module", "qualname", "lesson"),
    [
        ("vae_tf.losses", "kl_per_dimension", "03_vae"),
        ("vae_tf.losses", "kl_divergence", "03_vae"),
        ("vae_tf.models", "build_encoder", "03_vae"),
        ("vae_tf.models", "as_images", "01_data"),
        ("vae_tf.models", "VAE.train_step", "03_vae"),
        ("vae_tf.latent", "sample_with_sigma_factor", "05_effect_of_sigma"),
        # not a reference of the lesson, and not on the allow-list: redacted by default
        ("vae_tf.latent", "sample_with_sigma_factor", "01_data"),
        ("vae_tf.latent", "interpolate", "07_beta_and_posterior_collapse"),
        ("vae_tf.callbacks", "LinearKLWarmup", "07_beta_and_posterior_collapse"),
        ("vae_tf.evaluation", "iwae_bound", "03_vae"),
        ("vae_tf.models", "Autoencoder.train_step", "04_effect_of_mu"),
    ],
)
def test_package_answers_are_redacted(module, qualname, lesson):
    assert is_redacted(module, qualname, lesson)


@pytest.mark.parametrize(
    ("module", "qualname", "lesson"),
    [
        ("vae_tf.losses", "reconstruction_loss", "03_vae"),  # lesson 03's train_step uses it
        ("vae_tf.models", "as_images", "03_vae"),
        ("vae_tf.models", "VAE", "03_vae"),  # the class the students subclass
        ("vae_tf.models", "VAE.train_step", "04_effect_of_mu"),
        ("vae_tf.models", "build_encoder", "04_effect_of_mu"),  # the probes' VAE builds it
        ("vae_tf.data", "load_mnist", "01_data"),
        ("vae_tf.losses", "LOG_VAR_MAX", "03_vae"),  # a constant: never stubbed
        ("vae_tf.grading.answers", "describe", "03_vae"),
    ],
)
def test_what_the_worker_needs_stays_available(module, qualname, lesson):
    assert not is_redacted(module, qualname, lesson)


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    found = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = node
            elif isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")

    walk(ast.parse(path.read_text()).body, "")
    return found


def _is_stub(node: ast.FunctionDef) -> bool:
    return (
        len(node.body) == 1
        and isinstance(node.body[0], ast.Raise)
        and "not available while grading" in ast.unparse(node.body[0])
    )


@pytest.fixture(scope="module")
def copy_03(tmp_path_factory) -> Path:
    return redacted_package("03_vae", tmp_path_factory.mktemp("redacted"))


def test_every_function_of_a_module_off_the_list_is_a_raise(copy_03):
    for name in ("training.py", "latent.py", "evaluation.py", "callbacks.py", "generation.py"):
        functions = _functions(copy_03 / name)
        assert functions, name
        stubs = [qualname for qualname, node in functions.items() if _is_stub(node)]
        assert stubs == list(functions), f"{name}: not stubbed: {set(functions) - set(stubs)}"


def test_a_partly_allowed_module_keeps_exactly_its_allowed_names(copy_03):
    functions = _functions(copy_03 / "losses.py")
    assert _is_stub(functions["kl_per_dimension"]) and _is_stub(functions["kl_divergence"])
    assert not _is_stub(functions["reconstruction_loss"])
    models = _functions(copy_03 / "models.py")
    assert _is_stub(models["build_encoder"]) and _is_stub(models["VAE.train_step"])
    assert not _is_stub(models["VAE.__init__"]) and not _is_stub(models["build_decoder"])
    assert all(_is_stub(node) for q, node in models.items() if q.startswith("Autoencoder."))


def test_a_module_allowed_whole_is_copied_byte_for_byte(copy_03):
    for name in ("config.py", "validation.py", "grading/answers.py", "grading/worker.py"):
        assert (copy_03 / name).read_bytes() == (PACKAGE / name).read_bytes(), name


def test_the_stub_says_what_is_missing_and_what_to_do():
    text = NOT_AVAILABLE.format(name="vae_tf.losses.kl_per_dimension")
    assert text.startswith("vae_tf.losses.kl_per_dimension:")
    assert "write your own" in text


IMPORT_EVERYTHING = """\
import importlib, json, pkgutil, sys
import numpy as np
import vae_tf
broken = {}
for module in pkgutil.walk_packages(vae_tf.__path__, "vae_tf."):
    try:
        importlib.import_module(module.name)
    except BaseException as error:
        broken[module.name] = repr(error)[:200]
from vae_tf.models import VAE
vae = VAE(latent_dim=2, hidden_units=8)
losses = vae.compute_losses(np.zeros((2, 28, 28, 1), "float32"))
try:
    from vae_tf.losses import kl_per_dimension
    kl_per_dimension(0.0, 0.0)
    reached = "kl_per_dimension ran"
except RuntimeError as error:
    reached = str(error)
print(json.dumps({"broken": broken, "kl": float(losses["kl_loss"]), "reached": reached}))
"""


@pytest.mark.parametrize("lesson", ["04_effect_of_mu", "03_vae"])
def test_every_module_imports_in_the_copy_and_the_vae_still_runs(lesson, tmp_path):
    # Lesson 04's probes build a VAE and compute its losses; in lesson 03 they are answers.
    redacted_package(lesson, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "VAE_TF_FAST": "1"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if lesson == "03_vae":  # the losses are its references: the VAE's own step raises
        assert "not available while grading" in done.stderr, done.stderr[-2000:]
        return
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["broken"] == {}
    assert report["kl"] >= 0.0
    assert report["reached"] == "kl_per_dimension ran"  # allowed: the VAE needs it


# --------------------------------------------------------------------------- finding uses in a cell

USES = [
    ("from vae_tf.losses import kl_per_dimension\n", "vae_tf.losses.kl_per_dimension"),
    (
        "from vae_tf import losses\n\ndef kl_divergence(mu, log_var):\n"
        "    return losses.kl_per_dimension(mu, log_var).sum(-1)\n",
        "vae_tf.losses.kl_per_dimension",
    ),
    ("import vae_tf.losses as L\nkl_divergence = L.kl_divergence\n", "vae_tf.losses.kl_divergence"),
    ("import vae_tf\nf = vae_tf.losses.kl_divergence\n", "vae_tf.losses.kl_divergence"),
    (
        "import importlib\nm = importlib.import_module('vae_tf.losses')\nf = m.kl_per_dimension\n",
        "vae_tf.losses.kl_per_dimension",
    ),
    (
        "import importlib\nm = importlib.import_module('vae_tf.losses')\n"
        "f = getattr(m, 'kl_per_dimension')\n",
        "vae_tf.losses.kl_per_dimension",
    ),
    ("from vae_tf.models import build_encoder\n", "vae_tf.models.build_encoder"),
    # a name re-exported by another module is the function it is
    ("from vae_tf.models import kl_divergence\n", "vae_tf.losses.kl_divergence"),
    ("from vae_tf.models import VAE\nstep = VAE.train_step\n", "vae_tf.models.VAE.train_step"),
    (
        "import inspect, vae_tf.losses\ninspect.getsource(vae_tf.losses)\nvae_tf.losses.__file__\n",
        "vae_tf.losses.__file__",
    ),
    # a re-export is named where it is defined
    ("from vae_tf.experiments import interpolate\n", "vae_tf.latent.interpolate"),
]


@pytest.mark.parametrize(("source", "expected"), USES)
def test_a_use_of_a_package_answer_in_the_cell_is_found(source, expected):
    assert expected in uses_in_source(source, "03_vae")


def test_a_string_naming_an_answer_is_found():
    found = uses_in_source("target = 'vae_tf.losses:kl_per_dimension'\n", "03_vae")
    assert found == ["vae_tf.losses.kl_per_dimension"]


@pytest.mark.parametrize(
    "source",
    [
        "from vae_tf import losses\nx = losses.reconstruction_loss\n",
        "from vae_tf.models import VAE, as_images\n",
        "from vae_tf.losses import LOG_VAR_MAX, LOG_VAR_MIN\n",
        "from vae_tf.data import load_mnist\n",
        "import numpy as np\nfrom keras import ops\n",
        "def broken(:\n",  # does not parse: the self-check reports that itself
    ],
)
def test_allowed_helpers_and_other_libraries_are_not_reported(source):
    assert uses_in_source(source, "03_vae") == []


def _solution_cells() -> list[tuple[str, str, str]]:
    cells = []
    for path in sorted((REPO_ROOT / "solutions").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        lesson = notebook["metadata"]["vae_course"]["lesson"]
        for cell in notebook["cells"]:
            exercise = cell.get("metadata", {}).get("vae_course", {}).get("exercise")
            if exercise:
                source = cell["source"]
                cells.append(
                    (lesson, exercise, "".join(source) if isinstance(source, list) else source)
                )
    return cells


def test_no_honest_solution_cell_is_reported():
    cells = _solution_cells()
    assert len(cells) >= 20
    reported = {
        (lesson, exercise): uses_in_source(source, lesson)
        for lesson, exercise, source in cells
        if uses_in_source(source, lesson)
    }
    assert reported == {}


def _cell(source: str, number: int) -> dict[str, Any]:
    """Run ``source`` as Jupyter runs a cell: a file name that ``linecache`` knows."""
    filename = f"/tmp/ipykernel_0/{number}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_the_package_object_under_the_students_name_is_found():
    from vae_tf.losses import kl_divergence

    assert uses_of_object(kl_divergence, "03_vae") == ["vae_tf.losses.kl_divergence"]


def test_an_inherited_answer_is_found_and_an_own_step_is_not():
    lazy = _cell("from vae_tf.models import VAE\n\n\nclass MyVAE(VAE):\n    pass\n", 1)
    assert "vae_tf.models.VAE.train_step" in uses_of_object(lazy["MyVAE"], "03_vae")
    own = _cell(
        "from vae_tf.models import VAE\n\n\nclass MyVAE(VAE):\n"
        "    def train_step(self, data):\n        return {}\n",
        2,
    )
    assert uses_of_object(own["MyVAE"], "03_vae", ("train_step",)) == []
    calls = _cell(
        "from vae_tf.models import VAE\n\n\nclass MyVAE(VAE):\n"
        "    def train_step(self, data):\n        return self.compute_losses(data)\n",
        3,
    )
    assert uses_of_object(calls["MyVAE"], "03_vae", ("train_step",)) == [
        "vae_tf.models.VAE.compute_losses"
    ]


def test_a_package_function_read_from_an_earlier_cell_is_found():
    namespace = _cell("from vae_tf.losses import kl_per_dimension\n", 4)
    exec(
        compile(
            "def kl_divergence(mu, log_var):\n    return kl_per_dimension(mu, log_var).sum(-1)\n",
            "/tmp/ipykernel_0/5.py",
            "exec",
        ),
        namespace,
    )
    assert package_answers_used(namespace["kl_divergence"], "03_vae") == [
        "vae_tf.losses.kl_per_dimension"
    ]


# --------------------------------------------------------------------------- the self-check's warning

KL_BY_PER_DIMENSION = """\
from keras import ops
from vae_tf.losses import kl_per_dimension


def kl_divergence(mu, log_var):
    return ops.sum(kl_per_dimension(mu, log_var), axis=-1)
"""

KL_HONEST = """\
from keras import ops


def kl_divergence(mu, log_var):
    return 0.5 * ops.sum(ops.square(mu) + ops.exp(log_var) - log_var - 1.0, axis=-1)
"""


def test_the_self_check_warns_at_once_when_the_cell_uses_the_packages_answer(capsys):
    namespace = _cell(KL_BY_PER_DIMENSION, 6)
    check("kl_divergence", namespace["kl_divergence"])
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("PASSED HERE ONLY, 0 WHEN GRADED: this cell uses")
    assert "vae_tf.losses.kl_per_dimension" in first
    assert "PASSED: exercise 'kl_divergence'" in out  # the verdict here is still the truth


def test_the_self_check_says_nothing_of_the_kind_for_honest_code(capsys):
    namespace = _cell(KL_HONEST, 7)
    check("kl_divergence", namespace["kl_divergence"])
    out = capsys.readouterr().out
    assert "WHEN GRADED" not in out
    assert out.startswith("PASSED: exercise 'kl_divergence'")


def test_a_failing_cell_that_uses_an_answer_is_told_0_when_graded(capsys):
    namespace = _cell(
        "from vae_tf.losses import kl_per_dimension\n\n\ndef kl_divergence(mu, log_var):\n"
        "    return kl_per_dimension(mu, log_var)\n",
        8,
    )
    check("kl_divergence", namespace["kl_divergence"])
    out = capsys.readouterr().out
    assert out.startswith("0 WHEN GRADED: this cell uses vae_tf.losses.kl_per_dimension")
    assert "NOT YET" in out


def test_the_package_object_itself_is_warned_about(capsys):
    from vae_tf.models import as_images

    check("scale_pixels", as_images)
    out = capsys.readouterr().out
    assert "0 WHEN GRADED: this cell uses vae_tf.models.as_images" in out.splitlines()[0]


# --------------------------------------------------------------------------- through the sandbox


def _grade(lesson: str, cells: list[tuple[str, str]]):
    from vae_tf.grading.notebook_code import ExerciseCode
    from vae_tf.grading.sandbox import run_sandbox

    code = ExerciseCode(
        path="attacker.ipynb", lesson=lesson, exercises=[name for name, _ in cells], cells=cells
    )
    with tempfile.TemporaryDirectory(prefix="vae-tf-redacted-") as folder:
        package = redacted_package(lesson, Path(folder))
        return run_sandbox(code, timeout=600, memory_mb=3000, package=package)


def _assert_zero(result, exercise: str) -> None:
    outcome = result.exercises[exercise]
    assert outcome.max_points == len(get_exercise(exercise).checks)
    assert outcome.points == 0, outcome.verdict()
    messages = "\n".join(failure.message for failure in outcome.failures())
    assert "not available while grading" in messages, messages


BUILD_ENCODER_FROM_THE_PACKAGE = """\
from vae_tf.models import build_encoder as _package_encoder


def build_encoder(latent_dim=2, hidden_units=512):
    return _package_encoder(latent_dim, "mlp", hidden_units)
"""


def test_lesson03_answers_reachable_before_earn_nothing_when_graded():
    result = _grade(
        "03_vae",
        [("build_encoder", BUILD_ENCODER_FROM_THE_PACKAGE), ("kl_divergence", KL_BY_PER_DIMENSION)],
    )
    assert result.status == "ok", result.message
    _assert_zero(result, "build_encoder")
    _assert_zero(result, "kl_divergence")


def test_lesson03_honest_kl_keeps_full_marks_when_graded():
    result = _grade("03_vae", [("kl_divergence", KL_HONEST)])
    outcome = result.exercises["kl_divergence"]
    assert (outcome.points, outcome.max_points) == (outcome.max_points, len(outcome.results))
    assert outcome.passed, outcome.verdict()


SCALE_BY_AS_IMAGES = """\
import numpy as np
from vae_tf.models import as_images


def scale_pixels(images):
    return np.asarray(as_images(np.asarray(images, dtype=np.float32) / 255.0))
"""


def test_lesson01_as_images_earns_nothing_when_graded():
    result = _grade("01_data", [("scale_pixels", SCALE_BY_AS_IMAGES)])
    assert result.status == "ok", result.message
    _assert_zero(result, "scale_pixels")


# Lesson 07's warm-up weight from another module's callback, which no lesson names.
WARMUP_FROM_THE_CALLBACK = """\
from types import SimpleNamespace

import numpy as np
from vae_tf.callbacks import LinearKLWarmup


def kl_warmup_weight(step, warmup_updates, target=1.0):
    # every case through the callback: no warm-up is "the warm-up of 1 update, done"
    updates = warmup_updates if warmup_updates > 0 else 1
    done = step if warmup_updates > 0 else updates
    callback = LinearKLWarmup(updates, target)
    iterations = SimpleNamespace(numpy=lambda: np.int64(done))
    model = SimpleNamespace(optimizer=SimpleNamespace(iterations=iterations), kl_weight=None)
    callback.set_model(model)
    callback._set()
    return float(model.kl_weight)
"""


def test_another_modules_helper_that_no_lesson_names_earns_nothing_when_graded():
    result = _grade(
        "07_beta_and_posterior_collapse", [("kl_warmup_weight", WARMUP_FROM_THE_CALLBACK)]
    )
    assert result.status == "ok", result.message
    _assert_zero(result, "kl_warmup_weight")


def test_the_callback_attack_would_pass_with_the_full_package():
    # The attack above is a real answer: with the package unredacted it passes the checks.
    from vae_tf.grading.checking import run_checks

    namespace = _cell(WARMUP_FROM_THE_CALLBACK, 9)
    assert run_checks("kl_warmup_weight", namespace["kl_warmup_weight"], seed=3).passed


def test_the_installed_package_holds_no_solution_text():
    # Solutions live in solutions/ and tests/ (outside the package); the package ships .py only.
    assert not list(PACKAGE.rglob("*.ipynb"))
    for path in PACKAGE.rglob("*.py"):
        assert "### BEGIN SOLUTION\n" not in path.read_text(), path
    config = (REPO_ROOT / "pyproject.toml").read_text()
    assert "package-data" not in config and "package_data" not in config


def test_the_train_step_probes_own_encoder_is_no_answer_to_build_encoder():
    # The worker holds it (the package's build_encoder is redacted in lesson 03), so a
    # student can import it: it must earn nothing as exercise 1.
    from vae_tf.grading.checking import run_checks
    from vae_tf.grading.exercises.lesson_03_vae import _probe_encoder

    def build_encoder(latent_dim=2, hidden_units=512):
        return _probe_encoder()

    for seed in (1, 2):
        assert run_checks("build_encoder", build_encoder, seed=seed).points == 0
