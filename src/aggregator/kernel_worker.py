"""A worker process that loads the exact DP kernel while the command line reads the inputs.

Before it solves anything, ``aggregator run`` of a year spends most of its
time on two independent jobs: importing pandas and xarray and reading and
labelling the inputs, and (for the ``dp`` backend) importing numba and
loading the compiled kernel from numba's disk cache, whose CPU-target set-up
imports more of numba and ``scipy.linalg``.  One after the other in one
process they take about two seconds of CPU; on two cores they can overlap.

So, in a fresh process on a machine with two or more cores, the command line
starts one :class:`KernelWorker` first of all (``aggregator run`` without
``--workers`` or ``--scheduler``, with the ``auto`` or ``dp`` solver): a
process forked right after numpy is imported, which imports numba and loads
the kernel (:func:`load_kernel`) while this process imports the rest, reads
the files and builds the problem.  The ``dp`` backend then sends the fleets'
problems to it (:func:`aggregator.dp_backend.solve_fleet_problems`) and takes
the solutions back; this process never loads numba.  The solutions are those
of the same compiled kernel on the same arrays, bit for bit.

Robustness:

- the worker is a :func:`aggregator.process_pool.worker_pool` of one process,
  so it dies with this one (``SIGKILL`` included), ignores Ctrl-C (the
  parent's to handle) and ends quietly on ``SIGTERM``;
- a worker that dies (killed, out of memory) before it returns the solutions
  costs time, not the answer: :meth:`KernelWorker.solve` returns None and the
  backend solves in this process, as without a worker;
- an error of the kernel itself is raised here as it would be in-process;
- the worker is stopped when the command ends, however it ends
  (:func:`kernel_worker`), so a run that does not use it (another backend
  chosen by ``auto``) only pays for its start.

``AGGREGATOR_KERNEL_WORKER=0`` in the environment turns it off (the run then
loads the kernel in its own process, as the library always does).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterator

__all__ = ["KernelWorker", "kernel_worker", "current_kernel_worker", "worthwhile", "load_kernel", "solve_problems",
           "ENVIRONMENT_VARIABLE"]

log = logging.getLogger(__name__)

#: The environment variable that turns the kernel worker off (``0``).
ENVIRONMENT_VARIABLE = "AGGREGATOR_KERNEL_WORKER"

#: Modules whose presence means this process is not fresh: forking it is no longer cheap or the kernel is loaded.
_HEAVY = ("numba", "pandas", "xarray")

_current: KernelWorker | None = None


def worthwhile() -> bool:
    """Whether a kernel worker can shorten this process's run.

    Only in a fresh process (numba, pandas and xarray not yet imported: the
    command line, not a program that already loaded them), with two or more
    cores to run on, where worker processes are forked, outside a daemon
    process (a pool or Dask worker has no children), and unless
    ``AGGREGATOR_KERNEL_WORKER=0``.

    Returns
    -------
    bool
    """
    if os.environ.get(ENVIRONMENT_VARIABLE, "").strip() == "0":
        return False
    if any(name in sys.modules for name in _HEAVY):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2 or multiprocessing.current_process().daemon:
        return False
    return multiprocessing.get_start_method() == "fork"


def load_kernel() -> dict[str, float]:
    """Import numba and load (or compile) the DP kernel in this process (the worker's first task).

    Returns
    -------
    dict
        ``pid``; ``cpu``: this process's CPU seconds so far; ``at``: :func:`time.monotonic` when done
        (one clock for all processes of the machine).
    """
    from .exact_dp import prepare_kernel

    prepare_kernel()
    return {"pid": os.getpid(), "cpu": time.process_time(), "at": time.monotonic()}


def solve_problems(problems: list[dict[str, Any]]) -> list:
    """Solve fleet problems one after the other (the worker's task; see :func:`aggregator.dp_backend.fleet_problems`).

    Parameters
    ----------
    problems : list of dict
        Problems of :func:`aggregator.dp_backend.fleet_problems`.

    Returns
    -------
    list
        Their solutions, in order.
    """
    from .fleet_problem import solve_fleet_problem

    return [solve_fleet_problem(problem) for problem in problems]


class KernelWorker:
    """One worker process that loads the kernel at once and then solves the problems it is sent.

    Starting it imports numpy here (the worker inherits it) and forks the
    worker, whose first task is :func:`load_kernel`.  Call :meth:`close` (or
    use :func:`kernel_worker`) to stop it.
    """

    def __init__(self) -> None:
        import numpy  # noqa: F401 - before the fork: both processes need it, the worker inherits it
        from .process_pool import worker_pool

        self._pool = worker_pool(1)
        self._loaded = self._pool.submit(load_kernel)
        self._closed = False

    def solve(self, problems: list[dict[str, Any]]) -> list | None:
        """The solutions of ``problems`` (see :func:`solve_problems`), or None when the worker died first.

        Parameters
        ----------
        problems : list of dict
            Problems of :func:`aggregator.dp_backend.fleet_problems`.

        Returns
        -------
        list or None
            None: the worker ended (killed) before it returned them, or was closed; solve them in this process.
        """
        if self._closed:
            return None
        sent = time.monotonic()
        try:
            solutions = self._pool.submit(solve_problems, problems).result()
        except BrokenProcessPool as exc:
            log.warning("the kernel worker process ended before it returned the solutions (%s); "
                        "solving in this process", exc)
            return None
        loaded = self._loaded.result()
        log.debug("kernel worker: %d problem(s) solved in %.3f s; the kernel was loaded with %.2f s of CPU, %.3f s "
                  "%s they were sent", len(problems), time.monotonic() - sent, loaded["cpu"],
                  abs(sent - loaded["at"]), "before" if loaded["at"] <= sent else "after")
        return solutions

    def close(self) -> None:
        """Stop the worker (at once, whatever it is doing) and wait until it is gone (again: nothing)."""
        if not self._closed:
            self._closed = True
            self._pool.stop()


@contextlib.contextmanager
def kernel_worker(start: bool = True) -> Iterator[KernelWorker | None]:
    """This process's kernel worker while the block runs (started if ``start``), stopped when it ends.

    Parameters
    ----------
    start : bool
        Whether to start one (the caller checks :func:`worthwhile`).

    Yields
    ------
    KernelWorker or None
    """
    global _current
    worker = None
    if start:
        try:
            worker = KernelWorker()
        except OSError as exc:  # no process to be had (EAGAIN, ENOMEM): the run loads the kernel itself
            log.debug("no kernel worker: %s", exc)
    previous, _current = _current, worker
    try:
        yield worker
    finally:
        _current = previous
        if worker is not None:
            worker.close()


def current_kernel_worker() -> KernelWorker | None:
    """The kernel worker of the running :func:`kernel_worker` block, if any.

    Returns
    -------
    KernelWorker or None
    """
    return _current
