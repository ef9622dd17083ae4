"""Availability models: where a fleet's plugged-in share per step comes from.

An *availability model* is a plugin kind: a class with a ``name``, registered
through the ``aggregator_register_availability_models`` hook, that turns the
options of a fleet's ``availability = { model = ..., ... }`` table into a
profile of shares in [0, 1].  Builtins: ``csv``, ``constant``, ``synthetic``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .csv_input import numeric_column, read_csv_table
from .errors import InputError, InputWarning
from .options import Option
from .prices import time_column
from .synthetic import AVAILABILITY_PATTERNS, synthetic_availability

__all__ = ["AvailabilityModel", "CsvAvailability", "ConstantAvailability", "SyntheticAvailability"]


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
    """A column of a CSV file (``model = "csv"``)."""

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
        frame = read_csv_table(path)
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
        stamps = time_column(frame, path, column, step_hours)
        if stamps is not None and len(time) and stamps[0] != time[0]:
            warnings.warn(
                f"{path}: column {stamps.name or 'time'!r} starts at {stamps[0]} but the prices start at {time[0]}; "
                "the profile is used step by step from its first row",
                InputWarning,
                stacklevel=2,
            )
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
