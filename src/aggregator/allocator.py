"""Let the command line reuse the memory of freed large arrays (glibc's ``mallopt``).

glibc's ``malloc`` gives every block above its *mmap threshold* (at most
32 MB by default) its own fresh pages from the kernel and returns them when
the block is freed.  A many-fleet run makes and drops dozens of arrays of
time x fleet (70 MB each for 1,000 fleets x 8,760 h), so each one pays the
kernel to map and zero its pages again: on a virtual machine that costs up
to four times the arithmetic (measured: 20 products of a 70 MB array, 0.69 s
of CPU fresh, 0.16 s in reused memory).

:func:`reuse_freed_memory` raises the mmap and trim thresholds, so that
freed blocks stay in the process's heap and the next array of that size
takes them: the peak memory stays what the largest set of live arrays needs
(plus what fragmentation keeps), and the memory is returned when the process
ends.  The command line calls it for ``run`` and ``sweep``; the library never
changes the allocator of a program that imports it.  Elsewhere than glibc
(musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import os

__all__ = ["reuse_freed_memory"]

_M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_LIMIT = 1 << 30  # blocks of up to 1 GiB come from (and go back to) the heap


def reuse_freed_memory() -> bool:
    """Keep freed blocks of up to 1 GiB in the heap for reuse (glibc only).

    Returns
    -------
    bool
        Whether the allocator was changed (False where it is not glibc's).
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name: not glibc
        return False
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:  # pragma: no cover - glibc always has it
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _LIMIT)) and bool(mallopt(_M_TRIM_THRESHOLD, _LIMIT))
