"""Fleet availability from trips: fixed schedules or departure/arrival distributions.

A fleet is plugged in unless its vehicles are on a trip.  Each trip entry says
when vehicles leave (``depart``), when they are back (``arrive``, the next time
the clock shows it, so ``depart = "17:00", arrive = "09:00"`` is an overnight
absence) or for how long (``duration`` in hours), on which days, and which
share of the fleet makes it.  A time may be fixed (``"07:30"`` or ``7.5``) or
drawn from a normal distribution (``{ mean = 7.5, std = 1.0 }``, in hours);
distributions are sampled for ``sample`` simulated vehicles per day, with a
random stream fixed by ``seed`` and the calendar day, so a day's profile does
not depend on where the horizon starts or how long it is.

A vehicle counts as available in a step only if it is home for the *whole*
step (a vehicle that leaves at 7:30 is away from the 7:00 step on).  Shares of
overlapping trips add up, capped at the whole fleet.  The profile is
``plugged_in * (1 - share away)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from aggregator import InputError
from aggregator.options import DAY_NAMES, is_number, parse_days

__all__ = ["Clock", "Trip", "availability_from_trips", "parse_trips", "DEFAULT_TRIPS", "DAY_NAMES"]

#: Used when a fleet gives no ``trips``: commuters on weekdays, errands at weekends.
DEFAULT_TRIPS: list[dict[str, Any]] = [
    {"depart": {"mean": 7.5, "std": 1.0}, "arrive": {"mean": 17.75, "std": 1.25}, "days": "weekdays", "share": 0.9},
    {"depart": {"mean": 11.0, "std": 2.0}, "duration": {"mean": 3.0, "std": 1.5}, "days": "weekends", "share": 0.5},
]

_TRIP_KEYS = {"depart", "arrive", "duration", "days", "share"}
_EPS = 1e-9


@dataclass(frozen=True)
class Clock:
    """A fixed value or a normal distribution, in hours.

    Parameters
    ----------
    mean : float
        The value, or the distribution's mean.
    std : float
        Standard deviation (0: fixed).
    """

    mean: float
    std: float = 0.0

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` values (all equal to ``mean`` when ``std`` is 0).

        Parameters
        ----------
        rng : numpy.random.Generator
        size : int

        Returns
        -------
        numpy.ndarray
        """
        if self.std == 0:
            return np.full(size, self.mean)
        return rng.normal(self.mean, self.std, size)


@dataclass(frozen=True)
class Trip:
    """One trip entry.

    Parameters
    ----------
    depart : Clock
        Clock time of departure (hours after midnight).
    arrive : Clock or None
        Clock time of return (the next one after departure), or None with ``duration``.
    duration : Clock or None
        Length of the trip in hours, or None with ``arrive``.
    days : frozenset of int
        Weekdays of departure (Monday = 0).
    share : float
        Share of the fleet that makes the trip, in (0, 1].
    """

    depart: Clock
    arrive: Clock | None
    duration: Clock | None
    days: frozenset[int]
    share: float

    @property
    def random(self) -> bool:
        """Whether any of its times is drawn from a distribution."""
        return any(c is not None and c.std > 0 for c in (self.depart, self.arrive, self.duration))

    def intervals(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Departure clock hour and trip length for ``size`` vehicles on one day.

        Parameters
        ----------
        rng : numpy.random.Generator
        size : int

        Returns
        -------
        tuple of numpy.ndarray
            ``(depart, length)`` in hours; ``depart`` in [0, 24), ``length`` >= 0.
        """
        depart = np.mod(self.depart.draw(rng, size), 24.0)
        if self.arrive is not None:
            length = np.mod(np.mod(self.arrive.draw(rng, size), 24.0) - depart, 24.0)
        else:
            assert self.duration is not None
            length = np.maximum(self.duration.draw(rng, size), 0.0)
        return depart, length


def _time_of_day(value: Any, key: str) -> float:
    if isinstance(value, str):
        parts = value.strip().split(":")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            hours, minutes = int(parts[0]), int(parts[1])
            if 0 <= hours <= 24 and 0 <= minutes < 60 and hours * 60 + minutes <= 24 * 60:
                return hours + minutes / 60.0
    elif is_number(value) and 0 <= value <= 24:
        return float(value)
    raise InputError(f"{key} = {value!r}: expected a time of day such as \"07:30\" or 7.5 (hours, 0-24)")


def _clock(value: Any, key: str, *, time_of_day: bool) -> Clock:
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"mean", "std"})
        if unknown:
            raise InputError(f"{key}: unknown key {unknown[0]!r}; expected {{ mean = ..., std = ... }}")
        if "mean" not in value:
            raise InputError(f"{key}: needs `mean = ...`")
        mean = _time_of_day(value["mean"], f"{key} mean") if time_of_day else value["mean"]
        if not time_of_day and (not is_number(mean) or mean < 0):
            raise InputError(f"{key} mean = {mean!r}: expected hours >= 0")
        std = value.get("std", 0.0)
        if not is_number(std) or std < 0:
            raise InputError(f"{key} std = {std!r}: expected hours >= 0")
        return Clock(float(mean), float(std))
    if time_of_day:
        return Clock(_time_of_day(value, key))
    if not is_number(value) or value < 0:
        raise InputError(f"{key} = {value!r}: expected hours >= 0 or {{ mean = ..., std = ... }}")
    return Clock(float(value))


def parse_trips(raw: Any, where: str = "availability") -> list[Trip]:
    """Check trip entries and turn them into :class:`Trip` objects.

    Parameters
    ----------
    raw : list of dict
        The ``trips`` array of tables.
    where : str
        Prefix of error messages.

    Returns
    -------
    list of Trip

    Raises
    ------
    InputError
        Naming the entry and the key at fault.

    Examples
    --------
    >>> [trip] = parse_trips([{"depart": "07:30", "arrive": "18:00", "days": "weekdays"}])
    >>> trip.depart.mean, trip.arrive.mean, sorted(trip.days), trip.share
    (7.5, 18.0, [0, 1, 2, 3, 4], 1.0)
    """
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise InputError(
            f"{where} trips = {raw!r}: expected an array of tables such as "
            '[{ depart = "07:30", arrive = "18:00", days = "weekdays" }]'
        )
    trips = []
    for i, entry in enumerate(raw, start=1):
        key = f"{where} trips[{i}]"
        for k in entry:
            if k not in _TRIP_KEYS:
                raise InputError(f"{key}: unknown key {k!r}; expected one of {', '.join(sorted(_TRIP_KEYS))}")
        if "depart" not in entry:
            raise InputError(f"{key}: needs `depart = ...` (a time of day such as \"07:30\")")
        if ("arrive" in entry) == ("duration" in entry):
            raise InputError(f"{key}: needs exactly one of `arrive = ...` (a time of day) or `duration = ...` (hours)")
        share = entry.get("share", 1.0)
        if not is_number(share) or not 0 < share <= 1:
            raise InputError(f"{key} share = {share!r}: expected a share of the fleet in (0, 1]")
        trips.append(
            Trip(
                depart=_clock(entry["depart"], f"{key} depart", time_of_day=True),
                arrive=_clock(entry["arrive"], f"{key} arrive", time_of_day=True) if "arrive" in entry else None,
                duration=_clock(entry["duration"], f"{key} duration", time_of_day=False)
                if "duration" in entry
                else None,
                days=parse_days(entry.get("days", "all"), f"{key} days"),
                share=float(share),
            )
        )
    return trips


def availability_from_trips(
    trips: list[Trip],
    time: pd.DatetimeIndex,
    step_hours: float,
    *,
    plugged_in: float = 1.0,
    sample: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """The share of the fleet plugged in for the whole of each step.

    Parameters
    ----------
    trips : list of Trip
        The trip entries.
    time : pandas.DatetimeIndex
        Start of each step (regular steps).
    step_hours : float
        Step length in hours.
    plugged_in : float
        Share of the vehicles at home that are plugged in.
    sample : int
        Simulated vehicles per day for entries with random times.
    seed : int
        Seed of the random streams (one per entry and calendar day).

    Returns
    -------
    numpy.ndarray
        Shares in [0, 1], one per step.

    Examples
    --------
    Everyone leaves at 7:30 and is back at 18:00 on weekdays; hourly steps on a Monday:

    >>> trips = parse_trips([{"depart": "07:30", "arrive": "18:00", "days": "weekdays"}])
    >>> time = pd.date_range("2024-07-01", periods=24, freq="h")
    >>> profile = availability_from_trips(trips, time, 1.0)
    >>> profile[[6, 7, 17, 18]].tolist()
    [1.0, 0.0, 0.0, 1.0]
    """
    n = len(time)
    first = pd.Timestamp(time[0])
    midnight = first.normalize()
    offset = (first - midnight) / pd.Timedelta(hours=1)  # hours from the first midnight to the first step
    horizon_days = int(math.ceil((offset + n * step_hours) / 24.0))
    away = np.zeros(n)
    for index, trip in enumerate(trips):
        size = sample if trip.random else 1
        # Days whose trips may still be under way when the horizon starts.
        longest = trip.duration.mean + 6 * trip.duration.std if trip.duration is not None else 24.0
        lead = int(math.ceil(longest / 24.0)) + 1
        counts = np.zeros(n + 1)
        for day in range(-lead, horizon_days):
            date = midnight + pd.Timedelta(days=day)
            if date.day_of_week not in trip.days:
                continue
            rng = np.random.default_rng([seed, index, date.toordinal()])
            depart, length = trip.intervals(rng, size)
            start = day * 24.0 + depart - offset  # hours after the first step's start
            end = start + length
            first_step = np.floor(start / step_hours + _EPS).astype(int)
            last_step = np.ceil(end / step_hours - _EPS).astype(int) - 1
            keep = (length > 0) & (last_step >= 0) & (first_step < n) & (last_step >= first_step)
            np.add.at(counts, np.clip(first_step[keep], 0, n), 1.0)
            np.add.at(counts, np.clip(last_step[keep] + 1, 0, n), -1.0)
        away += trip.share * np.minimum(np.cumsum(counts[:n]) / size, 1.0)
    return plugged_in * (1.0 - np.minimum(away, 1.0))
