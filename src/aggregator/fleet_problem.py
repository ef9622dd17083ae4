"""One fleet problem of the ``dp`` backend solved: a picklable task that needs numpy and the kernel only.

:func:`solve_fleet_problem` solves one problem of
:func:`aggregator.dp_backend.fleet_problems` (a fleet, or a chunk of the
vehicles of a "vehicles" fleet).  It lives apart from the backend, which
imports xarray, so that a process that only solves (a pool worker, the
command line's kernel worker, see :mod:`aggregator.kernel_worker`) imports
numba and numpy, not xarray and pandas.  :mod:`aggregator.dp_backend`
re-exports both names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["solve_fleet_problem", "VehicleChunkSolution"]


def solve_fleet_problem(problem: dict[str, Any]):
    """Solve one fleet's problem (a picklable task for process pools and Dask).

    Parameters
    ----------
    problem : dict
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`, or a
        chunk of a "vehicles" fleet (see :func:`aggregator.dp_backend.fleet_problems`).

    Returns
    -------
    aggregator.exact_dp.FleetSolution or VehicleChunkSolution
    """
    from .exact_dp import solve_fleet

    if problem.get("vehicle_chunk"):
        return _solve_vehicle_chunk(problem)
    if "impact" in problem:
        from .price_impact import solve_fleet_with_impact

        return solve_fleet_with_impact(**problem)
    return solve_fleet(**problem)


@dataclass(eq=False)
class VehicleChunkSolution:
    """The solutions of some vehicles of one "vehicles" fleet: their sums, and each vehicle's when kept.

    Attributes
    ----------
    charge, discharge, soc, slack_up, slack_down, shortfall : numpy.ndarray
        Sums over the chunk's vehicles, per step.
    objective, profit, penalty, wear, shortfall_cost, bound : float
        Sums over the vehicles ($; the bound is a sum of certified bounds).
    components_max : int
    exact : bool
    vehicles : numpy.ndarray
        Global indices of the chunk's vehicles (the ``vehicle`` dimension).
    per_vehicle : dict of numpy.ndarray or None
        ``charge``, ``discharge``, ``soc``, ``shortfall`` over (time, vehicle of the chunk).
    """

    charge: np.ndarray
    discharge: np.ndarray
    soc: np.ndarray
    slack_up: np.ndarray
    slack_down: np.ndarray
    shortfall: np.ndarray
    objective: float
    profit: float
    penalty: float
    wear: float
    shortfall_cost: float
    bound: float
    components_max: int
    exact: bool
    vehicles: np.ndarray
    per_vehicle: dict[str, np.ndarray] | None


def _solve_vehicle_chunk(chunk: dict[str, Any]) -> VehicleChunkSolution:
    from .exact_dp import solve_fleet
    from .vehicles import trip_profile_block

    price = chunk["price"]
    n = price.shape[0]
    sums = {k: np.zeros(n) for k in ("charge", "discharge", "soc", "slack_up", "slack_down", "shortfall")}
    kept: dict[str, list[np.ndarray]] = {k: [] for k in ("charge", "discharge", "soc", "shortfall")}
    totals = {k: [] for k in ("objective", "profit", "penalty", "wear", "shortfall_cost", "bound")}
    components, exact = 1, True
    members = np.asarray(chunk["vehicles"])
    rows = np.searchsorted(members, chunk["trip_vehicle"])  # members are in order (see _vehicle_chunks)
    plugged_all, driving_all, departs_all = trip_profile_block(
        rows, chunk["trip_first"], chunk["trip_last"], chunk["trip_energy"], members.size, n
    )  # one row per vehicle: each row is contiguous, as the kernel takes it
    floor_all = np.where(departs_all, chunk["need_kwh"], 0.0)
    pmax_all = plugged_all * chunk["charger_kw"]
    for k in range(members.size):
        sol = solve_fleet(
            price,
            chunk["dt"],
            pmax_all[k],
            chunk["smin"],
            chunk["smax"],
            chunk["s_init"],
            chunk["eta_in"],
            chunk["eta_out"],
            chunk["penalty"],
            exclusive=chunk["exclusive"],
            driving=driving_all[k],
            floor=floor_all[k],
            shortfall_penalty=chunk["shortfall_penalty"],
            wear_cost=chunk["wear_cost"],
        )
        for key, total in sums.items():
            total += getattr(sol, key)
        if chunk["keep"]:
            for key, parts in kept.items():
                parts.append(getattr(sol, key))
        for key, values in totals.items():
            values.append(getattr(sol, key))
        components = max(components, sol.components_max)
        exact = exact and sol.exact
    return VehicleChunkSolution(
        **sums,
        **{key: math.fsum(values) for key, values in totals.items()},
        components_max=components,
        exact=exact,
        vehicles=np.asarray(chunk["vehicles"]),
        per_vehicle={k: np.stack(v, axis=1) for k, v in kept.items()} if chunk["keep"] else None,
    )
