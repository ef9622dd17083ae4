"""The window bound: coupling rows kept exact inside windows, against hand-solved fleets and the exact HiGHS MILP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.decomposition import CoupledProblem, dual_value
from aggregator.solvers import SolverOptions
from aggregator.window_bound import WindowMILP, bound_windows, partial_bound, segment_value, window_milp_repair
from test_decomposition import seed_window, shared, small_instances


def fleet_problem(price, s_init=10.0):
    """One fleet of 10 kW and 20 kWh, lossless, by hand."""
    steps = len(price)
    return dict(price=np.asarray(price, dtype=float), dt=1.0, pmax=np.full(steps, 10.0), smin=np.zeros(steps),
                smax=np.full(steps, 20.0), s_init=s_init, eta_in=1.0, eta_out=1.0, penalty=1000.0, exclusive=True)


@pytest.mark.parametrize(("pi", "value", "end"), [(0.05, 1.0, 20.0), (-0.05, 0.0, 0.0)])
def test_a_free_end_is_valued_at_its_price(pi, value, end):
    # Two steps at price 0 from 10 kWh: any end state in [0, 20] is worth 0, so the best is pi * y at an end:
    # 20 kWh at 0.05 $/kWh (1 $), or 0 kWh when the end state costs (pi < 0).
    q = fleet_problem([0.0, 0.0])
    bound, worth, start, finish = segment_value(q, q["price"], 0, 2, None, pi)
    assert bound == pytest.approx(value, abs=1e-9)
    assert worth == pytest.approx(value, abs=1e-9)
    assert (start, finish) == (10.0, pytest.approx(end, abs=1e-9))


def test_a_free_start_is_paid_at_its_price():
    # From any state in [0, 20] bought at 0.05 $/kWh, one step selling up to 10 kWh at 100 $/MWh:
    # max_x (-0.05 x + 0.1 min(x, 10)) = 0.5 $ at x = 10.
    q = fleet_problem([0.0, 100.0])
    bound, worth, start, finish = segment_value(q, q["price"], 1, 2, 0.05, None)
    assert bound == pytest.approx(0.5, abs=1e-9)
    assert start == pytest.approx(10.0, abs=1e-9) and finish == pytest.approx(0.0, abs=1e-9)


def test_a_cut_at_the_right_state_price_loses_nothing():
    # Two pieces of one fleet joined at step 1 (price 30 $/MWh): at pi = 0.03 $/kWh the pieces'
    # answers meet, and their sum is the whole horizon's optimum (buy 10 at 10, sell 20 at 50 = 0.9 $).
    q = fleet_problem([10.0, 30.0, 50.0, 50.0])
    left, _, _, y = segment_value(q, q["price"], 0, 2, None, 0.03)
    right, _, x, _ = segment_value(q, q["price"], 2, 4, 0.03, None)
    assert left + right == pytest.approx(0.9, abs=1e-9)


def test_the_whole_horizon_as_one_window_is_the_exact_milp(seed):
    agg = seed_window(seed, 2160, 24, 20000.0)
    exact = agg.solve("highs", mip_gap=0.0)
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    result = WindowMILP(problem, 0, 24, SolverOptions()).solve()
    assert result["bound"] == pytest.approx(exact.objective, rel=1e-6)
    assert result["objective"] == pytest.approx(exact.objective, rel=1e-6)


@pytest.mark.filterwarnings("ignore:fleet .* initial_soc")
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(), st.integers(0, 2**31 - 1))
def test_the_bound_is_valid_for_any_multipliers_and_state_prices(instance, seed_value):
    # U(nu, pi) >= the coupled optimum for *every* nu and pi: random ones, no optimisation.
    fleets, prices, site = instance
    agg = shared(fleets, prices, site, slack_penalty=100.0)
    exact = agg.solve("highs", mip_gap=0.0)
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    rng = np.random.default_rng(seed_value)
    steps = problem.steps
    nu = rng.normal(0.0, 50.0, size=problem.import_kw.shape)
    first = int(rng.integers(0, steps))
    last = int(rng.integers(first + 1, steps + 1))
    spans = [(first, last)]
    boundaries = sum(1 for e in (first - 1, last - 1) if 0 <= e < steps - 1)
    pi = rng.normal(0.0, 0.1, size=(len(fleets), boundaries))
    result = partial_bound(problem, nu, spans, SolverOptions(), pi=pi, iterations=1)
    scale = max(1.0, abs(exact.objective))
    assert result.bound >= exact.objective - 1e-7 * scale
    # Minimised over pi from the dual's best start, it stays valid.
    value = dual_value(problem, np.zeros_like(nu), SolverOptions())
    tightened = partial_bound(problem, np.zeros_like(nu), spans, SolverOptions(), iterations=4)
    assert tightened.bound >= exact.objective - 1e-7 * scale
    assert min(tightened.history) == tightened.bound
    assert value.bound >= exact.objective - 1e-7 * scale


def test_a_seed_day_the_dual_cannot_close_is_closed_by_the_windows(seed):
    # 24 h from hour 2160 at 20,000 kW: nine hours at -243 $/MWh with the limit binding.  The dual
    # function stays above the MILP optimum (the fleets' convex hulls); the windows keep it exact.
    agg = seed_window(seed, 2160, 24, 20000.0)
    exact = agg.solve("highs", mip_gap=0.0)
    dual_only = agg.solve("decomposition", mip_gap=1e-6, window_bound=False, max_iterations=30)
    result = agg.solve("decomposition", mip_gap=1e-6, max_iterations=30)
    scale = abs(exact.objective)
    assert dual_only.bound > exact.objective + 1e-4 * scale  # the duality gap (fails without the windows below)
    assert exact.objective - 1e-7 * scale <= result.bound <= exact.objective + 1e-6 * scale
    assert result.objective == pytest.approx(exact.objective, rel=1e-6)
    assert result.status == "optimal"
    assert result.violations()["exclusive"] == 0.0


def worth(problem, columns):
    """Profit minus slack penalty of a dispatch, from its columns."""
    q = problem.problems[0]
    revenue = (q["price"][None, :] / 1000.0 * (columns[1] - columns[0]) * q["dt"]).sum()
    return float(revenue - q["penalty"] * (columns[3] + columns[4]).sum())


def test_the_window_repair_never_loses_and_meets_the_limit(seed):
    agg = seed_window(seed, 2160, 48, 20000.0)
    reference = agg.solve("decomposition", mip_gap=1e-7, window_bound=False, max_iterations=2)
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    value = dual_value(problem, np.zeros(problem.import_kw.shape), SolverOptions())
    charge = np.array([s.charge for s in value.solutions])
    discharge = np.array([s.discharge for s in value.solutions])
    spans = bound_windows(problem, charge, discharge, 2)
    assert spans
    names = ("charge", "discharge", "soc", "slack_up", "slack_down")
    columns = [reference.dataset[name].to_numpy().T.copy() for name in names]
    repaired = window_milp_repair(problem, columns, spans, SolverOptions())
    fixed = columns if repaired is None else repaired["columns"]
    net = problem.net_import(fixed[0], fixed[1])
    assert net.max() <= 20000.0 + 1e-6 and -net.min() <= 20000.0 + 1e-6
    assert not ((fixed[0] > 1e-6) & (fixed[1] > 1e-6)).any()
    assert worth(problem, fixed) >= worth(problem, columns)
    outside = np.ones(problem.steps, dtype=bool)
    for a, b in spans:
        outside[a:b] = False
    for new, old in zip(fixed, columns):  # kept outside the windows
        np.testing.assert_array_equal(new[:, outside], old[:, outside])
    # The repaired dispatch is the documented model's: the core's check accepts it.
    exact = agg.solve("highs", mip_gap=0.0)
    assert worth(problem, fixed) <= exact.objective + 1e-6 * abs(exact.objective)
