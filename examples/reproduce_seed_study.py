"""Reproduce the original study: three price cases x three contract limits, four fleets, one year.

The study (a California EV aggregator, 2024 prices from a production-cost model
of the Western Interconnection) ran four fleets of 1000 Nissan Leaf-like
vehicles (30 kWh, 7.2 kW chargers, efficiencies 0.85 in and 0.78 out) against
three price cases:

- Case0: the state-wide EV fleet is small and does not move prices;
- Case1: a large, unmanaged state-wide EV fleet;
- Case2: a large state-wide EV fleet charged smartly;

each with the aggregator allowed to cycle 60 %, 70 % or 80 % of the
batteries (the contract limit).  Its input files live in ``../shared/data/seed``
beside the repository (see its README); pass another folder with ``--seed``.

    python examples/reproduce_seed_study.py                      # 9 full years, about a minute
    python examples/reproduce_seed_study.py --hours 168 --out study

Writes into the output folder: ``study.csv`` (one row per case, limit and
fleet), ``profit_by_case.png`` (annual profit per case and limit),
``monthly_case0_0.8.png`` and ``dispatch_case0_0.8.png`` (a spring week), and
prints the published Case0 / 0.8 numbers beside the reproduced ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aggregator.scenario import scenario_from_dict

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "data" / "seed"
CASES = ("Case0", "Case1", "Case2")
LIMITS = (0.6, 0.7, 0.8)
FLEETS = ("car_aval1", "car_aval2", "car_aval3", "car_aval4")

#: The original study's multi-fleet run, Case0 prices, contract limit 0.8, 8760 h (CPLEX, gap 1e-4).
PUBLISHED_CASE0_08 = {"car_aval1": 1_256_464.24, "car_aval2": 1_256_511.92,
                      "car_aval3": 1_225_725.32, "car_aval4": 1_225_809.09}
PUBLISHED_CASE0_08_TOTAL = 4_964_510.58


def scenario(seed: Path, case: str, limit: float, hours: float) -> dict:
    """The study's multi-fleet scenario for one price case and contract limit, as a dict."""
    prices = seed / f"CA_Weighted_Price_{case}.csv"
    plugged = seed / "car_profile_multiple.csv"
    fleet = {
        "vehicles": 1000,
        "battery_kwh": 30,
        "charger_kw": 7.2,
        "charge_efficiency": 0.85,
        "discharge_efficiency": 0.78,
        "contract_limit": limit,
        "initial_soc": 1.0,
    }
    return {
        "name": f"{case} limit {limit}",
        "prices": {"source": "csv", "path": str(prices), "column": "Weighted_Avg_Price"},
        "horizon": {"hours": hours},
        "solver": {"name": "auto", "mip_gap": 1e-4},
        "model": {"slack_penalty": 1000.0, "exclusive_charging": True},
        "fleets": [
            dict(fleet, name=name,
                 availability={"model": "csv", "path": str(plugged), "column": name})
            for name in FLEETS
        ],
    }


def profit_figure(table: pd.DataFrame):
    """Grouped bars: total annual profit per price case, one bar per contract limit."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    totals = table.groupby(["case", "contract_limit"])["profit"].sum().unstack("contract_limit") / 1e6
    with mpl.rc_context({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        fig = Figure(figsize=(7, 3.2), layout="constrained")
        ax = fig.subplots()
        width = 0.8 / len(totals.columns)
        colours = ("#56B4E9", "#0072B2", "#003f66")
        for i, limit in enumerate(totals.columns):
            x = np.arange(len(totals)) + (i - (len(totals.columns) - 1) / 2) * width
            bars = ax.bar(x, totals[limit], width=width * 0.95, color=colours[i % 3], label=f"{limit:.0%}")
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        ax.set_xticks(np.arange(len(totals)), [f"{c}\n{DESCRIPTIONS.get(c, '')}" for c in totals.index])
        ax.set_ylabel("profit of the four fleets,\nmillion $")
        ax.legend(title="contract limit", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.margins(y=0.15)
        hours = int(table["hours"].iloc[0])
        ax.set_title(f"Arbitrage profit, {hours:,} h, 4 fleets of 1000 vehicles", loc="left")
    return fig


DESCRIPTIONS = {"Case0": "small EV fleet", "Case1": "large, unmanaged", "Case2": "large, smart charging"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, default=SEED, help=f"folder of the study's input files (default {SEED})")
    parser.add_argument("--hours", type=float, default=os.environ.get("AGGREGATOR_EXAMPLE_HOURS") or 8760,
                        help="horizon in hours (default 8760, the study's)")
    parser.add_argument("--out", type=Path, default=Path("seed-study"), help="output folder")
    args = parser.parse_args(argv)
    if not (args.seed / "CA_Weighted_Price_Case0.csv").exists():
        print(f"the study's input files are not in {args.seed}; pass --seed FOLDER", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    rows, keep = [], None
    for case in CASES:
        for limit in LIMITS:
            start = time.perf_counter()
            result = scenario_from_dict(scenario(args.seed, case, limit, float(args.hours)), args.seed).solve()
            seconds = time.perf_counter() - start
            print(f"{case} limit {limit:.1f}: {result.status}, profit {result.profit:>14,.2f} $, "
                  f"gap {result.gap:.1e}, {result.dataset.attrs['solver']}, {seconds:.1f} s")
            table = result.fleet_table()
            for fleet, row in table.iterrows():
                rows.append({"case": case, "contract_limit": limit, "fleet": fleet, "hours": args.hours,
                             "status": result.status, "gap": result.gap, **row.to_dict()})
            if (case, limit) == ("Case0", 0.8):
                keep = result
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "study.csv", index=False, float_format="%.6g")

    totals = table.pivot_table(index="case", columns="contract_limit", values="profit", aggfunc="sum")
    print("\nprofit of the four fleets in $ (rows: price case, columns: contract limit)")
    print(totals.map(lambda v: f"{v:,.0f}").to_string())

    if float(args.hours) == 8760:
        print("\nCase0, contract limit 0.8, against the published run (CPLEX, gap 1e-4):")
        for fleet, published in PUBLISHED_CASE0_08.items():
            ours = float(keep.fleet_profit[fleet])
            print(f"  {fleet}: published {published:>14,.2f} $   reproduced {ours:>14,.2f} $   {ours - published:+,.2f} $")
        print(f"  total:     published {PUBLISHED_CASE0_08_TOTAL:>14,.2f} $   reproduced {keep.profit:>14,.2f} $")

    profit_figure(table).savefig(args.out / "profit_by_case.png", dpi=150)
    keep.plot("monthly").savefig(args.out / "monthly_case0_0.8.png", dpi=150)
    week = "2024-04-08" if float(args.hours) >= 24 * 105 else None  # a spring week with negative prices
    keep.plot("dispatch", start=week, days=7).savefig(args.out / "dispatch_case0_0.8.png", dpi=150)
    print(f"\nwrote study.csv and three figures to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
