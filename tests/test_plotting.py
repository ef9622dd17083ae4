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
