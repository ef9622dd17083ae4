"""The aggregation error of "vehicles" fleets: their value against their "energy" aggregate.

For a fleet of individual vehicles (``representation = "vehicles"``) the
aggregate is the ``"energy"`` fleet built from the same vehicles: the
vehicles' summed power (chargers of the vehicles plugged in), energy
(``[(1 - c) N E, N E]``), driving and departure needs.  Both are solved, and
the difference of their objectives is the *aggregation error* of the fleet:
how much the one-battery view overstates (or understates) the fleet's value.
The docs page "The model" proves that the aggregate is never worth less than
the vehicles when charging is not exclusive or no price is negative, and
shows why exclusive charging at negative prices can reverse the sign.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .fleet import Fleet

if TYPE_CHECKING:  # pragma: no cover
    from .aggregator import Aggregator
    from .result import Result

__all__ = ["energy_aggregate", "aggregation_errors", "add_aggregation_errors"]


def energy_aggregate(fleet: Fleet, steps: int) -> Fleet:
    """The ``"energy"`` fleet built from a ``"vehicles"`` fleet's vehicles.

    Parameters
    ----------
    fleet : Fleet
        A fleet with ``representation = "vehicles"``.
    steps : int
        Steps of the horizon.

    Returns
    -------
    Fleet
        Same name and parameters; availability = share of the vehicles plugged
        in, ``driving_kwh`` = their driving energy per vehicle, ``min_soc`` =
        their summed departure needs as a share of ``vehicles * battery_kwh``.
    """
    plugged, driving, departs = fleet.trips.totals(steps)
    n = fleet.vehicles
    need = float(fleet.profile("min_soc", 1)[0])
    return Fleet(
        fleet.name,
        vehicles=fleet.vehicles,
        battery_kwh=fleet.battery_kwh,
        charger_kw=fleet.charger_kw,
        charge_efficiency=fleet.charge_efficiency,
        discharge_efficiency=fleet.discharge_efficiency,
        contract_limit=fleet.contract_limit,
        initial_soc=fleet.initial_soc,
        availability=np.clip(plugged / n, 0.0, 1.0),
        representation="energy",
        driving_kwh=driving / n,
        min_soc=np.clip(departs * need / n, 0.0, 1.0),
        shortfall_penalty=fleet.shortfall_penalty,
        wear_cost=fleet.wear_cost,
    )


def aggregation_errors(aggregator: "Aggregator", result: "Result", **solve_options) -> pd.DataFrame:
    """Solve the energy aggregates of the "vehicles" fleets and compare.

    Parameters
    ----------
    aggregator : Aggregator
        The problem that was solved.
    result : Result
        Its result.
    **solve_options
        Passed to :meth:`Aggregator.solve` of the aggregate problem.

    Returns
    -------
    pandas.DataFrame
        One row per "vehicles" fleet: ``vehicles`` (its objective, $),
        ``aggregate`` (the aggregate's objective, $), ``error`` (aggregate -
        vehicles, $), ``relative`` (error divided by the absolute aggregate), ``aggregate_bound``.
    """
    from .aggregator import Aggregator

    chosen = [f for f in aggregator.fleets if f.representation == "vehicles"]
    rows = pd.DataFrame(columns=["vehicles", "aggregate", "error", "relative", "aggregate_bound"], dtype=float)
    if not chosen:
        return rows
    aggregate = Aggregator(
        [energy_aggregate(f, aggregator.steps) for f in chosen],
        aggregator.prices,
        slack_penalty=aggregator.slack_penalty,
        exclusive_charging=aggregator.exclusive_charging,
        solver=aggregator.solver,
        solver_options=aggregator.solver_options,
        name=f"{aggregator.name} (energy aggregate)",
    )
    solved = aggregate.solve(**solve_options)
    mine = result.fleet_objective
    theirs = solved.fleet_objective
    for f in chosen:
        value, agg = float(mine[f.name]), float(theirs[f.name])
        error = agg - value
        rows.loc[f.name] = [value, agg, error, error / abs(agg) if agg != 0 else math.nan, float(solved.bound)]
    rows.attrs["status"] = solved.status
    return rows


def add_aggregation_errors(aggregator: "Aggregator", result: "Result", **solve_options) -> None:
    """Solve the aggregates and put the errors in the result (``aggregate_objective``, ``aggregation_error``, ...).

    Parameters
    ----------
    aggregator : Aggregator
    result : Result
    **solve_options
        Passed to the aggregate's solve.
    """
    table = aggregation_errors(aggregator, result, **solve_options)
    if table.empty:
        return
    fleets = result.dataset.indexes["fleet"]
    for column, name, unit in (
        ("aggregate", "aggregate_objective", "$"),
        ("error", "aggregation_error", "$"),
        ("relative", "aggregation_error_relative", "1"),
    ):
        values = table[column].reindex(fleets).to_numpy(dtype=float)
        result.dataset[name] = xr.DataArray(values, dims="fleet", coords={"fleet": fleets}, attrs={"units": unit})
    result.dataset.attrs["aggregate_status"] = str(table.attrs.get("status", ""))
