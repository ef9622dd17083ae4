"""Opening input files: only regular files, named in every refusal.

Every file the program reads (scenario and sweep files, price and availability
CSV files, result files) is opened through :func:`open_regular`.  A FIFO would
block the program forever and a character device such as ``/dev/zero`` would be
read until memory runs out, so anything that is not a regular file (after
following symbolic links) is refused with an :class:`~aggregator.errors.InputError`
naming the path.  The check is made on the opened descriptor (``fstat``), and
the file is opened without blocking, so a FIFO swapped in between a check and
the open cannot hang the program either.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from .errors import InputError

__all__ = ["open_regular", "check_regular", "read_regular"]

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _kind(mode: int) -> str:
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


def _refusal(path: Path, mode: int, what: str) -> InputError:
    return InputError(f"{path}: is {_kind(mode)}, not a regular file; expected {what}")


def check_regular(path: str | Path, what: str = "a file") -> Path:
    """Check that a path names an existing regular file (symbolic links followed).

    Parameters
    ----------
    path : str or pathlib.Path
    what : str
        What the file should be (``"a CSV file"``), for messages.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        If the path does not exist, cannot be examined, or names a folder, a
        FIFO, a device or a socket.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise _refusal(path, mode, what)
    return path


def open_regular(path: str | Path, what: str = "a file") -> io.BufferedReader:
    """Open a regular file for reading in binary mode; refuse anything else.

    Parameters
    ----------
    path : str or pathlib.Path
    what : str
        What the file should be (``"a CSV file"``), for messages.

    Returns
    -------
    io.BufferedReader
        The open file (close it, or use it in a ``with`` block).

    Raises
    ------
    InputError
        Missing, unreadable, or not a regular file (a folder, FIFO, device or
        socket); the message names the path.
    """
    path = check_regular(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between the check and the open
            raise _refusal(path, mode, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path, what: str = "a file", *, limit: int | None = None) -> bytes:
    """The whole content of a regular file.

    Parameters
    ----------
    path : str or pathlib.Path
    what : str
        What the file should be, for messages.
    limit : int, optional
        The largest size accepted, in bytes; a larger file is an error (it is
        surely not what was meant, and reading it would take the memory).

    Returns
    -------
    bytes

    Raises
    ------
    InputError
        As :func:`open_regular`, or when the file is larger than ``limit``.
    """
    with open_regular(path, what) as handle:
        if limit is not None:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise InputError(
                    f"{path}: is {size / 2**20:,.1f} MiB; expected {what} of at most {limit / 2**20:,.0f} MiB"
                )
        try:
            data = handle.read() if limit is None else handle.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if limit is not None and len(data) > limit:  # grew while being read
        raise InputError(f"{path}: is larger than {limit / 2**20:,.0f} MiB; expected {what}")
    return data
