"""Where tasks run: in this process, on a local cluster of processes, or on a running Dask cluster.

One interface for :func:`aggregator.sweep` and ``aggregator run --workers``:
an executor submits a function with its arguments (``submit``), scatters a
value that many tasks share (``scatter``), and yields the futures as they
finish (``completed``); a future's ``result()`` returns the value or raises
the task's exception.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from . import plugins
from .errors import InputError

__all__ = ["SerialExecutor", "DaskExecutor", "open_executor", "import_distributed", "dask_setup"]

log = logging.getLogger(__name__)


class _SerialFuture:
    """A task run in this process when its result is asked for."""

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self._fn, self._args = fn, args
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run the task now unless it has run (an exception is kept for :meth:`result`)."""
        if not self._done:
            try:
                self._value = self._fn(*self._args)
            except Exception as exc:  # recorded like a failed Dask task
                self._error = exc
            self._done = True

    def result(self) -> Any:
        """The task's value (running it first), or raise its exception.

        Returns
        -------
        object
        """
        self.run()
        if self._error is not None:
            raise self._error
        return self._value

    def release(self) -> None:
        """Drop the value (the caller has taken it)."""
        self._value = None


class SerialExecutor:
    """Runs tasks one after another in this process (``workers=0``; no Dask)."""

    workers = 1

    def __init__(self) -> None:
        self._queue: list[_SerialFuture] = []

    def scatter(self, value: Any) -> Any:
        """A handle of ``value`` that tasks share.

        Parameters
        ----------
        value : object

        Returns
        -------
        object
        """
        return value

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> _SerialFuture:
        """Submit ``fn(*args)`` as a task named ``key``.

        Parameters
        ----------
        fn : callable
        *args
            Its arguments.
        key : str
            A unique task name.

        Returns
        -------
        future
        """
        future = _SerialFuture(fn, args)
        self._queue.append(future)
        return future

    def completed(self) -> Iterator[_SerialFuture]:
        """The submitted futures as they finish (including those submitted while iterating).

        Yields
        ------
        future
        """
        while self._queue:
            future = self._queue.pop(0)
            future.run()
            yield future


class DaskExecutor:
    """Submits tasks to a dask.distributed Client."""

    def __init__(self, client: Any) -> None:
        from distributed import as_completed

        self.client = client
        self._completed = as_completed([], with_results=False)

    @property
    def workers(self) -> int:
        """Worker processes of the cluster (at least 1)."""
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def scatter(self, value: Any) -> Any:
        """A handle of ``value`` that tasks share.

        Parameters
        ----------
        value : object

        Returns
        -------
        object
        """
        return self.client.scatter(value, hash=False)

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Any:
        """Submit ``fn(*args)`` as a task named ``key``.

        Parameters
        ----------
        fn : callable
        *args
            Its arguments.
        key : str
            A unique task name.

        Returns
        -------
        future
        """
        future = self.client.submit(fn, *args, key=key, pure=False)
        self._completed.add(future)
        return future

    def completed(self) -> Iterator[Any]:
        """The submitted futures as they finish (including those submitted while iterating).

        Yields
        ------
        future
        """
        yield from self._completed


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def import_distributed() -> Any:
    """The ``distributed`` package, or an input error saying how to install it.

    Returns
    -------
    module

    Raises
    ------
    InputError
        If dask.distributed is not installed.
    """
    try:
        import distributed
    except ImportError:
        raise InputError(
            "running on Dask needs dask.distributed: python -m pip install 'aggregator[scale]' "
            "(or pass workers=0 / --workers 0 to solve in this process)"
        ) from None
    return distributed


@contextlib.contextmanager
def open_executor(
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    note: Callable[[str], None] = lambda message: None,
) -> Iterator[SerialExecutor | DaskExecutor]:
    """The place tasks run: this process, an existing client, a scheduler's cluster or a new local cluster."""
    if client is not None:
        yield DaskExecutor(client)
        return
    if workers is not None and workers < 0:
        raise InputError(f"--workers {workers}: expected a number of worker processes >= 0")
    if scheduler is None and workers == 0:
        note("solving in this process (workers = 0, no Dask)")
        yield SerialExecutor()
        return
    with _quiet_dask_logs():
        with _dask_executor(scheduler, workers, threads_per_worker, note) as executor:
            yield executor


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Keep Dask's INFO chatter (cluster start and stop) out of the user's terminal unless -vv."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    import_distributed()  # it sets its loggers' levels when imported
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "dask")]
    loggers = [logging.getLogger(name) for name in {"distributed", "dask", *names}]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _dask_executor(
    scheduler: str | None, workers: int | None, threads_per_worker: int, note: Callable[[str], None]
) -> Iterator[DaskExecutor]:
    distributed = import_distributed()
    if scheduler is not None:
        try:
            if scheduler.endswith(".json") and Path(scheduler).is_file():
                connected = distributed.Client(scheduler_file=scheduler, timeout="30s")
            else:
                connected = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({exc})") from None
        try:
            try:
                connected.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise InputError(f"--scheduler {scheduler}: the cluster has no workers (waited 60 s)") from None
            executor = DaskExecutor(connected)
            note(f"dask: connected to {scheduler} ({executor.workers} workers); dashboard {connected.dashboard_link}")
            yield executor
        finally:
            connected.close()
        return
    n = workers or _cpu_count()
    cluster = distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        silence_logs=logging.ERROR,
        preload=[__name__],  # dask_setup below, in every worker process (restarted ones too)
    )
    try:
        local = distributed.Client(cluster)
        try:
            hint = "" if plugins.optional_dependency("bokeh") else " (install bokeh to view it)"
            note(f"dask: local cluster of {n} worker processes x {threads_per_worker} thread; dashboard {local.dashboard_link}{hint}")
            yield DaskExecutor(local)
        finally:
            local.close()
    finally:
        cluster.close()


def dask_setup(worker: Any) -> None:
    """Set up a worker process of our local cluster (Dask calls this for a ``preload`` module).

    Ctrl-C in a terminal reaches every process of the group; the sweep in the
    main process handles it (stops, writes the partial summary, closes the
    cluster), so the workers ignore it instead of each printing a traceback.

    Parameters
    ----------
    worker : distributed.Worker
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
