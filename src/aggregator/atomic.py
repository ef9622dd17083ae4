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
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{path}: cannot create the folder {str(folder)!r} ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise InputError(f"{path}: {str(folder)!r} is not a folder; expected a file name in a folder")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a file name")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{path}: the folder {str(folder)!r} is not writable; expected a folder you may write to")
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
        try:  # keep the mode of the file replaced; a new file gets the usual mode (0o666 less the umask)
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
        _fsync(tmp_path)  # the bytes are on disk before the name points at them
        os.replace(tmp_path, path)
        _fsync(path.parent, directory=True)  # and the rename itself survives a power cut
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would change it for every thread)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync(path: Path, *, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # e.g. a platform that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)
