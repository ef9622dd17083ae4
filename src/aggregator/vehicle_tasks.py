"""The vehicles of "vehicles" fleets as parallel tasks on Dask (``aggregator run --workers N`` / ``--scheduler``).

A standard problem (:meth:`Aggregator.is_standard`) with a ``"vehicles"``
fleet separates into one problem per vehicle.  The ``dp`` backend solves them
in chunks (:func:`aggregator.dp_backend.vehicles_per_chunk`) on the local
cores; here the same chunks are tasks on an executor of
:mod:`aggregator.executors` (a local cluster of processes or any running Dask
cluster): :func:`submit_vehicle_tasks` sends them, the price once
(scattered); :func:`assemble_vehicle_result` gathers their totals in chunk
order into the Result the ``dp`` backend gives in one process, to the last
bit, with the same checks (the certificate is recomputed from the dispatch,
the aggregation error is solved again here).  A task lost with its worker is
submitted again on the workers that remain (:class:`~aggregator.executors.DaskExecutor`).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from .aggregator import Aggregator
from .result import Result

__all__ = ["FLEETS_PER_TASK", "uses_vehicle_tasks", "submit_vehicle_tasks", "assemble_vehicle_result"]

#: Fleets other than "vehicles" ones solved in one task (a vehicle chunk is a task of its own).
FLEETS_PER_TASK = 50


def uses_vehicle_tasks(ex: Any, aggregator: Aggregator, standard: bool) -> bool:
    """Whether the problem is solved as vehicle tasks: a standard problem with a "vehicles" fleet, for ``dp``, on Dask.

    Parameters
    ----------
    ex : executor
        Of :func:`aggregator.executors.open_executor`.
    aggregator : Aggregator
    standard : bool
        :meth:`Aggregator.is_standard`, as the caller knows it.

    Returns
    -------
    bool
        True when ``ex`` is a Dask cluster (in this process, the ``dp``
        backend's own pool of the local cores solves the chunks), and the
        problem has a ``"vehicles"`` fleet, is standard, is not rolling, asks
        for ``dp`` (or ``auto``, which picks ``dp`` for a standard problem)
        and the ``dp`` backend supports it.
    """
    from .executors import DaskExecutor

    if not isinstance(ex, DaskExecutor) or not standard or getattr(aggregator, "rolling", None) is not None:
        return False
    if not any(f.representation == "vehicles" for f in aggregator.fleets):
        return False
    if (aggregator.solver or "auto") not in ("auto", "dp"):
        return False
    from .dp_backend import DPBackend

    return DPBackend().supports(aggregator) is None


def _groups(problems: list[dict[str, Any]]) -> list[list[int]]:
    """Task layout: each vehicle chunk alone, the other fleets in runs of at most :data:`FLEETS_PER_TASK`."""
    groups: list[list[int]] = []
    run: list[int] = []
    for i, problem in enumerate(problems):
        if problem.get("vehicle_chunk"):
            if run:
                groups.append(run)
                run = []
            groups.append([i])
            continue
        run.append(i)
        if len(run) == FLEETS_PER_TASK:
            groups.append(run)
            run = []
    if run:
        groups.append(run)
    return groups


def _solve_group(price: Any, problems: list[dict[str, Any]]) -> list[Any]:
    """Run on a worker: the solutions of some fleet problems (vehicle chunks) that share ``price``."""
    from .dp_backend import solve_fleet_problem

    return [solve_fleet_problem({**problem, "price": price}) for problem in problems]


def submit_vehicle_tasks(ex: Any, aggregator: Aggregator, key: str) -> list[Any]:
    """Submit the problem's fleet problems and vehicle chunks as tasks (in their order).

    Parameters
    ----------
    ex : executor
        Of :func:`aggregator.executors.open_executor`.
    aggregator : Aggregator
        A problem for which :func:`uses_vehicle_tasks` holds.
    key : str
        Prefix of the task names.

    Returns
    -------
    list of future
        One per task; each gives a list of solutions (see :func:`assemble_vehicle_result`).
    """
    from .dp_backend import fleet_problems
    from .exact_dp import prepare_kernel

    prepare_kernel()  # compiled (or loaded) here, so that local workers load it from the cache
    problems = fleet_problems(aggregator.inputs)
    price = ex.scatter(problems[0]["price"])
    futures = []
    for i, group in enumerate(_groups(problems)):
        light = [{k: v for k, v in problems[j].items() if k != "price"} for j in group]
        futures.append(ex.submit(_solve_group, price, light, key=f"{key}-v{i}"))
    return futures


def assemble_vehicle_result(aggregator: Aggregator, results: Sequence[Any], *, wall_seconds: float) -> Result:
    """The Result of the whole problem from the outcomes of :func:`submit_vehicle_tasks`' tasks.

    Parameters
    ----------
    aggregator : Aggregator
        The whole problem.
    results : sequence
        Per task, in order: its list of solutions, or the exception that ended it.
    wall_seconds : float
        Wall time of the whole solve.

    Returns
    -------
    Result
        What ``aggregator.solve("dp")`` gives (dispatch, objective, bound,
        status), checked the same way: the certificate against the
        recomputed objective and, for "vehicles" fleets, the aggregation
        error; status ``error`` naming the first failed task when one failed.
    """
    from . import formulation
    from .dp_backend import combine_fleet_solutions
    from .solvers import SolveOutcome

    inputs = aggregator.inputs
    mip_gap = float(aggregator.solver_options.get("mip_gap", 1e-4))
    choice = f"dp on {len(results)} vehicle tasks"
    failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    if failed:
        i, error = failed[0]
        outcome = SolveOutcome(
            status="error",
            termination="vehicle tasks",
            message=f"{len(failed)} of {len(results)} vehicle tasks failed; task {i}: {type(error).__name__}: {error}",
        )
        return Result.from_outcome(inputs, outcome, choice=choice, wall_seconds=wall_seconds, name=aggregator.name)
    solutions = [s for part in results for s in part]
    start = time.perf_counter()
    outcome = combine_fleet_solutions(inputs, solutions, seconds=wall_seconds, mip_gap=mip_gap)
    del outcome.details["workers"]  # the cluster's, not known here
    outcome.details["vehicle_tasks"] = len(results)
    if inputs.attrs["exclusive_charging"] and inputs.attrs["binaries"] != "all":
        outcome.solution = formulation.net_out_simultaneous(outcome.solution, inputs)
    result = Result.from_outcome(
        inputs, outcome, choice=choice, wall_seconds=wall_seconds + time.perf_counter() - start,
        mip_gap=mip_gap, name=aggregator.name,
    )
    aggregator.check_certificate(result, f"the {len(results)} vehicle tasks")
    if result.has_solution and not aggregator.extensions:
        from .aggregation import add_aggregation_errors

        add_aggregation_errors(aggregator, result, solver="dp", mip_gap=mip_gap)
    return result
