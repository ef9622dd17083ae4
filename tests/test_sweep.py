"""Sweeps: expansion, validation, atomic and resumable results, failure isolation, a real Dask cluster."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aggregator import InputError
from aggregator.scenario import scenario_from_dict, scenario_hash
from aggregator.sweep import open_sweep, read_sweep, solve_fleets, sweep, sweep_command

from conftest import run_cli

pytest.importorskip("distributed", reason="sweeps run on dask.distributed (pip install -e '.[test]')")

BASE = """\
name = "synthetic-pair"

[prices]
source = "synthetic"
seed = 1

[horizon]
hours = {hours}

[solver]
name = "{solver}"

[[fleets]]
name = "homes"
vehicles = 100
battery_kwh = 40
charger_kw = 7
contract_limit = 0.5
initial_soc = 0.5
availability = {{ model = "synthetic", pattern = "residential", seed = 1 }}

[[fleets]]
name = "depot"
vehicles = 20
battery_kwh = 80
charger_kw = 22
contract_limit = 0.8
initial_soc = 0.05
availability = {{ model = "synthetic", pattern = "commercial", seed = 2 }}
"""

SWEEP = """\
base = "base.toml"
[axes]
"prices.seed" = [1, 2]
"fleets.*.contract_limit" = [0.4, 0.8]
"""

NUMERIC = ["profit", "charged_kwh", "discharged_kwh", "slack_kwh", "objective", "bound"]


def write_sweep(folder: Path, sweep_text: str = SWEEP, hours: int = 48, solver: str = "auto", fleets: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = BASE.format(hours=hours, solver=solver)
    if fleets == 1:
        base = base.split('\n[[fleets]]\nname = "depot"')[0]
    (folder / "base.toml").write_text(base)
    path = folder / "sweep.toml"
    path.write_text(sweep_text)
    return path


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["scenario", "fleet"]).reset_index(drop=True)


def assert_same_summary(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = by_key(a), by_key(b)
    assert list(a["scenario"]) == list(b["scenario"])
    assert list(a["fleet"]) == list(b["fleet"])
    assert list(a["status"]) == list(b["status"])
    for column in NUMERIC:
        np.testing.assert_allclose(a[column].to_numpy(float), b[column].to_numpy(float), rtol=1e-9, atol=1e-6)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the small sweep solved in this process."""
    folder = tmp_path_factory.mktemp("local")
    path = write_sweep(folder)
    report = sweep(path, folder / "out", workers=0, progress=False)
    return path, report


# ------------------------------------------------------------------ expansion
def test_expansion_is_the_product_with_selectors_and_paths(tmp_path):
    path = write_sweep(
        tmp_path,
        'base = "base.toml"\n[axes]\n'
        '"fleets.*.contract_limit" = [0.3, 0.6]\n'
        '"fleets.depot.vehicles" = [10, 30, 50]\n'
        '"fleets.homes.availability" = [1.0, { model = "csv", path = "data/homes.csv", column = "k" }]\n',
    )
    spec = read_sweep(path)
    points = spec.points()
    assert len(points) == 2 * 3 * 2
    assert [a.dim for a in spec.axes] == ["fleets_contract_limit", "fleets_depot_vehicles", "fleets_homes_availability"]
    assert len({p.hash for p in points}) == len(points)
    last = points[-1]
    homes, depot = last.scenario["fleets"]
    assert homes["contract_limit"] == depot["contract_limit"] == 0.6  # * = every fleet
    assert depot["vehicles"] == 50 and homes["vehicles"] == 100  # a name selects one fleet
    assert homes["availability"]["path"] == str((tmp_path / "data" / "homes.csv").resolve())  # relative to the sweep file
    assert last.values["fleets.depot.vehicles"] == 50 and last.index == len(points) - 1
    # The hash is the content hash of the expanded scenario: stable, key order irrelevant.
    reordered = dict(reversed(list(last.scenario.items())))
    assert scenario_hash(reordered) == last.hash == read_sweep(path).points()[-1].hash
    # The base scenario is not changed by the expansion.
    assert spec.base["fleets"][0]["contract_limit"] == 0.5


@pytest.mark.parametrize(
    "text, expected",
    [
        ('base = "base.toml"\n[axes]\n"fleets.*.contract_limt" = [0.5]\n', "did you mean 'contract_limit'"),
        ('base = "base.toml"\n[axes]\n"fleets.vans.vehicles" = [5]\n', "no fleet named 'vans'"),
        ('base = "base.toml"\n[axes]\n"pricez.seed" = [1]\n', "'pricez'"),
        ('base = "base.toml"\n[axes]\n"horizon.hours" = ["many"]\n', "expected a number"),
        ('base = "base.toml"\n[axes]\n"fleets.*.contract_limit" = [0.5, 1.5]\n', "contract_limit = 1.5"),
        ('base = "base.toml"\n[axes]\n"prices.seed" = []\n', "non-empty list"),
        ('base = "base.toml"\n[axes]\n"prices.seed" = [1, 1]\n', "appears twice"),
        ('base = "missing.toml"\n', "not found"),
        ('base = "base.toml"\naxis = 1\n', "did you mean 'axes'"),
        ('base = "base.toml"\n[axes]\n"horizon.rolling" = [{ window_hours = 24, commit_hours = 48 }]\n', "commit_hours"),
    ],
)
def test_bad_sweep_files_name_the_key(tmp_path, text, expected):
    path = write_sweep(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_sweep(path)
    assert expected in str(info.value)
    assert str(path.name) in str(info.value) or "missing.toml" in str(info.value)


def test_bad_sweep_file_exits_2_without_traceback(tmp_path):
    path = write_sweep(tmp_path, 'base = "base.toml"\n[axes]\n"fleets.*.chargr_kw" = [7]\n')
    p = run_cli("sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "0")
    assert p.returncode == 2, p.stderr
    assert "'fleets.*.chargr_kw'" in p.stderr and "charger_kw" in p.stderr
    assert "Traceback" not in p.stderr


# ------------------------------------------------------------------- results
def test_results_summary_provenance_and_combined_view(local_run):
    path, report = local_run
    out = report.out
    assert report.exit_code == 0 and not report.failed and len(report.solved) == 4
    files = sorted((out / "results").glob("*.nc"))
    assert len(files) == 4 and {f.stem for f in files} == {p.short for p in report.points}
    summary = pd.read_csv(out / "summary.csv")
    parquet = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == len(parquet) == 4 * 2  # one row per scenario and fleet
    for column in ("prices.seed", "fleets.*.contract_limit", "fleet", "profit", "charged_kwh", "discharged_kwh",
                   "slack_kwh", "status", "gap", "seconds"):
        assert column in summary.columns and column in parquet.columns
    assert set(summary["status"]) == {"optimal"}
    point = report.points[3]
    with xr.open_dataset(out / "results" / f"{point.short}.nc") as ds:
        assert ds.attrs["scenario_hash"] == point.hash
        assert json.loads(ds.attrs["scenario"]) == point.scenario
        versions = json.loads(ds.attrs["versions"])
        assert {"aggregator", "xarray", "dask"} <= set(versions)
        assert ds.attrs["solver"]
        assert float(ds["fleets_contract_limit"]) == 0.8 and int(ds["prices_seed"]) == 2
        # The gathered per-fleet solve is the solve of the whole scenario.
        direct = scenario_from_dict(point.scenario, path.parent).solve()
        assert ds.attrs["objective"] == pytest.approx(direct.objective, rel=1e-6, abs=1e-6)
        assert ds.attrs["gap"] <= 1e-4
    combined = open_sweep(out)
    assert combined["charge"].dims == ("prices_seed", "fleets_contract_limit", "time", "fleet")
    assert combined.sizes["prices_seed"] == 2 and combined.sizes["fleets_contract_limit"] == 2
    profit = combined["profit"].sel(prices_seed=2, fleets_contract_limit=0.8).item()
    assert profit == pytest.approx(summary[summary["scenario"] == point.short]["profit"].sum())
    # The files open with plain xarray too (open_mfdataset with the preprocess).
    from aggregator.sweep import as_sweep_dims

    again = xr.open_mfdataset(sorted(map(str, files)), preprocess=as_sweep_dims, combine="by_coords")
    np.testing.assert_allclose(again["soc"].values, combined["soc"].values)


def test_partial_and_foreign_files_are_not_trusted(local_run, tmp_path):
    path, reference = local_run
    out = tmp_path / "out"
    shutil.copytree(reference.out, out)
    points = reference.points
    truncated = out / "results" / f"{points[0].short}.nc"
    truncated.write_bytes(truncated.read_bytes()[:2000])  # as a non-atomic writer killed mid-way would leave it
    (out / "results" / f"{points[1].short}.nc").write_text("not netCDF")
    foreign = out / "results" / f"{points[2].short}.nc"
    with xr.open_dataset(foreign) as ds:
        other = ds.load()
    other.attrs["scenario_hash"] = "0" * 64  # a file of another scenario under this name
    foreign.unlink()
    other.to_netcdf(foreign)
    stale = out / "results" / f".{points[3].short}.nc.abc.part"  # what atomic_path leaves when SIGKILLed
    stale.write_bytes(b"partial")
    report = sweep(path, out, workers=0, progress=False)
    assert set(report.solved) == {p.hash for p in points[:3]}
    assert report.skipped == [points[3].hash]
    assert not stale.exists()
    assert_same_summary(report.summary, reference.summary)


def test_failure_is_isolated_and_counted(tmp_path):
    (tmp_path / "good.csv").write_text("hour,price\n" + "".join(f"{h},{30 + 40 * (h % 24 > 16)}\n" for h in range(48)))
    (tmp_path / "bad.csv").write_text("hour,price\n1,30\n2,abc\n")
    base = (
        '[prices]\nsource = "csv"\npath = "good.csv"\n[horizon]\nhours = 48\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\navailability = 0.8\n'
    )
    (tmp_path / "base.toml").write_text(base)
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n[axes]\n"prices.path" = ["good.csv", "bad.csv"]\n"fleets.a.vehicles" = [10, 20]\n')
    # the command line checks every scenario's input first (test_bad_input_fails_before_anything_is_solved);
    # a scenario that fails while solving is isolated: here a bad file the check is told to leave alone
    assert sweep_command(path, out=tmp_path / "out", workers=0, quiet=True, check_inputs=False) == 1
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    failed = summary[summary["status"] == "failed"]
    assert len(failed) == 2 and set(failed["prices.path"]) == {"bad.csv"}
    assert failed["error"].str.contains("line 3").all()
    assert (summary[summary["status"] == "optimal"]["prices.path"] == "good.csv").all()
    assert len(list((tmp_path / "out" / "results").glob("*.nc"))) == 2
    # A re-run tries the failed ones again and keeps the others.
    report = sweep(path, tmp_path / "out", workers=0, progress=False, check_inputs=False)
    assert len(report.skipped) == 2 and len(report.failed) == 2 and report.exit_code == 1


def test_bad_input_fails_before_anything_is_solved(tmp_path):
    # nine scenarios; the 4th to 9th name a bad or a missing price file: one message naming the first bad
    # scenario, its file and line, and the others' numbers; exit 2; nothing solved, no cluster started
    (tmp_path / "good.csv").write_text("hour,price\n" + "".join(f"{h},{30 + 40 * (h % 24 > 16)}\n" for h in range(48)))
    (tmp_path / "bad.csv").write_text("hour,price\n1,30\n2,abc\n")
    (tmp_path / "base.toml").write_text(
        '[prices]\nsource = "csv"\npath = "good.csv"\n[horizon]\nhours = 48\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\navailability = 0.8\n'
    )
    path = tmp_path / "sweep.toml"
    path.write_text(
        'base = "base.toml"\n[axes]\n"prices.path" = ["good.csv", "bad.csv", "missing.csv"]\n'
        '"fleets.a.vehicles" = [10, 20, 30]\n'
    )
    p = run_cli("sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "2")
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith(f"aggregator: error: {path}: scenario 4 of 9: base.toml [prices.path=bad.csv, ")
    assert "bad.csv, line 3, column 'price': found 'abc'" in lines[0]
    assert "5 more scenarios with bad input (5, 6, 7, 8, 9); nothing was solved" in lines[0]
    assert not list((tmp_path / "out").rglob("*.nc")) and "Dask" not in p.stderr


# -------------------------------------------------------------------- resume
def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    text = 'base = "base.toml"\n[axes]\n"prices.seed" = [1, 2, 3, 4]\n"fleets.*.contract_limit" = [0.4, 0.8]\n'
    path = write_sweep(tmp_path / "s", text, hours=72, fleets=1)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "aggregator", "sweep", str(path), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if list((out / "results").glob("*.nc.sha256")):
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the sweep ended before it could be interrupted: " + proc.stderr.read().decode()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes, as on a lost machine
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    # A result counts as done once its checksum is written beside it (a file without one is solved again).
    done = [p for p in (out / "results").glob("*.nc") if p.with_name(p.name + ".sha256").exists()]
    assert 0 < len(done) < 8
    resumed = sweep(path, out, workers=0, progress=False)
    assert resumed.exit_code == 0
    assert set(resumed.skipped) >= {p.hash for p in resumed.points if p.short in {f.stem for f in done}}
    assert len(resumed.skipped) + len(resumed.solved) == 8
    fresh = sweep(path, tmp_path / "fresh", workers=0, progress=False)
    assert_same_summary(resumed.summary, fresh.summary)
    assert not list(out.rglob("*.part"))


# -------------------------------------------------------------- dask cluster
def _dask(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "dask", *args]


def test_real_cluster_gives_the_local_results(local_run, tmp_path):
    """A scheduler and two workers as separate processes, the sweep submitted from the command line."""
    path, reference = local_run
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file), *common),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler_file.exists(), "dask scheduler did not start"
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    _dask("worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--host", "127.0.0.1",
                          "--no-nanny", "--memory-limit", "2GB", *common),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )
        p = run_cli("sweep", str(path), "--scheduler", str(scheduler_file), "--out", str(tmp_path / "out"))
        assert p.returncode == 0, p.stderr
        assert "connected to" in p.stderr
        assert_same_summary(pd.read_csv(tmp_path / "out" / "summary.csv"), reference.summary)
        # Many fleets in one scenario: one task per fleet on the same cluster, gathered into one Result.
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file)) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            aggregator = scenario_from_dict(reference.points[0].scenario, path.parent)
            gathered = solve_fleets(aggregator, client=client)
        direct = aggregator.solve()
        assert "2 independent fleet tasks" in gathered.dataset.attrs["solver_choice"]
        assert gathered.objective == pytest.approx(direct.objective, rel=1e-6)
        assert gathered.bound >= gathered.objective - 1e-6
        from aggregator.solvers import relative_gap

        assert gathered.gap == pytest.approx(relative_gap(gathered.objective, gathered.bound), abs=1e-12)
        assert gathered.bound >= gathered.objective
        assert max(gathered.violations().values()) < 1e-6
    finally:
        # Workers first, while their scheduler is still there to say goodbye to, then the scheduler.
        for group in (processes[1:], processes[:1]):
            for proc in group:
                proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


# ------------------------------------------------------- what resume trusts
def _csv_sweep(folder: Path, hours: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prices.csv").write_text("hour,price\n" + "".join(f"{h},{30 + 40 * (h % 24 > 16)}\n" for h in range(hours)))
    (folder / "base.toml").write_text(
        f'[prices]\nsource = "csv"\npath = "prices.csv"\n[horizon]\nhours = {hours}\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\navailability = 0.8\n'
    )
    path = folder / "sweep.toml"
    path.write_text('base = "base.toml"\n[axes]\n"fleets.a.vehicles" = [10, 20]\n')
    return path


def test_resume_solves_again_when_an_input_file_changed(tmp_path):
    path = _csv_sweep(tmp_path / "s")
    out = tmp_path / "out"
    first = sweep(path, out, workers=0, progress=False)
    # The same scenario text, other data: prices doubled.
    prices = path.parent / "prices.csv"
    prices.write_text("hour,price\n" + "".join(f"{h},{2 * (30 + 40 * (h % 24 > 16))}\n" for h in range(48)))
    stream = io.StringIO()
    again = sweep(path, out, workers=0, progress=True, stream=stream)
    assert again.skipped == [] and len(again.solved) == 2, "results of the old prices were reused"
    assert "input files" in stream.getvalue()
    profits = again.summary.set_index("scenario")["profit"]
    for scenario, profit in first.summary.set_index("scenario")["profit"].items():
        assert profits[scenario] == pytest.approx(2 * profit, rel=1e-6)  # linear in the price
    fresh = sweep(path, tmp_path / "fresh", workers=0, progress=False)
    assert_same_summary(again.summary, fresh.summary)
    # Unchanged inputs: everything is reused.
    assert len(sweep(path, out, workers=0, progress=False).skipped) == 2


def _overwrite_prices_in_place(path: Path, count: int = 512) -> None:
    """Overwrite 4 KiB of the stored price array with NaN, in place (the file still opens)."""
    with xr.open_dataset(path) as ds:
        prices = ds["price"].to_numpy()
    data = bytearray(path.read_bytes())
    for raw in (prices.astype("<f8").tobytes(), prices.astype(">f8").tobytes()):
        at = data.find(raw)
        if at >= 0:
            nan = np.full(count, np.nan, dtype="<f8" if raw == prices.astype("<f8").tobytes() else ">f8")
            data[at : at + 8 * count] = nan.tobytes()
            path.write_bytes(bytes(data))
            return
    raise AssertionError("the price array is not stored contiguously in the file")


def test_resume_does_not_trust_a_file_damaged_in_place(tmp_path):
    path = _csv_sweep(tmp_path / "s", hours=1200)
    out = tmp_path / "out"
    first = sweep(path, out, workers=0, progress=False)
    damaged = out / "results" / f"{first.points[0].short}.nc"
    _overwrite_prices_in_place(damaged)
    with xr.open_dataset(damaged) as ds:  # it opens, with 512 NaN prices, as in the report
        assert int(ds["price"].isnull().sum()) == 512
    stream = io.StringIO()
    again = sweep(path, out, workers=0, progress=True, stream=stream)
    assert again.solved == [first.points[0].hash] and again.skipped == [first.points[1].hash], stream.getvalue()
    assert "do not match the checksum" in stream.getvalue()
    assert_same_summary(again.summary, first.summary)


def test_resume_recomputes_the_figures_of_a_stored_result(tmp_path):
    """A file whose checksum matches but whose figures disagree with its dispatch is solved again."""
    from aggregator.sweep_store import checksum_path, file_digest

    path = _csv_sweep(tmp_path / "s")
    out = tmp_path / "out"
    first = sweep(path, out, workers=0, progress=False)
    for point, change in zip(first.points, ("nan prices", "profit")):
        file = out / "results" / f"{point.short}.nc"
        with xr.open_dataset(file) as ds:
            ds = ds.load()
        if change == "nan prices":
            ds["price"][:12] = np.nan
        else:
            ds.attrs["profit"] = ds.attrs["profit"] + 100.0
        file.unlink()
        ds.to_netcdf(file)
        checksum_path(file).write_text(file_digest(file) + "\n")  # as if it had been written so
    stream = io.StringIO()
    again = sweep(path, out, workers=0, progress=True, stream=stream)
    assert len(again.solved) == 2 and again.skipped == []
    text = stream.getvalue()
    assert "12 values of 'price' are not finite" in text and "not the recorded profit" in text
    assert_same_summary(again.summary, first.summary)


def test_equal_numbers_are_one_axis_value(tmp_path):
    path = write_sweep(tmp_path, 'base = "base.toml"\n[axes]\n"fleets.homes.vehicles" = [100, 100.0]\n')
    with pytest.raises(InputError, match="appears twice"):
        read_sweep(path)
    # The base says 100; an axis value of 100.0 is the same scenario (one hash, one result file).
    path.write_text('base = "base.toml"\n[axes]\n"fleets.homes.vehicles" = [100.0]\n')
    base = read_sweep(path)
    path.write_text('base = "base.toml"\n[axes]\n"fleets.homes.vehicles" = [100]\n')
    assert read_sweep(path).points()[0].hash == base.points()[0].hash


def test_a_failed_scenario_shows_no_profit(tmp_path, capsys):
    (tmp_path / "good.csv").write_text("hour,price\n" + "".join(f"{h},{30 + 40 * (h % 24 > 16)}\n" for h in range(24)))
    (tmp_path / "bad.csv").write_text("hour,price\n1,30\n2,abc\n")
    (tmp_path / "base.toml").write_text(
        '[prices]\nsource = "csv"\npath = "good.csv"\n[horizon]\nhours = 24\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\navailability = 0.8\n'
    )
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n[axes]\n"prices.path" = ["good.csv", "bad.csv"]\n')
    assert sweep_command(path, out=tmp_path / "out", workers=0, quiet=True, check_inputs=False) == 1
    failed = [line for line in capsys.readouterr().out.splitlines() if "bad.csv" in line]
    assert len(failed) == 1 and "failed" in failed[0]
    assert "0.0" not in failed[0].split("failed", 1)[1], failed[0]  # no profit, not zero
