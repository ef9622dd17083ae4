"""PriceSignal (wholesale prices on a time index) and price sources.

A *price source* is a plugin kind: a class with a ``name``, registered through
the ``aggregator_register_price_sources`` hook, that turns the options of a
scenario's ``[prices]`` table into a :class:`PriceSignal`.  The builtin sources
are ``csv``, ``constant`` and ``synthetic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .csv_input import numeric_column, read_csv_table
from .errors import InputError
from .synthetic import synthetic_prices

__all__ = [
    "PriceSignal",
    "PriceSource",
    "CsvPriceSource",
    "ConstantPriceSource",
    "SyntheticPriceSource",
    "DEFAULT_START",
]

DEFAULT_START = pd.Timestamp("2024-01-01 00:00")
_TIME_COLUMNS = ("time", "Time", "datetime", "Datetime", "timestamp", "Timestamp", "Date", "date")


def _time_index(start: pd.Timestamp | str, steps: int, step_hours: float) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start), periods=steps, freq=pd.Timedelta(hours=step_hours))


@dataclass(frozen=True, eq=False)
class PriceSignal:
    """Wholesale prices in $/MWh on a time index with a fixed step length.

    Parameters
    ----------
    values : array_like
        Price per step in $/MWh (negative prices are allowed).
    step_hours : float
        Length of a step in hours (Δt).
    time : pandas.DatetimeIndex, optional
        Start of each step; default: hourly steps from 2024-01-01.
    source : str
        Where the prices came from, for provenance.

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

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float).reshape(-1)
        if values.size == 0:
            raise InputError(f"prices ({self.source}): no values")
        if not np.isfinite(values).all():
            step = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(f"prices ({self.source}): step {step} is {values[step]!r}; expected a finite number")
        if isinstance(self.step_hours, bool) or not np.isfinite(self.step_hours) or self.step_hours <= 0:
            raise InputError(f"step_hours = {self.step_hours!r}; expected a number of hours > 0")
        time = self.time
        if time is None:
            time = _time_index(DEFAULT_START, values.size, float(self.step_hours))
        else:
            time = pd.DatetimeIndex(time)
            if len(time) != values.size:
                raise InputError(
                    f"prices ({self.source}): {values.size} values but {len(time)} time stamps; expected the same"
                )
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "step_hours", float(self.step_hours))

    def __len__(self) -> int:
        return int(self.values.size)

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
        return PriceSignal(self.values[:steps], self.step_hours, self.time[:steps], self.source)

    def to_series(self) -> pd.Series:
        """The prices as a :class:`pandas.Series` indexed by time."""
        return pd.Series(self.values, index=self.time, name="price")

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        column: str | None = None,
        *,
        step_hours: float = 1.0,
        start: str | pd.Timestamp | None = None,
    ) -> "PriceSignal":
        """Read prices from a CSV file, as the study's files are.

        Byte-order marks, bare-CR or CRLF line endings and a quoted row-number
        column are read as they are.  A ``Date``/``time`` column, when present
        and parseable, gives the time index; it must be sorted and unique.

        Parameters
        ----------
        path : str or pathlib.Path
            The CSV file.
        column : str, optional
            The price column; default: the last numeric column.
        step_hours : float
            Step length in hours.
        start : str or pandas.Timestamp, optional
            Time of the first step when the file has no time column
            (default 2024-01-01 00:00).

        Returns
        -------
        PriceSignal

        Raises
        ------
        InputError
            Naming the file and the row or column at fault.
        """
        frame = read_csv_table(path)
        name, values = numeric_column(frame, path, column, what="price")
        time = None
        for candidate in _TIME_COLUMNS:
            if candidate in frame.columns and candidate != name:
                parsed = pd.to_datetime(frame[candidate].str.strip(), errors="coerce", format="mixed")
                if parsed.notna().all():
                    _check_time_column(pd.DatetimeIndex(parsed), frame.index, path, candidate, step_hours)
                    time = _time_index(parsed.iloc[0], values.size, step_hours)
                break
        if time is None:
            time = _time_index(start or DEFAULT_START, values.size, step_hours)
        return cls(values, step_hours=step_hours, time=time, source=f"{path}:{name}")


def _check_time_column(
    stamps: pd.DatetimeIndex, lines: pd.Index, path: str | Path, column: str, step_hours: float
) -> None:
    """Check that time stamps advance by one step; accept a daylight-saving clock shift.

    A local-time column skips an hour in spring (a step of two hours followed by
    a repeated stamp, as in the study's price files); that pair is accepted and
    the regular time axis is used.  Anything else out of step is an error.
    """
    hours = np.diff(stamps.to_numpy().astype("datetime64[s]").astype(np.int64)) / 3600.0
    ok = np.isclose(hours, step_hours)
    shift = np.flatnonzero(np.isclose(hours[:-1], 2 * step_hours) & np.isclose(hours[1:], 0.0))
    ok[shift] = ok[shift + 1] = True
    if ok.all():
        return
    i = int(np.flatnonzero(~ok)[0])
    line = int(lines[i + 1])
    where = f"{path}, line {line}, column {column!r}"
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
    options : dict
        Allowed keys of the ``[prices]`` table (besides ``source``) and a short
        description of each; any other key is an error naming it.
    """

    name: ClassVar[str] = ""
    options: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def is_available(cls) -> bool:
        """Whether the optional dependencies of this source are installed (cheap check)."""
        return True

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
    options = {"path": "CSV file, relative to the scenario", "column": "price column (default: last numeric)"}

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102 - documented in the base class
        if "path" not in options:
            raise InputError("[prices] source = 'csv' needs `path = ...` (the CSV file)")
        path = _resolve(base_dir, options["path"], "[prices] path")
        column = options.get("column")
        if column is not None and not isinstance(column, str):
            raise InputError(f"[prices] column = {column!r}; expected a column name (string)")
        return PriceSignal.from_csv(path, column, step_hours=step_hours)


class ConstantPriceSource(PriceSource):
    """One price for every step (``source = "constant"``)."""

    name = "constant"
    options = {"price": "$/MWh", "hours": "length of the series in hours (default: the horizon)"}

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102
        price = options.get("price")
        if isinstance(price, bool) or not isinstance(price, (int, float)):
            raise InputError(f"[prices] price = {price!r}; expected a number in $/MWh")
        hours = options.get("hours")
        n = steps if hours is None else int(round(hours / step_hours))
        if n is None:
            raise InputError("[prices] source = 'constant' needs `hours = ...` or [horizon] hours")
        return PriceSignal(np.full(n, float(price)), step_hours, source=f"constant {price}")


class SyntheticPriceSource(PriceSource):
    """Deterministic California-like prices (``source = "synthetic"``).

    See :func:`aggregator.synthetic.synthetic_prices`.
    """

    name = "synthetic"
    options = {
        "seed": "random seed (int)",
        "start": "first time stamp (default 2024-01-01)",
        "hours": "length in hours (default: the horizon, else 8760)",
    }

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102
        seed = options.get("seed", 2024)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"[prices] seed = {seed!r}; expected an integer")
        hours = options.get("hours")
        n = steps if hours is None else int(round(hours / step_hours))
        n = 8760 if n is None else n
        try:
            start = pd.Timestamp(options.get("start", DEFAULT_START))
        except (ValueError, TypeError):
            raise InputError(f"[prices] start = {options.get('start')!r}; expected a date such as 2024-04-01") from None
        time = _time_index(start, n, step_hours)
        return PriceSignal(synthetic_prices(time, seed), step_hours, time, source=f"synthetic seed={seed}")

