"""A model extension: one grid connection shared by all fleets, with a limit.

The core model lets every fleet charge at full power at once.  Fleets behind
one grid connection (a depot, a campus) cannot: their *net* import
``sum over fleets of (charge - discharge)`` must stay within the connection's
rating in every step, and so must their net export.  That couples the fleets,
so the problem no longer separates per fleet: ``auto`` sees that the model is
not the standard one and solves it as a MILP with HiGHS instead of the
per-fleet dynamic programme.

This example adds the constraint by subclassing :class:`~aggregator.Aggregator`
and extending one build step with ``super()``.  The same constraint as an
installable plugin (``[extensions.grid_limit]`` in a scenario) is the
``aggregator-gridlimit`` package in ``plugins/``.

    python examples/grid_limit_extension.py [--hours N] [--limit-kw KW]
"""

from __future__ import annotations

import argparse
import os
import tomllib

from aggregator import Aggregator
from aggregator.scenario import DEFAULT_SCENARIO, scenario_from_dict


class GridLimitedAggregator(Aggregator):
    """Fleets behind one grid connection rated ``limit_kw`` kW, import and export."""

    limit_kw: float = 10_000.0

    def define_constraints(self, model, inputs):
        super().define_constraints(model, inputs)  # the documented model first
        # kW drawn through the connection in each step, all fleets together
        net = (model["charge"] - model["discharge"]).sum("fleet")
        model.add_constraints(net <= self.limit_kw, name="grid_import_limit")
        model.add_constraints(-net <= self.limit_kw, name="grid_export_limit")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float,
                        default=os.environ.get("AGGREGATOR_EXAMPLE_HOURS"),
                        help="horizon in hours (default: the default scenario's week)")
    parser.add_argument("--limit-kw", type=float, default=10_000,
                        help="rating of the shared connection in kW")
    args = parser.parse_args(argv)

    scenario = tomllib.loads(DEFAULT_SCENARIO)
    if args.hours:
        scenario["horizon"]["hours"] = float(args.hours)
    free = scenario_from_dict(scenario, source="default scenario")

    # cls= builds the subclass with every setting of the scenario (model options, extensions, solver).
    limited = scenario_from_dict(scenario, source="default scenario", cls=GridLimitedAggregator)
    limited.limit_kw, limited.name = float(args.limit_kw), "grid-limited"
    print(f"solver for the limited model: {limited.backend()[1]}")

    results = {"no limit": free.solve(), f"limit {args.limit_kw:,.0f} kW": limited.solve()}
    header = ("", "status", "profit $", "peak import kW", "peak export kW", "gap")
    print("\n{:<18}{:>9}{:>13}{:>16}{:>16}{:>9}".format(*header))
    for label, result in results.items():
        net = (result.dataset["charge"] - result.dataset["discharge"]).sum("fleet")
        print(f"{label:<18}{result.status:>9}{result.profit:>13,.2f}"
              f"{float(net.max()):>16,.0f}{float(-net.min()):>16,.0f}{result.gap:>9.1e}")
    first, second = results.values()
    cost = first.profit - second.profit
    print(f"\nthe connection limit costs {cost:,.2f} $ ({cost / first.profit:.1%} of the profit)")


if __name__ == "__main__":
    main()
