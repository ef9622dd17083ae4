"""Fleets behind one shared grid connection: the decomposition backend side by side with HiGHS.

Usage::

    python benchmarks/coupled_benchmark.py                        # the issue-13 targets
    python benchmarks/coupled_benchmark.py --instances seed-12000 --hours 336 --start 2160
    python benchmarks/coupled_benchmark.py --highs-time-limit 120 --backends decomposition highs

Instances:

- ``seed-KW``: the seed study's Case0 / contract 0.8 instance (the four fleets of
  car_profile_multiple.csv: 1000 vehicles, 30 kWh, 7.2 kW, efficiencies
  0.85/0.78, starting full; 8760 h) behind one connection whose import and
  export are both limited to KW kW;
- ``fleets100-KW``: the 100 heterogeneous fleets of ``sweep_benchmark.py``
  (Case0 prices) behind one connection of KW kW; their initial states and
  availability profiles force slack, whose penalty dominates the objective;
- ``fleets100noslack-KW``: the same fleets as a user would run them, without
  forced slack (:func:`no_slack_fleets`), behind one connection of KW kW (at
  500,000 kW the uncoupled optimum breaks it in 3,379 of the 8,760 hours).

The coupling is declared by a small :class:`~aggregator.Aggregator` subclass
(``declared_couplings`` plus ``extend_model`` adding the rows), so ``auto``
chooses the decomposition backend and every general backend solves the same
model.  Every (instance, backend) runs in a fresh subprocess (peak memory is
its max RSS); ``wall s`` includes reading the data and building the problem, ``cpu s`` is its CPU time
(user + system, with the worker processes it waited for), ``load`` the one-minute load
average when it started.  ``gap`` is ``(bound - objective) / |bound|`` from the two printed
figures (:func:`plain_gap`); the Result's own gap, which counts differences below the problem's
absolute tolerance as 0, is ``result_gap`` in the JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "data" / "seed"
DEFAULT_INSTANCES = ["seed-12000", "seed-6000", "seed-20000", "fleets100-500000", "fleets100noslack-500000"]
NO_SLACK = "noslack"


def coupled_class():
    """An Aggregator subclass whose fleets all share one connection of ``site_kw`` kW."""
    from aggregator import Aggregator
    from aggregator.coupling import PowerCoupling, add_coupling_rows

    class SharedConnection(Aggregator):
        site_kw = 0.0

        def declared_couplings(self):
            return [PowerCoupling.create("site", [f.name for f in self.fleets], self.steps,
                                         import_kw=self.site_kw, export_kw=self.site_kw)]

        def extend_model(self, model, inputs):
            super().extend_model(model, inputs)
            for coupling in self.declared_couplings():
                add_coupling_rows(model, coupling, inputs)

    return SharedConnection


def build(name: str, hours: int | None, start: int = 0):
    """The Aggregator of one instance (``start``: first hour of the window)."""
    from aggregator import PriceSignal, load_scenario
    from aggregator.availability import CsvAvailability

    kind, kw = name.split("-")
    prices = PriceSignal.from_csv(SEED / "CA_Weighted_Price_Case0.csv", "Weighted_Avg_Price")
    if kind == "seed":
        steps = hours or 8760
        window = PriceSignal(prices.values[start:start + steps], 1.0, prices.time[start:start + steps], prices.source)
        fleets = []
        from aggregator import Fleet

        for i in range(1, 5):
            column = f"car_aval{i}"
            profile = CsvAvailability().profile(
                {"path": str(SEED / "car_profile_multiple.csv"), "column": column}, base_dir=SEED,
                time=prices.time[:start + steps], step_hours=1.0)
            fleets.append(Fleet(column, vehicles=1000, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                                discharge_efficiency=0.78, contract_limit=0.8, initial_soc=1.0,
                                availability=profile[start:start + steps]))
        cls = coupled_class()
        aggregator = cls(fleets, window, hours=steps, slack_penalty=1000.0)
    else:
        import tempfile

        sys.path.insert(0, str(REPO / "benchmarks"))
        from sweep_benchmark import fleet_scenario

        clean = kind.endswith(NO_SLACK)
        n = int(kind.removeprefix("fleets").removesuffix(NO_SLACK))
        folder = Path(tempfile.mkdtemp(prefix="coupled-"))
        base = load_scenario(fleet_scenario(n, hours or 8760, folder))
        fleets = base.fleets
        if clean:
            fleets = no_slack_fleets(fleets)
        cls = coupled_class()
        aggregator = cls(fleets, base.prices, hours=base.steps, slack_penalty=base.slack_penalty)
    aggregator.site_kw = float(kw)
    return aggregator


def no_slack_fleets(fleets: list) -> list:
    """The fleets of ``sweep_benchmark.fleet_scenario`` as a user would run them: no slack forced.

    In that scenario the initial states lie 0 to 10 % of the battery, below the
    fleets' lower bounds, and the residential and commercial availability
    profiles change faster than the slow chargers can follow, so slack is
    certain (7e8 kWh a year without any limit, 63 of the 100 fleets) and its
    penalty dominates the objective.  Here every fleet keeps its size, battery,
    charger, efficiencies and contract limit, takes the availability of
    ``car_profile_multiple.csv`` (column ``i % 4 + 1``, the profiles of the
    scenario's first four fleets, which every fleet can follow) and starts in the
    middle of its cycling range, ``availability[0] * (1 - contract_limit / 2)``:
    the uncoupled optimum has no slack.
    """
    import dataclasses

    return [dataclasses.replace(f, availability=fleets[i % 4].availability,
                                initial_soc=float(fleets[i % 4].availability[0]) * (1 - f.contract_limit / 2))
            for i, f in enumerate(fleets)]


def plain_gap(objective: float, bound: float) -> float:
    """``(bound - objective) / |bound|`` from the two figures, without the Result's absolute tolerance.

    ``Result.gap`` counts a difference below the problem's absolute tolerance
    (``1e-12`` times its money scale: about 1 $ for the seed year, whose
    slack penalty of 1000 $/kWh on 120 MWh of batteries dominates the scale) as
    no gap; the table shows the gap the two printed figures have.
    """
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.nan
    return (bound - objective) / max(abs(bound), 1e-9)


def run_one(name: str, backend: str, hours: int | None, start: int, time_limit: float, mip_gap: float) -> dict:
    """Solve one instance in this process and return the facts."""
    begin = time.perf_counter()
    aggregator = build(name, hours, start)
    result = aggregator.solve(backend, mip_gap=mip_gap, time_limit=time_limit)
    wall = time.perf_counter() - begin
    details = {k.removeprefix("solver_"): v for k, v in result.dataset.attrs.items()
               if k.startswith("solver_") and k not in ("solver_choice",)}
    return {
        "status": result.status,
        "profit": result.profit,
        "objective": result.objective,
        "bound": result.bound,
        "gap": plain_gap(result.objective, result.bound),
        "result_gap": result.gap,
        "wall": wall,
        "solver": result.dataset.attrs["solver"],
        "choice": result.dataset.attrs["solver_choice"],
        "details": {k: (v.item() if hasattr(v, "item") else v) for k, v in details.items()},
    }


def measure(name: str, backend: str, args: argparse.Namespace) -> dict:
    """Run one (instance, backend) in a subprocess; add its peak memory."""
    limit = args.highs_time_limit if backend != "auto" and backend != "decomposition" else args.time_limit
    if backend in ("auto", "decomposition") and name.startswith("fleets") and args.fleets_time_limit is not None:
        limit = args.fleets_time_limit
    cmd = [sys.executable, __file__, "--one", name, backend, "--time-limit", str(limit), "--mip-gap",
           str(args.mip_gap), "--start", str(args.start)]
    if args.hours:
        cmd += ["--hours", str(args.hours)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        last = err.strip().splitlines()[-1] if err.strip() else str(status)
        return {"status": f"failed ({last})", "profit": math.nan, "objective": math.nan, "bound": math.nan, "gap": math.nan,
                "wall": float("nan"), "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}
    facts = json.loads(out.strip().splitlines()[-1])
    facts["peak_mb"] = usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
    facts["cpu"] = usage.ru_utime + usage.ru_stime  # the subprocess and the workers it waited for
    facts["time_limit"] = limit
    facts["load_after"] = os.getloadavg()[0]
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", nargs="*", default=DEFAULT_INSTANCES)
    parser.add_argument("--backends", nargs="*", default=["auto", "highs"])
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds for auto / decomposition")
    parser.add_argument("--fleets-time-limit", type=float, default=None,
                        help="seconds for auto / decomposition on the fleetsN instances (default: --time-limit)")
    parser.add_argument("--highs-time-limit", type=float, default=120.0, help="seconds for the MILP backends")
    parser.add_argument("--milp-instances", nargs="*", default=None,
                        help="instances the MILP backends run on (default: the seed ones; the 100-fleet MILP "
                             "alone would need several GB)")
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--hours", type=int, default=None, help="shorter horizon (default 8760)")
    parser.add_argument("--start", type=int, default=0, help="first hour of the window (seed instances)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "coupled_results.json")
    parser.add_argument("--one", nargs=2, metavar=("INSTANCE", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import warnings

        warnings.simplefilter("ignore")  # the 100-fleet scenario's initial states below their minimum
        facts = run_one(args.one[0], args.one[1], args.hours, args.start, args.time_limit, args.mip_gap)
        print(json.dumps(facts, default=str))
        return 0
    if not SEED.exists():
        print(f"seed data not found at {SEED}", file=sys.stderr)
        return 2
    import datetime
    import platform

    started = datetime.datetime.now(datetime.timezone.utc)
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    print(f"# {started:%Y-%m-%d %H:%M} UTC on {machine}; load average {os.getloadavg()[0]:.2f}")
    print(f"# {os.cpu_count()} cores; time limit {args.time_limit:g} s (decomposition), {args.highs_time_limit:g} s "
          f"(MILP); requested gap {args.mip_gap:g}")
    header = (f"{'instance':<17}{'backend':<22}{'objective $':>20}{'bound $':>20}{'gap':>10}{'wall s':>9}"
              f"{'cpu s':>9}{'peak MB':>9}{'load':>6}  status")
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.instances:
        for backend in args.backends:
            milp = args.milp_instances if args.milp_instances is not None else [i for i in args.instances
                                                                                 if i.startswith("seed")]
            if backend not in ("auto", "decomposition") and name not in milp:
                continue
            load = os.getloadavg()[0]
            f = measure(name, backend, args)
            f["load_before"] = load
            shown = backend if backend != "auto" else f"auto:{f.get('solver', '?').split()[0]}"
            print(f"{name:<17}{shown:<22}{f.get('objective', math.nan):>20,.2f}{f['bound']:>20,.2f}{f['gap']:>10.2e}"
                  f"{f['wall']:>9.2f}{f['cpu']:>9.2f}{f['peak_mb']:>9.0f}{load:>6.2f}  {f['status']}", flush=True)
            rows.append({"instance": name, "backend": backend, "hours": args.hours or 8760, **f})
    from aggregator.atomic import atomic_path

    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps({"date": f"{started:%Y-%m-%d %H:%M} UTC", "machine": machine,
                                   "load_average_end": os.getloadavg(), "command": sys.argv[1:], "rows": rows},
                                  indent=1, default=str))
    print(f"# wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
