"""Atomic file output: a file appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError

__all__ = ["atomic_path", "check_output_folder"]


def check_output_folder(path: str | Path, *, create: bool = False) -> Path:
    """Make sure the folder of an output file exists.

    Parameters
    ----------
    path : str or pathlib.Path
        The output file.
    create : bool
        Create a missing folder instead of failing.

    Returns
    -------
    pathlib.Path
        The path.

    Raises
    ------
    InputError
        If the folder is missing and ``create`` is false.
    """
    path = Path(path)
    folder = path.parent
    if not folder.exists():
        if not create:
            raise InputError(f"{path}: folder {str(folder)!r} does not exist; create it first (or pass --mkdir)")
        folder.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a file name")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    A failure (or an interruption) leaves any previous file at ``path`` as it
    was and removes the temporary file.

    Parameters
    ----------
    path : str or pathlib.Path
        The final file.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
