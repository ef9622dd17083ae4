"""Price impact (issue 16): the price moves with the aggregator's net purchase.

Hand-solved instances with an interior optimum, beta = 0 is exactly the price
taker, the dp backend against an enumeration of charge/discharge patterns each
solved as a convex QP by HiGHS (the exact optimum of the same model), the
linopy (tangent) form through HiGHS, and bad input (exit 2).
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import Aggregator, Fleet, PriceSignal
from aggregator.cli import main
from aggregator.errors import InputError
from aggregator.exact_dp import solve_fleet
from aggregator.price_impact import impact_profile, solve_fleet_with_impact, step_vertices
from aggregator.scenario import scenario_from_dict
from conftest import run_cli
from impact_helpers import (
    assert_exact_and_bounded,
    draw_storage,
    highs_optimum,
    impact_scenario,
    lossless,
    storage_qp_optimum,
)

EXAMPLES = int(os.environ.get("AGGREGATOR_PROPERTY_EXAMPLES", "25"))


# ------------------------------------------------------------------ hand-solved
def test_two_steps_interior_optimum():
    # Buy x MW at 10 + 4500 x, sell it at 100 - 4500 x: 90 x - 9000 x^2 is largest at x = 0.005 MW
    # (5 kW, half the charger): 0.225 $; a price taker would buy the full 10 kW (0.9 $).
    r = Aggregator([lossless(2)], PriceSignal([10.0, 100.0]), price_impact=4500.0).solve(solver="dp")
    assert r.status == "optimal"
    assert r.objective == pytest.approx(0.225, abs=1e-12)
    assert r.bound >= 0.225 - 1e-12 and r.bound - r.objective <= 1e-4 * 0.225
    assert r.dataset["charge"].values.ravel() == pytest.approx([5.0, 0.0], abs=1e-9)
    assert r.dataset["discharge"].values.ravel() == pytest.approx([0.0, 5.0], abs=1e-9)
    assert r.dataset["price_faced"].values == pytest.approx([32.5, 77.5])
    assert r.profit == pytest.approx(0.45) and r.market_impact == pytest.approx(0.225)
    summary = r.summary()
    assert summary["price_maker_profit"] == pytest.approx(0.225)
    taker = Aggregator([lossless(2)], PriceSignal([10.0, 100.0])).solve(solver="dp")
    assert taker.objective == pytest.approx(0.9) and taker.dataset["charge"].values[0, 0] == pytest.approx(10.0)


def test_three_steps_interior_optimum():
    # Buy x, sell x/2 twice: 90 x - 1.5 * 4500 x^2, largest at x = 90 / 13500 MW (6.67 kW): 0.3 $.
    r = Aggregator([lossless(3)], PriceSignal([10.0, 100.0, 100.0]), price_impact=4500.0).solve(solver="dp", mip_gap=1e-6)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(0.3, abs=1e-6) and r.objective <= 0.3 + 1e-12
    assert 0.3 - 1e-12 <= r.bound <= 0.3 + 1e-6  # a difference below a micro-dollar is no gap
    assert r.dataset["charge"].values[0, 0] == pytest.approx(20 / 3, abs=1e-2)
    assert r.dataset["discharge"].values[1:, 0] == pytest.approx([10 / 3, 10 / 3], abs=1e-2)


def test_impact_profile_per_step():
    # only the first step moves the price: buy 5 kW at 10 + 9000 q, sell the rest at 100
    beta = [9000.0, 0.0]
    r = Aggregator([lossless(2)], PriceSignal([10.0, 100.0]), price_impact=beta).solve(solver="dp", mip_gap=1e-7)
    # 90 x - 9000 x^2 at x = 0.005 MW: 0.225 $
    assert r.objective == pytest.approx(0.225, abs=1e-7)


# ------------------------------------------------------------------ beta = 0
def _random_problem(seed: int, steps: int = 72) -> tuple[Aggregator, Aggregator]:
    rng = np.random.default_rng(seed)
    prices = PriceSignal(rng.normal(40, 60, steps))
    fleet = Fleet("f", vehicles=100, battery_kwh=30, charger_kw=7.2, initial_soc=0.5,
                  availability=rng.uniform(0.6, 1.0, steps))
    return Aggregator([fleet], prices), Aggregator([fleet], prices, price_impact=0.0)


def test_beta_zero_is_exactly_the_price_taker():
    taker, zero = _random_problem(3)
    a, b = taker.solve(solver="dp"), zero.solve(solver="dp")
    for name in ("charge", "discharge", "soc", "slack_up", "slack_down"):
        assert np.array_equal(a.dataset[name].values, b.dataset[name].values), name
    assert a.objective == b.objective and a.bound == b.bound
    assert b.market_impact == 0.0 and np.array_equal(b.dataset["price_faced"].values, b.dataset["price"].values)
    # the same with a per-step profile of zeros, and for the solver-level function
    problem = dict(price=[30.0, -5.0, 80.0], dt=1.0, pmax=10.0, smin=0.0, smax=20.0, s_init=5.0, eta_in=0.9,
                   eta_out=0.9, penalty=10.0)
    plain, with_zero = solve_fleet(**problem), solve_fleet_with_impact(impact=[0.0, 0.0, 0.0], **problem)
    assert np.array_equal(plain.charge, with_zero.charge) and plain.objective == with_zero.objective
    assert plain.bound == with_zero.bound


# ------------------------------------------------------------------ exact optimum by enumeration
def _qp_optimum(price, beta, pmax, smin, smax, s0, eta_in, eta_out, penalty, dt=1.0) -> float:
    """Best objective over all charge/discharge patterns, each a convex QP solved by HiGHS."""
    best = -math.inf
    for pattern in itertools.product((1.0, -1.0), repeat=len(price)):
        steps = [(sign, 0.0, pmax[t], 0.0, beta[t]) for t, sign in enumerate(pattern)]
        best = max(best, storage_qp_optimum(price, steps, smin, smax, s0, eta_in, eta_out, penalty, dt))
    return best


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 4),
    data=st.data(),
)
def test_dp_equals_the_exact_optimum_and_bounds_it(n, data):
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    price = data.draw(st.lists(floats(-60, 200), min_size=n, max_size=n))
    beta = data.draw(st.lists(st.one_of(st.just(0.0), floats(0, 8000)), min_size=n, max_size=n))
    problem = draw_storage(data, n, floats(0, 10))
    sol = solve_fleet_with_impact(impact=beta, gap=1e-7, price=price, **problem)
    best = _qp_optimum(price, beta, problem["pmax"], problem["smin"], problem["smax"], problem["s_init"],
                       problem["eta_in"], problem["eta_out"], problem["penalty"])
    assert_exact_and_bounded(sol, best, price, beta, problem)


def test_outer_vertices_lie_above_and_inner_below_the_revenue():
    lam, beta, pmax, dt, ei, eo = 40.0, 3000.0, 10.0, 1.0, 0.9, 0.8
    for outer in (False, True):
        (vy, vr, vin, vout), = step_vertices(lam, beta, pmax, dt, ei, eo, 4, outer=outer)
        ys = np.linspace(vy[0], vy[-1], 101)
        pwl = np.interp(ys, vy, vr)
        p_in = np.where(ys > 0, ys / (ei * dt), 0.0)
        p_out = np.where(ys < 0, -ys * eo / dt, 0.0)
        q = (p_in - p_out) / 1000.0
        true = -lam * q * dt - beta * q * q * dt
        if outer:
            assert np.all(pwl >= true - 1e-12) and np.max(pwl - true) <= beta * dt * (pmax / 4 / 1000) ** 2 / 4 + 1e-12
        else:
            assert np.all(pwl <= true + 1e-12)


# ------------------------------------------------------------------ the linopy form through HiGHS
def test_highs_solves_the_tangent_form_of_the_same_model():
    agg = Aggregator([lossless(3)], PriceSignal([10.0, 100.0, 100.0]), price_impact=4500.0)
    dp, highs = agg.solve(solver="dp", mip_gap=1e-7), agg.solve(solver="highs", warm_start=False)
    model = agg.build_model()
    assert "market_impact" in model.variables and "market_impact_tangent" in model.constraints
    assert int(model.variables["mode"].labels.to_numpy().min()) >= 0  # a binary in every step with impact
    # HiGHS's bound (the tangent MILP is a relaxation) is never below the optimum, and its dispatch,
    # valued exactly, never above it
    assert highs.bound >= dp.objective - 1e-9
    assert highs.objective <= dp.bound + 1e-9
    assert highs.objective == pytest.approx(dp.objective, abs=2e-3)


# ------------------------------------------------------------------ several fleets share the price
def test_two_fleets_share_the_price_hand_solved():
    # two lossless 10 kW fleets move one price: only the total counts, 5 kW bought and sold, 0.225 $
    two = [lossless(2), lossless(2).with_options(name="g")]
    r = Aggregator(two, PriceSignal([10.0, 100.0]), price_impact=4500.0).solve(solver="dp")
    assert r.status == "optimal" and r.objective == pytest.approx(0.225, abs=1e-6)
    assert r.bound >= 0.225 - 1e-9 and r.dataset["charge"].values[0].sum() == pytest.approx(5.0, abs=1e-2)
    assert r.market_impact == pytest.approx(r.profit - r.objective)


def test_fleets_that_share_the_price_are_not_split_into_tasks():
    from aggregator.fleet_tasks import solve_fleets

    two = [lossless(2), lossless(2).with_options(name="g")]
    r = solve_fleets(Aggregator(two, PriceSignal([10.0, 100.0]), price_impact=4500.0, solver="dp"), workers=0)
    assert r.objective == pytest.approx(0.225, abs=1e-6)  # split, each fleet alone would earn 0.225 $: 0.45 $


def test_several_fleets_against_highs_on_the_same_model():
    rng = np.random.default_rng(7)
    fleets = [Fleet(f"f{i}", vehicles=1, battery_kwh=10, charger_kw=10, initial_soc=0.5,
                    availability=rng.uniform(0.5, 1.0, 4)) for i in range(3)]
    agg = Aggregator(fleets, PriceSignal([30.0, -20.0, 120.0, 60.0]), price_impact=3000.0)
    dp, highs = agg.solve(solver="dp", mip_gap=1e-6), agg.solve(solver="highs", warm_start=False)
    # each side's bound holds the other's dispatch (valued exactly)
    assert highs.objective <= dp.bound + 1e-9 and dp.objective <= highs.bound + 1e-9
    assert dp.gap <= 1e-6 and dp.objective >= highs.objective - 1e-9


def test_fleet_objectives_add_up_to_the_total_with_impact():
    # two fleets share one price: the impact beta Q^2 dt is attributed by the share of q_t
    fleets = [lossless(2), lossless(2).with_options(name="g", charger_kw=4.0, battery_kwh=4.0)]
    for solver in ("dp", "highs"):
        r = Aggregator(fleets, PriceSignal([10.0, 100.0]), price_impact=4500.0).solve(solver=solver)
        per = r.fleet_objective
        assert per.sum() == pytest.approx(r.objective, abs=1e-9), solver
        q = (r.dataset["charge"] - r.dataset["discharge"]).values / 1000.0
        taker = (np.array([10.0, 100.0])[:, None] * -q).sum(axis=0)
        share = (4500.0 * q.sum(axis=1)[:, None] * q).sum(axis=0)
        assert per.values == pytest.approx(taker - share, abs=1e-9)


def test_one_fleet_alone_carries_all_of_its_impact():
    r = Aggregator([lossless(2)], PriceSignal([10.0, 100.0]), price_impact=4500.0).solve(solver="dp")
    assert r.fleet_objective.iloc[0] == pytest.approx(0.225, abs=1e-12)


def _forced_sale(exclusive: bool) -> dict:
    # 10 kWh must leave a battery with 50 % efficiency both ways within one hour, at 10 $/MWh
    return dict(price=[10.0], dt=1.0, pmax=20.0, smin=0.0, smax=0.0, s_init=10.0, eta_in=0.5, eta_out=0.5,
                penalty=1000.0, exclusive=exclusive)


def test_simultaneous_flows_of_a_price_maker_hand_solved():
    from aggregator.shared_impact import solve_shared_impact

    # Exclusive: discharge 5 kW (10 kWh at 50 %): 10 * 0.005 - 4000 * 0.005^2 = -0.05 $.  Shared
    # chargers: charge c and discharge d = 5 + c/4 (the same 10 kWh out), net sale 5 - 0.75 c; the best
    # sale is 10 / (2 * 4000) MW = 1.25 kW (c = 5, d = 6.25 kW, within 20 kW): 0.0125 - 0.00625 = 0.00625 $.
    alone = solve_fleet_with_impact(impact=4000.0, gap=1e-9, **_forced_sale(True))
    assert alone.objective == pytest.approx(-0.05, abs=1e-12)
    loose = solve_shared_impact([_forced_sale(False)], 4000.0, gap=1e-9)
    assert loose.objective == pytest.approx(0.00625, abs=1e-12)
    assert loose.objective - 1e-15 <= loose.bound <= 0.00625 + 1e-6  # a micro-dollar counts as no gap
    (sol,) = loose.fleets
    assert sol.charge == pytest.approx([5.0]) and sol.discharge == pytest.approx([6.25])


def _loose_qp_optimum(problem: dict, beta: np.ndarray) -> float:
    """The convex QP of one fleet with shared chargers (P_in + P_out <= pmax), solved by HiGHS."""
    price, n, dt = np.asarray(problem["price"], float), len(problem["price"]), float(problem["dt"])
    # columns: c_t, d_t, S_t, sigma+_t, sigma-_t
    cost = np.concatenate([price * dt / 1000.0, -price * dt / 1000.0, np.zeros(n),
                           np.full(2 * n, float(problem["penalty"]))])
    lower = np.zeros(5 * n)
    upper = np.concatenate([np.asarray(problem["pmax"], float)] * 2 + [np.asarray(problem["smax"], float)]
                           + [np.full(2 * n, highspy.kHighsInf)])
    lower[2 * n : 3 * n] = problem["smin"]
    a = np.zeros((2 * n, 5 * n))
    rhs_lo, rhs_hi = np.zeros(2 * n), np.zeros(2 * n)
    for t in range(n):
        a[t, 2 * n + t] = 1.0
        if t:
            a[t, 2 * n + t - 1] = -1.0
        a[t, t], a[t, n + t] = -problem["eta_in"] * dt, dt / problem["eta_out"]
        a[t, 3 * n + t], a[t, 4 * n + t] = -1.0, 1.0
        rhs_lo[t] = rhs_hi[t] = problem["s_init"] if t == 0 else 0.0
        a[n + t, t] = a[n + t, n + t] = 1.0
        rhs_lo[n + t], rhs_hi[n + t] = -highspy.kHighsInf, problem["pmax"][t]
    csc = sp.csc_matrix(a)
    model = highspy.HighsModel()
    lp = model.lp_
    lp.num_col_, lp.num_row_ = 5 * n, 2 * n
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_, lp.row_upper_ = rhs_lo, rhs_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    hess = model.hessian_  # beta dt (c - d)^2 / 1e6, lower triangle by columns
    hess.dim_ = 5 * n
    hess.format_ = highspy.HessianFormat.kTriangular
    k = 2.0 * np.asarray(beta, float) * dt / 1e6
    starts, index, value = [0], [], []
    for t in range(n):
        index += [t, n + t]
        value += [k[t], -k[t]]
        starts.append(len(index))
    for t in range(n):
        index.append(n + t)
        value.append(k[t])
        starts.append(len(index))
    starts += [len(index)] * (3 * n)
    hess.start_, hess.index_, hess.value_ = starts, index, value
    return highs_optimum(model, tight=False)


@pytest.mark.parametrize("seed", range(5))
def test_dp_with_shared_chargers_equals_the_convex_qp(seed):
    from aggregator.dp_backend import fleet_problems

    rng = np.random.default_rng(seed)
    n = 4
    availability = rng.uniform(0.2, 1.0, n)
    fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10, charge_efficiency=rng.uniform(0.6, 1.0),
                  discharge_efficiency=rng.uniform(0.6, 1.0), contract_limit=0.8,
                  initial_soc=rng.uniform(0.2, 1.0) * availability[0], availability=availability)
    beta = rng.uniform(100.0, 8000.0)
    agg = Aggregator([fleet], PriceSignal(rng.uniform(-60, 200, n)), price_impact=beta, exclusive_charging=False)
    assert agg.backend("auto")[0].name == "dp"
    r = agg.solve(solver="dp", mip_gap=1e-7)
    (problem,) = fleet_problems(agg.inputs)
    best = _loose_qp_optimum(problem, np.full(n, beta))
    tol = 1e-6 * max(1.0, abs(best))
    assert r.status == "optimal"
    assert best - tol <= r.objective <= best + tol and r.bound >= best - tol


def test_a_vehicles_fleet_moves_the_price_exactly():
    from aggregator.vehicles import VehicleSchedule

    # Two 10 kWh vehicles, half full, lossless 10 kW chargers; B is away in hour 1; 0 then 100 $/MWh,
    # 4500 $/MWh per MW.  A buys x <= 5 kW in hour 1, both sell y = 10 kW + x in hour 2 (B its 5 kWh, A
    # 5 kWh + x): -4500 x^2 + (100 - 4500 y) y = 0.55 + 10 x - 9000 x^2 (MW), largest at x = 1/1800 MW
    # (0.556 kW): 0.55 + 100 / 36000 $.  A price taker would buy 5 kW and sell 15 kW.
    schedule = VehicleSchedule(ids=("A", "B"), steps=2, vehicle=np.array([1]), first=np.array([0]),
                               last=np.array([0]), energy=np.array([0.0]))
    fleet = Fleet("v", vehicles=2, battery_kwh=10, charger_kw=10, charge_efficiency=1.0, discharge_efficiency=1.0,
                  contract_limit=1.0, initial_soc=0.5, representation="vehicles", trips=schedule)
    agg = Aggregator([fleet], PriceSignal([0.0, 100.0]), price_impact=4500.0)
    assert agg.backend("auto")[0].name == "dp"
    r = agg.solve(solver="dp", mip_gap=1e-6)
    assert r.status == "optimal" and r.gap <= 1e-6
    highs = agg.solve(solver="highs", warm_start=False)
    assert highs.objective <= r.bound + 1e-9 and r.objective <= highs.bound + 1e-9
    assert r.objective == pytest.approx(0.55 + 100.0 / 36000.0, abs=1e-7)
    assert r.dataset["charge"].values.sum() == pytest.approx(1000.0 / 1800.0, abs=1e-3)
    assert r.fleet_objective.sum() == pytest.approx(r.objective, abs=1e-9)


def test_four_seed_fleets_share_the_price_to_the_requested_gap(seed):
    # the seed four-fleet instance, 10^6 vehicles per fleet, 500 h: coordinate ascent with subgradient
    # steps stopped at a certified gap of 1.4e-4 ("feasible"); the master over exact fleet answers reaches 1e-4
    from aggregator.availability import CsvAvailability

    prices = PriceSignal.from_csv(seed / "CA_Weighted_Price_Case0.csv", "Weighted_Avg_Price")
    fleets = []
    for i in range(1, 5):
        availability = CsvAvailability().profile({"path": str(seed / "car_profile_multiple.csv"),
                                                  "column": f"car_aval{i}"}, base_dir=seed,
                                                 time=prices.time[:500], step_hours=1.0)[:500]
        fleets.append(Fleet(f"car_aval{i}", vehicles=1e6, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                            discharge_efficiency=0.78, contract_limit=0.8, initial_soc=1.0,
                            availability=availability))
    r = Aggregator(fleets, prices, hours=500, slack_penalty=1000.0, price_impact=1e-3).solve(solver="dp", mip_gap=1e-4)
    assert r.status == "optimal" and r.gap <= 1e-4
    assert r.fleet_objective.sum() == pytest.approx(r.objective, rel=1e-12)
    # the master's best value is that of a convex combination of fleet answers: no bound lies below it
    assert r.objective - 1e-4 * abs(r.objective) <= r.dataset.attrs["solver_dual_floor"] <= r.bound


def test_the_rounds_stop_when_the_gap_stalls():
    from aggregator.shared_impact import STALL_ROUNDS, _stalled

    closing = [(100.0, 100.0 + 2.0 ** -k) for k in range(STALL_ROUNDS + 1)]  # the gap halves every round
    assert not _stalled(closing) and not _stalled(closing[:STALL_ROUNDS])
    flat = [(100.0, 101.0)] * STALL_ROUNDS + [(100.0, 100.95)]  # 5 % of the gap closed in STALL_ROUNDS rounds
    assert _stalled(flat)


def test_dual_floor_of_three_fleets_lies_between_the_dispatch_and_the_bound():
    from aggregator.dp_backend import fleet_problems
    from aggregator.shared_impact import solve_shared_impact

    rng = np.random.default_rng(11)
    fleets = [Fleet(f"f{i}", vehicles=1, battery_kwh=10, charger_kw=10, initial_soc=0.5,
                    availability=rng.uniform(0.5, 1.0, 6)) for i in range(3)]
    agg = Aggregator(fleets, PriceSignal([30.0, -20.0, 120.0, 60.0, -5.0, 90.0]), price_impact=3000.0)
    problems = [{k: v for k, v in p.items() if k not in ("impact", "gap")} for p in fleet_problems(agg.inputs)]
    shared = solve_shared_impact(problems, 3000.0, gap=1e-12, max_rounds=3)
    assert shared.rounds >= 1 and math.isfinite(shared.dual_floor)
    # the floor is a convex combination of fleet answers, valued exactly: every Lagrangian bound lies above it
    assert shared.dual_floor <= shared.bound + 1e-12
    for objective, bound in shared.history:
        assert objective <= bound + 1e-12
    highs = agg.solve(solver="highs", warm_start=False)
    assert highs.objective <= shared.bound + 1e-9 and shared.objective <= highs.bound + 1e-9


def test_a_coupling_with_impact_is_solved_by_the_milp():
    # a 4 kW import limit: buy 4 kW (price 10 + 4500 * 0.004 = 28), sell 4 kW (100 - 18 = 82): 0.216 $
    agg = Aggregator([lossless(2)], PriceSignal([10.0, 100.0]), price_impact=4500.0,
                     extensions={"grid_limit": {"kw": [4, 100]}})
    backend, _ = agg.backend("auto")
    assert backend.name == "highs"
    r = agg.solve(mip_gap=1e-3)
    assert r.has_solution and r.objective == pytest.approx(0.216, abs=1e-6)
    assert r.bound >= 0.216 - 1e-9


# ------------------------------------------------------------------ input
def test_impact_profile_validation():
    assert impact_profile(2, 2).tolist() == [2.0, 2.0]
    with pytest.raises(InputError, match="impact.*-1"):
        impact_profile(-1.0, 3, "[prices] impact")
    with pytest.raises(InputError, match=r"\[prices\] impact.*2 values.*3"):
        impact_profile([1.0, 2.0], 3, "[prices] impact")
    with pytest.raises(InputError, match="price_impact"):
        Aggregator([lossless(2)], PriceSignal([10.0, 100.0]), price_impact=[1.0, float("nan")])


def _scenario(tmp_path, impact: str) -> str:
    return impact_scenario(tmp_path, impact, files={"beta.csv": "beta\n4500\n4500\n", "short.csv": "beta\n4500\n"},
                           solver="dp")


@pytest.mark.parametrize("impact", ["4500", "{ path = 'beta.csv', column = 'beta' }"])
def test_scenario_key(tmp_path, impact):
    from aggregator import load_scenario

    r = load_scenario(_scenario(tmp_path, impact)).solve()
    assert r.objective == pytest.approx(0.225, abs=1e-9)


def _read_back(path) -> tuple[dict, dict]:
    """The per-step columns of a result file (first fleet's rows) and their units, as the file holds them."""
    import pandas as pd
    import xarray as xr

    names = ("price", "price_faced", "price_taker_profit")
    if path.suffix == ".nc":
        with xr.open_dataset(path) as ds:
            return ({k: ds[k].values.ravel().tolist() for k in names if k in ds},
                    {k: ds[k].attrs.get("units") for k in names if k in ds} | {k: ds.attrs.get(k) for k in
                                                                              ("market_impact", "price_maker_profit")})
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        frame = table.to_pandas()
        units = {f.name: (f.metadata or {}).get(b"units", b"").decode() for f in table.schema if f.name in names}
        return {k: frame[k].tolist() for k in names if k in frame}, units
    frame = pd.read_csv(path)
    return {k: frame[k].tolist() for k in names if k in frame}, {}


@pytest.mark.parametrize("suffix", ["csv", "parquet", "nc"])
def test_the_price_faced_and_the_price_taker_profit_are_in_the_result_file(tmp_path, suffix):
    # the hand-solved two steps (test_two_steps_interior_optimum): buy 5 kW at 10 + 4500 x 0.005 = 32.5 $/MWh,
    # sell them at 100 - 22.5 = 77.5; at the given price that is -0.05 $ and +0.5 $ (profit 0.45 $)
    out = tmp_path / f"r.{suffix}"
    done = run_cli("run", _scenario(tmp_path, "4500"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    columns, units = _read_back(out)
    assert columns["price"] == pytest.approx([10.0, 100.0])
    assert columns["price_faced"] == pytest.approx([32.5, 77.5], abs=1e-9)
    assert columns["price_taker_profit"] == pytest.approx([-0.05, 0.5], abs=1e-12)
    if suffix != "csv":
        assert units["price_faced"] == "$/MWh" and units["price_taker_profit"] == "$"
    if suffix == "nc":
        assert units["market_impact"] == pytest.approx(0.225) and units["price_maker_profit"] == pytest.approx(0.225)
    # the printed summary: the price maker's profit beside the price taker's valuation, and the price faced
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "profit" in lines and "0.45 $" in lines["profit"]
    assert "after a market impact of" in lines["price"]
    assert "faced 32.50 to 77.50 $/MWh, given 10.00 to 100.00" in lines["price"]


def test_a_price_taker_result_has_no_price_maker_columns(tmp_path):
    (tmp_path / "prices.csv").write_text("price\n10\n100\n")
    text = Path(_scenario(tmp_path, "0")).read_text().replace("impact = 0\n", "")
    (tmp_path / "taker.toml").write_text(text)
    done = run_cli("run", str(tmp_path / "taker.toml"), "--out", str(tmp_path / "r.csv"))
    assert done.returncode == 0, done.stderr
    columns, _ = _read_back(tmp_path / "r.csv")
    assert set(columns) == {"price"} and columns["price"] == pytest.approx([10.0, 100.0])
    assert not any(line.startswith("price ") for line in done.stdout.splitlines())


@pytest.mark.parametrize(
    "impact, words",
    [("-1", "-1"), ("{ path = 'short.csv' }", "1 values"), ("'steep'", "expected a number"), ("true", "expected")],
)
def test_bad_impact_exits_2_naming_the_key(tmp_path, capsys, impact, words):
    code = main(["run", _scenario(tmp_path, impact), "--out", str(tmp_path / "r.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "[prices] impact" in err and words in err and "Traceback" not in err


def test_scenario_schema_declares_impact():
    import jsonschema

    from aggregator.scenario_schema import scenario_json_schema

    schema = scenario_json_schema()
    data = {"prices": {"source": "constant", "price": 30, "impact": 0.001}, "fleets": [
        {"name": "f", "vehicles": 1, "battery_kwh": 10, "charger_kw": 10, "availability": 1.0}]}
    jsonschema.validate(data, schema)
    data["prices"]["impact"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_scenario_dict_rejects_rolling_with_impact(tmp_path):
    data = {"prices": {"source": "constant", "price": 30, "impact": 0.001},
            "horizon": {"hours": 48, "rolling": {"window_hours": 24, "commit_hours": 12}},
            "fleets": [{"name": "f", "vehicles": 1, "battery_kwh": 10, "charger_kw": 10, "availability": 1.0}]}
    with pytest.raises(InputError, match="rolling"):
        scenario_from_dict(data, tmp_path)
