"""Price impact on the seed single-fleet year: the dp backend's certified gap and time, HiGHS beside it.

Usage (from the repository root)::

    python benchmarks/price_impact_benchmark.py                    # beta = 6.2e-4 $/MWh per MW
    python benchmarks/price_impact_benchmark.py --beta 1e-3 --time-limit 120 --hours 8750
    python benchmarks/price_impact_benchmark.py --study            # profit vs fleet size and beta

The instance is the seed study's single fleet (1,000,000 vehicles, column
car_aval1 of car_profile_single.csv, Case0 prices, contract 0.8, 8750 h),
built like ``single`` of benchmarks/run.py, with ``price_impact = beta``.
``dp`` must certify a gap of at most 1e-4; HiGHS solves the tangent (MILP)
form of the same model with a time limit.  Wall and CPU seconds are this
process's (the machine is shared: walls are inflated).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

#: The seed year's own supply-stack slope: least-squares slope of the Case0 price on the
#: total load (rows with 0 < price < 200 $/MWh), in $/MWh per MW (0.62 $/MWh per GW).
SEED_BETA = 6.2e-4


def aggregator(vehicles: float, beta: float, hours: int):
    """The seed single-fleet instance with ``vehicles`` vehicles and price impact ``beta``."""
    from run import build

    from aggregator import Aggregator

    base = build("single", hours, plain=False)
    fleet = base.fleets[0].with_options(vehicles=vehicles)
    return Aggregator([fleet], base.prices, hours=hours, slack_penalty=1000.0, price_impact=beta)


def solve(agg, solver: str, **options) -> dict:
    """Solve and measure one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    r = agg.solve(solver=solver, **options)
    return {
        "solver": solver,
        "status": r.status,
        "objective": r.objective,
        "bound": r.bound,
        "gap": r.gap,
        "profit_price_taker_valuation": r.profit,
        "market_impact": r.market_impact,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "passes": r.dataset.attrs.get("solver_passes"),
        "segments_max": r.dataset.attrs.get("solver_segments_max"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, default=SEED_BETA)
    parser.add_argument("--hours", type=int, default=8750)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--no-highs", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "price_impact.json")
    args = parser.parse_args(argv)
    rows = [dict(beta=args.beta, **solve(aggregator(1e6, args.beta, args.hours), "dp"))]
    print(json.dumps(rows[-1]), flush=True)
    taker = solve(aggregator(1e6, 0.0, args.hours), "dp")
    rows.append(dict(beta=0.0, **taker))
    print(json.dumps(rows[-1]), flush=True)
    if not args.no_highs:
        rows.append(dict(beta=args.beta, **solve(aggregator(1e6, args.beta, args.hours), "highs",
                                                 time_limit=args.time_limit, warm_start=False)))
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
