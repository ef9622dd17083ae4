"""The command line, run in a subprocess as a user would."""

from __future__ import annotations

import json
import re

import pytest
import xarray as xr

from conftest import REPO, run_cli


def test_default_run_prints_a_summary():
    p = run_cli("run")
    assert p.returncode == 0, p.stderr
    assert "profit" in p.stdout and "residential" in p.stdout
    assert "Traceback" not in p.stderr


def test_json_schema():
    p = run_cli("run", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)  # exactly one JSON object, nothing else on stdout
    for key in ("status", "profit", "objective", "penalty", "bound", "gap", "solve_seconds", "fleets", "slack_kwh"):
        assert key in data
    assert data["status"] == "optimal"
    assert set(data["fleets"]) == {"residential", "workplace", "delivery_vans"}
    for fleet in data["fleets"].values():
        assert set(fleet) >= {"profit", "charged_kwh", "discharged_kwh"}
    assert abs(sum(f["profit"] for f in data["fleets"].values()) - data["profit"]) < 1e-6
    assert data["gap"] <= 1e-4


def test_out_netcdf_and_csv(tmp_path):
    nc, csv = tmp_path / "r.nc", tmp_path / "r.csv"
    assert run_cli("run", "--hours", "24", "--out", str(nc)).returncode == 0
    assert run_cli("run", "--hours", "24", "--out", str(csv)).returncode == 0
    ds = xr.open_dataset(nc)
    assert ds["charge"].attrs["units"] == "kW" and ds.attrs["status"] == "optimal"
    assert ds.sizes["time"] == 24
    assert csv.read_text().splitlines()[0].startswith("time,fleet,")


def test_bad_file_exits_2_naming_it(tmp_path):
    bad = tmp_path / "prices.csv"
    bad.write_text("hour,price\n1,30\n2,abc\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[prices]\nsource = "csv"\npath = "prices.csv"\n'
        '[[fleets]]\nname = "a"\nvehicles = 1\nbattery_kwh = 10\ncharger_kw = 5\navailability = 1.0\n'
    )
    p = run_cli("run", str(scenario))
    assert p.returncode == 2
    assert "prices.csv" in p.stderr and "line 3" in p.stderr and "'price'" in p.stderr
    assert "Traceback" not in p.stderr


def test_out_into_missing_folder_is_an_error(tmp_path):
    p = run_cli("run", "--out", str(tmp_path / "missing" / "r.nc"))
    assert p.returncode == 2 and "does not exist" in p.stderr


def test_seed_scenario_file_solves_a_week_to_optimality(seed):
    p = run_cli("run", str(REPO / "examples" / "scenarios" / "seed_case0_multi.toml"), "--hours", "168", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["status"] == "optimal" and data["gap"] <= 1e-4
    assert len(data["fleets"]) == 4


def test_solvers_and_plugins_listings():
    p = run_cli("solvers")
    assert p.returncode == 0 and "highs" in p.stdout
    p = run_cli("plugins")
    assert p.returncode == 0 and "price sources" in p.stdout and "csv" in p.stdout


# ------------------------------------------------------------------ polish (issue 15)
def test_run_out_says_what_it_wrote(tmp_path):
    out = tmp_path / "r.nc"
    p = run_cli("run", "--hours", "24", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert f"wrote {out} (netCDF: 24 steps x 3 fleets, with units and provenance)" in p.stderr
    quiet = run_cli("-q", "run", "--hours", "24", "--out", str(tmp_path / "r.csv"))
    assert quiet.returncode == 0 and "wrote" not in quiet.stderr


def test_json_has_no_float_noise():
    import json

    p = run_cli("run", "--hours", "48", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["penalty"] == 0.0 and data["slack_kwh"] == 0.0  # nothing was penalised (not 6e-09)
    assert data["objective"] == pytest.approx(data["profit"] - data["penalty"], abs=1e-6)
    numbers = re.findall(r'"(\w+)": (-?\d+\.\d+(?:e-?\d+)?)', p.stdout)
    assert numbers and all(len(v.split(".")[1]) <= 7 for k, v in numbers if "e" not in v), numbers


def test_rounded_summary_keeps_ratios_and_rounds_amounts():
    from aggregator.cli import rounded_summary

    out = rounded_summary({"penalty": 1.36e-08, "gap": 2.8123e-10, "profit": -1e-12, "fleets": {"a": {"profit": 1.123456789}},
                           "solve_seconds": 0.123456, "steps": 3})
    assert out == {"penalty": 0.0, "gap": 2.81e-10, "profit": 0.0, "fleets": {"a": {"profit": 1.1234568}},
                   "solve_seconds": 0.123, "steps": 3}
    assert str(out["profit"]) == "0.0"  # not -0.0


def test_version_and_a_result_file_given_as_scenario(tmp_path):
    p = run_cli("--version")
    assert p.returncode == 0 and p.stdout.startswith("aggregator ")
    result = tmp_path / "r.nc"
    result.write_bytes(b"\x89HDF")
    p = run_cli("run", str(result))
    assert p.returncode == 2
    assert f"{result}: expected a .toml scenario, not a .nc file (to draw a result file: aggregator plot {result})" in p.stderr


def test_solvers_verbose_lists_what_linopy_finds():
    p = run_cli("solvers", "--verbose")
    assert p.returncode == 0, p.stderr
    assert any(line.strip().startswith("solvers linopy finds:") and "highs" in line for line in p.stdout.splitlines())
    assert "solvers linopy finds" not in run_cli("solvers").stdout  # the plain listing imports no linopy
