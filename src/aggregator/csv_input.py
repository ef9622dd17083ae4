"""Reading numeric columns from CSV files, as they are found in the wild.

The study's files carry UTF-8 byte-order marks, bare-CR (old Mac) line endings,
CRLF endings and a quoted row-number column.  :func:`read_csv_table` reads all of
them unmodified and turns every problem into an :class:`~aggregator.errors.InputError`
that names the file, the row and the column.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import io
import re
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Hashable, Iterator, Sequence, TextIO, TypeVar

import numpy as np
import pandas as pd

from .errors import InputError
from .input_files import open_regular

__all__ = ["read_csv_table", "read_csv_bytes", "numeric_column", "shared_reads", "shared_derived"]

_DELIMITER_HINTS = {";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_BYTES = 65536  # the start of a file, examined for a UTF-16 byte-order mark and NUL bytes
_INTEGER = re.compile(r"^\s*[-+]?\d+$")
_DIGITS = re.compile(r"^\d+\s*$")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")

#: The tables read (and the values derived from them) inside the innermost :func:`shared_reads` block of this
#: thread (None outside one): the one cache of input files, with the lifetime of one block (one scenario build).
_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("aggregator_shared_reads", default=None)

_T = TypeVar("_T")


@contextlib.contextmanager
def shared_reads() -> Iterator[None]:
    """Within the block, :func:`read_csv_table` reads each file once, whatever columns are asked for.

    A scenario whose fleets take several columns of one availability file (or
    the same column, a thousand times) reads and checks the file once: the
    first call reads every column, later calls for the same file and ``rows``
    get their columns from that table.  A file is the same while its path,
    size, modification time and inode are; the tables are dropped at the end
    of the block.  Errors are raised as without the block (a file that fails
    is not kept, so every call names its problem).  Values computed from a
    file (a checked availability profile, :func:`shared_derived`) are kept in
    the same place, for the same lifetime: nothing read survives the block.

    Yields
    ------
    None

    Examples
    --------
    >>> with shared_reads():
    ...     pass
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def read_csv_table(
    path: str | Path, *, rows: int | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read a CSV file into a DataFrame of strings, whatever its line endings.

    Every row must have as many fields as the header: a row with one more (a
    trailing comma, or decimal commas such as ``40,629``) would otherwise shift
    every column by one place, so it is an error naming the line and both
    counts.  The file is read as a stream, row by row, and only as far as
    needed: with ``rows`` given, the rest of the file is not read.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to read; it must be a regular file (see
        :func:`aggregator.input_files.open_regular`).
    rows : int, optional
        Read at most this many data rows (default: all of them).
    columns : sequence of str, optional
        Keep only these columns (those of them the file has); every row's
        field count is checked all the same.  Default: every column.

    Returns
    -------
    pandas.DataFrame
        One column per header field, every cell as read (strings); the index is
        the row's line number in the file (the header is line 1).  The
        attribute ``attrs["header"]`` holds the header's names as written and
        ``attrs["complete"]`` says whether the whole file was read;
        ``attrs["columns"]`` lists every column of the file (kept or not).

    Raises
    ------
    InputError
        If the file is missing, not a regular file, empty, binary, has only a
        header, uses a delimiter other than a comma, or has a row whose number
        of fields differs from the header's.
    """
    path = Path(path)
    if rows is not None and rows < 1:
        raise ValueError(f"rows = {rows!r}; expected at least 1")
    shared = _SHARED.get()
    key = None if shared is None else _file_identity(path, rows)
    if key is None:
        return _read_file(path, rows, columns)
    table = shared.get(key)
    if table is None:
        table = shared[key] = _read_file(path, rows, None)
    return _select(table, columns)


def shared_derived(path: str | Path, what: Hashable, compute: Callable[[], _T]) -> _T:
    """A value computed from a file, once per :func:`shared_reads` block while the file is unchanged.

    Outside a block (or for a path that is not a regular file) ``compute``
    runs every time.  A value whose computation raises is not kept.

    Parameters
    ----------
    path : str or pathlib.Path
        The file the value comes from (its identity: device, inode, size, modification time).
    what : hashable
        What is computed from it (e.g. the column and the horizon).
    compute : callable
        Computes the value; called without arguments.

    Returns
    -------
    object
        What ``compute`` returned (the same object for later calls in the block: copy it before changing it).

    Examples
    --------
    >>> shared_derived("absent.csv", "n", lambda: 42)
    42
    """
    shared = _SHARED.get()
    identity = None if shared is None else _file_identity(Path(path), None)
    if identity is None:
        return compute()
    key = ("derived", identity, what)
    if key not in shared:
        shared[key] = compute()
    return shared[key]


def _file_identity(path: Path, rows: int | None) -> tuple | None:
    """What says a regular file is unchanged (None for anything else: it is then read, and named, as usual)."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, rows)


def _select(table: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    """The table as :func:`read_csv_table` returns it for ``columns``, from the table of every column."""
    kept = list(table.columns) if columns is None else [name for name in table.columns if name in columns]
    frame = table[kept]
    frame.attrs = {key: list(value) if isinstance(value, list) else value for key, value in table.attrs.items()}
    return frame


def _read_file(path: Path, rows: int | None, columns: Sequence[str] | None) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            with open_regular(path, "a CSV file") as handle:
                return _read_rows(handle, path, encoding, rows, columns)
        except UnicodeDecodeError:
            continue  # not UTF-8: read it again as Latin-1, which decodes any byte
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    raise AssertionError("unreachable: latin-1 decodes any byte")  # pragma: no cover


def read_csv_bytes(
    data: bytes, name: str, *, rows: int | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read CSV text held in memory (a member of a zip archive) as :func:`read_csv_table` reads a file.

    Parameters
    ----------
    data : bytes
        The CSV text.
    name : str
        What to call it in messages (``"prices.zip:PRC_LMP.csv"``).
    rows, columns
        As for :func:`read_csv_table`.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputError
        As :func:`read_csv_table`, naming ``name``.
    """
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return _read_rows(io.BytesIO(data), Path(name), encoding, rows, columns)
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes any byte")  # pragma: no cover


def _read_rows(
    handle: BinaryIO, path: Path, encoding: str, limit: int | None, columns: Sequence[str] | None
) -> pd.DataFrame:
    """Parse an open CSV file, checking every row's field count against the header."""
    head = handle.read(_SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark ("Unicode text")
        try:
            text = (head + handle.read()).decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(f"{path}: starts like UTF-16 text but cannot be decoded; expected a UTF-8 CSV file") from None
        stream: TextIO = io.StringIO(text, newline=None)
    else:
        if b"\x00" in head:
            raise InputError(f"{path}: looks like a binary file, expected comma-separated text")
        handle.seek(0)
        stream = io.TextIOWrapper(handle, encoding=encoding, newline=None)  # \n, \r\n and bare \r end a line
    reader = csv.reader(stream)
    header: list[str] | None = None
    header_line = 0
    cells: list[list[str]] = []
    lines: list[int] = []
    blank: int | None = None  # the line of a blank line among the data rows, an error if a row follows
    complete = True
    keep: list[int] | None = None  # the indexes of the kept columns (None: all)
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                if header is not None and blank is None:
                    blank = reader.line_num
                continue
            if header is None:
                header, header_line = row, reader.line_num
                _check_header(header, path)
                if columns is not None:
                    keep = [i for i, name in enumerate(_column_names(header)) if name in columns]
                continue
            if blank is not None:
                raise InputError(
                    f"{path}, line {blank}: the line is empty; expected a row of {len(header)} fields like the header"
                )
            if len(row) != len(header):
                raise InputError(_field_count_message(path, reader.line_num, row, header))
            cells.append(row if keep is None else [row[i] for i in keep])
            lines.append(reader.line_num)
            if limit is not None and len(cells) >= limit:
                complete = False
                break
    except csv.Error as exc:
        if "NUL" in str(exc):
            raise InputError(f"{path}: looks like a binary file, expected comma-separated text") from None
        raise InputError(f"{path}, line {reader.line_num}: cannot be parsed as CSV ({exc})") from None
    finally:
        if isinstance(stream, io.TextIOWrapper):
            stream.detach()  # the caller closes the file
    if header is None:
        raise InputError(f"{path}: the file is empty, expected a header line and rows of numbers")
    if not cells:
        raise InputError(f"{path}: has a header but no data rows")
    names = _column_names(header)
    kept = names if keep is None else [names[i] for i in keep]
    frame = pd.DataFrame(cells, columns=kept, index=pd.Index(lines), dtype=object)
    frame.attrs["header"] = [c.strip().strip('"') for c in header]
    frame.attrs["complete"] = complete
    frame.attrs["header_line"] = header_line
    frame.attrs["columns"] = names
    return frame


def _column_names(header: list[str]) -> list[str]:
    """The header's names as pandas gives them: stripped, ``Unnamed: i`` when empty, ``a.1`` for a repeat."""
    names: list[str] = []
    for i, cell in enumerate(header):  # stripping may make two names equal: keep them apart as pandas does
        name, k = cell.strip() or f"Unnamed: {i}", 0
        while (name if k == 0 else f"{name}.{k}") in names:
            k += 1
        names.append(name if k == 0 else f"{name}.{k}")
    return names


def _check_header(header: list[str], path: Path) -> None:
    """A header of one field holding a semicolon, tab or pipe: the file is not comma-separated."""
    if len(header) == 1:
        for delim, name in _DELIMITER_HINTS.items():
            if delim in header[0]:
                raise InputError(
                    f"{path}: the header is separated by {name}s ({header[0][:60]!r}); "
                    "expected comma-separated values"
                )


def _field_count_message(path: Path, line: int, row: list[str], header: list[str]) -> str:
    """Why a row has more or fewer fields than the header, with the likely cause."""
    names = ", ".join(repr(c.strip()) for c in header)
    text = (
        f"{path}, line {line}: found {len(row)} field{'s' if len(row) != 1 else ''}, expected {len(header)} "
        f"like the header ({names})"
    )
    hints = []
    if len(row) > len(header):
        pairs = [f"{a.strip()},{b.strip()}" for a, b in zip(row, row[1:]) if _INTEGER.match(a) and _DIGITS.match(b)]
        if len(pairs) >= len(row) - len(header):
            hints.append(
                f"the row looks like it has decimal commas ({pairs[0]!r} for {pairs[0].replace(',', '.')}): "
                "write decimals with a point, or quote such cells"
            )
        if not row[-1].strip():
            hints.append("the row ends with a comma (a trailing comma): remove it, or name the extra column in the header")
        if not hints:
            hints.append("the columns would shift by one place; quote cells that contain commas")
    else:
        joined = ",".join(row)
        hints += [f"the row looks separated by {n}s, expected commas" for d, n in _DELIMITER_HINTS.items() if d in joined][:1]
    return text + ("; " + "; ".join(hints) if hints else "")


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
    columns = [c for c in frame.attrs.get("columns", frame.columns) if c and not c.startswith("Unnamed")]
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
        if not cell:
            row = " ".join(str(v) for v in frame.loc[line].to_numpy() if isinstance(v, str))
            hint = next((f"; the row looks separated by {n}s, expected commas" for d, n in _DELIMITER_HINTS.items() if d in row), "")
            raise InputError(f"{where}: found an empty cell, expected a number{hint}")
        if cell.lower() in ("nan", "na", "n/a", "null", "none", "-nan", "+nan"):
            raise InputError(f"{where}: found {cell!r} (not a number), expected a finite number")
        if _DECIMAL_COMMA.match(cell):
            raise InputError(
                f"{where}: found {cell!r}, a decimal comma; expected a number with a decimal point "
                f"({cell.replace(',', '.')})"
            )
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
    """The cells of a column as stripped strings."""
    return frame[column].astype(str).str.strip()
