"""Local process pools whose workers die with the process that started them.

A :class:`concurrent.futures.ProcessPoolExecutor` worker waits on a pipe for
its next task.  When its parent is killed (``SIGKILL``, or ``SIGTERM`` without
a handler) nothing closes that pipe cleanly, so the worker would wait forever.
Workers of :func:`worker_pool` therefore watch their parent:

- on Linux the kernel sends them ``SIGKILL`` when the parent dies
  (``prctl(PR_SET_PDEATHSIG)``), which also covers a worker busy in a long
  computation;
- everywhere, a daemon thread checks every :data:`WATCHDOG_SECONDS` that the
  parent is still the process that started the pool, and ends the worker when
  it is not.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Iterator

__all__ = ["worker_pool", "WorkerPool", "die_with_parent", "WATCHDOG_SECONDS"]

#: How often a worker checks that its parent is alive (where the kernel cannot tell it).
WATCHDOG_SECONDS = 0.5

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

#: Signals held while a worker is forked, so that it never runs the command's handlers (see WorkerPool.submit).
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM in this thread while the block runs; they are delivered when it ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` is no longer its parent (a pool worker's initializer).

    Parameters
    ----------
    parent_pid : int
        The process that started the pool (``os.getpid()`` there).
    """
    # A forked worker inherits the command's handlers (SIGTERM raised as an interrupt): the pool ends
    # its workers with SIGTERM, which must end them quietly, and Ctrl-C (sent to the whole process group)
    # is the parent's to handle, not each worker's to print a traceback for.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held by WorkerPool.submit across the fork: take them now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below still ends the worker
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class WorkerPool(ProcessPoolExecutor):
    """A process pool whose workers die with this process; left by an exception (an interrupt), it stops them at once.

    Parameters
    ----------
    max_workers : int
        Worker processes.
    """

    def __init__(self, max_workers: int) -> None:
        self._before = {child.pid for child in multiprocessing.active_children()}
        super().__init__(max_workers=max_workers, initializer=die_with_parent, initargs=(os.getpid(),))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Schedule ``fn(*args, **kwargs)``, as :meth:`concurrent.futures.Executor.submit`.

        The pool forks its workers here.  A forked worker starts with this
        process's signal handlers (SIGTERM raised as an interrupt) until its
        initializer resets them, so a SIGTERM from :meth:`stop` right after the
        fork would print a worker's traceback.  Ctrl-C and SIGTERM are therefore
        held across the fork: the worker takes them once its own handlers are
        set, this process as soon as the call returns.
        """
        with _signals_held():
            return super().submit(fn, *args, **kwargs)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        if exc_type is None:
            return super().__exit__(exc_type, exc, tb)
        self.stop()
        return None

    def stop(self) -> None:
        """Stop the workers at once (their current tasks are dropped) and wait until they are gone."""
        # The stdlib's manager thread closes its wake-up pipe when it sees the workers gone, and at
        # interpreter exit ``concurrent.futures.process._python_exit`` writes to that pipe without the
        # lock (CPython 3.11): if the two race, exit prints "OSError: [Errno 9] Bad file descriptor"
        # after our one-line message.  So keep the thread (``shutdown`` drops the reference) and wait
        # for it to finish once its workers are gone; a finished thread's pipe is marked closed and
        # ``_python_exit`` leaves it alone.
        manager = getattr(self, "_executor_manager_thread", None)
        self.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            if child.pid not in self._before:  # started by this pool
                child.terminate()
        for child in multiprocessing.active_children():
            if child.pid not in self._before:
                child.join(timeout=5)
        if manager is not None:
            manager.join(timeout=10)


def worker_pool(max_workers: int) -> WorkerPool:
    """A process pool whose workers end when this process ends, however it ends.

    Used as a context manager, an exception (``KeyboardInterrupt``, a
    ``SIGTERM`` turned into one) stops the workers at once rather than after
    their current tasks.

    Parameters
    ----------
    max_workers : int
        Worker processes.

    Returns
    -------
    WorkerPool
        A :class:`concurrent.futures.ProcessPoolExecutor`.
    """
    return WorkerPool(max_workers)
