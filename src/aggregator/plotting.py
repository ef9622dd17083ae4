"""Figures of a :class:`~aggregator.Result`: the dispatch and the profit per month.

Both functions return a :class:`matplotlib.figure.Figure` built without
:mod:`matplotlib.pyplot`, so they work the same in a script, a notebook, a
test or a server (no display, no global state): save one with
``fig.savefig("dispatch.png")``.  The command line uses them as
``aggregator plot RESULT``.

Times are shown in the result's time zone (the ``timezone`` attribute of its
``time`` coordinate, UTC without one) and money in its currency
(:mod:`aggregator.labels`).  Figures are drawn at screen resolution; write
them for print at :data:`DEFAULT_DPI` (``fig.savefig(path, dpi=300)``, as
``aggregator plot`` does by default).

Matplotlib is an optional dependency (``pip install "aggregator[plot]"``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from .errors import InputError
from .labels import currency, time_zone
from .timezones import local_time

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .result import Result

__all__ = [
    "plot_dispatch", "plot_monthly_profit", "monthly_profit", "select_window", "profit_period", "PLOT_KINDS",
    "DEFAULT_DPI", "MAX_FLEET_PANELS",
]

#: The kinds of figure :meth:`aggregator.Result.plot` and ``aggregator plot --kind`` draw.
PLOT_KINDS = ("dispatch", "monthly")

#: Resolution of ``aggregator plot`` images (dots per inch): fit for a printed paper.
DEFAULT_DPI = 300

#: More fleets than this are drawn as their totals (state of charge) or with the rest grouped (power).
MAX_FLEET_PANELS = 8

# Colour-blind-safe qualitative palette (Okabe & Ito), readable in grey print.
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
}


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        raise InputError(
            "plotting needs matplotlib, which is not installed; install it with "
            "python -m pip install \"aggregator[plot]\" (or python -m pip install matplotlib)"
        ) from None
    return matplotlib, Figure


def _colour(i: int) -> str:
    return _COLOURS[i % len(_COLOURS)]


def _scale(values: np.ndarray, unit: str) -> tuple[float, str]:
    """A divisor and unit that keep tick labels short (kW -> MW -> GW)."""
    peak = float(np.nanmax(np.abs(values))) if values.size and np.isfinite(values).any() else 0.0
    base = unit[1:]  # "W" or "Wh"
    for prefix, divisor in (("T", 1e9), ("G", 1e6), ("M", 1e3)):
        if peak >= divisor:
            return divisor, f"{prefix}{base}"
    return 1.0, unit


def profit_period(result: "Result") -> str:
    """The bar period that suits a result's length: days up to 31 days, weeks up to 120, else months.

    Parameters
    ----------
    result : Result

    Returns
    -------
    str
        ``"D"``, ``"W-MON"`` (weeks starting on Monday) or ``"MS"``.
    """
    time = result.dataset.indexes["time"]
    days = (time[-1] - time[0]) / pd.Timedelta(days=1) + result.step_hours / 24
    if days <= 31:
        return "D"
    if days <= 120:
        return "W-MON"
    return "MS"


def select_window(
    result: "Result", start: str | pd.Timestamp | None = None, days: float | None = None
) -> "Result":
    """The part of a result between ``start`` and ``start + days``.

    Parameters
    ----------
    result : Result
        A solved result.
    start : str or pandas.Timestamp, optional
        First time to show (a date such as ``"2024-07-01"``); default: the
        first step.
    days : float, optional
        Length of the window in days; default: the whole result when it is at
        most 14 days long, else 7 days.

    Returns
    -------
    Result
        A result over the window only (its run facts are those of the whole run).

    Raises
    ------
    InputError
        If ``start`` is not a date, ``days`` is not positive, or the window
        holds no step of the result (the message gives the result's span).
    """
    from .result import Result

    time = local_time(result.dataset["time"], default=time_zone(result))
    if start is None:
        first = time[0]
    else:
        try:
            first = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise InputError(f"--start {start!r}: expected a date such as {time[0]:%Y-%m-%d}") from None
        # a date without a zone is a date in the result's zone
        first = first.tz_localize(time.tz) if first.tzinfo is None else first.tz_convert(time.tz)
    if days is not None and (isinstance(days, bool) or not (isinstance(days, (int, float)) and days > 0)):
        raise InputError(f"--days {days!r}: expected a number of days > 0")
    span_days = (time[-1] - time[0]) / pd.Timedelta(days=1)
    if days is None:
        days = span_days + 1 if (start is None and span_days < 14) else 7
    last = first + pd.Timedelta(days=float(days))
    mask = (time >= first) & (time < last)
    if not mask.any():
        raise InputError(
            f"the window {first:%Y-%m-%d %H:%M} + {days:g} days holds no step of the result, "
            f"which covers {time[0]:%Y-%m-%d %H:%M} to {time[-1]:%Y-%m-%d %H:%M} {time_zone(result)}"
        )
    return Result(result.dataset.isel(time=np.flatnonzero(mask)))


def monthly_profit(result: "Result", freq: str = "MS") -> pd.DataFrame:
    """Arbitrage profit per period (default: calendar month) and fleet, in $.

    Parameters
    ----------
    result : Result
        A solved result.
    freq : str
        A pandas period alias: ``"MS"`` months, ``"W-MON"`` weeks from Monday,
        ``"D"`` days (calendar periods of the result's time zone).

    Returns
    -------
    pandas.DataFrame
        One row per period (labelled by its first day), one column per fleet.

    Examples
    --------
    >>> from aggregator import Aggregator, Fleet, PriceSignal
    >>> fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10,
    ...               charge_efficiency=1.0, discharge_efficiency=1.0,
    ...               contract_limit=1.0, initial_soc=0.0, availability=[1, 1])
    >>> result = Aggregator([fleet], PriceSignal([10.0, 100.0])).solve(solver="highs")
    >>> monthly_profit(result).round(6)
    fleet         f
    time
    2024-01-01  0.9
    """
    ds = result.dataset
    value = ds["price"] * (result.step_hours / 1000.0) * (ds["discharge"] - ds["charge"])
    frame = value.transpose("time", "fleet").to_pandas()
    zone = time_zone(result)
    if zone != "UTC":  # periods are the zone's calendar days and months (23- and 25-hour days too)
        frame.index = local_time(result.dataset["time"], default=time_zone(result))
    table = frame.resample(freq, label="left", closed="left").sum()  # each period labelled by its first day
    table.columns.name = "fleet"
    return table


def plot_dispatch(
    result: "Result",
    *,
    start: str | pd.Timestamp | None = None,
    days: float | None = None,
    fleets: Sequence[str] | None = None,
    width: float = 7.0,
) -> "Figure":
    """Price, charging and discharging, and state of charge against its bounds.

    Panels over a shared time axis, labelled in the result's time zone: the
    wholesale price on top (negative prices shaded); then the fleets'
    grid-side power stacked by fleet, charging above zero and discharging
    below, with the net total as a line (so that near-identical fleets do not
    hide each other); then one panel per fleet with its stored energy between
    the bounds ``soc_min`` and ``soc_max`` (which follow the share of vehicles
    plugged in), with any slack energy marked.  With more than
    :data:`MAX_FLEET_PANELS` fleets and no selection, the state of charge is
    one panel of the fleets' totals and the power stacks the largest fleets,
    the others grouped; ``fleets`` selects the fleets to show one by one.

    Parameters
    ----------
    result : Result
        A solved result (from a solve or :meth:`Result.from_netcdf`).
    start, days
        The window to show; see :func:`select_window`.
    fleets : sequence of str, optional
        Fleets to show (default: all).
    width : float
        Figure width in inches (7 fits a page; the height follows the panels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _, Figure = _matplotlib()
    import matplotlib as mpl

    _require_solution(result)
    window = select_window(result, start, days)
    ds = window.dataset
    every = [str(f) for f in ds.indexes["fleet"]]
    names = every
    if fleets is not None:
        unknown = [f for f in fleets if f not in every]
        if unknown:
            raise InputError(f"fleet {unknown[0]!r} is not in the result; its fleets are {', '.join(every)}")
        names = list(dict.fromkeys(fleets))
    totals = len(names) > MAX_FLEET_PANELS
    colours = {name: _colour(i) for i, name in enumerate(names)}
    zone = time_zone(result)
    time = local_time(window.dataset["time"], default=time_zone(window))
    step = pd.Timedelta(hours=window.step_hours)
    edges = time.append(pd.DatetimeIndex([time[-1] + step]))
    # Stored energy is the energy at the end of each step; the point before the
    # window is the initial state (or the step before the window).
    first = result.dataset.indexes["time"].get_loc(ds.indexes["time"][0])
    if first == 0 and "soc_initial" in result.dataset:
        before = result.dataset["soc_initial"].sel(fleet=names).to_numpy()
    else:
        before = result.dataset["soc"].isel(time=max(first - 1, 0)).sel(fleet=names).to_numpy()

    def stairs(values: np.ndarray) -> np.ndarray:
        return np.append(values, values[-1])

    def matrix(var: str) -> np.ndarray:
        return ds[var].sel(fleet=names).transpose("time", "fleet").to_numpy()

    outside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False, "borderaxespad": 0.0}
    unit = f"{currency(result)}/MWh"
    with mpl.rc_context(_STYLE):
        panels = 1 if totals else len(names)
        heights = [1.0, 1.2] + [0.8] * panels
        fig = Figure(figsize=(width, 1.3 * sum(heights) + 0.8), layout="constrained")
        axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
        ax_price, ax_power, soc_axes = axes[0], axes[1], axes[2:]

        price = ds["price"].to_numpy()
        ax_price.step(edges, stairs(price), where="post", color="#333333", linewidth=1.0, label="price")
        if (price < 0).any():
            ax_price.fill_between(
                edges, stairs(np.minimum(price, 0)), 0, step="post", color="#D55E00", alpha=0.35, linewidth=0,
                label="negative",
            )
        ax_price.axhline(0, color="#888888", linewidth=0.6)
        ax_price.set_ylabel(f"price\n{unit}")
        ax_price.legend(**outside)
        title = ds.attrs.get("name") or "result"
        ax_price.set_title(f"{title}: {edges[0]:%Y-%m-%d %H:%M} to {edges[-1]:%Y-%m-%d %H:%M} {zone}", loc="left")

        _power_panel(ax_power, edges, names, matrix("charge"), matrix("discharge"), colours, outside, stairs)

        soc, low, high = matrix("soc"), matrix("soc_min"), matrix("soc_max")
        slack = matrix("slack_up") + matrix("slack_down")
        if totals:  # one panel of the sums: many small panels would be unreadable
            soc, low, high, slack = (a.sum(axis=1, keepdims=True) for a in (soc, low, high, slack))
            before = np.array([before.sum()])
            labels, panel_colours = [f"all {len(names)}\nfleets"], ["#333333"]
        else:
            labels, panel_colours = names, [colours[n] for n in names]
        divisor, energy_unit = _scale(high, "kWh")
        ends = edges[1:]
        for i, (ax, label, colour) in enumerate(zip(soc_axes, labels, panel_colours)):
            ax.fill_between(ends, low[:, i] / divisor, high[:, i] / divisor, color=colour, alpha=0.18, linewidth=0,
                            label="allowed")
            ax.plot(ends, high[:, i] / divisor, color=colour, linewidth=0.5, alpha=0.7)
            ax.plot(ends, low[:, i] / divisor, color=colour, linewidth=0.5, alpha=0.7)
            ax.plot(edges, np.insert(soc[:, i], 0, before[i]) / divisor, color=colour, linewidth=1.4, label="stored")
            used = slack[:, i] > 1e-6
            if used.any():
                ax.plot(ends[used], soc[used, i] / divisor, linestyle="none", marker="x", markersize=4,
                        color="#D55E00", label="slack used")
            ax.set_ylim(bottom=0)
            ax.set_ylabel(f"{label}\n{energy_unit}")
            ax.legend(title="energy" if i == 0 else None, **outside)
        if totals:
            soc_axes[-1].annotate(
                "totals of all fleets; pass fleets=[...] (--fleet NAME) to show fleets one by one",
                xy=(1, 0), xycoords="axes fraction", ha="right", va="bottom", fontsize=7, color="#666666",
            )
        _time_axis(axes[-1], edges, zone)
        for ax in axes:
            ax.margins(x=0)
    return fig


def _groups(names: Sequence[str], weight: np.ndarray) -> list[tuple[str, str, list[int]]]:
    """Bands of a stacked chart: (label, colour, columns); past MAX_FLEET_PANELS fleets the largest by
    ``weight`` keep a band each and the rest share a grey one."""
    if len(names) <= MAX_FLEET_PANELS:
        return [(name, _colour(j), [j]) for j, name in enumerate(names)]
    order = np.argsort(-np.asarray(weight, dtype=float), kind="stable")
    keep = sorted(int(j) for j in order[: MAX_FLEET_PANELS - 1])
    rest = sorted(int(j) for j in order[MAX_FLEET_PANELS - 1:])
    return [(names[j], _colour(i), [j]) for i, j in enumerate(keep)] + [(f"{len(rest)} other fleets", "#999999", rest)]


def _power_panel(ax, edges, names, charge, discharge, colours, outside, stairs) -> None:
    """Grid power stacked by fleet (charging up, discharging down) and the net total as a line."""
    if len(names) > MAX_FLEET_PANELS:  # the fleets that move most energy, the rest as one band
        groups = _groups(names, (charge + discharge).sum(axis=0))
    else:
        groups = [(n, colours[n], [j]) for j, n in enumerate(names)]
    bands = [(label, colour, charge[:, cols].sum(axis=1), discharge[:, cols].sum(axis=1)) for label, colour, cols in groups]
    net = charge.sum(axis=1) - discharge.sum(axis=1)
    divisor, unit = _scale(np.concatenate([charge.sum(axis=1), discharge.sum(axis=1)]), "kW")
    up = np.zeros(len(net))
    down = np.zeros(len(net))
    for name, colour, c, d in bands:
        ax.fill_between(edges, stairs(up / divisor), stairs((up + c) / divisor), step="post", color=colour,
                        linewidth=0, alpha=0.85, label=name)
        ax.fill_between(edges, stairs(-down / divisor), stairs(-(down + d) / divisor), step="post", color=colour,
                        linewidth=0, alpha=0.85)
        up, down = up + c, down + d
    if len(bands) > 1:
        ax.step(edges, stairs(net / divisor), where="post", color="#222222", linewidth=0.7, label="net total")
    ax.axhline(0, color="#888888", linewidth=0.6)
    ax.set_ylabel(f"grid power, {unit}\n− discharge  + charge")
    ax.legend(title="fleet" if len(bands) > 1 else None, **outside)


def _time_axis(bottom, edges: pd.DatetimeIndex, zone: str) -> None:
    """Date ticks that suit the span, in the result's zone, and the zone in the axis label."""
    import matplotlib.dates as mdates

    tz = edges.tz
    span_days = (edges[-1] - edges[0]) / pd.Timedelta(days=1)
    if span_days <= 3:
        locator = mdates.HourLocator(byhour=range(0, 24, 6 if span_days <= 1.5 else 12), tz=tz)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%b %d\n%H:%M", tz=tz))
    elif span_days <= 31:
        locator = mdates.DayLocator(interval=max(1, int(math.ceil(span_days / 10))), tz=tz)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%b %d", tz=tz))
    else:
        locator = mdates.AutoDateLocator(maxticks=12, tz=tz)
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
    bottom.xaxis.set_major_locator(locator)
    bottom.set_xlim(edges[0], edges[-1])
    bottom.set_xlabel(f"time ({zone})")


def plot_monthly_profit(result: "Result", *, freq: str | None = None, width: float = 7.0) -> "Figure":
    """Bar chart of arbitrage profit per period, stacked by fleet, total on top.

    Parameters
    ----------
    result : Result
        A solved result.
    freq : str, optional
        Period of the bars (see :func:`monthly_profit`); default: what suits
        the result's length (:func:`profit_period`: days for a run of up to a
        month, weeks up to four months, else months).
    width : float
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _, Figure = _matplotlib()
    import matplotlib as mpl
    from matplotlib.ticker import FuncFormatter

    _require_solution(result)
    freq = profit_period(result) if freq is None else freq
    table = monthly_profit(result, freq)
    years = sorted({t.year for t in table.index})
    if freq.startswith("M"):
        labels = [f"{t:%b}" if len(years) == 1 else f"{t:%b}\n{t:%Y}" for t in table.index]
    elif freq.startswith("D") and len(table) <= 31:
        labels = [f"{t:%a}\n{t:%d}" if i and t.day != 1 else f"{t:%a}\n{t:%b %d}" for i, t in enumerate(table.index)]
    else:
        labels = [f"{t:%b %d}" if len(years) == 1 else f"{t:%Y-%m-%d}" for t in table.index]
    cur = currency(result)
    divisor, unit = 1.0, cur
    peak = float(table.abs().sum(axis=1).max()) if len(table) else 0.0
    if peak >= 1e6:
        divisor, unit = 1e6, f"million {cur}"
    elif peak >= 1e4:
        divisor, unit = 1e3, f"thousand {cur}"
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(width, 3.2), layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(table))
        up = np.zeros(len(table))
        down = np.zeros(len(table))
        names = [str(c) for c in table.columns]
        for label, colour, cols in _groups(names, table.abs().sum(axis=0).to_numpy()):
            values = table.iloc[:, cols].sum(axis=1).to_numpy() / divisor
            base = np.where(values >= 0, up, down)
            ax.bar(x, values, bottom=base, color=colour, width=0.75, label=label, edgecolor="white", linewidth=0.4)
            up += np.clip(values, 0, None)
            down += np.clip(values, None, 0)
        totals = table.sum(axis=1).to_numpy() / divisor
        for xi, total, top in zip(x, totals, up):
            ax.annotate(
                _short(total), xy=(xi, max(top, 0)), xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize=7 if len(x) <= 16 else 5,
            )
        ax.axhline(0, color="#888888", linewidth=0.6)
        ax.set_xticks(x, labels, rotation=0 if len(x) <= 16 else 90)
        zone = time_zone(result)
        ax.set_xlabel((str(years[0]) if len(years) == 1 else "") + ("" if zone == "UTC" else f" ({zone})"))
        ax.grid(axis="x", visible=False)
        ax.set_axisbelow(True)
        ax.set_ylabel(f"profit, {unit}")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 or v == round(v) else f"{v:,.1f}"))
        ax.margins(y=0.12)
        total = float(table.to_numpy().sum())
        name = result.dataset.attrs.get("name") or "result"
        ax.set_title(f"{name}: arbitrage profit per {_period_word(freq)}, total {total:,.0f} {cur}", loc="left")
        if table.shape[1] > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="fleet")
    return fig


def _short(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _period_word(freq: str) -> str:
    return {"M": "month", "W": "week", "D": "day"}.get(freq[:1].upper(), "period")


def _require_solution(result: "Result") -> None:
    if not result.has_solution:
        raise InputError(f"the result has no solution to plot (status {result.status!r})")
