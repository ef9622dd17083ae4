"""The ``tou`` price source (:class:`TouPriceSource`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from aggregator import InputError, Option, PriceSignal, PriceSource

from .tariff import DEFAULT_PERIOD, DEFAULT_PERIODS, DEFAULT_RATES, DEFAULT_SEASONS, Rule, Tariff

__all__ = ["TouPriceSource", "Tariff", "Rule", "DEFAULT_SEASONS", "DEFAULT_PERIODS", "DEFAULT_PERIOD", "DEFAULT_RATES"]

_DEFAULT_START = "2024-01-01"


class TouPriceSource(PriceSource):
    """A utility time-of-use tariff by hour, weekday and season (``source = "tou"``).

    Without options it is an illustrative California-style EV rate: peak
    4-9 pm on weekdays, part-peak around it and at weekend evenings, a winter
    super-off-peak at midday, summer from June to September (see
    :mod:`aggregator_tou.tariff`).  Rates are in $/MWh unless ``unit = "$/kWh"``.
    """

    name = "tou"
    options = {
        "start": Option(str, "first time stamp, a date such as 2024-07-01", default=_DEFAULT_START),
        "hours": Option(float, "length (default: the horizon, else 8760)", unit="hours", exclusive_minimum=0),
        "seasons": Option(dict, "season name -> list of months 1-12 (default summer = Jun-Sep, winter = the rest)"),
        "periods": Option(list, "rules { name, hours = [start, end], days, seasons }; the first match wins",
                          items=Option(dict)),
        "default_period": Option(str, "period of hours no rule covers", default=DEFAULT_PERIOD),
        "rates": Option(dict, "season -> period -> rate, or period -> rate for every season"),
        "unit": Option(str, "unit of the rates", choices=("$/MWh", "$/kWh"), default="$/MWh"),
        "holidays": Option(list, "dates priced as Sundays"),
    }

    def load(
        self, options: Mapping[str, Any], *, base_dir: Path, steps: int | None, step_hours: float
    ) -> PriceSignal:
        """Price every step of the horizon with the tariff.

        Parameters
        ----------
        options : mapping
            The ``[prices]`` table without ``source``, checked against
            :attr:`options` (defaults filled in) by the core.
        base_dir : pathlib.Path
            Folder of the scenario file (unused).
        steps : int or None
            Steps the horizon asks for.
        step_hours : float
            Step length in hours.

        Returns
        -------
        PriceSignal
            In $/MWh; a step's price is the tariff's average over the step.

        Raises
        ------
        InputError
            Naming the ``[prices]`` key at fault.
        """
        tariff = Tariff.from_options(options)
        hours = options.get("hours")
        n = steps if hours is None else int(round(hours / step_hours))
        n = int(round(8760 / step_hours)) if n is None else n
        raw_start = options.get("start", _DEFAULT_START)
        try:
            start = pd.Timestamp(raw_start)
        except (ValueError, TypeError):
            raise InputError(f"[prices] start = {raw_start!r}: expected a date such as 2024-07-01") from None
        time = pd.date_range(start, periods=n, freq=pd.Timedelta(hours=step_hours))
        return PriceSignal(tariff.prices(time, step_hours), step_hours, time, source=f"tou from {start}")
