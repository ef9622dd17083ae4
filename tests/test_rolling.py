"""Rolling-horizon operation: hand-solved windows, the carried state of charge, the foresight loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aggregator import Aggregator, Fleet, InputError, PriceSignal, load_scenario
from aggregator.csv_input import read_csv_table
from aggregator.rolling import RollingSpec, solve_rolling, window_aggregator

from conftest import make_fleet, run_cli


def rolling(prices, fleet, window, commit, solver="highs"):
    agg = Aggregator([fleet], PriceSignal(prices))
    return solve_rolling(agg, solver, rolling={"window_hours": window, "commit_hours": commit})


def test_myopic_window_loses_the_second_peak():
    # Full 10 kWh, lossless. One hour of look-ahead: sell at 100 at once (1.00 $), then nothing
    # is worth buying in a one-hour window. Perfect foresight: sell, buy back at 10, sell again.
    r = rolling([100.0, 10.0, 100.0], make_fleet(availability=[1, 1, 1], initial_soc=1.0), 1, 1)
    a = r.dataset.attrs
    assert a["rolling_profit"] == pytest.approx(1.0)
    assert a["perfect_foresight_profit"] == pytest.approx(1.9)
    assert a["foresight_loss"] == pytest.approx(0.9)
    assert r.dataset["discharge"].values.ravel().tolist() == pytest.approx([10.0, 0.0, 0.0], abs=1e-9)
    assert r.dataset["soc"].values.ravel().tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert r.dataset["window"].values.tolist() == [0, 1, 2]
    assert a["rolling_windows"] == 3 and r.status == "optimal"
    assert r.bound == pytest.approx(1.9) and r.gap == pytest.approx(0.9 / 1.9)


def test_look_ahead_of_two_hours_finds_the_spread():
    fleet = make_fleet(availability=[1, 1, 1], initial_soc=0.0)
    # Window 0 (50, 10): nothing pays. Window 1 (10, 100): buy at 10; commit it. Window 2: sell.
    r = rolling([50.0, 10.0, 100.0], fleet, 2, 1)
    assert r.dataset["charge"].values.ravel().tolist() == pytest.approx([0.0, 10.0, 0.0], abs=1e-9)
    assert r.dataset["soc"].values.ravel().tolist() == pytest.approx([0.0, 10.0, 0.0], abs=1e-9)
    assert r.dataset.attrs["foresight_loss"] == pytest.approx(0.0, abs=1e-9)
    # Without look-ahead the same prices earn nothing.
    assert rolling([50.0, 10.0, 100.0], fleet, 1, 1).dataset.attrs["foresight_loss"] == pytest.approx(0.9)


def test_window_starts_from_the_carried_share():
    fleet = make_fleet(vehicles=2, battery_kwh=10, availability=[1.0, 0.5, 0.25, 1.0], power_availability=[1, 1, 0.5, 1])
    agg = Aggregator([fleet], PriceSignal([1.0, 2.0, 3.0, 4.0]))
    window = window_aggregator(agg, 1, 3, soc_kwh=np.array([15.0]))
    (w,) = window.fleets
    assert w.initial_soc == pytest.approx(15.0 / 20.0)  # kWh carried -> share of vehicles * battery_kwh
    assert w.availability.tolist() == [0.5, 0.25] and w.power_availability.tolist() == [1.0, 0.5]
    assert window.prices.values.tolist() == [2.0, 3.0] and window.rolling is None
    assert window.prices.time[0] == agg.prices.time[1]
    assert agg.fleets[0].initial_soc == 0.0  # the original is untouched


def test_rolling_spec_validation():
    assert RollingSpec.from_mapping({"window_hours": 48, "commit_hours": 24}).steps(0.5) == (96, 48)
    for bad, words in [
        ({"window_hours": 48}, "commit_hours` is missing"),
        ({"window_hours": 48, "commit_hours": 0}, "> 0"),
        ({"window_hours": 24, "commit_hours": 48}, "at most window_hours"),
        ({"window_hours": 48, "commit_hours": 24, "lookahead": 1}, "unknown key 'lookahead'"),
    ]:
        with pytest.raises(InputError, match=words):
            RollingSpec.from_mapping(bad)
    with pytest.raises(InputError, match="whole number"):
        RollingSpec.from_mapping({"window_hours": 1.5, "commit_hours": 1}).steps(1.0)


def test_scenario_file_rolling_table(tmp_path):
    text = (
        '[prices]\nsource = "synthetic"\n[horizon]\nhours = 72\nrolling = { window_hours = 36, commit_hours = 24 }\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\ninitial_soc = 0.5\n'
        'availability = 0.9\n'
    )
    path = tmp_path / "s.toml"
    path.write_text(text)
    agg = load_scenario(path)
    assert agg.rolling == RollingSpec(36.0, 24.0)
    result = agg.solve()
    assert result.dataset.attrs["rolling_windows"] == 3
    assert result.dataset.attrs["foresight_loss"] >= -1e-6
    p = run_cli("run", str(path), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "optimal"
    path.write_text(text.replace("commit_hours = 24", "commit_hour = 24"))
    p = run_cli("run", str(path))
    assert p.returncode == 2 and "[horizon] rolling" in p.stderr and "commit_hour" in p.stderr


def test_split_fleets_roll_like_the_whole(tmp_path):
    from aggregator.sweep import solve_fleets

    fleets = [
        make_fleet("a", vehicles=3, availability=[1, 1, 0.5, 1, 1, 1], initial_soc=0.5),
        make_fleet("b", vehicles=2, availability=[1, 0.5, 1, 1, 0.5, 1], charge_efficiency=0.9),
    ]
    agg = Aggregator(
        fleets, PriceSignal([30.0, -5.0, 80.0, 20.0, 60.0, 10.0]), rolling={"window_hours": 3, "commit_hours": 2}
    )
    whole = agg.solve()
    split = solve_fleets(agg, workers=0)
    for key in ("rolling_profit", "perfect_foresight_profit", "foresight_loss"):
        assert split.dataset.attrs[key] == pytest.approx(whole.dataset.attrs[key], abs=1e-6)
    np.testing.assert_allclose(split.dataset["soc"].values, whole.dataset["soc"].values, atol=1e-6)


def test_two_seed_weeks_carry_the_state_of_charge(seed):
    """Two weeks of the seed (Case0, car_aval1): each window starts where the committed day ended."""
    prices = read_csv_table(seed / "CA_Weighted_Price_Case0.csv")
    availability = read_csv_table(seed / "car_profile_multiple.csv")
    hours = 336
    price = PriceSignal(np.asarray(prices["Weighted_Avg_Price"], float)[:hours])
    k = np.asarray(availability["car_aval1"], float)[:hours]
    params = dict(vehicles=1000, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                  discharge_efficiency=0.78, contract_limit=0.8)
    fleet = Fleet("car_aval1", initial_soc=1.0, availability=k, **params)
    agg = Aggregator([fleet], price, rolling={"window_hours": 48, "commit_hours": 24})
    result = agg.solve()
    ds = result.dataset
    assert result.status == "optimal" and ds.attrs["rolling_windows"] == 14
    assert np.bincount(ds["window"].values).tolist() == [24] * 14
    # The committed schedule is one feasible trajectory: the balance holds across every window boundary.
    assert max(result.violations().values()) < 1e-6
    # Hand carry-over: window 3 starts at hour 72 from the energy stored at the end of hour 71.
    capacity = 1000 * 30
    for start in (72, 312):
        share = float(ds["soc"].values[start - 1, 0]) / capacity
        stop = min(start + 48, hours)
        by_hand = Fleet("car_aval1", initial_soc=share, availability=k[start:stop], **params)
        window = Aggregator([by_hand], PriceSignal(price.values[start:stop])).solve()
        for var in ("charge", "discharge", "soc"):
            np.testing.assert_allclose(
                ds[var].values[start : start + 24, 0], window.dataset[var].values[:24, 0], atol=1e-5, rtol=1e-7
            )
    # Perfect foresight is the plain full-horizon solve; the rolling plan can only lose against it.
    full = Aggregator([fleet], price).solve()
    assert ds.attrs["perfect_foresight_profit"] == pytest.approx(full.profit, rel=1e-6)
    assert ds.attrs["foresight_loss"] == pytest.approx(full.objective - ds.attrs["rolling_objective"], abs=1e-6)
    assert ds.attrs["foresight_loss"] >= -1e-6
    assert ds.attrs["rolling_profit"] == pytest.approx(result.profit)
