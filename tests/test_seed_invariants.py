"""Invariants of solutions on the study's real data (a week of Case0, four fleets)."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator import Aggregator, Fleet, PriceSignal


@pytest.fixture(scope="module")
def week(seed):
    from aggregator.availability import CsvAvailability

    prices = PriceSignal.from_csv(seed / "CA_Weighted_Price_Case0.csv")
    fleets = []
    for i in range(1, 5):
        profile = CsvAvailability().profile(
            {"path": str(seed / "car_profile_multiple.csv"), "column": f"car_aval{i}"},
            base_dir=seed,
            time=prices.time[:168],
            step_hours=1.0,
        )
        fleets.append(
            Fleet(f"car_aval{i}", vehicles=1000, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                  discharge_efficiency=0.78, contract_limit=0.8, initial_soc=1.0, availability=profile)
        )
    return Aggregator(fleets, prices, hours=168)


@pytest.fixture(scope="module")
def result(week):
    return week.solve(solver="highs")


def test_seed_prices_load_as_they_are(seed):
    p = PriceSignal.from_csv(seed / "CA_Weighted_Price_Case0.csv")
    assert len(p) == 8784
    assert p.time[0].isoformat() == "2024-01-01T00:00:00"
    assert p.time[-1].isoformat() == "2024-12-31T23:00:00"
    assert (p.values < 0).sum() > 400
    assert p.values.max() == pytest.approx(2000, rel=0.01)


def test_solved_to_proven_optimality(result):
    assert result.status == "optimal"
    assert result.gap <= 1e-4
    assert result.bound >= result.objective - 1e-6


def test_energy_balance_and_bounds_hold_every_step(result):
    v = result.violations()
    assert v["balance"] <= 1e-5
    assert v["soc_bounds"] <= 1e-5
    assert v["power"] <= 1e-6
    assert v["negative"] <= 1e-7


def test_never_charges_and_discharges_at_once(result):
    both = np.minimum(result.dataset["charge"].values, result.dataset["discharge"].values)
    assert both.max() <= 1e-6


def test_profit_is_the_recomputed_sum(result):
    ds = result.dataset
    recomputed = float((ds["price"] * (ds["discharge"] - ds["charge"])).sum() * 1.0 / 1000)
    assert result.profit == pytest.approx(recomputed, rel=1e-12)
    assert result.fleet_profit.sum() == pytest.approx(result.profit, rel=1e-12)
    assert result.objective == pytest.approx(result.profit - result.penalty, rel=1e-7, abs=1e-6)


def test_no_slack_needed_in_this_week(result):
    assert float(result.slack_kwh.sum()) <= 1e-6
