"""The ``trips`` availability model (:class:`TripsAvailability`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from aggregator import AvailabilityModel, Option

from .schedule import DEFAULT_TRIPS, Clock, Trip, availability_from_trips, parse_trips

__all__ = ["TripsAvailability", "Clock", "Trip", "availability_from_trips", "parse_trips", "DEFAULT_TRIPS"]


class TripsAvailability(AvailabilityModel):
    """Availability from trip schedules or departure/arrival distributions (``model = "trips"``).

    Vehicles are plugged in unless on a trip; see :mod:`aggregator_trips.schedule`.
    Without ``trips`` the fleet commutes on weekdays (leaves about 7:30, back
    about 17:45, 90 % of it) and half of it runs a 3-hour errand around 11:00
    at weekends.
    """

    name = "trips"
    options = {
        "trips": Option(list, "array of { depart, arrive | duration, days, share }; times \"HH:MM\", hours or "
                        "{ mean, std } (default: weekday commuters, weekend errands)",
                        items=Option(dict), schema={"minItems": 1}),
        "plugged_in": Option(float, "share of the vehicles at home that are plugged in", minimum=0, maximum=1,
                             default=1.0),
        "sample": Option(int, "simulated vehicles per day for random times", minimum=1, default=1000),
        "seed": Option(int, "random seed", minimum=0, default=0),
    }

    def profile(
        self, options: Mapping[str, Any], *, base_dir: Path, time: pd.DatetimeIndex, step_hours: float
    ) -> np.ndarray:
        """Build the availability profile from the trips.

        Parameters
        ----------
        options : mapping
            The ``availability`` table without ``model``, checked against
            :attr:`options` (defaults filled in) by the core.
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
        return availability_from_trips(
            trips, time, step_hours, plugged_in=float(options["plugged_in"]), sample=options["sample"],
            seed=options["seed"],
        )
