"""Run-wide settings: quiet TensorFlow logs, the fast setting used by CI, and seeding.

Importing ``vae_tf`` (any module of it) calls :func:`install_quiet_tensorflow`, which
hides TensorFlow's C++ log lines (``failed call to cuInit ... CUDA error``, the oneDNN and
CPU-feature notices, ``absl::InitializeLog``), absl's Python warnings (such as
tensorflow-datasets' ``Variant folder ... has no dataset_info.json``) and TensorFlow's
false alarm about retracing when several Keras models are trained or used in turn, unless the
environment variable ``VAE_TF_VERBOSE=1`` is set (``TF_CPP_MIN_LOG_LEVEL`` is set to 3
otherwise, whatever it was). On a machine without a GPU those lines
are harmless, yet they fill the first screen of every command and read as errors.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import sys
import tempfile
from typing import Any

FAST_ENV = "VAE_TF_FAST"
VERBOSE_ENV = "VAE_TF_VERBOSE"

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when ``VAE_TF_FAST`` is set to 1/true/yes: fewer epochs and images, for CI.

    Notebooks and the CLI read it to shrink their work; numbers printed in fast mode
    say so, because they come from tiny runs.
    """
    return os.environ.get(FAST_ENV, "").strip().lower() in _TRUE


def verbose_mode() -> bool:
    """True when ``VAE_TF_VERBOSE`` is set to 1/true/yes: TensorFlow's log lines are shown."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in _TRUE


# ---------------------------------------------------------------------------
# Quiet TensorFlow
# ---------------------------------------------------------------------------
# What hides each line, measured with TensorFlow 2.21 on a CPU-only machine:
# - ``TF_CPP_MIN_LOG_LEVEL=3`` hides the C++ lines logged after import: ``failed call to
#   cuInit: ... CUDA error`` (an E line) and the XLA service notices (I lines). Level 2
#   would still show the cuInit line, so a 2 set elsewhere is raised to 3: the one switch
#   that shows every line is ``VAE_TF_VERBOSE=1``.
# - No setting hides the lines written while TensorFlow's shared libraries load (``All log
#   messages before absl::InitializeLog()``, ``oneDNN custom operations are on``, ``Could
#   not find cuda drivers``, ``cpu_feature_guard``): they go to file descriptor 2 before
#   any log level is read. So the import itself runs with descriptor 2 sent to a
#   temporary file, which is replayed if the import fails.
# - absl's Python logger (tensorflow-datasets' warnings) obeys ``absl.logging.set_verbosity``.
# - TensorFlow's Python logger ("tensorflow", lines ``WARNING:tensorflow:...``) is neither:
#   a filter on it drops the one false alarm we know (``_KerasRetracingFilter``).


def _import_with_stderr_captured(exec_module: Any, module: Any) -> None:
    """Run ``exec_module(module)`` with file descriptor 2 captured; replay it on failure."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            exec_module(module)
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            sys.stderr.flush()
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _KerasRetracingFilter(logging.Filter):
    """Drop TensorFlow's retracing warning when it is about Keras' per-model step functions.

    Keras builds one ``tf.function`` per model for training, one for evaluation and one for
    prediction, each from the same Python function for every model
    (``TensorFlowTrainer._make_function``'s ``multi_step_on_iterator`` and
    ``one_step_on_data``, ``make_predict_function``'s ``one_step_on_data_distributed`` and
    ``multi_step_on_data``); TensorFlow counts the calls of every function made from that
    code together. So training or scoring several fresh models in one process (the
    loss-terms experiment, the beta sweep, the digit classifiers), each traced exactly
    once, reads to it as "5 out of the last 9 calls ... triggered tf.function retracing".
    A retracing of any other function, ours included, is still shown.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if verbose_mode():
            return True
        message = record.getMessage()
        if "triggered tf.function retracing" not in message:
            return True
        return not any(step in message for step in _KERAS_STEPS)


# The qualified names of Keras' per-model step functions (Keras 3.3 to 3.15).
_KERAS_STEPS = (
    "TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator",
    "TensorFlowTrainer._make_function.<locals>.one_step_on_data",
    "TensorFlowTrainer.make_train_function.<locals>.",
    "TensorFlowTrainer.make_test_function.<locals>.",
    "TensorFlowTrainer.make_predict_function.<locals>.",
)


def _quiet_tensorflow_logger() -> None:
    """Add :class:`_KerasRetracingFilter` to TensorFlow's Python logger, once.

    ``logging.getLogger("tensorflow")`` is the logger TensorFlow writes its Python
    warnings to (``WARNING:tensorflow:...``); taking it imports nothing.
    """
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(item, _KerasRetracingFilter) for item in logger.filters):
        logger.addFilter(_KerasRetracingFilter())


def _quiet_absl() -> None:
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


class _QuietImportFinder:
    """An import hook: the first ``import tensorflow`` runs quietly, and absl's logger is
    set to errors only as soon as ``absl.logging`` is imported (by TensorFlow or by
    tensorflow-datasets, which imports TensorFlow only when it needs it).

    The decision is taken at those imports, not when ``vae_tf`` is imported, so that
    ``vae-tf --verbose`` can set ``VAE_TF_VERBOSE`` after ``vae_tf`` is imported.
    """

    names = ("tensorflow", "absl.logging")

    def __init__(self) -> None:
        self.pending = set(self.names)
        self.busy: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.pending or fullname in self.busy:
            return None
        if verbose_mode():
            return None  # the normal import, every line shown
        # ``importlib.util.find_spec`` alone (tensorflow-datasets asks it) imports nothing,
        # so the hook stays until the module is really executed.
        self.busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy.discard(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            self.pending.discard(fullname)
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)
            try:
                if fullname == "tensorflow":
                    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
                    _import_with_stderr_captured(original, module)
                else:
                    original(module)
            finally:
                del loader.exec_module  # back to the class's method
            _quiet_absl()

        loader.exec_module = exec_module
        return spec


def install_quiet_tensorflow() -> None:
    """Make TensorFlow quiet from now on, unless ``VAE_TF_VERBOSE=1`` (see the module doc).

    Called when ``vae_tf`` is imported. When TensorFlow was imported before ``vae_tf``,
    its start-up lines are out already; only absl's verbosity and the log level (which
    TensorFlow may have read by then) can still be set. So notebooks and scripts import
    ``vae_tf`` before ``keras`` or ``tensorflow``.
    """
    _quiet_tensorflow_logger()  # decides per line, so VAE_TF_VERBOSE may be set later
    if any(isinstance(finder, _QuietImportFinder) for finder in sys.meta_path):
        return
    if not verbose_mode() and "tensorflow" in sys.modules:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not verbose_mode():
        _quiet_absl()
    finder = _QuietImportFinder()
    finder.pending -= set(sys.modules)
    if finder.pending:
        sys.meta_path.insert(0, finder)


# ---------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (through Keras) so that a run can be repeated.

    For notebooks and scripts (a student's own layers and draws). The package never calls
    it: its models, pipelines and draws are seeded from ``Recipe.seed`` directly.
    """
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


# The versions the course is tested with; Colab upgrades TensorFlow/Keras without warning.
SUPPORTED = {"tensorflow": ((2, 16), (2, 22)), "keras": ((3, 3), (4, 0))}


def _version_tuple(version: str) -> tuple[int, int]:
    parts = [
        int("".join(ch for ch in part if ch.isdigit()) or 0) for part in version.split(".")[:2]
    ]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def check_environment(verbose: bool = True) -> dict[str, str]:
    """Check that TensorFlow and Keras are versions this course supports.

    Every lesson calls this in its first code cell. It prints the versions (and whether
    the fast setting is on) and raises a ``RuntimeError`` that says what to install when
    a version is outside the supported range, instead of a confusing error later.

    Returns
    -------
    dict mapping package name to version string.
    """
    import keras
    import tensorflow as tf

    found = {"tensorflow": tf.__version__, "keras": keras.__version__}
    problems = []
    for name, version in found.items():
        low, high = SUPPORTED[name]
        if not low <= _version_tuple(version) < high:
            problems.append(
                f"{name} {version} is not supported: this course needs "
                f"{name}>={low[0]}.{low[1]},<{high[0]}.{high[1]}"
            )
    if problems:
        raise RuntimeError(
            "; ".join(problems)
            + '. Fix: pip install "tensorflow>=2.16,<2.22" "keras>=3.3,<4", then restart the kernel.'
        )
    if verbose:
        mode = "ON (tiny runs, numbers are not meaningful)" if fast_mode() else "off"
        print(
            f"TensorFlow {found['tensorflow']}, Keras {found['keras']}: supported. Fast setting: {mode}."
        )
    return found
