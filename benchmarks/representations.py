"""The seed fleets in the three representations, and the speed targets of issue 12.

Usage::

    python benchmarks/representations.py energy            # the seed year, four "energy" fleets (target <= 3 s)
    python benchmarks/representations.py vehicles 1000     # 1000 vehicles x 8760 h, totals only (target <= 5 min)
    python benchmarks/representations.py study 40          # four fleets x three representations -> docs/figures
    python benchmarks/representations.py fleet 10000       # issue 14: `aggregator run` of 10^4 vehicles as one fleet (<= 60 s)
    python benchmarks/representations.py dask 100000 1 2 4 --hours 720  # the same on local Dask clusters of 1, 2, 4 workers

``fleet`` and ``dask`` run the real command line on a scenario file written
to a temporary folder (the seed files by absolute path) and measure the
command with its worker processes: wall, CPU (user + system of the process
tree), peak RSS summed over the tree, the load average before and after.
They print a table and add it to ``benchmarks/results.md`` (section
"Vehicles at scale").

Assumptions (the seed data have availability profiles only): the vehicles
are generated from each fleet's availability profile with
``trips = { model = "from_availability" }`` (those plugged in longest leave
first, those away longest come back first); every trip takes 6 kWh (a 30 km
round trip at 0.2 kWh/km, a typical Californian commute), and each vehicle
must hold 50 % (15 kWh) when it leaves, which leaves 9 kWh after the trip,
above the 6 kWh that ``contract_limit = 0.8`` keeps.  The ``"energy"``
representation is the energy aggregate of the same vehicles (summed power,
energy, driving and needs).  Battery wear is 0 (the seed study has none).
Case0 prices, contract limit 0.8, 30 kWh, 7.2 kW, efficiencies 0.85 / 0.78,
starting full, 8760 h.  Results go to ``benchmarks/representations.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "data" / "seed"
OUT = REPO / "benchmarks" / "representations.json"
FIGURES = REPO / "docs" / "figures"
FLEETS = ("car_aval1", "car_aval2", "car_aval3", "car_aval4")
TRIP_KWH = 6.0
MIN_SOC = 0.5


def seed_inputs(hours: int = 8760):
    from aggregator import PriceSignal
    from aggregator.csv_input import numeric_column, read_csv_table

    frame = read_csv_table(SEED / "CA_Weighted_Price_Case0.csv")
    _, price = numeric_column(frame, SEED / "CA_Weighted_Price_Case0.csv", "Weighted_Avg_Price")
    table = read_csv_table(SEED / "car_profile_multiple.csv")
    profiles = {name: numeric_column(table, "car_profile_multiple.csv", name)[1][:hours] for name in FLEETS}
    return PriceSignal(price[:hours]), profiles


def fleet(name: str, profile: np.ndarray, vehicles: int, representation: str, **kw):
    from aggregator import Fleet
    from aggregator.aggregation import energy_aggregate
    from aggregator.vehicles import schedule_from_availability

    base = dict(vehicles=vehicles, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                discharge_efficiency=0.78, contract_limit=0.8, initial_soc=1.0)
    if representation == "study":
        return Fleet(name, availability=profile, **base)
    trips = schedule_from_availability(profile, vehicles, step_hours=1.0, trip_kwh=TRIP_KWH, max_trip_kwh=24.0)
    cars = Fleet(name, representation="vehicles", trips=trips, min_soc=MIN_SOC, **base, **kw)
    return cars if representation == "vehicles" else energy_aggregate(cars, profile.size)


def record(key: str, value) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[key] = value
    OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def bench_energy() -> None:
    from aggregator import Aggregator

    prices, profiles = seed_inputs()
    for rep in ("study", "energy"):  # the same machine load for both: the target is "as fast as study"
        agg = Aggregator([fleet(n, p, 1000, rep) for n, p in profiles.items()], prices)
        agg.inputs  # build the inputs outside the timing
        start = time.perf_counter()
        result = agg.solve(solver="dp")
        wall = time.perf_counter() - start
        print(f"{rep}, four fleets x 8760 h: {result.status}, objective {result.objective:,.2f} $, "
              f"gap {result.gap:.1e}, {wall:.2f} s wall")
        record(f"{rep}_seed_year", {"seconds": wall, "objective": result.objective, "gap": result.gap,
                                    "status": result.status})


def bench_vehicles(count: int) -> None:
    from aggregator import Aggregator

    prices, profiles = seed_inputs()
    agg = Aggregator([fleet("car_aval1", profiles["car_aval1"], count, "vehicles", vehicle_results="totals")], prices)
    agg.inputs
    start = time.perf_counter()
    result = agg.solve(solver="dp")
    wall = time.perf_counter() - start
    row = result.aggregation_error.iloc[0]
    print(f"vehicles, {count} x 8760 h (totals only): {result.status}, objective {result.objective:,.2f} $, "
          f"gap {result.gap:.1e}, {wall:.1f} s wall (incl. the aggregate), aggregation error {row['error']:,.2f} $")
    record(f"vehicles_{count}", {"seconds": wall, "objective": result.objective, "gap": result.gap,
                                 "aggregation_error": float(row["error"]), "status": result.status})


def bench_study(count: int) -> None:
    """Four fleets x three representations, per vehicle; CSV and figure for docs/study.rst."""
    import pandas as pd

    from aggregator import Aggregator

    prices, profiles = seed_inputs()
    rows = []
    for name, profile in profiles.items():
        values = {}
        for rep in ("study", "energy", "vehicles"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = Aggregator([fleet(name, profile, count, rep)], prices).solve(solver="dp")
            values[rep] = r.objective / count
            values[f"{rep}_slack_kwh"] = float(r.slack_kwh.sum()) / count
            values[f"{rep}_shortfall_kwh"] = float(r.shortfall_kwh.sum()) / count
            print(name, rep, r.status, f"{values[rep]:,.2f} $/vehicle", flush=True)
        rows.append({"fleet": name, **values})
    table = pd.DataFrame(rows).set_index("fleet")
    table["aggregation_error"] = table["energy"] - table["vehicles"]
    table["aggregation_error_relative"] = table["aggregation_error"] / table["energy"].abs()
    FIGURES.mkdir(exist_ok=True)
    table.round(4).to_csv(FIGURES / "representations.csv")
    record(f"study_{count}", table.round(4).reset_index().to_dict("records"))
    plot_study(table, count)


def plot_study(table, count: int) -> None:
    """Left: objective per vehicle in each representation (a dot plot, zoomed); right: differences to "vehicles"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    x = np.arange(len(table))
    styles = {"study": ("o", "study: one battery, size follows availability"),
              "energy": ("s", "energy: aggregate of the same vehicles"),
              "vehicles": ("D", f"vehicles: {count} individual batteries")}
    for rep, (marker, label) in styles.items():
        left.plot(x, table[rep], marker=marker, linestyle="none", markersize=8, label=label)
    left.set_xticks(x, table.index)
    left.set_ylabel("objective per vehicle and year ($)")
    left.set_title("Value of one vehicle (note the zoomed axis)")
    top = float(table[list(styles)].to_numpy().max())
    left.set_ylim(None, top + 0.6 * (top - float(table[list(styles)].to_numpy().min())))
    left.legend(fontsize=8, loc="upper center")
    left.grid(axis="y", alpha=0.3)
    width = 0.38
    agg = right.bar(x - width / 2, table["energy"] - table["vehicles"], width, label="energy - vehicles (aggregation error)")
    study = right.bar(x + width / 2, table["study"] - table["vehicles"], width, label="study - vehicles")
    right.bar_label(agg, fmt="%.1f", fontsize=8)
    right.bar_label(study, fmt="%.1f", fontsize=8)
    right.axhline(0, color="black", linewidth=0.6)
    right.set_xticks(x, table.index)
    right.set_ylabel("$ per vehicle and year")
    right.set_title("Overstatement against the vehicles")
    low = min(0.0, float((table["study"] - table["vehicles"]).min()))
    right.set_ylim(low - 14, None)
    right.legend(fontsize=8, loc="lower left")
    fig.suptitle("Seed fleets, Case0 prices, contract limit 0.8, 8760 h (trips of 6 kWh, 50 % needed at departure)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(FIGURES / "study_representations.png", dpi=120)


SCENARIO = """\
name = "vehicles-{count}"
[prices]
source = "csv"
path = "{seed}/CA_Weighted_Price_Case0.csv"
column = "Weighted_Avg_Price"
[horizon]
hours = {hours}
[solver]
name = "dp"
[[fleets]]
name = "car_aval1"
vehicles = {count}
battery_kwh = 30
charger_kw = 7.2
charge_efficiency = 0.85
discharge_efficiency = 0.78
contract_limit = 0.8
initial_soc = 1.0
representation = "vehicles"
min_soc = {min_soc}
vehicle_results = "totals"
availability = {{ model = "csv", path = "{seed}/car_profile_multiple.csv", column = "car_aval1" }}
trips = {{ model = "from_availability", trip_kwh = {trip_kwh} }}
"""


def run_cli(count: int, workers: int | None, hours: int = 8760) -> dict:
    """``aggregator run`` of ``count`` vehicles as one fleet (``--workers N`` on Dask), measured with its workers."""
    import tempfile

    sys.path.insert(0, str(REPO / "benchmarks"))
    from sweep_benchmark import run_measured

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vehicles.toml"
        path.write_text(SCENARIO.format(count=count, seed=SEED, hours=hours, min_soc=MIN_SOC, trip_kwh=TRIP_KWH))
        command = [sys.executable, "-m", "aggregator", "-q", "run", str(path), "--json"]
        if workers is not None:
            command += ["--workers", str(workers)]
        load = os.getloadavg()[0]
        run = run_measured(command, timeout=3600)
    row = {"vehicles": count, "hours": hours, "workers": workers, "load_before": load, "load_after": os.getloadavg()[0],
           **{k: run[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "returncode")}}
    try:
        data = json.loads(run["stdout"])
        row.update(status=data["status"], gap=data["gap"], objective=data["objective"])
    except (json.JSONDecodeError, KeyError):
        row.update(status="failed", stderr=run["stderr"].strip().splitlines()[-3:])
    row["vehicles_per_s"] = count / row["wall_s"]
    row["cpu_ms_per_vehicle"] = 1000 * row["cpu_s"] / count
    return row


def table(rows: list[dict]) -> str:
    """The rows of :func:`run_cli` as a small table."""
    head = (f"{'case':<34}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'veh/s':>8}{'veh/s/wkr':>10}"
            f"{'CPU ms/veh':>11}{'load':>10}  status")
    lines = [head, "-" * len(head)]
    for r in rows:
        where = "dp pool, 2 cores" if r["workers"] is None else f"Dask, {r['workers']} worker{'s' * (r['workers'] > 1)}"
        per_worker = r["vehicles_per_s"] / (r["workers"] or 2)
        lines.append(
            f"{r['vehicles']:>7,} x {r['hours']} h, {where:<18}{r['wall_s']:>8.1f}{r['cpu_s']:>8.1f}{r['peak_rss_mb']:>9.0f}"
            f"{r['vehicles_per_s']:>8.0f}{per_worker:>10.0f}{r['cpu_ms_per_vehicle']:>11.1f}"
            f"{r['load_before']:>5.1f}-{r['load_after']:<4.1f}  {r['status']} gap {r.get('gap', float('nan')):.1e}"
        )
    return "\n".join(lines)


def bench_scale(count: int, workers: list[int | None], hours: int = 8760) -> None:
    """Issue 14: ``aggregator run`` of ``count`` vehicles, one fleet, per number of Dask workers (None: no Dask)."""
    import datetime
    import platform

    rows = []
    for n in workers:
        row = run_cli(count, n, hours)
        rows.append(row)
        print(json.dumps(row), flush=True)
        record(f"cli_vehicles_{count}x{hours}_{'pool' if n is None else f'dask{n}'}", row)
    text = table(rows)
    print(text)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    note = (f"\n`python benchmarks/representations.py {' '.join(sys.argv[1:])}`, {stamp}, {platform.machine()} "
            f"{cores} cores, Python {platform.python_version()}; load average (1 min) before-after each run in "
            "the table (other engineers' work on the same cores inflates wall times; CPU s much less).\n\n"
            f"```\n{text}\n```\n")
    results = REPO / "benchmarks" / "results.md"
    body = results.read_text()
    heading = "\n## Vehicles at scale (issue 14)\n"
    if heading not in body:
        body += heading + ("\nOne \"vehicles\" fleet generated from the seed profile `car_aval1` (6 kWh trips, 50 % needed "
                           "at departure, totals only), Case0 prices, 8760 h, solved by `aggregator run` end to end "
                           "(reading, generating the trips, inputs, solve, aggregation error).\n")
    results.write_text(body + note)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "energy"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rest = sys.argv[3:]
    horizon = 8760
    if "--hours" in rest:
        at = rest.index("--hours")
        horizon, rest = int(rest[at + 1]), rest[:at] + rest[at + 2 :]
    if what == "fleet":
        bench_scale(n, [None], horizon)
    elif what == "dask":
        bench_scale(n, [int(w) for w in rest] or [1, 2, 4], horizon)
    elif what == "plot":  # redraw the figure from docs/figures/representations.csv
        import pandas as pd

        plot_study(pd.read_csv(FIGURES / "representations.csv", index_col="fleet"), n)
    else:
        {"energy": lambda: bench_energy(), "vehicles": lambda: bench_vehicles(n), "study": lambda: bench_study(n)}[what]()
