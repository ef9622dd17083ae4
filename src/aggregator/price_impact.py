"""Price impact: the price moves with the aggregator's net purchase (a price maker).

With the net purchase ``q_t = sum_f (P^in_{t,f} - P^out_{t,f}) / 1000`` (MW)
the price paid or received is ``p_t(q_t) = lambda_t + beta_t q_t`` with
``beta_t >= 0`` in $/MWh per MW, and the revenue of a step is
``-p_t(q_t) q_t dt = -lambda_t q_t dt - beta_t q_t^2 dt``: the price-taker
revenue minus the *market impact* ``beta_t q_t^2 dt`` (a concave term).

This module holds everything about it that is not the documented linear
model: the interface that a slope ``beta`` (:class:`LinearImpact`) and a
supply curve (:class:`aggregator.supply_curve.SupplyCurve`) both implement
and every solver takes them through (:class:`ImpactCost`), the validation
of ``beta`` (:func:`impact_profile`), the impact cost
and the price faced of a dispatch (:func:`market_impact`,
:func:`price_faced`), and the exact solution of one fleet with a certified
bound by the piecewise-linear dynamic programme of
:mod:`aggregator.exact_dp` (:func:`solve_fleet_with_impact`).

The DP is given the step revenue as vertices (see :func:`step_vertices`):
per side (charging, discharging) ``n`` equal power segments.  The *inner*
(chord) approximation has its vertices on the curve, so it lies below the
concave step revenue by at most ``c h^2 / 4`` (``c = beta dt / 10^6`` in $
per kW^2, ``h = pmax / n``); the *outer* (tangent) approximation has the
tangents at the same powers, so it lies above by at most as much.  Hence
(docs page "How the exact backend works", price impact):

* the DP value over the inner vertices is the value of a feasible dispatch
  evaluated with a revenue that is never above the true one, and the true
  objective of the trajectory it returns is recomputed exactly;
* that DP value plus ``sum_t c_t h_t^2 / 4`` is an upper bound of the true
  optimum (every step's true revenue is at most the inner one plus its
  error, and the Bellman operator is monotone);
* the DP value over the outer vertices is an upper bound as well (the outer
  revenue is never below the true one); it is tighter, because only the
  errors along its own optimal path count.

:func:`solve_fleet_with_impact` picks the segment counts from an error
budget, runs the inner pass (and the outer one when the a-priori bound is
not tight enough) and refines until the certified gap meets the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError
from .fleet_solution import FleetSolution
from .solvers import relative_gap
from .supply_curve import SupplyCurve, TangentLines

__all__ = [
    "IMPACT_KEY",
    "ImpactCost",
    "LinearImpact",
    "impact_cost",
    "ImpactFleetSolution",
    "impact_profile",
    "has_price_impact",
    "is_price_maker",
    "moves_price",
    "impact_of",
    "curve_variables",
    "net_purchase",
    "market_impact",
    "impact_shares",
    "price_faced",
    "step_vertices",
    "chord_error",
    "solve_fleet_with_impact",
    "TANGENTS",
    "tangent_points",
    "tangent_error",
    "linearisation_allowance",
    "ImpactTangents",
    "tangent_table",
]

#: The scenario key of the slope: ``[prices] impact``.
IMPACT_KEY = "[prices] impact"

#: Tangents per step of the piecewise-linear (outer) form in the linopy model.
TANGENTS = 65


def solve_fleet(*args: Any, **kwargs: Any) -> FleetSolution:
    """:func:`aggregator.exact_dp.solve_fleet`, imported on first use: reading inputs needs no numba."""
    from .exact_dp import solve_fleet as kernel

    return kernel(*args, **kwargs)


#: Most refinement rounds of :func:`solve_fleet_with_impact`.
MAX_ROUNDS = 6

#: Most segments per side and step (memory and time guard of the refinement).
MAX_SEGMENTS = 4096

_U = float(np.finfo(float).eps) / 2.0

#: One step's revenue as concave modes of vertices for the DP: ``(vy, vr, vin, vout)`` per mode.
Modes = list[tuple[list[float], list[float], list[float], list[float]]]


@runtime_checkable
class ImpactCost(Protocol):
    """The market impact of the net purchase, per step: what the solvers need of a price impact.

    The price of step ``t`` is ``lambda_t + s_t(q)`` for the net purchase
    ``q`` (MW, all fleets), ``s_t`` nondecreasing with ``s_t(0) = 0``; the
    market impact is ``q s_t(q) dt``.  Two models implement it: a slope
    ``beta`` (:class:`LinearImpact`) and a piecewise-linear residual-supply
    curve (:class:`aggregator.supply_curve.SupplyCurve`).  The exact DP takes
    a step's revenue from :meth:`step_modes`, the linopy model its tangents
    from :meth:`tangent_lines` (:func:`tangent_table`), the accounting the
    cost and price from :meth:`cost` and :meth:`shift_at`, and the shared
    price (:mod:`aggregator.shared_impact`) needs :meth:`slope_range` to be
    one slope per step (a quadratic impact).
    """

    @property
    def steps(self) -> int:
        """Steps of the horizon."""

    def moves(self) -> NDArray[np.bool_]:
        """Per step: whether the price moves at all."""

    def shift_at(self, q: ArrayLike) -> NDArray[np.float64]:
        """The price shift ``s_t(q_t)`` ($/MWh) of one net purchase per step (MW)."""

    def cost(self, q: ArrayLike, dt: float) -> float:
        """The market impact ``sum_t q_t s_t(q_t) dt`` ($) of a net purchase per step (MW)."""

    def slope_range(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per step the least and the largest slope of ``s_t`` ($/MWh per MW)."""

    def full_power_impact(self, pmax: ArrayLike, dt: float) -> NDArray[np.float64]:
        """Per step the largest market impact at a purchase or sale of ``pmax`` kW ($): the scale of its rounding."""

    def step_modes(self, t: int, lam: float, pmax: float, dt: float, eta_in: float, eta_out: float, budget: float, *,
                   outer: bool = False, wear: float = 0.0, drive: float = 0.0) -> tuple[Modes, float, int]:
        """Step ``t``'s revenue as concave modes of vertices, its largest chord error ($) and most segments."""

    def tangent_lines(self, qmax: ArrayLike, count: int, dt: float) -> TangentLines:
        """The tangents of every moving step's market impact on ``[-qmax_t, qmax_t]`` (MW) per convex mode."""

    def tangent_error(self, qmax: ArrayLike, count: int, dt: float) -> float:
        """How far the tangents of :meth:`tangent_lines` lie below the market impact, summed over the steps ($)."""


@dataclass(frozen=True, eq=False)
class LinearImpact:
    """The price impact ``p_t(q) = lambda_t + beta_t q`` (an :class:`ImpactCost`): market impact ``beta_t q^2 dt``.

    Attributes
    ----------
    beta : numpy.ndarray
        $/MWh per MW per step (``>= 0``, see :func:`impact_profile`).

    Examples
    --------
    >>> LinearImpact(np.array([4500.0])).cost(np.array([0.005]), 1.0)
    0.1125
    """

    beta: NDArray[np.float64]

    @property
    def steps(self) -> int:
        """Steps of the horizon."""
        return int(self.beta.shape[0])

    def __getitem__(self, index: slice) -> LinearImpact:
        """The slopes of a window of steps (``impact[start:stop]``)."""
        return LinearImpact(self.beta[index])

    def moves(self) -> NDArray[np.bool_]:
        """Per step: ``beta_t > 0``."""
        return self.beta > 0

    def shift_at(self, q: ArrayLike) -> NDArray[np.float64]:
        """``beta_t q_t`` ($/MWh) per step of a net purchase ``q`` per step (MW)."""
        return self.beta * np.asarray(q, dtype=float)

    def cost(self, q: ArrayLike, dt: float) -> float:
        """``sum_t beta_t q_t^2 dt`` ($) of a net purchase ``q`` per step (MW) over steps of ``dt`` hours."""
        q = np.asarray(q, dtype=float)
        return math.fsum((self.beta * q * q * dt).tolist())

    def slope_range(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(beta, beta)``: one slope per step."""
        return self.beta, self.beta

    def full_power_impact(self, pmax: ArrayLike, dt: float) -> NDArray[np.float64]:
        """``beta_t dt pmax_t^2 / 10^6`` ($) per step (``pmax`` in kW)."""
        pmax = np.asarray(pmax, dtype=float)
        return self.beta * dt / 1e6 * pmax * pmax

    def step_modes(self, t, lam, pmax, dt, eta_in, eta_out, budget, *, outer=False, wear=0.0, drive=0.0):
        """:func:`step_vertices` with the fewest segments whose chord error is at most ``budget`` ($).

        Returns
        -------
        (modes, error, segments)
            The modes, the chord error of the step (:func:`chord_error`) and the segments per side.
        """
        beta = float(self.beta[t])
        n = int(np.clip(np.ceil(np.sqrt(beta * dt / 1e6 * pmax * pmax / (4.0 * budget))), 1, MAX_SEGMENTS))
        error = float(chord_error(beta, pmax, dt, n))
        modes = step_vertices(lam, beta, pmax, dt, eta_in, eta_out, n, outer=outer, wear=wear, drive=drive)
        return modes, error, n

    def tangent_lines(self, qmax: ArrayLike, count: int, dt: float) -> TangentLines:
        """One mode per step on ``[-qmax_t, qmax_t]``: the tangents of ``beta_t q^2 dt`` at :func:`tangent_points`.

        The tangent at ``q_k`` is ``2 beta_t q_k dt q - beta_t q_k^2 dt``; it
        lies below the parabola by at most ``beta_t dt h^2 / 4`` (``h`` the
        spacing).

        Parameters
        ----------
        qmax : array_like
            The fleets' power per step (MW).
        count : int
            Tangent points per step.
        dt : float

        Returns
        -------
        TangentLines
        """
        qmax = np.asarray(qmax, dtype=float)
        moving = self.moves() & (qmax > 0)
        beta = self.beta[:, None]
        points = tangent_points(qmax, count)
        lines = np.broadcast_to(moving[:, None], points.shape)
        slope = np.where(lines, 2.0 * beta * dt * points, 0.0)[:, None, :]
        intercept = np.where(lines, -beta * dt * points * points, 0.0)[:, None, :]
        error = tangent_error(np.where(moving, self.beta, 0.0), qmax, dt, count)
        return TangentLines(np.where(moving, -qmax, 0.0)[:, None], np.where(moving, qmax, 0.0)[:, None], slope,
                            intercept, moving[:, None], lines[:, None, :].copy(), error)

    def tangent_error(self, qmax: ArrayLike, count: int, dt: float) -> float:
        """:func:`tangent_error` of the slopes."""
        return tangent_error(self.beta, qmax, dt, count)


def impact_cost(impact: Any, steps: int) -> ImpactCost:
    """The :class:`ImpactCost` of a price impact: a curve (any ImpactCost) as it is, ``beta`` as :class:`LinearImpact`.

    Parameters
    ----------
    impact : ImpactCost or array_like
        A supply curve, or ``beta`` ($/MWh per MW): a number or one per step.
    steps : int
        Steps of the horizon (a number is repeated).

    Returns
    -------
    ImpactCost
    """
    if isinstance(impact, ImpactCost):
        return impact
    return LinearImpact(np.broadcast_to(np.asarray(impact, dtype=float), (steps,)).copy())


def impact_profile(value: Any, steps: int, where: str = "price_impact") -> NDArray[np.float64]:
    """Validate a price-impact slope: a number or one value per step, ``>= 0`` $/MWh per MW.

    Parameters
    ----------
    value : float or array_like
        ``beta``: one number for every step, or a profile of ``steps`` values.
    steps : int
        Steps of the horizon.
    where : str
        The key, named in the message of a bad value.

    Returns
    -------
    numpy.ndarray
        ``beta_t`` per step (float, length ``steps``).

    Raises
    ------
    InputError
        A negative, non-finite or non-numeric value, or a profile of another length.

    Examples
    --------
    >>> impact_profile(0.004, 3).tolist()
    [0.004, 0.004, 0.004]
    """
    if isinstance(value, bool):
        raise InputError(f"{where} = {value!r}: expected a number of $/MWh per MW >= 0, or a profile")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{where} = {value!r}: expected a number of $/MWh per MW >= 0, or a profile") from None
    if arr.ndim == 0:
        arr = np.full(steps, float(arr))
    if arr.ndim != 1:
        raise InputError(f"{where}: expected one number or one value per step, found shape {arr.shape}")
    if arr.size != steps:
        raise InputError(f"{where}: the profile has {arr.size} values; expected one per step of the prices ({steps})")
    bad = np.flatnonzero(~(np.isfinite(arr) & (arr >= 0)))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{where}: {arr[i]!r} at step {i}; expected a slope >= 0 in $/MWh per MW "
            "(a price that rises with the aggregator's purchase)"
        )
    return arr


def has_price_impact(inputs) -> bool:
    """Whether validated inputs carry a non-zero price impact (``price_impact`` over time).

    Parameters
    ----------
    inputs : xarray.Dataset

    Returns
    -------
    bool
    """
    if "supply_shift" in inputs:
        return bool((inputs["supply_shift"] != 0).any())
    return "price_impact" in inputs and bool((inputs["price_impact"] > 0).any())


def moves_price(impact: Any) -> bool:
    """Whether an :class:`~aggregator.Aggregator`'s ``price_impact`` (None, ``beta`` per step or a curve) moves the price.

    Parameters
    ----------
    impact : None, numpy.ndarray or SupplyCurve

    Returns
    -------
    bool
    """
    if impact is None:
        return False
    if isinstance(impact, SupplyCurve):
        return bool(impact.moves().any())
    return bool((np.asarray(impact) > 0).any())


def is_price_maker(data) -> bool:
    """Whether inputs or a result's dataset carry a price impact (a slope or a supply curve), even a zero one.

    Parameters
    ----------
    data : xarray.Dataset

    Returns
    -------
    bool
    """
    return "price_impact" in data or "supply_shift" in data


def impact_of(data) -> NDArray[np.float64] | SupplyCurve | None:
    """The price impact of inputs or a result's dataset: ``beta`` per step, a :class:`SupplyCurve` or None.

    Parameters
    ----------
    data : xarray.Dataset
        With ``price_impact`` (time) or ``supply_quantity`` and ``supply_shift`` (time, supply_point).

    Returns
    -------
    numpy.ndarray or SupplyCurve or None
    """
    if "supply_shift" in data:
        return SupplyCurve(data["supply_quantity"].transpose("time", "supply_point").to_numpy(),
                           data["supply_shift"].transpose("time", "supply_point").to_numpy())
    return data["price_impact"].to_numpy() if "price_impact" in data else None


def curve_variables(curve: SupplyCurve, time) -> dict[str, Any]:
    """The data variables that carry a supply curve in inputs and results (over time and ``supply_point``).

    Parameters
    ----------
    curve : SupplyCurve
    time : array_like
        The time coordinate.

    Returns
    -------
    dict of xarray.DataArray
    """
    import xarray as xr

    dims = ("time", "supply_point")
    return {"supply_quantity": xr.DataArray(curve.quantity, dims=dims, coords={"time": time}, attrs={"units": "MW"}),
            "supply_shift": xr.DataArray(curve.shift, dims=dims, coords={"time": time}, attrs={"units": "$/MWh"})}


def net_purchase(charge: ArrayLike, discharge: ArrayLike) -> NDArray[np.float64]:
    """Net purchase of all fleets per step in MW: ``sum_f (charge - discharge) / 1000``.

    Parameters
    ----------
    charge, discharge : array_like
        kW over (time,) or (time, fleet).

    Returns
    -------
    numpy.ndarray
        MW over time.
    """
    net = (np.asarray(charge, dtype=float) - np.asarray(discharge, dtype=float)) / 1000.0
    return net.sum(axis=1) if net.ndim == 2 else net


def market_impact(charge: ArrayLike, discharge: ArrayLike, beta: ArrayLike | ImpactCost, dt: float) -> float:
    """What moving the price costs in $: ``sum_t beta_t q_t^2 dt`` (with a curve ``sum_t q_t s_t(q_t) dt``).

    The price-maker revenue of a dispatch is its price-taker revenue (at the
    given price) minus this amount.

    Parameters
    ----------
    charge, discharge : array_like
        kW over (time,) or (time, fleet).
    beta : array_like or ImpactCost
        $/MWh per MW per step, or a supply curve per step (any :class:`ImpactCost`).
    dt : float
        Step length (h).

    Returns
    -------
    float

    Examples
    --------
    Buying 5 kW for an hour at 4500 $/MWh per MW raises the price by 22.5 $/MWh:

    >>> round(market_impact([5.0], [0.0], [4500.0], 1.0), 6)
    0.1125
    """
    q = net_purchase(charge, discharge)
    return impact_cost(beta, q.shape[0]).cost(q, dt)


def impact_shares(charge, discharge, impact, dt: float):
    """The market impact attributed to each fleet by its share of the net purchase ($, per fleet).

    ``sum_t s_t(Q_t) q_{f,t} dt`` (``beta_t Q_t q_{f,t} dt`` for a slope);
    the shares add up to :func:`market_impact` of the total (a fleet that
    trades against the total has a negative share).

    Parameters
    ----------
    charge, discharge : xarray.DataArray
        kW over (time, fleet).
    impact : array_like or ImpactCost
        ``beta`` ($/MWh per MW over time) or a supply curve (any :class:`ImpactCost`).
    dt : float

    Returns
    -------
    xarray.DataArray
        Over fleet.
    """
    import xarray as xr

    q = (charge - discharge) / 1000.0
    total = q.sum("fleet").transpose("time").to_numpy()
    moved = xr.DataArray(impact_cost(impact, total.shape[0]).shift_at(total), dims="time", coords={"time": q["time"]})
    return (moved * q * dt).sum("time")


def price_faced(price: ArrayLike, charge: ArrayLike, discharge: ArrayLike, beta: ArrayLike | ImpactCost
                ) -> NDArray[np.float64]:
    """The price the aggregator paid or received per step ($/MWh): ``lambda_t + beta_t q_t`` (or ``+ s_t(q_t)``).

    Parameters
    ----------
    price : array_like
        The given price ($/MWh) per step.
    charge, discharge : array_like
        kW over (time,) or (time, fleet).
    beta : array_like or ImpactCost
        $/MWh per MW, or a supply curve per step (any :class:`ImpactCost`).

    Returns
    -------
    numpy.ndarray
    """
    q = net_purchase(charge, discharge)
    return np.asarray(price, dtype=float) + impact_cost(beta, q.shape[0]).shift_at(q)


def chord_error(beta: ArrayLike, pmax: ArrayLike, dt: float, segments: ArrayLike) -> NDArray[np.float64]:
    """Largest distance of the chord (or tangent) approximation from the step revenue, per step ($).

    ``c h^2 / 4`` with ``c = beta dt / 10^6`` ($/kW^2) and ``h = pmax / n``.

    Parameters
    ----------
    beta, pmax : array_like
        $/MWh per MW and kW per step.
    dt : float
    segments : array_like
        Segments per side and step.

    Returns
    -------
    numpy.ndarray
    """
    h = np.asarray(pmax, dtype=float) / np.asarray(segments, dtype=float)
    return np.asarray(beta, dtype=float) * dt / 1e6 * h * h / 4.0


def _side(
    lam: float, beta: float, pmax: float, dt: float, n: int, outer: bool, charge: bool,
    eta_in: float, eta_out: float, wear: float,
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Vertices of one side from idle (power 0) to full power, by increasing power."""
    c = beta * dt / 1e6
    h = pmax / n
    powers = [pmax * k / n for k in range(n + 1)]
    if outer:  # the tangents at the powers above meet half-way; keep the ends
        powers = [0.0] + [pmax * (k + 0.5) / n for k in range(n)] + [pmax]
    lift = c * h * h / 4.0 if outer else 0.0
    ys, rs = [], []
    for k, p in enumerate(powers):
        if charge:
            ys.append(eta_in * p * dt)
            r = -lam * p * dt / 1000.0 - c * p * p
        else:
            ys.append(-p * dt / eta_out)
            r = lam * p * dt / 1000.0 - c * p * p - (wear * p * dt / eta_out if wear > 0.0 else 0.0)
        rs.append(r + (lift if 0 < k < len(powers) - 1 else 0.0))
    zeros = [0.0] * len(powers)
    return ys, rs, (powers if charge else zeros), (zeros if charge else powers)


def step_vertices(
    lam: float,
    beta: float,
    pmax: float,
    dt: float,
    eta_in: float,
    eta_out: float,
    segments: int,
    *,
    outer: bool = False,
    wear: float = 0.0,
    drive: float = 0.0,
) -> list[tuple[list[float], list[float], list[float], list[float]]]:
    """The concave modes of one step's revenue with price impact, as vertex lists for the DP.

    Each mode is ``(vy, vr, vin, vout)``: increasing energy changes ``vy``
    (kWh, driving ``drive`` subtracted), revenue ``vr`` ($) and powers
    ``vin``/``vout`` (kW) at each vertex (see :func:`aggregator.exact_dp.solve_fleet`,
    ``vertices``).  Charging and discharging are exclusive: one mode when
    idling lies on the concave side of the two (``lambda >= 0``, or wear
    large enough), otherwise a charging and a discharging mode.

    Parameters
    ----------
    lam, beta : float
        Price ($/MWh) and slope ($/MWh per MW).
    pmax, dt, eta_in, eta_out : float
        Power (kW), step (h), efficiencies.
    segments : int
        Segments per side (``>= 1``).
    outer : bool
        Tangent (outer, above the revenue) instead of chord (inner, below) vertices.
    wear : float
        $ per kWh discharged, battery side.
    drive : float
        kWh driven in the step.

    Returns
    -------
    list of tuple
    """
    dis = _side(lam, beta, pmax, dt, segments, outer, False, eta_in, eta_out, wear)
    chg = _side(lam, beta, pmax, dt, segments, outer, True, eta_in, eta_out, wear)
    a = eta_in * pmax * dt
    b = pmax * dt / eta_out
    vd = lam * pmax * dt / 1000.0 - wear * b
    concave = lam >= 0.0 or (wear > 0.0 and vd * a - lam * pmax * dt / 1000.0 * b <= 0.0)

    def shifted(side, reverse):
        vy, vr, vin, vout = (list(reversed(v)) if reverse else list(v) for v in side)
        return [y - drive for y in vy], vr, vin, vout

    d = shifted(dis, True)
    c = shifted(chg, False)
    if concave:  # idle (the last discharge vertex) is the first charge vertex
        return [tuple(x[:-1] + y for x, y in zip(d, c))]
    return [c, d]


@dataclass(frozen=True, eq=False)
class ImpactFleetSolution(FleetSolution):
    """A :class:`~aggregator.exact_dp.FleetSolution` of a price maker.

    ``objective`` includes the market impact and ``bound`` is certified for
    the true (quadratic) objective; ``profit`` is the price-taker valuation
    of the dispatch (at the given price).

    Attributes
    ----------
    market_impact : float
        ``sum_t beta_t q_t^2 dt`` of the returned dispatch ($).
    segments_max : int
        Most segments per side of a step in the last pass.
    passes : int
        DP passes run.
    """

    market_impact: float = 0.0
    segments_max: int = 0
    passes: int = 0


class _StepImpact:
    """The price impact of one fleet's steps as the DP refinement sees it (any :class:`ImpactCost`)."""

    def __init__(self, impact: Any, problem: dict[str, Any]) -> None:
        lam = np.asarray(problem["price"], dtype=float)
        n_t = lam.shape[0]
        self.pmax = np.broadcast_to(np.asarray(problem["pmax"], dtype=float), (n_t,))
        self.dt = float(problem["dt"])
        self.impact = impact_cost(impact, n_t)
        if self.impact.steps != n_t:
            raise ValueError(f"the price impact has {self.impact.steps} steps; expected {n_t}")
        beta = getattr(self.impact, "beta", None)  # a curve is checked when it is read
        if beta is not None and not np.all(np.isfinite(beta) & (beta >= 0)):
            raise ValueError("impact must be finite and >= 0")
        self.active = self.impact.moves() & (self.pmax > 0)
        self.scale = self.impact.full_power_impact(self.pmax, self.dt)  # the rounding allowance's scale ($)

    def cost(self, charge: ArrayLike, discharge: ArrayLike) -> float:
        """The market impact of a dispatch ($)."""
        return self.impact.cost(net_purchase(charge, discharge), self.dt)

    def modes(self, problem: dict[str, Any], t: int, budget: float, outer: bool) -> tuple[list, float, int]:
        """Step ``t``'s modes for the DP, the inner approximation's largest error ($) and its segments."""
        lam = float(np.asarray(problem["price"], dtype=float)[t])
        drive = problem.get("driving")
        return self.impact.step_modes(
            t, lam, float(self.pmax[t]), self.dt, float(problem["eta_in"]), float(problem["eta_out"]), budget,
            outer=outer, wear=float(problem.get("wear_cost", 0.0)),
            drive=0.0 if drive is None else float(np.asarray(drive, dtype=float)[t]),
        )


def _impact_pass(problem: dict[str, Any], impact: _StepImpact, budget: NDArray, outer: bool
                 ) -> tuple[FleetSolution, float, int]:
    """One DP pass over inner or outer vertices: its solution, the summed inner error ($) and the most segments."""
    verts: list = [None] * budget.shape[0]
    errors, most = [], 0
    for t in np.flatnonzero(impact.active).tolist():
        verts[t], error, segments = impact.modes(problem, t, float(budget[t]), outer)
        errors.append(error)
        most = max(most, segments)
    return solve_fleet(**problem, vertices=verts), math.fsum(errors), most


def solve_fleet_with_impact(impact: Any, gap: float = 1e-4, **problem: Any) -> ImpactFleetSolution:
    """Solve one fleet that moves the price, with a certified bound (see the module docstring).

    Parameters
    ----------
    impact : array_like or SupplyCurve
        ``beta_t`` ($/MWh per MW), a number or one per step; or a
        piecewise-linear supply curve per step (:class:`aggregator.supply_curve.SupplyCurve`).
    gap : float
        Requested certified relative gap (:func:`aggregator.solvers.relative_gap`).
    **problem
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`;
        ``exclusive`` must be true where the price moves (without exclusivity a
        price maker may charge and discharge at once to move the price less,
        a revenue the vertices do not describe).

    Returns
    -------
    ImpactFleetSolution
        The best trajectory found, its true objective and the tightest
        certified bound; ``gap`` above the request only if the refinement
        hit :data:`MAX_ROUNDS` or :data:`MAX_SEGMENTS`.

    Raises
    ------
    ValueError
        Non-exclusive charging with impact, or a bad slope.
    """
    terms = _StepImpact(impact, problem)
    active = terms.active
    if bool(np.any(active)) and not problem.get("exclusive", True):
        raise ValueError("price impact needs exclusive charging (a price maker gains from simultaneous flows)")
    n_t = active.shape[0]
    # rounding allowance of the impact part of the step revenue (the DP charges |lambda| pmax dt only)
    fp_extra = 8.0 * _U * math.fsum(terms.scale[active].tolist())

    def finish(sol: FleetSolution, bound: float, passes: int, most: int) -> ImpactFleetSolution:
        impact_cost = terms.cost(sol.charge, sol.discharge)
        values = {f.name: getattr(sol, f.name) for f in fields(FleetSolution)}
        values.update(objective=sol.objective - impact_cost, bound=bound, allowance=bound - sol.dp_value)
        return ImpactFleetSolution(**values, market_impact=impact_cost, passes=passes, segments_max=most)

    if not active.any():
        sol = solve_fleet(**problem)
        return finish(sol, sol.bound, 1, 0)
    # error budget from a scale of the objective: first the price-taker optimum (an upper bound of
    # the price maker's, cheap: the model's own three vertices per step), then the objective found
    estimate = solve_fleet(**problem).objective
    budget = np.full(n_t, math.inf)
    best: ImpactFleetSolution | None = None
    target = float(gap)
    passes = 1
    for _ in range(MAX_ROUNDS):
        per_step = max(target, 1e-12) * max(1.0, abs(estimate)) / 2.0 / int(active.sum())
        budget = np.minimum(budget, per_step)  # refine only: never coarser than the last round
        inner, err, most = _impact_pass(problem, terms, budget, outer=False)
        passes += 1
        candidate = finish(inner, inner.bound + err + fp_extra, passes, most)
        if best is None or candidate.objective > best.objective:
            best = candidate
        bound = min(candidate.bound, best.bound)
        if relative_gap(best.objective, bound) > target:
            outer, _, _ = _impact_pass(problem, terms, budget, outer=True)
            passes += 1
            other = finish(outer, outer.bound + fp_extra, passes, most)
            if other.objective > best.objective:
                best = other
            bound = min(bound, other.bound)
        best = _with_bound(best, bound, passes)
        if relative_gap(best.objective, bound) <= target or most >= MAX_SEGMENTS:
            break
        estimate = best.objective
    assert best is not None
    return best


def _with_bound(sol: ImpactFleetSolution, bound: float, passes: int) -> ImpactFleetSolution:
    values = {f.name: getattr(sol, f.name) for f in fields(ImpactFleetSolution)}
    values.update(bound=bound, allowance=bound - sol.dp_value, passes=passes)
    return ImpactFleetSolution(**values)


# --------------------------------------------------------------------------
# the piecewise-linear form of the linopy model
# --------------------------------------------------------------------------
def tangent_points(qmax: ArrayLike, count: int = TANGENTS) -> NDArray[np.float64]:
    """Net purchases (MW) at which the linopy model's tangents touch ``beta q^2 dt``, per step.

    ``count`` equally spaced points on ``[-qmax_t, qmax_t]``.

    Parameters
    ----------
    qmax : array_like
        Largest net purchase or sale per step (MW): the fleets' power.
    count : int

    Returns
    -------
    numpy.ndarray
        Shape ``(time, count)``.
    """
    q = np.asarray(qmax, dtype=float)
    return q[:, None] * np.linspace(-1.0, 1.0, count)[None, :]


def tangent_error(beta: ArrayLike, qmax: ArrayLike, dt: float, count: int = TANGENTS) -> float:
    """How far the tangents of :func:`tangent_points` may lie below ``sum_t beta_t q_t^2 dt`` ($).

    Between two tangent points ``h`` apart the largest distance is
    ``beta dt h^2 / 4``.

    Parameters
    ----------
    beta, qmax : array_like
        $/MWh per MW and MW per step.
    dt : float
    count : int

    Returns
    -------
    float
    """
    h = 2.0 * np.asarray(qmax, dtype=float) / max(count - 1, 1)
    return math.fsum((np.asarray(beta, dtype=float) * dt * h * h / 4.0).tolist())


@dataclass(frozen=True)
class ImpactTangents:
    """The linopy model's tangents of the market impact ``q s_t(q) dt`` (see :func:`tangent_table`).

    Attributes
    ----------
    lower, upper : xarray.DataArray
        Net purchase range of each convex mode (MW), over (time, supply_mode).
    slope, intercept : xarray.DataArray
        The tangents ($ per MW, $), over (time, supply_mode, tangent).
    mode_mask, tangent_mask : xarray.DataArray
        Which modes and tangents exist (steps have different numbers).
    several : bool
        Whether some step has more than one mode (the model then chooses one with a binary).
    error : float
        How far the tangents may lie below the market impact, summed over the steps ($).
    """

    lower: Any
    upper: Any
    slope: Any
    intercept: Any
    mode_mask: Any
    tangent_mask: Any
    several: bool
    error: float


def tangent_table(inputs, count: int = TANGENTS) -> ImpactTangents:
    """Tangents of every moving step's market impact on ``[-qmax_t, qmax_t]`` (the fleets' power).

    A slope ``beta`` has one mode per step with the tangents at
    :func:`tangent_points`; a supply curve has one mode per convex range of
    ``q s_t(q)`` (:func:`aggregator.supply_curve.curve_tangents`).  Both come
    from :meth:`ImpactCost.tangent_lines`.

    Parameters
    ----------
    inputs : xarray.Dataset
        With ``price_impact`` (time), or ``supply_quantity`` and ``supply_shift`` (:func:`curve_variables`).
    count : int
        Tangent points per step (per ``2 qmax_t``).

    Returns
    -------
    ImpactTangents
    """
    import xarray as xr

    dt = float(inputs.attrs["step_hours"])
    impact = impact_cost(impact_of(inputs), inputs.sizes["time"])
    qmax = inputs["power_max"].sum("fleet").to_numpy() / 1000.0
    table = impact.tangent_lines(qmax, count, dt)
    modes, lines = table.slope.shape[1:]
    time = {"time": inputs["time"], "supply_mode": np.arange(modes), "tangent": np.arange(lines)}
    two, three = ("time", "supply_mode"), ("time", "supply_mode", "tangent")

    def array(values, dims):
        return xr.DataArray(values, dims=dims, coords={d: time[d] for d in dims})

    return ImpactTangents(
        lower=array(table.lower, two), upper=array(table.upper, two), slope=array(table.slope, three),
        intercept=array(table.intercept, three), mode_mask=array(table.mode_mask, two),
        tangent_mask=array(table.tangent_mask, three), several=bool((table.mode_mask.sum(axis=1) > 1).any()),
        error=table.error,
    )


def linearisation_allowance(inputs) -> float:
    """How much a MILP backend's claimed objective may exceed the exact value of its dispatch ($).

    The linopy model values the market impact with the tangents of
    :func:`tangent_points`, which lie below ``beta q^2 dt`` by at most
    :func:`tangent_error`; 0 without a price impact.

    Parameters
    ----------
    inputs : xarray.Dataset

    Returns
    -------
    float
    """
    if not has_price_impact(inputs):
        return 0.0
    qmax = inputs["power_max"].sum("fleet").to_numpy() / 1000.0
    impact = impact_cost(impact_of(inputs), inputs.sizes["time"])
    return impact.tangent_error(qmax, TANGENTS, float(inputs.attrs["step_hours"]))
