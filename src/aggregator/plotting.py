"""Figures of a :class:`~aggregator.Result`: the dispatch and the profit per month.

Both functions return a :class:`matplotlib.figure.Figure` built without
:mod:`matplotlib.pyplot`, so they work the same in a script, a notebook, a
test or a server (no display, no global state): save one with
``fig.savefig("dispatch.png")``.  The command line uses them as
``aggregator plot RESULT``.

Matplotlib is an optional dependency (``pip install "aggregator[plot]"``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .result import Result

__all__ = ["plot_dispatch", "plot_monthly_profit", "monthly_profit", "select_window", "PLOT_KINDS"]

#: The kinds of figure :meth:`aggregator.Result.plot` and ``aggregator plot --kind`` draw.
PLOT_KINDS = ("dispatch", "monthly")

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

    time = result.dataset.indexes["time"]
    if start is None:
        first = time[0]
    else:
        try:
            first = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise InputError(f"--start {start!r}: expected a date such as {time[0]:%Y-%m-%d}") from None
    if days is not None and (isinstance(days, bool) or not (isinstance(days, (int, float)) and days > 0)):
        raise InputError(f"--days {days!r}: expected a number of days > 0")
    span_days = (time[-1] - time[0]) / pd.Timedelta(days=1)
    if days is None:
        days = span_days + 1 if (start is None and span_days < 14) else 7
    last = first + pd.Timedelta(days=float(days))
    mask = (time >= first) & (time < last)
    if not mask.any():
        raise InputError(
            f"the window {first} + {days:g} days holds no step of the result, "
            f"which covers {time[0]} to {time[-1]}"
        )
    return Result(result.dataset.isel(time=np.flatnonzero(mask)))


def monthly_profit(result: "Result", freq: str = "MS") -> pd.DataFrame:
    """Arbitrage profit per period (default: calendar month) and fleet, in $.

    Parameters
    ----------
    result : Result
        A solved result.
    freq : str
        A pandas period alias: ``"MS"`` months, ``"W"`` weeks, ``"D"`` days.

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
    table = frame.resample(freq).sum()
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

    Three panels over a shared time axis: the wholesale price on top (negative
    prices shaded); in the middle each fleet's grid-side power, charging above
    zero and discharging below; then one panel per fleet with its stored energy
    between the bounds ``soc_min`` and ``soc_max`` (which follow the share of
    vehicles plugged in), with any slack energy marked.

    Parameters
    ----------
    result : Result
        A solved result (from a solve or :meth:`Result.from_netcdf`).
    start, days
        The window to show; see :func:`select_window`.
    fleets : sequence of str, optional
        Fleets to show (default: all, at most eight state-of-charge panels).
    width : float
        Figure width in inches (7 fits a page; the height follows the panels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _, Figure = _matplotlib()
    import matplotlib as mpl
    import matplotlib.dates as mdates

    _require_solution(result)
    window = select_window(result, start, days)
    ds = window.dataset
    names = [str(f) for f in ds.indexes["fleet"]]
    if fleets is not None:
        unknown = [f for f in fleets if f not in names]
        if unknown:
            raise InputError(f"fleet {unknown[0]!r} is not in the result; its fleets are {', '.join(names)}")
        names = list(fleets)
    shown = names[:8]
    colours = {str(f): _colour(i) for i, f in enumerate(ds.indexes["fleet"])}
    time = ds.indexes["time"]
    step = pd.Timedelta(hours=window.step_hours)
    edges = time.append(pd.DatetimeIndex([time[-1] + step]))
    # Stored energy is the energy at the end of each step; the point before the
    # window is the initial state (or the step before the window).
    first = result.dataset.indexes["time"].get_loc(time[0])
    if first == 0 and "soc_initial" in result.dataset:
        before = result.dataset["soc_initial"].sel(fleet=shown).to_numpy()
    else:
        before = result.dataset["soc"].isel(time=max(first - 1, 0)).sel(fleet=shown).to_numpy()

    def stairs(values: np.ndarray) -> np.ndarray:
        return np.append(values, values[-1])

    outside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False, "borderaxespad": 0.0}
    with mpl.rc_context(_STYLE):
        heights = [1.0, 1.1] + [0.8] * len(shown)
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
        ax_price.set_ylabel("price\n$/MWh")
        ax_price.legend(**outside)
        title = ds.attrs.get("name") or "result"
        ax_price.set_title(f"{title}: {time[0]:%Y-%m-%d %H:%M} to {edges[-1]:%Y-%m-%d %H:%M}", loc="left")

        net = (ds["charge"] - ds["discharge"]).sel(fleet=shown).transpose("time", "fleet").to_numpy()
        divisor, unit = _scale(net, "kW")
        for i, name in enumerate(shown):
            ax_power.step(edges, stairs(net[:, i] / divisor), where="post", color=colours[name], linewidth=1.0,
                          label=name)
        ax_power.axhline(0, color="#888888", linewidth=0.6)
        ax_power.set_ylabel(f"grid power, {unit}\n− discharge  + charge")
        ax_power.legend(title="fleet", **outside)

        soc = ds["soc"].sel(fleet=shown).transpose("time", "fleet").to_numpy()
        low = ds["soc_min"].sel(fleet=shown).transpose("time", "fleet").to_numpy()
        high = ds["soc_max"].sel(fleet=shown).transpose("time", "fleet").to_numpy()
        slack = (ds["slack_up"] + ds["slack_down"]).sel(fleet=shown).transpose("time", "fleet").to_numpy()
        divisor, unit = _scale(high, "kWh")
        ends = edges[1:]
        for i, (ax, name) in enumerate(zip(soc_axes, shown)):
            colour = colours[name]
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
            ax.set_ylabel(f"{name}\n{unit}")
            ax.legend(title="energy" if i == 0 else None, **outside)
        if len(names) > len(shown):
            soc_axes[-1].annotate(
                f"{len(names) - len(shown)} more fleets not shown (pass fleets=...)",
                xy=(1, 0), xycoords="axes fraction", ha="right", va="bottom", fontsize=7, color="#666666",
            )

        bottom = axes[-1]
        span_days = (edges[-1] - edges[0]) / pd.Timedelta(days=1)
        if span_days <= 3:
            locator = mdates.HourLocator(byhour=range(0, 24, 6 if span_days <= 1.5 else 12))
            bottom.xaxis.set_major_formatter(mdates.DateFormatter("%b %d\n%H:%M"))
        elif span_days <= 31:
            locator = mdates.DayLocator(interval=max(1, int(math.ceil(span_days / 10))))
            bottom.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%b %d"))
        else:
            locator = mdates.AutoDateLocator(maxticks=12)
            bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        bottom.xaxis.set_major_locator(locator)
        bottom.set_xlim(edges[0], edges[-1])
        for ax in axes:
            ax.margins(x=0)
    return fig


def plot_monthly_profit(result: "Result", *, freq: str = "MS", width: float = 7.0) -> "Figure":
    """Bar chart of arbitrage profit per month, stacked by fleet, total on top.

    Parameters
    ----------
    result : Result
        A solved result.
    freq : str
        Period of the bars (see :func:`monthly_profit`).
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
    table = monthly_profit(result, freq)
    years = sorted({t.year for t in table.index})
    if freq.startswith("M"):
        labels = [f"{t:%b}" if len(years) == 1 else f"{t:%b}\n{t:%Y}" for t in table.index]
    else:
        labels = [f"{t:%b %d}" if len(years) == 1 else f"{t:%Y-%m-%d}" for t in table.index]
    divisor, unit = 1.0, "$"
    peak = float(table.abs().sum(axis=1).max()) if len(table) else 0.0
    if peak >= 1e6:
        divisor, unit = 1e6, "million $"
    elif peak >= 1e4:
        divisor, unit = 1e3, "thousand $"
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(width, 3.2), layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(table))
        up = np.zeros(len(table))
        down = np.zeros(len(table))
        for i, name in enumerate(table.columns):
            values = table[name].to_numpy() / divisor
            base = np.where(values >= 0, up, down)
            ax.bar(x, values, bottom=base, color=_colour(i), width=0.75, label=str(name), edgecolor="white", linewidth=0.4)
            up += np.clip(values, 0, None)
            down += np.clip(values, None, 0)
        totals = table.sum(axis=1).to_numpy() / divisor
        for xi, total, top in zip(x, totals, up):
            ax.annotate(
                _short(total), xy=(xi, max(top, 0)), xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize=7,
            )
        ax.axhline(0, color="#888888", linewidth=0.6)
        ax.set_xticks(x, labels, rotation=0 if len(x) <= 14 else 90)
        if len(years) == 1:
            ax.set_xlabel(str(years[0]))
        ax.grid(axis="x", visible=False)
        ax.set_axisbelow(True)
        ax.set_ylabel(f"profit, {unit}")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:,.1f}"))
        ax.margins(y=0.12)
        total = float(table.to_numpy().sum())
        name = result.dataset.attrs.get("name") or "result"
        ax.set_title(f"{name}: arbitrage profit per {_period_word(freq)}, total {total:,.0f} $", loc="left")
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
