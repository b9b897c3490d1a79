"""Uses of the package's own answers in a student's exercise cell, found for the self-check.

The grader runs exercise cells with the package redacted (:mod:`vae_tf.grading.redact`):
a cell that calls ``vae_tf.losses.kl_per_dimension`` passes its self-check in the
notebook and earns 0 when graded. :func:`package_answers_used` finds such uses at once,
so the self-check can say so (:data:`WARNING`) instead of disagreeing with the grade
silently. It looks in two places:

- the cell's source (:func:`uses_in_source`): ``import`` and ``from ... import`` of the
  package, attribute access through them (``losses.kl_per_dimension``, also
  ``vae_tf.data.__file__`` to read a module's source), and strings naming a module or a
  function (``importlib.import_module("vae_tf.losses")``, ``getattr(m, "kl_divergence")``);
- the object itself (:func:`uses_of_object`): the package's own function or class under
  the student's name, a method inherited from the package (``class MyVAE(VAE): pass``),
  or a name its code reads that holds a redacted package function.

A name counts when :func:`vae_tf.grading.redact.is_redacted` says it raises while grading
the lesson; allowed helpers (``vae_tf.losses.reconstruction_loss`` in lesson 03, the
``VAE`` class) are not reported.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import linecache
import types
from typing import Any

from vae_tf.grading.redact import allowed_names, is_redacted

WARNING = (
    "{head}: this cell uses {names}. The grader runs your cell without the package's "
    "own answers, so this exercise earns 0 there: write it yourself."
)
SOURCE_ATTRIBUTES = ("__file__", "__spec__", "__loader__", "__cached__")


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _split(dotted: str) -> tuple[str, str] | None:
    """``"vae_tf.losses.kl_divergence"`` -> ``("vae_tf.losses", "kl_divergence")``; a module
    alone -> ``(module, "")``; None if it is not in the package."""
    dotted = dotted.replace(":", ".")
    if dotted != "vae_tf" and not dotted.startswith("vae_tf."):
        return None
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if _module_exists(module):
            return module, ".".join(parts[cut:])
    return None


def _redacted_dotted(dotted: str, lesson: str) -> str | None:
    """The redacted package function or class ``dotted`` reaches, if it reaches one.

    ``dotted`` is resolved in the full package (the self-check runs with it), so a name
    re-exported by another module (``vae_tf.models.kl_divergence``) counts as the function
    it is; a module's ``__file__`` counts when that module holds a redacted answer.
    """
    found = _split(dotted)
    if found is None or not found[1]:
        return None
    module, qualname = found
    parts = qualname.split(".")
    if parts[0] in SOURCE_ATTRIBUTES:
        return f"{module}.{parts[0]}" if _has_redacted(module, lesson) else None
    try:
        obj: Any = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a module that does not import is no answer
        return None
    for part in parts:
        try:
            obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 - no such name: nothing to report
            return None
        real = _package_name(obj)
        if real is not None and is_redacted(*real, lesson):
            return ".".join(real)
    return None


def _has_redacted(module: str, lesson: str) -> bool:
    from vae_tf.grading.redact import references_of

    return module in references_of(lesson) or allowed_names(module) != "*"


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The package path an expression like ``losses.kl_divergence`` stands for, if any."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(names)])


def uses_in_source(source: str, lesson: str) -> list[str]:
    """The package answers (redacted when grading ``lesson``) that ``source`` uses, in order.

    Parameters
    ----------
    source : str
        The code of an exercise cell.
    lesson : str
        The lesson graded, e.g. ``"03_vae"``.

    Returns
    -------
    list of str
        Dotted names, e.g. ``["vae_tf.losses.kl_per_dimension"]``; empty for a cell that
        uses none (or that does not parse: the self-check reports that itself).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases: dict[str, str] = {}
    found: list[str] = []

    def add(dotted: str | None) -> None:
        name = _redacted_dotted(dotted, lesson) if dotted else None
        if name and name not in found:
            found.append(name)

    # Imports first (wherever they are), so that names bound by them are known below.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "vae_tf":
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases["vae_tf"] = "vae_tf"
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "vae_tf":
                for alias in node.names:
                    dotted = f"{node.module}.{alias.name}"
                    aliases[alias.asname or alias.name] = dotted
                    add(dotted)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            module = _imported_by_string(node.value)
            if module and isinstance(node.targets[0], ast.Name):
                aliases[node.targets[0].id] = module
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            add(_dotted(node, aliases))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if text.startswith("vae_tf") and " " not in text:
                add(text)
        elif isinstance(node, ast.Call) and _is_getattr(node):
            add(_getattr_target(node, aliases))
    return found


def _imported_by_string(node: ast.expr) -> str | None:
    """``"vae_tf.losses"`` for ``importlib.import_module("vae_tf.losses")`` (or
    ``__import__``, whose value is the top package unless ``fromlist`` is given)."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    name = node.args[0]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return None
    function = ast.unparse(node.func)
    if function.endswith("import_module"):
        return name.value
    if function == "__import__":
        return name.value if len(node.args) >= 4 or node.keywords else name.value.split(".")[0]
    return None


def _is_getattr(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2


def _getattr_target(node: ast.Call, aliases: dict[str, str]) -> str | None:
    owner, name = node.args[0], node.args[1]
    base = _dotted(owner, aliases)
    if base is None or not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return None
    return f"{base}.{name.value}"


def _package_name(obj: Any) -> tuple[str, str] | None:
    """``("vae_tf.losses", "kl_divergence")`` for a package function or class, else None."""
    function = getattr(obj, "__func__", obj)
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str)):
        return None
    if module.split(".")[0] != "vae_tf" or "<locals>" in qualname:
        return None
    return module, qualname


def _own_functions(obj: Any) -> list[types.FunctionType]:
    """The Python functions the student's object is made of (itself, or its class's methods)."""
    if _package_name(obj) is not None:
        return []  # the package's own object: reported as such
    if isinstance(obj, types.FunctionType):
        return [obj]
    functions = []
    if isinstance(obj, type):
        for cls in obj.__mro__:
            if cls.__module__.split(".")[0] in ("vae_tf", "keras", "builtins"):
                break
            for value in vars(cls).values():
                value = getattr(value, "fget", value)
                value = getattr(value, "__func__", value)
                value = getattr(value, "python_function", value)
                if isinstance(value, types.FunctionType):
                    functions.append(value)
    return functions


def _codes(code: types.CodeType) -> list[types.CodeType]:
    codes = [code]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            codes.extend(_codes(constant))
    return codes


def uses_of_object(obj: Any, lesson: str, entry_points: tuple[str, ...] = ()) -> list[str]:
    """The package answers (redacted when grading ``lesson``) that ``obj`` is or calls.

    Parameters
    ----------
    obj : object
        The student's function or class.
    lesson : str
        The lesson graded.
    entry_points : tuple of str
        Methods the checks call on a class (``("train_step",)``).

    ``obj`` counts when it is the package's own object under the student's name; a class
    when it inherits a redacted method that the checks call (``entry_points``), that its
    own code calls (``self.compute_losses``), or when it adds no code at all
    (``class MyVAE(VAE): pass``); and a function or method when a name its code reads from
    its module's globals holds a redacted package function or class.
    """
    found: list[str] = []

    def add(thing: Any) -> None:
        real = _package_name(thing)
        if real is not None and is_redacted(*real, lesson):
            name = ".".join(real)
            if name not in found:
                found.append(name)

    add(obj)
    own = _own_functions(obj)
    read = {
        name for function in own for code in _codes(function.__code__) for name in code.co_names
    }
    if isinstance(obj, type):
        for attribute in dir(obj):
            if own and attribute not in read and attribute not in entry_points:
                continue
            try:
                value = inspect.getattr_static(obj, attribute)
            except AttributeError:
                continue
            value = getattr(value, "__func__", value)
            if isinstance(value, types.FunctionType):
                add(value)
    for function in own:
        for code in _codes(function.__code__):
            for name in code.co_names:
                if name in function.__globals__:
                    add(function.__globals__[name])
    return found


def _is_notebook_cell(filename: str) -> bool:
    """A file name Jupyter (ipykernel) or IPython gives a cell's code."""
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def cell_source(obj: Any) -> str | None:
    """The source of the cell that defined ``obj``, if Python kept it.

    In Jupyter each cell is a file for ``linecache``, so this is the whole exercise cell
    with its imports. Defined in an ordinary module, it is ``obj``'s own source only: the
    rest of that file is not the student's cell.
    """
    for function in _own_functions(obj):
        filename = function.__code__.co_filename
        if _is_notebook_cell(filename):
            lines = linecache.getlines(filename)
            if lines:
                return "".join(lines)
        try:
            return inspect.getsource(obj)
        except (OSError, TypeError):
            return None
    return None


def package_answers_used(
    obj: Any, lesson: str, source: str | None = None, entry_points: tuple[str, ...] = ()
) -> list[str]:
    """Every package answer the student's ``obj`` (and the cell that made it) uses.

    Parameters
    ----------
    obj : object
        The student's function or class, as given to ``check``.
    lesson : str
        The lesson of the exercise, e.g. ``"03_vae"``.
    source : str, optional
        The exercise cell's code; found from ``obj`` when not given.
    entry_points : tuple of str
        Methods the checks call when ``obj`` is a class (see :func:`uses_of_object`).
    """
    found = uses_of_object(obj, lesson, entry_points)
    if source is None:
        source = cell_source(obj)
    for name in uses_in_source(source or "", lesson):
        if name not in found:
            found.append(name)
    return found


def entry_points_of(references: tuple[str, ...]) -> tuple[str, ...]:
    """The method of the first class reference (``"vae_tf.models:VAE.train_step"`` ->
    ``("train_step",)``): the one the checks call on the student's class."""
    for reference in references[:1]:
        qualname = reference.partition(":")[2]
        if "." in qualname:
            return (qualname.rsplit(".", 1)[1],)
    return ()


def warning(names: list[str], *, passed: bool) -> str:
    """The self-check's line for a cell that uses ``names``."""
    head = "PASSED HERE ONLY, 0 WHEN GRADED" if passed else "0 WHEN GRADED"
    return WARNING.format(head=head, names=", ".join(names))
