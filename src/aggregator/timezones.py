"""Time zones of time stamps: IANA names, local times across daylight saving, and their labels.

A price series keeps the zone its file gives (UTC offsets in the stamps) or the
one a scenario names (``[horizon] timezone``).  Time stamps with a zone are
instants: a step is the same length in every hour of the year, so a local day
has 23 or 25 steps when the clocks change.  Local times without an offset are
read in the named zone; a local time the clocks skip (spring) or repeat
(autumn) is an error naming the file and line unless a rule is given
(:data:`AMBIGUOUS_RULES`, :data:`NONEXISTENT_RULES`).

Results keep the time axis in UTC (it is unique and evenly spaced, as netCDF
needs) and carry the zone as the attribute :data:`TIMEZONE_ATTR` of the
``time`` coordinate and of the dataset; :func:`local_time` gives the local
stamps back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .errors import InputError

if TYPE_CHECKING:  # pandas is imported where it is used (the CLI's fast commands never import it)
    import pandas as pd

__all__ = [
    "AMBIGUOUS_RULES",
    "NONEXISTENT_RULES",
    "TIMEZONE_ATTR",
    "check_timezone",
    "in_zone",
    "zone_name",
    "utc_naive",
    "local_time",
]

#: The attribute, on a result's ``time`` coordinate and on the result itself, naming the zone of the time axis
#: (an IANA name such as ``Europe/Berlin``, a fixed offset such as ``UTC+01:00``, or ``UTC``).  Absent when the
#: prices had no zone: the stamps are then local times of an unknown zone.
TIMEZONE_ATTR = "timezone"

#: How a local time that the clocks repeat (the hour they go back) is read: ``infer`` from the order of the
#: stamps (the first of a repeated hour is daylight time; a lone such stamp is an error), ``earliest``
#: (daylight time) or ``latest`` (standard time).
AMBIGUOUS_RULES = ("infer", "earliest", "latest")
#: What a local time that the clocks skip (the hour they go forward) becomes: an error (``raise``), or the
#: first instant after the gap (``shift_forward``) or the last before it (``shift_backward``).
NONEXISTENT_RULES = ("raise", "shift_forward", "shift_backward")


def check_timezone(name: Any, where: str = "timezone") -> str:
    """An IANA time-zone name, checked with :mod:`zoneinfo` (the ``tzdata`` package supplies the database).

    Parameters
    ----------
    name : str
        Such as ``"America/Los_Angeles"``, ``"Europe/Berlin"`` or ``"UTC"``.
    where : str
        The key that gave it, for messages.

    Returns
    -------
    str
        The name.

    Raises
    ------
    InputError
        If the name is not a string or not a zone of the database.

    Examples
    --------
    >>> check_timezone("Europe/Berlin")
    'Europe/Berlin'
    """
    import zoneinfo

    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where} = {name!r}: expected an IANA time-zone name such as \"Europe/Berlin\"")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in zoneinfo.available_timezones() if z.lower() == name.lower()
                       or z.lower().endswith("/" + name.lower().split("/")[-1]))
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"{where} = {name!r}: not a time zone of the IANA database (expected a name such as "
            f"\"America/Los_Angeles\" or \"Europe/Berlin\"){hint}"
        ) from None
    return name


def zone_name(index: "pd.DatetimeIndex") -> str | None:
    """The zone of time stamps as a name (``Europe/Berlin``, ``UTC+01:00``, ``UTC``), or None without one.

    Parameters
    ----------
    index : pandas.DatetimeIndex

    Returns
    -------
    str or None
    """
    tz = getattr(index, "tz", None)
    if tz is None:
        return None
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo, pytz
    return str(key) if key else str(tz)


def utc_naive(index: "pd.DatetimeIndex") -> "pd.DatetimeIndex":
    """Stamps with a zone as naive UTC stamps (unchanged without a zone): the form results store."""
    return index if index.tz is None else index.tz_convert("UTC").tz_localize(None)


def local_time(time: Any, default: str | None = None) -> "pd.DatetimeIndex":
    """The local time stamps of a result's (or inputs') ``time`` coordinate.

    Parameters
    ----------
    time : xarray.DataArray
        ``result.dataset["time"]``: naive UTC stamps with the attribute
        :data:`TIMEZONE_ATTR`, or naive stamps without it.
    default : str, optional
        The zone for stamps without the attribute, which are then read as
        UTC (plots use the result's zone, ``"UTC"`` by default).  Without
        it such stamps are returned as they are.

    Returns
    -------
    pandas.DatetimeIndex
        In the zone of the attribute (else of ``default``); the stamps as
        they are without either.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> t = xr.DataArray(pd.date_range("2024-07-01", periods=2, freq="h"), dims="time",
    ...                  attrs={"timezone": "Europe/Berlin"})
    >>> [str(s) for s in local_time(t)]
    ['2024-07-01 02:00:00+02:00', '2024-07-01 03:00:00+02:00']
    >>> [str(s) for s in local_time(t.drop_attrs(), default="UTC")]
    ['2024-07-01 00:00:00+00:00', '2024-07-01 01:00:00+00:00']
    """
    import pandas as pd

    index = pd.DatetimeIndex(time.to_numpy() if hasattr(time, "to_numpy") else time)
    zone = getattr(time, "attrs", {}).get(TIMEZONE_ATTR) or default
    if not zone:
        return index
    if index.tz is None:
        index = index.tz_localize("UTC")
    return index.tz_convert(zone)


def in_zone(
    stamps: "pd.DatetimeIndex",
    zone: Any,
    *,
    where: str,
    lines: Sequence[int] | None = None,
    ambiguous: str = "infer",
    nonexistent: str = "raise",
    column: str | None = None,
) -> "pd.DatetimeIndex":
    """Stamps in ``zone``: converted when they have a zone, read as its local times when they have none.

    Naive stamps are read across daylight-saving changes: a local time the
    clocks repeat is read by the rule ``ambiguous``, one they skip by the rule
    ``nonexistent``; by default a repeated hour is read in order and a skipped
    one is an error naming the file and line.

    Parameters
    ----------
    stamps : pandas.DatetimeIndex
        With a zone, or naive local times sorted as in their file.
    zone : str, tzinfo or None
        An IANA name (or a zone object); None leaves the stamps as they are.
    where : str
        The file (or source) of the stamps, for messages.
    lines : sequence of int, optional
        The line of each stamp in its file, for messages (default: its row, from 1).
    ambiguous : {"infer", "earliest", "latest"}
        A local time the clocks repeat (:data:`AMBIGUOUS_RULES`).
    nonexistent : {"raise", "shift_forward", "shift_backward"}
        A local time the clocks skip (:data:`NONEXISTENT_RULES`).
    column : str, optional
        The column of the stamps, for messages.

    Returns
    -------
    pandas.DatetimeIndex

    Raises
    ------
    InputError
        Naming the file, the line and the local time that the clocks skip, or
        that they repeat when the rule cannot tell which of the two is meant.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DatetimeIndex(["2024-11-03 00:00", "2024-11-03 01:00", "2024-11-03 01:00", "2024-11-03 02:00"])
    >>> [str(s) for s in in_zone(t, "America/Los_Angeles", where="f.csv")]  # doctest: +NORMALIZE_WHITESPACE
    ['2024-11-03 00:00:00-07:00', '2024-11-03 01:00:00-07:00', '2024-11-03 01:00:00-08:00',
     '2024-11-03 02:00:00-08:00']
    """
    if zone is None:
        return stamps
    if stamps.tz is not None:
        return stamps.tz_convert(zone)
    return _localize(stamps, zone, where, lines, ambiguous, nonexistent, column)


def _localize(stamps: "pd.DatetimeIndex", zone: Any, where: str, lines: Sequence[int] | None, ambiguous: str,
              nonexistent: str, column: str | None) -> "pd.DatetimeIndex":
    """:func:`in_zone` of naive stamps."""
    import numpy as np

    if ambiguous not in AMBIGUOUS_RULES:
        raise InputError(f"ambiguous = {ambiguous!r}: expected one of {', '.join(AMBIGUOUS_RULES)}")
    if nonexistent not in NONEXISTENT_RULES:
        raise InputError(f"nonexistent = {nonexistent!r}: expected one of {', '.join(NONEXISTENT_RULES)}")

    def line(i: int) -> str:
        place = f", line {int(lines[i])}" if lines is not None else f", row {i + 1}" if len(stamps) > 1 else ""
        return place + (f", column {column!r}" if column else "")

    # Which stamps the clocks skip, and which they repeat (each found with the other rule made harmless).
    dst = np.ones(len(stamps), dtype=bool)
    skipped = stamps.tz_localize(zone, ambiguous=dst, nonexistent="NaT").isna()
    repeated = stamps.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward").isna()
    if skipped.any() and nonexistent == "raise":
        i = int(np.flatnonzero(skipped)[0])
        raise InputError(
            f"{where}{line(i)}: local time {stamps[i]} does not exist in {zone} (the clocks go forward over it); "
            "expected a time of the zone: write the stamps with UTC offsets, drop the row, or give "
            "[horizon] nonexistent = \"shift_forward\""
        )
    if ambiguous == "infer":
        rule: Any = "infer"
        if repeated.any():
            try:
                return stamps.tz_localize(zone, ambiguous="infer", nonexistent=nonexistent)
            except ValueError:  # pandas' AmbiguousTimeError: a repeated hour the order does not resolve
                i = int(np.flatnonzero(repeated)[0])
                raise InputError(
                    f"{where}{line(i)}: local time {stamps[i]} occurs twice in {zone} (the clocks go back) and "
                    "nothing tells which of the two is meant (a file would repeat it); write the time with its UTC "
                    "offset, or give [horizon] ambiguous = \"earliest\" (daylight time) or \"latest\""
                ) from None
        rule = dst
    else:
        rule = np.full(len(stamps), ambiguous == "earliest")
    return stamps.tz_localize(zone, ambiguous=rule, nonexistent=nonexistent)

