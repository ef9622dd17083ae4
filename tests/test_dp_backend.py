"""The structure-aware ``dp`` backend against the exact MILP (HiGHS) on real data.

Correctness, not timing: on short horizons of the seed data, several contract
limits, prices with negative hours and availability drops that force slack,
the DP's objective equals the MILP optimum within 1e-6 relative and its bound
is never below it.
"""

from __future__ import annotations

import numpy as np
import pytest

from aggregator import Aggregator, Fleet, PriceSignal
from aggregator.availability import CsvAvailability
from conftest import make_fleet


def seed_aggregator(seed, case: int, limit: float, start: int, hours: int, profile="car_profile_multiple.csv",
                    columns=("car_aval1", "car_aval3"), **kw) -> Aggregator:
    prices = PriceSignal.from_csv(seed / f"CA_Weighted_Price_Case{case}.csv")
    prices = PriceSignal(prices.values[start:start + hours], 1.0, prices.time[start:start + hours], prices.source)
    fleets = []
    for column in columns:
        full = CsvAvailability().profile({"path": str(seed / profile), "column": column}, base_dir=seed,
                                         time=prices.time, step_hours=1.0)
        fleets.append(Fleet(column, vehicles=1000, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                            discharge_efficiency=0.78, contract_limit=limit, initial_soc=1.0,
                            availability=full[start:start + hours]))
    return Aggregator(fleets, prices, **kw)


def compare(aggregator: Aggregator):
    dp = aggregator.solve("dp")
    milp = aggregator.solve("highs", mip_gap=1e-9)
    assert milp.status == "optimal" and dp.status == "optimal"
    # The MILP's objective is within its tiny gap of the optimum; the DP must match it.
    assert dp.objective == pytest.approx(milp.objective, rel=1e-6, abs=1e-4)
    assert dp.bound >= milp.objective - 1e-6 * abs(milp.objective) - 1e-6
    assert dp.bound >= dp.objective
    assert dp.gap <= 1e-8
    for name, value in dp.violations().items():
        assert value <= 1e-6, name
    return dp, milp


def _negative_start(seed, case):
    """The start of the first week with many negative-price hours."""
    p = PriceSignal.from_csv(seed / f"CA_Weighted_Price_Case{case}.csv").values
    weekly = np.convolve(p < 0, np.ones(168), mode="valid")
    return int(np.argmax(weekly))


@pytest.mark.parametrize("case, limit", [(0, 0.8), (1, 0.6), (2, 0.7)])
def test_dp_equals_milp_on_a_week_with_negative_prices(seed, case, limit):
    start = _negative_start(seed, case)
    agg = seed_aggregator(seed, case, limit, start, 168)
    assert (agg.inputs["price"] < 0).sum() > 10  # the week really has negative prices
    compare(agg)


def test_dp_equals_milp_when_slack_is_forced(seed):
    # The commercial profile drops to 5 % availability: starting full forces slack.
    with pytest.warns(UserWarning, match="slack will cover"):  # the user is told before solving
        agg = seed_aggregator(seed, 0, 0.8, 0, 48, profile="car_profile_commercial.csv", columns=("car_aval1",))
        dp, milp = compare(agg)
    assert dp.penalty > 0 and dp.penalty == pytest.approx(milp.penalty, rel=1e-6)


def test_dp_equals_milp_without_exclusive_charging(seed):
    start = _negative_start(seed, 0)
    compare(seed_aggregator(seed, 0, 0.8, start, 96, exclusive_charging=False))


def test_dp_two_weeks_case1(seed):
    compare(seed_aggregator(seed, 1, 0.8, 2000, 336, columns=("car_aval2",)))


def test_auto_chooses_dp_for_the_documented_model():
    agg = Aggregator([make_fleet(availability=[1, 1])], PriceSignal([10.0, 100.0]))
    backend, note = agg.backend("auto")
    assert backend.name == "dp" and "dp" in note


def test_auto_falls_back_to_milp_for_a_subclass_and_says_so():
    class Capped(Aggregator):
        def define_constraints(self, model, inputs):
            super().define_constraints(model, inputs)
            model.add_constraints(model["discharge"].sum("fleet") <= 4.0, name="cap")

    agg = Capped([make_fleet(availability=[1, 1])], PriceSignal([10.0, 100.0]))
    backend, note = agg.backend("auto")
    assert backend.name != "dp"
    assert "dp skipped" in note
    result = agg.solve()
    assert result.profit == pytest.approx(0.36, abs=1e-9)
    assert "dp skipped" in result.dataset.attrs["solver_choice"]


def test_highs_warm_start_knows_the_dp_optimum_at_once(seed):
    # Spring: about 2000 hours with hundreds of negative prices; cold HiGHS needs far more than a second.
    agg = seed_aggregator(seed, 0, 0.8, 1400, 2000, columns=("car_aval1", "car_aval2"))
    dp = agg.solve("dp")
    warm = agg.solve("highs", time_limit=1.0, mip_gap=1e-12)
    assert warm.has_solution
    assert warm.objective >= dp.objective - 1e-6 * abs(dp.objective)
    # The start never changes the optimum: the bound stays above it.
    assert warm.bound >= dp.objective - 1e-6 * abs(dp.objective)
