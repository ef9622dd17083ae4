"""Figures, the run summary and the result file formats (netCDF, Parquet, CSV)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import xarray as xr

from aggregator import Aggregator, Fleet, InputError, PriceSignal, Result
from aggregator.summary import plain_summary, print_summary
from conftest import run_cli

matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install '.[plot]')")


@pytest.fixture(scope="module")
def result() -> Result:
    """Two fleets over three days of hourly prices with a negative midday dip."""
    hours = np.arange(72)
    price = 40 + 30 * np.sin(2 * np.pi * (hours - 13) / 24) - 45 * np.exp(-0.5 * ((hours % 24 - 12) / 1.5) ** 2)
    home = np.where((hours % 24 >= 8) & (hours % 24 < 17), 0.4, 0.95)
    fleets = [
        Fleet("home", vehicles=100, battery_kwh=60, charger_kw=7.2, contract_limit=0.6, initial_soc=0.5,
              availability=home),
        Fleet("depot", vehicles=20, battery_kwh=75, charger_kw=22, contract_limit=0.8, initial_soc=0.3,
              availability=np.full(72, 0.9)),
    ]
    prices = PriceSignal(price, time=None)
    return Aggregator(fleets, prices, name="three-days").solve(solver="highs")


def test_dispatch_figure_has_price_power_and_one_soc_panel_per_fleet(result, tmp_path):
    fig = result.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = fig.get_axes()
    assert len(axes) == 2 + 2
    assert "$/MWh" in axes[0].get_ylabel()
    assert "kW" in axes[1].get_ylabel() or "MW" in axes[1].get_ylabel()
    assert [ax.get_ylabel().split("\n")[0] for ax in axes[2:]] == ["home", "depot"]
    fig.savefig(tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_dispatch_window_and_fleet_selection(result):
    fig = result.plot(start="2024-01-02", days=1, fleets=["depot"])
    axes = fig.get_axes()
    assert len(axes) == 3
    lo, hi = axes[-1].get_xlim()
    assert hi - lo == pytest.approx(1.0)  # matplotlib dates are in days
    with pytest.raises(InputError, match="covers"):
        result.plot(start="2030-01-01")
    with pytest.raises(InputError, match="not in the result"):
        result.plot(fleets=["nope"])
    with pytest.raises(InputError, match="expected one of"):
        result.plot(kind="pie")


def test_monthly_profit_sums_to_the_profit(result):
    table = result.monthly_profit()
    assert list(table.columns) == ["home", "depot"]
    assert table.to_numpy().sum() == pytest.approx(result.profit, rel=1e-9, abs=1e-6)
    daily = result.monthly_profit("D")
    assert len(daily) == 3
    fig = result.plot("monthly")
    assert "profit" in fig.get_axes()[0].get_ylabel()


def test_parquet_round_trip_keeps_units_and_provenance(result, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (pip install '.[parquet]')")
    path = result.to_parquet(tmp_path / "r.parquet")
    schema = pq.read_schema(path)
    assert schema.field("charge").metadata[b"units"] == b"kW"
    assert schema.field("soc").metadata[b"units"] == b"kWh"
    assert schema.field("price").metadata[b"units"] == b"$/MWh"
    meta = json.loads(schema.metadata[b"aggregator"])
    prov = meta["provenance"]
    assert prov["solver"].startswith("highs") and prov["status"] == "optimal"
    assert len(prov["inputs_hash"]) == 64 and "linopy" in prov["versions"]
    back = Result.read(path)
    xr.testing.assert_allclose(back.dataset["soc"], result.dataset["soc"])
    assert back.profit == pytest.approx(result.profit)
    assert back.violations()["balance"] < 1e-6
    assert not list(tmp_path.glob(".*part"))  # written atomically, nothing left behind


def test_inputs_hash_identifies_the_problem(result):
    again = Aggregator(
        [Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10, availability=[1, 1])], PriceSignal([10.0, 100.0])
    ).solve(solver="highs")
    assert again.provenance["inputs_hash"] != result.provenance["inputs_hash"]
    assert len(result.provenance["inputs_hash"]) == 64


def test_plain_summary_has_one_row_per_fleet_and_no_escape_codes(result):
    text = plain_summary(result)
    assert "\x1b[" not in text
    lines = text.splitlines()
    assert any(line.startswith("home ") for line in lines) and any(line.startswith("depot ") for line in lines)
    assert any(line.startswith("total ") for line in lines)
    stream = io.StringIO()  # not a terminal: plain
    print_summary(result, stream)
    assert stream.getvalue() == text


def test_colour_summary_is_a_table(result):
    pytest.importorskip("rich")
    stream = io.StringIO()
    print_summary(result, stream, colour=True)
    text = stream.getvalue()
    assert "\x1b[" in text and "home" in text and "depot" in text and "cycles" in text


def test_cli_parquet_out_then_plot(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    from aggregator.cli import main

    out = tmp_path / "r.parquet"
    p = run_cli("run", "--hours", "48", "--out", str(out))  # as a user runs it, in a subprocess
    assert p.returncode == 0, p.stderr
    meta = json.loads(__import__("pyarrow.parquet").parquet.read_schema(out).metadata[b"aggregator"])
    assert len(meta["provenance"]["scenario_hash"]) == 64
    p = run_cli("plot", str(out))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "r-dispatch.png").stat().st_size > 10_000
    # The rest in this process (same code path, without the start-up time).
    assert main(["plot", str(out), "--kind", "monthly", "--out", str(tmp_path / "m.svg")]) == 0
    assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")
    for args, words in [
        (["--start", "2031-01-01"], "covers"),
        (["--out", str(tmp_path / "x.gif")], "image format"),
        (["--kind", "monthly", "--days", "2"], "dispatch only"),
        (["--out", str(tmp_path / "missing" / "x.png")], "does not exist"),
    ]:
        capsys.readouterr()
        assert main(["plot", str(out), *args]) == 2, args
        assert words in capsys.readouterr().err, args
    assert main(["plot", str(tmp_path / "missing.nc")]) == 2
    assert "not found" in capsys.readouterr().err


def test_nan_free_summary_for_result_without_solution():
    fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10, availability=[1])
    result = Aggregator([fleet], PriceSignal([10.0])).solve(solver="highs")
    broken = Result(result.dataset.copy())
    for var in ("charge", "discharge", "soc", "slack_up", "slack_down"):
        broken.dataset[var] = broken.dataset[var] * math.nan
    broken.dataset.attrs["status"] = "infeasible"
    assert "infeasible" in plain_summary(broken)
    with pytest.raises(InputError, match="no solution"):
        broken.plot()


def test_quiet_means_errors_only(tmp_path):
    from aggregator.scenario import DEFAULT_SCENARIO

    scenario = tmp_path / "warns.toml"  # the workplace fleet starts fuller than its first step allows
    scenario.write_text(DEFAULT_SCENARIO.replace("initial_soc = 0.1", "initial_soc = 1.0"))
    loud = run_cli("run", str(scenario), "--hours", "24")
    quiet = run_cli("-q", "run", str(scenario), "--hours", "24")
    assert loud.returncode == quiet.returncode == 0
    assert "warning:" in loud.stderr and quiet.stderr == ""
    assert "profit" in quiet.stdout  # the summary is output, not logging: -q keeps it


# ------------------------------------------------- figures people look at (issue 15)
def _in_zone(result: Result, zone: str, currency: str | None = None) -> Result:
    """The result as the price readers label a zoned one: UTC times, the zone as the coordinate's attribute."""
    ds = result.dataset.copy()
    ds["time"].attrs["timezone"] = zone
    if currency:
        ds.attrs["currency"] = currency
    return Result(ds)


def test_power_is_stacked_by_fleet_with_the_net_total(result):
    fig = result.plot()
    power = fig.get_axes()[1]
    labels = [t.get_text() for t in power.get_legend().get_texts()]
    assert labels == ["home", "depot", "net total"]
    # the top of the charging stack is the fleets' summed charging, in the panel's unit
    charge = result.dataset["charge"].sum("fleet").to_numpy()
    tops = np.concatenate([c.get_paths()[0].vertices[:, 1] for c in power.collections[:1]])
    assert tops.max() * (1000 if "MW" in power.get_ylabel() else 1) == pytest.approx(
        result.dataset["charge"].sel(fleet="home").max().item(), rel=1e-9)
    assert charge.max() > 0


def test_many_fleets_are_drawn_as_totals_with_the_rest_grouped():
    hours = np.arange(48)
    fleets = [Fleet(f"f{i:02d}", vehicles=10 + i, battery_kwh=40, charger_kw=7, initial_soc=0.5,
                    availability=np.full(48, 0.9)) for i in range(20)]
    price = 40 + 30 * np.sin(2 * np.pi * hours / 24)
    many = Aggregator(fleets, PriceSignal(price)).solve()
    fig = many.plot()
    axes = fig.get_axes()
    assert len(axes) == 3 and axes[2].get_ylabel().startswith("all 20\nfleets")
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert len(labels) == 9 and labels[-2:] == ["13 other fleets", "net total"]
    # the largest fleets (most energy moved) keep their own band
    assert set(labels[:7]) == {f"f{i}" for i in range(13, 20)}
    assert len(many.plot(fleets=["f00", "f01"]).get_axes()) == 4  # the selector shows fleets one by one
    bars = many.plot("monthly").get_axes()[0].get_legend().get_texts()
    assert [t.get_text() for t in bars][-1] == "13 other fleets"


def test_time_axis_and_titles_are_in_the_results_zone(result):
    zoned = _in_zone(result, "America/Los_Angeles", "USD")
    fig = zoned.plot()
    axes = fig.get_axes()
    assert axes[-1].get_xlabel() == "time (America/Los_Angeles)"
    # 2024-01-01 00:00 UTC is 2023-12-31 16:00 in Los Angeles
    assert axes[0].get_title(loc="left").endswith("2023-12-31 16:00 to 2024-01-03 16:00 America/Los_Angeles")
    assert axes[0].get_ylabel() == "price\nUSD/MWh"
    assert result.plot().get_axes()[-1].get_xlabel() == "time (UTC)"
    # --start is a date in the result's zone: Jan 1 local starts 8 hours into the UTC day
    window = zoned.plot(start="2024-01-01", days=1).get_axes()[0].get_title(loc="left")
    assert "2024-01-01 00:00 to 2024-01-02 00:00 America/Los_Angeles" in window


def test_profit_per_day_follows_the_zones_calendar(result):
    zoned = _in_zone(result, "America/Los_Angeles")
    daily = zoned.monthly_profit("D")
    # 72 hours from 16:00 local on Dec 31: four local days (8 + 24 + 24 + 16 hours)
    assert [f"{t:%Y-%m-%d}" for t in daily.index] == ["2023-12-31", "2024-01-01", "2024-01-02", "2024-01-03"]
    ds = result.dataset
    hourly = (ds["price"] / 1000 * (ds["discharge"] - ds["charge"])).sum("fleet").to_numpy()
    assert daily.sum(axis=1).to_numpy() == pytest.approx(
        [hourly[:8].sum(), hourly[8:32].sum(), hourly[32:56].sum(), hourly[56:].sum()], rel=1e-9, abs=1e-9)


def test_the_monthly_chart_of_a_short_run_has_a_bar_per_day(result):
    from aggregator.plotting import profit_period

    assert profit_period(result) == "D"
    ax = result.plot("monthly").get_axes()[0]
    assert len(ax.get_xticks()) == 3 and "per day" in ax.get_title(loc="left")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Mon\nJan 01", "Tue\n02", "Wed\n03"]


def test_cli_plot_dpi(tmp_path):
    from matplotlib.image import imread

    from aggregator.cli import main

    out = tmp_path / "r.nc"
    assert main(["run", "--hours", "48", "--out", str(out)]) == 0
    assert main(["plot", str(out), "--out", str(tmp_path / "default.png")]) == 0
    assert main(["plot", str(out), "--dpi", "100", "--out", str(tmp_path / "screen.png")]) == 0
    default, screen = (imread(tmp_path / f"{n}.png").shape[1] for n in ("default", "screen"))
    assert default / screen == pytest.approx(3.0, rel=0.02)  # the default is 300 dpi: fit for print
    assert default >= 7 * 200
    assert main(["plot", str(out), "--dpi", "0"]) == 2
