"""A piecewise-linear residual-supply curve (issue 16, item 1): ``[prices] impact = { curve | points }``.

Hand-solved two- and three-step instances (an optimum at a kink, inside a
segment, and in the second concave mode of a curve whose revenue is not
concave), a linear curve equal to ``beta``, a flat curve equal to the price
taker, ``dp`` against an enumeration of curve pieces each solved as a convex
QP by HiGHS (the exact optimum) and against the linopy form through HiGHS,
several fleets falling back to the MILP, and bad input through the real CLI.
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import Aggregator, Fleet, PriceSignal
from aggregator.cli import main
from aggregator.errors import InputError
from aggregator.price_impact import solve_fleet_with_impact
from aggregator.supply_curve import SupplyCurve, curve_from_points, curve_modes, curve_step_vertices
from impact_helpers import assert_exact_and_bounded, draw_storage, impact_scenario, lossless, storage_qp_optimum

EXAMPLES = int(os.environ.get("AGGREGATOR_PROPERTY_EXAMPLES", "25"))


def solve(steps: int, prices: list[float], curve, solver: str = "dp", **options):
    return Aggregator([lossless(steps)], PriceSignal(prices), price_impact=curve).solve(solver=solver, **options)


# ------------------------------------------------------------------ hand-solved
def test_two_steps_optimum_at_a_kink():
    # Buying is free of impact up to 3 kW, then the price rises 40 $/MWh per kW; selling moves nothing.
    # Profit 90 x - x s(x): its slope is 90 > 0 below the kink and 90 - 40000 (2x - 0.003) = -30 < 0 just
    # above it, so the optimum is the kink, x = 3 kW: 0.27 $.  A price taker buys the full 10 kW (0.9 $).
    curve = curve_from_points([[-0.003, 0.0], [0.0, 0.0], [0.003, 0.0], [0.004, 40.0]], 2)
    for solver in ("dp", "highs"):
        r = solve(2, [10.0, 100.0], curve, solver)
        assert r.objective == pytest.approx(0.27, abs=1e-9), solver
        assert r.dataset["charge"].values.ravel() == pytest.approx([3.0, 0.0], abs=1e-7)
        assert r.dataset["price_faced"].values == pytest.approx([10.0, 100.0], abs=1e-6)
        assert r.bound >= 0.27 - 1e-9
    r = solve(2, [10.0, 100.0], curve)
    assert r.status == "optimal" and r.profit == pytest.approx(0.27) and r.market_impact == pytest.approx(0.0, abs=1e-12)
    taker = Aggregator([lossless(2)], PriceSignal([10.0, 100.0])).solve(solver="dp")
    assert taker.objective == pytest.approx(0.9)


def test_three_steps_optimum_inside_a_segment():
    # Buying: slope 9000 $/MWh per MW up to 8 kW (then steeper); selling: no impact up to 3 kW a step, then
    # the price falls 10 $/MWh per kW.  Buy x, sell it in two steps of at most 3 kW: 90 x - 9000 x^2,
    # largest at x = 5 kW inside the first buying segment: 0.225 $, the price paid 10 + 45 = 55 $/MWh.
    curve = curve_from_points([[-0.01, -70.0], [-0.003, 0.0], [0.0, 0.0], [0.008, 72.0], [0.02, 300.0]], 3)
    r = solve(3, [10.0, 100.0, 100.0], curve, mip_gap=1e-7)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(0.225, abs=1e-7) and r.bound >= 0.225 - 1e-12
    assert r.dataset["charge"].values[0, 0] == pytest.approx(5.0, abs=1e-2)
    assert np.all(r.dataset["discharge"].values[1:, 0] <= 3.0 + 1e-2)
    assert r.dataset["price_faced"].values[0] == pytest.approx(55.0, abs=0.1)
    summary = r.summary()
    assert summary["price_maker_profit"] == pytest.approx(0.225, abs=1e-7)
    assert summary["profit"] == pytest.approx(summary["price_maker_profit"] + summary["market_impact"])
    h = solve(3, [10.0, 100.0, 100.0], curve, "highs")
    assert h.objective == pytest.approx(0.225, abs=1e-4) and h.objective <= r.bound + 1e-9


def test_an_optimum_in_the_second_mode_of_a_non_concave_revenue():
    # Buying: 20000 $/MWh per MW up to 2 kW (40 $/MWh), then only 5400 beyond: the revenue is not concave at
    # 2 kW (q_k (b+ - b-) < 0).  On the first piece 90 x - 20000 x^2 is largest at its end (0.1 $); on the
    # second 60.8 x - 5400 x^2 (from 90 x - x (29.2 + 5400 x)) at x = 60.8 / 10800 MW: 60.8^2 / 21600 $.
    curve = curve_from_points([[-0.01, 0.0], [0.0, 0.0], [0.002, 40.0], [0.01, 83.2]], 2)
    modes = curve_modes(curve.quantity[0], curve.shift[0], -0.01, 0.01)
    assert [list(b) for b, _ in modes] == [[-0.01, 0.0, 0.002], [0.002, 0.01]]
    best = 60.8**2 / 21600
    r = solve(2, [10.0, 100.0], curve, mip_gap=1e-7)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(best, abs=1e-7) and best - 1e-12 <= r.bound <= best * (1 + 1e-6)
    assert r.dataset["charge"].values[0, 0] == pytest.approx(1e3 * 60.8 / 10800, abs=1e-2)
    h = solve(2, [10.0, 100.0], curve, "highs")  # the disjunctive form, one binary per mode
    assert abs(h.objective - best) <= 1e-3 * best and h.bound >= best - 1e-9


def test_a_linear_curve_is_the_beta_model():
    rng = np.random.default_rng(7)
    steps = 24
    prices = list(rng.uniform(-20, 150, steps))
    fleet = Fleet("f", vehicles=3, battery_kwh=40, charger_kw=7, charge_efficiency=0.92, discharge_efficiency=0.9,
                  contract_limit=0.8, initial_soc=0.3, availability=list(rng.uniform(0.6, 1.0, steps)))
    beta = 900.0
    curve = curve_from_points([[-1.0, -beta], [0.0, 0.0], [1.0, beta]], steps)
    from aggregator.price_impact import linearisation_allowance

    for solver in ("dp", "highs"):
        with_beta = Aggregator([fleet], PriceSignal(prices), price_impact=beta)
        with_curve = Aggregator([fleet], PriceSignal(prices), price_impact=curve)
        a, b = with_beta.solve(solver=solver, mip_gap=1e-8), with_curve.solve(solver=solver, mip_gap=1e-8)
        # dp: both exact to the gap; HiGHS: two tangent sets, each within its linearisation allowance
        tol = 2e-8 * abs(a.objective) if solver == "dp" else (
            linearisation_allowance(with_beta.inputs) + linearisation_allowance(with_curve.inputs))
        assert a.objective > 1.0 and b.objective == pytest.approx(a.objective, abs=tol + 1e-9), solver
        if solver == "dp":
            assert b.market_impact == pytest.approx(a.market_impact, rel=1e-3)
            assert b.dataset["price_faced"].values == pytest.approx(a.dataset["price_faced"].values, abs=0.05)


def test_a_flat_curve_is_exactly_the_price_taker():
    rng = np.random.default_rng(3)
    steps = 48
    prices = list(rng.uniform(-30, 120, steps))
    fleet = Fleet("f", vehicles=2, battery_kwh=30, charger_kw=6, charge_efficiency=0.9, discharge_efficiency=0.9,
                  initial_soc=0.3, availability=[1.0] * steps)
    taker = Aggregator([fleet], PriceSignal(prices)).solve(solver="dp")
    flat = Aggregator([fleet], PriceSignal(prices), price_impact=curve_from_points([[-5, 0], [5, 0]], steps))
    r = flat.solve(solver="dp")
    for name in ("charge", "discharge", "soc", "slack_up", "slack_down"):
        assert np.array_equal(taker.dataset[name].values, r.dataset[name].values), name
    assert r.objective == taker.objective and r.bound == taker.bound and r.market_impact == 0.0
    assert np.array_equal(r.dataset["price_faced"].values, r.dataset["price"].values)
    assert "market_impact" not in flat.build_model().variables


def test_vertices_bracket_the_revenue_and_modes_split_at_convex_corners():
    # a curve with a concave and a non-concave kink on each side; inner vertices on or below, outer above
    qk = np.array([-0.02, -0.006, 0.0, 0.003, 0.012])
    sk = np.array([-30.0, -18.0, 0.0, 30.0, 50.0])
    lam, pmax, dt, ei, eo, wear = 40.0, 15.0, 1.0, 0.9, 0.85, 0.01
    for outer in (False, True):
        modes, error, _ = curve_step_vertices(qk, sk, lam, pmax, dt, ei, eo, 1e-5, outer=outer, wear=wear)
        # selling: slopes 857 then 3000 toward 0 at -6 kW, q_k (b+ - b-) < 0: a cut; buying: 10000 then 2222
        # at 3 kW, also a cut; idle is concave (lam > 0): three modes
        assert len(modes) == 3
        for vy, vr, vin, vout in modes:
            assert np.all(np.diff(vy) > 0)
            slopes = np.diff(vr) / np.diff(vy)
            assert np.all(np.diff(slopes) <= 1e-9 * max(1.0, np.abs(slopes).max()))  # concave within a mode
            ys = np.linspace(vy[0], vy[-1], 401)
            pwl = np.interp(ys, vy, vr)
            p_in = np.where(ys > 0, ys / (ei * dt), 0.0)
            p_out = np.where(ys < 0, -ys * eo / dt, 0.0)
            q = (p_in - p_out) / 1000.0
            per_point = SupplyCurve(np.tile(qk, (q.size, 1)), np.tile(sk, (q.size, 1)))
            true = -(lam + per_point.shift_at(q)) * q * dt - wear * p_out * dt / eo
            if outer:
                assert np.all(pwl >= true - 1e-12)
            else:
                assert np.all(pwl <= true + 1e-12) and np.max(true - pwl) <= error + 1e-12


# ------------------------------------------------------------------ exact optimum by enumeration of pieces
def _pieces(qk, sk, pmax):
    """Per side (+1 charge, -1 discharge) the power ranges (kW) with a linear shift a + b q on them."""
    out = []
    for sign in (1.0, -1.0):
        cuts = sorted({0.0, pmax} | {sign * 1000.0 * q for q in qk if 0.0 < sign * 1000.0 * q < pmax})
        for pa, pb in zip(cuts[:-1], cuts[1:]):
            qm = sign * (pa + pb) / 2000.0
            k = min(max(int(np.searchsorted(qk, qm)), 1), len(qk) - 1)
            b = (sk[k] - sk[k - 1]) / (qk[k] - qk[k - 1])
            a = sk[k - 1] - b * qk[k - 1]
            out.append((sign, pa, pb, a, b))
        if pmax == 0.0:
            out.append((sign, 0.0, 0.0, 0.0, 0.0))
    return out


def _curve_optimum(price, qk, sk, pmax, smin, smax, s0, eta_in, eta_out, penalty, dt=1.0) -> float:
    """Best objective over every choice of a side and a curve piece per step, each a convex QP (HiGHS)."""
    best = -math.inf
    for choice in itertools.product(*[_pieces(qk[t], sk[t], pmax[t]) for t in range(len(price))]):
        best = max(best, storage_qp_optimum(price, choice, smin, smax, s0, eta_in, eta_out, penalty, dt))
    return best


def _random_curve(data, steps: int) -> SupplyCurve:
    """Two to four points a step around 0 (shift 0 there), random slopes: kinks of both kinds."""
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    rows_q, rows_s = [], []
    for _ in range(steps):
        left = data.draw(st.lists(floats(0.0005, 0.012), min_size=0, max_size=2, unique=True))
        right = data.draw(st.lists(floats(0.0005, 0.012), min_size=1, max_size=2, unique=True))
        q = sorted([-v for v in left] + [0.0] + right)
        slopes = data.draw(st.lists(st.one_of(st.just(0.0), floats(0, 20000)), min_size=len(q) - 1,
                                    max_size=len(q) - 1))
        s = [0.0]
        for k in range(1, len(q)):
            s.append(s[-1] + slopes[k - 1] * (q[k] - q[k - 1]))
        zero = q.index(0.0)
        s = [v - s[zero] for v in s]
        while len(q) < 5:  # pad on the last segment
            slope = (s[-1] - s[-2]) / (q[-1] - q[-2])
            q.append(q[-1] + 1.0)
            s.append(s[-1] + slope)
        rows_q.append(q)
        rows_s.append(s)
    return SupplyCurve(np.array(rows_q), np.array(rows_s))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 3), data=st.data())
def test_dp_equals_the_exact_optimum_and_bounds_it(n, data):
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    price = data.draw(st.lists(floats(-60, 200), min_size=n, max_size=n))
    curve = _random_curve(data, n)
    # no power of a micro-kW: HiGHS's QP solver reports a solve error on such near-fixed columns
    problem = draw_storage(data, n, st.one_of(st.just(0.0), floats(0.5, 10)))
    sol = solve_fleet_with_impact(impact=curve, gap=1e-7, price=price, **problem)
    best = _curve_optimum(price, curve.quantity, curve.shift, problem["pmax"], problem["smin"], problem["smax"],
                          problem["s_init"], problem["eta_in"], problem["eta_out"], problem["penalty"])
    tol = assert_exact_and_bounded(sol, best, price, curve, problem)
    # exact: the certified bound closes on the optimum (no concave envelope over a non-concave kink)
    assert sol.bound <= best + tol + 2e-7 * max(1.0, abs(best))


@settings(max_examples=max(5, EXAMPLES // 3), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dp_against_highs_on_the_same_model(data):
    n = 3
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    prices = data.draw(st.lists(floats(-40, 200), min_size=n, max_size=n))
    curve = _random_curve(data, n)
    fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10, charge_efficiency=data.draw(floats(0.8, 1.0)),
                  discharge_efficiency=data.draw(floats(0.8, 1.0)), contract_limit=1.0,
                  initial_soc=data.draw(floats(0, 1)), availability=[1.0] * n)
    agg = Aggregator([fleet], PriceSignal(prices), price_impact=curve)
    d = agg.solve(solver="dp", mip_gap=1e-7)
    h = agg.solve(solver="highs", mip_gap=1e-9)
    from aggregator.price_impact import linearisation_allowance

    slack = linearisation_allowance(agg.inputs) + 1e-7 * max(1.0, abs(d.objective)) + 1e-9
    # HiGHS's dispatch, valued exactly, is never better than dp's optimum; dp's bound covers it
    assert h.objective <= d.objective + slack
    assert d.bound >= h.objective - 1e-9
    # the tangent form is a relaxation: its claimed optimum is at least the exact one (dp's), within the allowance
    claimed = float(h.dataset.attrs["solver_objective"])
    assert claimed >= d.objective - 1e-7 * max(1.0, abs(d.objective)) - 1e-9
    assert claimed <= d.bound + slack


# ------------------------------------------------------------------ several fleets
def test_several_fleets_with_a_curve_fall_back_to_the_milp():
    # two fleets of 5 kW share the kinked curve of the first test: together they buy 3 kW at 10 (0.27 $)
    curve = curve_from_points([[-0.003, 0.0], [0.0, 0.0], [0.003, 0.0], [0.004, 40.0]], 2)
    fleets = [Fleet(n, vehicles=1, battery_kwh=10, charger_kw=5, charge_efficiency=1.0, discharge_efficiency=1.0,
                    contract_limit=1.0, initial_soc=0.0, availability=[1.0, 1.0]) for n in ("a", "b")]
    agg = Aggregator(fleets, PriceSignal([10.0, 100.0]), price_impact=curve)
    r = agg.solve()
    assert "dp skipped" in r.dataset.attrs["solver_choice"] and "supply curve" in r.dataset.attrs["solver_choice"]
    assert r.dataset.attrs["solver"] != "dp"
    assert r.objective == pytest.approx(0.27, abs=1e-7)
    assert r.fleet_objective.sum() == pytest.approx(r.objective, abs=1e-9)
    with pytest.raises(InputError, match="supply curve"):
        agg.solve(solver="dp")


def test_both_impact_models_implement_one_interface():
    from aggregator.price_impact import ImpactCost, LinearImpact

    beta = np.array([4500.0, 3000.0])
    linear = LinearImpact(beta)
    curve = SupplyCurve(np.array([[-1.0, 0.0, 1.0]] * 2), np.array([[-4500.0, 0.0, 4500.0], [-3000.0, 0.0, 3000.0]]))
    assert isinstance(linear, ImpactCost) and isinstance(curve, ImpactCost)
    q = np.array([0.004, -0.002])  # MW
    assert curve.shift_at(q) == pytest.approx(linear.shift_at(q), rel=1e-12)
    assert curve.cost(q, 1.0) == pytest.approx(4500.0 * 0.004**2 + 3000.0 * 0.002**2, rel=1e-12) == linear.cost(q, 1.0)
    assert np.array_equal(curve.slope_range()[0], beta) and np.array_equal(curve.slope_range()[1], beta)
    assert curve.full_power_impact([4.0, 2.0], 1.0) == pytest.approx(linear.full_power_impact([4.0, 2.0], 1.0))
    qmax = np.array([0.01, 0.0])  # MW: the second step cannot trade
    a, b = linear.tangent_lines(qmax, 5, 1.0), curve.tangent_lines(qmax, 5, 1.0)
    assert a.slope[0, 0].tolist() == pytest.approx([-90.0, -45.0, 0.0, 45.0, 90.0])  # 2 beta q_k, q_k = -10 .. 10 kW
    assert a.error == pytest.approx(4500.0 * 0.005**2 / 4)  # beta h^2 / 4, h = 5 kW
    for table in (a, b):
        assert not table.mode_mask[1].any() and table.mode_mask[0].sum() == 1  # one convex mode
        lines = table.tangent_mask[0, 0]
        for x in np.linspace(-0.01, 0.01, 41):
            top = np.max(table.slope[0, 0][lines] * x + table.intercept[0, 0][lines])
            assert 4500.0 * x * x - table.error - 1e-15 <= top <= 4500.0 * x * x + 1e-15


def test_the_shared_price_takes_one_slope_per_step_only():
    from aggregator.dp_backend import fleet_problems
    from aggregator.shared_impact import solve_shared_impact

    # two lossless 10 kW fleets move one price (test_two_fleets_share_the_price_hand_solved): 0.225 $
    inputs = Aggregator([lossless(2), lossless(2, "g")], PriceSignal([10.0, 100.0]), price_impact=4500.0).inputs
    problems = [{k: v for k, v in p.items() if k not in ("impact", "gap")} for p in fleet_problems(inputs)]
    linear = curve_from_points([[-1.0, -4500.0], [0.0, 0.0], [1.0, 4500.0]], 2)
    by_curve = solve_shared_impact(problems, linear, gap=1e-6)
    assert by_curve.objective == pytest.approx(0.225, abs=1e-6) and by_curve.bound >= 0.225 - 1e-9
    kinked = curve_from_points([[0.0, 0.0], [0.003, 0.0], [0.004, 40.0]], 2)
    with pytest.raises(ValueError, match=r"one slope per step.*step 0 has slopes 0 to 40000"):
        solve_shared_impact(problems, kinked)


# ------------------------------------------------------------------ input through the CLI
def _scenario(tmp_path, impact: str, curve: str | None = None) -> str:
    return impact_scenario(tmp_path, impact, files={"supply.csv": curve})


GOOD = "step,net_purchase_mw,price_shift\n0,-0.003,0\n0,0,0\n0,0.003,0\n0,0.004,40\n1,0,0\n1,-0.01,0\n"


def test_curve_file_through_the_cli(tmp_path, capsys):
    import json

    import xarray as xr

    path = _scenario(tmp_path, "{ curve = 'supply.csv' }", GOOD)
    code = main(["run", path, "--out", str(tmp_path / "r.nc"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads(out.out)
    assert summary["price_maker_profit"] == pytest.approx(0.27, abs=1e-9)
    with xr.open_dataset(tmp_path / "r.nc") as ds:
        assert ds["price_faced"].values == pytest.approx([10.0, 100.0], abs=1e-6)
        assert ds["supply_shift"].dims == ("time", "supply_point")
    inline = _scenario(tmp_path, "{ points = [[-0.003, 0.0], [0, 0], [0.003, 0.0], [0.004, 40.0]] }")
    assert main(["run", inline, "--out", str(tmp_path / "r2.nc")]) == 0


@pytest.mark.parametrize(
    "impact, curve, words",
    [
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,0\n0,1,5\n1,0,0\n1,1,4\n1,2,3\n",
         "row 6"),  # the shift falls at step 1, row 6
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,0\n0,1,5\n", "step 1 is missing"),
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,0\n0,1,5\n1,0,0\n1,1,5\n2,0,0\n2,1,1\n",
         "row 6 step = 2"),
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,0\n0,1,five\n1,0,0\n1,1,5\n",
         "row 3 column price_shift"),
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,0\n0,1,5\n1,0,0\n", "at least 2 points"),
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,0\n0,1,5\n1,0,0\n1,1,5\n1,1,6\n",
         "given twice"),
        ("{ curve = 'supply.csv' }", "step,net_purchase_mw,price_shift\n0,0,1\n0,1,5\n1,0,0\n1,1,5\n",
         "zero net purchase"),
        ("{ curve = 'supply.csv' }", "step,mw,price_shift\n0,0,0\n", "no column net_purchase_mw"),
        ("{ curve = 'absent.csv' }", None, "cannot read"),
        ("{ points = [[0, 0], [1, 5], [2, 4]] }", None, "falls"),
        ("{ points = [[0, 0]] }", None, "at least 2 points"),
        ("{ points = [[0, 0], [0, 1]] }", None, "given twice"),
        ("{ points = [[0, 0], ['a', 1]] }", None, "two finite numbers"),
        ("{ points = [[0, 0], [1, 1]], curve = 'supply.csv' }", None, "alone"),
    ],
)
def test_bad_curve_exits_2_naming_the_key(tmp_path, capsys, impact, curve, words):
    code = main(["run", _scenario(tmp_path, impact, curve), "--out", str(tmp_path / "r.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "[prices] impact" in err and words in err and "Traceback" not in err, err
    if "curve" in impact and curve is not None:
        assert "supply.csv" in err
    assert not (tmp_path / "r.nc").exists()


def test_a_curve_with_a_rolling_horizon_is_rejected():
    with pytest.raises(InputError, match="rolling"):
        Aggregator([lossless(4)], PriceSignal([10.0, 100.0, 10.0, 100.0]),
                   price_impact=curve_from_points([[0, 0], [1, 1]], 4),
                   rolling={"window_hours": 2, "commit_hours": 1})


def test_linopy_tangents_lie_below_the_impact_within_the_allowance():
    from aggregator.supply_curve import curve_tangents

    rng = np.random.default_rng(11)
    for _ in range(200):
        k = int(rng.integers(2, 6))
        q = np.sort(rng.uniform(-0.02, 0.02, k))
        s = np.cumsum(np.concatenate([[0.0], rng.uniform(0, 20000, k - 1) * np.diff(q)]))
        s = s - SupplyCurve(q[None], s[None]).shift_at(np.zeros(1))[0]
        qmax = float(rng.uniform(0.001, 0.03))
        modes, error = curve_tangents(q, s, qmax, 17, 1.0)
        assert error == pytest.approx(SupplyCurve(q[None], s[None]).tangent_error([qmax], 17, 1.0), rel=1e-12, abs=0)
        for lo, hi, slope, icpt in modes:
            x = np.linspace(lo, hi, 301)
            g = x * SupplyCurve(np.tile(q, (x.size, 1)), np.tile(s, (x.size, 1))).shift_at(x)
            lines = np.max(slope[None, :] * x[:, None] + icpt[None, :], axis=1)
            assert np.all(lines <= g + 1e-12) and np.max(g - lines) <= error + 1e-12
