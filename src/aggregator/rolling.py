"""Rolling-horizon operation: solve a window with look-ahead, commit its start, move on.

An aggregator that bids day-ahead does not know the whole year's prices. It
solves, say, the next 48 hours, commits the first 24 (its bid), and solves the
next window from the state of charge it actually reached. The scenario asks
for this with

.. code-block:: toml

    [horizon]
    rolling = { window_hours = 48, commit_hours = 24 }

and :meth:`aggregator.Aggregator.solve` then returns the committed schedule
over the whole horizon (see :func:`solve_rolling`), together with the
perfect-foresight optimum of the same horizon, so that the profit lost to the
limited look-ahead is known.

Because the fleets share only the price, rolling operation of several fleets
is the same as rolling operation of each fleet on its own; the sweep runner
uses this to spread fleets over a cluster.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import xarray as xr

from .errors import InputError
from .formulation import VARIABLES
from .result import Result
from .solvers import SolveOutcome

if TYPE_CHECKING:  # pragma: no cover
    from .aggregator import Aggregator

__all__ = ["RollingSpec", "solve_rolling", "window_aggregator", "worst_status", "ROLLING_ATTRS"]

#: Attributes a rolling result carries in $ (additive over independent fleets).
ROLLING_ATTRS = (
    "rolling_profit",
    "rolling_objective",
    "perfect_foresight_profit",
    "perfect_foresight_objective",
    "perfect_foresight_bound",
    "foresight_loss",
)

# Worst first: the status of a rolling run is the worst status of its solves.
_STATUS_ORDER = ("error", "infeasible", "no_solution", "time_limit", "feasible", "optimal")


@dataclass(frozen=True)
class RollingSpec:
    """Rolling-horizon settings: the window solved and the part of it committed.

    Parameters
    ----------
    window_hours : float
        Hours looked ahead in each solve (the window), > 0.
    commit_hours : float
        Hours of each window's schedule that are kept before the next solve,
        in ``(0, window_hours]``.

    Examples
    --------
    >>> RollingSpec.from_mapping({"window_hours": 48, "commit_hours": 24})
    RollingSpec(window_hours=48.0, commit_hours=24.0)
    >>> RollingSpec.from_mapping({"window_hours": 24, "commit_hours": 48})
    Traceback (most recent call last):
    ...
    aggregator.errors.InputError: [horizon] rolling commit_hours = 48: expected at most window_hours = 24
    """

    window_hours: float
    commit_hours: float

    @classmethod
    def from_mapping(cls, data: "RollingSpec | Mapping[str, Any]", where: str = "[horizon] rolling") -> "RollingSpec":
        """Validate the ``rolling`` table of a scenario.

        Parameters
        ----------
        data : RollingSpec or mapping
            ``{"window_hours": ..., "commit_hours": ...}``.
        where : str
            Where the table is, for messages.

        Returns
        -------
        RollingSpec

        Raises
        ------
        InputError
            Unknown or missing key, a value that is not a positive number, or a
            commit longer than the window.
        """
        if isinstance(data, RollingSpec):
            return data
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a table such as {{ window_hours = 48, commit_hours = 24 }}, found {data!r}")
        known = ("window_hours", "commit_hours")
        for key in data:
            if key not in known:
                raise InputError(f"{where}: unknown key {key!r} (expected window_hours, commit_hours)")
        values = {}
        for key in known:
            if key not in data:
                raise InputError(f"{where}: `{key}` is missing")
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{where} {key} = {value!r}: expected a number of hours > 0")
            values[key] = float(value)
        if values["commit_hours"] > values["window_hours"]:
            raise InputError(
                f"{where} commit_hours = {data['commit_hours']!r}: expected at most window_hours = {data['window_hours']!r}"
            )
        return cls(**values)

    def steps(self, step_hours: float) -> tuple[int, int]:
        """The window and the commit in steps.

        Parameters
        ----------
        step_hours : float
            Length of a step in hours.

        Returns
        -------
        tuple of int
            ``(window_steps, commit_steps)``.

        Raises
        ------
        InputError
            If either is not a whole number of steps.
        """
        out = []
        for key in ("window_hours", "commit_hours"):
            hours = getattr(self, key)
            steps = int(round(hours / step_hours))
            if steps < 1 or abs(steps * step_hours - hours) > 1e-9 * max(1.0, hours):
                raise InputError(f"[horizon] rolling {key} = {hours:g} is not a whole number of {step_hours:g}-hour steps")
            out.append(steps)
        return out[0], out[1]

    def as_dict(self) -> dict[str, float]:
        """The settings as a scenario table.

        Returns
        -------
        dict
        """
        return {"window_hours": self.window_hours, "commit_hours": self.commit_hours}


def window_aggregator(aggregator: "Aggregator", start: int, stop: int, soc_kwh: np.ndarray | None = None) -> "Aggregator":
    """The same problem restricted to steps ``start:stop``, starting from a given state of charge.

    The copy keeps the aggregator's class, options and extensions (so a
    subclass's constraints apply in every window); it does not roll again.

    Parameters
    ----------
    aggregator : Aggregator
        The full-horizon problem.
    start, stop : int
        The steps of the window.
    soc_kwh : numpy.ndarray, optional
        Stored energy of each fleet before the window's first step, in kWh;
        default: each fleet's own initial state of charge.

    Returns
    -------
    Aggregator
    """
    fleets = []
    for i, fleet in enumerate(aggregator.fleets):
        changes: dict[str, Any] = fleet.window_options(start, stop)
        if soc_kwh is not None:
            # Fleet.initial_soc is a share of vehicles * battery_kwh.
            changes["initial_soc"] = float(np.clip(soc_kwh[i] / fleet.capacity_kwh, 0.0, 1.0))
        fleets.append(fleet.with_options(**changes))
    prices = aggregator.prices
    window = copy.copy(aggregator)
    window.fleets = fleets
    window.prices = prices.window(start, stop - start)  # keeps the zone and the currency
    if getattr(aggregator, "price_impact", None) is not None:
        window.price_impact = aggregator.price_impact[start:stop]
    window.rolling = None
    window.extensions = copy.deepcopy(aggregator.extensions)
    window.solver_options = dict(aggregator.solver_options)
    window._inputs = None
    # Same class and extensions: whether extensions change the model is known once for all windows.
    window._model_changed_by_extensions = aggregator._model_changed_by_extensions
    return window


def worst_status(statuses: Sequence[str]) -> str:
    """The worst of several solve statuses (``error`` < ``infeasible`` < ``no_solution`` < ``time_limit`` < ``feasible`` < ``optimal``).

    Parameters
    ----------
    statuses : sequence of str

    Returns
    -------
    str
        ``"error"`` for an empty sequence.

    Examples
    --------
    >>> worst_status(["optimal", "time_limit", "optimal"])
    'time_limit'
    """
    if not statuses:
        return "error"
    return min(statuses, key=lambda s: _STATUS_ORDER.index(s) if s in _STATUS_ORDER else 0)


def solve_rolling(
    aggregator: "Aggregator",
    solver: str | None = None,
    *,
    rolling: "RollingSpec | Mapping[str, Any] | None" = None,
    perfect_foresight: bool = True,
    mip_gap: float | None = None,
    time_limit: float | None = None,
    threads: int | None = None,
    verbose: bool = False,
    **options: Any,
) -> Result:
    """Operate the fleets over the horizon with a rolling look-ahead window.

    Window *k* covers steps ``[k * commit, k * commit + window)`` (cut at the
    end of the horizon); its first ``commit`` steps are kept, and the state of
    charge they end in is the next window's initial state of charge (converted
    to the share of ``vehicles * battery_kwh`` that :class:`~aggregator.Fleet`
    expects).  Each window is solved by :meth:`Aggregator.solve` with the same
    backend choice and options, so a faster backend speeds this up too.

    Parameters
    ----------
    aggregator : Aggregator
        The full-horizon problem.
    solver : str, optional
        Backend name or ``"auto"`` (default: the aggregator's).
    rolling : RollingSpec or mapping, optional
        Window and commit lengths; default: the aggregator's ``rolling``.
    perfect_foresight : bool
        Also solve the whole horizon at once and report the foresight loss.
    mip_gap, time_limit, threads, verbose, **options
        Passed to every :meth:`Aggregator.solve` call (``time_limit`` applies
        to each solve).

    Returns
    -------
    Result
        The committed schedule over the whole horizon.  ``objective`` is the
        documented objective (profit minus slack penalty) of that schedule;
        ``bound`` is the proven bound of the perfect-foresight problem, so
        ``gap`` measures the distance to the full-horizon optimum, foresight
        loss included.  ``status`` is the worst status of the solves.  Extra
        attributes: ``rolling_window_hours``, ``rolling_commit_hours``,
        ``rolling_windows``, ``rolling_profit``, ``rolling_objective``,
        ``perfect_foresight_profit``, ``perfect_foresight_objective``,
        ``perfect_foresight_bound``, ``foresight_loss`` (perfect-foresight
        objective minus rolling objective, in $; equal to the lost profit when
        no slack is used) and ``foresight_loss_share`` (of the
        perfect-foresight objective).  Data variable ``window`` (time) numbers
        the window each step was committed from.

    Raises
    ------
    InputError
        No rolling settings, or lengths that are not whole numbers of steps.

    Examples
    --------
    Prices 100, 10, 100 $/MWh; a lossless full 10 kWh fleet. Looking one hour
    ahead it sells at once and never sees the second peak: the
    perfect-foresight plan (sell, buy back, sell) earns 0.90 $ more.

    >>> from aggregator import Aggregator, Fleet, PriceSignal
    >>> fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10,
    ...               charge_efficiency=1.0, discharge_efficiency=1.0,
    ...               contract_limit=1.0, initial_soc=1.0, availability=[1, 1, 1])
    >>> agg = Aggregator([fleet], PriceSignal([100.0, 10.0, 100.0]))
    >>> r = solve_rolling(agg, "highs", rolling={"window_hours": 1, "commit_hours": 1})
    >>> round(r.dataset.attrs["rolling_profit"], 6), round(r.dataset.attrs["foresight_loss"], 6)
    (1.0, 0.9)
    """
    spec = RollingSpec.from_mapping(rolling if rolling is not None else getattr(aggregator, "rolling", None) or {})
    window_steps, commit_steps = spec.steps(aggregator.step_hours)
    n = aggregator.steps
    solve_kwargs = dict(mip_gap=mip_gap, time_limit=time_limit, threads=threads, verbose=verbose, **options)
    start_clock = time.perf_counter()

    soc = np.array([f.initial_soc * f.capacity_kwh for f in aggregator.fleets], float)
    pieces: list[xr.Dataset] = []
    window_of_step = np.empty(n, dtype=np.int32)
    statuses, solvers, choices, messages = [], set(), set(), []
    solve_seconds = 0.0
    objective = 0.0
    windows = 0
    for start in range(0, n, commit_steps):
        stop = min(start + window_steps, n)
        keep = min(commit_steps, stop - start)
        window = window_aggregator(aggregator, start, stop, soc)
        result = window.solve(solver, **solve_kwargs)
        if aggregator._model_changed_by_extensions is None and window._model_changed_by_extensions is not None:
            aggregator = copy.copy(aggregator)  # remember it for the next windows, not in the caller's object
            aggregator._model_changed_by_extensions = window._model_changed_by_extensions
        statuses.append(result.status)
        solvers.add(str(result.dataset.attrs.get("solver", "")))
        choices.add(str(result.dataset.attrs.get("solver_choice", "")))
        solve_seconds += float(result.dataset.attrs.get("solve_seconds", 0.0))
        if not result.has_solution:
            messages.append(f"window {windows} (steps {start}-{stop - 1}): {result.status} {result.dataset.attrs.get('message', '')}".strip())
            break
        committed = result.dataset[list(VARIABLES)].isel(time=slice(0, keep))
        pieces.append(committed)
        window_of_step[start : start + keep] = windows
        soc = committed["soc"].isel(time=-1).to_numpy().astype(float)
        dt = aggregator.step_hours
        profit = float((committed["discharge"] - committed["charge"]).sum("fleet").dot(result.dataset["price"].isel(time=slice(0, keep)))) * dt / 1000.0
        penalty = float((committed["slack_up"] + committed["slack_down"]).sum()) * aggregator.slack_penalty
        objective += profit - penalty
        windows += 1

    full = None
    if perfect_foresight:
        full_problem = window_aggregator(aggregator, 0, n)
        full = full_problem.solve(solver, **solve_kwargs)
        statuses.append(full.status)
        solve_seconds += float(full.dataset.attrs.get("solve_seconds", 0.0))
        if full.status != "optimal":
            messages.append(f"perfect-foresight solve: {full.status} {full.dataset.attrs.get('message', '')}".strip())

    complete = len(pieces) == windows and sum(p.sizes["time"] for p in pieces) == n
    status = worst_status(statuses)
    if complete:
        solution = xr.concat(pieces, dim="time")
        solution = solution.assign_coords(time=aggregator.inputs["time"])
        bound = full.bound if full is not None and full.has_solution else math.nan
        outcome = SolveOutcome(
            status=status,
            objective=objective,
            bound=bound if math.isnan(bound) else max(bound, objective),
            solution=solution,
            solver=", ".join(sorted(s for s in solvers if s)),
            solve_seconds=solve_seconds,
            termination=f"rolling: {windows} windows",
            message="; ".join(messages),
        )
    else:
        outcome = SolveOutcome(
            status=status if status != "optimal" else "error",
            solver=", ".join(sorted(s for s in solvers if s)),
            solve_seconds=solve_seconds,
            termination="rolling: stopped",
            message="; ".join(messages) or "a window had no solution",
        )
    choice = "rolling horizon; " + "; ".join(sorted(c for c in choices if c))
    mip = float(mip_gap if mip_gap is not None else aggregator.solver_options.get("mip_gap", 1e-4))
    out = Result.from_outcome(
        aggregator.inputs, outcome, choice=choice, wall_seconds=time.perf_counter() - start_clock, mip_gap=mip, name=aggregator.name
    )
    attrs = out.dataset.attrs
    attrs.update(
        rolling_window_hours=spec.window_hours,
        rolling_commit_hours=spec.commit_hours,
        rolling_windows=windows,
    )
    if complete:
        out.dataset["window"] = xr.DataArray(
            window_of_step, dims="time", attrs={"units": "1", "long_name": "rolling window the step was committed from"}
        )
        attrs = out.dataset.attrs  # adding a variable may replace the attrs dict
        attrs["rolling_profit"] = out.profit
        attrs["rolling_objective"] = objective
    if full is not None and full.has_solution:
        attrs["perfect_foresight_profit"] = full.profit
        attrs["perfect_foresight_objective"] = full.objective
        attrs["perfect_foresight_bound"] = full.bound
        if complete:
            loss = full.objective - objective
            attrs["foresight_loss"] = loss
            attrs["foresight_loss_share"] = loss / abs(full.objective) if full.objective else 0.0
    return out
