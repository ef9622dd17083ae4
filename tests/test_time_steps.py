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
