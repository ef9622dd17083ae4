"""Many fleets for the exact DP kernel as numpy arrays: batches out, arrays back.

A task of a many-fleet solve (:mod:`aggregator.fleet_tasks`) is a
:class:`FleetBatch`: consecutive fleets of one separable problem as plain
arrays (bounds over (fleet, time), parameters per fleet).  A worker runs
:func:`solve_fleet_batch` on it and sends back a :class:`FleetBatchSolution`
(the dispatch as arrays and each fleet's objective and certified bound), which
the parent writes into the whole problem's arrays (:class:`BatchAssembly`).

This module imports only numpy and the kernel (:mod:`aggregator.exact_dp`),
so a worker process that runs these tasks does not import xarray, pandas or
linopy.  The parent recomputes every reported figure from the returned
dispatch (:meth:`aggregator.Result.from_outcome`); the per-fleet objectives
here are the kernel's claims, summed for ``solver_objective``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FleetBatch", "FleetBatchSolution", "BatchAssembly", "solve_fleet_batch", "SOLUTION_ARRAYS"]

#: The arrays of a batch's solution, over (time, fleet): the model's variables (the Result recomputes
#: the shortfall from the state of charge).
SOLUTION_ARRAYS = ("charge", "discharge", "soc", "slack_up", "slack_down")


@dataclass(eq=False)
class FleetBatch:
    """Consecutive fleets of one separable problem, as the DP kernel takes them (a picklable task).

    Attributes
    ----------
    start : int
        Position of the first fleet on the problem's ``fleet`` dimension.
    price : numpy.ndarray
        $/MWh per step, shape ``(time,)``.
    dt, penalty : float
        Step hours; slack penalty ($/kWh).
    exclusive : bool
        Exclusive charging.
    pmax, smin, smax : numpy.ndarray
        kW and kWh, shape ``(fleet, time)`` (one contiguous row per fleet).
    s_init, eta_in, eta_out : numpy.ndarray
        Per fleet, shape ``(fleet,)``.
    driving, floor : numpy.ndarray or None
        kWh, shape ``(fleet, time)``; None: zero for every fleet of the batch.
    shortfall_penalty, wear_cost : numpy.ndarray or None
        $/kWh per fleet; None: the slack penalty and no wear.
    """

    start: int
    price: NDArray[np.float64]
    dt: float
    penalty: float
    exclusive: bool
    pmax: NDArray[np.float64]
    smin: NDArray[np.float64]
    smax: NDArray[np.float64]
    s_init: NDArray[np.float64]
    eta_in: NDArray[np.float64]
    eta_out: NDArray[np.float64]
    driving: NDArray[np.float64] | None = None
    floor: NDArray[np.float64] | None = None
    shortfall_penalty: NDArray[np.float64] | None = None
    wear_cost: NDArray[np.float64] | None = None

    @property
    def size(self) -> int:
        """Number of fleets."""
        return int(self.pmax.shape[0])


@dataclass(eq=False)
class FleetBatchSolution:
    """The DP solutions of a :class:`FleetBatch`.

    Attributes
    ----------
    start : int
        Position of the first fleet (as in the batch).
    charge, discharge, soc, slack_up, slack_down : numpy.ndarray or None
        Shape ``(time, fleet)`` (see :class:`aggregator.exact_dp.FleetSolution`); None when the
        worker wrote them into the whole problem's arrays itself (``solve_fleet_batch(batch, into=...)``).
    objective, bound : numpy.ndarray
        The kernel's objective and certified upper bound per fleet ($).
    components_max : int
        Largest number of value-function components over the batch.
    exact : bool
        Whether no value function was capped.
    seconds : float
        Wall seconds the worker spent on the batch.
    """

    start: int
    charge: NDArray[np.float64] | None
    discharge: NDArray[np.float64] | None
    soc: NDArray[np.float64] | None
    slack_up: NDArray[np.float64] | None
    slack_down: NDArray[np.float64] | None
    objective: NDArray[np.float64]
    bound: NDArray[np.float64]
    components_max: int
    exact: bool
    seconds: float


def solve_fleet_batch(batch: FleetBatch, into: BatchAssembly | None = None) -> FleetBatchSolution:
    """Solve every fleet of a batch with the exact DP kernel, one after another.

    Parameters
    ----------
    batch : FleetBatch
    into : BatchAssembly, optional
        The whole problem's arrays, shared with the caller (a thread of the
        calling process): each fleet's dispatch is written straight into its
        columns there, and the solution carries no arrays (no copy per batch).

    Returns
    -------
    FleetBatchSolution
    """
    from .exact_dp import solve_fleet

    start = time.perf_counter()
    k, n = batch.pmax.shape
    if into is None:
        out = {name: np.empty((n, k)) for name in SOLUTION_ARRAYS}
    else:  # views of this batch's columns (other batches write other columns)
        out = {name: into.arrays[name][:, batch.start : batch.start + k] for name in SOLUTION_ARRAYS}
    objective, bound = np.empty(k), np.empty(k)
    components, exact = 1, True
    for i in range(k):
        terms = {}
        if batch.driving is not None:
            terms = dict(driving=batch.driving[i], floor=batch.floor[i])
        if batch.shortfall_penalty is not None:
            terms["shortfall_penalty"] = float(batch.shortfall_penalty[i])
        if batch.wear_cost is not None:
            terms["wear_cost"] = float(batch.wear_cost[i])
        sol = solve_fleet(
            batch.price, batch.dt, batch.pmax[i], batch.smin[i], batch.smax[i], float(batch.s_init[i]),
            float(batch.eta_in[i]), float(batch.eta_out[i]), batch.penalty, exclusive=batch.exclusive, **terms,
        )
        for name in SOLUTION_ARRAYS:
            out[name][:, i] = getattr(sol, name)
        objective[i], bound[i] = sol.objective, sol.bound
        components = max(components, int(sol.components_max))
        exact = exact and bool(sol.exact)
    arrays = out if into is None else dict.fromkeys(SOLUTION_ARRAYS)
    return FleetBatchSolution(
        start=batch.start, **arrays, objective=objective, bound=bound, components_max=components, exact=exact,
        seconds=time.perf_counter() - start,
    )


class BatchAssembly:
    """The whole problem's dispatch, filled in batch by batch as the solutions arrive.

    Parameters
    ----------
    steps, fleets : int
        Shape of the problem.

    Attributes
    ----------
    arrays : dict of numpy.ndarray
        :data:`SOLUTION_ARRAYS` over (time, fleet) (C order, like the
        in-process ``dp`` backend's, so that sums over time round alike); only
        the fleets of the batches that arrived are set.
    objective, bound : numpy.ndarray
        Per fleet, NaN where no batch has arrived.
    """

    def __init__(self, steps: int, fleets: int) -> None:
        self.arrays = {name: np.empty((steps, fleets)) for name in SOLUTION_ARRAYS}
        self.objective = np.full(fleets, np.nan)
        self.bound = np.full(fleets, np.nan)
        self.components_max = 1
        self.exact = True
        self.seconds = 0.0

    def add(self, solution: FleetBatchSolution) -> None:
        """Copy a batch's solution in (the caller may then drop it).

        Parameters
        ----------
        solution : FleetBatchSolution
        """
        stop = solution.start + solution.objective.shape[0]
        for name, array in self.arrays.items():
            values = getattr(solution, name)
            if values is not None:  # None: the worker wrote them here itself
                array[:, solution.start : stop] = values
        self.objective[solution.start : stop] = solution.objective
        self.bound[solution.start : stop] = solution.bound
        self.components_max = max(self.components_max, solution.components_max)
        self.exact = self.exact and solution.exact
        self.seconds += solution.seconds

    def complete(self) -> bool:
        """Whether every fleet's solution has arrived."""
        return bool(np.isfinite(self.objective).all())

    def totals(self) -> tuple[float, float]:
        """The sums of the fleets' claimed objectives and certified bounds (correctly rounded).

        Returns
        -------
        tuple of (float, float)
        """
        return math.fsum(self.objective.tolist()), math.fsum(self.bound.tolist())
