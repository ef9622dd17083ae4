"""A custom price source in a few lines, registered at run time.

A *price source* turns the options of a scenario's ``[prices]`` table into a
:class:`~aggregator.PriceSignal`.  This one repeats a typical day (24 hourly
prices, e.g. from a tariff sheet or a forecast) over the horizon, optionally
with a weekend discount::

    [prices]
    source = "daily_profile"
    values = [32, 30, 29, 29, 31, 38, ...]   # 24 prices in $/MWh, hour 0 to 23
    weekend_factor = 0.8                      # optional

Registering it with :func:`aggregator.plugins.register` makes it available to
scenario files for the rest of the process; to make it available to every
``aggregator`` command, put the same class in an installed plugin (see the
docs page "Writing a plugin").

    python examples/custom_price_source.py [--hours N]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd

import aggregator
from aggregator import InputError, PriceSignal, PriceSource
from aggregator.scenario import scenario_from_dict
from aggregator.summary import print_summary


class DailyProfilePrices(PriceSource):
    """A typical day of 24 hourly prices, repeated (``source = "daily_profile"``)."""

    name = "daily_profile"
    options = {
        "values": "24 prices in $/MWh, hour 0 to 23",
        "weekend_factor": "multiplier on Saturdays and Sundays (default 1)",
        "start": "first day (default 2024-01-01)",
    }

    def load(self, options, *, base_dir, steps, step_hours):
        values = np.asarray(options.get("values", []), dtype=float)
        if values.shape != (24,):
            raise InputError(f"[prices] values: expected 24 hourly prices, found {values.size}")
        time = pd.date_range(options.get("start", "2024-01-01"), periods=steps or 8760,
                             freq=pd.Timedelta(hours=step_hours))
        weekend = np.where(time.day_of_week >= 5, options.get("weekend_factor", 1.0), 1.0)
        return PriceSignal(values[time.hour] * weekend, step_hours, time, source="daily_profile")


class Plugin:
    """Registers the source (any object with ``@hookimpl`` methods is a plugin)."""

    @aggregator.hookimpl
    def aggregator_register_price_sources(self):
        return [DailyProfilePrices]


SCENARIO = {
    "name": "typical-day",
    "prices": {
        "source": "daily_profile",
        # Night in the 30s, a solar dip to -5 at noon, an evening peak of 95 at 19:00.
        "values": [34, 32, 31, 30, 31, 36, 45, 48, 40, 25, 10, 0,
                   -5, -2, 8, 22, 45, 78, 92, 95, 80, 60, 45, 38],
        "weekend_factor": 0.85,
    },
    "horizon": {"hours": 336},
    "fleets": [
        {"name": "homes", "vehicles": 500, "battery_kwh": 60, "charger_kw": 7.2,
         "charge_efficiency": 0.9, "discharge_efficiency": 0.9,
         "contract_limit": 0.5, "initial_soc": 0.6,
         "availability": {"model": "synthetic", "pattern": "residential"}},
    ],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float,
                        default=os.environ.get("AGGREGATOR_EXAMPLE_HOURS"),
                        help="horizon in hours (default: two weeks)")
    args = parser.parse_args(argv)

    plugin = Plugin()
    aggregator.plugins.register(plugin, name="example-daily-profile")
    try:
        scenario = dict(SCENARIO, horizon={"hours": float(args.hours or 336)})
        result = scenario_from_dict(scenario, source="custom_price_source.py").solve()
        print_summary(result)
    finally:
        aggregator.plugins.unregister(plugin)


if __name__ == "__main__":
    main()
