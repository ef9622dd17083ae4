"""Special files and big files as inputs (issue 10, item 11).

A FIFO given as a scenario, price, availability, sweep or result path used to
block the program forever (nobody writes to it), and ``/dev/zero`` was read
until memory ran out.  Every path the program opens for reading must be a
regular file; anything else is one message naming the path, exit code 2.  Each
case runs the real command line in a subprocess with a timeout (a hang fails
the test instead of hanging it) and an address-space limit (``/dev/zero`` cannot
take the machine's memory even on code that would read it).

A big price file of which the horizon uses 48 rows is read only that far: a
broken row after the horizon is never reached, and the table holds 48 rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aggregator import InputError, Result
from aggregator.csv_input import read_csv_table
from aggregator.scenario import load_scenario
from conftest import REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (os.mkfifo) need a POSIX system")

TIMEOUT = 120  # seconds: far above the ~5 s a refusal takes under load; a blocked read never ends

SCENARIO = """\
[prices]
source = "csv"
path = "{prices}"
column = "price"

[horizon]
hours = {hours}

[solver]
name = "dp"

[[fleets]]
name = "a"
vehicles = 10
battery_kwh = 30
charger_kw = 7.2
availability = {{ model = "csv", path = "{avail}", column = "car_a" }}
"""


def write_inputs(folder: Path, prices: str = "prices.csv", avail: str = "avail.csv", hours: int = 24) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    time = pd.date_range("2024-01-01", periods=hours, freq="h")
    pd.DataFrame({"time": time, "price": 30.0 + 50.0 * (time.hour >= 17)}).to_csv(folder / "prices.csv", index=False)
    pd.DataFrame({"car_a": np.full(hours, 0.9)}).to_csv(folder / "avail.csv", index=False)
    scenario = folder / "s.toml"
    scenario.write_text(SCENARIO.format(prices=prices, avail=avail, hours=hours))
    return scenario


def _limit_memory() -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The real command line, with a timeout and at most 3 GiB of address space."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "aggregator", *args], cwd=folder, capture_output=True, text=True,
            timeout=TIMEOUT, preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"aggregator {' '.join(args)} blocked for {TIMEOUT} s (it read a FIFO or a device)")


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _cases(root: Path) -> list[tuple[str, Path, tuple[str, ...], tuple[str, ...]]]:
    """(id, folder, command-line arguments, words the message must hold)."""
    cases = []
    folder = root / "scenario"
    write_inputs(folder)
    fifo(folder / "pipe.toml")
    cases.append(("scenario-fifo", folder, ("run", "pipe.toml"), ("pipe.toml", "FIFO", "not a regular file")))

    folder = root / "prices"
    write_inputs(folder, prices="pipe.csv")
    fifo(folder / "pipe.csv")
    cases.append(("prices-fifo", folder, ("run", "s.toml"), ("pipe.csv", "FIFO", "not a regular file", "CSV")))

    folder = root / "avail"
    write_inputs(folder, avail="pipe.csv")
    fifo(folder / "pipe.csv")
    cases.append(("availability-fifo", folder, ("run", "s.toml"), ("pipe.csv", "FIFO", "fleet", "not a regular file")))

    folder = root / "symlink"
    write_inputs(folder, prices="link.csv")
    fifo(folder / "pipe.csv")
    (folder / "link.csv").symlink_to(folder / "pipe.csv")
    cases.append(("prices-symlink-to-fifo", folder, ("run", "s.toml"), ("link.csv", "FIFO")))

    folder = root / "zero"
    write_inputs(folder, prices="/dev/zero")
    cases.append(("prices-dev-zero", folder, ("run", "s.toml"), ("/dev/zero", "character device", "not a regular file")))

    folder = root / "sweep"
    write_inputs(folder)
    fifo(folder / "sweep.toml")
    cases.append(("sweep-fifo", folder, ("sweep", "sweep.toml", "--out", "out"), ("sweep.toml", "FIFO")))

    folder = root / "sweep-base"
    write_inputs(folder)
    fifo(folder / "base.toml")
    (folder / "sweep.toml").write_text('base = "base.toml"\n[axes]\n"fleets.*.vehicles" = [10, 20]\n')
    cases.append(("sweep-base-fifo", folder, ("sweep", "sweep.toml", "--out", "out"), ("base.toml", "FIFO")))

    folder = root / "result"
    folder.mkdir()
    fifo(folder / "r.nc")
    cases.append(("result-fifo", folder, ("plot", "r.nc", "--out", "r.png"), ("r.nc", "FIFO")))
    return cases


def test_special_files_are_refused_naming_the_path(tmp_path):
    cases = _cases(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda c: (c, run(c[1], *c[2])), cases))
    failures = []
    for (case_id, _, _, words), p in outcomes:
        missing = [w for w in words if w.lower() not in p.stderr.lower()]
        if p.returncode != 2 or missing or "Traceback" in p.stderr or len(p.stderr.strip().splitlines()) != 1:
            failures.append(f"{case_id}: exit {p.returncode}, lacks {missing}: {p.stderr.strip()[-400:]}")
    assert not failures, "\n".join(failures)


def test_python_api_refuses_special_files(tmp_path):
    from aggregator import PriceSignal

    pipe = fifo(tmp_path / "pipe.csv")
    with pytest.raises(InputError, match="FIFO"):
        PriceSignal.from_csv(pipe)
    with pytest.raises(InputError, match="FIFO"):
        Result.read(fifo(tmp_path / "r.nc"))
    with pytest.raises(InputError, match="character device"):
        read_csv_table("/dev/zero")


# ------------------------------------------------------------------ big files, read only as far as needed

def big_price_file(path: Path, rows: int, broken_line: int | None = None) -> Path:
    """A price file like the study's (a row number, a date, a price); a broken row at ``broken_line``."""
    time = pd.date_range("2024-01-01", periods=rows, freq="h")
    frame = pd.DataFrame({"": np.arange(1, rows + 1), "Date": time, "Weighted_Avg_Price": 40.0 + (time.hour >= 17)})
    frame.to_csv(path, index=False)
    if broken_line is not None:
        lines = path.read_text().splitlines()
        lines[broken_line - 1] += ",1,2"  # two fields too many: read, this row is an error
        path.write_text("\n".join(lines) + "\n")
    return path


def test_only_the_rows_the_horizon_needs_are_read(tmp_path):
    path = big_price_file(tmp_path / "prices.csv", 200_000, broken_line=100_000)
    # Read whole, the broken row is found and named ...
    with pytest.raises(InputError, match="line 100000: found 5 fields, expected 3"):
        read_csv_table(path)
    # ... read for a 48-hour horizon, it is never reached: 48 rows are parsed.
    table = read_csv_table(path, rows=48)
    assert len(table) == 48 and list(table.index[[0, -1]]) == [2, 49]
    assert table.attrs["complete"] is False
    scenario = tmp_path / "s.toml"
    scenario.write_text(textwrap.dedent("""\
        [prices]
        path = "prices.csv"
        [horizon]
        hours = 48
        [[fleets]]
        name = "a"
        vehicles = 10
        battery_kwh = 30
        charger_kw = 7.2
        availability = { model = "csv", path = "avail.csv" }
    """))
    (tmp_path / "avail.csv").write_text("share\n" + "0.9\n" * 48)
    agg = load_scenario(scenario)
    assert agg.steps == 48
    np.testing.assert_array_equal(agg.prices.values, 40.0 + (agg.prices.time.hour >= 17))


def test_a_short_file_still_names_both_lengths(tmp_path):
    path = big_price_file(tmp_path / "prices.csv", 30)
    table = read_csv_table(path, rows=48)
    assert len(table) == 30 and table.attrs["complete"] is True
