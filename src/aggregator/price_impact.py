"""Price impact: the price moves with the aggregator's net purchase (a price maker).

With the net purchase ``q_t = sum_f (P^in_{t,f} - P^out_{t,f}) / 1000`` (MW)
the price paid or received is ``p_t(q_t) = lambda_t + beta_t q_t`` with
``beta_t >= 0`` in $/MWh per MW, and the revenue of a step is
``-p_t(q_t) q_t dt = -lambda_t q_t dt - beta_t q_t^2 dt``: the price-taker
revenue minus the *market impact* ``beta_t q_t^2 dt`` (a concave term).

This module holds everything about it that is not the documented linear
model: the validation of ``beta`` (:func:`impact_profile`), the impact cost
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
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError
from .exact_dp import FleetSolution, solve_fleet
from .solvers import relative_gap

__all__ = [
    "IMPACT_KEY",
    "ImpactFleetSolution",
    "impact_profile",
    "has_price_impact",
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
]

#: The scenario key of the slope: ``[prices] impact``.
IMPACT_KEY = "[prices] impact"

#: Tangents per step of the piecewise-linear (outer) form in the linopy model.
TANGENTS = 65

#: Most refinement rounds of :func:`solve_fleet_with_impact`.
MAX_ROUNDS = 6

#: Most segments per side and step (memory and time guard of the refinement).
MAX_SEGMENTS = 4096

_U = float(np.finfo(float).eps) / 2.0


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
    return "price_impact" in inputs and bool((inputs["price_impact"] > 0).any())


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


def market_impact(charge: ArrayLike, discharge: ArrayLike, beta: ArrayLike, dt: float) -> float:
    """What moving the price costs in $: ``sum_t beta_t q_t^2 dt``.

    The price-maker revenue of a dispatch is its price-taker revenue (at the
    given price) minus this amount.

    Parameters
    ----------
    charge, discharge : array_like
        kW over (time,) or (time, fleet).
    beta : array_like
        $/MWh per MW per step.
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
    return math.fsum((np.asarray(beta, dtype=float) * q * q * dt).tolist())


def impact_shares(charge, discharge, beta, dt: float):
    """The market impact attributed to each fleet by its share of the net purchase ($, per fleet).

    ``sum_t beta_t Q_t q_{f,t} dt``; the shares add up to :func:`market_impact`
    of the total (a fleet that trades against the total has a negative share).

    Parameters
    ----------
    charge, discharge : xarray.DataArray
        kW over (time, fleet).
    beta : xarray.DataArray
        $/MWh per MW over time.
    dt : float

    Returns
    -------
    xarray.DataArray
        Over fleet.
    """
    q = (charge - discharge) / 1000.0
    return (beta * q.sum("fleet") * q * dt).sum("time")


def price_faced(price: ArrayLike, charge: ArrayLike, discharge: ArrayLike, beta: ArrayLike) -> NDArray[np.float64]:
    """The price the aggregator paid or received per step ($/MWh): ``lambda_t + beta_t q_t``.

    Parameters
    ----------
    price : array_like
        The given price ($/MWh) per step.
    charge, discharge : array_like
        kW over (time,) or (time, fleet).
    beta : array_like
        $/MWh per MW.

    Returns
    -------
    numpy.ndarray
    """
    return np.asarray(price, dtype=float) + np.asarray(beta, dtype=float) * net_purchase(charge, discharge)


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


def _impact_pass(base: dict[str, Any], beta: NDArray, segments: NDArray, outer: bool) -> FleetSolution:
    lam = np.asarray(base["price"], dtype=float)
    n_t = lam.shape[0]
    pmax = np.broadcast_to(np.asarray(base["pmax"], dtype=float), (n_t,))
    drive = base.get("driving")
    drive = np.zeros(n_t) if drive is None else np.asarray(drive, dtype=float)
    wear = float(base.get("wear_cost", 0.0))
    verts: list = [None] * n_t
    for t in np.flatnonzero((beta > 0) & (pmax > 0)).tolist():
        verts[t] = step_vertices(
            float(lam[t]), float(beta[t]), float(pmax[t]), float(base["dt"]), float(base["eta_in"]),
            float(base["eta_out"]), int(segments[t]), outer=outer, wear=wear, drive=float(drive[t]),
        )
    return solve_fleet(**base, vertices=verts)


def solve_fleet_with_impact(impact: ArrayLike, gap: float = 1e-4, **problem: Any) -> ImpactFleetSolution:
    """Solve one fleet that moves the price, with a certified bound (see the module docstring).

    Parameters
    ----------
    impact : array_like
        ``beta_t`` ($/MWh per MW), a number or one per step.
    gap : float
        Requested certified relative gap (:func:`aggregator.solvers.relative_gap`).
    **problem
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`;
        ``exclusive`` must be true where ``beta > 0`` (without exclusivity a
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
    lam = np.asarray(problem["price"], dtype=float)
    n_t = lam.shape[0]
    beta = np.broadcast_to(np.asarray(impact, dtype=float), (n_t,)).copy()
    if not np.all(np.isfinite(beta) & (beta >= 0)):
        raise ValueError("impact must be finite and >= 0")
    if bool(np.any(beta > 0)) and not problem.get("exclusive", True):
        raise ValueError("price impact needs exclusive charging (a price maker gains from simultaneous flows)")
    pmax = np.broadcast_to(np.asarray(problem["pmax"], dtype=float), (n_t,))
    dt = float(problem["dt"])
    scale = beta * dt / 1e6 * pmax * pmax  # the quadratic term at full power ($)
    active = (beta > 0) & (pmax > 0)
    # rounding allowance of the quadratic part of the step revenue (the DP charges |lambda| pmax dt only)
    fp_extra = 8.0 * _U * math.fsum(scale.tolist())

    def finish(sol: FleetSolution, bound: float, passes: int, segs: NDArray) -> ImpactFleetSolution:
        impact_cost = market_impact(sol.charge, sol.discharge, beta, dt)
        values = {f.name: getattr(sol, f.name) for f in fields(FleetSolution)}
        values.update(objective=sol.objective - impact_cost, bound=bound, allowance=bound - sol.dp_value)
        return ImpactFleetSolution(**values, market_impact=impact_cost, passes=passes,
                                   segments_max=int(segs[active].max()) if active.any() else 0)

    if not active.any():
        sol = solve_fleet(**problem)
        return finish(sol, sol.bound, 1, np.ones(n_t))
    # error budget from a scale of the objective: first the price-taker optimum (an upper bound of
    # the price maker's, cheap: the model's own three vertices per step), then the objective found
    estimate = solve_fleet(**problem).objective
    segs = np.ones(n_t)
    best: ImpactFleetSolution | None = None
    target = float(gap)
    passes = 1
    for _ in range(MAX_ROUNDS):
        budget = max(target, 1e-12) * max(1.0, abs(estimate)) / 2.0
        per_step = budget / int(active.sum())
        want = np.ceil(np.sqrt(np.where(active, scale, 0.0) / (4.0 * per_step)))
        segs = np.clip(np.maximum(want, segs), 1, MAX_SEGMENTS)
        inner = _impact_pass(problem, beta, segs, outer=False)
        passes += 1
        err = math.fsum(chord_error(beta, pmax, dt, segs)[active].tolist())
        candidate = finish(inner, inner.bound + err + fp_extra, passes, segs)
        if best is None or candidate.objective > best.objective:
            best = candidate
        bound = min(candidate.bound, best.bound)
        if relative_gap(best.objective, bound) > target:
            outer = _impact_pass(problem, beta, segs, outer=True)
            passes += 1
            other = finish(outer, outer.bound + fp_extra, passes, segs)
            if other.objective > best.objective:
                best = other
            bound = min(bound, other.bound)
        best = _with_bound(best, bound, passes)
        if relative_gap(best.objective, bound) <= target or segs.max() >= MAX_SEGMENTS:
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
    return tangent_error(inputs["price_impact"].to_numpy(), qmax, float(inputs.attrs["step_hours"]))
