"""Builders shared by the price-impact tests (test_price_impact.py, test_supply_curve.py).

A lossless one-vehicle fleet, a one-fleet scenario file with ``[prices] impact``, and the exact optimum of
one storage whose every step has a chosen side (charge or discharge) and a linear price shift on a power
range: a convex QP solved by HiGHS (the tests enumerate the choices and keep the best).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import highspy
import numpy as np
import scipy.sparse as sp

from aggregator import Fleet
from conftest import make_fleet


def lossless(steps: int, name: str = "f") -> Fleet:
    """The one-vehicle fleet of the hand-solved tests (10 kWh, 10 kW, no losses), plugged in every step."""
    return make_fleet(name, [1.0] * steps)


def impact_scenario(tmp_path: Path, impact: str, *, prices: str = "price\n10\n100\n",
                    files: dict[str, str] | None = None, solver: str | None = None) -> str:
    """A scenario file of :func:`lossless`'s fleet with ``[prices] impact = <impact>`` (a TOML value).

    ``files`` are written beside it (name -> text), like the prices; ``solver`` adds ``[solver] name``.
    """
    (tmp_path / "prices.csv").write_text(prices)
    for name, text in (files or {}).items():
        if text is not None:
            (tmp_path / name).write_text(text)
    path = tmp_path / "s.toml"
    path.write_text(
        f"[prices]\npath = 'prices.csv'\nimpact = {impact}\n[[fleets]]\nname = 'f'\nvehicles = 1\nbattery_kwh = 10\n"
        "charger_kw = 10\ncharge_efficiency = 1.0\ndischarge_efficiency = 1.0\ncontract_limit = 1.0\n"
        "initial_soc = 0.0\navailability = 1.0\n" + (f"[solver]\nname = '{solver}'\n" if solver else "")
    )
    return str(path)


def highs_optimum(model: highspy.HighsModel, tight: bool = True) -> float:
    """Solve a minimisation with HiGHS (quietly) and return the negated optimum: the best profit."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if tight:
        h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    h.passModel(model)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return -h.getInfo().objective_function_value


def storage_qp_optimum(price: Sequence[float], steps: Sequence[tuple[float, float, float, float, float]],
                       smin: Sequence[float], smax: Sequence[float], s0: float, eta_in: float, eta_out: float,
                       penalty: float, dt: float = 1.0) -> float:
    """The best profit of one storage with each step's side and price fixed: a convex QP (HiGHS).

    Parameters
    ----------
    price : sequence of float
        $/MWh per step.
    steps : sequence of (sign, lower, upper, shift, slope)
        Per step: +1 charges, -1 discharges, at a power in ``[lower, upper]`` (kW) and a price
        ``price + shift + slope q`` for the net purchase ``q = sign p / 1000`` (MW).
    smin, smax, s0, eta_in, eta_out, penalty, dt
        The storage's bounds (kWh), first state, efficiencies, slack penalty ($/kWh) and step (h).

    Returns
    -------
    float
    """
    n = len(price)
    # columns: p_t (power, kW), S_t, sigma+_t, sigma-_t
    cost = np.zeros(4 * n)
    lower = np.zeros(4 * n)
    upper = np.full(4 * n, highspy.kHighsInf)
    a_mat = np.zeros((n, 4 * n))
    rhs = np.zeros(n)
    diag = []
    for t, (sign, pa, pb, shift, slope) in enumerate(steps):
        # revenue -(lam + a + b q) q dt with q = sign p / 1000: -sign (lam + a) p dt / 1000 - b p^2 dt / 1e6
        cost[t] = sign * (price[t] + shift) * dt / 1000.0
        lower[t], upper[t] = pa, pb
        diag.append(2.0 * slope * dt / 1e6)
        lower[n + t], upper[n + t] = smin[t], smax[t]
        cost[2 * n + t] = cost[3 * n + t] = penalty
        gain = eta_in * dt if sign > 0 else -dt / eta_out
        a_mat[t, n + t] = 1.0
        if t:
            a_mat[t, n + t - 1] = -1.0
        a_mat[t, t] = -gain
        a_mat[t, 2 * n + t], a_mat[t, 3 * n + t] = -1.0, 1.0
        rhs[t] = s0 if t == 0 else 0.0
    csc = sp.csc_matrix(a_mat)
    model = highspy.HighsModel()
    lp = model.lp_
    lp.num_col_, lp.num_row_ = 4 * n, n
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_ = lp.row_upper_ = rhs
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    curved = [t for t in range(n) if diag[t] > 0.0]
    if curved:  # HiGHS refuses an all-zero Hessian: without one it is an LP
        hess = model.hessian_
        hess.dim_ = 4 * n
        hess.format_ = highspy.HessianFormat.kTriangular
        hess.start_ = [sum(1 for c in curved if c < j) for j in range(4 * n + 1)]
        hess.index_ = curved
        hess.value_ = [diag[t] for t in curved]
    return highs_optimum(model)


def draw_storage(data, n: int, pmax) -> dict:
    """Draw the rest of a random small one-fleet problem (after its prices and impact), as solve_fleet keywords.

    Parameters
    ----------
    data : hypothesis data
    n : int
        Steps.
    pmax : hypothesis strategy
        Of one step's power (kW).

    Returns
    -------
    dict
        ``pmax``, ``smin``, ``smax``, ``s_init``, ``eta_in``, ``eta_out``, ``penalty`` and ``dt = 1``.
    """
    from hypothesis import strategies as st

    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    power = data.draw(st.lists(pmax, min_size=n, max_size=n))
    smax = data.draw(st.lists(floats(2, 12), min_size=n, max_size=n))
    s0 = data.draw(floats(0, 12))
    eta_in, eta_out = data.draw(floats(0.7, 1.0)), data.draw(floats(0.7, 1.0))
    penalty = data.draw(st.sampled_from([0.5, 5.0]))
    return dict(dt=1.0, pmax=power, smin=[0.2 * s for s in smax], smax=smax, s_init=s0, eta_in=eta_in,
                eta_out=eta_out, penalty=penalty)


def assert_exact_and_bounded(sol, best: float, price, impact, problem: dict) -> float:
    """The DP's dispatch reaches the exact optimum ``best`` (never beyond) and its bound lies above it.

    Its objective is recomputed from the dispatch with the true market impact.  Returns the tolerance used.
    """
    import math

    import pytest

    from aggregator.price_impact import market_impact

    tol = 1e-6 * max(1.0, abs(best))
    penalty = problem["penalty"]
    recomputed = (math.fsum(np.asarray(price) / 1000.0 * (sol.discharge - sol.charge))
                  - market_impact(sol.charge, sol.discharge, impact, 1.0)
                  - penalty * math.fsum(sol.slack_up + sol.slack_down))
    assert recomputed == pytest.approx(sol.objective, abs=1e-9 * max(1.0, abs(best)))
    assert sol.objective <= best + tol
    assert sol.objective >= best - tol - 1e-7 * max(1.0, abs(sol.bound))
    assert sol.bound >= best - tol
    return tol
