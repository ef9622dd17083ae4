"""Deterministic synthetic inputs: a California-like price year and fleet availability.

These generate the embedded default scenario and serve as the ``synthetic``
price source and availability model.  They are not a forecast: they are shaped
like the real thing (an evening peak, a midday solar dip that goes negative in
spring, weekday/weekend commuting) so that a first run shows realistic
behaviour without any input file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["synthetic_prices", "synthetic_availability", "AVAILABILITY_PATTERNS"]

AVAILABILITY_PATTERNS = ("residential", "commercial", "mixed")


def _hours(index: pd.DatetimeIndex) -> np.ndarray:
    return index.hour.to_numpy() + index.minute.to_numpy() / 60.0


def synthetic_prices(index: pd.DatetimeIndex, seed: int = 2024) -> np.ndarray:
    """California-like wholesale prices in $/MWh on a time index.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The time steps (any step length).
    seed : int
        Seed of the noise; the same seed gives the same prices.

    Returns
    -------
    numpy.ndarray
        Prices in $/MWh: about 35-45 at night, an evening peak near 19:00,
        a midday solar dip that is deepest in spring (negative on many spring
        days), occasional scarcity spikes.

    Examples
    --------
    >>> idx = pd.date_range("2024-04-01", periods=24, freq="h")
    >>> p = synthetic_prices(idx)
    >>> bool(p[19] > p[3] > p[12])
    True
    """
    rng = np.random.default_rng(seed)
    hour = _hours(index)
    doy = index.day_of_year.to_numpy()
    weekend = index.day_of_week.to_numpy() >= 5
    # Seasonal level: higher in late summer (cooling load), lower in spring.
    season = 42 + 10 * np.cos(2 * np.pi * (doy - 230) / 366)
    # Solar dip: strongest in April/May, shaped by daylight hours.
    daylight = np.clip(np.sin(np.pi * (hour - 6.5) / 12.5), 0, None)
    spring = 0.55 + 0.45 * np.cos(2 * np.pi * (doy - 120) / 366)
    solar = 70 * spring * daylight**1.5
    # Evening ramp and peak around 19:00 when solar fades.
    evening = 45 * np.exp(-0.5 * ((hour - 19.0) / 1.6) ** 2) * (1 + 0.5 * np.cos(2 * np.pi * (doy - 230) / 366))
    morning = 12 * np.exp(-0.5 * ((hour - 7.5) / 1.2) ** 2)
    day_noise = np.repeat(rng.normal(0, 6, size=len(np.unique(index.normalize()))), 1)
    day_id = pd.factorize(index.normalize())[0]
    noise = day_noise[day_id] + rng.normal(0, 3, size=len(index))
    price = season + evening + morning - solar - 6 * weekend + noise
    spikes = rng.random(len(index)) < 0.002
    price = price + spikes * rng.uniform(150, 900, size=len(index)) * (hour > 16)
    return np.round(price, 3)


def synthetic_availability(
    index: pd.DatetimeIndex, pattern: str = "residential", seed: int = 7
) -> np.ndarray:
    """Share of a fleet plugged in, per step, for a commuting pattern.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        The time steps.
    pattern : {"residential", "commercial", "mixed"}
        ``residential``: plugged in at home overnight, away on weekday daytimes.
        ``commercial``: plugged in at a workplace or depot on weekday daytimes.
        ``mixed``: the average of the two.
    seed : int
        Seed of the day-to-day variation.

    Returns
    -------
    numpy.ndarray
        Values in [0.05, 1].

    Examples
    --------
    >>> idx = pd.date_range("2024-04-01", periods=24, freq="h")  # a Monday
    >>> a = synthetic_availability(idx, "residential")
    >>> bool(a[2] > a[12])
    True
    """
    if pattern not in AVAILABILITY_PATTERNS:
        raise ValueError(f"pattern {pattern!r}: expected one of {', '.join(AVAILABILITY_PATTERNS)}")
    if pattern == "mixed":
        return np.round(
            0.5 * synthetic_availability(index, "residential", seed)
            + 0.5 * synthetic_availability(index, "commercial", seed + 1),
            4,
        )
    rng = np.random.default_rng(seed)
    hour = _hours(index)
    weekday = index.day_of_week.to_numpy() < 5
    # Smooth departure around 7-8 h and return around 17-18 h.
    away = 1 / (1 + np.exp(-(hour - 7.5) * 0.9)) * 1 / (1 + np.exp((hour - 17.5) * 0.9))
    if pattern == "residential":
        share = np.where(weekday, 0.92 - 0.6 * away, 0.85 - 0.25 * away)
    else:
        share = np.where(weekday, 0.12 + 0.75 * away, 0.1 + 0.05 * away)
    # Day-to-day variation, interpolated between noon points so that it never jumps.
    hours_since = (index - index[0]).total_seconds().to_numpy() / 3600.0 if len(index) else np.zeros(0)
    knots = np.arange(-12.0, hours_since.max(initial=0.0) + 36.0, 24.0)
    share = share + np.interp(hours_since, knots, rng.normal(0, 0.03, size=knots.size))
    return np.round(np.clip(share, 0.05, 1.0), 4)
