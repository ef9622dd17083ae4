"""The command line keeps freed large arrays' memory for reuse (aggregator.allocator, issue 14).

Counted with the kernel's own figure: the minor page faults of a fresh
interpreter that makes and fills ten 64 MB arrays one after another.  Without
the setting each array is new memory from the kernel (hundreds of faults
each, more without transparent huge pages); with it the blocks come back from
the heap (no fault).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = """
import resource, sys
import numpy as np
if sys.argv[1] == "reuse":
    from aggregator.allocator import reuse_freed_memory
    assert reuse_freed_memory()
np.ones(8_000_000)  # the first 64 MB block: new memory either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    x = np.ones(8_000_000)
    del x
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CODE, mode], capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not (hasattr(os, "confstr") and "glibc" in (os.confstr("CS_GNU_LIBC_VERSION") or "")),
                    reason="glibc's mallopt")
def test_freed_arrays_are_reused_instead_of_mapped_again():
    default, reused = _faults("default"), _faults("reuse")
    assert default > 10 * 100, default  # ten fresh 64 MB blocks (fewer faults than pages with huge pages)
    assert reused < default / 20, (reused, default)
