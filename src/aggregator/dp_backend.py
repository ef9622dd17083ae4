"""The structure-aware ``dp`` backend: an exact dynamic programme per fleet.

Without a coupling constraint the fleets share only the price, so the problem
separates into one single-storage problem per fleet; each is solved exactly
by :func:`aggregator.exact_dp.solve_fleet` (a backward dynamic programme over
piecewise-linear value functions and a forward pass), in parallel over the
local cores when there is enough work.  The sum of the fleets' proven bounds
is a proven bound of the whole problem.

The backend solves only the documented model: a subclass that overrides a
``define_*`` step, or a model extension that changes the model, makes
:meth:`DPBackend.supports` decline, and ``auto`` falls back to a MILP backend.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .process_pool import worker_pool
from .solvers import SolveOutcome, SolverBackend, SolverOptions, absolute_tolerance, relative_gap

if TYPE_CHECKING:  # pragma: no cover
    from .aggregator import Aggregator

__all__ = ["DPBackend", "fleet_problems", "solve_fleet_problem", "solve_fleet_problems"]

#: Certified gaps at or below this count as optimal whatever gap was requested:
#: they are the a-priori allowance for floating-point rounding, not a search gap.
NUMERICAL_GAP = 1e-8

#: Below this many (fleet x step) cells the fleets are solved in this process.
PARALLEL_MIN_CELLS = 10_000


def fleet_problems(inputs: xr.Dataset) -> list[dict[str, Any]]:
    """The per-fleet problems of the inputs, as keyword arguments of ``solve_fleet``.

    Parameters
    ----------
    inputs : xarray.Dataset
        Validated inputs (see :attr:`aggregator.Aggregator.inputs`).

    Returns
    -------
    list of dict
        One per fleet, in the order of the ``fleet`` dimension.
    """
    price = inputs["price"].to_numpy()
    dt = float(inputs.attrs["step_hours"])
    penalty = float(inputs.attrs["slack_penalty"])
    exclusive = bool(inputs.attrs["exclusive_charging"])
    pmax = inputs["power_max"].transpose("time", "fleet").to_numpy()
    smin = inputs["soc_min"].transpose("time", "fleet").to_numpy()
    smax = inputs["soc_max"].transpose("time", "fleet").to_numpy()
    problems = []
    for j in range(inputs.sizes["fleet"]):
        problems.append(
            dict(
                price=price,
                dt=dt,
                pmax=np.ascontiguousarray(pmax[:, j]),
                smin=np.ascontiguousarray(smin[:, j]),
                smax=np.ascontiguousarray(smax[:, j]),
                s_init=float(inputs["soc_initial"].values[j]),
                eta_in=float(inputs["charge_efficiency"].values[j]),
                eta_out=float(inputs["discharge_efficiency"].values[j]),
                penalty=penalty,
                exclusive=exclusive,
            )
        )
    return problems


def solve_fleet_problem(problem: dict[str, Any]):
    """Solve one fleet's problem (a picklable task for process pools and Dask).

    Parameters
    ----------
    problem : dict
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`.

    Returns
    -------
    aggregator.exact_dp.FleetSolution
    """
    from .exact_dp import solve_fleet

    return solve_fleet(**problem)


def solve_fleet_problems(problems: list[dict[str, Any]], options: SolverOptions) -> tuple[list, int]:
    """Solve fleet problems, in parallel over the local cores when there is enough work.

    Parameters
    ----------
    problems : list of dict
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet` (see :func:`fleet_problems`).
    options : SolverOptions
        ``threads`` caps the worker processes.

    Returns
    -------
    tuple of (list of aggregator.exact_dp.FleetSolution, int)
        The solutions in the order of ``problems`` and the number of processes used.
    """
    cells = sum(int(np.shape(p["price"])[0]) for p in problems)
    workers = _workers(options, len(problems), cells)
    if workers > 1:
        with worker_pool(workers) as pool:  # workers end with this process, even when it is killed
            chunksize = max(1, len(problems) // (4 * workers))
            return list(pool.map(solve_fleet_problem, problems, chunksize=chunksize)), workers
    return [solve_fleet_problem(p) for p in problems], 1


def _workers(options: SolverOptions, fleets: int, cells: int) -> int:
    if fleets < 2 or cells < PARALLEL_MIN_CELLS:
        return 1
    if multiprocessing.current_process().daemon:  # inside a pool or Dask worker: no children
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(fleets, options.threads or available))


class DPBackend(SolverBackend):
    """Exact dynamic programme per fleet over piecewise-linear value functions (structure-aware)."""

    name = "dp"
    description = "exact per-fleet dynamic programme, certified bound; the documented model only"
    priority = 100
    exact = True
    options = {}

    def supports(self, aggregator: "Aggregator") -> str | None:  # noqa: D102 - documented in the base class
        if not aggregator.is_standard():
            if aggregator.declared_couplings() and aggregator.couplings():
                names = ", ".join(c.name for c in aggregator.couplings())
                return f"the fleets share declared coupling rows ({names}), which the decomposition backend prices"
            return "the model has a subclass step or a model extension the per-fleet DP cannot represent"
        return None

    def solve(self, aggregator: "Aggregator", options: SolverOptions) -> SolveOutcome:  # noqa: D102
        inputs = aggregator.inputs
        problems = fleet_problems(inputs)
        start = time.perf_counter()
        solutions, workers = solve_fleet_problems(problems, options)
        seconds = time.perf_counter() - start
        return combine_fleet_solutions(inputs, solutions, seconds=seconds, workers=workers, mip_gap=options.mip_gap)


def combine_fleet_solutions(
    inputs: xr.Dataset, solutions: list, *, seconds: float, workers: int = 1, mip_gap: float = 1e-4
) -> SolveOutcome:
    """Gather per-fleet DP solutions into one :class:`~aggregator.solvers.SolveOutcome`.

    Parameters
    ----------
    inputs : xarray.Dataset
        The inputs the fleets came from (their order on ``fleet``).
    solutions : list of aggregator.exact_dp.FleetSolution
        One per fleet, in order.
    seconds : float
        Wall time spent.
    workers : int
        Processes used.
    mip_gap : float
        Requested gap, to decide the status.

    Returns
    -------
    SolveOutcome
    """
    from .formulation import VARIABLES

    coords = {"time": inputs["time"], "fleet": inputs["fleet"]}
    data = {
        name: xr.DataArray(np.stack([getattr(s, name) for s in solutions], axis=1), dims=("time", "fleet"), coords=coords)
        for name in VARIABLES
    }
    objective = math.fsum(s.objective for s in solutions)
    bound = math.fsum(s.bound for s in solutions)
    # An optimum at or near 0 has a bound of a rounding allowance above it: the problem's absolute
    # tolerance (steps x the largest one-step change of the objective x 1e-12) makes that gap 0.
    gap = relative_gap(objective, bound, absolute_tolerance(inputs))
    exact = all(s.exact for s in solutions)
    # The DP is exact; its certified gap is the rounding allowance (about 1e-10), which
    # meets any request down to NUMERICAL_GAP, including mip_gap = 0.  A capped value
    # function leaves a valid bound that may not be tight: a solution without a proven gap.
    status = "optimal" if math.isfinite(gap) and gap <= max(mip_gap, NUMERICAL_GAP) else "feasible"
    message = "" if exact else "the DP's value function was capped; the bound is valid but not tight"
    return SolveOutcome(
        status=status,
        objective=objective,
        bound=bound,
        solution=xr.Dataset(data),
        solver=f"dp {_version()}",
        solve_seconds=seconds,
        termination="optimal" if exact else "capped",
        message=message,
        details={
            "workers": workers,
            "components_max": int(max(s.components_max for s in solutions)),
            "exact": int(exact),
        },
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aggregator")
    except PackageNotFoundError:  # pragma: no cover
        return ""
