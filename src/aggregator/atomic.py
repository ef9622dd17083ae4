"""Atomic file output: a file appears whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .errors import InputError

__all__ = ["atomic_path", "check_output_folder", "StorageError", "storage_cause", "remove_stale_parts"]


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
    was and removes the temporary file.  The temporary file's name,
    ``.NAME.HOST-PID.XXXX.part``, says which process writes it: temporary
    files of ``path`` left by processes of this machine that no longer run (a
    killed run) are removed before writing.

    Parameters
    ----------
    path : str or pathlib.Path
        The final file.

    Yields
    ------
    pathlib.Path
        Where to write.

    Raises
    ------
    StorageError
        When the folder or the disk refuses the file (full, read-only, no
        permission): one message naming the path and the cause, and that any
        previous file is unchanged.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_parts(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise StorageError.of(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            with _interrupts_deferred():
                yield tmp_path
        except (OSError, RuntimeError) as exc:  # netCDF reports a full disk as RuntimeError("NetCDF: HDF error")
            cause = storage_cause(folder, exc)
            if cause is None:
                raise
            raise StorageError(_storage_message(path, cause)) from exc
        try:
            try:  # keep the mode of the file replaced; a new file gets the usual mode (0o666 less the umask)
                mode = path.stat().st_mode & 0o7777
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
            os.chmod(tmp_path, mode)
            _fsync(tmp_path)  # the bytes are on disk before the name points at them
            os.replace(tmp_path, path)
        except OSError as exc:
            raise StorageError.of(path, exc) from None
        _fsync(folder, directory=True)  # and the rename itself survives a power cut
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink()


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the file is written (they take effect right after).

    Writers hold locks (xarray's netCDF lock) that an exception in the middle
    of the write leaves held, so that the writer's own clean-up waits for them
    forever; a file is short to write, so the interrupt waits for it instead.
    SIGKILL cannot be held: the temporary file then stays, and the next write
    removes it (:func:`remove_stale_parts`).
    """
    if threading.current_thread() is not threading.main_thread():  # Python runs handlers in the main thread only
        yield
        return
    held = (signal.SIGINT, signal.SIGTERM)
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for sig in dict.fromkeys(arrived):  # now, as if they had come just after the write
            signal.raise_signal(sig)


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"
_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large for the file system",
    errno.EIO: "input/output error on the device",
}


class StorageError(InputError, OSError):
    """The disk or the folder refused a file (full, read-only, no permission); nothing was half-written."""

    @classmethod
    def of(cls, path: Path, exc: OSError) -> "StorageError":
        """The error for ``exc`` raised while writing ``path``.

        Parameters
        ----------
        path : pathlib.Path
        exc : OSError

        Returns
        -------
        StorageError
        """
        folder = path.parent if str(path.parent) else Path(".")
        return cls(_storage_message(path, storage_cause(folder, exc) or exc.strerror or str(exc)))


def _storage_message(path: Path, cause: str) -> str:
    previous = "the previous file is unchanged" if path.exists() else "no file was written"
    return f"{path}: cannot write ({cause}); {previous}"


def storage_cause(folder: Path, exc: BaseException) -> str | None:
    """Why a write into ``folder`` failed, in words, or None when it is not the storage's fault.

    Parameters
    ----------
    folder : pathlib.Path
        Where the file was written.
    exc : BaseException
        What the writer raised (an ``OSError`` with an errno, or a library's
        error without one, such as netCDF's ``HDF error`` on a full disk).

    Returns
    -------
    str or None
    """
    number = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if number in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return _CAUSES[number]
    # Libraries report a full disk in their own words (netCDF: "HDF error", or even "Permission denied"):
    # ask the file system itself before trusting the error number.
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        stat = None
    if stat is not None and stat.f_flag & getattr(os, "ST_RDONLY", 1):
        return _CAUSES[errno.EROFS]
    if stat is not None and stat.f_bavail * stat.f_frsize < _NEARLY_FULL:
        return _CAUSES[errno.ENOSPC]
    if number in _CAUSES:
        return _CAUSES[number]
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else None


#: Free bytes below which a failed write is put down to a full disk.
_NEARLY_FULL = 1 << 20


def remove_stale_parts(path: str | Path) -> list[Path]:
    """Remove the temporary files of ``path`` left by processes of this machine that no longer run.

    Parameters
    ----------
    path : str or pathlib.Path
        The final file.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{re.escape(_HOST)}-(\d+)\.[^.]+\.part$")
    removed = []
    try:
        candidates = list((path.parent if str(path.parent) else Path(".")).glob(f".{glob.escape(path.name)}.*.part"))
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process: alive
        return True
    return True


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
