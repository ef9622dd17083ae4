"""Instances of 1 to 4 steps whose optimum is derived on paper."""

from __future__ import annotations


import pytest

from conftest import make_fleet, solve

BACKENDS = ["highs", "dp"]


def assert_feasible(result, tol=1e-6):
    for name, value in result.violations().items():
        assert value <= tol, f"{name} violated by {value}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_arbitrage_cheap_then_dear_hour(backend):
    # Lossless 10 kWh / 10 kW, empty: buy 10 kWh at 10 $/MWh (0.10 $), sell at 100 $/MWh (1.00 $).
    r = solve([10.0, 100.0], [make_fleet(availability=[1, 1])], backend)
    assert r.status == "optimal"
    assert r.profit == pytest.approx(0.9, abs=1e-9)
    assert r.dataset["charge"].values[:, 0] == pytest.approx([10.0, 0.0], abs=1e-7)
    assert r.dataset["discharge"].values[:, 0] == pytest.approx([0.0, 10.0], abs=1e-7)
    assert r.bound >= r.objective - 1e-9
    assert_feasible(r)


@pytest.mark.parametrize("backend", BACKENDS)
def test_arbitrage_with_losses(backend):
    # eta_in 0.9: 10 kW for 1 h stores 9 kWh for 0.10 $; eta_out 0.8: 9 kWh deliver 7.2 kWh = 0.72 $.
    f = make_fleet(availability=[1, 1], charge_efficiency=0.9, discharge_efficiency=0.8)
    r = solve([10.0, 100.0], [f], backend)
    assert r.profit == pytest.approx(0.72 - 0.10, abs=1e-9)
    assert r.dataset["soc"].values[:, 0] == pytest.approx([9.0, 0.0], abs=1e-7)
    assert_feasible(r)


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_make_arbitrage_unprofitable(backend):
    # Buy 1 kWh for 0.050 $, get back 0.81 kWh worth 0.04455 $: do nothing.
    f = make_fleet(availability=[1, 1], charge_efficiency=0.9, discharge_efficiency=0.9)
    r = solve([50.0, 55.0], [f], backend)
    assert r.profit == pytest.approx(0.0, abs=1e-9)
    assert float(r.dataset["charge"].sum()) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_price_pays_for_charging(backend):
    # -100 $/MWh: charging 10 kW for 1 h earns 1.00 $ and stores 5 kWh at eta_in 0.5.
    f = make_fleet(availability=[1], charge_efficiency=0.5)
    r = solve([-100.0], [f], backend)
    assert r.profit == pytest.approx(1.0, abs=1e-9)
    assert r.dataset["soc"].values[0, 0] == pytest.approx(5.0, abs=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "exclusive, expected",
    [
        # Full battery, -100 $/MWh, eta 0.5/0.5. Exclusive: it cannot charge (full) and
        # discharging costs money, so it does nothing: 0 $.
        (True, 0.0),
        # Shared chargers (p + q <= 10): burn energy. S = 10 + 0.5 p - 2 q <= 10 means q >= p/4;
        # p + p/4 <= 10 gives p = 8, q = 2, revenue 0.1 * (8 - 2) = 0.60 $.
        (False, 0.6),
    ],
)
def test_exclusive_charging_at_a_negative_price(backend, exclusive, expected):
    f = make_fleet(availability=[1], charge_efficiency=0.5, discharge_efficiency=0.5, initial_soc=1.0)
    r = solve([-100.0], [f], backend, exclusive_charging=exclusive)
    assert r.profit == pytest.approx(expected, abs=1e-9)
    assert r.penalty == pytest.approx(0.0, abs=1e-9)
    assert_feasible(r)


@pytest.mark.parametrize("backend", BACKENDS)
def test_slack_forced_by_an_availability_drop(backend):
    # 10 kWh full, 1 kW charger, half the fleet leaves in step 2 (S_max 10 -> 5 kWh).
    # The most it can discharge is 1 kWh + 0.5 kWh, so 3.5 kWh must leave as slack
    # (penalty 3500 $); selling 1.5 kWh at 100 $/MWh earns 0.15 $.
    f = make_fleet(availability=[1, 0.5], charger_kw=1, initial_soc=1.0)
    r = solve([100.0, 100.0], [f], backend)
    assert r.profit == pytest.approx(0.15, abs=1e-9)
    assert r.penalty == pytest.approx(3500.0, abs=1e-6)
    assert r.objective == pytest.approx(0.15 - 3500.0, abs=1e-6)
    assert float(r.slack_kwh.sum()) == pytest.approx(3.5, abs=1e-7)
    # Whether the slack is taken in step 1 or 2 is a tie; the end state is not.
    assert r.dataset["soc"].values[-1, 0] == pytest.approx(5.0, abs=1e-7)
    assert_feasible(r)


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_length_scales_energy(backend):
    # Half-hour steps: 10 kW for 0.5 h moves 5 kWh. Buy 5 kWh at 10, sell at 100 $/MWh, twice.
    from aggregator import Aggregator, PriceSignal

    f = make_fleet(availability=[1, 1, 1, 1], battery_kwh=5)
    r = Aggregator([f], PriceSignal([10.0, 100.0, 10.0, 100.0], step_hours=0.5)).solve(solver=backend)
    assert r.profit == pytest.approx(2 * (0.5 - 0.05), abs=1e-9)
    assert r.gap <= 1e-7
