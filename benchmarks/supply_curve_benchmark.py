"""A residual-supply curve on the seed single-fleet year: dp's certified gap and time, HiGHS beside it.

Usage::

    python benchmarks/supply_curve_benchmark.py                 # the seed year, dp only
    python benchmarks/supply_curve_benchmark.py --hours 336 --highs --time-limit 120

The curve is the seed year's own slope (``SEED_BETA`` of price_impact_benchmark.py, 0.62 $/MWh per GW)
near zero purchase, twice as steep beyond 3 GW bought or sold, and flat beyond 6 GW bought (a
cap): the flattening makes the revenue non-concave at 6 GW (two modes per step).
Timings on the shared 2-core machine are inflated by the other processes' load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from price_impact_benchmark import SEED_BETA  # noqa: E402

#: (net purchase MW, price shift $/MWh) of the benchmark's curve, the same every hour.
POINTS = [(-3000.0 - 4000.0, -3000.0 * SEED_BETA - 4000.0 * 2 * SEED_BETA), (-3000.0, -3000.0 * SEED_BETA),
          (0.0, 0.0), (3000.0, 3000.0 * SEED_BETA), (6000.0, 3000.0 * SEED_BETA + 3000.0 * 2 * SEED_BETA),
          (9000.0, 3000.0 * SEED_BETA + 3000.0 * 2 * SEED_BETA)]


def aggregator(hours: int):
    """The seed single-fleet instance with the benchmark's supply curve."""
    from run import build

    from aggregator import Aggregator
    from aggregator.supply_curve import curve_from_points

    base = build("single", hours, plain=False)
    steps = len(base.prices)
    return Aggregator(base.fleets, base.prices, hours=hours, slack_penalty=1000.0,
                      price_impact=curve_from_points([list(p) for p in POINTS], steps))


def solve(agg, solver: str, **options) -> dict:
    """Solve and measure one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    r = agg.solve(solver=solver, **options)
    return {"solver": solver, "status": r.status, "objective": r.objective, "bound": r.bound, "gap": r.gap,
            "profit_price_taker_valuation": r.profit, "market_impact": r.market_impact,
            "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=8750)
    parser.add_argument("--highs", action="store_true", help="also solve the linopy form with HiGHS")
    parser.add_argument("--time-limit", type=float, default=120.0)
    args = parser.parse_args(argv)
    agg = aggregator(args.hours)
    runs = [solve(agg, "dp")]
    if args.highs:
        runs.append(solve(agg, "highs", time_limit=args.time_limit))
    print(json.dumps({"hours": args.hours, "points": POINTS, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
