"""Benchmark the scale features: the seed study's grid as one sweep, and many fleets in one scenario.

Usage::

    python benchmarks/sweep_benchmark.py                         # full: 8760 h, 100/300/1000 fleets
    python benchmarks/sweep_benchmark.py --hours 168 --fleets 10 30   # a quick check
    python benchmarks/sweep_benchmark.py --skip-grid --fleets 1000 --workers 2
    python benchmarks/sweep_benchmark.py --skip-grid --fleets 100 1000 10000   # issue 14's rows

Two parts, each run as a fresh ``aggregator`` command in a subprocess (so the
numbers are what a user sees), with the peak memory summed over the whole
process tree (the command and its Dask workers), sampled every 0.2 s:

1. ``grid``: the seed study's nine scenarios (prices Case0/1/2 x contract limit
   0.6/0.7/0.8, the four fleets of car_profile_multiple.csv, 8760 h) as one
   ``aggregator sweep`` of ``examples/sweep/sweep.toml`` on a local cluster.
   Target (issue 5): <= 2 minutes on the 2-core machine.
2. ``fleets-N``: one scenario of N heterogeneous fleets (sizes, batteries,
   chargers, efficiencies, contract limits and initial states drawn with a
   fixed seed; availability from the twelve seed profiles of
   car_profile_{multiple,residential,commercial}.csv; Case0 prices), solved
   by ``aggregator run --workers W`` (the dp kernel on batches of 25 fleets,
   on W threads of the command: see docs/scale.rst).
   Targets (issue 14): 1000 fleets x 8760 h in <= 15 s wall on 2 cores,
   <= 1.5 GB peak over the process tree, growing linearly with N (also 100
   and 10,000 fleets); the certified gap stays at the rounding allowance.
   ``CPU s`` sums the user and system time of the command and its workers.

Both use ``[solver] name = "auto"``: the fastest backend that supports the
problem (the exact per-fleet DP when it is installed).  The seed data live in
``../shared/data/seed`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "data" / "seed"
PROFILES = [
    (name, f"car_aval{i}") for name in ("car_profile_multiple.csv", "car_profile_residential.csv", "car_profile_commercial.csv") for i in range(1, 5)
]


def run_measured(command: list[str], timeout: float) -> dict:
    """Run a command; wall time, exit code, output and the peak RSS of its process tree.

    Parameters
    ----------
    command : list of str
    timeout : float
        Seconds before the command is stopped.

    Returns
    -------
    dict
        ``wall_s``, ``cpu_s``, ``peak_rss_mb``, ``load_start`` and ``load_end`` (1-minute load
        average), ``returncode``, ``stdout``, ``stderr``.
    """
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, start_new_session=True)
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            peak = max(peak, total)
            if time.perf_counter() - start > timeout:
                os.killpg(proc.pid, 9)
                proc.wait()
                break
            time.sleep(0.2)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        return {
            "wall_s": wall,
            # user + system CPU of the command and every process it waited for (its workers)
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_rss_mb": peak / 2**20,
            "load_start": load_start,
            "load_end": os.getloadavg()[0],
            "returncode": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def grid(hours: int | None, workers: int | None, timeout: float, folder: Path) -> dict:
    """The nine-scenario seed grid as one sweep.

    Parameters
    ----------
    hours : int, optional
        Shorten the horizon (an extra one-value axis ``horizon.hours``).
    workers : int, optional
        Local worker processes (default: one per core).
    timeout : float
    folder : pathlib.Path
        Scratch folder.

    Returns
    -------
    dict
    """
    sweep_file = REPO / "examples" / "sweep" / "sweep.toml"
    if hours is not None:
        text = sweep_file.read_text().replace('base = "scenario.toml"', f'base = "{sweep_file.parent / "scenario.toml"}"')
        text = text.replace("../../../shared/data/seed/", str(SEED) + "/")
        sweep_file = folder / "grid.toml"
        sweep_file.write_text(text + f'"horizon.hours" = [{hours}]\n')
    out = folder / "grid-results"
    command = [sys.executable, "-m", "aggregator", "sweep", str(sweep_file), "--out", str(out)]
    if workers is not None:
        command += ["--workers", str(workers)]
    run = run_measured(command, timeout)
    row = {"case": "grid (9 scenarios x 4 fleets)", "hours": hours or 8760, **_pick(run)}
    summary = out / "summary.csv"
    if summary.exists():
        import pandas as pd

        frame = pd.read_csv(summary)
        row["scenarios_optimal"] = int((frame.groupby("scenario")["status"].first() == "optimal").sum())
        row["max_gap"] = float(frame["gap"].max())
        row["solver"] = ", ".join(sorted(set(frame["solver"].dropna())))
        profit = frame.groupby(["prices.path", "fleets.*.contract_limit"])["profit"].sum()
        row["profit_case0_0.8"] = float(profit.get(("../../../shared/data/seed/CA_Weighted_Price_Case0.csv", 0.8), np.nan)) if hours is None else None
    return row


def fleet_scenario(n: int, hours: int, folder: Path, seed: int = 5) -> Path:
    """Write a scenario of ``n`` heterogeneous fleets.

    Parameters
    ----------
    n : int
        Number of fleets.
    hours : int
    folder : pathlib.Path
    seed : int
        Random seed of the fleet parameters.

    Returns
    -------
    pathlib.Path
        The scenario file.
    """
    rng = np.random.default_rng(seed)
    lines = [
        f'name = "fleets-{n}"',
        "[prices]",
        'source = "csv"',
        f'path = "{SEED / "CA_Weighted_Price_Case0.csv"}"',
        'column = "Weighted_Avg_Price"',
        "[horizon]",
        f"hours = {hours}",
        "[solver]",
        'name = "auto"',
        "mip_gap = 1e-4",
    ]
    for i in range(n):
        file, column = PROFILES[i % len(PROFILES)]
        lines += [
            "[[fleets]]",
            f'name = "f{i:04d}"',
            f"vehicles = {int(rng.integers(20, 5000))}",
            f"battery_kwh = {float(rng.choice([24, 30, 40, 60, 75, 100]))}",
            f"charger_kw = {float(rng.choice([3.6, 7.2, 11, 22]))}",
            f"charge_efficiency = {rng.uniform(0.8, 0.95):.3f}",
            f"discharge_efficiency = {rng.uniform(0.78, 0.95):.3f}",
            f"contract_limit = {rng.uniform(0.4, 0.9):.3f}",
            f"initial_soc = {rng.uniform(0.0, 0.1):.3f}",
            f'availability = {{ model = "csv", path = "{SEED / file}", column = "{column}" }}',
        ]
    path = folder / f"fleets-{n}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fleets(n: int, hours: int, workers: int | None, timeout: float, folder: Path) -> dict:
    """One scenario of ``n`` fleets, in groups of fleets on a local cluster.

    Parameters
    ----------
    n : int
    hours : int
    workers : int, optional
    timeout : float
    folder : pathlib.Path

    Returns
    -------
    dict
    """
    path = fleet_scenario(n, hours, folder)
    n_workers = workers if workers is not None else os.cpu_count() or 1
    command = [sys.executable, "-m", "aggregator", "-q", "run", str(path), "--json", "--workers", str(n_workers)]
    run = run_measured(command, timeout)
    row = {"case": f"fleets-{n}", "hours": hours, **_pick(run)}
    try:
        data = json.loads(run["stdout"])
    except json.JSONDecodeError:
        return row
    row.update(status=data["status"], gap=data["gap"], profit=data["profit"], solver=data.get("solver"))
    return row


def _pick(run: dict) -> dict:
    out = {k: run[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "load_start", "load_end", "returncode")}
    if run["returncode"] not in (0,):
        out["stderr_tail"] = run["stderr"].strip().splitlines()[-3:]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line per case, then a table.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        0 when every run exited 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, help="shorten every horizon (default: 8760)")
    parser.add_argument("--fleets", type=int, nargs="*", default=[100, 300, 1000], help="fleet counts (default 100 300 1000)")
    parser.add_argument("--workers", type=int, help="local Dask worker processes (default: one per core)")
    parser.add_argument("--skip-grid", action="store_true", help="only the many-fleet runs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is stopped")
    parser.add_argument("--json-out", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if not (SEED / "CA_Weighted_Price_Case0.csv").exists():
        print(f"seed data not found at {SEED}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if not args.skip_grid:
            rows.append(grid(args.hours, args.workers, args.timeout, folder))
            print(json.dumps(rows[-1]), flush=True)
        for n in args.fleets:
            rows.append(fleets(n, args.hours or 8760, args.workers, args.timeout, folder))
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(f"load average {os.getloadavg()[0]:.1f} at the end (wall times are inflated by other processes; CPU s much less)")
    print(f"{'case':<32}{'hours':>7}{'wall s':>10}{'CPU s':>9}{'peak MB':>10}{'load':>11}{'gap':>10}  status")
    for row in rows:
        gap = row.get("max_gap", row.get("gap"))
        status = row.get("status") or (f"{row.get('scenarios_optimal', '?')}/9 optimal" if "scenarios_optimal" in row else "")
        gap_text = f"{gap:.1e}" if isinstance(gap, float) else "n/a"
        print(
            f"{row['case']:<32}{row['hours']:>7}{row['wall_s']:>10.1f}{row.get('cpu_s', float('nan')):>9.1f}"
            f"{row['peak_rss_mb']:>10.0f}{row['load_start']:>5.1f} {row['load_end']:>4.1f} {gap_text:>10}  {status} (exit {row['returncode']})"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
