"""Reading numeric columns from CSV files, as they are found in the wild.

The study's files carry UTF-8 byte-order marks, bare-CR (old Mac) line endings,
CRLF endings and a quoted row-number column.  :func:`read_csv_table` reads all of
them unmodified and turns every problem into an :class:`~aggregator.errors.InputError`
that names the file, the row and the column.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["read_csv_table", "numeric_column"]

_DELIMITER_HINTS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def read_csv_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV file into a DataFrame of strings, whatever its line endings.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to read.

    Returns
    -------
    pandas.DataFrame
        One column per header field, every cell as read (strings); the index is
        the row's line number in the file (the header is line 1).

    Raises
    ------
    InputError
        If the file is missing, empty, binary, has only a header, or uses a
        delimiter other than a comma.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a CSV file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise InputError(f"{path}: the file is empty, expected a header line and rows of numbers")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark ("Unicode text")
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}: starts like UTF-16 text but cannot be decoded; expected a UTF-8 CSV file") from None
    if b"\x00" in raw[:65536]:
        raise InputError(f"{path}: looks like a binary file, expected comma-separated text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise InputError(f"{path}: not a text file ({exc.reason})") from None
    if "\x00" in text:
        raise InputError(f"{path}: looks like a binary file, expected comma-separated text")
    if not text.strip():
        raise InputError(f"{path}: the file is empty, expected a header line and rows of numbers")
    lines = [line for line in text.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    first = 0  # blank lines before the header, skipped (line numbers still count them)
    while lines and not lines[0].strip():
        lines.pop(0)
        first += 1
    header = lines[0]
    if "," not in header:
        for delim, name in _DELIMITER_HINTS.items():
            if delim in header:
                raise InputError(
                    f"{path}: the header is separated by {name}s ({header[:60]!r}); "
                    "expected comma-separated values"
                )
    if len(lines) < 2:
        raise InputError(f"{path}: has a header but no data rows")
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", reason)
        if fields:
            expected, line, saw = (int(g) for g in fields.groups())
            raise InputError(
                f"{path}, line {line + first}: found {saw} fields, expected {expected} like the header"
            ) from None
        raise InputError(f"{path}: cannot be parsed as CSV ({reason})") from None
    frame.index = pd.RangeIndex(2 + first, 2 + first + len(frame))
    names: list[str] = []
    for c in frame.columns:  # stripping may make two names equal: keep them apart as pandas does
        name, k = str(c).strip(), 0
        while (name if k == 0 else f"{name}.{k}") in names:
            k += 1
        names.append(name if k == 0 else f"{name}.{k}")
    frame.columns = names
    frame.attrs["header"] = [c.strip().strip('"') for c in next(csv.reader([header]), [])]
    return frame


def numeric_column(
    frame: pd.DataFrame,
    path: str | Path,
    column: str | None = None,
    *,
    what: str = "value",
) -> tuple[str, np.ndarray]:
    """Pick one numeric column of a table read by :func:`read_csv_table`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : str or pathlib.Path
        The file it came from, for messages.
    column : str, optional
        The column to take; default: the last column whose cells are mostly
        numbers (its other cells are then reported as errors).
    what : str
        What the column holds ("price", "availability"), for messages.

    Returns
    -------
    tuple of (str, numpy.ndarray)
        The column's name and its values as float64.

    Raises
    ------
    InputError
        Naming the column and the columns that exist, or the first row whose
        cell is not a finite number.
    """
    columns = [c for c in frame.columns if c and not c.startswith("Unnamed")]
    if column is None:
        for name in reversed(frame.columns):
            values = pd.to_numeric(_cells(frame, name), errors="coerce")
            if len(values) and values.notna().mean() >= 0.5:
                column = name
                break
        else:
            raise InputError(
                f"{path}: no column holds only numbers; columns are {', '.join(map(repr, columns))}. "
                f"Name the {what} column with `column = ...`"
            )
    if column not in frame.columns:
        raise InputError(
            f"{path}: no column {column!r}; the file has columns {', '.join(map(repr, columns))}"
        )
    if frame.attrs.get("header", []).count(column) > 1:
        raise InputError(f"{path}: the header has two columns named {column!r}; expected unique column names")
    cells = _cells(frame, column)
    values = pd.to_numeric(cells, errors="coerce")
    bad = values.isna()
    if bad.any():
        line = int(values.index[bad.to_numpy()][0])
        cell = cells.loc[line]
        where = f"{path}, line {line}, column {column!r}"
        if frame[column].isna().loc[line]:
            raise InputError(f"{where}: the row has fewer fields than the header; expected a number there")
        if not cell:
            row = " ".join(str(v) for v in frame.loc[line].to_numpy() if isinstance(v, str))
            hint = next((f"; the row looks separated by {n}s, expected commas" for d, n in _DELIMITER_HINTS.items() if d in row), "")
            raise InputError(f"{where}: found an empty cell, expected a number{hint}")
        if cell.lower() in ("nan", "na", "n/a", "null", "none", "-nan", "+nan"):
            raise InputError(f"{where}: found {cell!r} (not a number), expected a finite number")
        raise InputError(f"{where}: found {cell!r}, expected a number")
    array = values.to_numpy(dtype=float)
    finite = np.isfinite(array)
    if not finite.all():
        idx = int(np.flatnonzero(~finite)[0])
        raise InputError(
            f"{path}, line {int(values.index[idx])}, column {column!r}: found {cells.iloc[idx]!r}, "
            "expected a finite number"
        )
    return column, array


def _cells(frame: pd.DataFrame, column: str) -> pd.Series:
    """The cells of a column as stripped strings (a missing field becomes "")."""
    return frame[column].fillna("").astype(str).str.strip()
