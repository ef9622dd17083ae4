"""Solve the seed instances with each backend, side by side, and print one table.

Usage::

    python benchmarks/run.py                       # all instances, backends auto, highs, highs-plain
    python benchmarks/run.py --time-limit 60 --backends auto highs-plain
    python benchmarks/run.py --instances case0-0.8 single --hours 168

Instances (the seed study's, from ../shared/data/seed):

- ``caseN-L``: CA_Weighted_Price_CaseN.csv prices, contract limit L, the four
  fleets of car_profile_multiple.csv (1000 vehicles, 30 kWh, 7.2 kW,
  efficiencies 0.85/0.78, starting full), 8760 h;
- ``single``: 1,000,000 vehicles, car_profile_single.csv column car_aval1,
  Case0, contract 0.8, 8750 h.

Backends: ``auto`` (what ``aggregator run`` uses), ``highs`` (the exact MILP
with the tightened formulation, warm-started from the dp solution),
``highs-plain`` (plain HiGHS on the original study's MILP: a binary in every
step, no convex-hull inequality, no warm start), plus any registered backend
name.  Every (instance, backend) runs in a fresh subprocess, so the peak
memory (max RSS) is that run's alone.  The speed ratio compares wall time with
``highs-plain`` under the same time limit (when that run hit its limit, the
ratio is a lower bound, marked ``>``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from aggregator.atomic import atomic_path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "data" / "seed"
CASES = (0, 1, 2)
LIMITS = (0.6, 0.7, 0.8)
CPLEX = {"case0-0.8": 4_964_510.58, "single": 6.57282e8}


def instance_names() -> list[str]:
    return [f"case{c}-{lim}" for c in CASES for lim in LIMITS] + ["single"]


def build(name: str, hours: float | None, plain: bool):
    """The Aggregator of one seed instance."""
    from aggregator import Aggregator, Fleet, PriceSignal
    from aggregator.availability import CsvAvailability

    if name == "single":
        case, limit, vehicles, profile, columns, steps = 0, 0.8, 1_000_000, "car_profile_single.csv", ["car_aval1"], 8750
    else:
        case_part, limit_part = name.split("-")
        case, limit = int(case_part[4:]), float(limit_part)
        vehicles, profile, steps = 1000, "car_profile_multiple.csv", 8760
        columns = [f"car_aval{i}" for i in range(1, 5)]
    steps = int(hours) if hours else steps
    prices = PriceSignal.from_csv(SEED / f"CA_Weighted_Price_Case{case}.csv", "Weighted_Avg_Price")
    fleets = []
    for column in columns:
        availability = CsvAvailability().profile(
            {"path": str(SEED / profile), "column": column}, base_dir=SEED, time=prices.time[:steps], step_hours=1.0
        )[:steps]
        fleets.append(
            Fleet(column, vehicles=vehicles, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                  discharge_efficiency=0.78, contract_limit=limit, initial_soc=1.0, availability=availability)
        )
    cls = PlainAggregator() if plain else Aggregator
    return cls(fleets, prices, hours=steps, slack_penalty=1000.0)


def PlainAggregator():
    """The original study's formulation: a binary in every step, no convex-hull inequality."""
    from aggregator import Aggregator

    class Plain(Aggregator):
        def define_constraints(self, model, inputs):
            charge, discharge, soc = model["charge"], model["discharge"], model["soc"]
            pmax, mode = inputs["power_max"], model["mode"]
            dt = float(inputs.attrs["step_hours"])
            model.add_constraints(charge - pmax * mode <= 0, name="charge_limit")
            model.add_constraints(discharge + pmax * mode <= pmax, name="discharge_limit")
            flow = (
                (inputs["charge_efficiency"] * dt) * charge
                - (dt / inputs["discharge_efficiency"]) * discharge
                + model["slack_up"]
                - model["slack_down"]
            )
            initial = 0 * inputs["soc_min"]
            initial[0, :] = inputs["soc_initial"].to_numpy()
            model.add_constraints(soc - soc.shift(time=1).fillna(0) - flow == initial, name="energy_balance")

    return Plain


def run_one(name: str, backend: str, hours: float | None, time_limit: float, mip_gap: float) -> dict:
    """Solve one instance in this process and return the facts."""
    plain = backend == "highs-plain"
    start = time.perf_counter()
    aggregator = build(name, hours, plain)
    solver = "highs" if plain else backend
    extra = {"warm_start": False} if plain else {}
    result = aggregator.solve(solver, mip_gap=mip_gap, time_limit=time_limit, **extra)
    wall = time.perf_counter() - start
    return {
        "status": result.status,
        "profit": result.profit,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "wall": wall,
        "solver": result.dataset.attrs["solver"],
        "choice": result.dataset.attrs["solver_choice"],
    }


def measure(name: str, backend: str, args: argparse.Namespace) -> dict:
    """Run one (instance, backend) in a subprocess; add its peak memory."""
    cmd = [sys.executable, __file__, "--one", name, backend, "--time-limit", str(args.time_limit),
           "--mip-gap", str(args.mip_gap)]
    if args.hours:
        cmd += ["--hours", str(args.hours)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"status": f"failed ({err.strip().splitlines()[-1] if err.strip() else proc.returncode})",
                "profit": float("nan"), "bound": float("nan"), "gap": float("nan"), "wall": wall,
                "peak_mb": usage.ru_maxrss / 1024}
    facts = json.loads(out.strip().splitlines()[-1])
    facts["process_wall"] = wall
    facts["peak_mb"] = usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", nargs="*", default=instance_names())
    parser.add_argument("--backends", nargs="*", default=["auto", "highs", "highs-plain"])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per MILP solve")
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--hours", type=float, default=None, help="shorter horizon (default: the study's)")
    parser.add_argument("--one", nargs=2, metavar=("INSTANCE", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.hours, args.time_limit, args.mip_gap)))
        return 0
    if not SEED.exists():
        print(f"seed data not found at {SEED}", file=sys.stderr)
        return 2
    print(f"# {os.cpu_count()} cores; time limit {args.time_limit:g} s per solve; requested gap {args.mip_gap:g}")
    header = (f"{'instance':<11}{'backend':<12}{'profit $':>17}{'bound $':>17}{'gap':>10}{'wall s':>9}"
              f"{'peak MB':>9}{'x plain':>9}  status")
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.instances:
        facts = {b: measure(name, b, args) for b in args.backends}
        base = facts.get("highs-plain")
        for backend, f in facts.items():
            ratio = ""
            if base and backend != "highs-plain" and f.get("wall"):
                marker = ">" if base.get("status") == "time_limit" else ""
                ratio = f"{marker}{base['wall'] / f['wall']:.0f}"
            note = f["status"]
            if name in CPLEX and not args.hours and f["profit"] == f["profit"]:
                note += f"; vs CPLEX {f['profit'] - CPLEX[name]:+,.2f} $"
            print(f"{name:<11}{backend:<12}{f['profit']:>17,.2f}{f['bound']:>17,.2f}{f['gap']:>10.2e}"
                  f"{f['wall']:>9.2f}{f['peak_mb']:>9.0f}{ratio:>9}  {note}", flush=True)
            rows.append({"instance": name, "backend": backend, **({"hours": args.hours} if args.hours else {}), **f})
    out = REPO / "benchmarks" / "results.json"
    write_rows(out, rows)
    print(f"# updated {len(rows)} rows of {out.relative_to(REPO)}")
    return 0


def write_rows(out: Path, rows: list[dict]) -> None:
    """Merge ``rows`` into the json file ``out``: a row replaces the stored one of the same instance, backend and horizon.

    A run of a few instances or backends keeps every other stored row (the
    file holds the last measurement of each); the file is replaced atomically.
    """
    def key(row: dict) -> tuple:
        return row["instance"], row["backend"], row.get("hours")

    kept = json.loads(out.read_text()) if out.exists() else []
    fresh = {key(row) for row in rows}
    merged = [row for row in kept if key(row) not in fresh] + rows
    order = {name: i for i, name in enumerate(instance_names())}
    merged.sort(key=lambda row: (row.get("hours") or 0, order.get(row["instance"], len(order)), row["backend"]))
    with atomic_path(out) as part:
        part.write_text(json.dumps(merged, indent=1))


if __name__ == "__main__":
    sys.exit(main())
