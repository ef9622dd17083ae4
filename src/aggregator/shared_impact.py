"""Blocks that move one price: price the total, solve the blocks exactly, certified bound.

With price impact (:mod:`aggregator.price_impact`) the fleets couple through
their total net purchase ``Q_t = sum_b q_{b,t}`` (MW): the objective is
``sum_b R_b(x_b) - sum_t beta_t Q_t^2 dt`` with ``R_b`` a block's price-taker
objective.  A *block* is a fleet, or a chunk of a "vehicles" fleet's
vehicles (:func:`aggregator.dp_backend.fleet_problems`).  Nothing else
couples them, so every combination of feasible block dispatches is feasible.

* **Bound** (Lagrangian on ``Q_t = sum_b q_{b,t}``): for every price
  ``mu_t`` ($/MWh),

  .. math::

     L(\\mu) = \\sum_b V_b(\\lambda + \\mu)
       + \\sum_t \\Delta t \\max_{Q} \\left(\\mu_t Q - \\beta_t Q^2\\right)

  is an upper bound of the coupled optimum (weak duality; ``V_b(p)`` the
  certified bound of block b as a price taker at price ``p``, computed by the
  exact DP; the inner maximum is ``mu_t^2 / (4 beta_t)`` where
  ``beta_t > 0``, and ``mu_t = 0`` elsewhere).
* **Multipliers and primal** (Dantzig-Wolfe, the dual of a cutting-plane
  model of ``L``): every block answer found (at some ``mu``, or as an exact
  price-maker best response) is a *column*.  The master problem chooses one
  convex combination of the columns per block maximising the true objective,
  a concave quadratic in the weights solved by HiGHS's QP solver.  Its total
  ``Q`` gives the next multiplier ``mu = 2 beta Q`` (the marginal price
  impact), whose price-taker answers are the next columns.  The combined
  dispatch is feasible where charging and discharging may overlap; with
  exclusive charging, a step where the combination charges and discharges at
  once is netted (the same stored-energy change from one flow, which buys
  less and discharges less) before its objective is recomputed exactly.
* **Best responses** (block coordinate ascent, for fleets with exclusive
  charging): fleet by fleet, with the others' purchase ``Q^o_t`` fixed, the
  objective in the fleet's own purchase is ``-(lambda_t + 2 beta_t Q^o_t) q dt
  - beta_t q^2 dt`` plus a constant, a single price maker solved exactly by
  :func:`aggregator.price_impact.solve_fleet_with_impact`; the answers are
  columns too, and a feasible dispatch of their own.

* **Rounds.** Price-taker answers are cheap (one DP pass per block) and
  exact best responses are not (a refined price-maker DP per fleet), so a
  round runs :data:`DUAL_STEPS` master steps (each adds the price-taker
  answers at the master's multiplier as columns and evaluates ``L``) before
  one sweep of best responses; after the sweep, the best dispatch's own
  marginal price ``2 beta Q`` is tried as a multiplier too (``L`` there is
  its Frank-Wolfe bound: the blocks' price-taker regrets at that price).
  The solve stops at the requested gap, at ``max_rounds``, at the time
  limit, or when the gap closed by less than :data:`STALL_SHARE` of itself
  in :data:`STALL_ROUNDS` rounds.

The reported dispatch is the best one found, its objective recomputed from
it; the bound is the smallest ``L`` evaluated; the gap is their difference.
Without exclusive charging the problem is concave and the gap closes.  With
it, ``min L`` is the optimum of the *convexified* problem (each block's
dispatches replaced by their convex hull, which may charge and discharge a
fleet at once and so waste energy where the marginal price is negative):
the largest master value found (``dual_floor``) lies below every ``L``, so
where it lies above the best exclusive dispatch no number of rounds
certifies less than their difference, and the gap is reported as it is.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable

import numpy as np

from .price_impact import ImpactCost, impact_cost, net_purchase, solve_fleet_with_impact
from .solvers import quiet_stdout, relative_gap

log = logging.getLogger(__name__)

__all__ = ["SharedImpactSolution", "solve_shared_impact", "lagrangian_bound", "combine_columns"]

_EPS = float(np.finfo(float).eps)

#: Columns per block above which the master drops those of weight 0 (all but the newest half of this).
MAX_COLUMNS = 48

#: Flows at or below this many kW count as zero when netting simultaneous charging and discharging.
FLOW_TOLERANCE = 1e-9

#: Master rounds (price-taker answers only, cheap) between two sweeps of exact best responses.
DUAL_STEPS = 8

#: Stop when the certified gap closed by less than STALL_SHARE of itself in the last STALL_ROUNDS rounds.
STALL_ROUNDS = 3
STALL_SHARE = 0.1


@dataclass(eq=False)
class SharedImpactSolution:
    """The blocks' dispatches under a shared price impact, with a certified bound.

    Attributes
    ----------
    fleets : list
        One solution per block (``charge``, ``discharge``, ``soc``, ... as in
        :class:`aggregator.exact_dp.FleetSolution`); their ``objective`` is
        the block's price-taker objective at the given price.
    objective : float
        ``sum_b`` price-taker objectives ``-`` the market impact of the total ($).
    market_impact : float
        ``sum_t beta_t Q_t^2 dt`` ($).
    bound : float
        Smallest Lagrangian bound found ($).
    rounds : int
        Master rounds run.
    history : list of tuple
        ``(objective, bound)`` after each round.
    dual_floor : float
        Largest master value found: the value of a convex combination of
        block answers, so no Lagrangian bound can fall below it; where it
        lies above ``objective`` the rest of the gap is the duality gap of
        exclusive charging, which more rounds cannot close ($, ``-inf`` if
        no master was solved).
    """

    fleets: list
    objective: float
    market_impact: float
    bound: float
    rounds: int
    history: list = field(default_factory=list)
    dual_floor: float = -math.inf

    @property
    def gap(self) -> float:
        """Certified relative gap (:func:`aggregator.solvers.relative_gap`)."""
        return relative_gap(self.objective, self.bound)


def _taker_objective(sol, problem: dict[str, Any], price: np.ndarray) -> float:
    """The block's documented objective at ``price`` (the DP's own non-price terms kept)."""
    dt = float(problem["dt"])
    at_given = math.fsum((price / 1000.0 * (sol.discharge - sol.charge) * dt).tolist())
    return at_given + (sol.objective + getattr(sol, "market_impact", 0.0) - sol.profit)


def _default_solve(problem: dict[str, Any]):
    from .dp_backend import solve_fleet_problem

    return solve_fleet_problem(problem)


def lagrangian_bound(problems: list[dict[str, Any]], beta: np.ndarray, mu: np.ndarray,
                     solve: Callable[[dict[str, Any]], Any] | None = None) -> float:
    """``L(mu)``: an upper bound of the coupled price-maker optimum for any ``mu`` (see the module docstring).

    Parameters
    ----------
    problems : list of dict
        Block problems (:func:`aggregator.dp_backend.fleet_problems`, without
        ``impact``), all with the same ``price``.
    beta : numpy.ndarray
        $/MWh per MW per step.
    mu : numpy.ndarray
        $/MWh per step; must be 0 where ``beta`` is.
    solve : callable, optional
        Solves one block problem (default :func:`aggregator.dp_backend.solve_fleet_problem`).

    Returns
    -------
    float
    """
    return _lagrangian(problems, beta, mu, solve or _default_solve)[0]


def _lagrangian(problems, beta, mu, solve) -> tuple[float, list]:
    price = np.asarray(problems[0]["price"], dtype=float)
    dt = float(problems[0]["dt"])
    mu = np.where(beta > 0, mu, 0.0)
    sols = [solve(dict(p, price=price + mu)) for p in problems]
    fleets = math.fsum(s.bound for s in sols)
    with np.errstate(divide="ignore", invalid="ignore"):
        total_t = np.where(beta > 0, mu * mu / (4.0 * np.where(beta > 0, beta, 1.0)), 0.0) * dt
    total = math.fsum(total_t.tolist())
    # rounding allowance of the price adjustment (the DP's own allowance covers its price terms)
    power = sum(np.asarray(s.charge, dtype=float) + np.asarray(s.discharge, dtype=float) for s in sols)
    slack = 8.0 * _EPS * (math.fsum(np.abs(mu * power / 1000.0 * dt).tolist()) + abs(total))
    return fleets + total + slack, sols


@dataclass(eq=False)
class _Column:
    """One block answer: its net purchase (MW), price-taker objective at the given price, and the solution."""

    net: np.ndarray
    value: float
    solution: Any


def _net(sol) -> np.ndarray:
    return (np.asarray(sol.charge, dtype=float) - np.asarray(sol.discharge, dtype=float)) / 1000.0


def _master(columns: list[list[_Column]], beta: np.ndarray, dt: float) -> list[np.ndarray] | None:
    """Weights of the columns maximising ``sum value - dt sum beta Q^2`` (HiGHS QP), one simplex per block."""
    import highspy

    sizes = [len(c) for c in columns]
    n = sum(sizes)
    nets = np.array([col.net for block in columns for col in block])  # (n, T)
    values = np.array([col.value for block in columns for col in block])
    active = beta > 0
    weighted = nets[:, active] * np.sqrt(2.0 * dt * beta[active])[None, :]
    hessian = weighted @ weighted.T  # d^2/dalpha^2 of dt sum beta Q^2
    scale = max(1.0, float(np.abs(values).max()), float(np.abs(hessian).max()))
    lower_tri = np.tril(hessian / scale)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(columns)
    lp.col_cost_ = -values / scale
    lp.col_lower_, lp.col_upper_ = np.zeros(n), np.ones(n)
    lp.row_lower_ = lp.row_upper_ = np.ones(len(columns))
    lp.sense_ = highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.repeat(np.arange(len(columns), dtype=np.int32), sizes)
    lp.a_matrix_.value_ = np.ones(n)
    model = highspy.HighsModel()
    model.lp_ = lp
    h = model.hessian_
    h.dim_ = n
    h.format_ = highspy.HessianFormat.kTriangular
    # column-wise lower triangle: column j holds rows j..n-1
    h.start_ = np.concatenate([[0], np.cumsum(np.arange(n, 0, -1))]).astype(np.int32)
    h.index_ = np.concatenate([np.arange(j, n) for j in range(n)]).astype(np.int32)
    h.value_ = np.concatenate([lower_tri[j:, j] for j in range(n)])
    model.hessian_ = h
    with quiet_stdout(True):
        solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.passModel(model)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.clip(np.asarray(solver.getSolution().col_value), 0.0, None)
    out, start = [], 0
    for size in sizes:
        w = x[start : start + size]
        start += size
        out.append(w / w.sum() if w.sum() > 0 else np.eye(size)[0])
    return out


def combine_columns(solutions: list, weights: np.ndarray, problem: dict[str, Any], price: np.ndarray):
    """A convex combination of one block's solutions, netted where it charges and discharges at once.

    The dispatch of the combination (charge, discharge, state of charge,
    slacks, shortfall) is the weighted sum of the solutions'; with exclusive
    charging, a step (of a fleet, or of each vehicle of a chunk) where it
    both charges and discharges is replaced by the one flow with the same
    change of stored energy.  The objective terms are recomputed from the
    result at ``price``.

    Parameters
    ----------
    solutions : list
        Solutions of one block (:class:`~aggregator.exact_dp.FleetSolution`
        or :class:`~aggregator.dp_backend.VehicleChunkSolution`).
    weights : numpy.ndarray
        Non-negative, summing to 1.
    problem : dict
        The block problem.
    price : numpy.ndarray
        The given price ($/MWh).

    Returns
    -------
    object
        A solution of the first one's type.
    """
    used = [(w, s) for w, s in zip(weights.tolist(), solutions) if w > 0]
    if len(used) == 1:
        return used[0][1]
    arrays = ("charge", "discharge", "soc", "slack_up", "slack_down", "shortfall")
    first = used[0][1]
    values = {name: sum(w * np.asarray(getattr(s, name), dtype=float) for w, s in used) for name in arrays}
    scalars = {name: math.fsum(w * getattr(s, name) for w, s in used) for name in ("penalty", "shortfall_cost")}
    eta_in, eta_out, dt = float(problem["eta_in"]), float(problem["eta_out"]), float(problem["dt"])
    exclusive = bool(problem.get("exclusive", True))
    extra: dict[str, Any] = {}
    if getattr(first, "per_vehicle", None) is not None and all(s.per_vehicle is not None for _, s in used):
        per = {name: sum(w * s.per_vehicle[name] for w, s in used) for name in first.per_vehicle}
        if exclusive:
            per["charge"], per["discharge"] = _netted(per["charge"], per["discharge"], eta_in, eta_out)
        values["charge"], values["discharge"] = per["charge"].sum(axis=1), per["discharge"].sum(axis=1)
        extra["per_vehicle"] = per
    elif exclusive and not problem.get("vehicle_chunk"):
        values["charge"], values["discharge"] = _netted(values["charge"], values["discharge"], eta_in, eta_out)
    elif exclusive:  # a chunk's vehicles are not kept: its sums cannot be netted per vehicle
        return max(used, key=lambda ws: ws[0])[1]
    wear_cost = float(problem.get("wear_cost", 0.0) or 0.0)
    wear = wear_cost * math.fsum((values["discharge"] * dt / eta_out).tolist())
    profit = math.fsum((price / 1000.0 * (values["discharge"] - values["charge"]) * dt).tolist())
    objective = profit - scalars["penalty"] - wear - scalars["shortfall_cost"]
    changes = dict(values, **scalars, **extra, wear=wear, profit=profit, objective=objective,
                   bound=math.fsum(w * s.bound for w, s in used))
    if is_dataclass(first):
        names = {f.name for f in fields(first)}
        if "market_impact" in names:  # a price maker's answer: the combination's objective is the price taker's
            changes["market_impact"] = 0.0
        return replace(first, **{k: v for k, v in changes.items() if k in names})
    raise TypeError(f"cannot combine solutions of type {type(first).__name__}")


def _netted(charge: np.ndarray, discharge: np.ndarray, eta_in: float, eta_out: float) -> tuple[np.ndarray, np.ndarray]:
    both = (charge > FLOW_TOLERANCE) & (discharge > FLOW_TOLERANCE)
    if not both.any():
        return charge, discharge
    stored = eta_in * charge - discharge / eta_out  # kW of stored energy change
    return (np.where(both, np.maximum(stored, 0.0) / eta_in, charge),
            np.where(both, np.maximum(-stored, 0.0) * eta_out, discharge))


def _quadratic_slope(impact: ImpactCost) -> np.ndarray:
    """``beta_t``: the one slope per step of a quadratic market impact (the master is a QP, the bound closed-form)."""
    lo, hi = impact.slope_range()
    if not np.array_equal(lo, hi):
        t = int(np.flatnonzero(np.asarray(lo) != np.asarray(hi))[0])
        raise ValueError(f"the shared price needs one slope per step (a quadratic market impact); step {t} has "
                         f"slopes {float(lo[t]):g} to {float(hi[t]):g} $/MWh per MW")
    return np.asarray(hi, dtype=float).copy()


def _stalled(history: list[tuple[float, float]]) -> bool:
    """Whether the certified gap closed by less than :data:`STALL_SHARE` of itself in :data:`STALL_ROUNDS` rounds."""
    if len(history) <= STALL_ROUNDS:
        return False
    now, then = relative_gap(*history[-1]), relative_gap(*history[-1 - STALL_ROUNDS])
    return now > (1.0 - STALL_SHARE) * then


def solve_shared_impact(
    problems: list[dict[str, Any]],
    impact: Any,
    gap: float = 1e-4,
    max_rounds: int = 40,
    time_limit: float = math.inf,
    solve: Callable[[dict[str, Any]], Any] | None = None,
) -> SharedImpactSolution:
    """Solve blocks that share one price with impact ``beta`` (see the module docstring).

    Parameters
    ----------
    problems : list of dict
        Block problems (:func:`aggregator.dp_backend.fleet_problems`, without
        ``impact``), with the same ``price`` and ``dt``.
    impact : float, array_like or ImpactCost
        ``beta_t`` ($/MWh per MW), or an :class:`~aggregator.price_impact.ImpactCost` with one slope per step
        (:meth:`~aggregator.price_impact.ImpactCost.slope_range`): the master and the bound need a
        quadratic market impact (see docs page "The model", "A residual-supply curve").
    gap : float
        Stop when the certified gap is at most this.
    max_rounds : int
        Most master rounds.
    time_limit : float
        Seconds after which no further round starts.
    solve : callable, optional
        Solves one block problem (default :func:`aggregator.dp_backend.solve_fleet_problem`).

    Returns
    -------
    SharedImpactSolution

    Raises
    ------
    ValueError
        An impact whose slope changes within a step (a supply curve with kinks).
    """
    solve = solve or _default_solve
    started = time.perf_counter()
    price = np.asarray(problems[0]["price"], dtype=float)
    n_t = price.shape[0]
    dt = float(problems[0]["dt"])
    cost = impact_cost(impact, n_t)
    beta = _quadratic_slope(cost)
    columns: list[list[_Column]] = [[] for _ in problems]

    def add(b: int, sol) -> None:
        columns[b].append(_Column(_net(sol), _taker_objective(sol, problems[b], price), sol))

    def value(sols: list) -> tuple[float, float]:
        total = net_purchase(sum(np.asarray(s.charge) for s in sols), sum(np.asarray(s.discharge) for s in sols))
        moved = cost.cost(total, dt)
        return math.fsum(_taker_objective(s, p, price) for s, p in zip(sols, problems)) - moved, moved

    bound, sols = _lagrangian(problems, beta, np.zeros(n_t), solve)  # the price takers: L(0)
    centre = np.zeros(n_t)  # the multiplier of the smallest bound
    for b, s in enumerate(sols):
        add(b, s)
    objective, moved = value(sols)
    best = (objective, moved, list(sols))
    responders = [b for b, p in enumerate(problems) if p.get("exclusive", True) and not p.get("vehicle_chunk")]
    history: list[tuple[float, float]] = []
    rounds = 0
    floor = -math.inf

    def consider(candidate: list) -> None:
        nonlocal best
        obj, cost = value(candidate)
        if obj > best[0]:
            best = (obj, cost, list(candidate))

    def respond(current: list) -> None:
        """One sweep of exact best responses, from ``current``."""
        current = list(current)
        net = [_net(s) for s in current]
        for b in responders:
            others = sum(net[:b] + net[b + 1 :], np.zeros(n_t))
            shifted = {k: v for k, v in problems[b].items()}
            shifted["price"] = price + 2.0 * beta * others
            current[b] = solve_fleet_with_impact(impact=beta, gap=gap / 4.0, **shifted)
            net[b] = _net(current[b])
            add(b, current[b])
        consider(current)

    priced = [None]  # the best dispatch whose marginal price was last tried as a multiplier

    def linearised() -> None:
        """Try the best dispatch's marginal price ``2 beta Q`` as a multiplier (its Frank-Wolfe bound)."""
        nonlocal bound, centre
        if priced[0] is best[2]:
            return
        priced[0] = best[2]
        trial = 2.0 * beta * sum((_net(s) for s in best[2]), np.zeros(n_t))
        candidate, answers = _lagrangian(problems, beta, trial, solve)
        for b, s in enumerate(answers):
            add(b, s)
        if candidate < bound:
            bound, centre = candidate, trial

    if responders:
        respond(sols)
    linearised()
    for rounds in range(1, max_rounds + 1):
        if relative_gap(best[0], bound) <= gap or time.perf_counter() - started > time_limit or _stalled(history):
            rounds -= 1
            break
        combined = None
        for step in range(DUAL_STEPS):  # cheap price-taker rounds of the dual between best responses
            weights = _master(columns, beta, dt)
            if weights is None:
                log.warning("shared impact: the master QP failed in round %d", rounds)
                break
            combined = [combine_columns([c.solution for c in block], w, p, price)
                        for block, w, p in zip(columns, weights, problems)]
            for b, w in enumerate(weights):  # keep the master small: the columns in use and the newest
                if len(columns[b]) > MAX_COLUMNS:
                    keep = sorted(set(np.flatnonzero(w > 0).tolist()) | set(range(len(w) - MAX_COLUMNS // 2, len(w))))
                    columns[b], weights[b] = [columns[b][k] for k in keep], w[keep]
            consider(combined)
            total = sum(sum(w_k * col.net for w_k, col in zip(w.tolist(), block)) for block, w in zip(columns, weights))
            mu = 2.0 * beta * total
            relaxed = math.fsum(w_k * col.value for block, w in zip(columns, weights) for w_k, col in zip(w.tolist(), block))
            relaxed -= math.fsum((beta * total * total * dt).tolist())
            floor = max(floor, relaxed)
            log.debug("shared impact round %d: master %.6f", rounds, relaxed)
            # the master's multiplier; if it does not improve the bound, half-way from the best one (Wentges)
            for trial in ((mu, 0.5 * (centre + mu)) if rounds > 1 or step > 0 else (mu,)):
                candidate, answers = _lagrangian(problems, beta, trial, solve)
                for b, s in enumerate(answers):
                    add(b, s)
                if candidate < bound:
                    bound, centre = candidate, trial
                    break
            if relative_gap(best[0], bound) <= gap:
                break
        if combined is None:
            break
        if responders and relative_gap(best[0], bound) > gap:
            respond(combined)  # exact best responses to the master's total: the primal, and columns
        if relative_gap(best[0], bound) > gap:
            linearised()
        history.append((best[0], bound))
        log.debug("shared impact round %d: objective %.6f, bound %.6f, gap %.3g", rounds, best[0], bound,
                  relative_gap(best[0], bound))
    return SharedImpactSolution(fleets=best[2], objective=best[0], market_impact=best[1], bound=bound, rounds=rounds,
                                history=history, dual_floor=floor)
