"""The package as the grading worker sees it: without the lesson's reference answers.

:func:`redacted_package` writes a copy of ``vae_tf`` in which the reference
implementations of a lesson's exercises are unavailable, so that a student's exercise
cell cannot earn points with the package's own answer, however it reaches it: by
import, ``importlib``, reading the source (``inspect.getsource`` or the ``.py`` file)
or inheriting a method (``class MyVAE(VAE): pass``). The copy is made by an AST rewrite:
the body of each redacted function is replaced by a ``raise`` that says so.

What is redacted for a lesson:

- the package functions and methods named in the ``references`` of the lesson's
  exercises (``"vae_tf.losses:kl_divergence"``, ``"vae_tf.models:VAE.train_step"``);
- in every check module (``vae_tf/grading/exercises/``), every verdict and every helper
  marked ``@judge_only``: they compute the expected answers, and the worker only needs
  the probes and the inputs.

The sandbox mounts the copy, read-only, over the real package for the worker only;
the notebook run keeps the full package.
"""

from __future__ import annotations

import ast
import shutil
from collections import defaultdict
from pathlib import Path

import vae_tf

NOT_AVAILABLE = "{name}: the package's own answer is not available while grading; write your own"


def _raise_statement(name: str) -> ast.stmt:
    message = NOT_AVAILABLE.format(name=name)
    return ast.parse(f"raise RuntimeError({message!r})").body[0]


def _is_judge_side(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A verdict (``@ex.verdict(...)``) or a helper marked ``@judge_only``."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "judge_only":
            return True
        if isinstance(target, ast.Attribute) and target.attr in ("verdict", "judge_only"):
            return True
    return False


def _find(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    body: list[ast.stmt] = tree.body
    parts = qualname.split(".")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        for node in body:
            if (
                last
                and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.name == part
            ):
                return node
            if not last and isinstance(node, ast.ClassDef) and node.name == part:
                body = node.body
                break
        else:
            return None
    return None


def _redact_source(source: str, qualnames: list[str], module: str, *, judge_side: bool) -> str:
    tree = ast.parse(source)
    for qualname in qualnames:
        function = _find(tree, qualname)
        if function is None:
            raise ValueError(f"redaction: {module} has no function {qualname!r}")
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
    to_redact: dict[Path, tuple[str, list[str]]] = {}
    for module, qualnames in references_of(lesson).items():
        parts = module.split(".")
        if parts[0] != "vae_tf":
            raise ValueError(f"redaction: {module} is not a module of vae_tf")
        to_redact[target.joinpath(*parts[1:]).with_suffix(".py")] = (module, qualnames)
    for path in sorted((target / "grading" / "exercises").glob("*.py")):
        module = "vae_tf.grading.exercises." + path.stem
        to_redact.setdefault(path, (module, []))
    for path, (module, qualnames) in to_redact.items():
        judge_side = path.parent == target / "grading" / "exercises"
        text = path.read_text(encoding="utf-8")
        path.write_text(
            _redact_source(text, qualnames, module, judge_side=judge_side), encoding="utf-8"
        )
    return target
