"""The notebook runner: executes one student notebook with nbclient, inside the sandbox.

Started by the grader (:func:`vae_tf.grading.grader.execute_notebook`) as
``python -m vae_tf.grading.notebook_runner --cell-timeout S --timeout S --memory-mb M
--result-fd N`` inside the same sandbox as the kernel it starts, so the kernel's ZMQ
sockets stay on the sandbox's own loopback and its connection file in the sandbox's
scratch folder. It reads the notebook (JSON) on stdin and writes one JSON answer to file
descriptor ``N``: ``{"status", "detail", "notebook"}``, the notebook's outputs already
capped so that the answer stays small whatever a cell prints.

Nothing here decides a point; the grader uses the answer for the status column and the
executed HTML only, and validates it first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

OUTPUT_TEXT_LIMIT = 10_000  # characters per text output kept
OUTPUT_DATA_LIMIT = 2_000_000  # characters per image or rich output kept
OUTPUTS_PER_CELL = 50
CELL_OUTPUT_LIMIT = 4_000_000  # characters of output one cell may hold while it runs
ANSWER_LIMIT = 20_000_000  # characters of the whole answer; richer outputs go first past it

MEMORY_SIGNS = ("bad_alloc", "MemoryError", "Cannot allocate memory")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"


def _client_class() -> type:
    """An nbclient ``NotebookClient`` that stops keeping a cell's output past a cap, as it runs."""
    from nbclient import NotebookClient

    class CappedNotebookClient(NotebookClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.held: dict[int, int] = {}  # characters of output kept per cell

        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
            held = self.held.get(cell_index, 0)
            if len(outs) >= OUTPUTS_PER_CELL or held > CELL_OUTPUT_LIMIT:
                return None  # dropped: a flood never accumulates in this process
            out = super().output(outs, msg, display_id, cell_index)
            if out is None:
                return None
            if out.get("output_type") == "stream":
                out["text"] = _truncate(str(out.get("text", "")), OUTPUT_TEXT_LIMIT)
            else:
                _cap_rich_output(out.get("data", {}), OUTPUT_DATA_LIMIT)
            self.held[cell_index] = held + len(json.dumps(out))
            return out

    return CappedNotebookClient


def _kernel_manager_class() -> type:
    from jupyter_client.manager import AsyncKernelManager

    class FixedKernelManager(AsyncKernelManager):
        """Starts ``python -m ipykernel_launcher`` of this interpreter, whatever the notebook says.

        The command never comes from the notebook's kernelspec, so a submission cannot
        choose another interpreter.
        """

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            connection_file = os.path.realpath(self.connection_file)
            return [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]

    return FixedKernelManager


def _first_error(notebook: Any) -> tuple[int, str, str] | None:
    for number, cell in enumerate(notebook.cells, start=1):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                return number, str(output.get("ename", "")), str(output.get("evalue", ""))[:300]
    return None


def run_notebook(
    notebook: Any, *, timeout: float, cell_timeout: float, memory_mb: int | None
) -> tuple[str, str]:
    """Execute ``notebook`` in place; return ``(status, detail)`` as in the gradebook."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from vae_tf.grading.limits import MemoryWatchdog

    quiet = logging.getLogger("vae_tf.grading.kernel")
    quiet.setLevel(logging.CRITICAL + 1)
    quiet.propagate = False
    manager = _kernel_manager_class()(kernel_name="python3", log=quiet)
    client = _client_class()(
        notebook,
        km=manager,
        log=quiet,
        kernel_name="python3",
        timeout=int(cell_timeout),
        startup_timeout=120,
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": os.getcwd()}},
    )

    def kernel_pid() -> int | None:
        process = getattr(manager.provisioner, "process", None) if manager.provisioner else None
        return getattr(process, "pid", None)

    status, detail = "ok", ""
    with MemoryWatchdog(kernel_pid, memory_mb=memory_mb, deadline_s=timeout) as watchdog:
        try:
            client.execute()
        except CellTimeoutError:
            status = "timeout"
            detail = f"a cell ran longer than {cell_timeout:g} s (the time limit of one cell)"
        except DeadKernelError:
            status = "kernel-died"
        except Exception as error:  # noqa: BLE001 - e.g. the kernel never started
            status = "kernel-died"
            detail = f"the kernel stopped: {type(error).__name__}: {str(error)[:300]}"
    return _classify(notebook, status, detail, watchdog, timeout, memory_mb)


def _classify(
    notebook: Any,
    status: str,
    detail: str,
    watchdog: Any,
    timeout: float,
    memory_mb: int | None,
) -> tuple[str, str]:
    """The status and detail of a run from what nbclient raised and what the watchdog saw."""
    first_error = _first_error(notebook)
    error_text = " ".join(
        str(output.get("evalue", "")) + str(output.get("ename", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    if watchdog.reason == "timeout":
        status, detail = "timeout", f"the notebook ran longer than {timeout:g} s (the time limit)"
    elif watchdog.reason == "memory":
        status, detail = "memory", f"the notebook used more than {memory_mb} MB (the memory limit)"
    elif status in {"kernel-died", "timeout"} and (
        any(sign in error_text for sign in MEMORY_SIGNS)
        or (memory_mb and watchdog.peak_mb > 0.9 * memory_mb)
    ):
        # Out of memory, a kernel may die or hang while reporting the error; either way
        # the cause is memory, not time.
        status, detail = "memory", f"the kernel ran out of memory (limit {memory_mb} MB)"
    elif status == "kernel-died" and not detail:
        detail = "the kernel process ended before the notebook finished"
    elif status == "ok" and first_error:
        number, name, value = first_error
        status = "memory" if name == "MemoryError" else "error"
        detail = f"cell {number} raised {name}: {value}"
        if status == "memory":
            detail += f" (the memory limit is {memory_mb} MB)"
    if status in {"timeout", "kernel-died", "memory"} and first_error and "raised" not in detail:
        number, name, value = first_error
        detail += f"; earlier, cell {number} raised {name}: {value}"
    return status, detail


def cap_outputs(notebook: Any) -> Any:
    """Shorten huge outputs (changes ``notebook``), so that the answer and the HTML stay small."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", [])[:OUTPUTS_PER_CELL]:
            if output.get("output_type") == "stream":
                output["text"] = _truncate(str(output.get("text", "")), OUTPUT_TEXT_LIMIT)
            elif output.get("output_type") == "error":
                output["traceback"] = [
                    _truncate(str(line), OUTPUT_TEXT_LIMIT)
                    for line in output.get("traceback", [])[:40]
                ]
                output["evalue"] = _truncate(str(output.get("evalue", "")), OUTPUT_TEXT_LIMIT)
            else:
                _cap_rich_output(output.get("data", {}), OUTPUT_DATA_LIMIT)
            kept.append(output)
        cell["outputs"] = kept
    return notebook


def _cap_rich_output(data: dict, limit: int) -> None:
    for key in list(data):
        value = data[key]
        text = (
            value
            if isinstance(value, str)
            else "".join(map(str, value))
            if isinstance(value, list)
            else None
        )
        if text is None:
            continue
        if key.startswith("text/plain"):
            data[key] = _truncate(text, OUTPUT_TEXT_LIMIT)
        elif len(text) > limit:
            del data[key]
            data.setdefault("text/plain", f"[{key} output of {len(text)} characters removed]")


def answer_json(notebook: Any, status: str, detail: str) -> str:
    """The runner's answer, at most :data:`ANSWER_LIMIT` characters (outputs dropped if need be)."""
    cap_outputs(notebook)
    text = json.dumps({"status": status, "detail": detail[:600], "notebook": notebook})
    if len(text) > ANSWER_LIMIT:
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                _cap_rich_output(output.get("data", {}), 20_000)
        text = json.dumps({"status": status, "detail": detail[:600], "notebook": notebook})
    if len(text) > ANSWER_LIMIT:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell["outputs"] = []
        text = json.dumps({"status": status, "detail": detail[:600], "notebook": notebook})
    return text


def main(argv: list[str] | None = None) -> None:
    import nbformat

    parser = argparse.ArgumentParser(
        prog="python -m vae_tf.grading.notebook_runner",
        description="Internal: execute a student notebook (JSON on stdin) for the grader.",
    )
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--cell-timeout", type=float, required=True)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args(argv)
    # The answer pipe is taken first, before any student code runs, and closed on exec for
    # the kernel; this process is made non-dumpable so that the kernel (same user, same
    # PID namespace) cannot open it through /proc/PID/fd either.
    result = os.fdopen(args.result_fd, "w", encoding="utf-8")
    os.set_inheritable(args.result_fd, False)
    _not_dumpable()
    notebook = nbformat.reads(sys.stdin.read(), as_version=4)
    status, detail = run_notebook(
        notebook,
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        memory_mb=args.memory_mb or None,
    )
    result.write(answer_json(notebook, status, detail))
    result.flush()
    os._exit(0)


def _not_dumpable() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    main()
