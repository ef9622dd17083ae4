"""Price sources for the files markets publish: CAISO OASIS LMP reports and ENTSO-E day-ahead prices.

``[prices] source = "caiso_oasis"`` reads the zipped CSV of an OASIS ``PRC_LMP``
(day-ahead, hourly) or ``PRC_INTVL_LMP`` (real-time, 5-minute) report, or the
CSV inside it.  ``[prices] source = "entsoe"`` reads the transparency platform's
CSV export of day-ahead prices, hourly or in the 15-minute market time units
of the single day-ahead coupling since October 2025.

Both check what they read as the CSV source does: a duplicated, missing or
out-of-order interval, a change of resolution, or a cell that is not a price
is an error naming the file and the line.  Their time stamps are instants: the
prices keep the market's zone (Pacific time for CAISO, the zone of the MTU
column for ENTSO-E) unless ``[horizon] timezone`` names another.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .csv_input import numeric_column, read_csv_bytes, read_csv_table
from .errors import InputError
from .options import Option
from .prices import PriceSignal, PriceSource, check_time_stamps, stamp_step_hours

if TYPE_CHECKING:  # pandas is imported where it is used (the CLI's fast commands never import it)
    import pandas as pd

__all__ = ["CaisoOasisPriceSource", "EntsoePriceSource", "read_caiso_oasis", "read_entsoe"]

#: The components of a CAISO LMP (``LMP_TYPE``): the price and its energy, congestion, loss and GHG parts.
LMP_TYPES = ("LMP", "MCE", "MCC", "MCL", "MGHG")
#: The zone of CAISO's market (its reports' stamps are in GMT; OPR_DT and OPR_HR are Pacific time).
CAISO_ZONE = "America/Los_Angeles"
#: The zone of an ENTSO-E export's MTU column, by the name in its header (``MTU (CET/CEST)``).
ENTSOE_ZONES = {
    "CET/CEST": "Europe/Brussels",
    "EET/EEST": "Europe/Athens",
    "WET/WEST": "Europe/Lisbon",
    "GMT/BST": "Europe/London",
    "IST": "Europe/Dublin",
    "UTC": "UTC",
}
#: The labels of summer time in an export's MTU cells (``(CEST)``); the others (``(CET)``) are standard time.
_SUMMER = {"CEST", "EEST", "WEST", "BST", "IST"}
_NODE_COLUMNS = ("NODE", "NODE_ID_XML", "NODE_ID")
_VALUE_COLUMNS = ("MW", "VALUE", "PRC")
_PRICE_HEADER = re.compile(r"^Day-ahead Price\s*[\[(]\s*([A-Z]{3})\s*/\s*MWh\s*[\])]$", re.IGNORECASE)
_STAMP = r"(\d{2})[./](\d{2})[./](\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?\s*(?:\(\s*([A-Z]{3,4})\s*\))?"
_MTU = re.compile(rf"^\s*{_STAMP}\s*-\s*{_STAMP}\s*$")


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _pick(frame: "pd.DataFrame", column: str, wanted: Any, key: str, name: str) -> "pd.DataFrame":
    """The rows whose ``column`` is ``wanted`` (None: the column must hold one value); errors list the values found."""
    values = frame[column].astype(str).str.strip()
    found = list(dict.fromkeys(values))
    if wanted is None:
        if len(found) > 1:
            raise InputError(
                f"{name}: column {column!r} holds {len(found)} values ({_listing(found)}); "
                f"choose one with [prices] {key} = {found[0]!r}"
            )
        return frame
    if not isinstance(wanted, str) or wanted not in found:
        raise InputError(
            f"{name}: [prices] {key} = {wanted!r} is not in column {column!r}; the file has {_listing(found)}"
        )
    return frame[(values == wanted).to_numpy()]


# --------------------------------------------------------------------------------------------- CAISO OASIS
def _oasis_tables(path: Path) -> list[tuple[str, "pd.DataFrame"]]:
    """The CSV tables of an OASIS download: the members of its zip archive, or the CSV file itself."""
    from .input_files import read_regular

    if path.suffix.lower() != ".zip":
        return [(str(path), read_csv_table(path))]
    data = read_regular(path, "a CAISO OASIS report (.zip or .csv)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a zip archive; expected the zipped CSV of an OASIS report") from None
    members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
    if not members:
        others = ", ".join(archive.namelist()[:3]) or "nothing"
        raise InputError(
            f"{path}: the archive holds no CSV file (it holds {others}; OASIS answers a failed request with an "
            "XML error report); expected the report downloaded with resultformat=6 (CSV)"
        )
    try:
        return [(f"{path}:{m}", read_csv_bytes(archive.read(m), f"{path}:{m}")) for m in sorted(members)]
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise InputError(f"{path}: the archive cannot be read ({exc})") from None


def read_caiso_oasis(
    path: str | Path,
    *,
    node: str | None = None,
    lmp_type: str = "LMP",
    market: str | None = None,
) -> PriceSignal:
    """Read an OASIS LMP report (``PRC_LMP``, ``PRC_INTVL_LMP``): one node's prices, one component.

    The report has one row per interval, node and component
    (``INTERVALSTARTTIME_GMT``, ``NODE``, ``LMP_TYPE``, the price in ``MW`` or
    ``VALUE``), in any order; the rows of the chosen node and component are
    sorted by time and must then be one interval apart, without duplicates.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.zip`` OASIS returns (every CSV in it is read), or a CSV.
    node : str, optional
        The pricing node (``TH_NP15_GEN-APND``); needed when the report has several.
    lmp_type : {"LMP", "MCE", "MCC", "MCL", "MGHG"}
        The component: the LMP, or its energy, congestion, loss or GHG part.
    market : str, optional
        ``MARKET_RUN_ID`` (``DAM``, ``RTM``); needed when the report has several.

    Returns
    -------
    PriceSignal
        In USD per MWh, in Pacific time (``America/Los_Angeles``).

    Raises
    ------
    InputError
        Naming the file, and the nodes, components or markets it has when the
        one asked for is missing, or the line of a bad interval or price.
    """
    import pandas as pd

    path = Path(path)
    if lmp_type not in LMP_TYPES:
        raise InputError(f"[prices] lmp_type = {lmp_type!r}; expected one of {', '.join(LMP_TYPES)}")
    tables = _oasis_tables(path)
    name = tables[0][0] if len(tables) == 1 else str(path)  # a member's lines, when there is one
    for member, frame in tables[1:]:
        if list(frame.columns) != list(tables[0][1].columns):
            raise InputError(f"{member}: its columns differ from those of {tables[0][0]}; expected one report")
    frame = pd.concat([f for _, f in tables]) if len(tables) > 1 else tables[0][1]
    frame.attrs = tables[0][1].attrs
    columns = list(frame.columns)
    node_column = next((c for c in _NODE_COLUMNS if c in columns), None)
    value_column = next((c for c in _VALUE_COLUMNS if c in columns), None)
    missing = [c for c, found in (("INTERVALSTARTTIME_GMT", "INTERVALSTARTTIME_GMT" in columns),
                                  ("LMP_TYPE", "LMP_TYPE" in columns), ("NODE", node_column),
                                  ("MW or VALUE", value_column)) if not found]
    if missing:
        raise InputError(
            f"{name}: no column {', '.join(map(repr, missing))}; expected an OASIS LMP report (PRC_LMP or "
            f"PRC_INTVL_LMP, resultformat=6) with INTERVALSTARTTIME_GMT, NODE, LMP_TYPE and MW; the file has "
            f"{_listing(columns)}"
        )
    frame = _pick(frame, "LMP_TYPE", lmp_type, "lmp_type", name)
    frame = _pick(frame, node_column, node, "node", name)
    if "MARKET_RUN_ID" in columns:
        frame = _pick(frame, "MARKET_RUN_ID", market, "market", name)
    cells = frame["INTERVALSTARTTIME_GMT"].astype(str).str.strip()
    stamps = pd.to_datetime(cells, errors="coerce", utc=True, format="ISO8601")
    if stamps.isna().any():
        line = int(frame.index[stamps.isna().to_numpy()][0])
        raise InputError(
            f"{name}, line {line}, column 'INTERVALSTARTTIME_GMT': found {cells.loc[line]!r}; expected a time such "
            "as 2024-03-10T08:00:00-00:00"
        )
    order = stamps.reset_index(drop=True).sort_values(kind="stable").index.to_numpy()
    frame = frame.iloc[order]
    stamps = pd.DatetimeIndex(stamps.iloc[order])
    check_time_stamps(stamps, frame.index, name, "INTERVALSTARTTIME_GMT", None)
    _, values = numeric_column(frame, name, value_column, what="price")
    chosen = frame[node_column].iloc[0]
    return PriceSignal(values, stamp_step_hours(stamps) or 1.0, stamps.tz_convert(CAISO_ZONE),
                       source=f"{path}:{chosen}:{lmp_type}", currency="USD")


class CaisoOasisPriceSource(PriceSource):
    """A CAISO OASIS LMP report (``source = "caiso_oasis"``): PRC_LMP or PRC_INTVL_LMP, zipped CSV."""

    name = "caiso_oasis"
    options = {
        "path": Option(str, "the report's .zip (or the CSV in it), relative to the scenario (required)"),
        "node": Option(str, "pricing node, such as TH_NP15_GEN-APND (required when the report has several)"),
        "lmp_type": Option(str, "LMP component: the LMP, or its energy, congestion, loss or GHG part",
                           choices=LMP_TYPES, default="LMP"),
        "market": Option(str, "MARKET_RUN_ID, such as DAM or RTM (required when the report has several)"),
    }

    def _read(self, options: Mapping[str, Any], base_dir: Path) -> PriceSignal:
        if "path" not in options:
            raise InputError("[prices] source = 'caiso_oasis' needs `path = ...` (the OASIS report's .zip)")
        path = Path(options["path"]).expanduser()
        return read_caiso_oasis(path if path.is_absolute() else base_dir / path, node=options.get("node"),
                                lmp_type=options.get("lmp_type", "LMP"), market=options.get("market"))

    def step_hours_of(self, options, *, base_dir):  # noqa: D102 - documented in the base class
        return self._read(options, base_dir).step_hours

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102
        prices = self._read(options, base_dir)
        return prices if steps is None else prices.head(steps)


# ------------------------------------------------------------------------------------------------ ENTSO-E
def _mtu_column(columns: list[str], name: str) -> tuple[str, str]:
    """The export's MTU column and the IANA zone its header names."""
    for column in columns:
        match = re.match(r"^MTU\s*\((.+)\)$", column.strip())
        if match:
            label = match.group(1).strip()
            if label not in ENTSOE_ZONES:
                raise InputError(
                    f"{name}: column {column!r} gives times in {label!r}, a zone this reader does not know; "
                    f"expected one of {', '.join(ENTSOE_ZONES)}"
                )
            return column, ENTSOE_ZONES[label]
    raise InputError(
        f"{name}: no column 'MTU (CET/CEST)'; expected the transparency platform's CSV export of day-ahead prices "
        f"(columns such as 'MTU (CET/CEST)' and 'Day-ahead Price (EUR/MWh)'); the file has {_listing(columns)}"
    )


def _mtu_starts(frame: "pd.DataFrame", column: str, zone: str, name: str) -> tuple["pd.DatetimeIndex", list[int]]:
    """The instant each MTU starts and its length in minutes (as written: wall-clock end minus start)."""
    import numpy as np
    import pandas as pd

    from .timezones import in_zone

    starts, minutes, summer = [], [], []
    for line, cell in zip(frame.index, frame[column].astype(str)):
        match = _MTU.match(cell)
        if not match:
            raise InputError(
                f"{name}, line {int(line)}, column {column!r}: found {cell.strip()!r}; expected an interval such as "
                "'01/10/2025 00:00:00 - 01/10/2025 00:15:00' or '01.01.2024 00:00 - 01.01.2024 01:00'"
            )
        g = match.groups()
        try:
            start = pd.Timestamp(int(g[2]), int(g[1]), int(g[0]), int(g[3]), int(g[4]), int(g[5] or 0))
            end = pd.Timestamp(int(g[9]), int(g[8]), int(g[7]), int(g[10]), int(g[11]), int(g[12] or 0))
        except ValueError as exc:
            raise InputError(f"{name}, line {int(line)}, column {column!r}: {cell.strip()!r} is not a date ({exc})") from None
        starts.append(start)
        minutes.append(int((end - start).total_seconds() // 60))
        summer.append(None if g[6] is None else g[6] in _SUMMER)
    naive = pd.DatetimeIndex(starts)
    if any(flag is not None for flag in summer):  # the platform marks the repeated hour (CEST) / (CET)
        ambiguous = np.array([True if flag is None else flag for flag in summer])
        try:
            aware = naive.tz_localize(zone, ambiguous=ambiguous, nonexistent="raise")
        except ValueError:  # a local time the clocks skip (pandas' NonExistentTimeError): in_zone names its line
            aware = in_zone(naive, zone, where=name, lines=frame.index, ambiguous="earliest", column=column)
    else:
        aware = in_zone(naive, zone, where=name, lines=frame.index, column=column)
    return aware, minutes


def read_entsoe(
    path: str | Path,
    *,
    area: str | None = None,
    sequence: str | None = None,
    split_mtu: bool = False,
) -> PriceSignal:
    """Read the transparency platform's CSV export of day-ahead prices.

    The export has a ``MTU (CET/CEST)`` column of intervals
    (``01/10/2025 00:00:00 - 01/10/2025 00:15:00``; the hour the clocks repeat
    marked ``(CEST)`` / ``(CET)``, or read in order when unmarked) and a
    ``Day-ahead Price (EUR/MWh)`` column (or ``[EUR/MWh]``: the currency is read
    from it); newer exports add ``Area`` and ``Sequence`` columns.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.
    area : str, optional
        The bidding zone (``BZN|DE-LU``) when the file has several.
    sequence : str, optional
        The auction (``Sequence 1``) when the file has several; by default
        ``Without Sequence`` and ``Sequence 1`` (the single day-ahead coupling).
    split_mtu : bool
        A file whose MTUs change length (hourly until 30 September 2025, 15
        minutes after) is an error; True splits each longer MTU into steps of
        the shortest, at its price (a price per MWh holds for each part).

    Returns
    -------
    PriceSignal
        In the currency of the price column, in the zone of the MTU column.

    Raises
    ------
    InputError
        Naming the file and line of a bad interval, a missing price (``N/A``),
        a duplicate, gap or change of resolution, or the areas or sequences the
        file has when the one asked for is missing.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    name = str(path)
    frame = read_csv_table(path)
    columns = list(frame.columns)
    column, zone = _mtu_column(columns, name)
    price_column = next((c for c in columns if _PRICE_HEADER.match(c.strip())), None)
    if price_column is None:
        raise InputError(
            f"{name}: no column 'Day-ahead Price (EUR/MWh)'; expected the export of day-ahead prices; the file has "
            f"{_listing(columns)}"
        )
    currency = _PRICE_HEADER.match(price_column.strip()).group(1).upper()
    if "Area" in columns:
        frame = _pick(frame, "Area", area, "area", name)
    elif area is not None:
        raise InputError(f"{name}: [prices] area = {area!r}, but the file has no 'Area' column (it has one area)")
    if "Sequence" in columns:
        labels = frame["Sequence"].astype(str).str.strip()
        if sequence is None:
            keep = labels.isin(["Without Sequence", "Sequence 1", ""]).to_numpy()
            if not keep.any():
                frame = _pick(frame, "Sequence", None, "sequence", name)
            else:
                frame = frame[keep]
        else:
            frame = _pick(frame, "Sequence", sequence, "sequence", name)
    _, values = numeric_column(frame, name, price_column, what="price")
    starts, minutes = _mtu_starts(frame, column, zone, name)
    lines = frame.index.to_numpy()
    # The length of each MTU: as written, except on the days the clocks change (the written end is then off by an
    # hour), where the next MTU's start tells.
    offsets = np.array([s.utcoffset().total_seconds() for s in starts])
    actual = np.append(np.diff(starts.as_unit("s").asi8) // 60, minutes[-1]) if len(starts) > 1 else np.array(minutes)
    written = np.array(minutes)
    changing = np.zeros(len(starts), dtype=bool)
    changing[:-1] = offsets[1:] != offsets[:-1]
    length = np.where(changing | (written <= 0), actual, written)
    kinds = sorted(set(int(m) for m in length if m > 0))
    if not kinds:
        raise InputError(f"{name}, line {int(lines[0])}, column {column!r}: the interval has no length")
    if len(kinds) > 1:
        first = int(np.flatnonzero(length != length[0])[0])
        if not split_mtu:
            raise InputError(
                f"{name}, line {int(lines[first])}, column {column!r}: the market time unit changes from "
                f"{int(length[first - 1])} to {int(length[first])} minutes (at {starts[first]}); expected one "
                "resolution: cut the file at the change, or give [prices] split_mtu = true to split each longer MTU "
                "into steps of the shortest at its price"
            )
        step = kinds[0]
        if any(m % step for m in kinds):
            raise InputError(f"{name}: MTUs of {', '.join(map(str, kinds))} minutes cannot be split into equal steps")
        repeat = (length // step).astype(int)
        repeat[length <= 0] = 1
        seconds = np.concatenate([np.arange(k) * step * 60 for k in repeat])
        utc = np.repeat(starts.tz_convert("UTC").tz_localize(None).as_unit("s").asi8, repeat) + seconds
        starts = pd.DatetimeIndex(utc.astype("datetime64[s]")).tz_localize("UTC").tz_convert(zone)
        values = np.repeat(values, repeat)
        lines = np.repeat(lines, repeat)
    check_time_stamps(starts, pd.Index(lines), name, column, None)
    step_hours = stamp_step_hours(starts) or kinds[0] / 60
    return PriceSignal(values, step_hours, starts, source=f"{path}:{price_column}", currency=currency)


class EntsoePriceSource(PriceSource):
    """ENTSO-E day-ahead prices (``source = "entsoe"``): the transparency platform's CSV export."""

    name = "entsoe"
    options = {
        "path": Option(str, "the exported CSV file, relative to the scenario (required)"),
        "area": Option(str, "bidding zone, such as BZN|DE-LU (required when the file has several)"),
        "sequence": Option(str, "auction, such as \"Sequence 2\" (default: Without Sequence and Sequence 1)"),
        "split_mtu": Option(bool, "split longer market time units into steps of the shortest (a file that "
                            "changes from hourly to 15-minute MTUs); otherwise such a file is an error",
                            default=False),
    }

    def _read(self, options: Mapping[str, Any], base_dir: Path) -> PriceSignal:
        if "path" not in options:
            raise InputError("[prices] source = 'entsoe' needs `path = ...` (the exported CSV file)")
        path = Path(options["path"]).expanduser()
        return read_entsoe(path if path.is_absolute() else base_dir / path, area=options.get("area"),
                           sequence=options.get("sequence"), split_mtu=bool(options.get("split_mtu", False)))

    def step_hours_of(self, options, *, base_dir):  # noqa: D102 - documented in the base class
        return self._read(options, base_dir).step_hours

    def load(self, options, *, base_dir, steps, step_hours):  # noqa: D102
        prices = self._read(options, base_dir)
        return prices if steps is None else prices.head(steps)
