"""A piecewise-linear residual-supply curve: the price shift as a function of the net purchase.

With ``[prices] impact = { curve = "supply.csv" }`` (one curve per step) or
``{ points = [[q, shift], ...] }`` (the same curve for every step) the price
paid or received in step ``t`` is ``p_t(q) = lambda_t + s_t(q)``: the given
price plus a *shift* ``s_t`` ($/MWh) that is linear between the curve's
points (net purchase ``q`` in MW, all fleets together) and continues the
first and last segments beyond the first and last point.  The shift is
nondecreasing and ``s_t(0) = 0`` (the given price is the price when the
aggregator does not trade), so the *market impact* ``q s_t(q) dt`` is never
negative and a linear curve through ``(0, 0)`` of slope ``beta`` is exactly
the ``impact = beta`` model.

The revenue of a step, ``-q (lambda_t + s_t(q)) dt``, is quadratic on each
segment of the curve and concave there (``s_t`` rises).  At a point ``q_k``
where the slope of the curve changes from ``b_-`` to ``b_+`` the slope of
``q s(q)`` jumps by ``q_k (b_+ - b_-)``: the revenue stays concave across
the kink unless that jump is negative (a steeper curve on the selling side,
or a flatter one on the buying side).  :func:`curve_modes` splits the step's
range at those kinks into concave *modes*; the DP of :mod:`aggregator.exact_dp`
takes the maximum over modes exactly (docs page "How the exact backend
works", "A residual-supply curve").
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError

__all__ = [
    "CURVE_COLUMNS",
    "SupplyCurve",
    "curve_from_points",
    "read_supply_curve",
    "curve_modes",
    "curve_step_vertices",
    "curve_tangents",
    "TangentLines",
    "stack_tangents",
]

#: The columns of a curve file: the step (0, 1, ... of the price series), the net purchase (MW), the price shift ($/MWh).
CURVE_COLUMNS = ("step", "net_purchase_mw", "price_shift")

#: Most segments per piece of a step (memory and time guard of the DP refinement).
MAX_PIECE_SEGMENTS = 4096

#: Largest |shift at zero purchase| accepted as zero ($/MWh).
ZERO_SHIFT = 1e-9


@dataclass(frozen=True, eq=False)
class SupplyCurve:
    """One piecewise-linear price shift per step (validated; see the module docstring).

    An :class:`aggregator.price_impact.ImpactCost`: the exact DP, the linopy
    model and the accounting take it as they take a slope ``beta``.

    Attributes
    ----------
    quantity : numpy.ndarray
        Net purchases of the points (MW), shape ``(steps, points)``, increasing along a row.
    shift : numpy.ndarray
        Price shift at those points ($/MWh), nondecreasing along a row, 0 at zero purchase.

    Examples
    --------
    >>> c = curve_from_points([[-10, -1.0], [0, 0.0], [10, 5.0]], 2)
    >>> c.shift_at(np.array([5.0, 20.0])).tolist()
    [2.5, 10.0]
    """

    quantity: NDArray[np.float64]
    shift: NDArray[np.float64]

    @property
    def steps(self) -> int:
        """Steps of the horizon the curve covers."""
        return int(self.quantity.shape[0])

    def __getitem__(self, index: slice) -> SupplyCurve:
        """The curve of a window of steps (``curve[start:stop]``)."""
        return SupplyCurve(self.quantity[index], self.shift[index])

    def slopes(self) -> NDArray[np.float64]:
        """Slope of each segment ($/MWh per MW), shape ``(steps, points - 1)``."""
        return np.diff(self.shift, axis=1) / np.diff(self.quantity, axis=1)

    def moves(self) -> NDArray[np.bool_]:
        """Per step: whether the price moves at all (a flat zero curve is a price taker)."""
        return np.any(self.shift != 0.0, axis=1)

    def shift_at(self, q: ArrayLike) -> NDArray[np.float64]:
        """The price shift ``s_t(q_t)`` ($/MWh) of one net purchase per step (MW), extrapolated linearly.

        Parameters
        ----------
        q : array_like
            MW, one per step.

        Returns
        -------
        numpy.ndarray
        """
        q = np.asarray(q, dtype=float)
        qk, sk = self.quantity, self.shift
        k = np.clip((qk < q[:, None]).sum(axis=1), 1, qk.shape[1] - 1)  # segment k-1 .. k; the end ones beyond the ends
        rows = np.arange(q.shape[0])
        q0, q1, s0, s1 = qk[rows, k - 1], qk[rows, k], sk[rows, k - 1], sk[rows, k]
        return s0 + (s1 - s0) * ((q - q0) / (q1 - q0))

    def tangent_error(self, qmax: ArrayLike, count: int, dt: float) -> float:
        """How far the tangents of :func:`curve_tangents` lie below the market impact at most, summed over steps ($).

        The same pieces and point counts as :func:`curve_tangents`, for every
        step at once (the certificate check asks for it after every solve).

        Parameters
        ----------
        qmax : array_like
            The fleets' power per step (MW).
        count : int
            Tangent points per ``2 qmax``.
        dt : float

        Returns
        -------
        float
        """
        top = np.asarray(qmax, dtype=float)[:, None]
        qk = self.quantity
        # the intervals between the points, the end ones unbounded, each within the range
        lo = np.concatenate([np.full_like(top, -np.inf), qk], axis=1)
        hi = np.concatenate([qk, np.full_like(top, np.inf)], axis=1)
        length = np.clip(np.minimum(hi, top) - np.maximum(lo, -top), 0.0, None)
        slopes = self.slopes()
        slopes = np.concatenate([slopes[:, :1], slopes, slopes[:, -1:]], axis=1)
        moving = (self.moves() & (top[:, 0] > 0))[:, None] & (length > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.maximum(1.0, np.ceil(count * length / (2.0 * top) - 1e-9))
            h = length / n
        err = np.where(moving, slopes * dt * h * h / 4.0, 0.0)
        return math.fsum(err.max(axis=1).tolist())

    def slope_range(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per step the least and the largest slope of the curve's segments ($/MWh per MW)."""
        slopes = self.slopes()
        return slopes.min(axis=1), slopes.max(axis=1)

    def full_power_impact(self, pmax: ArrayLike, dt: float) -> NDArray[np.float64]:
        """Per step ``|s_t(+-q)| q dt`` ($) at ``q = pmax / 1000`` (``pmax`` in kW), the larger side.

        Parameters
        ----------
        pmax : array_like
            kW per step.
        dt : float

        Returns
        -------
        numpy.ndarray
        """
        q = np.asarray(pmax, dtype=float) / 1000.0
        far = np.maximum(np.abs(self.shift_at(q)), np.abs(self.shift_at(-q)))
        return far * q * dt

    def step_modes(self, t: int, lam: float, pmax: float, dt: float, eta_in: float, eta_out: float, budget: float,
                   *, outer: bool = False, wear: float = 0.0, drive: float = 0.0):
        """Step ``t``'s revenue as concave modes of vertices for the DP (:func:`curve_step_vertices`).

        Returns
        -------
        (modes, error, segments)
        """
        return curve_step_vertices(self.quantity[t], self.shift[t], lam, pmax, dt, eta_in, eta_out, budget,
                                   outer=outer, wear=wear, drive=drive)

    def tangent_lines(self, qmax: ArrayLike, count: int, dt: float) -> TangentLines:
        """Every moving step's tangents per convex mode on ``[-qmax_t, qmax_t]`` (:func:`curve_tangents`).

        ``qmax`` is the fleets' power per step (MW) and ``count`` the tangent
        points per ``2 qmax_t``, as for :meth:`tangent_error`; returns the
        :class:`TangentLines` of every step.
        """
        qmax = np.asarray(qmax, dtype=float)
        per_step: list[list] = [[] for _ in range(self.steps)]
        errors = []
        for t in np.flatnonzero(self.moves() & (qmax > 0)).tolist():
            per_step[t], error = curve_tangents(self.quantity[t], self.shift[t], float(qmax[t]), count, dt)
            errors.append(error)
        return stack_tangents(per_step, math.fsum(errors))

    def cost(self, q: ArrayLike, dt: float) -> float:
        """The market impact ``sum_t q_t s_t(q_t) dt`` in $ of a net purchase per step (MW).

        Parameters
        ----------
        q : array_like
            MW per step.
        dt : float
            Step (h).

        Returns
        -------
        float
        """
        q = np.asarray(q, dtype=float)
        return math.fsum((q * self.shift_at(q) * dt).tolist())


def _curve(qk: NDArray, sk: NDArray, where: str, rows: list | None = None) -> SupplyCurve:
    """Validate curves (``(steps, points)`` arrays, each row sorted by quantity) and build a SupplyCurve."""

    def row_of(t: int, k: int) -> str:
        return f" (row {rows[t][k]})" if rows is not None else ""

    for t in range(qk.shape[0]):
        step = f" step {t}" if qk.shape[0] > 1 or rows is not None else ""
        if qk.shape[1] < 2:
            raise InputError(f"{where}:{step} has {qk.shape[1]} point(s); expected at least 2 points of a curve")
        dup = np.flatnonzero(np.diff(qk[t]) == 0)
        if dup.size:
            k = int(dup[0])
            raise InputError(f"{where}:{step} net purchase {qk[t, k]:g} MW is given twice{row_of(t, k + 1)}; "
                             "expected one price shift per net purchase")
        fall = np.flatnonzero(np.diff(sk[t]) < 0)
        if fall.size:
            k = int(fall[0])
            raise InputError(
                f"{where}:{step} the price shift falls from {sk[t, k]:g} $/MWh at {qk[t, k]:g} MW to "
                f"{sk[t, k + 1]:g} $/MWh at {qk[t, k + 1]:g} MW{row_of(t, k + 1)}; expected a price that does "
                "not fall as the net purchase rises (a nondecreasing supply curve)"
            )
    curve = SupplyCurve(qk, sk)
    at_zero = curve.shift_at(np.zeros(qk.shape[0]))
    bad = np.flatnonzero(np.abs(at_zero) > ZERO_SHIFT)
    if bad.size:
        t = int(bad[0])
        step = f" step {t}" if qk.shape[0] > 1 or rows is not None else ""
        raise InputError(f"{where}:{step} the shift at zero net purchase is {at_zero[t]:g} $/MWh; expected 0 "
                         "(the curve is a shift of the given price, which is the price when the fleet does not trade)")
    return curve


def curve_from_points(points: Any, steps: int, where: str = "[prices] impact points") -> SupplyCurve:
    """The same curve for every step, from ``[[net purchase MW, price shift $/MWh], ...]``.

    Parameters
    ----------
    points : sequence of pairs
        At least two points, distinct net purchases (any order), a nondecreasing shift, 0 at zero purchase.
    steps : int
        Steps of the horizon.
    where : str
        The key, named in the message of bad input.

    Returns
    -------
    SupplyCurve

    Raises
    ------
    InputError
        Non-numeric or non-finite values, fewer than two points, a net purchase given twice, a falling shift
        or a shift other than 0 at zero purchase.
    """
    if isinstance(points, (str, bytes)) or not hasattr(points, "__len__"):
        raise InputError(f"{where} = {points!r}: expected a list of [net purchase MW, price shift $/MWh] pairs")
    pairs = []
    for i, point in enumerate(points):
        if (isinstance(point, (str, bytes)) or not hasattr(point, "__len__") or len(point) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in point)):
            raise InputError(f"{where}: point {i} = {point!r}; expected [net purchase MW, price shift $/MWh], "
                             "two finite numbers")
        pairs.append((float(point[0]), float(point[1])))
    pairs.sort(key=lambda p: p[0])
    arr = np.array(pairs, dtype=float).reshape(-1, 2)
    _curve(arr[None, :, 0], arr[None, :, 1], where)
    return SupplyCurve(np.tile(arr[:, 0], (steps, 1)), np.tile(arr[:, 1], (steps, 1)))


def read_supply_curve(path: Path, steps: int, where: str = "[prices] impact curve") -> SupplyCurve:
    """Read a curve file: a long table of ``step, net_purchase_mw, price_shift`` rows (:data:`CURVE_COLUMNS`).

    Steps are numbered ``0 .. steps - 1`` like the rows of the price series,
    each with at least two points (in any order); a step may have more points
    than another.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file.
    steps : int
        Rows of the price series.
    where : str
        The key, named in messages.

    Returns
    -------
    SupplyCurve
        Shorter rows padded with points on their last segment beyond their last point (no change to the curve).

    Raises
    ------
    InputError
        A missing file or column, a non-numeric cell, a step out of range or missing, and the errors of
        :func:`curve_from_points`; the message names the file and row.
    """
    label = f"{where} {path}"
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's BOM is not part of "step"
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in CURVE_COLUMNS if c not in header]
            if missing:
                raise InputError(f"{label}: no column {', '.join(missing)}; expected the columns "
                                 f"{', '.join(CURVE_COLUMNS)} (found {', '.join(header) or 'none'})")
            reader.fieldnames = header
            per_step: dict[int, list[tuple[float, float, int]]] = {}
            for line, row in enumerate(reader, start=2):
                values = []
                for col in CURVE_COLUMNS:
                    cell = (row.get(col) or "").strip()
                    try:
                        v = float(cell)
                    except ValueError:
                        v = math.nan
                    if not math.isfinite(v):
                        raise InputError(f"{label}: row {line} column {col} = {cell!r}; expected a finite number")
                    values.append(v)
                step, q, s = values
                if step != int(step) or not 0 <= step < steps:
                    raise InputError(f"{label}: row {line} step = {_cell_text(step)}; expected a whole number "
                                     f"0 .. {steps - 1} (one curve per row of the price series, {steps} rows)")
                per_step.setdefault(int(step), []).append((q, s, line))
    except OSError as exc:
        raise InputError(f"{label}: cannot read the curve file ({exc.strerror or exc})") from None
    absent = [t for t in range(steps) if t not in per_step]
    if absent:
        raise InputError(f"{label}: the curve of step {absent[0]} is missing ({len(absent)} of {steps} steps "
                         "missing); expected one curve per row of the price series")
    width = max(len(v) for v in per_step.values())
    qk = np.empty((steps, width))
    sk = np.empty((steps, width))
    rows = []
    for t in range(steps):
        pts = sorted(per_step[t], key=lambda p: p[0])
        rows.append([p[2] for p in pts])
        if len(pts) < 2:
            raise InputError(f"{label}: step {t} has {len(pts)} point (row {pts[0][2]}); expected at least 2 points")
        q = [p[0] for p in pts]
        s = [p[1] for p in pts]
        while len(q) < width:  # pad on the last segment, beyond the last point: the curve is unchanged
            slope = (s[-1] - s[-2]) / (q[-1] - q[-2]) if q[-1] != q[-2] else 0.0
            step_q = max(1.0, abs(q[-1]))
            q.append(q[-1] + step_q)
            s.append(s[-1] + slope * step_q)
        qk[t], sk[t] = q, s
    return _curve(qk, sk, label, rows)


def _cell_text(value: float) -> str:
    """A number as written in a message (integers without a fraction)."""
    return str(int(value)) if value == int(value) else repr(value)


# --------------------------------------------------------------------------
# the pieces and modes of a step
# --------------------------------------------------------------------------
def _shift_row(qk: NDArray, sk: NDArray, q: NDArray) -> NDArray:
    """The shift of one step's curve at net purchases ``q`` (MW), extrapolated linearly."""
    k = np.clip(np.searchsorted(qk, q), 1, qk.shape[0] - 1)
    q0, q1, s0, s1 = qk[k - 1], qk[k], sk[k - 1], sk[k]
    return s0 + (s1 - s0) * ((q - q0) / (q1 - q0))


def _pieces(qk: NDArray, sk: NDArray, lo: float, hi: float) -> tuple[NDArray, NDArray]:
    """``[lo, hi]`` (MW) cut at the curve's points: the bounds and the slope of each piece."""
    bounds = np.concatenate([[lo], qk[(qk > lo) & (qk < hi)], [hi]])
    k = np.clip(np.searchsorted(qk, (bounds[:-1] + bounds[1:]) / 2.0), 1, qk.shape[0] - 1)
    return bounds, (sk[k] - sk[k - 1]) / (qk[k] - qk[k - 1])


def curve_modes(qk: ArrayLike, sk: ArrayLike, lo: float, hi: float) -> list[tuple[NDArray, NDArray]]:
    """The ranges of ``[lo, hi]`` (MW) on which ``q s(q)`` is convex (the revenue concave), with their pieces.

    Parameters
    ----------
    qk, sk : array_like
        One step's curve (:class:`SupplyCurve` row).
    lo, hi : float
        Net purchase range (MW), ``lo < hi``.

    Returns
    -------
    list of (bounds, slopes)
        Per mode, in increasing ``q``: the piece bounds (MW) and each piece's slope ($/MWh per MW); two
        consecutive modes share the kink between them.
    """
    qk = np.asarray(qk, dtype=float)
    sk = np.asarray(sk, dtype=float)
    bounds, slopes = _pieces(qk, sk, lo, hi)
    split = [i for i in range(1, len(bounds) - 1) if bounds[i] * (slopes[i] - slopes[i - 1]) < 0.0]
    edges = [0, *split, len(bounds) - 1]
    return [(bounds[a : b + 1], slopes[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def _side(qk: list[float], sk: list[float], lam: float, pmax: float, dt: float, budget: float, outer: bool,
          charge: bool, eta_out: float, wear: float) -> tuple[list[float], list[float], float, int, list[int]]:
    """One side's vertices from idle to full power: powers, revenues, error, segments and the cut positions.

    Plain floats (a step has a few dozen vertices; numpy's per-call cost would dominate).  Walking away
    from idle, the revenue is concave across a point of the curve unless the curve's slope drops there.
    """
    sign = 1.0 if charge else -1.0
    top = pmax / 1000.0
    inner = [q for q in qk if 0.0 < q < top] if charge else [-q for q in reversed(qk) if 0.0 < -q < top]
    bounds = [0.0, *inner, top]  # |q| (MW), increasing away from idle
    last = len(qk) - 1
    pieces = []
    for ua, ub in zip(bounds[:-1], bounds[1:]):
        k = min(max(bisect_left(qk, sign * (ua + ub) / 2.0), 1), last)
        b = (sk[k] - sk[k - 1]) / (qk[k] - qk[k - 1])
        pieces.append((ua * 1000.0, ub * 1000.0, b, sk[k - 1] - b * qk[k - 1]))  # shift a + b q on the piece
    powers, revenues, cuts = [0.0], [0.0], []
    error, segments = 0.0, 0
    wear_rate = wear * dt / eta_out if not charge else 0.0
    for i, (pa, pb, b, a) in enumerate(pieces):
        c = b * dt / 1e6  # $ per kW^2
        length = pb - pa
        n = 1 if c <= 0.0 else min(MAX_PIECE_SEGMENTS, max(1, math.ceil(math.sqrt(c * length * length / (4.0 * budget)))))
        h = length / n
        lift = c * h * h / 4.0
        error, segments = max(error, lift), max(segments, n)
        if outer:
            points = [(pa + h * (k + 0.5), lift) for k in range(n)] + [(pb, 0.0)]
        else:
            points = [(pa + h * k, 0.0) for k in range(1, n)] + [(pb, 0.0)]
        for p, up in points:
            q = sign * p / 1000.0
            powers.append(p)
            revenues.append(-(lam + a + b * q) * q * dt + up - wear_rate * p)
        if i + 1 < len(pieces) and pieces[i + 1][2] < b:
            cuts.append(len(powers) - 1)  # the curve flattens away from idle: a convex corner, a mode ends here
    return powers, revenues, error, segments, cuts


def curve_step_vertices(
    qk: ArrayLike,
    sk: ArrayLike,
    lam: float,
    pmax: float,
    dt: float,
    eta_in: float,
    eta_out: float,
    budget: float,
    *,
    outer: bool = False,
    wear: float = 0.0,
    drive: float = 0.0,
) -> tuple[list[tuple[list[float], list[float], list[float], list[float]]], float, int]:
    """One step's revenue with a supply curve as concave modes of vertices for the DP.

    Each piece of the curve within the fleet's range gets ``n`` equal
    segments, ``n`` the least with ``c h^2 / 4 <= budget`` (``c = b dt /
    10^6`` $/kW^2 for the piece's slope ``b``).  *Inner* vertices lie on the
    revenue (chords below it, by at most the returned error); *outer* ones are
    the corners of the tangents at the same powers (above it).  The range is
    split into modes at idle (when charging and discharging are not concave
    together, as without impact) and at the kinks of :func:`curve_modes`.

    Parameters
    ----------
    qk, sk : array_like
        The step's curve (MW, $/MWh).
    lam : float
        The given price ($/MWh).
    pmax, dt, eta_in, eta_out : float
        Power (kW), step (h), efficiencies.
    budget : float
        Largest chord error per step ($), ``> 0``.
    outer : bool
        Tangent (outer) instead of chord (inner) vertices.
    wear : float
        $ per kWh discharged, battery side.
    drive : float
        kWh driven in the step.

    Returns
    -------
    (modes, error, segments)
        The modes ``(vy, vr, vin, vout)`` in increasing energy change, the
        largest chord error of the step ($) and the most segments of a piece.
    """
    qk = [float(v) for v in qk]
    sk = [float(v) for v in sk]
    pd, rd, ed, nd, sd = _side(qk, sk, lam, pmax, dt, budget, outer, False, eta_out, wear)
    pc, rc, ec, nc, sc = _side(qk, sk, lam, pmax, dt, budget, outer, True, eta_out, wear)
    m = len(pd)
    back = pd[::-1]
    vy = [-p * dt / eta_out - drive for p in back] + [eta_in * p * dt - drive for p in pc[1:]]
    vr = rd[::-1] + rc[1:]
    vin = [0.0] * m + pc[1:]
    vout = back + [0.0] * (len(pc) - 1)
    idle = m - 1
    # slopes dR/dy next to idle (the shift is 0 there): discharging side >= charging side is concave
    concave_idle = -lam * eta_out / 1000.0 + wear >= -lam / (1000.0 * eta_in)
    cuts = sorted({idle - s for s in sd} | {idle + s for s in sc} | (set() if concave_idle else {idle}))
    edges = [0, *cuts, len(vy) - 1]
    modes = [(vy[a : b + 1], vr[a : b + 1], vin[a : b + 1], vout[a : b + 1]) for a, b in zip(edges[:-1], edges[1:])]
    return modes, max(ed, ec), max(nd, nc)


# --------------------------------------------------------------------------
# the piecewise-linear form of the linopy model
# --------------------------------------------------------------------------
class TangentLines(NamedTuple):
    """The tangents of a market impact per step and convex mode, as arrays (padded; the masks say what exists).

    Attributes
    ----------
    lower, upper : numpy.ndarray
        Net purchase range of each mode (MW), shape ``(steps, modes)``.
    slope, intercept : numpy.ndarray
        The tangents ($ per MW, $), shape ``(steps, modes, tangents)``.
    mode_mask, tangent_mask : numpy.ndarray
        Which modes and tangents exist.
    error : float
        How far the tangents may lie below the market impact, summed over the steps ($).
    """

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    slope: NDArray[np.float64]
    intercept: NDArray[np.float64]
    mode_mask: NDArray[np.bool_]
    tangent_mask: NDArray[np.bool_]
    error: float


def stack_tangents(per_step: list[list[tuple[float, float, NDArray, NDArray]]], error: float) -> TangentLines:
    """:class:`TangentLines` from per step a list of modes ``(lo, hi, slopes, intercepts)`` (empty: no tangent).

    Parameters
    ----------
    per_step : list of list of tuple
        As :func:`curve_tangents` returns them, one list per step.
    error : float
        The summed tangent error ($).

    Returns
    -------
    TangentLines
    """
    modes = max(1, max((len(m) for m in per_step), default=0))
    lines = max([1] + [len(mode[2]) for m in per_step for mode in m])
    shape = (len(per_step), modes)
    lo, hi = np.zeros(shape), np.zeros(shape)
    slope, icpt = np.zeros((*shape, lines)), np.zeros((*shape, lines))
    mode_mask, line_mask = np.zeros(shape, dtype=bool), np.zeros((*shape, lines), dtype=bool)
    for t, step in enumerate(per_step):
        for m, (a, b, sl, ic) in enumerate(step):
            lo[t, m], hi[t, m], mode_mask[t, m] = a, b, True
            slope[t, m, : sl.size], icpt[t, m, : sl.size], line_mask[t, m, : sl.size] = sl, ic, True
    return TangentLines(lo, hi, slope, icpt, mode_mask, line_mask, error)


def curve_tangents(
    qk: ArrayLike, sk: ArrayLike, qmax: float, count: int, dt: float
) -> tuple[list[tuple[float, float, NDArray, NDArray]], float]:
    """Tangents of the market impact ``g(q) = q s(q) dt`` on ``[-qmax, qmax]`` (MW), per convex mode.

    Each piece of a mode gets about ``count`` points per ``2 qmax`` (at least
    its two ends); the tangent at ``x`` of a piece of slope ``b`` is
    ``g(x) + g'(x) (q - x)`` with ``g'(x) = (s(x) + b x) dt``: slope
    ``g'(x)``, intercept ``-b x^2 dt``.  On a mode ``g`` is convex, so the
    largest of its tangents is below ``g``, by at most ``b dt h^2 / 4``
    between points ``h`` apart.

    Parameters
    ----------
    qk, sk : array_like
        One step's curve.
    qmax : float
        The fleets' power (MW), ``> 0``.
    count : int
        Tangent points per ``2 qmax``.
    dt : float

    Returns
    -------
    (modes, error)
        Per mode ``(lo, hi, slopes, intercepts)`` ($ per MW and $), and the
        largest distance of the tangents below ``g`` in the step ($).
    """
    qk = np.asarray(qk, dtype=float)
    sk = np.asarray(sk, dtype=float)
    out, error = [], 0.0
    for bounds, slopes in curve_modes(qk, sk, -qmax, qmax):
        lines_s, lines_i = [], []
        for a, b_, slope in zip(bounds[:-1], bounds[1:], slopes):
            n = max(1, math.ceil(count * (b_ - a) / (2.0 * qmax) - 1e-9))
            x = np.linspace(a, b_, n + 1)
            lines_s.append((_shift_row(qk, sk, x) + slope * x) * dt)
            lines_i.append(-slope * x * x * dt)
            h = (b_ - a) / n
            error = max(error, slope * dt * h * h / 4.0)
        out.append((float(bounds[0]), float(bounds[-1]), np.concatenate(lines_s), np.concatenate(lines_i)))
    return out, error
