"""Time zones, time-aligned availability, currencies and the market data readers (issue 15).

Each reader is tested on small files written in its published layout: CAISO
OASIS ``PRC_LMP`` / ``PRC_INTVL_LMP`` reports (zipped CSV, one row per interval,
node and LMP component) and the ENTSO-E transparency platform's CSV export of
day-ahead prices (the ``MTU (CET/CEST)`` interval column, hourly and in the
15-minute MTUs of October 2025).  Daylight-saving days use the real dates of
2024 in Los Angeles and of 2025 in Europe.
"""

from __future__ import annotations

import textwrap
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest

from aggregator import InputError, PriceSignal, load_scenario
from aggregator.errors import InputWarning
from aggregator.market_files import read_caiso_oasis, read_entsoe
from aggregator.timezones import TIMEZONE_ATTR, local_time

from conftest import run_cli

FLEET = """
[[fleets]]
name = "ev"
vehicles = 1
battery_kwh = 10
charger_kw = 10
charge_efficiency = 1.0
discharge_efficiency = 1.0
contract_limit = 1.0
initial_soc = 0.0
"""


def scenario(folder, prices: str, horizon: str = "", availability: str = "availability = 1.0"):
    path = folder / "s.toml"
    path.write_text(textwrap.dedent(f"""\
        [prices]
        {prices}
        [horizon]
        {horizon}
        [solver]
        name = "highs"
        mip_gap = 0
    """) + FLEET + availability + "\n")
    return path


def write_csv(path, stamps, prices, column="time"):
    lines = [f"{column},price"] + [f"{s},{p}" for s, p in zip(stamps, prices)]
    path.write_text("\n".join(lines) + "\n")
    return path


def local_hours(day: str, zone: str) -> pd.DatetimeIndex:
    """The naive local hours of one day in a zone, as a local-time file lists them (a repeated hour twice)."""
    start = pd.Timestamp(day).tz_localize(zone)
    end = (pd.Timestamp(day) + pd.Timedelta(days=1)).tz_localize(zone)
    return pd.date_range(start, end, freq="h", inclusive="left").tz_localize(None)


# ------------------------------------------------------------------------------------------ time zones
def test_the_long_day_in_los_angeles_has_25_hourly_steps_and_the_last_one_pays(tmp_path):
    hours = local_hours("2024-11-03", "America/Los_Angeles")
    assert len(hours) == 25 and hours[1] == hours[2]  # 01:00 twice
    prices = [50.0] * 25
    prices[1], prices[24] = 10.0, 110.0  # the first 01:00 is cheap; the 25th hour (23:00) is dear
    write_csv(tmp_path / "prices.csv", hours.strftime("%Y-%m-%d %H:%M"), prices)
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"', 'timezone = "America/Los_Angeles"'))
    assert agg.steps == 25 and agg.prices.timezone == "America/Los_Angeles"
    assert str(agg.prices.time[1]) == "2024-11-03 01:00:00-07:00" and str(agg.prices.time[2]) == "2024-11-03 01:00:00-08:00"
    result = agg.solve()
    # 10 kWh bought at 10 $/MWh in the first 01:00 and sold at 110 $/MWh in the 25th hour.
    assert result.profit == pytest.approx(10 * (110 - 10) / 1000, abs=1e-9)
    time = result.dataset["time"]
    assert time.attrs[TIMEZONE_ATTR] == "America/Los_Angeles" == result.dataset.attrs[TIMEZONE_ATTR]
    assert str(time.values[0])[:16] == "2024-11-03T07:00"  # the axis is UTC
    assert [str(t) for t in local_time(time)[:3]] == [str(t) for t in agg.prices.time[:3]]
    # the zone survives the netCDF file
    result.to_netcdf(tmp_path / "r.nc")
    import xarray as xr

    with xr.open_dataset(tmp_path / "r.nc") as ds:
        assert ds["time"].attrs[TIMEZONE_ATTR] == "America/Los_Angeles" == ds.attrs[TIMEZONE_ATTR]


def test_the_short_day_has_23_steps_and_a_skipped_local_time_names_its_line(tmp_path):
    hours = local_hours("2024-03-10", "America/Los_Angeles")
    assert len(hours) == 23
    write_csv(tmp_path / "prices.csv", hours.strftime("%Y-%m-%d %H:%M"), [30.0] * 23)
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"', 'timezone = "America/Los_Angeles"'))
    assert agg.steps == 23 and np.all(np.diff(agg.prices.time.as_unit("s").asi8) == 3600)
    # A file that lists 02:00 on that day: the clocks skip it.
    wall = pd.date_range("2024-03-10", periods=24, freq="h")
    write_csv(tmp_path / "prices.csv", wall.strftime("%Y-%m-%d %H:%M"), [30.0] * 24)
    with pytest.raises(InputError, match=r"prices.csv, line 4, column 'time': local time 2024-03-10 02:00:00 does not exist in America/Los_Angeles"):
        load_scenario(scenario(tmp_path, 'path = "prices.csv"', 'timezone = "America/Los_Angeles"'))


def test_a_repeated_hour_that_the_file_does_not_repeat_is_an_error_naming_the_line(tmp_path):
    wall = pd.date_range("2024-11-03", periods=24, freq="h")  # 24 wall-clock hours: 01:00 once
    write_csv(tmp_path / "prices.csv", wall.strftime("%Y-%m-%d %H:%M"), [30.0] * 24)
    with pytest.raises(InputError, match=r"line 3.*01:00:00 occurs twice in America/Los_Angeles.*ambiguous"):
        load_scenario(scenario(tmp_path, 'path = "prices.csv"', 'timezone = "America/Los_Angeles"'))


def test_offsets_keep_their_zone_and_a_named_zone_converts_them(tmp_path):
    # one offset: a fixed-offset zone
    stamps = pd.date_range("2024-07-01", periods=4, freq="h", tz="UTC").tz_convert("Europe/Berlin")
    write_csv(tmp_path / "prices.csv", [s.isoformat() for s in stamps], [1.5, 2.0, 3.0, 4.0])
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"'))
    assert agg.prices.timezone == "UTC+02:00" and str(agg.prices.time[0]) == "2024-07-01 02:00:00+02:00"
    # two offsets (a daylight-saving change): UTC, with a warning that names [horizon] timezone
    stamps = pd.date_range("2024-11-03 06:00", periods=4, freq="h", tz="UTC").tz_convert("America/Los_Angeles")
    write_csv(tmp_path / "prices.csv", [s.isoformat() for s in stamps], [1.5, 2.0, 3.0, 4.0])
    with pytest.warns(InputWarning, match=r"UTC offsets -07:00, -08:00.*\[horizon\] timezone"):
        agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"'))
    assert agg.prices.timezone == "UTC"
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"', 'timezone = "America/Los_Angeles"'))
    assert [str(t)[11:] for t in agg.prices.time[:3]] == ["23:00:00-07:00", "00:00:00-07:00", "01:00:00-07:00"]
    # [horizon] start is a local time of the zone; one the clocks repeat needs a rule
    zone = 'timezone = "America/Los_Angeles"\nstart = '
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"', zone + '"2024-11-03 00:00"'))
    assert agg.steps == 3 and agg.prices.values.tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(InputError, match=r"\[horizon\] start.*2024-11-03 01:00:00 occurs twice.*ambiguous = "):
        load_scenario(scenario(tmp_path, 'path = "prices.csv"', zone + '"2024-11-03 01:00"'))
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"', zone + '"2024-11-03 01:00"\nambiguous = "latest"'))
    assert agg.prices.values.tolist() == [4.0]


def test_an_unknown_zone_is_one_message_and_exit_2(tmp_path):
    write_csv(tmp_path / "prices.csv", ["2024-01-01 00:00", "2024-01-01 01:00"], [30.0, 40.0])
    path = scenario(tmp_path, 'path = "prices.csv"', 'timezone = "Europe/Berln"')
    with pytest.raises(InputError, match=r"\[horizon\] timezone = 'Europe/Berln': not a time zone"):
        load_scenario(path)
    done = run_cli("run", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "Europe/Berln" in done.stderr


def test_a_generated_series_in_a_zone_crosses_the_spring_change(tmp_path):
    agg = load_scenario(scenario(tmp_path, 'source = "constant"\nprice = 30', 'hours = 48\ntimezone = "Europe/Berlin"'))
    assert agg.prices.timezone == "Europe/Berlin" and agg.steps == 48
    agg = load_scenario(scenario(tmp_path, 'source = "synthetic"\nstart = "2025-03-30"', 'hours = 24\ntimezone = "Europe/Berlin"'))
    assert str(agg.prices.time[-1]) == "2025-03-31 00:00:00+02:00"  # 24 hours after midnight CET is 00:00 CEST


# --------------------------------------------------------------------------------- time-aligned profiles
def test_a_time_stamped_availability_file_is_aligned_by_time(tmp_path):
    prices = pd.date_range("2024-01-01 00:00", periods=4, freq="h")
    write_csv(tmp_path / "prices.csv", prices.strftime("%Y-%m-%d %H:%M"), [10.0, 50.0, 50.0, 110.0])
    # the availability file starts two hours earlier: its third row is the prices' first hour
    stamps = pd.date_range("2023-12-31 22:00", periods=7, freq="h")
    lines = ["time,share"] + [f"{s:%Y-%m-%d %H:%M},{v}" for s, v in zip(stamps, [0, 0, 1, 0.5, 0.5, 1, 0])]
    (tmp_path / "avail.csv").write_text("\n".join(lines) + "\n")
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"',
                                 availability='availability = { model = "csv", path = "avail.csv" }'))
    assert agg.fleets[0].availability.tolist() == [1.0, 0.5, 0.5, 1.0]  # row by row it was [0, 0, 1, 0.5]
    # a profile that does not cover the prices is an error naming both files
    (tmp_path / "avail.csv").write_text("\n".join(lines[:5]) + "\n")
    path = scenario(tmp_path, 'path = "prices.csv"', availability='availability = { model = "csv", path = "avail.csv" }')
    with pytest.raises(InputError, match=r"avail.csv.*2024-01-01 02:00:00 has no row.*prices.csv"):
        load_scenario(path)
    done = run_cli("run", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "avail.csv" in done.stderr


def test_local_availability_stamps_are_read_in_the_prices_zone(tmp_path):
    hours = local_hours("2024-11-03", "America/Los_Angeles")
    write_csv(tmp_path / "prices.csv", hours.strftime("%Y-%m-%d %H:%M"), [30.0] * 25)
    shares = np.linspace(0, 1, 25).round(3)
    lines = ["time,share"] + [f"{s:%Y-%m-%d %H:%M},{v}" for s, v in zip(hours, shares)]
    (tmp_path / "avail.csv").write_text("\n".join(lines) + "\n")
    agg = load_scenario(scenario(tmp_path, 'path = "prices.csv"', 'timezone = "America/Los_Angeles"',
                                 availability='availability = { model = "csv", path = "avail.csv" }'))
    assert agg.fleets[0].availability.tolist() == shares.tolist()


# ------------------------------------------------------------------------------------------- currency
def test_a_currency_is_carried_into_the_summary_and_the_result(tmp_path):
    write_csv(tmp_path / "prices.csv", ["2024-01-01 00:00", "2024-01-01 01:00"], [10.0, 110.0])
    path = scenario(tmp_path, 'path = "prices.csv"\ncurrency = "EUR"')
    result = load_scenario(path).solve()
    assert result.dataset.attrs["currency"] == "EUR" and result.dataset["price"].attrs["units"] == "EUR/MWh"
    done = run_cli("run", str(path))
    assert done.returncode == 0, done.stderr
    assert "1.00 EUR" in done.stdout and " $" not in done.stdout


def test_prices_that_look_per_kwh_warn(tmp_path):
    write_csv(tmp_path / "prices.csv", ["2024-01-01 00:00", "2024-01-01 01:00"], [0.12, -0.31])
    with pytest.warns(InputWarning, match=r"every price is below 1 \$/MWh.*per kWh"):
        load_scenario(scenario(tmp_path, 'path = "prices.csv"'))
    write_csv(tmp_path / "prices.csv", ["2024-01-01 00:00", "2024-01-01 01:00"], [0.12, 31.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        load_scenario(scenario(tmp_path, 'path = "prices.csv"'))


# ---------------------------------------------------------------------------------------- CAISO OASIS
OASIS_HEADER = ("INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,OPR_INTERVAL,NODE_ID_XML,NODE_ID,NODE,"
                "MARKET_RUN_ID,LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,MW,GROUP")
ITEMS = {"LMP": "LMP_PRC", "MCE": "LMP_ENE_PRC", "MCC": "LMP_CONG_PRC", "MCL": "LMP_LOSS_PRC", "MGHG": "LMP_GHG_PRC"}


def oasis_rows(start_gmt: str, hours: int, nodes=("TH_NP15_GEN-APND", "TH_SP15_GEN-APND")) -> list[str]:
    """A PRC_LMP day-ahead report's rows, grouped by component and node as OASIS writes them (not by time)."""
    rows = []
    for kind, item in ITEMS.items():
        for n, node in enumerate(nodes):
            for h in range(hours):
                start = pd.Timestamp(start_gmt) + pd.Timedelta(hours=h)
                end = start + pd.Timedelta(hours=1)
                local = start.tz_localize("UTC").tz_convert("America/Los_Angeles")
                price = {"LMP": 40.0 + h + 100 * n, "MCE": 38.0 + h, "MCC": 1.5 + n, "MCL": 0.5, "MGHG": 0.0}[kind]
                rows.append(f"{start:%Y-%m-%dT%H:%M:%S}-00:00,{end:%Y-%m-%dT%H:%M:%S}-00:00,{local:%Y-%m-%d},"
                            f"{local.hour + 1},0,{node},{node},{node},DAM,{kind},{item},{node},ALL,1,{price},1")
    return rows[::-1]  # and not sorted by time


def oasis_zip(path, rows, header=OASIS_HEADER, member="20240310_20240311_PRC_LMP_DAM_LMP_v12.csv"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, "\n".join([header, *rows]) + "\n")
    return path


def test_caiso_oasis_reads_one_node_and_component_in_pacific_time(tmp_path):
    # the operating day 2024-03-10 (23 hours) starts at 08:00 GMT
    oasis_zip(tmp_path / "lmp.zip", oasis_rows("2024-03-10 08:00", 23))
    prices = read_caiso_oasis(tmp_path / "lmp.zip", node="TH_SP15_GEN-APND")
    assert len(prices) == 23 and prices.step_hours == 1.0 and prices.currency == "USD"
    assert prices.timezone == "America/Los_Angeles" and str(prices.time[0]) == "2024-03-10 00:00:00-08:00"
    assert str(prices.time[2]) == "2024-03-10 03:00:00-07:00"  # 02:00 does not exist that day
    assert prices.values.tolist() == [140.0 + h for h in range(23)]
    assert read_caiso_oasis(tmp_path / "lmp.zip", node="TH_NP15_GEN-APND", lmp_type="MCC").values.tolist() == [1.5] * 23
    with pytest.raises(InputError, match=r"column 'NODE' holds 2 values \('TH_SP15_GEN-APND', 'TH_NP15_GEN-APND'\)"):
        read_caiso_oasis(tmp_path / "lmp.zip")
    with pytest.raises(InputError, match=r"node = 'TH_ZP26_GEN-APND' is not in column 'NODE'; the file has 'TH_SP15"):
        read_caiso_oasis(tmp_path / "lmp.zip", node="TH_ZP26_GEN-APND")


def test_caiso_oasis_as_a_scenario_source_solves(tmp_path):
    oasis_zip(tmp_path / "lmp.zip", oasis_rows("2024-03-10 08:00", 23, nodes=("TH_NP15_GEN-APND",)))
    agg = load_scenario(scenario(tmp_path, 'source = "caiso_oasis"\npath = "lmp.zip"', "hours = 4"))
    assert agg.steps == 4 and agg.prices.values.tolist() == [40.0, 41.0, 42.0, 43.0]
    result = agg.solve()
    assert result.profit == pytest.approx(10 * (43 - 40) / 1000, abs=1e-9)  # buy at 40, sell at 43
    assert result.dataset.attrs["currency"] == "USD" and result.dataset.attrs["timezone"] == "America/Los_Angeles"
    with pytest.raises(InputError, match=r"lmp_type = 'LMPX'.*LMP"):
        load_scenario(scenario(tmp_path, 'source = "caiso_oasis"\npath = "lmp.zip"\nlmp_type = "LMPX"'))


def test_caiso_oasis_faults_name_the_file_and_line(tmp_path):
    rows = oasis_rows("2024-03-10 08:00", 5, nodes=("N1",))
    lmp = [r for r in rows if ",LMP," in r]
    oasis_zip(tmp_path / "dup.zip", [*rows, lmp[0]])  # one interval twice
    with pytest.raises(InputError, match=r"dup.zip:.*\.csv, line \d+, column 'INTERVALSTARTTIME_GMT'.*appears twice"):
        read_caiso_oasis(tmp_path / "dup.zip")
    oasis_zip(tmp_path / "gap.zip", [r for r in rows if "T10:00" not in r.split(",")[0]])
    with pytest.raises(InputError, match=r"time jumps from 2024-03-10 09:00:00\+00:00 to 2024-03-10 11:00:00\+00:00"):
        read_caiso_oasis(tmp_path / "gap.zip")
    with zipfile.ZipFile(tmp_path / "err.zip", "w") as archive:
        archive.writestr("INVALID_REQUEST.xml", "<m:OASISReport/>")
    with pytest.raises(InputError, match=r"err.zip: the archive holds no CSV file \(it holds INVALID_REQUEST.xml"):
        read_caiso_oasis(tmp_path / "err.zip")
    first = next(i for i, r in enumerate(rows) if ",LMP," in r)
    cells = rows[first].split(",")
    cells[14] = "N/A"
    oasis_zip(tmp_path / "bad.zip", [*rows[:first], ",".join(cells), *rows[first + 1:]])
    with pytest.raises(InputError, match=r"bad.zip:.*line \d+, column 'MW': found 'N/A'"):
        read_caiso_oasis(tmp_path / "bad.zip", lmp_type="LMP")


def test_caiso_interval_lmp_reads_five_minute_values(tmp_path):
    header = ("INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,NODE_ID_XML,NODE_ID,NODE,MARKET_RUN_ID,"
              "LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,VALUE,OPR_INTERVAL,GROUP")
    rows = []
    for i in range(12):
        start = pd.Timestamp("2024-11-03 08:00") + pd.Timedelta(minutes=5 * i)
        end = start + pd.Timedelta(minutes=5)
        for kind in ("LMP", "MCE"):
            rows.append(f"{start:%Y-%m-%dT%H:%M:%S}-00:00,{end:%Y-%m-%dT%H:%M:%S}-00:00,2024-11-03,2,N1,N1,N1,RTM,"
                        f"{kind},{ITEMS[kind]},N1,ALL,1,{20 + i if kind == 'LMP' else 0},{i + 1},1")
    oasis_zip(tmp_path / "rtm.zip", rows, header=header, member="PRC_INTVL_LMP.csv")
    prices = read_caiso_oasis(tmp_path / "rtm.zip")
    assert prices.step_hours == pytest.approx(5 / 60) and prices.values.tolist() == [20.0 + i for i in range(12)]
    assert str(prices.time[0]) == "2024-11-03 01:00:00-07:00"  # the first of the two 01:00 hours


# --------------------------------------------------------------------------------------------- ENTSO-E
def entsoe_file(path, starts, minutes, prices, *, marks=False, area="BZN|DE-LU", sequence="Without Sequence"):
    """The platform's export (2024 layout): MTU intervals, area, sequence, the day-ahead and intraday columns."""
    lines = ['"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)","Intraday Period (CET/CEST)",'
             '"Intraday Price (EUR/MWh)"']
    for start, length, price in zip(starts, minutes, prices):
        local = start.tz_convert("Europe/Brussels")
        end = (start + pd.Timedelta(minutes=length)).tz_convert("Europe/Brussels")

        def text(t):
            return f"{t:%d/%m/%Y %H:%M:%S}" + (f" ({'CEST' if t.dst() else 'CET'})" if marks else "")

        lines.append(f'"{text(local)} - {text(end)}","{area}","{sequence}","{price}","",""')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_entsoe_quarter_hours_since_october_2025(tmp_path):
    starts = pd.date_range("2025-09-30 22:00", periods=8, freq="15min", tz="UTC")  # 1 October 00:00 CEST on
    entsoe_file(tmp_path / "da.csv", starts, [15] * 8, [80.5, 70, 60, 50, 40, 30, 20, 10])
    prices = read_entsoe(tmp_path / "da.csv")
    assert prices.step_hours == 0.25 and prices.currency == "EUR" and prices.timezone == "Europe/Brussels"
    assert str(prices.time[0]) == "2025-10-01 00:00:00+02:00" and prices.values[0] == 80.5
    agg = load_scenario(scenario(tmp_path, 'source = "entsoe"\npath = "da.csv"'))
    assert agg.step_hours == 0.25 and agg.steps == 8 and agg.prices.currency == "EUR"
    with pytest.raises(InputError, match=r"currency = 'USD', but the price file gives its prices in EUR"):
        load_scenario(scenario(tmp_path, 'source = "entsoe"\npath = "da.csv"\ncurrency = "USD"'))


def test_entsoe_hourly_then_quarter_hours_is_an_error_or_split(tmp_path):
    hourly = list(pd.date_range("2025-09-30 20:00", periods=2, freq="h", tz="UTC"))
    quarters = list(pd.date_range("2025-09-30 22:00", periods=4, freq="15min", tz="UTC"))
    entsoe_file(tmp_path / "da.csv", hourly + quarters, [60, 60, 15, 15, 15, 15], [100, 90, 1, 2, 3, 4])
    with pytest.raises(InputError, match=r"da.csv, line 4, column 'MTU \(CET/CEST\)': the market time unit changes "
                                         r"from 60 to 15 minutes.*split_mtu = true"):
        read_entsoe(tmp_path / "da.csv")
    prices = read_entsoe(tmp_path / "da.csv", split_mtu=True)
    assert prices.step_hours == 0.25 and prices.values.tolist() == [100] * 4 + [90] * 4 + [1, 2, 3, 4]
    agg = load_scenario(scenario(tmp_path, 'source = "entsoe"\npath = "da.csv"\nsplit_mtu = true'))
    assert agg.steps == 12


@pytest.mark.parametrize("marks", [True, False])
def test_entsoe_the_autumn_day_has_25_hours(tmp_path, marks):
    starts = pd.date_range("2025-10-25 22:00", periods=25, freq="h", tz="UTC")  # 26 October, local midnight on
    entsoe_file(tmp_path / "da.csv", starts, [60] * 25, list(range(25)), marks=marks)
    prices = read_entsoe(tmp_path / "da.csv")
    assert len(prices) == 25 and prices.values.tolist() == list(range(25))
    assert [str(t)[11:] for t in prices.time[2:4]] == ["02:00:00+02:00", "02:00:00+01:00"]


def test_entsoe_the_spring_day_has_23_hours_in_the_older_layout(tmp_path):
    # The export before 2024: dotted dates, no seconds, a bracketed price header, no Area/Sequence columns.
    starts = pd.date_range("2025-03-29 23:00", periods=23, freq="h", tz="UTC")
    lines = ['"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]","Currency","BZN|DE-LU"']
    for i, s in enumerate(starts):
        a, b = s.tz_convert("Europe/Brussels"), (s + pd.Timedelta(hours=1)).tz_convert("Europe/Brussels")
        lines.append(f'"{a:%d.%m.%Y %H:%M} - {b:%d.%m.%Y %H:%M}","{40 + i:.2f}","EUR",""')
    (tmp_path / "old.csv").write_text("\n".join(lines) + "\n")
    prices = read_entsoe(tmp_path / "old.csv")
    assert len(prices) == 23 and prices.step_hours == 1.0 and str(prices.time[2]) == "2025-03-30 03:00:00+02:00"


def test_entsoe_faults_name_the_file_and_line(tmp_path):
    starts = list(pd.date_range("2025-10-01 00:00", periods=4, freq="h", tz="UTC"))
    entsoe_file(tmp_path / "na.csv", starts, [60] * 4, [1, "N/A", 3, 4])
    with pytest.raises(InputError, match=r"na.csv, line 3, column 'Day-ahead Price \(EUR/MWh\)': found 'N/A'"):
        read_entsoe(tmp_path / "na.csv")
    entsoe_file(tmp_path / "dup.csv", [starts[0], starts[1], starts[1], starts[2]], [60] * 4, [1, 2, 3, 4])
    with pytest.raises(InputError, match=r"dup.csv, line 4.*appears twice"):
        read_entsoe(tmp_path / "dup.csv")
    entsoe_file(tmp_path / "gap.csv", [starts[0], starts[1], starts[3]], [60] * 3, [1, 2, 4])
    with pytest.raises(InputError, match=r"gap.csv, line 4.*time jumps"):
        read_entsoe(tmp_path / "gap.csv")
    entsoe_file(tmp_path / "two.csv", starts[:2], [60] * 2, [1, 2])
    text = (tmp_path / "two.csv").read_text()
    (tmp_path / "two.csv").write_text(text + text.splitlines()[1].replace("DE-LU", "FR") + "\n")
    with pytest.raises(InputError, match=r"column 'Area' holds 2 values \('BZN\|DE-LU', 'BZN\|FR'\).*area = 'BZN\|DE-LU'"):
        read_entsoe(tmp_path / "two.csv")
    assert read_entsoe(tmp_path / "two.csv", area="BZN|DE-LU").values.tolist() == [1, 2]
    (tmp_path / "x.csv").write_text("time,price\n2024-01-01,1\n")
    path = scenario(tmp_path, 'source = "entsoe"\npath = "x.csv"')
    done = run_cli("run", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "no column 'MTU (CET/CEST)'" in done.stderr


# ----------------------------------------------------------------------------------- PriceSignal.from_series
def test_a_series_with_a_datetime_index_makes_a_price_signal():
    # what entsoe-py's query_day_ahead_prices returns: a Series on a zone-aware index
    index = pd.date_range("2025-10-26 00:00", periods=100, freq="15min", tz="Europe/Brussels")
    series = pd.Series(np.arange(100.0), index=index, name="DE_LU")
    prices = PriceSignal.from_series(series, currency="EUR")
    assert prices.step_hours == 0.25 and len(prices) == 100 and prices.timezone == "Europe/Brussels"
    assert prices.source == "DE_LU" and PriceSignal(series).time.equals(index)
    with pytest.raises(InputError, match=r"prices \(DE_LU\), row 4, column 'index': time .* appears twice"):
        PriceSignal.from_series(series.iloc[[0, 1, 2, 2, 3]])
    with pytest.raises(InputError, match=r"time jumps"):
        PriceSignal.from_series(series.drop(series.index[5]))
    with pytest.raises(InputError, match=r"expected a pandas Series with a DatetimeIndex"):
        PriceSignal.from_series(pd.Series([1.0, 2.0]))


def test_trips_in_local_time_follow_the_prices_zone(tmp_path):
    hours = local_hours("2024-11-03", "America/Los_Angeles")
    write_csv(tmp_path / "prices.csv", hours.strftime("%Y-%m-%d %H:%M"), [30.0] * 25)
    # away from 07:00 to 09:00 local time: steps 8 and 9 of the 25-hour day (the 01:00 hour comes twice)
    (tmp_path / "trips.csv").write_text("vehicle,depart,arrive,energy_kwh\ncar,2024-11-03 07:00,2024-11-03 09:00,2\n")
    fleet = FLEET.replace('name = "ev"', 'name = "ev"\nrepresentation = "vehicles"\ntrips = { path = "trips.csv" }')
    path = tmp_path / "s.toml"
    path.write_text(f'[prices]\npath = "prices.csv"\n[horizon]\ntimezone = "America/Los_Angeles"\n{fleet}')
    agg = load_scenario(path)
    trips = agg.fleets[0].trips
    assert trips.first.tolist() == [8] and trips.last.tolist() == [9]  # 24 wall-clock hours would say 7 and 8


def test_validation_checks_the_zone_its_rules_and_the_currency():
    import tomllib

    from aggregator.scenario import DEFAULT_SCENARIO, validate_scenario

    for table, text, message in (
        ("horizon", 'timezone = "Mars/Olympus"', r"\[horizon\] timezone = 'Mars/Olympus': not a time zone"),
        ("horizon", 'ambiguous = "latest"', r"\[horizon\] ambiguous is given without \[horizon\] timezone"),
        ("horizon", 'timezone = "UTC"\nnonexistent = "skip"', r"\[horizon\] nonexistent = 'skip': expected one of"),
        ("prices", "currency = 3", r"\[prices\] currency = 3: expected a short label"),
    ):
        data = tomllib.loads(DEFAULT_SCENARIO)
        data.setdefault(table, {}).update(tomllib.loads(text))
        with pytest.raises(InputError, match=message):
            validate_scenario(data)
