"""Tests of the exact piecewise-linear DP for one fleet (aggregator.exact_dp)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.exact_dp import FleetSolution, solve_fleet

SEED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "seed"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def assert_feasible(
    sol: FleetSolution,
    price, dt, pmax, smin, smax, s_init, eta_in, eta_out, penalty, exclusive,
    check_gap: bool = True,
) -> None:
    """Every MILP constraint holds for the returned trajectory."""
    pmax = np.broadcast_to(np.asarray(pmax, float), sol.soc.shape)
    smin = np.broadcast_to(np.asarray(smin, float), sol.soc.shape)
    smax = np.broadcast_to(np.asarray(smax, float), sol.soc.shape)
    scale = 1.0 + max(np.abs(smax).max(), np.abs(smin).max(), abs(s_init), pmax.max() * dt / eta_out)
    tol = 1e-9 * scale
    for arr in (sol.charge, sol.discharge, sol.slack_up, sol.slack_down):
        assert np.all(arr >= 0.0)
    assert np.all(sol.charge <= pmax * (1 + 1e-12))
    assert np.all(sol.discharge <= pmax * (1 + 1e-12))
    if exclusive:
        assert not np.any((sol.charge > 0) & (sol.discharge > 0)), "simultaneous charge/discharge"
    else:
        assert np.all(sol.charge + sol.discharge <= pmax * (1 + 1e-12) + 1e-12)
    # bounds hold (no tolerance: violations must be turned into slack)
    assert np.all(sol.soc >= smin) and np.all(sol.soc <= smax)
    prev = np.concatenate([[s_init], sol.soc[:-1]])
    balance = (
        sol.soc - prev - (eta_in * sol.charge - sol.discharge / eta_out) * dt
        - sol.slack_up + sol.slack_down
    )
    assert np.abs(balance).max() <= tol
    # reported objective is the objective of the trajectory
    price = np.asarray(price, float)
    profit = float(np.sum(price / 1000.0 * (sol.discharge - sol.charge) * dt))
    pen = penalty * float(np.sum(sol.slack_up + sol.slack_down))
    assert sol.profit == pytest.approx(profit, rel=1e-12, abs=1e-9)
    assert sol.penalty == pytest.approx(pen, rel=1e-12, abs=1e-9)
    assert sol.objective == pytest.approx(profit - pen, rel=1e-12, abs=1e-9)
    # certificate
    assert sol.bound >= sol.objective
    if check_gap:
        assert sol.bound - sol.objective <= 1e-8 * max(1.0, abs(sol.bound))


def solve_milp(price, dt, pmax, smin, smax, s_init, eta_in, eta_out, penalty, exclusive):
    """The per-fleet MILP, solved to optimality by HiGHS (reference)."""
    highspy = pytest.importorskip("highspy")
    T = len(price)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("mip_feasibility_tolerance", 1e-9)
    inf = highspy.kHighsInf
    nv = 6 * T  # per step: P_in, P_out, S, slack+, slack-, u
    lb = np.zeros(nv)
    ub = np.full(nv, inf)
    cost = np.zeros(nv)
    for t in range(T):
        b = 6 * t
        ub[b] = ub[b + 1] = pmax[t]
        lb[b + 2], ub[b + 2] = smin[t], smax[t]
        ub[b + 5] = 1.0
        cost[b] = -price[t] / 1000.0 * dt
        cost[b + 1] = price[t] / 1000.0 * dt
        cost[b + 3] = cost[b + 4] = -penalty
    h.addVars(nv, lb, ub)
    h.changeColsCost(nv, np.arange(nv, dtype=np.int32), cost)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    if exclusive:
        idx = np.arange(5, nv, 6, dtype=np.int32)
        h.changeColsIntegrality(
            len(idx), idx, np.array([highspy.HighsVarType.kInteger] * len(idx))
        )
    rlb, rub, starts, index, vals = [], [], [], [], []

    def row(lo, hi, ind, val):
        starts.append(len(index))
        rlb.append(lo)
        rub.append(hi)
        index.extend(ind)
        vals.extend(val)

    for t in range(T):
        b = 6 * t
        row(-inf, 0.0, [b, b + 5], [1.0, -pmax[t]])  # P_in <= pmax u
        row(-inf, pmax[t], [b + 1, b + 5], [1.0, pmax[t]])  # P_out <= pmax (1-u)
        ind = [b + 2, b, b + 1, b + 3, b + 4]
        val = [1.0, -eta_in * dt, dt / eta_out, -1.0, 1.0]
        if t == 0:
            row(s_init, s_init, ind, val)
        else:
            row(0.0, 0.0, ind + [b - 4], val + [-1.0])
    h.addRows(
        len(rlb), np.array(rlb), np.array(rub), len(index),
        np.array(starts, dtype=np.int32), np.array(index, dtype=np.int32), np.array(vals),
    )
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


# --------------------------------------------------------------------------
# hand-derived cases
# --------------------------------------------------------------------------
def test_arbitrage_cheap_to_dear_hour():
    # Empty storage (S0 = 0 = smin), pmax 10 kW, eta_in 0.9, eta_out 0.8.
    # Hour 1 (10 $/MWh): charge 10 kW -> stores 9 kWh, costs 10*10/1000 = 0.10 $.
    # Hour 2 (100 $/MWh): the 9 kWh allow P_out = 9*0.8 = 7.2 kW (< 10 kW),
    # earning 100*7.2/1000 = 0.72 $.  Each kWh bought at 0.01 $ returns
    # 0.72 kWh sold at 0.1 $ = 0.072 $, so full arbitrage is optimal: 0.62 $.
    args = ([10.0, 100.0], 1.0, [10.0, 10.0], [0.0, 0.0], [100.0, 100.0], 0.0, 0.9, 0.8, 1000.0)
    sol = solve_fleet(*args, exclusive=True)
    assert sol.objective == pytest.approx(0.62, abs=1e-12)
    np.testing.assert_allclose(sol.charge, [10.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(sol.discharge, [0.0, 7.2], atol=1e-12)
    np.testing.assert_allclose(sol.soc, [9.0, 0.0], atol=1e-12)
    assert_feasible(sol, *args, exclusive=True)


def test_efficiency_loss_makes_arbitrage_unprofitable():
    # Prices 10 then 12 $/MWh, round-trip efficiency 0.9*0.8 = 0.72:
    # 1 kWh bought for 0.010 $ returns 0.72 kWh worth 0.00864 $ -> never charge.
    # The initial 5 kWh are best sold in the dearer hour 2:
    # P_out = 5*0.8 = 4 kW (< pmax), revenue 12*4/1000 = 0.048 $.
    args = ([10.0, 12.0], 1.0, [10.0, 10.0], [0.0, 0.0], [100.0, 100.0], 5.0, 0.9, 0.8, 1000.0)
    sol = solve_fleet(*args)
    assert sol.objective == pytest.approx(0.048, abs=1e-12)
    assert np.all(sol.charge == 0.0)
    np.testing.assert_allclose(sol.discharge, [0.0, 4.0], atol=1e-12)
    assert_feasible(sol, *args, exclusive=True)


def test_negative_price_exclusivity_matters():
    # One hour at -100 $/MWh, SoC pinned at 5 kWh (smin = smax = S0 = 5).
    # exclusive=True: neither charging nor discharging alone keeps S = 5,
    #   and slack costs 1000 $/kWh -> idle, objective 0.
    # exclusive=False: "burn" energy: eta_in P_in = P_out / eta_out, i.e.
    #   P_out = 0.72 P_in, with P_in + P_out = 10 -> P_in = 10/1.72.
    #   Revenue = -0.1 (P_out - P_in) = 0.1 * 0.28 * P_in = 0.28/1.72 $.
    args = ([-100.0], 1.0, [10.0], [5.0], [5.0], 5.0, 0.9, 0.8, 1000.0)
    sol_x = solve_fleet(*args, exclusive=True)
    sol_n = solve_fleet(*args, exclusive=False)
    assert sol_x.objective == pytest.approx(0.0, abs=1e-12)
    assert sol_n.objective == pytest.approx(0.28 / 1.72, rel=1e-12)
    assert sol_n.charge[0] == pytest.approx(10 / 1.72, rel=1e-12)
    assert sol_n.discharge[0] == pytest.approx(7.2 / 1.72, rel=1e-12)
    assert_feasible(sol_x, *args, exclusive=True)
    assert_feasible(sol_n, *args, exclusive=False)


def test_negative_price_exclusive_two_steps():
    # Hour 1 at -100 $/MWh, hour 2 at 0; S0 = 5, smax = 5 in hour 1, 15 in hour 2.
    # Exclusive: in hour 1 the storage is full, so no charging; discharging
    # costs money; the best is idle (0), then hour 2 has price 0 -> total 0.
    # Non-exclusive: burning in hour 1 earns 0.28/1.72 $ as above.
    args = ([-100.0, 0.0], 1.0, [10.0, 10.0], [0.0, 0.0], [5.0, 15.0], 5.0, 0.9, 0.8, 1000.0)
    assert solve_fleet(*args, exclusive=True).objective == pytest.approx(0.0, abs=1e-12)
    assert solve_fleet(*args, exclusive=False).objective == pytest.approx(0.28 / 1.72, rel=1e-12)
    # Swap: hour 1 at 0 $/MWh, hour 2 at -100: exclusive can now discharge
    # (for free) in hour 1 and get paid to charge in hour 2:
    # discharge 5 kWh at price 0, then charge 10 kW in hour 2 (stores 9 kWh
    # <= 15) earning 100*10/1000 = 1.0 $.
    args2 = ([0.0, -100.0], 1.0, [10.0, 10.0], [0.0, 0.0], [5.0, 15.0], 5.0, 0.9, 0.8, 1000.0)
    sol = solve_fleet(*args2, exclusive=True)
    assert sol.objective == pytest.approx(1.0, rel=1e-12)
    assert_feasible(sol, *args2, exclusive=True)


def test_slack_forced_by_availability_drop():
    # S0 = 100 kWh, smax drops to 20 kWh in hour 2.  pmax 10 kW with
    # eta_out 0.8 removes at most 12.5 kWh per hour, so both hours discharge
    # fully (revenue 2 * 50 * 10 / 1000 = 1.0 $) and 100 - 25 - 20 = 55 kWh
    # must go to slack at M = 2 $/kWh: objective 1.0 - 110 = -109 $.
    args = ([50.0, 50.0], 1.0, [10.0, 10.0], [0.0, 0.0], [100.0, 20.0], 100.0, 0.9, 0.8, 2.0)
    sol = solve_fleet(*args)
    assert sol.objective == pytest.approx(-109.0, rel=1e-12)
    assert float(np.sum(sol.slack_down)) == pytest.approx(55.0, rel=1e-12)
    assert float(np.sum(sol.slack_up)) == 0.0
    np.testing.assert_allclose(sol.discharge, [10.0, 10.0], rtol=1e-12)
    assert sol.soc[-1] == pytest.approx(20.0, rel=1e-12)
    assert_feasible(sol, *args, exclusive=True)


def test_slack_cheaper_than_power():
    # Pathological small penalty M = 1 $/kWh at 2000 $/MWh: discharging
    # 10 kW earns 20 $ and needs 12.5 kWh, which the empty storage obtains
    # from slack for 12.5 $: objective 7.5 $.
    args = ([2000.0], 1.0, [10.0], [0.0], [10.0], 0.0, 0.9, 0.8, 1.0)
    sol = solve_fleet(*args)
    assert sol.objective == pytest.approx(7.5, rel=1e-12)
    assert sol.discharge[0] == pytest.approx(10.0, rel=1e-12)
    assert sol.slack_up[0] == pytest.approx(12.5, rel=1e-12)
    assert_feasible(sol, *args, exclusive=True)


def test_initial_state_is_not_bounded():
    # S0 = 50 is outside [0, 10]; with pmax 0 the whole 40 kWh excess goes to
    # slack in hour 1 at M = 1000 $/kWh.
    sol = solve_fleet([30.0], 1.0, [0.0], [0.0], [10.0], 50.0, 0.9, 0.8, 1000.0)
    assert sol.objective == pytest.approx(-40_000.0, rel=1e-12)
    assert sol.soc[0] == pytest.approx(10.0)


def test_scalar_broadcast_and_validation():
    sol = solve_fleet([10.0, 20.0, 30.0], 1.0, 5.0, 0.0, 20.0, 10.0, 0.9, 0.9, 1000.0)
    assert sol.soc.shape == (3,)
    with pytest.raises(ValueError):
        solve_fleet([1.0, 2.0], 1.0, [1.0], 0.0, 1.0, 0.0, 0.9, 0.9, 1.0)
    with pytest.raises(ValueError):
        solve_fleet([1.0], 1.0, 1.0, 2.0, 1.0, 0.0, 0.9, 0.9, 1.0)
    with pytest.raises(ValueError):
        solve_fleet([1.0], 1.0, 1.0, 0.0, 1.0, 0.0, 1.1, 0.9, 1.0)
    with pytest.raises(ValueError):
        solve_fleet([1.0], 1.0, 1.0, 0.0, 1.0, 0.0, 0.9, 0.9, 0.0)
    with pytest.raises(ValueError):
        solve_fleet([np.nan], 1.0, 1.0, 0.0, 1.0, 0.0, 0.9, 0.9, 1.0)


# --------------------------------------------------------------------------
# against the MILP (HiGHS)
# --------------------------------------------------------------------------
@st.composite
def instances(draw):
    T = draw(st.integers(1, 24))
    fl = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731
    price = draw(st.lists(
        st.one_of(fl(-300, 300), fl(-300, 300), fl(-5000, 5000), st.just(0.0)),
        min_size=T, max_size=T,
    ))
    pmax = draw(st.lists(st.one_of(fl(0, 10), st.just(0.0)), min_size=T, max_size=T))
    smax = draw(st.lists(st.one_of(fl(0, 50), st.just(0.0), st.just(50.0)), min_size=T, max_size=T))
    frac = draw(st.lists(st.one_of(fl(0, 1), st.just(0.0), st.just(1.0)), min_size=T, max_size=T))
    smin = [f * s for f, s in zip(frac, smax)]
    s_init = draw(fl(0, 60))
    eta_in = draw(st.one_of(fl(0.5, 1.0), st.just(1.0)))
    eta_out = draw(st.one_of(fl(0.5, 1.0), st.just(1.0)))
    penalty = draw(st.sampled_from([1000.0, 3.0, 1.0, 0.2, 0.01]))
    dt = draw(st.sampled_from([1.0, 0.25, 2.0]))
    exclusive = draw(st.booleans())
    return (price, dt, pmax, smin, smax, s_init, eta_in, eta_out, penalty), exclusive


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(instances())
def test_matches_milp(inst):
    args, exclusive = inst
    ref = solve_milp(*args, exclusive)
    sol = solve_fleet(*args, exclusive=exclusive)
    scale = max(1.0, abs(ref))
    assert sol.objective == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert sol.bound >= ref - 1e-7 * scale
    assert sol.exact
    assert_feasible(sol, *args, exclusive)


def test_concave_relaxation_fallback_is_flagged():
    # With max_components=1 every non-convex step is relaxed: the result is
    # still feasible with a valid (weaker) bound, flagged and warned about.
    rng = np.random.default_rng(3)
    T = 48
    price = rng.uniform(-200, 150, T)
    k = np.where(rng.random(T) < 0.3, rng.uniform(0.2, 1, T), 1.0)
    args = (price, 1.0, 10 * k, 8 * k, 40 * k, 30.0, 0.85, 0.78, 1000.0)
    ref = solve_milp(*args, True)
    with pytest.warns(RuntimeWarning, match="max_components"):
        sol = solve_fleet(*args, exclusive=True, max_components=1)
    assert not sol.exact
    assert sol.bound >= ref - 1e-9 * abs(ref)
    assert sol.objective <= ref + 1e-9 * abs(ref)
    assert_feasible(sol, *args, True, check_gap=False)
    assert sol.bound - sol.objective > 1e-3  # relaxation visibly weaker here
    exact = solve_fleet(*args, exclusive=True)
    assert exact.exact and exact.objective == pytest.approx(ref, rel=1e-9)


def test_strong_pruning_is_exact():
    from aggregator import exact_dp as ed

    rng = np.random.default_rng(0)
    for it in range(40):
        comps = []
        for _k in range(rng.integers(2, 12) if it < 30 else rng.integers(30, 60)):
            n = int(rng.integers(1, 6))
            inner = np.sort(rng.uniform(0, 10, n - 1))
            xs = [0.0, *inner.tolist(), 10.0]
            ss = np.sort(rng.normal(0, 2, n))[::-1].tolist()
            vs = [float(rng.normal(0, 3))]
            for i, s in enumerate(ss):
                vs.append(vs[-1] + s * (xs[i + 1] - xs[i]))
            comps.append((xs, vs, ss))
        kept, excess = ed._prune_strong(comps, 1e-9)
        grid = np.linspace(0, 10, 20001)
        full = np.max([np.interp(grid, c[0], c[1]) for c in comps], axis=0)
        part = np.max([np.interp(grid, c[0], c[1]) for c in kept], axis=0)
        assert np.max(full - part) <= excess + 1e-9
        # nothing redundant is kept twice: each kept one is needed somewhere
        if len(kept) > 1:
            for i in range(len(kept)):
                rest = [c for j, c in enumerate(kept) if j != i]
                others = np.max([np.interp(grid, c[0], c[1]) for c in rest], axis=0)
                vals = np.interp(grid, kept[i][0], kept[i][1])
                pts = sorted(set().union(*[c[0] for c in kept]))
                pvals = np.array(ed._eval_sorted(kept[i], pts))
                pother = np.max([ed._eval_sorted(c, pts) for c in rest], axis=0)
                assert max(np.max(vals - others), np.max(pvals - pother)) > -1e-9


# --------------------------------------------------------------------------
# real data (seed folder outside the repository)
# --------------------------------------------------------------------------
def _read_seed():
    pd = pytest.importorskip("pandas")
    if not SEED_DIR.is_dir():
        pytest.skip(f"seed data folder {SEED_DIR} not found (lives outside the repository)")
    price = pd.read_csv(SEED_DIR / "CA_Weighted_Price_Case0.csv", encoding="utf-8-sig")[
        "Weighted_Avg_Price"
    ].to_numpy(float)
    text = (SEED_DIR / "car_profile_multiple.csv").read_bytes().decode("utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = lines[0].split(",")
    avail = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
    return price, avail[:, header.index("car_aval1")]


@pytest.mark.parametrize("exclusive", [True, False])
def test_real_data_two_weeks_match_milp(exclusive):
    price, k = _read_seed()
    start, T = 14 * 168, 336  # two spring weeks with many negative prices
    sl = slice(start, start + T)
    n, c = 1000, 0.8
    k = k[sl]
    args = (price[sl], 1.0, n * 7.2 * k, (1 - c) * n * 30 * k, n * 30 * k, n * 30.0,
            0.85, 0.78, 1000.0)
    assert np.sum(price[sl] < 0) > 50
    ref = solve_milp(*args, exclusive)
    sol = solve_fleet(*args, exclusive=exclusive)
    assert sol.objective == pytest.approx(ref, rel=1e-8)
    assert sol.bound >= ref * (1 - 1e-9)
    assert sol.gap < 1e-8
    assert_feasible(sol, *args, exclusive)


def test_real_data_full_year_reference():
    # Original study (CPLEX, MIP gap 1e-4), Case0, c = 0.8, fleet car_aval1:
    # 1,256,464.24 $.  The exact optimum can only be at least as good.
    price, k = _read_seed()
    T, n, c = 8760, 1000, 0.8
    k = k[:T]
    sol = solve_fleet(price[:T], 1.0, n * 7.2 * k, (1 - c) * n * 30 * k, n * 30 * k,
                      n * 30.0, 0.85, 0.78, 1000.0)
    assert sol.exact
    assert sol.objective >= 1_256_464.24 - 0.005
    assert sol.gap < 1e-8
    assert math.isfinite(sol.bound)


def test_max_min_lines_against_enumeration():
    from aggregator import exact_dp as ed

    rng = np.random.default_rng(1)
    for K in (1, 2, 3, 7, 25):
        c = rng.normal(0, 1, (K, 200))
        d = rng.normal(0, 2, (K, 200))
        got = ed._max_min_lines(c, d)
        # brute force: the maximum is at 0, 1 or an intersection of two lines
        taus = [np.zeros(200), np.ones(200)]
        for j in range(K):
            for k in range(K):
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = (c[j] - c[k]) / (d[k] - d[j])
                taus.append(np.where(np.isfinite(t), np.clip(t, 0, 1), 0.0))
        want = np.max([np.min(c + d * t, axis=0) for t in taus], axis=0)
        assert np.all(got >= want - 1e-12)
        np.testing.assert_allclose(got, want, atol=1e-12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=60), st.booleans())
def test_exact_sum_is_math_fsum_to_the_bit(values, cancel):
    """The kernel's long-accumulator sum returns math.fsum's correctly rounded value (huge, subnormal, cancelling terms)."""
    from aggregator import exact_dp as ed

    if cancel:  # near-cancellation: the rounding of the tiny remainder decides
        near = [-v * (1 + 2.0**-52) for v in values]
        values = values + [v for v in near if math.isfinite(v)] + [2.0**-1074, 1e-300]
    try:
        want = math.fsum(values)
    except OverflowError:
        return
    if not math.isfinite(want) or abs(want) >= 2.0**1000:
        return  # math.fsum overflows there; the kernel's sums are far below
    assert ed._fsum(np.array(values, dtype=float)).hex() == want.hex()


def test_exact_sum_of_a_year_of_mixed_terms_is_math_fsum():
    from aggregator import exact_dp as ed

    rng = np.random.default_rng(5)
    for scale in (1.0, 1e6, 1e-9):
        terms = rng.normal(0, scale, 8760) * 10.0 ** rng.integers(-20, 20, 8760)
        terms[::7] *= -1e12
        assert ed._fsum(terms).hex() == math.fsum(terms.tolist()).hex()
        assert ed._fsum(terms[::3]).hex() == math.fsum(terms[::3].tolist()).hex()  # a strided view
    assert ed._fsum(np.zeros(0)) == 0.0
