"""How results and inputs are labelled for people: time zone, currency, short numbers.

The figures, the reprs and the summaries label times with the time zone and
money with the currency the prices came in.  Both are read from where the
price readers put them: the ``timezone`` attribute of a result's ``time``
coordinate and the ``currency`` attribute of the result (or the
:class:`~aggregator.PriceSignal`'s ``timezone`` / ``currency``, when it has
them); without them times are UTC and money is ``$``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import xarray as xr

__all__ = ["DEFAULT_TIMEZONE", "DEFAULT_CURRENCY", "time_zone", "currency", "span", "money", "hours"]

#: The zone of times that carry none.
DEFAULT_TIMEZONE = "UTC"
#: The currency of prices that name none.
DEFAULT_CURRENCY = "$"


def time_zone(obj: Any) -> str:
    """The time zone of a result, a dataset or a price signal (default ``"UTC"``).

    Parameters
    ----------
    obj : Result, xarray.Dataset, PriceSignal or pandas.DatetimeIndex
        Read in this order: a ``timezone`` attribute of the ``time``
        coordinate, a ``timezone`` attribute of the object, the zone of a
        time-zone-aware index.

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> time_zone(pd.date_range("2024-01-01", periods=2, freq="h", tz="Europe/Berlin"))
    'Europe/Berlin'
    >>> time_zone(pd.date_range("2024-01-01", periods=2, freq="h"))
    'UTC'
    """
    if isinstance(obj, pd.DatetimeIndex):
        return str(obj.tz) if obj.tz is not None else DEFAULT_TIMEZONE
    ds = getattr(obj, "dataset", obj)
    if isinstance(ds, xr.Dataset) and "time" in ds.coords:
        zone = ds["time"].attrs.get("timezone")
        if zone:
            return str(zone)
        ds = ds.indexes.get("time")
    zone = getattr(obj, "timezone", None)
    if isinstance(zone, str) and zone:
        return zone
    index = getattr(obj, "time", None) if not isinstance(ds, pd.DatetimeIndex) else ds
    tz = getattr(index, "tz", None)
    return str(tz) if tz is not None else DEFAULT_TIMEZONE


def currency(obj: Any) -> str:
    """The currency of a result, a dataset or a price signal (default ``"$"``).

    Parameters
    ----------
    obj : Result, xarray.Dataset or PriceSignal

    Returns
    -------
    str
    """
    ds = getattr(obj, "dataset", obj)
    attrs = getattr(ds, "attrs", None)
    if isinstance(attrs, dict) and attrs.get("currency"):
        return str(attrs["currency"])
    value = getattr(obj, "currency", None)
    return value if isinstance(value, str) and value else DEFAULT_CURRENCY


def span(time: pd.DatetimeIndex, step_hours: float) -> str:
    """``"2024-01-01 00:00 to 2024-01-08 00:00"``: the first step's start to the last step's end.

    Parameters
    ----------
    time : pandas.DatetimeIndex
        Start of each step.
    step_hours : float

    Returns
    -------
    str
    """
    if len(time) == 0:
        return "no steps"
    end = time[-1] + pd.Timedelta(hours=float(step_hours))
    return f"{time[0]:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def money(value: float, unit: str = DEFAULT_CURRENCY) -> str:
    """``"4,964,546.74 $"``; ``"n/a"`` for NaN.

    Parameters
    ----------
    value : float
    unit : str

    Returns
    -------
    str
    """
    value = float(value)
    return f"{value:,.2f} {unit}" if math.isfinite(value) else "n/a"


def hours(step_hours: float) -> str:
    """``"1 h"``, ``"15 min"``: a step length for people.

    Parameters
    ----------
    step_hours : float

    Returns
    -------
    str
    """
    return f"{step_hours:g} h" if step_hours >= 1 else f"{step_hours * 60:g} min"
