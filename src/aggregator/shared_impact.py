"""Several fleets that move one price: exact fleets, a Lagrangian bound on the total purchase.

With price impact (:mod:`aggregator.price_impact`) the fleets couple through
their total net purchase ``Q_t = sum_f q_{f,t}`` (MW): the objective is
``sum_f R_f(x_f) - sum_t beta_t Q_t^2 dt`` with ``R_f`` a fleet's price-taker
objective.  Nothing else couples them, so every combination of feasible fleet
dispatches is feasible.

* **Primal** (block coordinate ascent): fleet by fleet, with the others'
  purchase ``Q^o_t`` fixed, the total objective as a function of the fleet's
  own purchase is ``-(lambda_t + 2 beta_t Q^o_t) q dt - beta_t q^2 dt`` plus a
  constant: a single price maker at the shifted price, solved by
  :func:`aggregator.price_impact.solve_fleet_with_impact`.  The objective
  never decreases from round to round; it is recomputed exactly from the
  dispatches.
* **Bound** (Lagrangian on ``Q_t = sum_f q_{f,t}``): for every price
  ``mu_t`` ($/MWh),

  .. math::

     L(\\mu) = \\sum_f V_f(\\lambda + \\mu)
       + \\sum_t \\Delta t \\max_{|Q| \\le \\bar Q_t} \\left(\\mu_t Q - \\beta_t Q^2\\right)

  is an upper bound of the coupled optimum (weak duality; ``V_f(p)`` the
  certified bound of fleet f as a price taker at price ``p``, ``bar Q_t`` the
  fleets' total power in MW, which no feasible dispatch exceeds).  It is
  evaluated at ``mu = 2 beta Q`` of the current primal (the marginal price
  impact, the optimal multiplier where the problem is concave) and the
  smallest value is kept.

The certified gap is ``(min L - primal) / |min L|``; what is left of it comes
from the exclusive-charging binaries (the only non-concavity) and from the
rounds not run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exact_dp import solve_fleet
from .price_impact import market_impact, solve_fleet_with_impact
from .solvers import relative_gap

log = logging.getLogger(__name__)

__all__ = ["SharedImpactSolution", "solve_shared_impact", "lagrangian_bound"]


@dataclass(eq=False)
class SharedImpactSolution:
    """The fleets' dispatches under a shared price impact, with a certified bound.

    Attributes
    ----------
    fleets : list
        One solution per fleet (``charge``, ``discharge``, ``soc``, ... as in
        :class:`aggregator.exact_dp.FleetSolution`); their ``objective`` is
        the fleet's price-taker objective at the given price.
    objective : float
        ``sum_f`` price-taker objectives ``-`` the market impact of the total ($).
    market_impact : float
        ``sum_t beta_t Q_t^2 dt`` ($).
    bound : float
        Smallest Lagrangian bound found ($).
    rounds : int
        Rounds of coordinate ascent run.
    """

    fleets: list
    objective: float
    market_impact: float
    bound: float
    rounds: int

    @property
    def gap(self) -> float:
        """Certified relative gap (:func:`aggregator.solvers.relative_gap`)."""
        return relative_gap(self.objective, self.bound)


def _taker_objective(sol, problem: dict[str, Any], price: np.ndarray) -> float:
    """The fleet's documented objective at ``price`` (the DP's own non-price terms kept)."""
    dt = float(problem["dt"])
    at_given = math.fsum((price / 1000.0 * (sol.discharge - sol.charge) * dt).tolist())
    return at_given + (sol.objective + getattr(sol, "market_impact", 0.0) - sol.profit)


def lagrangian_bound(problems: list[dict[str, Any]], beta: np.ndarray, mu: np.ndarray) -> float:
    """``L(mu)``: an upper bound of the coupled price-maker optimum for any ``mu`` (see the module docstring).

    Parameters
    ----------
    problems : list of dict
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`, one per fleet (same price).
    beta : numpy.ndarray
        $/MWh per MW per step.
    mu : numpy.ndarray
        $/MWh per step.

    Returns
    -------
    float
    """
    return _lagrangian(problems, beta, mu)[0]


def _lagrangian(problems: list[dict[str, Any]], beta: np.ndarray, mu: np.ndarray) -> tuple[float, np.ndarray]:
    price = np.asarray(problems[0]["price"], dtype=float)
    dt = float(problems[0]["dt"])
    n_t = price.shape[0]
    sols = [solve_fleet(**dict(p, price=price + mu)) for p in problems]
    fleets = math.fsum(s.bound for s in sols)
    qmax = sum(np.broadcast_to(np.asarray(p["pmax"], dtype=float), (n_t,)) for p in problems) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(beta > 0, np.clip(mu / (2.0 * np.where(beta > 0, beta, 1.0)), -qmax, qmax),
                     np.where(mu > 0, qmax, np.where(mu < 0, -qmax, 0.0)))
    total = math.fsum(((mu * q - beta * q * q) * dt).tolist())
    bound = fleets + total + 8.0 * np.finfo(float).eps * math.fsum(np.abs((mu * q) * dt).tolist())
    # a subgradient: the relaxed total minus the fleets' purchase
    return bound, (q - sum((s.charge - s.discharge) / 1000.0 for s in sols)) * dt


def solve_shared_impact(
    problems: list[dict[str, Any]], impact: Any, gap: float = 1e-4, max_rounds: int = 8
) -> SharedImpactSolution:
    """Solve fleets that share one price with impact ``beta`` (see the module docstring).

    Parameters
    ----------
    problems : list of dict
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`, one per
        fleet, with the same ``price`` and ``dt``; exclusive charging.
    impact : float or array_like
        ``beta_t`` ($/MWh per MW).
    gap : float
        Stop when the certified gap is at most this.
    max_rounds : int
        Most rounds of coordinate ascent.

    Returns
    -------
    SharedImpactSolution
    """
    price = np.asarray(problems[0]["price"], dtype=float)
    n_t = price.shape[0]
    dt = float(problems[0]["dt"])
    beta = np.broadcast_to(np.asarray(impact, dtype=float), (n_t,)).copy()
    sols = [solve_fleet(**p) for p in problems]
    net = [(s.charge - s.discharge) / 1000.0 for s in sols]

    def value() -> tuple[float, float]:
        impact_cost = market_impact(sum(s.charge for s in sols), sum(s.discharge for s in sols), beta, dt)
        return math.fsum(_taker_objective(s, p, price) for s, p in zip(sols, problems)) - impact_cost, impact_cost

    objective, impact_cost = value()
    best = (objective, impact_cost, list(sols))
    bound = math.inf
    rounds = 0
    history: list[tuple[float, float]] = []  # stop when two rounds changed nothing
    for rounds in range(1, max_rounds + 1):
        for f, problem in enumerate(problems):
            others = sum(net[:f] + net[f + 1 :], np.zeros(n_t))
            shifted = dict(problem, price=price + 2.0 * beta * others)
            sols[f] = solve_fleet_with_impact(impact=beta, gap=gap / 4.0, **shifted)
            net[f] = (sols[f].charge - sols[f].discharge) / 1000.0
        objective, impact_cost = value()
        if objective > best[0]:
            best = (objective, impact_cost, list(sols))
        mu = 2.0 * beta * sum(net)
        bound = min(bound, _improve(problems, beta, mu, best[0], gap))
        log.debug("shared impact round %d: objective %.6f, bound %.6f", rounds, best[0], bound)
        if relative_gap(best[0], bound) <= gap or (rounds > 2 and history[-2:] == [(best[0], bound)] * 2):
            break
        history.append((best[0], bound))
    return SharedImpactSolution(fleets=best[2], objective=best[0], market_impact=best[1], bound=bound, rounds=rounds)


def _improve(problems: list[dict[str, Any]], beta: np.ndarray, mu: np.ndarray, primal: float, gap: float,
             steps: int = 12) -> float:
    """The smallest ``L`` found by Polyak subgradient steps from ``mu`` (every ``L`` is a valid bound)."""
    best = math.inf
    for _ in range(steps):
        value, grad = _lagrangian(problems, beta, mu)
        best = min(best, value)
        norm = float(grad @ grad)
        if relative_gap(primal, best) <= gap or norm == 0.0:
            break
        mu = mu - (value - primal) / norm * grad
    return best
