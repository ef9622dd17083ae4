"""The run summary that ``aggregator run`` prints: facts, then one row per fleet.

On a terminal it is a coloured table (with :mod:`rich`, when installed);
anywhere else (a pipe, a file, a CI log, ``NO_COLOR`` set) it is plain text
without escape codes, one fleet per line, so that it can be read by ``grep``
and diffed.  ``--json`` prints :meth:`aggregator.Result.summary` instead.
"""

from __future__ import annotations

import math
import os
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .result import Result

__all__ = ["print_summary", "plain_summary", "use_colour"]

_STATUS_STYLE = {"optimal": "bold green", "feasible": "bold yellow", "time_limit": "bold yellow"}
_COLUMNS = (
    ("fleet", "", None),
    ("profit", "$", 2),
    ("charged", "kWh", 0),
    ("discharged", "kWh", 0),
    ("cycles", "", 1),
    ("slack", "kWh", 1),
)


def _currency(result: "Result") -> str:
    """The prices' currency label (``EUR``), or ``$`` when the scenario did not state one."""
    return str(result.dataset.attrs.get("currency") or "$")


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def use_colour(stream: IO[str] | None = None) -> bool:
    """Whether to print colour: the stream is a terminal, ``NO_COLOR`` is unset and rich is installed.

    ``FORCE_COLOR`` (any value) forces colour on, e.g. in a CI log that shows it.

    Parameters
    ----------
    stream : file-like, optional
        Default: standard output.

    Returns
    -------
    bool
    """
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _facts(result: "Result") -> list[tuple[str, str, str]]:
    """(label, text, style) lines above the table."""
    a = result.dataset.attrs
    cur = _currency(result)
    sizes = result.dataset.sizes
    lines = [
        (
            "scenario",
            f"{a.get('name') or '-'}: {_count(sizes['fleet'], 'fleet')} x {_count(sizes['time'], 'step')} "
            f"of {float(a['step_hours']):g} h",
            "",
        ),
        ("solver", f"{a['solver']} ({a['solver_choice']}), {float(a['solve_seconds']):.2f} s", ""),
        (
            "status",
            str(a["status"]) + (f" - {a['message']}" if a.get("message") else ""),
            _STATUS_STYLE.get(str(a["status"]), "bold red"),
        ),
    ]
    if result.has_solution:
        lines.append(
            (
                "profit",
                f"{_fmt(result.profit)} {cur}   (penalty {_fmt(result.penalty)} {cur}, objective {_fmt(result.objective)} {cur})",
                "bold",
            )
        )
        if "price_faced" in result.dataset:  # a price maker: "profit" above is the price taker's valuation
            lines.append(("price", _price_maker_line(result), "bold"))
        if result.wear or result.shortfall_cost or "shortfall" in result.dataset:
            lines.append(
                (
                    "costs",
                    f"battery wear {_fmt(result.wear)} {cur}, unmet departure needs "
                    f"{float(result.shortfall_kwh.sum()):,.1f} kWh costing {_fmt(result.shortfall_cost)} {cur}",
                    "",
                )
            )
        for name, row in result.aggregation_error.iterrows():
            lines.append(
                (
                    "aggregate",
                    f"{name}: vehicles {_fmt(row['vehicles'])} {cur}, energy aggregate {_fmt(row['aggregate'])} {cur}, "
                    f"error {_fmt(row['error'])} {cur} ({row['relative']:.2%})",
                    "",
                )
            )
        gap = result.gap
        lines.append(
            ("bound", f"{_fmt(result.bound)} {cur}   gap {gap:.2e}" if math.isfinite(gap) else "not proven by this solver", "")
        )
    if "rolling_windows" in a:
        loss = float(a.get("foresight_loss", math.nan))
        share = float(a.get("foresight_loss_share", math.nan))
        lines.append(
            (
                "rolling",
                f"{float(a['rolling_window_hours']):g} h windows, first {float(a['rolling_commit_hours']):g} h kept "
                f"({int(a['rolling_windows'])} solves); perfect foresight {_fmt(float(a.get('perfect_foresight_profit', math.nan)))} {cur}, "
                f"lost to the short look-ahead {_fmt(loss)} {cur}"
                + (f" ({share:.2%})" if math.isfinite(share) else ""),
                "",
            )
        )
    return lines


def _price_maker_line(result: "Result") -> str:
    """What moving the price cost, the price maker's profit, and the range of the price faced beside the given one."""
    cur = _currency(result)
    ds = result.dataset
    faced, given = ds["price_faced"].to_numpy(), ds["price"].to_numpy()
    return (
        f"maker {_fmt(result.profit - result.market_impact)} {cur} after a market impact of "
        f"{_fmt(result.market_impact)} {cur} (profit above: at the given price, as a price taker); faced {_fmt(float(faced.min()))} to "
        f"{_fmt(float(faced.max()))} {cur}/MWh, given {_fmt(float(given.min()))} to {_fmt(float(given.max()))}"
    )


def _rows(result: "Result") -> tuple[list[list[str]], list[str], float]:
    table = result.fleet_table()
    rows = [
        [
            str(name),
            _fmt(row["profit"]),
            _fmt(row["charged_kwh"], 0),
            _fmt(row["discharged_kwh"], 0),
            _fmt(row["cycles"], 1),
            _fmt(row["slack_kwh"], 1),
        ]
        for name, row in table.iterrows()
    ]
    total = table.sum()
    totals = [
        "total",
        _fmt(total["profit"]),
        _fmt(total["charged_kwh"], 0),
        _fmt(total["discharged_kwh"], 0),
        "",
        _fmt(total["slack_kwh"], 1),
    ]
    # Slack below what the table shows (0.0 kWh) is solver round-off, not worth a note.
    slack = float(total["slack_kwh"])
    return rows, totals, slack if round(slack, 1) > 0 else 0.0


def _slack_note(result: "Result", slack: float) -> str:
    forced = result.slack_forced_kwh()
    cur = _currency(result)
    rate = float(result.dataset.attrs["slack_penalty"])
    lines = [
        f"note: {slack:,.1f} kWh of slack energy used, costing {_fmt(result.penalty)} {cur} of penalty "
        f"(the fleets' energy and power bounds force at least {forced:,.1f} kWh)"
    ]
    lines += [f"  {need.sentence()}; {_fmt(need.kwh * rate)} {cur}" for need in result.slack_report()]
    return "\n".join(lines)


def plain_summary(result: "Result") -> str:
    """The summary as plain text (no escape codes).

    Parameters
    ----------
    result : Result

    Returns
    -------
    str
        Lines ending with a newline.
    """
    out = [f"{label:<11}{text}" for label, text, _ in _facts(result)]
    if result.has_solution:
        rows, totals, slack = _rows(result)
        widths = [max(16, max(len(r[0]) for r in rows) + 2), 16, 16, 16, 9, 12]
        headers = [f"{name} {_currency(result) if unit == '$' else unit}".strip() for name, unit, _ in _COLUMNS]
        headers[2], headers[3] = "charged kWh", "discharged kWh"

        def line(cells: list[str]) -> str:
            return cells[0].ljust(widths[0]) + "".join(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))

        header = line(headers)
        out += ["", header, "-" * len(header), *(line(r) for r in rows), "-" * len(header), line(totals)]
        if slack > 0:
            out += ["", _slack_note(result, slack)]
    return "\n".join(out) + "\n"


def print_summary(result: "Result", stream: IO[str] | None = None, *, colour: bool | None = None) -> None:
    """Print the summary: a coloured table on a terminal, plain text elsewhere.

    Parameters
    ----------
    result : Result
    stream : file-like, optional
        Default: standard output.
    colour : bool, optional
        Force colour on or off (default: :func:`use_colour`).
    """
    stream = sys.stdout if stream is None else stream
    if not (use_colour(stream) if colour is None else colour):
        stream.write(plain_summary(result))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, force_terminal=True, highlight=False)
    for label, text, style in _facts(result):
        console.print(f"[dim]{label:<10}[/dim] ", end="")
        console.print(text, style=style or None, markup=False)
    if not result.has_solution:
        return
    rows, totals, slack = _rows(result)
    table = Table(show_footer=True, header_style="bold", footer_style="bold", box=box.SIMPLE, pad_edge=False,
                  show_edge=False)
    for (name, unit, _), footer in zip(_COLUMNS, totals):
        unit = _currency(result) if unit == "$" else unit
        heading = f"{name}\n[dim]{unit}[/dim]" if unit else name
        table.add_column(heading, footer=footer, justify="left" if name == "fleet" else "right")
    for row in rows:
        profit_style = "green" if not row[1].startswith("-") else "red"
        table.add_row(row[0], f"[{profit_style}]{row[1]}[/]", *row[2:5], f"[yellow]{row[5]}[/]" if row[5] not in ("0.0", "-0.0") else row[5])
    console.print()
    console.print(table)
    if slack > 0:
        console.print(_slack_note(result, slack), style="yellow")
