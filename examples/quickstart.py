"""Quick start: solve the default scenario from Python, print the summary, draw it.

The default scenario is embedded in the package: one synthetic California-like
spring week (an evening price peak, a midday solar dip with negative prices)
and three fleets.  No input file is needed.

    python examples/quickstart.py                 # the whole week
    python examples/quickstart.py --hours 48      # the first two days
    python examples/quickstart.py --out results   # where the files go

Writes ``result.nc`` (the full result), ``result.parquet`` (the same as a
table), ``dispatch.png`` and ``daily_profit.png`` into the output folder.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from aggregator.scenario import DEFAULT_SCENARIO, scenario_from_dict
from aggregator.summary import print_summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float,
                        default=os.environ.get("AGGREGATOR_EXAMPLE_HOURS"),
                        help="solve only the first N hours (default: the whole week)")
    parser.add_argument("--out", type=Path, default=Path("quickstart-output"),
                        help="output folder")
    args = parser.parse_args(argv)

    # The scenario as a dict: the same as `aggregator scenario > default.toml`, parsed.
    scenario = tomllib.loads(DEFAULT_SCENARIO)
    if args.hours:
        scenario["horizon"]["hours"] = float(args.hours)
    agg = scenario_from_dict(scenario, source="default scenario")

    result = agg.solve()  # "auto" picks the fastest backend that supports the problem
    print_summary(result)

    args.out.mkdir(parents=True, exist_ok=True)
    result.to_netcdf(args.out / "result.nc")
    result.to_parquet(args.out / "result.parquet")
    result.plot("dispatch").savefig(args.out / "dispatch.png")
    # The profit chart, with one bar per day instead of per month for a week.
    result.plot("monthly", freq="D").savefig(args.out / "daily_profit.png")
    print(f"\nwrote result.nc, result.parquet, dispatch.png, daily_profit.png to {args.out}/")

    # Everything is in one xarray.Dataset over (time, fleet), with units:
    ds = result.dataset
    peak = float(ds["charge"].sel(fleet="residential").max())
    print(f"peak charging of the residential fleet: {peak:,.0f} {ds['charge'].attrs['units']}")


if __name__ == "__main__":
    main()
