"""The step length read from a price file's time stamps (issue 15, "Time, units and the data people have").

A 15-minute price file used to be rejected ("expected steps of 1 h") without
saying that ``step_hours = 0.25`` was wanted.  The step is now read from the
time stamps when ``[horizon] step_hours`` is not given, checked against it when
it is, and a mismatch says which step the file has.
"""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from aggregator import InputError, PriceSignal, load_scenario


def quarter_hour_file(path, prices=(10.0, 10.0, 100.0, 100.0)):
    time = pd.date_range("2024-03-01", periods=len(prices), freq="15min")
    pd.DataFrame({"time": time, "price": prices}).to_csv(path, index=False)
    return path


def scenario(folder, horizon: str):
    path = folder / "s.toml"
    path.write_text(textwrap.dedent(f"""\
        [prices]
        path = "prices.csv"
        [horizon]
        {horizon}
        [solver]
        name = "highs"
        mip_gap = 0
        [[fleets]]
        name = "ev"
        vehicles = 1
        battery_kwh = 10
        charger_kw = 10
        charge_efficiency = 1.0
        discharge_efficiency = 1.0
        contract_limit = 1.0
        initial_soc = 0.0
        availability = 1.0
    """))
    return path


@pytest.mark.parametrize("horizon", ["hours = 1", "hours = 1\nstep_hours = 0.25", ""])
def test_a_quarter_hour_file_solves_in_quarter_hour_steps(tmp_path, horizon):
    quarter_hour_file(tmp_path / "prices.csv")
    agg = load_scenario(scenario(tmp_path, horizon))
    assert agg.step_hours == 0.25 and agg.steps == 4
    # 10 kW for 15 minutes moves 2.5 kWh: buy 5 kWh at 10 $/MWh, sell them at 100 $/MWh.
    result = agg.solve()
    assert result.status == "optimal"
    assert result.profit == pytest.approx(5 * (100 - 10) / 1000, abs=1e-9)


def test_a_step_that_is_not_the_files_says_which_it_is(tmp_path):
    quarter_hour_file(tmp_path / "prices.csv")
    with pytest.raises(InputError) as info:
        load_scenario(scenario(tmp_path, "hours = 1\nstep_hours = 1.0"))
    message = str(info.value)
    for words in ("s.toml", "[horizon] step_hours = 1", "prices.csv", "0.25 h (15 min) apart", "set step_hours = 0.25"):
        assert words in message, message


def test_price_signal_from_csv_reads_the_step(tmp_path):
    path = quarter_hour_file(tmp_path / "prices.csv")
    assert PriceSignal.from_csv(path).step_hours == 0.25
    with pytest.raises(InputError, match=r"0.25 h \(15 min\) apart .* use step_hours = 0.25"):
        PriceSignal.from_csv(path, step_hours=1.0)


def test_hourly_files_and_files_without_times_keep_one_hour(tmp_path):
    time = pd.date_range("2024-03-01", periods=3, freq="h")
    pd.DataFrame({"time": time, "price": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "hourly.csv", index=False)
    pd.DataFrame({"price": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "plain.csv", index=False)
    assert PriceSignal.from_csv(tmp_path / "hourly.csv").step_hours == 1.0
    assert PriceSignal.from_csv(tmp_path / "plain.csv").step_hours == 1.0


# ------------------------------------------------------------------ [horizon] start: a window of a longer file

WEEK = pd.date_range("2024-01-01", periods=168, freq="h")


def week_files(folder):
    prices = pd.DataFrame({"time": WEEK, "price": range(168)})  # the price is the row's index: easy to check
    prices["price"] = prices["price"].astype(float)
    prices.to_csv(folder / "prices.csv", index=False)
    shares = [round((i % 100) / 100, 2) for i in range(168)]  # no time column: aligned row by row with the prices
    pd.DataFrame({"share": shares}).to_csv(folder / "avail.csv", index=False)
    return shares


def window_scenario(folder, horizon: str):
    path = scenario(folder, horizon)
    path.write_text(path.read_text().replace(
        "availability = 1.0", 'availability = { model = "csv", path = "avail.csv" }\npower_availability = 1.0'
    ))
    return path


@pytest.mark.parametrize("start", ['"2024-01-03"', "2024-01-03", "2024-01-03T00:00:00", '"2024-01-03 00:00"'])
def test_start_studies_a_window_of_a_longer_file(tmp_path, start):
    shares = week_files(tmp_path)
    agg = load_scenario(window_scenario(tmp_path, f"start = {start}\nhours = 24"))
    assert agg.steps == 24 and agg.prices.time[0] == pd.Timestamp("2024-01-03")
    assert agg.prices.values.tolist() == [float(i) for i in range(48, 72)]
    assert agg.fleets[0].availability.tolist() == shares[48:72]


def test_start_without_hours_runs_to_the_end_of_the_file(tmp_path):
    week_files(tmp_path)
    agg = load_scenario(window_scenario(tmp_path, 'start = "2024-01-07 12:00"'))
    assert agg.steps == 12 and agg.prices.values[0] == 156.0


@pytest.mark.parametrize("horizon, words", [
    ('start = "2024-01-03 00:30"\nhours = 24', ("[horizon] start", "between two steps", "2024-01-03 00:00:00", "2024-01-03 01:00:00")),
    ('start = "2024-02-01"\nhours = 24', ("[horizon] start", "outside", "2024-01-07 23:00:00")),
    ('start = "2024-01-07"\nhours = 48', ("hours = 48", "48 steps", "have 24 after [horizon] start")),
    ('start = "soon"', ("[horizon] start", "'soon'", "date")),
    ("start = 5", ("[horizon] start = 5", "string")),
])
def test_bad_starts_name_the_key_and_the_range(tmp_path, horizon, words):
    week_files(tmp_path)
    with pytest.raises(InputError) as info:
        load_scenario(window_scenario(tmp_path, horizon))
    for word in words:
        assert word in str(info.value), str(info.value)
