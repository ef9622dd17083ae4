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

import importlib
from typing import Any

from aggregator.plugins import LazyPlugin, hookimpl

__all__ = ["TripsAvailability", "Clock", "Trip", "availability_from_trips", "parse_trips", "DEFAULT_TRIPS"]
__version__ = "0.2.0"

# Light on purpose: the command line imports this module to list the plugin, so the class (and
# pandas) is imported only when a scenario uses it.
_MODULES = {
    "TripsAvailability": ".model",
    "Clock": ".schedule",
    "Trip": ".schedule",
    "availability_from_trips": ".schedule",
    "parse_trips": ".schedule",
    "DEFAULT_TRIPS": ".schedule",
}


def __getattr__(name: str) -> Any:
    """The package's public names, imported from their modules on first use (:pep:`562`)."""
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def aggregator_register_availability_models() -> list[LazyPlugin]:
    """Register the ``trips`` availability model by its import path (imported when a scenario uses it).

    Returns
    -------
    list of LazyPlugin
    """
    return [
        LazyPlugin(
            "aggregator_trips.model:TripsAvailability",
            name="trips",
            summary="Availability from trip schedules or departure/arrival distributions (``model = \"trips\"``).",
        )
    ]
