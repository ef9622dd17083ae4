"""The correctly rounded sum of a float array, in numpy: :func:`math.fsum`'s answer at numpy's speed.

:func:`math.fsum` returns the exact sum of its values rounded once to the
nearest float, but it takes the values one Python float at a time (about a
second per ten million cells).  :func:`exact_sum` gives the same float with a
few passes of numpy over the array.

Why it is exact: every finite double is ``x = M * 2**(k - 1075)`` with an
integer ``|M| < 2**53`` (the significand with its implicit bit and the sign)
and ``k`` the biased exponent field (1 for subnormals, which have no implicit
bit), read from the bits.  Split ``M = H * 2**26 + L`` with ``0 <= L < 2**26``
and ``|H| <= 2**27``.  For each ``k`` the sums of the ``H`` and of the ``L`` of
at most ``2**26`` values are integers below ``2**53`` in magnitude, and so is
every partial sum, so numpy adds them in float64 without rounding
(:func:`numpy.bincount` with weights).  Those per-exponent sums are combined
as Python integers (exact) into ``N = sum * 2**1074``, and ``N / 2**1074`` is
Python's integer true division, which is correctly rounded (round half to
even), as ``fsum`` is.  Both are the float nearest to the exact sum, so they
are the same float; an exact zero is returned as ``fsum`` returns it.  Values
that are not finite are left to :func:`math.fsum` (its answer or its error).
One difference: where an intermediate sum overflows, ``fsum`` raises
:class:`OverflowError` and this returns the exact sum when it is finite.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["exact_sum", "ExactSum"]

_LOW_BITS = 26  # bits of the low half of a 53-bit significand
_BLOCK = 1 << 18  # values per pass (at most 2**26: |sum of halves| <= 2**26 * 2**27 = 2**53, exact in float64)
_SCALE = 1074  # N = sum * 2**1074 is an integer (2**-1074 is the smallest subnormal)


def exact_sum(values: ArrayLike) -> float:
    """The sum of every element, correctly rounded: the float :func:`math.fsum` returns.

    Parameters
    ----------
    values : array_like of float
        Any shape; read as float64.

    Returns
    -------
    float

    Examples
    --------
    >>> exact_sum([1e100, 1.0, -1e100]), sum([1e100, 1.0, -1e100])
    (1.0, 0.0)
    >>> import math, numpy as np
    >>> x = np.random.default_rng(0).normal(size=10_000) * 10.0 ** np.arange(-8, 12).repeat(500)
    >>> exact_sum(x) == math.fsum(x.tolist())
    True
    """
    flat = np.asarray(values, dtype=float).reshape(-1)
    if flat.size == 0:
        return 0.0
    if not np.isfinite(flat).all():
        return math.fsum(flat.tolist())
    total = 0
    for begin in range(0, flat.size, _BLOCK):
        total += _scaled_sum(flat[begin : begin + _BLOCK])
    if total == 0:  # fsum's zero: -0.0 for negative zeros alone in the Pythons that keep the sign
        return math.fsum([-0.0]) if bool(np.all(np.signbit(flat))) else 0.0
    return total / (1 << _SCALE)


class ExactSum:
    """A correctly rounded sum of arrays given one part at a time: :func:`exact_sum` of all their values.

    The parts' exact sums are kept as one integer (scaled by ``2**1074``), so
    adding blocks of a large array (small temporaries) gives the same float as
    :func:`exact_sum` of the whole array, whatever the blocks and their order.
    Values that are not finite decide the sum as they do in :func:`math.fsum`
    (its answer or its error for those values).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(size=(100, 30)) * 10.0 ** np.arange(-5, 25)
    >>> total = ExactSum()
    >>> for a in range(0, 30, 7):
    ...     total.add(x[:, a : a + 7])
    >>> total.value() == exact_sum(x)
    True
    """

    def __init__(self) -> None:
        self._scaled = 0
        self._count = 0
        self._negative = True  # every value so far has its sign bit set (a sum of -0.0 alone is -0.0)
        self._special: list[float] = []

    def add(self, values: ArrayLike) -> None:
        """Add every element of ``values``.

        Parameters
        ----------
        values : array_like of float
        """
        flat = np.asarray(values, dtype=float).reshape(-1)
        if flat.size == 0:
            return
        self._count += flat.size
        finite = np.isfinite(flat)
        if not finite.all():
            self._special += flat[~finite].tolist()
            flat = flat[finite]
        for begin in range(0, flat.size, _BLOCK):
            self._scaled += _scaled_sum(flat[begin : begin + _BLOCK])
        self._negative = self._negative and bool(np.all(np.signbit(flat)))

    def value(self) -> float:
        """The sum so far, correctly rounded (0.0 before any value).

        Returns
        -------
        float
        """
        if self._special:
            return math.fsum(self._special)
        if self._scaled == 0:
            return math.fsum([-0.0]) if self._count and self._negative else 0.0
        return self._scaled / (1 << _SCALE)


def _scaled_sum(block: np.ndarray) -> int:
    """The exact sum of at most ``2**26`` finite values times ``2**_SCALE``, as a Python integer."""
    bits = np.ascontiguousarray(block).view(np.int64)
    biased = (bits >> 52) & 0x7FF  # the exponent field: 0 for zeros and subnormals
    significand = bits & ((1 << 52) - 1)
    normal = biased > 0
    significand[normal] |= 1 << 52  # the implicit bit (a copy: ``bits & ...`` is a new array)
    np.negative(significand, out=significand, where=bits < 0)
    shift = np.maximum(biased, 1) - 1  # x = M * 2**(shift - 1074)
    high = significand >> _LOW_BITS  # floor division: 0 <= low < 2**26
    low = significand & ((1 << _LOW_BITS) - 1)
    size = int(shift.max()) + 1
    high_sums = np.bincount(shift, weights=high, minlength=size)
    low_sums = np.bincount(shift, weights=low, minlength=size)
    total = 0
    for k in np.flatnonzero((high_sums != 0) | (low_sums != 0)).tolist():
        total += ((int(high_sums[k]) << _LOW_BITS) + int(low_sums[k])) << k
    return total
