"""Running the grader's notebook jobs on Dask: ``vae-tf grade --jobs N`` and ``--scheduler``.

``--jobs N`` (N > 1) starts an embedded :class:`distributed.LocalCluster` in the grader's
process (one worker of N threads; each job starts its own sandbox processes, so threads are
enough); ``--scheduler ADDRESS`` connects to an existing cluster (``dask scheduler`` and
``dask worker ADDRESS`` on each machine, each with this package installed and bubblewrap able
to run). ``--jobs 1`` without a scheduler does not use Dask at all.

The job is :func:`vae_tf.grading.sandbox.run_notebook_job`: the notebook's bytes go to the
worker, its sandboxes run there, and the row and the executed HTML come back to the grader,
which writes each student's results as that job finishes (:func:`as_finished`). Dask does
the scheduling; this module only connects, submits a bounded window of jobs and waits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler before saying it cannot be reached
NO_WORKER_TIMEOUT = 60.0  # seconds a cluster may have no worker while jobs wait
POLL_SECONDS = 1.0
JOBS_PER_THREAD = 2  # jobs in flight per worker thread: the notebooks read ahead, no more

T = TypeVar("T")

_DASK_LOGGERS = ("distributed", "distributed.scheduler", "distributed.worker", "tornado")


class ClusterError(RuntimeError):
    """The Dask cluster cannot be reached, or lost its workers; the message names the address."""


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """No INFO lines from distributed on the grader's screen: warnings and errors only."""
    saved = {name: logging.getLogger(name).level for name in _DASK_LOGGERS}
    for name in _DASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def check_scheduler_address(scheduler: str) -> str:
    """``scheduler`` as a Dask address (``tcp://host:port``); ``ValueError`` when it is not one."""
    from distributed.comm import parse_address, parse_host_port

    address = scheduler.strip()
    if not address:
        raise ValueError("--scheduler is empty; give the scheduler's address, e.g. tcp://host:8786")
    if "://" not in address:
        address = f"tcp://{address}"
    try:
        protocol, location = parse_address(address)
        if protocol in {"tcp", "tls"}:
            host, port = parse_host_port(location)
            if not host or not 0 < int(port) < 65536:
                raise ValueError("the host or the port is missing")
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address such as "
            f"tcp://host:8786 ({error})"
        ) from None
    return address


@contextlib.contextmanager
def client_for(
    scheduler: str | None, jobs: int, local_directory: str | None = None
) -> Iterator[Any]:
    """A :class:`distributed.Client` on ``scheduler``, or on an embedded LocalCluster.

    Parameters
    ----------
    scheduler : str or None
        ``tcp://host:port`` of a running scheduler; ``None`` for an embedded LocalCluster of
        one in-process worker with ``jobs`` threads (no dashboard, no INFO logs).
    jobs : int
        Threads of the embedded cluster's worker (ignored with ``scheduler``).
    local_directory : str, optional
        The embedded worker's scratch folder (Dask's ``dask-scratch-space``), the grader's
        own temporary folder, so that nothing is left behind; Dask's default when ``None``.

    Raises
    ------
    ClusterError
        When the scheduler cannot be reached within :data:`CONNECT_TIMEOUT` seconds.
    """
    from distributed import Client, LocalCluster

    with _quiet_dask():
        if scheduler is None:
            import dask

            with (
                dask.config.set({"temporary-directory": local_directory}),
                LocalCluster(
                    n_workers=1,
                    threads_per_worker=max(1, int(jobs)),
                    processes=False,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    local_directory=local_directory,
                ) as cluster,
                Client(cluster, set_as_default=False) as client,
            ):
                yield client
            return
        address = check_scheduler_address(scheduler)
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT:g} s "
                f"({type(error).__name__}: {error}); is `dask scheduler` running there, and "
                "is the address right?"
            ) from None
        with client:
            yield client


def _threads(client: Any) -> int:
    try:
        return sum(client.nthreads().values())
    except Exception:  # noqa: BLE001 - a scheduler that went away has no threads
        return 0


def as_finished(
    client: Any,
    function: Callable[[T], Any],
    items: Iterable[T],
    *,
    address: str,
    no_worker_timeout: float | None = None,
) -> Iterator[tuple[T, Any]]:
    """Run ``function(item)`` on the cluster for every item; yield ``(item, future)`` as each ends.

    At most :data:`JOBS_PER_THREAD` jobs per worker thread are submitted ahead, so that a
    class of 2,400 notebooks is never all in memory at once; the caller reads
    ``future.result()`` (which raises what the job raised) and writes its results at once.

    Raises
    ------
    ClusterError
        When the cluster has had no worker for ``no_worker_timeout`` seconds while jobs
        waited, or the scheduler went away; the message names ``address``.
    """
    from distributed import wait

    no_worker_timeout = NO_WORKER_TIMEOUT if no_worker_timeout is None else no_worker_timeout
    pending_items = iter(items)
    running: dict[Any, T] = {}
    no_worker_since: float | None = None

    def top_up() -> None:
        window = max(2, JOBS_PER_THREAD * max(1, _threads(client)))
        while len(running) < window:
            item = next(pending_items, None)
            if item is None:
                return
            running[client.submit(function, item, pure=False)] = item

    top_up()
    try:
        while running:
            try:
                with client.as_current():
                    done = wait(
                        list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED"
                    ).done
            except TimeoutError:
                done = set()
            if client.status not in {"running", "connecting"}:
                raise ClusterError(
                    f"lost the connection to the Dask scheduler at {address} with "
                    f"{len(running)} notebook(s) still being graded"
                )
            for future in done:
                yield running.pop(future), future
            if not done:
                if _threads(client):
                    no_worker_since = None
                else:
                    no_worker_since = no_worker_since or time.monotonic()
                    if time.monotonic() - no_worker_since > no_worker_timeout:
                        raise ClusterError(
                            f"the Dask cluster at {address} has had no worker for "
                            f"{no_worker_timeout:g} s (did its workers die or stop?); "
                            f"{len(running)} notebook(s) were waiting"
                        )
            top_up()
    finally:
        if running:  # stopped early (Ctrl-C, an error): the jobs still queued are dropped
            with contextlib.suppress(Exception):
                client.cancel(list(running))


def stop_worker_sandboxes(client: Any) -> None:
    """After Ctrl-C with ``--scheduler``: stop every sandbox running on every worker."""
    from vae_tf.grading.sandbox import allow_sandboxes, stop_all_sandboxes

    with contextlib.suppress(Exception):
        client.run(stop_all_sandboxes)
        client.run(allow_sandboxes)
