"""Availability models: where a fleet's plugged-in share per step comes from.

An *availability model* is a plugin kind: a class with a ``name``, registered
through the ``aggregator_register_availability_models`` hook, that turns the
options of a fleet's ``availability = { model = ..., ... }`` table into a
profile of shares in [0, 1].  Builtins: ``csv``, ``constant``, ``synthetic``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .csv_input import numeric_column, read_csv_table, shared_derived
from .errors import PLUGIN_OPTION_FAILURES, InputError, PluginError, plugin_failed
from .options import Option
from .prices import TIME_COLUMNS, time_column
from .synthetic import AVAILABILITY_PATTERNS, synthetic_availability

__all__ = [
    "AvailabilityModel",
    "CsvAvailability",
    "ConstantAvailability",
    "SyntheticAvailability",
    "load_profile",
    "ProfileTimeMismatch",
    "align_profile",
]


class ProfileTimeMismatch(InputError):
    """A profile file's time stamps that do not cover the prices' (the scenario adds the price file to the message)."""


def align_profile(
    values: np.ndarray, stamps: pd.DatetimeIndex, time: pd.DatetimeIndex, path: str | Path, column: str
) -> np.ndarray:
    """The values of a time-stamped profile at the horizon's steps (``time``), aligned by time.

    Parameters
    ----------
    values : numpy.ndarray
        One value per stamp.
    stamps : pandas.DatetimeIndex
        The profile's checked time stamps (sorted, unique, one step apart).
    time : pandas.DatetimeIndex
        The horizon's steps (the prices' stamps).
    path, column : str
        The profile's file and column, for messages.

    Returns
    -------
    numpy.ndarray
        ``len(time)`` values: those whose stamps are the horizon's.

    Raises
    ------
    ProfileTimeMismatch
        If the profile and the prices mix stamps with and without a zone, or
        the profile does not cover the horizon step for step (the message gives
        both ranges).
    """
    if (stamps.tz is None) != (time.tz is None):
        with_zone = "the profile" if stamps.tz is not None else "the prices"
        raise ProfileTimeMismatch(
            f"{path}, column {column!r}: {with_zone} have time stamps with a zone and the other without, so they "
            "cannot be aligned; write both with UTC offsets, or give [horizon] timezone"
        )
    if stamps.tz is not None:
        stamps = stamps.tz_convert(time.tz)
    positions = stamps.get_indexer(time)
    if (positions < 0).any():
        i = int(np.flatnonzero(positions < 0)[0])
        raise ProfileTimeMismatch(
            f"{path}: the time stamps of column {column!r} run from {stamps[0]} to {stamps[-1]} "
            f"every {_hours(stamps)} but the horizon needs {time[0]} to {time[-1]}; the step at {time[i]} has no row. "
            "Expected a profile that covers the prices' time stamps"
        )
    return values[positions]


def _hours(stamps: pd.DatetimeIndex) -> str:
    seconds = (stamps[1] - stamps[0]).total_seconds() if len(stamps) > 1 else 0.0
    return f"{seconds / 3600:g} h" if seconds else "(one row)"


class AvailabilityModel:
    """Base class of availability models (a plugin kind).

    Subclasses set :attr:`name` and :attr:`options` and implement
    :meth:`profile`.  Register them by returning the class from the
    ``aggregator_register_availability_models`` hook.

    Attributes
    ----------
    name : str
        The name a scenario uses in ``availability = { model = ... }``.
    options : dict of str to Option
        The keys of the table besides ``model``, typed (see
        :class:`aggregator.options.Option`): the core checks the table against
        them before :meth:`profile` and fills in their defaults.
    """

    name: ClassVar[str] = ""
    options: ClassVar[Mapping[str, "Option | str"]] = {}

    @classmethod
    def is_available(cls) -> bool:
        """Whether the optional dependencies of this model are installed (cheap check)."""
        return True

    def profile(
        self, options: Mapping[str, Any], *, base_dir: Path, time: pd.DatetimeIndex, step_hours: float
    ) -> np.ndarray:
        """Produce the availability profile.

        Parameters
        ----------
        options : mapping
            The ``availability`` table without ``model``.
        base_dir : pathlib.Path
            Folder of the scenario file.
        time : pandas.DatetimeIndex
            The horizon's time steps; the profile must have at least this many values.
        step_hours : float
            Step length in hours.

        Returns
        -------
        numpy.ndarray
            Shares in [0, 1]; at least ``len(time)`` values (extra values are cut).
        """
        raise NotImplementedError


class CsvAvailability(AvailabilityModel):
    """A column of a CSV file (``model = "csv"``): aligned by time when it has a time column, else row by row."""

    name = "csv"
    options = {
        "path": Option(str, "CSV file, relative to the scenario (required)"),
        "column": Option(str, "column name (default: the last numeric one)"),
    }

    def profile(self, options, *, base_dir, time, step_hours):  # noqa: D102 - documented in the base class
        if "path" not in options:
            raise InputError("availability model 'csv' needs `path = ...`")
        raw = options["path"]
        if not isinstance(raw, (str, Path)):
            raise InputError(f"availability path = {raw!r}; expected a file path")
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else base_dir / path
        column = options.get("column")
        if column is not None and not isinstance(column, str):
            raise InputError(f"availability column = {column!r}; expected a column name (string)")
        # Many fleets of one scenario usually share a profile file: read and check it once per scenario
        # build (csv_input.shared_reads, the one cache of input files) while the file is unchanged.
        ends = tuple(time.asi8[[0, -1]].tolist()) if len(time) else None
        what = ("availability", column, len(time), ends, str(time.tz), step_hours)
        return shared_derived(path, what, lambda: self._read(path, column, time, step_hours)).copy()

    @staticmethod
    def _read(path: Path, column: str | None, time, step_hours: float) -> np.ndarray:
        """The checked profile, aligned to ``time`` when the file has time stamps."""
        # Every row (callers may cut a window of the whole profile), but only the columns needed.
        frame = read_csv_table(path, columns=None if column is None else [column, *TIME_COLUMNS])
        column, values = numeric_column(frame, path, column, what="availability")
        outside = (values < 0) | (values > 1)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            percent = values.min() >= 0 and values.max() <= 100 and (values > 1).mean() >= 0.5
            hint = "; it looks like percent: divide by 100" if percent else ""
            raise InputError(
                f"{path}, line {int(frame.index[i])}, column {column!r}: availability {values[i]:g}; "
                f"expected a share in [0, 1]{hint}"
            )
        # Naive stamps are local times of the prices' zone, when they have one.
        stamps = time_column(frame, path, column, step_hours, timezone=time.tz)
        if stamps is not None and len(time):
            return align_profile(values, stamps, time, path, column)
        if values.size < len(time):
            raise InputError(
                f"{path}: column {column!r} has {values.size} rows but the horizon needs {len(time)} steps; "
                "shorten [horizon] hours or supply a longer profile"
            )
        return values


class ConstantAvailability(AvailabilityModel):
    """The same share every step (``model = "constant"``)."""

    name = "constant"
    options = {"value": Option(float, "share plugged in", minimum=0, maximum=1, default=1.0)}

    def profile(self, options, *, base_dir, time, step_hours):  # noqa: D102
        value = options.get("value", 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise InputError(f"availability value = {value!r}; expected a share in [0, 1]")
        return np.full(len(time), float(value))


class SyntheticAvailability(AvailabilityModel):
    """A synthetic commuting pattern (``model = "synthetic"``).

    See :func:`aggregator.synthetic.synthetic_availability`.
    """

    name = "synthetic"
    options = {
        "pattern": Option(str, "commuting pattern", choices=tuple(AVAILABILITY_PATTERNS), default="residential"),
        "seed": Option(int, "random seed", default=7),
    }

    def profile(self, options, *, base_dir, time, step_hours):  # noqa: D102
        pattern = options.get("pattern", "residential")
        if pattern not in AVAILABILITY_PATTERNS:
            raise InputError(
                f"availability pattern = {pattern!r}; expected one of {', '.join(AVAILABILITY_PATTERNS)}"
            )
        seed = options.get("seed", 7)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"availability seed = {seed!r}; expected an integer")
        return synthetic_availability(time, pattern, seed)


def load_profile(
    cls: type[AvailabilityModel],
    name: str,
    distribution: str,
    options: Mapping[str, Any],
    *,
    base_dir: Path,
    time: pd.DatetimeIndex,
    step_hours: float,
    where: str = "",
) -> np.ndarray:
    """Call an availability model and check the profile it returns.

    An :class:`~aggregator.errors.InputError` raised by the model is a mistake in
    the user's options and passes through; so, reported as one that names the
    model, is an exception of :data:`~aggregator.errors.PLUGIN_OPTION_FAILURES`.
    What the model *returns* is checked here, whoever wrote it: anything but one
    finite share in [0, 1] per step (at least ``len(time)`` of them) is a
    :class:`~aggregator.errors.PluginError` naming the model and its distribution.

    Parameters
    ----------
    cls : type
        The registered :class:`AvailabilityModel` subclass.
    name, distribution : str
        Its registered name and its distribution, for messages.
    options : mapping
        The ``availability`` table without ``model``.
    base_dir : pathlib.Path
        Folder of the scenario file.
    time : pandas.DatetimeIndex
        The horizon's time steps.
    step_hours : float
        Step length in hours.
    where : str
        Where the model is used, put first in the messages of its failures.

    Returns
    -------
    numpy.ndarray
        The first ``len(time)`` shares, as float64.

    Raises
    ------
    InputError
        From the model, on the user's options or data.
    PluginError
        If the model returned bad data.
    """
    def bug(what: str) -> PluginError:
        return PluginError.returned("availability model", name, distribution, what, where)

    try:
        profile = cls().profile(options, base_dir=base_dir, time=time, step_hours=step_hours)
    except InputError:
        raise
    except PLUGIN_OPTION_FAILURES as exc:
        raise plugin_failed("availability model", name, distribution, exc, where) from None
    if profile is None or isinstance(profile, (str, bytes, Mapping)):
        raise bug(f"{type(profile).__name__}; expected an array of shares, one per step")
    try:
        values = np.asarray(profile, dtype=float)
    except (TypeError, ValueError) as exc:
        raise bug(f"{type(profile).__name__} that is not an array of numbers ({exc}); expected shares in [0, 1]") from None
    if values.ndim != 1:
        raise bug(f"an array of shape {values.shape}; expected one share per step (a 1-D array)")
    if values.size < len(time):
        raise bug(f"{values.size} values for a horizon of {len(time)} steps; expected at least {len(time)}")
    values = values[: len(time)]
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        step = int(np.flatnonzero(bad)[0])
        raise bug(
            f"a share of {values[step]!r} at step {step} ({time[step]}); expected finite shares in [0, 1]"
        )
    return values
