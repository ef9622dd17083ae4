"""A time-of-use tariff: seasons, period rules by hour and weekday, and rates.

A tariff assigns each moment a *season* (by month) and a *period* (by the first
rule that matches its clock hour, weekday and season; hours no rule covers get
the default period), and each (season, period) pair a rate in $/MWh.  A step's
price is the tariff's average over the step, evaluated at quarter-hour
resolution, so steps shorter or longer than an hour are priced correctly.

The defaults are *illustrative*: shaped like a California investor-owned
utility's residential EV time-of-use rate (a 4-9 pm peak every day, a
shoulder "part-peak" around it, cheaper winter middays when solar is abundant,
summer from June to September), with round numbers that are not any utility's
current prices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from aggregator import InputError
from aggregator.options import DAY_NAMES, is_number, parse_days

__all__ = [
    "Rule",
    "Tariff",
    "DEFAULT_SEASONS",
    "DEFAULT_PERIODS",
    "DEFAULT_PERIOD",
    "DEFAULT_RATES",
    "DAY_NAMES",
]

#: Months of each default season.
DEFAULT_SEASONS: dict[str, list[int]] = {"summer": [6, 7, 8, 9], "winter": [1, 2, 3, 4, 5, 10, 11, 12]}

#: Default period rules, first match wins (hours are [start, end) on the clock, end may wrap midnight).
DEFAULT_PERIODS: list[dict[str, Any]] = [
    {"name": "peak", "hours": [16, 21], "days": "weekdays"},
    {"name": "part_peak", "hours": [16, 21], "days": "weekends"},
    {"name": "part_peak", "hours": [[15, 16], [21, 24]]},
    {"name": "super_off_peak", "hours": [9, 14], "seasons": ["winter"]},
]

#: Period of every hour that no rule covers.
DEFAULT_PERIOD = "off_peak"

#: Default rates in $/MWh (0.55 $/kWh = 550 $/MWh) by season and period.
DEFAULT_RATES: dict[str, dict[str, float]] = {
    "summer": {"peak": 550.0, "part_peak": 420.0, "off_peak": 300.0},
    "winter": {"peak": 450.0, "part_peak": 400.0, "off_peak": 290.0, "super_off_peak": 250.0},
}

_UNITS = {"$/MWh": 1.0, "$/kWh": 1000.0}
_SUBSTEPS_PER_HOUR = 4


@dataclass(frozen=True)
class Rule:
    """One period rule: when it applies and which period it gives.

    Parameters
    ----------
    period : str
        The period it assigns (a key of the rates).
    ranges : tuple of (float, float)
        Clock-hour ranges ``[start, end)``; ``end < start`` wraps past midnight.
    days : frozenset of int
        Weekdays it applies on (Monday = 0); holidays count as Sundays.
    seasons : frozenset of str or None
        Seasons it applies in (None: all).
    """

    period: str
    ranges: tuple[tuple[float, float], ...]
    days: frozenset[int]
    seasons: frozenset[str] | None

    def matches(self, hour: np.ndarray, weekday: np.ndarray, season: np.ndarray) -> np.ndarray:
        """Where the rule applies.

        Parameters
        ----------
        hour : numpy.ndarray
            Clock hour of each moment, in [0, 24).
        weekday : numpy.ndarray
            Weekday of each moment (Monday = 0, holidays 6).
        season : numpy.ndarray
            Season name of each moment.

        Returns
        -------
        numpy.ndarray of bool
        """
        in_hours = np.zeros(hour.shape, dtype=bool)
        for start, end in self.ranges:
            in_hours |= (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
        ok = in_hours & np.isin(weekday, sorted(self.days))
        if self.seasons is not None:
            ok &= np.isin(season, sorted(self.seasons))
        return ok


@dataclass(frozen=True)
class Tariff:
    """A time-of-use tariff.

    Parameters
    ----------
    seasons : dict of str to tuple of int
        Months (1-12) of each season; every month is in exactly one season.
    rules : tuple of Rule
        Period rules, first match wins.
    default_period : str
        Period of the moments no rule covers.
    rates : dict of str to dict of str to float
        Rate in $/MWh by season and period.
    holidays : frozenset of datetime.date
        Dates priced as Sundays.

    Examples
    --------
    The default tariff on a summer weekday at 5 pm and at 3 am:

    >>> tariff = Tariff.from_options({})
    >>> time = pd.DatetimeIndex(["2024-07-10 17:00", "2024-07-10 03:00"])
    >>> tariff.periods(time).tolist(), tariff.prices(time, 1.0).tolist()
    (['peak', 'off_peak'], [550.0, 300.0])
    """

    seasons: dict[str, tuple[int, ...]]
    rules: tuple[Rule, ...]
    default_period: str
    rates: dict[str, dict[str, float]]
    holidays: frozenset[dt.date] = frozenset()

    # ----------------------------------------------------------- validation
    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str = "[prices]") -> "Tariff":
        """Build and check a tariff from the ``tou`` options (defaults for missing keys).

        Parameters
        ----------
        options : mapping
            ``seasons``, ``periods``, ``default_period``, ``rates``, ``unit``,
            ``holidays`` (each optional).
        where : str
            Prefix of error messages.

        Returns
        -------
        Tariff

        Raises
        ------
        InputError
            Naming the key at fault, what was found and what was expected.
        """
        seasons = _seasons(options.get("seasons", DEFAULT_SEASONS), where)
        defaults = "periods" not in options
        raw_rules = options.get("periods", DEFAULT_PERIODS)
        if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
            raise InputError(
                f"{where} periods = {raw_rules!r}: expected an array of tables such as "
                '[[prices.periods]] name = "peak", hours = [16, 21]'
            )
        rules = tuple(_rule(r, i, seasons, where, defaults) for i, r in enumerate(raw_rules, start=1))
        default_period = options.get("default_period", DEFAULT_PERIOD)
        if not isinstance(default_period, str) or not default_period:
            raise InputError(f"{where} default_period = {default_period!r}: expected a period name (string)")
        unit = options.get("unit", "$/MWh")
        if unit not in _UNITS:
            raise InputError(f"{where} unit = {unit!r}: expected one of {', '.join(map(repr, _UNITS))}")
        rates = _rates(options.get("rates", DEFAULT_RATES), seasons, where, _UNITS[unit], "rates" not in options)
        for season in seasons:
            needed = {default_period} | {r.period for r in rules if r.seasons is None or season in r.seasons}
            missing = sorted(needed - set(rates[season]))
            if missing:
                raise InputError(
                    f"{where} rates: no rate for period {missing[0]!r} in season {season!r}; "
                    f"rates.{season} has {', '.join(sorted(rates[season])) or 'none'}"
                )
        holidays = _holidays(options.get("holidays", []), where)
        return cls(seasons, rules, default_period, rates, holidays)

    # ----------------------------------------------------------- evaluation
    def _names(self) -> tuple[list[str], list[str]]:
        periods = list(dict.fromkeys([self.default_period, *(r.period for r in self.rules)]))
        return list(self.seasons), periods

    def _classify(self, time: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        """Season and period of each moment, as indices into :meth:`_names`."""
        time = pd.DatetimeIndex(time)
        season_names, period_names = self._names()
        month_season = np.zeros(13, dtype=int)
        for i, months in enumerate(self.seasons.values()):
            month_season[list(months)] = i
        season = month_season[time.month.to_numpy()]
        hour = (time.hour + time.minute / 60.0 + time.second / 3600.0).to_numpy()
        weekday = time.day_of_week.to_numpy().copy()
        if self.holidays:
            weekday[np.isin(time.normalize().date, list(self.holidays))] = 6
        season_label = np.asarray(season_names, dtype=object)[season]
        period = np.zeros(len(time), dtype=int)  # the default period
        unassigned = np.ones(len(time), dtype=bool)
        for rule in self.rules:
            hit = unassigned & rule.matches(hour, weekday, season_label)
            period[hit] = period_names.index(rule.period)
            unassigned &= ~hit
        return season, period

    def periods(self, time: pd.DatetimeIndex) -> np.ndarray:
        """The period in force at each moment.

        Parameters
        ----------
        time : pandas.DatetimeIndex

        Returns
        -------
        numpy.ndarray of str
        """
        period_names = self._names()[1]
        return np.asarray(period_names)[self._classify(time)[1]]

    def _rate_table(self) -> np.ndarray:
        season_names, period_names = self._names()
        return np.array(
            [[self.rates[s].get(p, np.nan) for p in period_names] for s in season_names], dtype=float
        )

    def rate_at(self, time: pd.DatetimeIndex) -> np.ndarray:
        """The rate in $/MWh at each moment.

        Parameters
        ----------
        time : pandas.DatetimeIndex

        Returns
        -------
        numpy.ndarray
        """
        season, period = self._classify(time)
        return self._rate_table()[season, period]

    def prices(self, time: pd.DatetimeIndex, step_hours: float) -> np.ndarray:
        """The average rate over each step, in $/MWh.

        Parameters
        ----------
        time : pandas.DatetimeIndex
            Start of each step.
        step_hours : float
            Step length in hours.

        Returns
        -------
        numpy.ndarray
            One price per step.
        """
        k = max(1, int(round(step_hours * _SUBSTEPS_PER_HOUR)))
        offsets = pd.to_timedelta((np.arange(k) + 0.5) * step_hours / k, unit="h")
        starts = pd.DatetimeIndex(time)
        samples = pd.DatetimeIndex((starts.to_numpy()[:, None] + offsets.to_numpy()[None, :]).reshape(-1))
        return self.rate_at(samples).reshape(len(starts), k).mean(axis=1)


def _seasons(raw: Any, where: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where} seasons = {raw!r}: expected a table of months, e.g. {{ summer = [6, 7, 8, 9], ... }}")
    owner: dict[int, str] = {}
    seasons: dict[str, tuple[int, ...]] = {}
    for name, months in raw.items():
        if not isinstance(months, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months
        ):
            raise InputError(f"{where} seasons.{name} = {months!r}: expected a list of months 1-12")
        for m in months:
            if m in owner:
                raise InputError(f"{where} seasons: month {m} is in both {owner[m]!r} and {name!r}")
            owner[m] = name
        seasons[name] = tuple(months)
    missing = sorted(set(range(1, 13)) - set(owner))
    if missing:
        raise InputError(f"{where} seasons: month {missing[0]} is in no season; expected every month 1-12 once")
    return seasons


def _hour(value: Any, key: str) -> float:
    if not is_number(value) or not 0 <= value <= 24:
        raise InputError(f"{key} = {value!r}: expected hours of the day in [0, 24], such as [16, 21]")
    return float(value)


def _ranges(raw: Any, key: str) -> tuple[tuple[float, float], ...]:
    pairs: Sequence[Any] = raw if isinstance(raw, list) and raw and isinstance(raw[0], list) else [raw]
    ranges = []
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(f"{key} = {raw!r}: expected [start, end] or a list of them, e.g. [[15, 16], [21, 24]]")
        start, end = _hour(pair[0], key), _hour(pair[1], key)
        if start == end or (start == 24 and end == 0):
            raise InputError(f"{key} = {raw!r}: [{pair[0]}, {pair[1]}] is empty; expected start != end")
        ranges.append((start % 24, end))
    return tuple(ranges)


_RULE_KEYS = {"name", "hours", "days", "seasons"}


def _rule(raw: dict[str, Any], i: int, seasons: Mapping[str, Any], where: str, default: bool) -> Rule:
    key = f"{where} periods[{i}]" + (" (a default period; give `periods` to change it)" if default else "")
    for k in raw:
        if k not in _RULE_KEYS:
            raise InputError(f"{key}: unknown key {k!r}; expected one of {', '.join(sorted(_RULE_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{key}: needs `name = ...` (the period, e.g. \"peak\")")
    if "hours" not in raw:
        raise InputError(f"{key} ({name!r}): needs `hours = [start, end]`")
    ranges = _ranges(raw["hours"], f"{key} hours")
    days = parse_days(raw.get("days", "all"), f"{key} days")
    rule_seasons = raw.get("seasons")
    if rule_seasons is not None:
        if not isinstance(rule_seasons, list) or not all(isinstance(s, str) for s in rule_seasons):
            raise InputError(f"{key} seasons = {rule_seasons!r}: expected a list of season names")
        for s in rule_seasons:
            if s not in seasons:
                raise InputError(f"{key} seasons: unknown season {s!r}; seasons are {', '.join(seasons)}")
        rule_seasons = frozenset(rule_seasons)
    return Rule(name, ranges, days, rule_seasons)


def _rates(raw: Any, seasons: Mapping[str, Any], where: str, scale: float, default: bool) -> dict[str, dict[str, float]]:
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where} rates = {raw!r}: expected a table such as {{ peak = 550, off_peak = 300 }}")
    if not any(isinstance(v, dict) for v in raw.values()):  # one set of rates for every season
        for period, rate in raw.items():
            if not is_number(rate):
                raise InputError(f"{where} rates.{period} = {rate!r}: expected a number")
        raw = {season: raw for season in seasons}
    rates: dict[str, dict[str, float]] = {}
    for season, table in raw.items():
        if season not in seasons:
            hint = " (the default rates; give `rates` for your seasons)" if default else ""
            raise InputError(
                f"{where} rates.{season}: unknown season {season!r}{hint}; seasons are {', '.join(seasons)}"
            )
        if not isinstance(table, dict):
            raise InputError(
                f"{where} rates.{season} = {table!r}: expected a table of rates by period, "
                "or give one table of numbers for all seasons"
            )
        for period, rate in table.items():
            if not is_number(rate):
                raise InputError(f"{where} rates.{season}.{period} = {rate!r}: expected a number")
        rates[season] = {period: float(rate) * scale for period, rate in table.items()}
    for season in seasons:
        if season not in rates:
            raise InputError(f"{where} rates: no rates for season {season!r}")
    return rates


def _holidays(raw: Any, where: str) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        raise InputError(f"{where} holidays = {raw!r}: expected a list of dates such as [2024-07-04]")
    days = set()
    for value in raw:
        if isinstance(value, dt.datetime):
            value = value.date()
        elif isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise InputError(f"{where} holidays: {value!r} is not a date; expected YYYY-MM-DD") from None
        if not isinstance(value, dt.date):
            raise InputError(f"{where} holidays: {value!r} is not a date; expected YYYY-MM-DD")
        days.add(value)
    return frozenset(days)
