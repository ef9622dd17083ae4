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

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

import aggregator
from aggregator import AvailabilityModel, InputError

from .schedule import DEFAULT_TRIPS, Clock, Trip, availability_from_trips, parse_trips

__all__ = ["TripsAvailability", "Clock", "Trip", "availability_from_trips", "parse_trips", "DEFAULT_TRIPS"]
__version__ = "0.1.0"


class TripsAvailability(AvailabilityModel):
    """Availability from trip schedules or departure/arrival distributions (``model = "trips"``).

    Vehicles are plugged in unless on a trip; see :mod:`aggregator_trips.schedule`.
    Without ``trips`` the fleet commutes on weekdays (leaves about 7:30, back
    about 17:45, 90 % of it) and half of it runs a 3-hour errand around 11:00
    at weekends.
    """

    name = "trips"
    options = {
        "trips": "array of { depart, arrive | duration, days, share }; times \"HH:MM\", hours or { mean, std }",
        "plugged_in": "share of the vehicles at home that are plugged in (default 1.0)",
        "sample": "simulated vehicles per day for random times (default 1000)",
        "seed": "random seed, an integer >= 0 (default 0)",
    }

    def profile(
        self, options: Mapping[str, Any], *, base_dir: Path, time: pd.DatetimeIndex, step_hours: float
    ) -> np.ndarray:
        """Build the availability profile from the trips.

        Parameters
        ----------
        options : mapping
            The ``availability`` table without ``model`` (see :attr:`options`).
        base_dir : pathlib.Path
            Folder of the scenario file (unused).
        time : pandas.DatetimeIndex
            Start of each step.
        step_hours : float
            Step length in hours.

        Returns
        -------
        numpy.ndarray
            Share of the fleet plugged in for the whole step, one per step.

        Raises
        ------
        InputError
            Naming the key or trip entry at fault.
        """
        trips = parse_trips(options.get("trips", DEFAULT_TRIPS), "availability")
        plugged_in = options.get("plugged_in", 1.0)
        if isinstance(plugged_in, bool) or not isinstance(plugged_in, (int, float)) or not 0 <= plugged_in <= 1:
            raise InputError(f"availability plugged_in = {plugged_in!r}: expected a share in [0, 1]")
        sample = options.get("sample", 1000)
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise InputError(f"availability sample = {sample!r}: expected an integer >= 1")
        seed = options.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"availability seed = {seed!r}: expected an integer >= 0")
        return availability_from_trips(
            trips, time, step_hours, plugged_in=float(plugged_in), sample=sample, seed=seed
        )


@aggregator.hookimpl
def aggregator_register_availability_models() -> list[type[AvailabilityModel]]:
    """Register the ``trips`` availability model.

    Returns
    -------
    list of type
        ``[TripsAvailability]``.
    """
    return [TripsAvailability]
