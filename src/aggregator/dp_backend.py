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

from .fleet_problem import VehicleChunkSolution, solve_fleet_problem
from .process_pool import worker_pool
from .solvers import SolveOutcome, SolverBackend, SolverOptions, absolute_tolerance, relative_gap

if TYPE_CHECKING:  # pragma: no cover
    from .aggregator import Aggregator

__all__ = [
    "DPBackend",
    "fleet_problems",
    "solve_fleet_problem",
    "solve_fleet_problems",
    "combine_fleet_solutions",
    "dp_outcome",
    "VehicleChunkSolution",
    "vehicles_per_chunk",
]

#: Certified gaps at or below this count as optimal whatever gap was requested:
#: they are the a-priori allowance for floating-point rounding, not a search gap.
NUMERICAL_GAP = 1e-8

#: Below this many (fleet x step) cells the fleets are solved in this process: a worker process costs
#: about 0.2 s of start-up (fork, set-up, results sent back), the compiled kernel about 1.5 us per
#: fleet-step (the seed study's 4 fleet-years, 35,040 cells, take about 50 ms in this process).
PARALLEL_MIN_CELLS = 250_000


#: Fewest vehicles of a "vehicles" fleet solved in one task (one problem of :func:`fleet_problems`).
VEHICLES_PER_TASK = 25

#: Most vehicles in one task: its sums are 6 x 8760 h floats (420 kB) whatever its size.
VEHICLES_PER_TASK_MAX = 500

#: A fleet's vehicles are split into about this many tasks (between the two sizes above).
VEHICLE_TASKS = 64


def vehicles_per_chunk(count: int) -> int:
    """Vehicles per chunk (task) of a "vehicles" fleet of ``count`` vehicles.

    About :data:`VEHICLE_TASKS` chunks, each of :data:`VEHICLES_PER_TASK` to
    :data:`VEHICLES_PER_TASK_MAX` vehicles.  It depends on the fleet alone
    (not on the workers), so that a fleet is summed chunk by chunk in the
    same order wherever its chunks are solved: on the local pool and on Dask
    the totals agree to the last bit.

    Parameters
    ----------
    count : int
        Vehicles of the fleet.

    Returns
    -------
    int

    Examples
    --------
    >>> vehicles_per_chunk(200), vehicles_per_chunk(10_000), vehicles_per_chunk(100_000)
    (25, 157, 500)
    """
    return int(min(VEHICLES_PER_TASK_MAX, max(VEHICLES_PER_TASK, -(-int(count) // VEHICLE_TASKS))))


def fleet_problems(inputs: xr.Dataset) -> list[dict[str, Any]]:
    """The per-fleet problems of the inputs, as keyword arguments of ``solve_fleet``.

    A "vehicles" fleet gives one problem per :func:`vehicles_per_chunk`
    vehicles instead (a dict with the key ``"vehicle_chunk"``, holding only
    the chunk's trips, so memory stays flat in the number of vehicles); its
    vehicles are independent one-battery problems.

    Parameters
    ----------
    inputs : xarray.Dataset
        Validated inputs (see :attr:`aggregator.Aggregator.inputs`).

    Returns
    -------
    list of dict
        In the order of the ``fleet`` dimension (a "vehicles" fleet's chunks in
        the order of its vehicles).
    """
    price = inputs["price"].to_numpy()
    dt = float(inputs.attrs["step_hours"])
    penalty = float(inputs.attrs["slack_penalty"])
    exclusive = bool(inputs.attrs["exclusive_charging"])
    pmax = inputs["power_max"].transpose("time", "fleet").to_numpy()
    smin = inputs["soc_min"].transpose("time", "fleet").to_numpy()
    smax = inputs["soc_max"].transpose("time", "fleet").to_numpy()
    has_terms = "driving" in inputs
    from .price_impact import has_price_impact

    from .price_impact import impact_of

    impact = impact_of(inputs) if has_price_impact(inputs) else None
    reps = inputs.attrs.get("representations", {})
    problems = []
    for j in range(inputs.sizes["fleet"]):
        problem = dict(
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
        if has_terms:
            problem.update(
                driving=np.ascontiguousarray(inputs["driving"].values[:, j]),
                floor=np.ascontiguousarray(inputs["soc_floor"].values[:, j]),
                shortfall_penalty=float(inputs["shortfall_penalty"].values[j]),
                wear_cost=float(inputs["wear_cost"].values[j]),
            )
        if impact is not None:  # one fleet only (see DPBackend.supports): it alone moves the price
            problem["impact"] = impact
        name = inputs.indexes["fleet"][j]
        if reps.get(name) != "vehicles":
            problems.append(problem)
            continue
        problems.extend(_vehicle_chunks(inputs, j, problem))
    return problems


def _vehicle_chunks(inputs: xr.Dataset, j: int, problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a "vehicles" fleet: its trips, vehicle parameters and what to keep."""
    name = inputs.indexes["fleet"][j]
    vehicles = np.flatnonzero(inputs["vehicle_fleet"].to_numpy() == j)
    trip_vehicle = inputs["trip_vehicle"].to_numpy()
    battery = float(inputs["battery_kwh"].values[j])
    common = {k: problem[k] for k in ("price", "dt", "eta_in", "eta_out", "penalty", "exclusive", "shortfall_penalty", "wear_cost")}
    common.update(
        charger_kw=float(inputs["charger_kw"].values[j]),
        smin=(1 - float(inputs["contract_limit"].values[j])) * battery,
        smax=battery,
        s_init=float(inputs["initial_soc"].values[j]) * battery,
        need_kwh=float(inputs.attrs.get("vehicle_min_soc", {}).get(name, 0.0)) * battery,
        keep=inputs.attrs.get("vehicle_results", {}).get(name, "all") == "all",
    )
    order = np.argsort(trip_vehicle, kind="stable")  # each vehicle's trips in their order
    bounds = np.searchsorted(trip_vehicle[order], vehicles)
    ends = np.searchsorted(trip_vehicle[order], vehicles, side="right")
    first, last, energy = (inputs[k].to_numpy() for k in ("trip_first", "trip_last", "trip_energy"))
    chunks = []
    size = vehicles_per_chunk(vehicles.size)
    for start in range(0, vehicles.size, size):
        members = vehicles[start : start + size]
        trips = np.concatenate([order[a:b] for a, b in zip(bounds[start : start + members.size], ends[start : start + members.size])])
        chunk = dict(common)
        chunk.update(
            vehicle_chunk=True,
            vehicles=members,
            trip_vehicle=trip_vehicle[trips],
            trip_first=first[trips],
            trip_last=last[trips],
            trip_energy=energy[trips],
        )
        chunks.append(chunk)
    return chunks


def solve_fleet_problems(problems: list[dict[str, Any]], options: SolverOptions) -> tuple[list, int]:
    """Solve fleet problems, in parallel over the local cores when there is enough work.

    Too little work for a pool is solved in this process, or by the command
    line's kernel worker when one runs (:mod:`aggregator.kernel_worker`;
    in this process if it died).

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
    from .kernel_worker import current_kernel_worker

    helper = current_kernel_worker()  # the command line's worker, loading the kernel since the run began
    if helper is not None and workers == 1:
        solutions = helper.solve(problems)
        if solutions is not None:
            return solutions, 1
    elif helper is not None:
        helper.close()  # a pool solves these: its workers get the helper's core
    from .exact_dp import prepare_kernel

    prepare_kernel()  # compiled (or loaded) here once, so that worker processes load it from the cache
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
        return _shared_curve(aggregator)

    def solve(self, aggregator: "Aggregator", options: SolverOptions) -> SolveOutcome:  # noqa: D102
        inputs = aggregator.inputs
        problems = fleet_problems(inputs)
        for problem in problems:
            if "impact" in problem:
                problem["gap"] = max(options.mip_gap, 1e-7)  # 0 cannot be certified by refinement
        start = time.perf_counter()
        from .price_impact import has_price_impact

        single = len(problems) == 1 and problems[0]["exclusive"] and not problems[0].get("vehicle_chunk")
        if has_price_impact(inputs) and not single:
            # several blocks (fleets, chunks of vehicles) move one price, or one fleet may charge and
            # discharge at once (a concave problem the single price maker's vertices do not describe)
            return _solve_shared_impact(inputs, problems, options, start)
        solutions, workers = solve_fleet_problems(problems, options)
        seconds = time.perf_counter() - start
        return combine_fleet_solutions(inputs, solutions, seconds=seconds, workers=workers, mip_gap=options.mip_gap)


def _shared_curve(aggregator: "Aggregator") -> str | None:
    """Why dp does not solve a supply curve shared by several blocks (None: one fleet, or no curve)."""
    from .price_impact import moves_price
    from .supply_curve import SupplyCurve

    impact = getattr(aggregator, "price_impact", None)
    if not isinstance(impact, SupplyCurve) or not moves_price(impact):
        return None
    vehicles = any(f.representation == "vehicles" for f in aggregator.fleets)
    if len(aggregator.fleets) > 1 or vehicles or not aggregator.exclusive_charging:
        return ("the fleets share a supply curve ([prices] impact curve or points): dp solves one fleet with "
                "exclusive charging, the shared price only with a slope beta; the MILP (HiGHS) solves this one")
    return None


def _solve_shared_impact(inputs: xr.Dataset, problems: list[dict[str, Any]], options: SolverOptions,
                         start: float) -> SolveOutcome:
    """Fleets that move one price: coordinate ascent and a Lagrangian bound (:mod:`aggregator.shared_impact`)."""
    from .shared_impact import solve_shared_impact

    plain = [{k: v for k, v in p.items() if k not in ("impact", "gap")} for p in problems]
    limit = options.time_limit if options.time_limit is not None else math.inf
    gap = max(options.mip_gap, 1e-7)  # 0 cannot be certified by refinement
    shared = solve_shared_impact(plain, inputs["price_impact"].to_numpy(), gap=gap, time_limit=limit)
    outcome = combine_fleet_solutions(inputs, shared.fleets, seconds=time.perf_counter() - start,
                                      mip_gap=options.mip_gap)
    outcome.objective, outcome.bound = shared.objective, shared.bound
    gap = relative_gap(shared.objective, shared.bound, absolute_tolerance(inputs))
    outcome.status = "optimal" if math.isfinite(gap) and gap <= max(options.mip_gap, NUMERICAL_GAP) else "feasible"
    if outcome.status != "optimal":
        outcome.message = (f"the fleets share the price: certified gap {gap:.3g} after {shared.rounds} rounds "
                           f"(requested {options.mip_gap:g})")
        floor = relative_gap(shared.objective, shared.dual_floor) if math.isfinite(shared.dual_floor) else math.nan
        if floor > options.mip_gap:
            outcome.message += (f"; the master's best combination lies {floor:.3g} above the dispatch, and no "
                                "Lagrangian bound below it (a duality gap of exclusive charging)")
    outcome.details["rounds"] = shared.rounds
    outcome.details["dual_floor"] = shared.dual_floor  # no Lagrangian bound falls below it
    return outcome


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

    per_fleet, vehicle_parts = _gather_by_fleet(inputs, solutions)
    coords = {"time": inputs["time"], "fleet": inputs["fleet"]}
    data = {
        name: xr.DataArray(np.stack([getattr(s, name) for s in per_fleet], axis=1), dims=("time", "fleet"), coords=coords)
        for name in list(VARIABLES) + ["shortfall"]
    }
    if vehicle_parts:
        index = np.concatenate([p.vehicles for p in vehicle_parts])
        vcoords = {"time": inputs["time"], "vehicle": inputs["vehicle"].values[index]}
        for name in ("charge", "discharge", "soc", "shortfall"):
            values = np.concatenate([p.per_vehicle[name] for p in vehicle_parts], axis=1)
            data[f"vehicle_{name}"] = xr.DataArray(values, dims=("time", "vehicle"), coords=vcoords)
        solution = xr.Dataset(data).reindex(vehicle=inputs["vehicle"].values, fill_value=np.nan)
    else:
        solution = xr.Dataset(data)
    passes = (
        {"passes": max(s.passes for s in solutions), "segments_max": max(s.segments_max for s in solutions)}
        if all(hasattr(s, "passes") for s in solutions) else {}
    )
    return dp_outcome(
        inputs,
        solution,
        objective=math.fsum(s.objective for s in solutions),
        bound=math.fsum(s.bound for s in solutions),
        exact=all(s.exact for s in solutions),
        components_max=int(max(s.components_max for s in solutions)),
        seconds=seconds,
        mip_gap=mip_gap,
        details={"workers": workers, **passes},
    )


def dp_outcome(
    inputs: xr.Dataset,
    solution: xr.Dataset,
    *,
    objective: float,
    bound: float,
    exact: bool,
    components_max: int,
    seconds: float,
    mip_gap: float = 1e-4,
    details: dict[str, Any] | None = None,
) -> SolveOutcome:
    """The :class:`~aggregator.solvers.SolveOutcome` of DP solutions: status from the certified gap.

    Parameters
    ----------
    inputs : xarray.Dataset
        The problem's inputs (for its absolute tolerance).
    solution : xarray.Dataset
        The dispatch over (time, fleet).
    objective, bound : float
        Sums of the fleets' objectives and certified bounds ($).
    exact : bool
        Whether no value function was capped.
    components_max : int
        Largest number of value-function components.
    seconds : float
        Wall time spent.
    mip_gap : float
        Requested gap, to decide the status.
    details : dict, optional
        More solver facts (``workers``, ...).

    Returns
    -------
    SolveOutcome
    """
    # An optimum at or near 0 has a bound of a rounding allowance above it: the problem's absolute
    # tolerance (steps x the largest one-step change of the objective x 1e-12) makes that gap 0.
    gap = relative_gap(objective, bound, absolute_tolerance(inputs))
    # The DP is exact; its certified gap is the rounding allowance (about 1e-10), which
    # meets any request down to NUMERICAL_GAP, including mip_gap = 0.  A capped value
    # function leaves a valid bound that may not be tight: a solution without a proven gap.
    status = "optimal" if math.isfinite(gap) and gap <= max(mip_gap, NUMERICAL_GAP) else "feasible"
    message = "" if exact else "the DP's value function was capped; the bound is valid but not tight"
    return SolveOutcome(
        status=status,
        objective=objective,
        bound=bound,
        solution=solution,
        solver=f"dp {_version()}",
        solve_seconds=seconds,
        termination="optimal" if exact else "capped",
        message=message,
        details={**(details or {}), "components_max": int(components_max), "exact": int(exact)},
    )


def _gather_by_fleet(inputs: xr.Dataset, solutions: list) -> tuple[list, list]:
    """One solution per fleet (a "vehicles" fleet's chunks summed) and the chunks that keep their vehicles."""
    reps = inputs.attrs.get("representations", {})
    per_fleet, kept = [], []
    queue = list(solutions)
    position = 0
    for name in inputs.indexes["fleet"]:
        if reps.get(name) != "vehicles":
            per_fleet.append(queue[position])
            position += 1
            continue
        count = int((inputs["vehicle_fleet"].to_numpy() == list(inputs.indexes["fleet"]).index(name)).sum())
        chunks = queue[position : position + -(-count // vehicles_per_chunk(count))]
        position += len(chunks)
        total = VehicleChunkSolution(
            **{k: np.sum([getattr(c, k) for c in chunks], axis=0) for k in ("charge", "discharge", "soc", "slack_up", "slack_down", "shortfall")},
            **{k: math.fsum(getattr(c, k) for c in chunks) for k in ("objective", "profit", "penalty", "wear", "shortfall_cost", "bound")},
            components_max=max(c.components_max for c in chunks),
            exact=all(c.exact for c in chunks),
            vehicles=np.concatenate([c.vehicles for c in chunks]),
            per_vehicle=None,
        )
        per_fleet.append(total)
        kept += [c for c in chunks if c.per_vehicle is not None]
    return per_fleet, kept


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aggregator")
    except PackageNotFoundError:  # pragma: no cover
        return ""
