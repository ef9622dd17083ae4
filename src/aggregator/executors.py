"""Where tasks run: in this process (one after another, or on threads), on a local cluster of processes, or on a running Dask cluster.

One interface for :func:`aggregator.sweep` and ``aggregator run --workers``:
an executor submits a function with its arguments (``submit``), scatters a
value that many tasks share (``scatter``), and yields the futures as they
finish (``completed``); a future's ``result()`` returns the value or raises
the task's exception.

:class:`ThreadExecutor` is for tasks that spend their time in compiled code
that releases the GIL (the DP kernel's batches of fleets,
:mod:`aggregator.fleet_batches`): N threads use N cores without N processes
that each import the kernel and Dask.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from . import plugins
from .errors import InputError

__all__ = ["Executor", "TaskFuture", "SerialExecutor", "ThreadExecutor", "DaskExecutor", "open_executor", "thread_executor", "import_distributed", "dask_setup"]

log = logging.getLogger(__name__)

#: How long closing the local cluster may take (also after an interrupt) before it is left to end on its own.
CLOSE_SECONDS = 20


class TaskFuture:
    """A submitted task as its caller sees it: ``result()`` and ``release()``."""

    def result(self) -> Any:
        """The task's value, or raise its exception.

        Returns
        -------
        object
        """
        raise NotImplementedError

    def release(self) -> None:
        """Drop the value (the caller has taken it)."""
        raise NotImplementedError


class Executor:
    """Where tasks run: the interface :func:`aggregator.sweep` and ``aggregator run --workers`` use.

    Subclasses implement :meth:`submit` and :meth:`completed`; :meth:`scatter`
    returns the value itself (tasks in one process share memory) unless the
    tasks run elsewhere.
    """

    #: Tasks that run at once.
    workers: int = 1

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

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> TaskFuture:
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
        TaskFuture
            With ``result()`` and ``release()``; the same object whatever retries it takes.
        """
        raise NotImplementedError

    def completed(self) -> Iterator[TaskFuture]:
        """The submitted futures as they finish (including those submitted while iterating).

        Yields
        ------
        TaskFuture
        """
        raise NotImplementedError


class _SerialFuture(TaskFuture):
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
        self._value = None


class SerialExecutor(Executor):
    """Runs tasks one after another in this process (``workers=0``; no Dask)."""

    workers = 1

    def __init__(self) -> None:
        self._queue: list[_SerialFuture] = []

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> _SerialFuture:
        future = _SerialFuture(fn, args)
        self._queue.append(future)
        return future

    def completed(self) -> Iterator[_SerialFuture]:
        while self._queue:
            future = self._queue.pop(0)
            future.run()
            yield future


class _ThreadFuture(TaskFuture):
    """A task on a thread of a :class:`ThreadExecutor`."""

    def __init__(self, future: concurrent.futures.Future) -> None:
        self.future = future

    def result(self) -> Any:
        return self.future.result()

    def release(self) -> None:
        self.future = None  # type: ignore[assignment]


class ThreadExecutor(Executor):
    """Runs tasks on threads of this process (for compiled work that releases the GIL).

    Parameters
    ----------
    workers : int
        Threads.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="aggregator-task")
        self._pending: dict[concurrent.futures.Future, _ThreadFuture] = {}

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> _ThreadFuture:
        task = _ThreadFuture(self._pool.submit(fn, *args))
        self._pending[task.future] = task
        return task

    def completed(self) -> Iterator[_ThreadFuture]:
        while self._pending:
            done, _ = concurrent.futures.wait(list(self._pending), return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                yield self._pending.pop(future)

    def close(self, *, cancel: bool = False) -> None:
        """Stop the threads: after the running tasks (and, with ``cancel``, without starting the queued ones).

        Parameters
        ----------
        cancel : bool
        """
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


@contextlib.contextmanager
def thread_executor(workers: int | None = None) -> Iterator[ThreadExecutor]:
    """A :class:`ThreadExecutor` that, left by an exception (Ctrl-C, SIGTERM), starts no further task.

    Parameters
    ----------
    workers : int, optional
        Threads (default: one per core).

    Yields
    ------
    ThreadExecutor
    """
    executor = ThreadExecutor(workers or _cpu_count())
    try:
        yield executor
    except BaseException:
        executor.close(cancel=True)
        raise
    executor.close()


class _DaskTask(TaskFuture):
    """A task on Dask as the caller sees it: the same object across the retries of its future."""

    def __init__(self, fn: Callable[..., Any], args: tuple, key: str) -> None:
        self.fn, self.args, self.key = fn, args, key
        self.attempts = 0
        self.future: Any = None
        self._value: Any = None
        self._error: BaseException | None = None

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def release(self) -> None:
        self._value = None


class DaskExecutor(Executor):
    """Submits tasks to a dask.distributed Client; work lost with a worker is done again elsewhere.

    Each task is submitted with ``retries`` (Dask re-runs a task whose run
    failed), and a task that is lost rather than failed (its worker died, the
    data it needed went with it, the connection closed: ``CommClosedError``,
    ``FutureCancelledError``, ``KilledWorker``) is submitted again, up to
    :attr:`LOST_ATTEMPTS` times, on the workers that remain.
    """

    #: Times a task is submitted again after its work was lost.
    LOST_ATTEMPTS = 3
    #: Dask's own ``retries`` of a task whose run raised.
    RETRIES = 2

    def __init__(self, client: Any) -> None:
        import distributed
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.comm.core import CommClosedError
        from distributed.scheduler import KilledWorker

        self.client = client
        self._completed = as_completed([], with_results=False)
        self._tasks: dict[str, _DaskTask] = {}
        self._scattered: dict[str, Any] = {}
        self._users: dict[str, int] = {}
        self._future_type = distributed.Future
        self._lost = (CommClosedError, FutureCancelledError, KilledWorker, asyncio.CancelledError)

    @property
    def workers(self) -> int:
        """Worker processes of the cluster (at least 1)."""
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def scatter(self, value: Any) -> Any:
        """A handle of ``value`` that tasks share (kept here too, to send again if its worker is lost).

        Parameters
        ----------
        value : object

        Returns
        -------
        object
        """
        future = self.client.scatter(value, hash=False)
        self._scattered[future.key] = value
        return future

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> _DaskTask:
        task = _DaskTask(fn, args, key)
        for arg in args:
            if isinstance(arg, self._future_type) and arg.key in self._scattered:
                self._users[arg.key] = self._users.get(arg.key, 0) + 1
        self._send(task, args)
        return task

    def _done_with(self, task: _DaskTask) -> None:
        """Forget the kept copies of scattered values that no unfinished task needs any more."""
        for arg in task.args:
            if isinstance(arg, self._future_type) and arg.key in self._users:
                self._users[arg.key] -= 1
                if self._users[arg.key] <= 0:
                    del self._users[arg.key]
                    self._scattered.pop(arg.key, None)

    def _send(self, task: _DaskTask, args: tuple) -> None:
        key = task.key if task.attempts == 0 else f"{task.key}-retry{task.attempts}"
        task.future = self.client.submit(task.fn, *args, key=key, pure=False, retries=self.RETRIES)
        self._tasks[task.future.key] = task
        self._completed.add(task.future)

    def _resend(self, task: _DaskTask) -> None:
        """Submit a lost task again, its scattered arguments by value (their copy may be lost too)."""
        task.attempts += 1
        args = tuple(self._scattered.get(a.key, a) if isinstance(a, self._future_type) else a for a in task.args)
        log.info("task %s lost with its worker; submitting it again (attempt %d)", task.key, task.attempts + 1)
        self._send(task, args)

    def completed(self) -> Iterator[_DaskTask]:
        for future in self._completed:
            task = self._tasks.pop(future.key)
            try:
                task._value = future.result()
            except self._lost as exc:
                if task.attempts < self.LOST_ATTEMPTS:
                    self._resend(task)
                    continue
                task._error = exc
            except Exception as exc:  # the task itself failed (after Dask's retries)
                task._error = exc
            finally:
                with contextlib.suppress(Exception):
                    future.release()
            self._done_with(task)
            yield task


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
) -> Iterator[Executor]:
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
    # Dask's event loop runs on tornado, whose logger reports Dask's own slips in callbacks (an interrupt
    # that lands inside Client.submit makes distributed.utils.sync's cancel callback fail with a NameError).
    loggers.append(logging.getLogger("tornado.application"))
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL if logger.name == "tornado.application" else logging.ERROR)
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
        silence_logs=logging.CRITICAL,  # a worker's heartbeat racing the cluster's close logs a traceback at ERROR; task errors reach the client anyway
        preload=[__name__],  # dask_setup below, in every worker process (restarted ones too)
    )
    try:
        local = distributed.Client(cluster)
        try:
            hint = "" if plugins.optional_dependency("bokeh") else " (install bokeh to view it)"
            note(f"dask: local cluster of {n} worker processes x {threads_per_worker} thread; dashboard {local.dashboard_link}{hint}")
            yield DaskExecutor(local)
        finally:
            local.close(timeout=CLOSE_SECONDS)
    finally:
        cluster.close(timeout=CLOSE_SECONDS)


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
