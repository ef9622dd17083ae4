"""A sweep: how does profit grow with the contract limit and the fleet's size?

Writes the default scenario and a sweep file into the output folder, runs the
grid (3 contract limits x 3 sizes of the residential fleet = 9 scenarios) on
a local Dask cluster with :func:`aggregator.sweep`, then reads the combined
results back as one :class:`xarray.Dataset` with the swept keys as dimensions.
Run it again and the scenarios already solved are skipped.

    python examples/sweep_contract_limits.py               # local Dask cluster
    python examples/sweep_contract_limits.py --workers 0   # no Dask, this process
    python examples/sweep_contract_limits.py --hours 48 --out sweep-demo

The same from the command line: ``aggregator sweep OUT/sweep.toml --out OUT``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import aggregator
from aggregator.scenario import DEFAULT_SCENARIO
from aggregator.sweep import open_sweep

SWEEP = """\
name = "contract-limit-and-size"
base = "base.toml"

[axes]
"fleets.*.contract_limit" = [0.6, 0.8, 1.0]          # * = every fleet
"fleets.residential.vehicles" = [1000, 2000, 4000]  # one fleet by name
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float,
                        default=os.environ.get("AGGREGATOR_EXAMPLE_HOURS"),
                        help="horizon in hours (default: the default scenario's week)")
    parser.add_argument("--workers", type=int,
                        default=os.environ.get("AGGREGATOR_EXAMPLE_WORKERS"),
                        help="Dask worker processes (default: one per core; 0: no Dask)")
    parser.add_argument("--out", type=Path, default=Path("sweep-example"),
                        help="output folder")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    base = DEFAULT_SCENARIO
    if args.hours:
        base = base.replace("hours = 168", f"hours = {float(args.hours)}")
    (args.out / "base.toml").write_text(base)
    (args.out / "sweep.toml").write_text(SWEEP)

    report = aggregator.sweep(args.out / "sweep.toml", args.out, workers=args.workers,
                              progress=False)
    print(f"{len(report.solved)} scenarios solved, {len(report.skipped)} already done, "
          f"{len(report.failed)} failed")

    # The summary: one row per scenario and fleet, the swept values as columns.
    summary = report.summary
    totals = summary.pivot_table(index="fleets.*.contract_limit",
                                 columns="fleets.residential.vehicles",
                                 values="profit", aggfunc="sum")
    print("\nprofit of the three fleets in $ "
          "(rows: contract limit, columns: residential vehicles)")
    print(totals.map(lambda v: f"{v:,.0f}").to_string())
    slack = summary.groupby("scenario")["slack_kwh"].sum()
    if (slack > 0.05).any():
        print(f"note: {int((slack > 0.05).sum())} scenarios use slack energy (see summary.csv)")

    # The combined results: one Dataset with the axes as dimensions (lazy, on Dask).
    ds = open_sweep(args.out)
    print(f"\ncombined dataset dimensions: {dict(ds.sizes)}")


if __name__ == "__main__":
    main()
