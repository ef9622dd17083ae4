"""aggregator-trips: fleet availability from trip schedules or time distributions.

Install it next to ``aggregator`` and select it for a fleet::

    [[fleets]]
    name = "depot"
    ...
    availability = { model = "trips", trips = [
        { depart = "07:30", arrive = "18:00", days = "weekdays", share = 0.9 },
    ] }

The package registers :class:`TripsAvailability` through the
``aggregator_register_availability_models`` hook; the entry point in
``pyproject.toml`` (group ``aggregator``) names this module.
"""

from __future__ import annotations

from aggregator.plugins import LazyPlugin, hookimpl, lazy_exports

__all__ = ["TripsAvailability", "Clock", "Trip", "availability_from_trips", "parse_trips", "DEFAULT_TRIPS"]
__version__ = "0.2.0"

# Light on purpose: the command line imports this module to list the plugin, so the class (and
# pandas) is imported only when a scenario uses it.
__getattr__ = lazy_exports(__name__, {"TripsAvailability": ".model", **dict.fromkeys(__all__[1:], ".schedule")})


@hookimpl
def aggregator_register_availability_models() -> list[LazyPlugin]:
    """Register the ``trips`` availability model by its import path (imported when a scenario uses it)."""
    return [LazyPlugin("aggregator_trips.model:TripsAvailability",
                       name="trips",
                       summary="Availability from trip schedules or departure/arrival distributions (``model = \"trips\"``).")]
