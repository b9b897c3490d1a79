"""The package as the grading worker sees it: without the lesson's reference answers.

:func:`redacted_package` writes a copy of ``vae_tf`` in which the reference
implementations of a lesson's exercises are unavailable, so that a student's exercise
cell cannot earn points with the package's own answer, however it reaches it: by
import, ``importlib``, reading the source (``inspect.getsource`` or the ``.py`` file)
or inheriting a method (``class MyVAE(VAE): pass``). The copy is made by an AST rewrite:
the body of each redacted function is replaced by a ``raise`` that says so.

What is redacted for a lesson (redaction by default, with an allow-list):

- every function, and every method of every class, of every module of ``vae_tf``, unless
  :data:`ALLOWED` names its module (``"*"``: all of it) or the function or class in it:
  the allow-list holds what a graded worker needs (the package's plumbing, data loading,
  plotting, the worker's own modules and the VAE class its probes build), so that a
  helper nobody thought of (``kl_per_dimension``, another lesson's answer) is not a way
  to the points;
- the package functions and methods named in the ``references`` of the lesson's
  exercises (``"vae_tf.losses:kl_divergence"``, ``"vae_tf.models:VAE.train_step"``),
  allowed or not;
- in every check module (``vae_tf/grading/exercises/``), every verdict and every helper
  marked ``@judge_only``: they compute the expected answers, and the worker only needs
  the probes and the inputs.

Module-level code stays (constants, classes, decorators), so every module still imports;
only the bodies of the functions are replaced. :func:`is_redacted` answers the same
question for one name without making a copy (the self-check uses it,
:mod:`vae_tf.grading.package_uses`).

The sandbox mounts the copy, read-only, over the real package for the worker only;
the notebook run keeps the full package.
"""

from __future__ import annotations

import ast
import functools
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import vae_tf

NOT_AVAILABLE = "{name}: the package's own answer is not available while grading; write your own"

EVERYTHING = "*"

# What a graded worker may use; every other function and class of ``vae_tf`` is stubbed in
# its copy. Keys are module names, so a module that moves is one line here; a module that
# is not listed (``vae_tf.training``, ``vae_tf.latent``, ``vae_tf.experiments``,
# ``vae_tf.cli``, ...) needs no line.
# A lesson's ``references`` are redacted even where this list allows them.
ALLOWED: dict[str, str | frozenset[str]] = {
    # the package's plumbing
    "vae_tf": EVERYTHING,
    "vae_tf._files": EVERYTHING,
    "vae_tf.config": EVERYTHING,
    "vae_tf.validation": EVERYTHING,
    "vae_tf.recipe": EVERYTHING,  # the VAE reads its architectures, built at import
    "vae_tf.cli_args": EVERYTHING,  # argument types, built at import (so vae_tf.cli imports)
    # data loading and plotting (lesson 01's answers there are its references)
    "vae_tf.data": EVERYTHING,
    "vae_tf.plotting": EVERYTHING,
    # the VAE the probes build and the students subclass, and what it calls
    "vae_tf.models": frozenset(
        {
            "TrainingDiverged",
            "_torch_like_initializer",
            "layer_seed",
            "_seeded",
            "as_images",
            "Sampling",
            "_dense",
            "_conv",
            "_hidden_stack",
            "build_encoder",
            "build_decoder",
            "_shape_of",
            "_check_encoder",
            "_check_decoder",
            "_replica_scaled",
            "_StopOnDivergence",
            "_CourseModel",
            "VAE",
        }
    ),
    "vae_tf.losses": frozenset(
        {"clip_log_var", "kl_per_dimension", "kl_divergence", "reconstruction_loss"}
    ),
    # the grading worker and what it imports (the check modules' verdicts are stubbed apart)
    "vae_tf.grading": EVERYTHING,
    "vae_tf.grading.notebook_code": EVERYTHING,
    "vae_tf.grading.answers": EVERYTHING,
    "vae_tf.grading.checking": EVERYTHING,
    "vae_tf.grading.registry": EVERYTHING,
    "vae_tf.grading.worker": EVERYTHING,
    "vae_tf.grading.exercises": EVERYTHING,
}

EXERCISES = "vae_tf.grading.exercises"


def _raise_statement(name: str) -> ast.stmt:
    message = NOT_AVAILABLE.format(name=name)
    return ast.parse(f"raise RuntimeError({message!r})").body[0]


def _is_judge_side(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A verdict (``@ex.check(...)``) or a helper marked ``@judge_only``."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "judge_only":
            return True
        if isinstance(target, ast.Attribute) and target.attr in ("check", "judge_only"):
            return True
    return False


def allowed_names(module: str) -> str | frozenset[str]:
    """What :data:`ALLOWED` lets a graded worker use of ``module``: ``"*"`` or a set of names.

    A check module (``vae_tf.grading.exercises.lesson_NN_*``) is allowed whole; its
    verdicts are stubbed apart.
    """
    if module.startswith(EXERCISES + "."):
        return EVERYTHING
    return ALLOWED.get(module, frozenset())


def is_redacted(module: str, qualname: str, lesson: str) -> bool:
    """Whether ``module``'s ``qualname`` raises "not available" when ``lesson`` is graded.

    Parameters
    ----------
    module : str
        A module of the package, e.g. ``"vae_tf.losses"``.
    qualname : str
        A function, class or method in it, e.g. ``"kl_divergence"`` or ``"VAE.train_step"``.
    lesson : str
        The lesson graded, e.g. ``"03_vae"``.
    """
    references = references_of(lesson).get(module, [])
    if any(qualname == ref or qualname.startswith(ref + ".") for ref in references):
        return True
    allowed = allowed_names(module)
    if allowed == EVERYTHING or qualname.split(".")[0] in allowed:
        return False
    # Only functions and classes are stubbed; constants stay.
    return qualname.split(".")[0] in _definitions(module)


@functools.cache
def _definitions(module: str) -> frozenset[str]:
    """The functions and classes defined at the top of ``module`` (read, not imported)."""
    root = Path(vae_tf.__file__).resolve().parent
    parts = module.split(".")[1:]
    path = root.joinpath(*parts).with_suffix(".py")
    if not path.is_file():
        path = root.joinpath(*parts, "__init__.py")
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(name.split(".")[0] for name, _ in _functions_in(tree.body, ""))


def _functions_in(body: list[ast.stmt], prefix: str):
    """``(qualname, node)`` of every function and method directly in ``body`` (classes too)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _functions_in(node.body, f"{prefix}{node.name}.")


def _find(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return dict(_functions_in(tree.body, "")).get(qualname)


def _redact_source(
    source: str, qualnames: list[str], module: str, *, judge_side: bool, allowed: Any = EVERYTHING
) -> str:
    tree = ast.parse(source)
    for qualname in qualnames:
        function = _find(tree, qualname)
        if function is None:
            raise ValueError(f"redaction: {module} has no function {qualname!r}")
        function.body = [_raise_statement(f"{module}.{qualname}")]
    if allowed != EVERYTHING:
        for qualname, function in _functions_in(tree.body, ""):
            if qualname.split(".")[0] not in allowed:
                function.body = [_raise_statement(f"{module}.{qualname}")]
    if judge_side:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_judge_side(node):
                node.body = [_raise_statement(f"{module}.{node.name} (judge side)")]
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def references_of(lesson: str) -> dict[str, list[str]]:
    """Module name -> qualified names of the lesson's reference answers in that module."""
    from vae_tf.grading.registry import exercises_of_lesson

    found: dict[str, list[str]] = defaultdict(list)
    for ex in exercises_of_lesson(lesson):
        for reference in ex.references:
            module, _, qualname = reference.partition(":")
            if qualname not in found[module]:
                found[module].append(qualname)
    return dict(found)


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("vae_tf", *parts))


def redacted_package(lesson: str, dest: Path) -> Path:
    """Write the package for grading ``lesson`` under ``dest``; return ``dest / "vae_tf"``.

    Parameters
    ----------
    lesson : str
        The lesson being graded, e.g. ``"03_vae"``.
    dest : Path
        An existing folder; put it first on ``PYTHONPATH`` (or mount its ``vae_tf`` over
        the real package) so that ``import vae_tf`` finds the copy.

    Returns
    -------
    Path
        The redacted package folder.
    """
    source = Path(vae_tf.__file__).resolve().parent
    target = Path(dest) / "vae_tf"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    references = references_of(lesson)
    modules = {_module_name(path, target): path for path in sorted(target.rglob("*.py"))}
    for module in references:
        if module not in modules:
            raise ValueError(f"redaction: {module} is not a module of vae_tf")
    for module, path in modules.items():
        allowed = allowed_names(module)
        qualnames = references.get(module, [])
        judge_side = module.startswith(EXERCISES + ".")
        if allowed == EVERYTHING and not qualnames and not judge_side:
            continue
        text = path.read_text(encoding="utf-8")
        path.write_text(
            _redact_source(text, qualnames, module, judge_side=judge_side, allowed=allowed),
            encoding="utf-8",
        )
    return target
