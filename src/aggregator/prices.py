"""PriceSignal (wholesale prices on a time index) and price sources.

A *price source* is a plugin kind: a class with a ``name``, registered through
the ``aggregator_register_price_sources`` hook, that turns the options of a
scenario's ``[prices]`` table into a :class:`PriceSignal`.  The builtin sources
are ``csv``, ``constant`` and ``synthetic`` here, and ``caiso_oasis`` and
``entsoe`` in :mod:`aggregator.market_files`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .csv_input import numeric_column, read_csv_table
from .errors import PLUGIN_OPTION_FAILURES, InputError, PluginError, plugin_failed
from .options import Option
from .synthetic import synthetic_prices
from .timezones import in_zone, zone_name

__all__ = [
    "PriceSignal",
    "PriceSource",
    "CsvPriceSource",
    "ConstantPriceSource",
    "SyntheticPriceSource",
    "DEFAULT_START",
    "InvalidPriceSignal",
    "load_prices",
    "price_step_hours",
    "window_offset",
    "stamp_step_hours",
    "check_time_stamps",
    "time_column",
    "TIME_COLUMNS",
    "PER_KWH_LIMIT",
]

DEFAULT_START = pd.Timestamp("2024-01-01 00:00")
#: Names of the column that holds time stamps, in the order they are looked for.
TIME_COLUMNS = ("time", "Time", "datetime", "Datetime", "timestamp", "Timestamp", "Date", "date")


#: Prices outside this range in $/MWh are probably a unit or data error: a scenario warns about
#: them (``[prices] min_price`` and ``max_price`` change the range for one scenario).
PRICE_RANGE = (-1000.0, 20000.0)

#: Prices whose every magnitude is below this are probably per kWh, not per MWh: a scenario warns.
PER_KWH_LIMIT = 1.0

#: The longest series a scenario may ask for, in steps (a larger one is surely a typing error).
MAX_STEPS = 10_000_000
#: The shortest step, in hours: one second.
MIN_STEP_HOURS = 1 / 3600
#: Rows of a price file read to find the step of its time stamps.
_STEP_ROWS = 64


def _time_index(start: pd.Timestamp | str, steps: int, step_hours: float) -> pd.DatetimeIndex:
    try:
        return pd.date_range(pd.Timestamp(start), periods=steps, freq=pd.Timedelta(hours=step_hours))
    except (ValueError, OverflowError) as exc:  # pandas.errors.OutOfBoundsDatetime is a ValueError
        raise InputError(
            f"a time axis of {steps} steps of {step_hours:g} h from {start} cannot be built ({exc}); "
            "expected dates between 1678 and 2262"
        ) from None


def _price(x: float) -> str:
    """A price for messages: thousands separated, at most two decimals (``25,000``, ``41.88``)."""
    text = f"{x:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _steps_option(options: Mapping[str, Any], key: str, step_hours: float, default: int | None) -> int | None:
    """The number of steps in ``options[key]`` (hours), checked; ``default`` when the key is absent."""
    hours = options.get(key)
    if hours is None:
        return default
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) or hours <= 0:
        raise InputError(f"[prices] {key} = {hours!r}; expected a number of hours > 0")
    steps = int(round(hours / step_hours))
    if steps < 1 or abs(steps * step_hours - hours) > 1e-9 * max(1.0, hours):
        raise InputError(f"[prices] {key} = {hours!r}; expected a whole number of {step_hours:g}-hour steps")
    if steps > MAX_STEPS:
        raise InputError(f"[prices] {key} = {hours!r} makes {steps:,} steps; expected at most {MAX_STEPS:,}")
    return steps


class InvalidPriceSignal(InputError):
    """Values, step length or time stamps that :class:`PriceSignal` refuses (NaN, a length mismatch, ...).

    An :class:`~aggregator.errors.InputError` when a user builds the signal; when a
    price source builds it inside :meth:`PriceSource.load`, the core reports a
    bug in that source (:func:`load_prices`).
    """


@dataclass(frozen=True, eq=False)
class PriceSignal:
    """Wholesale prices per MWh on a time index with a fixed step length.

    Parameters
    ----------
    values : array_like or pandas.Series
        Price per step per MWh (negative prices are allowed).  A Series with a
        DatetimeIndex gives the time index too (see :meth:`from_series`).
    step_hours : float
        Length of a step in hours (Δt).
    time : pandas.DatetimeIndex, optional
        Start of each step; default: hourly steps from 2024-01-01.  Stamps with
        a time zone are instants (a local day across a daylight-saving change
        has 23 or 25 hourly steps); the zone is :attr:`timezone`.
    source : str
        Where the prices came from, for provenance.
    currency : str
        A label of the prices' currency (``"EUR"``, ``"USD"``), carried into
        summaries and result attributes; empty: unstated (shown as ``$``).

    Examples
    --------
    >>> p = PriceSignal([30.0, 80.0, -5.0], step_hours=1.0)
    >>> len(p), float(p.values.max())
    (3, 80.0)
    >>> p.head(2).values.tolist()
    [30.0, 80.0]
    """

    values: Any
    step_hours: float = 1.0
    time: pd.DatetimeIndex | None = None
    source: str = "array"
    _checked: bool = field(default=False, repr=False)
    currency: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.values, pd.Series) and self.time is None and isinstance(self.values.index, pd.DatetimeIndex):
            object.__setattr__(self, "time", self.values.index)
        if not isinstance(self.currency, str):
            raise InvalidPriceSignal(f"prices ({self.source}): currency = {self.currency!r}; expected a label such as \"EUR\"")
        try:
            values = np.asarray(self.values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidPriceSignal(f"prices ({self.source}): the values are not numbers ({exc})") from None
        if sum(n > 1 for n in values.shape) > 1:
            raise InvalidPriceSignal(f"prices ({self.source}): values of shape {values.shape}; expected one per step")
        values = values.reshape(-1)
        if values.size == 0:
            raise InvalidPriceSignal(f"prices ({self.source}): no values")
        if not np.isfinite(values).all():
            step = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InvalidPriceSignal(f"prices ({self.source}): step {step} is {values[step]!r}; expected a finite number")
        if isinstance(self.step_hours, bool) or not np.isfinite(self.step_hours) or self.step_hours < MIN_STEP_HOURS:
            raise InvalidPriceSignal(f"step_hours = {self.step_hours!r}; expected a number of hours of at least 1 second (1/3600)")
        time = self.time
        if time is None:
            time = _time_index(DEFAULT_START, values.size, float(self.step_hours))
        else:
            time = pd.DatetimeIndex(time)
            if len(time) != values.size:
                raise InvalidPriceSignal(
                    f"prices ({self.source}): {values.size} values but {len(time)} time stamps; expected the same"
                )
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "step_hours", float(self.step_hours))

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def timezone(self) -> str | None:
        """The zone of the time stamps (an IANA name, a fixed offset or ``UTC``), or None for naive stamps."""
        return zone_name(self.time)

    @property
    def unit(self) -> str:
        """The prices' unit for messages: ``EUR/MWh``, or ``$/MWh`` when the currency is unstated."""
        return f"{self.currency or '$'}/MWh"

    def per_kwh_warning(self) -> str | None:
        """A warning when every price is smaller than 1 in magnitude (likely per kWh), else None.

        Examples
        --------
        >>> PriceSignal([0.12, 0.31]).per_kwh_warning()[:60]
        'prices (array): every price is below 1 $/MWh in magnitude (t'
        """
        if np.abs(self.values).max() >= PER_KWH_LIMIT or not np.any(self.values):
            return None
        return (
            f"prices ({self.source}): every price is below {PER_KWH_LIMIT:g} {self.unit} in magnitude (the largest is "
            f"{float(np.abs(self.values).max()):g}); they look like prices per kWh: multiply them by 1000 to get "
            "prices per MWh"
        )

    @classmethod
    def from_series(cls, series: pd.Series, *, source: str | None = None, currency: str = "") -> "PriceSignal":
        """Prices from a :class:`pandas.Series` indexed by time (what entsoe-py and gridstatus return).

        The step is read from the index, which must be sorted, unique and
        evenly spaced (in absolute time: a zone-aware index across a
        daylight-saving change is evenly spaced); its zone is kept.

        Parameters
        ----------
        series : pandas.Series
            Prices per MWh on a DatetimeIndex (two stamps at least).
        source : str, optional
            Provenance (default: the series' name, or ``"series"``).
        currency : str
            A label of the currency.

        Returns
        -------
        PriceSignal

        Raises
        ------
        InputError
            If the index is not a DatetimeIndex, or has a duplicate, a gap, a
            change of resolution or a stamp out of order (named), or a value is
            not a finite number.

        Examples
        --------
        >>> s = pd.Series([50.0, 20.0, 35.0], index=pd.date_range("2025-10-01", periods=3, freq="15min", tz="Europe/Berlin"))
        >>> p = PriceSignal.from_series(s, currency="EUR")
        >>> p.step_hours, p.timezone, p.currency
        (0.25, 'Europe/Berlin', 'EUR')
        """
        name = source or (str(series.name) if series.name is not None else "series")
        if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
            raise InputError(f"prices ({name}): expected a pandas Series with a DatetimeIndex, found {type(series).__name__}"
                             + (f" indexed by {type(series.index).__name__}" if isinstance(series, pd.Series) else ""))
        index = series.index
        if len(index) < 2:
            raise InputError(f"prices ({name}): {len(index)} time stamp(s); expected two at least, to read the step")
        check_time_stamps(index, pd.RangeIndex(1, len(index) + 1), f"prices ({name})", "index", None, noun="row")
        step = stamp_step_hours(index)
        try:
            return cls(series.to_numpy(dtype=float), step, index, name, currency=currency)
        except (TypeError, ValueError) as exc:
            raise InputError(f"prices ({name}): the values are not numbers ({exc})") from None


    def __repr__(self) -> str:
        from . import labels

        v = self.values
        unit = f"{labels.currency(self)}/MWh"
        return (
            f"<PriceSignal {len(self):,} steps of {labels.hours(self.step_hours)}, "
            f"{labels.span(self.time, self.step_hours)} {labels.time_zone(self)}; "
            f"{v.min():,.2f} to {v.max():,.2f} {unit}, mean {v.mean():,.2f}"
            f"{f', {int((v < 0).sum()):,} negative' if (v < 0).any() else ''}; source {self.source!r}>"
        )

    def head(self, steps: int) -> "PriceSignal":
        """The first ``steps`` steps.

        Parameters
        ----------
        steps : int
            Number of steps to keep; must not exceed the length.

        Returns
        -------
        PriceSignal

        Raises
        ------
        InputError
            If the signal is shorter than ``steps`` (names both lengths).
        """
        if steps > len(self):
            raise InputError(
                f"prices ({self.source}) have {len(self)} steps but the horizon asks for {steps}; "
                "shorten [horizon] hours or supply a longer series"
            )
        return replace(self, values=self.values[:steps], time=self.time[:steps])

    def window(self, first: int, steps: int) -> "PriceSignal":
        """The ``steps`` steps from step ``first`` on.

        Parameters
        ----------
        first : int
            Index of the first step kept.
        steps : int
            Number of steps kept; ``first + steps`` must not exceed the length.

        Returns
        -------
        PriceSignal

        Raises
        ------
        InputError
            If the window does not fit in the signal.

        Examples
        --------
        >>> PriceSignal([1.0, 2.0, 3.0, 4.0]).window(1, 2).values.tolist()
        [2.0, 3.0]
        """
        if first < 0 or steps < 1 or first + steps > len(self):
            raise InputError(
                f"prices ({self.source}) have {len(self)} steps; a window of {steps} steps from step {first} does not fit"
            )
        if first == 0 and steps == len(self):
            return self
        end = first + steps
        return replace(self, values=self.values[first:end], time=self.time[first:end])

    def to_series(self) -> pd.Series:
        """The prices as a :class:`pandas.Series` indexed by time."""
        return pd.Series(self.values, index=self.time, name="price")

    def out_of_range(self, low: float = PRICE_RANGE[0], high: float = PRICE_RANGE[1]) -> str | None:
        """Describe the prices outside a sanity range, or None when all are inside.

        A price far outside the range of wholesale markets is usually a unit
        error ($/kWh for $/MWh, cents for dollars) or a corrupt row; the
        scenario loader turns the description into a warning.

        Parameters
        ----------
        low, high : float
            The range in $/MWh (default :data:`PRICE_RANGE`, -1,000 to 20,000).

        Returns
        -------
        str or None

        Examples
        --------
        >>> PriceSignal([30.0, 25000.0]).out_of_range()
        'prices (array): 1 step above 20,000 $/MWh (the highest, 25,000 $/MWh, at step 1, 2024-01-01 01:00:00)'
        """
        parts = []
        for mask, word, limit, pick in (
            (self.values > high, "above", high, np.argmax),
            (self.values < low, "below", low, np.argmin),
        ):
            unit = self.unit
            count = int(mask.sum())
            if count:
                i = int(pick(self.values))
                extreme = "highest" if word == "above" else "lowest"
                parts.append(
                    f"{count} step{'s' if count > 1 else ''} {word} {_price(limit)} {unit} (the {extreme}, "
                    f"{_price(self.values[i])} {unit}, at step {i}, {self.time[i]})"
                )
        return f"prices ({self.source}): " + "; ".join(parts) if parts else None

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        column: str | None = None,
        *,
        step_hours: float | None = None,
        start: str | pd.Timestamp | None = None,
        steps: int | None = None,
        timezone: str | None = None,
        ambiguous: str = "infer",
        nonexistent: str = "raise",
        currency: str = "",
    ) -> "PriceSignal":
        """Read prices from a CSV file, as the study's files are.

        Byte-order marks, bare-CR or CRLF line endings and a quoted row-number
        column are read as they are.  A ``Date``/``time`` column, when present
        and parseable, gives the time index; it must be sorted and unique, and
        its stamps give the step length when ``step_hours`` is not given (a
        file at 15-minute resolution gives ``step_hours = 0.25``).

        Parameters
        ----------
        path : str or pathlib.Path
            The CSV file.
        column : str, optional
            The price column; default: the last numeric column.
        step_hours : float, optional
            Step length in hours; default: the step of the time column, or 1
            without one.  When given, the time column must have this step.
        start : str or pandas.Timestamp, optional
            Time of the first step when the file has no time column
            (default 2024-01-01 00:00).
        steps : int, optional
            Read only the first ``steps`` rows (default: all); the rest of the
            file is not read.
        timezone : str, optional
            An IANA zone: stamps with UTC offsets are converted to it, stamps
            without are read as its local times (default: the zone of the
            stamps' offsets; naive stamps stay naive).
        ambiguous, nonexistent : str
            How local times that the clocks repeat or skip are read (see
            :func:`aggregator.timezones.in_zone`); by default a repeated hour
            is read in order and a skipped one is an error naming the line.
        currency : str
            A label of the prices' currency.

        Returns
        -------
        PriceSignal

        Raises
        ------
        InputError
            Naming the file and the row or column at fault.
        """
        keep = None if column is None else [column, *TIME_COLUMNS]  # the other columns are not kept
        frame = read_csv_table(path, rows=steps, columns=keep)
        name, values = numeric_column(frame, path, column, what="price")
        stamps = time_column(frame, path, name, step_hours, timezone=timezone, ambiguous=ambiguous,
                             nonexistent=nonexistent)
        if step_hours is None:
            step_hours = (stamp_step_hours(stamps) if stamps is not None else None) or 1.0
        if stamps is not None:
            first = stamps[0]
        else:
            first = pd.DatetimeIndex([pd.Timestamp(start or DEFAULT_START)])
            first = in_zone(first, timezone, where=str(path), ambiguous=ambiguous, nonexistent=nonexistent)[0]
        time = _time_index(first, values.size, step_hours)
        return cls(values, step_hours=step_hours, time=time, source=f"{path}:{name}", currency=currency)


def stamp_step_hours(stamps: pd.DatetimeIndex) -> float | None:
    """The step between time stamps, in hours: the most common difference (None for one stamp).

    The most common difference is robust to a daylight-saving artefact (one
    step of two hours and one of zero in a local-time column).

    Parameters
    ----------
    stamps : pandas.DatetimeIndex

    Returns
    -------
    float or None

    Examples
    --------
    >>> stamp_step_hours(pd.date_range("2024-01-01", periods=5, freq="15min"))
    0.25
    """
    if len(stamps) < 2:
        return None
    seconds = np.diff(_seconds(stamps))
    values, counts = np.unique(seconds, return_counts=True)
    step = int(values[np.argmax(counts)])
    return step / 3600.0 if step > 0 else None


def _seconds(stamps: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since 1970 of each stamp: of the instant with a zone, of the wall clock without."""
    return stamps.as_unit("s").asi8 if stamps.tz is None else stamps.tz_convert("UTC").tz_localize(None).as_unit("s").asi8


def _duration(hours: float) -> str:
    """``0.25 h (15 min)``, ``1 h``, ``0.0833333 h (5 min)``."""
    minutes = hours * 60
    if hours < 1 and abs(minutes - round(minutes)) < 1e-9:
        return f"{hours:g} h ({round(minutes)} min)"
    return f"{hours:g} h"


def time_column(
    frame: pd.DataFrame,
    path: str | Path,
    value_column: str,
    step_hours: float | None,
    *,
    timezone: str | None = None,
    ambiguous: str = "infer",
    nonexistent: str = "raise",
) -> pd.DatetimeIndex | None:
    """The checked time stamps of a table's time column (``Date``, ``time``, ...), or None without one.

    A column of that name whose cells are mostly not dates is not a time
    column; one whose cells are mostly dates must be dates throughout, sorted,
    unique and one step apart (in naive local times a daylight-saving shift is
    accepted, see :func:`check_time_stamps`).  Stamps with UTC offsets keep
    their zone: one offset throughout gives a fixed-offset zone, several (a
    daylight-saving zone) give UTC with a warning naming ``[horizon] timezone``;
    ``timezone`` converts them to a named zone, and reads naive stamps as its
    local times (:func:`aggregator.timezones.in_zone`).

    Parameters
    ----------
    frame : pandas.DataFrame
        A table read by :func:`aggregator.csv_input.read_csv_table`.
    path : str or pathlib.Path
        The file, for messages.
    value_column : str
        The column holding the values (never taken as the time column).
    step_hours : float or None
        The expected step between stamps; None: the stamps' own step
        (:func:`stamp_step_hours`), which must then be regular.
    timezone : str, optional
        An IANA zone for the stamps.
    ambiguous, nonexistent : str
        Rules for local times that the clocks repeat or skip.

    Returns
    -------
    pandas.DatetimeIndex or None

    Raises
    ------
    InputError
        Naming the file, line and column of the first bad stamp.
    """
    for candidate in TIME_COLUMNS:
        if candidate not in frame.columns or candidate == value_column:
            continue
        cells = frame[candidate].fillna("").astype(str).str.strip()
        offsets = cells.str.extract(_OFFSET, expand=False)
        with_offset = offsets.notna().to_numpy()
        try:
            parsed = pd.to_datetime(cells, errors="coerce", format="mixed", utc=bool(with_offset.any()))
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputError(f"{path}, column {candidate!r}: cannot read the time stamps ({exc})") from None
        ok = parsed.notna().to_numpy()
        if ok.all():
            if with_offset.any() and not with_offset.all():
                i = int(np.flatnonzero(~with_offset if with_offset.mean() >= 0.5 else with_offset)[0])
                raise InputError(
                    f"{path}, line {int(frame.index[i])}, column {candidate!r}: {cells.iloc[i]!r} "
                    f"{'has no' if with_offset.mean() >= 0.5 else 'has a'} UTC offset, unlike the other stamps; "
                    "expected every stamp with an offset (such as +01:00) or none"
                )
            stamps = pd.DatetimeIndex(parsed, name=None)
            if with_offset.all() and timezone is None:
                stamps = _offset_zone(stamps, cells, offsets, path, candidate)
            stamps = in_zone(stamps, timezone, where=str(path), lines=frame.index, ambiguous=ambiguous,
                             nonexistent=nonexistent, column=candidate)
            check_time_stamps(stamps, frame.index, path, candidate, step_hours)
            return stamps
        if ok.mean() >= 0.5:
            line = int(frame.index[~ok][0])
            found = repr(cells.loc[line]) if cells.loc[line] else "an empty cell"
            raise InputError(
                f"{path}, line {line}, column {candidate!r}: found {found}, expected a time stamp such as 2024-01-01 00:00"
            )
        return None  # a column of that name that does not hold dates
    return None


#: A UTC offset at the end of a time stamp (``+01:00``, ``-0800``, ``Z``).
_OFFSET = r"((?:[+-]\d\d:?\d\d)|Z)$"


def _offset_zone(stamps: pd.DatetimeIndex, cells: pd.Series, offsets: pd.Series, path: str | Path, column: str):
    """Stamps read in UTC in the zone their offsets give: one fixed offset, or UTC (with a warning) for several."""
    distinct = sorted(set(offsets.str.replace(":", "", regex=False).str.replace("Z", "+0000", regex=False)))
    if len(distinct) == 1:
        return stamps.tz_convert(pd.Timestamp(cells.iloc[0]).tz)
    import warnings

    from .errors import InputWarning

    shown = ", ".join(f"{o[:3]}:{o[3:]}" for o in distinct[:4])
    warnings.warn(
        f"{path}, column {column!r}: the time stamps have the UTC offsets {shown} (a zone with daylight saving); "
        "results are labelled in UTC: name the zone with [horizon] timezone = \"...\" (an IANA name such as "
        "\"Europe/Berlin\") to keep local time",
        InputWarning,
        stacklevel=3,
    )
    return stamps.tz_convert("UTC")


def check_time_stamps(
    stamps: pd.DatetimeIndex, lines: pd.Index, path: str | Path, column: str, step_hours: float | None,
    noun: str = "line",
) -> None:
    """Check that time stamps advance by one step; accept a daylight-saving clock shift in naive stamps.

    Parameters
    ----------
    stamps : pandas.DatetimeIndex
    lines : pandas.Index
        The line of each stamp in its file, for messages.
    path : str or pathlib.Path
        The file, for messages.
    column : str
        The column of the stamps, for messages.
    step_hours : float or None
        The step expected; None: the stamps' most common step.
    noun : str
        What ``lines`` count (``"line"``, ``"row"``).

    Raises
    ------
    InputError
        Naming the line of the first duplicate, stamp out of order, or jump
        (a gap or a change of resolution); or, when the stamps are mostly
        another step than ``step_hours``, the step they have.

    Notes
    -----

    Stamps with a zone are instants and must be evenly spaced.  A naive local-time column skips an hour in spring (a step of two hours followed by
    a repeated stamp, as in the study's price files); that pair is accepted and
    the regular time axis is used.  Anything else out of step is an error; when
    the stamps' own step is not the one asked for, the message says which
    ``step_hours`` the file has.
    """
    hours = np.diff(_seconds(stamps)) / 3600.0
    native = stamp_step_hours(stamps)
    if step_hours is None:
        step_hours = native if native is not None else 1.0
    elif native is not None and not np.isclose(native, step_hours) and np.isclose(hours, native).mean() >= 0.5:
        raise InputError(
            f"{path}, column {column!r}: the time stamps are {_duration(native)} apart ({stamps[0]}, {stamps[1]}, ...) "
            f"but steps of {_duration(step_hours)} were asked for; use step_hours = {native:g} "
            "(or leave step_hours out: the step is read from the time stamps)"
        )
    ok = np.isclose(hours, step_hours)
    if stamps.tz is None:
        shift = np.flatnonzero(np.isclose(hours[:-1], 2 * step_hours) & np.isclose(hours[1:], 0.0))
        ok[shift] = ok[shift + 1] = True
    if ok.all():
        return
    # Report the kind of fault that explains the others: a row out of order also makes a jump.
    bad = np.flatnonzero(~ok)
    worst = bad[hours[bad] < 0] if (hours[bad] < 0).any() else bad[hours[bad] == 0] if (hours[bad] == 0).any() else bad
    i = int(worst[0])
    line = int(lines[i + 1])
    where = f"{path}, {noun} {line}, column {column!r}"
    if hours[i] == 0:
        raise InputError(f"{where}: time {stamps[i + 1]} appears twice; expected unique time stamps")
    if hours[i] < 0:
        raise InputError(
            f"{where}: time {stamps[i + 1]} is earlier than the row before ({stamps[i]}); expected sorted time stamps"
        )
    raise InputError(
        f"{where}: time jumps from {stamps[i]} to {stamps[i + 1]}; expected steps of {step_hours:g} h"
    )


class PriceSource:
    """Base class of price sources (a plugin kind).

    Subclasses set :attr:`name` and :attr:`options` and implement
    :meth:`load`.  Register them by returning the class from the
    ``aggregator_register_price_sources`` hook.

    Attributes
    ----------
    name : str
        The name a scenario uses in ``[prices] source = ...``.
    options : dict of str to Option
        The keys of the ``[prices]`` table (besides ``source``), typed (see
        :class:`aggregator.options.Option`): the core checks the table against
        them before :meth:`load` and fills in their defaults.  A plain string
        (a description) declares a key whose value the source checks itself.
    timezone : str or None
        The scenario's ``[horizon] timezone`` (None without one), set by the core
        before :meth:`load`, with ``ambiguous`` and ``nonexistent`` (its rules
        for local times, see :mod:`aggregator.timezones`).  A source that
        reads local times may use them to name the file's lines in its errors;
        the core converts (or localizes) whatever the source returns to the
        zone all the same.
    """

    name: ClassVar[str] = ""
    options: ClassVar[Mapping[str, "Option | str"]] = {}
    timezone: str | None = None
    ambiguous: str = "infer"
    nonexistent: str = "raise"

    @classmethod
    def is_available(cls) -> bool:
        """Whether the optional dependencies of this source are installed (cheap check)."""
        return True

    def _start(self, start: Any, where: str = "start") -> pd.Timestamp:
        """``start`` as the first stamp of a generated series: a local time of :attr:`timezone` when one is set."""
        return in_zone(pd.DatetimeIndex([pd.Timestamp(start)]), self.timezone, where=where,
                       ambiguous=self.ambiguous, nonexistent=self.nonexistent)[0]

    def step_hours_of(self, options: Mapping[str, Any], *, base_dir: Path) -> float | None:
        """The step length of the source's own data, when it has one (a file with time stamps).

        The scenario uses it when ``[horizon] step_hours`` is not given, and
        checks it against ``step_hours`` when it is.  The default, None, says
        the source produces whatever step it is asked for.

        Parameters
        ----------
        options : mapping
            The scenario's ``[prices]`` table without ``source``.
        base_dir : pathlib.Path
            Folder of the scenario file.

        Returns
        -------
        float or None
            Hours.
        """
        return None

    def load(self, options: Mapping[str, Any], *, base_dir: Path, steps: int | None, step_hours: float) -> PriceSignal:
        """Produce the price signal.

        Parameters
        ----------
        options : mapping
            The scenario's ``[prices]`` table without ``source``.
        base_dir : pathlib.Path
            Folder of the scenario file; relative paths are relative to it.
        steps : int or None
            Number of steps the horizon asks for (None: all there are).
        step_hours : float
            Step length in hours.

        Returns
        -------
        PriceSignal
        """
        raise NotImplementedError


def _resolve(base_dir: Path, path: Any, key: str = "path") -> Path:
    if not isinstance(path, (str, Path)) or not str(path):
        raise InputError(f"{key} = {path!r}; expected a file path")
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


class CsvPriceSource(PriceSource):
    """Prices read from a CSV file (``source = "csv"``)."""

    name = "csv"
    options = {
        "path": Option(str, "CSV file, relative to the scenario (required)"),
        "column": Option(str, "price column (default: the last numeric one)"),
    }

    def step_hours_of(self, options, *, base_dir):  # noqa: D102 - documented in the base class
        path, column = self._path_and_column(options, base_dir)
        # The first rows are enough; read the whole file, a wrong step would be found only at its end.
        frame = read_csv_table(path, rows=_STEP_ROWS, columns=None if column is None else [column, *TIME_COLUMNS])
        name, _ = numeric_column(frame, path, column, what="price")
        stamps = time_column(frame, path, name, None, timezone=self.timezone, ambiguous=self.ambiguous,
                             nonexistent=self.nonexistent)
        return None if stamps is None else stamp_step_hours(stamps)

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102 - documented in the base class
        path, column = self._path_and_column(options, base_dir)
        return PriceSignal.from_csv(path, column, step_hours=step_hours, steps=steps, timezone=self.timezone,
                                    ambiguous=self.ambiguous, nonexistent=self.nonexistent)

    @staticmethod
    def _path_and_column(options: Mapping[str, Any], base_dir: Path) -> tuple[Path, str | None]:
        if "path" not in options:
            raise InputError("[prices] source = 'csv' needs `path = ...` (the CSV file)")
        path = _resolve(base_dir, options["path"], "[prices] path")
        column = options.get("column")
        if column is not None and not isinstance(column, str):
            raise InputError(f"[prices] column = {column!r}; expected a column name (string)")
        return path, column


class ConstantPriceSource(PriceSource):
    """One price for every step (``source = "constant"``)."""

    name = "constant"
    options = {
        "price": Option(float, "the price of every step (required)", unit="$/MWh"),
        "hours": Option(float, "length of the series (default: the horizon)", unit="hours", exclusive_minimum=0),
    }

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102
        price = options.get("price")
        if isinstance(price, bool) or not isinstance(price, (int, float)):
            raise InputError(f"[prices] price = {price!r}; expected a number in $/MWh")
        if not math.isfinite(price):
            raise InputError(f"[prices] price = {price!r}; expected a finite number in $/MWh")
        n = _steps_option(options, "hours", step_hours, steps)
        if n is None:
            raise InputError("[prices] source = 'constant' needs `hours = ...` or [horizon] hours")
        time = _time_index(self._start(DEFAULT_START), n, step_hours)
        return PriceSignal(np.full(n, float(price)), step_hours, time, source=f"constant {price}")


class SyntheticPriceSource(PriceSource):
    """Deterministic California-like prices (``source = "synthetic"``).

    See :func:`aggregator.synthetic.synthetic_prices`.
    """

    name = "synthetic"
    options = {
        "seed": Option(int, "random seed (default 2024)", minimum=0),
        "start": Option(str, "first time stamp, a date such as 2024-04-01 (default 2024-01-01)"),
        "hours": Option(float, "length (default: the horizon, else 8760)", unit="hours", exclusive_minimum=0),
    }

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102
        seed = options.get("seed", 2024)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"[prices] seed = {seed!r}; expected an integer >= 0")
        n = _steps_option(options, "hours", step_hours, steps)
        n = int(round(8760 / step_hours)) if n is None else n
        try:
            start = pd.Timestamp(options.get("start", DEFAULT_START))
        except (ValueError, TypeError):
            raise InputError(f"[prices] start = {options.get('start')!r}; expected a date such as 2024-04-01") from None
        time = _time_index(self._start(start, "[prices] start"), n, step_hours)
        return PriceSignal(synthetic_prices(time, seed), step_hours, time, source=f"synthetic seed={seed}")



def load_prices(
    cls: type[PriceSource],
    name: str,
    distribution: str,
    options: Mapping[str, Any],
    *,
    base_dir: Path,
    steps: int | None,
    step_hours: float,
    where: str = "",
    timezone: str | None = None,
    ambiguous: str = "infer",
    nonexistent: str = "raise",
) -> PriceSignal:
    """Call a price source and check what it returns.

    An :class:`~aggregator.errors.InputError` raised by the source is a mistake
    in the user's options and passes through; so, reported as one that names the
    source, is an exception of :data:`~aggregator.errors.PLUGIN_OPTION_FAILURES`.
    What the source *returns* is checked here, whoever wrote it: anything but a
    :class:`PriceSignal` of finite prices, sorted unique time stamps and the
    requested step length is a :class:`~aggregator.errors.PluginError` naming the
    source and its distribution.

    Parameters
    ----------
    cls : type
        The registered :class:`PriceSource` subclass.
    name, distribution : str
        Its registered name and its distribution, for messages.
    options : mapping
        The ``[prices]`` table without ``source``.
    base_dir : pathlib.Path
        Folder of the scenario file.
    steps : int or None
        Steps the horizon asks for (None: all there are).
    step_hours : float
        Step length in hours.
    where : str
        Where the source is used (``"[prices]"``), put first in the messages of its failures.
    timezone : str, optional
        ``[horizon] timezone``: the time stamps the source returns are converted
        to it (naive ones read as its local times, with the rules
        ``ambiguous`` and ``nonexistent``).

    Returns
    -------
    PriceSignal

    Raises
    ------
    InputError
        From the source, on the user's options or data, or a local time that
        the zone skips or repeats (naming the source, the step and the time).
    PluginError
        If the source returned bad data.
    """
    def bug(what: str) -> PluginError:
        return PluginError.returned("price source", name, distribution, what, where)

    try:
        source = cls()
        source.timezone, source.ambiguous, source.nonexistent = timezone, ambiguous, nonexistent
        prices = source.load(options, base_dir=base_dir, steps=steps, step_hours=step_hours)
    except InvalidPriceSignal as exc:
        raise bug(f"prices that PriceSignal refuses ({exc})") from None
    except InputError:
        raise
    except PLUGIN_OPTION_FAILURES as exc:
        raise plugin_failed("price source", name, distribution, exc, where) from None
    if not isinstance(prices, PriceSignal):
        raise bug(f"{type(prices).__name__}; expected a PriceSignal")
    values = np.asarray(prices.values)
    if values.ndim != 1 or values.dtype.kind != "f" or values.size == 0:
        raise bug(f"prices of shape {values.shape} and type {values.dtype}; expected one float per step")
    if not np.isfinite(values).all():
        step = int(np.flatnonzero(~np.isfinite(values))[0])
        raise bug(f"a price of {values[step]!r} at step {step}; expected finite prices")
    if not isinstance(prices.time, pd.DatetimeIndex) or len(prices.time) != values.size:
        raise bug(f"{values.size} prices with a time index of {len(prices.time)} stamps; expected one stamp per price")
    if not (prices.time.is_monotonic_increasing and prices.time.is_unique):
        raise bug("time stamps that are not sorted and unique")
    if not math.isclose(prices.step_hours, step_hours, rel_tol=1e-12, abs_tol=1e-12):
        raise bug(f"{prices.step_hours:g}-hour steps when {step_hours:g}-hour steps were asked for")
    if timezone is not None:
        time = in_zone(prices.time, timezone, where=f"prices ({prices.source})", ambiguous=ambiguous,
                       nonexistent=nonexistent)
        prices = replace(prices, time=time)
    return prices


def price_step_hours(
    cls: type[PriceSource],
    name: str,
    distribution: str,
    options: Mapping[str, Any],
    *,
    base_dir: Path,
    given: float | None,
    where: str = "",
    timezone: str | None = None,
    ambiguous: str = "infer",
    nonexistent: str = "raise",
) -> float:
    """The step length of a scenario: ``[horizon] step_hours``, or the step of the prices' time stamps.

    A price file with time stamps knows its step (:meth:`PriceSource.step_hours_of`):
    without ``step_hours`` that step is used (a 15-minute file gives 0.25), and
    with it the two must agree.

    Parameters
    ----------
    cls : type
        The registered :class:`PriceSource` subclass.
    name, distribution : str
        Its registered name and its distribution, for messages.
    options : mapping
        The ``[prices]`` table without ``source``.
    base_dir : pathlib.Path
        Folder of the scenario file.
    given : float or None
        ``[horizon] step_hours``, or None when the scenario does not give it.
    where : str
        Where the source is used (``"[prices]"``), put first in the messages of its failures.
    timezone, ambiguous, nonexistent : str
        ``[horizon] timezone`` and its rules, set on the source (see :class:`PriceSource`).

    Returns
    -------
    float
        Hours: ``given``, else the source's step, else 1.

    Raises
    ------
    InputError
        If ``given`` is not the step of the source's time stamps (the message
        says which ``step_hours`` the file has), or from the source.
    PluginError
        If the source's :meth:`~PriceSource.step_hours_of` returns something
        other than None or a step of at least one second.
    """
    try:
        source = cls()
        source.timezone, source.ambiguous, source.nonexistent = timezone, ambiguous, nonexistent
        native = source.step_hours_of(options, base_dir=base_dir)
    except InputError:
        raise
    except PLUGIN_OPTION_FAILURES as exc:
        raise plugin_failed("price source", name, distribution, exc, where) from None
    if native is not None and (
        isinstance(native, bool) or not isinstance(native, (int, float)) or not native >= MIN_STEP_HOURS
        or not math.isfinite(native)
    ):
        raise PluginError.returned(
            "price source", name, distribution, f"a step of {native!r} from step_hours_of; expected hours or None", where
        )
    if given is None:
        return float(native) if native is not None else 1.0
    if native is not None and not math.isclose(native, given, rel_tol=1e-9):
        file = f" ({options['path']})" if isinstance(options.get("path"), str) else ""
        raise InputError(
            f"[horizon] step_hours = {given:g}, but the time stamps of the prices{file} are {_duration(native)} "
            f"apart; set step_hours = {native:g}, or leave it out to use the step of the time stamps"
        )
    return float(given)


def window_offset(
    prices: PriceSignal, start: Any, where: str = "start", *, ambiguous: str = "infer", nonexistent: str = "raise"
) -> int:
    """The index of the step that starts at ``start`` (``[horizon] start``).

    Parameters
    ----------
    prices : PriceSignal
    start : str, datetime.date or pandas.Timestamp
        A time stamp of the series (a date means its midnight).  For a series
        with a zone, a time without an offset is a local time of that zone;
        for naive stamps, a time with an offset is compared in UTC.
    where : str
        The key that gave it, for messages.
    ambiguous, nonexistent : str
        How a local ``start`` that the clocks repeat or skip is read
        (:func:`aggregator.timezones.in_zone`).

    Returns
    -------
    int

    Raises
    ------
    InputError
        If ``start`` is not a date, lies outside the series, or falls between
        two of its steps (the message names the neighbouring stamps).

    Examples
    --------
    >>> window_offset(PriceSignal([1.0] * 48), "2024-01-02")
    24
    """
    try:
        stamp = pd.Timestamp(start)
    except (ValueError, TypeError):
        raise InputError(f"{where} = {start!r}: expected a date or time such as 2024-03-01 or 2024-03-01T12:00") from None
    if stamp is pd.NaT:
        raise InputError(f"{where} = {start!r}: expected a date or time such as 2024-03-01")
    time = prices.time
    if time.tz is not None:
        stamp = in_zone(pd.DatetimeIndex([stamp]), time.tz, where=where, ambiguous=ambiguous,
                        nonexistent=nonexistent)[0]
    elif stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if stamp < time[0] or stamp > time[-1]:
        raise InputError(
            f"{where} = {stamp}: outside the prices ({prices.source}), which run from {time[0]} to {time[-1]}"
        )
    i = int(time.searchsorted(stamp))
    if time[i] != stamp:
        raise InputError(
            f"{where} = {stamp}: falls between two steps of the prices ({prices.source}), {time[i - 1]} and {time[i]}; "
            "expected the start of a step"
        )
    return i
