"""Exact piecewise-linear dynamic programme for one storage (EV fleet).

The per-fleet arbitrage MILP

.. math::

    \\max \\sum_t \\frac{\\lambda_t}{1000}(P^{out}_t - P^{in}_t)\\,\\Delta t
          - M \\sum_t (\\sigma^+_t + \\sigma^-_t)

    P^{in}_t \\le \\bar P_t u_t,\\quad P^{out}_t \\le \\bar P_t (1 - u_t),\\quad
    u_t \\in \\{0, 1\\}\\ (\\text{or } [0, 1] \\text{ if not exclusive})

    S_t = S_{t-1} + (\\eta_{in} P^{in}_t - P^{out}_t/\\eta_{out})\\Delta t
          + \\sigma^+_t - \\sigma^-_t,\\quad
    \\underline S_t \\le S_t \\le \\overline S_t,\\quad S_0 = s_{init}

optionally with a known driving energy ``d_t`` subtracted in the balance, a
soft floor ``S_t + q_t >= F_t`` priced at ``K q_t`` (departure needs) and a wear
cost ``w P_out dt / eta_out`` (see the docs page "How the exact backend works",
Step 3b: driving shifts the step revenue by ``-d_t``, the need adds the
concave ``-K max(0, F_t - S)`` to every component, wear lowers the discharge
vertex by ``w b``, and the step is one concave mode iff
``(e - w b) a - e b <= 0``),
is solved exactly (no discretisation of the state of charge) by a backward
dynamic programme over piecewise-linear (PWL) value functions followed by a
forward pass that recovers an optimal trajectory.

Method
------
With ``y = S_t - S_{t-1}`` the best revenue of one step, ``w_t(y)``, is
piecewise linear: charging on ``[0, a]`` (``a = eta_in * pmax * dt``),
discharging on ``[-b, 0]`` (``b = pmax * dt / eta_out``), and slack with
slope ``+M`` / ``-M`` beyond (formally: the power revenue sup-convolved with
``-M|sigma|``).  The power revenue is described by its vertices (full
discharge, idle, full charge), each carrying its ``(P_in, P_out)``; it is

* concave (one *mode*) for ``lambda >= 0``, or for ``lambda < 0`` without
  exclusivity (then it is the single "burning" segment from full discharge to
  full charge);
* the maximum of two concave modes (charge ``C`` on ``y >= 0``, discharge
  ``D`` on ``y <= 0``) for ``lambda < 0`` with exclusivity: this convex kink
  is the only non-convexity of the problem.

The value function ``V_t`` is represented as the pointwise maximum of a few
concave PWL *components*, each stored as absolute breakpoints ``xs``, values
``vs`` and slopes ``ss`` on the domain ``[smin_t, smax_t]``.  The Bellman
step ``V_{t-1}(S) = max_x V_t(x) + w_t(x - S)`` is a sup-convolution with
``u(z) = w(-z)``; for concave functions it is the Minkowski sum of the
hypographs, i.e. a merge of the pieces sorted by decreasing slope (O(n)).
``u`` has infinite end rays of slope ``+M`` (left) and ``-M`` (right), so
component pieces steeper than ``+M`` are absorbed before the left anchor and
pieces below ``-M`` are dropped (slack is cheaper there).  The result is
clipped to ``[smin_{t-1}, smax_{t-1}]``.  Sup-convolution distributes over
``max``, so every component is convolved with every mode; components that are
dominated by another one (checked exactly at the union of breakpoints, up to
a tolerance of ``1e-12`` times the local value scale) are pruned; when more
than 8 survive, components dominated by the maximum of the others are removed
as well (exact check: a tiny LP per breakpoint interval).  On the study data
at most 15 components (mean 1.15 to 1.26) are ever needed.

The forward pass starts at ``s_init`` and picks, per step, the component,
mode and next state of charge maximising ``w_mode(x - S) + f_k(x)`` (a PWL
function of ``x``, so it suffices to evaluate it at the union of the
breakpoints), splits the move into power and slack (power first), and
recomputes the state of charge from powers and slack.

Certified bound
---------------
``bound = V_0(s_init) + prune_allowance + merge_allowance + fp_allowance``:

* ``prune_allowance``: per step, the largest amount by which a pruned
  component exceeds the kept ones (measured, at most the tolerance; for the
  strong pruning the sum over the successive removals), summed over steps.  The Bellman operator is monotone and non-expansive in
  the sup norm, so per-step under-estimations add up at most linearly.
* ``merge_allowance``: adjacent pieces with nearly equal slopes (or a
  vanishing length) are replaced by their chord; the maximal deviation
  ``|s1 - s2| l1 l2 / (l1 + l2)`` of each merge is added.
* ``fp_allowance``: a worst-case rounding-error estimate
  ``8 u sum_t (span_{t-1} + span_t + r_t + X_t M) + 4 u |V_0|`` with unit
  round-off ``u``, ``span_t`` the range of the stored values of ``V_t``
  (values are stored relative to a per-step offset; the offsets are summed
  with :func:`math.fsum`), ``r_t = |lambda_t| pmax_t dt / 1000`` the largest
  one-step revenue, ``X_t`` the magnitude of the breakpoint positions, and
  ``M`` the largest slope that can occur (slack).  Every breakpoint of a
  Minkowski sum is computed directly as (breakpoint of ``V_t``) + (breakpoint
  of ``u``), so positions and values cost one rounding each and rounding does
  not accumulate within a step; clipping and re-centring add a few more.  A
  position error ``delta`` changes the function by at most ``M delta``.
  Between steps errors add up (non-expansiveness), hence the sum.  This is an
  a-priori estimate, not interval arithmetic.

On the study instances the certified relative gap ``(bound - objective) /
|bound|`` is below ``5e-10`` (1000 and 1,000,000 vehicles), almost entirely
the rounding allowance; the DP value and the objective of the returned
trajectory agree to about ``1e-15`` relative.

Kernel
------
The backward and forward passes are one function (``_dp_kernel``) over
arrays and scalars only, compiled with numba (``cache=True``: the machine code
is kept in ``__pycache__`` beside this file, or in ``NUMBA_CACHE_DIR`` / the
user's cache directory when that is not writable, and loaded by later
processes; without any writable cache directory it is compiled in memory in
every process).  The same code runs interpreted, as plain Python over numpy
arrays, with ``NUMBA_DISABLE_JIT=1``: that is the reference path, not a second
implementation.  The stored value functions ``V_1 .. V_T`` are flat arrays
(breakpoints, values, slopes) indexed by component (start, count) and step
(first component, count), grown by doubling; the per-step buffers are reused,
and so are, between the solves of a thread, the stored value functions and the
other scratch arrays (fresh memory would cost a page fault per page).  The
backward steps (``_backward_steps``) never replace an array and call no helper
in the common case, because numba counts references (atomic operations) at
such assignments and calls: before a step they check the room it can need and
stop there if an array is too short, and the kernel grows it and resumes.
The exact sums (offsets, allowance terms, the objective's parts) are correctly
rounded, the value of :func:`math.fsum` to the bit: a fixed-point accumulator of
32-bit limbs adds the terms exactly, and a port of CPython's ``math.fsum``
(operation for operation) rounds the limbs' sum once (``_fsum``).

No ``fastmath``: numba then emits each ``+ - * /`` as one IEEE-754 double
operation in the order written (LLVM neither reassociates nor fuses them
into FMAs without fast-math flags), ``abs``/``min``/``max`` and comparisons are
exact, and x86-64 evaluates doubles in SSE registers (no extended
precision).  So the compiled kernel performs the same correctly rounded
operations as the interpreted one, and the a-priori rounding estimate below
(which counts roundings per produced breakpoint) carries over unchanged; the
tests check the two paths bit for bit, and the kernel against the earlier
list-based pure-Python DP on the seed fleet-years and random instances.

Step revenues as modes (the interface of the kernel)
----------------------------------------------------
The kernel reads the one-step revenues as concave *modes* in CSR layout
(:class:`StepModes`): step ``t`` has modes ``mode_start[t] ..
mode_start[t+1] - 1``, mode ``m`` has vertices ``vert_start[m] ..
vert_start[m+1] - 1`` with increasing energy change ``vy`` (kWh, driving
included), revenue ``vr`` ($, concave within a mode) and the powers ``vin`` /
``vout`` (kW) at the vertex; ``w_t`` is the maximum of its modes, and the kernel
adds the slack rays.  Any number of vertices per mode is allowed.
:func:`step_mode_arrays` builds them for the price taker (the three vertices
and one or two modes described above); a price maker with a concave price
impact supplies its own (e.g. 2 to 64 vertices per mode) to
:func:`solve_modes`, with ``rev_scale[t]`` bounding ``|vr|`` in step ``t`` for
the rounding allowance.  The other inputs (power, bounds, efficiencies,
driving, floor) are those of :func:`solve_fleet`.

If more than ``max_components`` components survive pruning in some step (never
observed: the study data need at most 15, random adversarial series about 10),
the value function is replaced by its concave upper envelope there and a
``RuntimeWarning`` is issued: the bound stays valid (it is then the bound of a
relaxation), the trajectory stays feasible but may be suboptimal, ``exact`` is
``False`` and ``bound - objective`` reports the possible loss.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Sequence

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from .fleet_solution import FleetSolution

__all__ = [
    "FleetSolution", "ModeSolution", "StepModes", "prepare_kernel", "solve_fleet", "solve_modes", "step_mode_arrays",
    "with_step_vertices",
]

log = logging.getLogger(__name__)

_U = float(np.finfo(float).eps) / 2.0  # unit round-off
_PRUNE_RTOL = 1e-12
_MERGE_RTOL = 1e-14
_FP_FACTOR = 8.0  # roundings per step charged in the rounding allowance
_STRONG_PRUNE_FROM = 8  # use the (costlier) strong pruning above this count


# --------------------------------------------------------------------------
# compilation
# --------------------------------------------------------------------------
def _compile(fn):
    """``numba.njit(cache=True)``; without a writable cache directory, compile in memory.

    numba looks for a cache directory beside the source (``__pycache__``),
    then in ``NUMBA_CACHE_DIR`` / the user's cache directory; if none is
    writable it cannot cache and the function is compiled at its first call
    in every process instead.  No ``fastmath``: every operation is an IEEE
    double operation in the order written (see the module docstring).
    """
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # pragma: no cover - no cache locator available
        return numba.njit(nogil=True)(fn)


def _kernel_cached() -> bool:
    """Whether numba's disk cache seems to hold the kernel (its index file beside the source or in NUMBA_CACHE_DIR)."""
    source = Path(__file__)
    pattern = f"{source.stem}._dp_kernel-*.nbi"
    found = list((source.parent / "__pycache__").glob(pattern))
    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    if cache_dir:
        found += list(Path(cache_dir).rglob(pattern))
    try:  # numba keys its cache on the source's time stamp: an index older than the source is stale
        changed = source.stat().st_mtime
        return any(index.stat().st_mtime >= changed for index in found)
    except OSError:
        return False


def prepare_kernel() -> None:
    """Compile the kernel in this process, or load it from numba's disk cache, before the first solve.

    The first use after installing compiles it (once: tens of seconds of
    CPU), which the user is told about (a log warning); later processes load
    it from the cache in about half a second.  Calling this before starting
    worker processes lets them load the cache instead of each compiling.
    """
    if _dp_kernel.signatures:  # already compiled or loaded in this process
        return
    if not _kernel_cached() and os.environ.get("NUMBA_DISABLE_JIT") != "1":
        log.warning("compiling the exact DP kernel for this installation (once; about a minute on 2 cores, then cached)")
    solve_fleet([0.0], 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0)


def _inline(fn):
    """A small helper compiled into its callers (no call overhead, no reference counting across calls)."""
    return numba.njit(inline="always", nogil=True)(fn)


def _called(fn):
    """A helper off the hot path (the pruning steps, a minority; array growth), compiled once and called:
    inlining its several call sites would lengthen the kernel's compilation for little speed."""
    return numba.njit(nogil=True)(fn)


# --------------------------------------------------------------------------
# one-step revenue: modes in CSR layout
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class StepModes:
    """The one-step revenues ``w_t`` of a horizon as concave modes in CSR layout.

    Step ``t`` has the modes ``mode_start[t] .. mode_start[t + 1] - 1``; mode
    ``m`` has the vertices ``vert_start[m] .. vert_start[m + 1] - 1`` (at
    least one).  ``w_t`` is the maximum of its modes; each mode is the
    concave piecewise-linear function through its vertices ``(vy, vr)``,
    defined on ``[vy_first, vy_last]`` (the DP continues it with the slack
    rays of slope ``+M`` / ``-M``).

    Attributes
    ----------
    mode_start : numpy.ndarray
        ``int64``, length ``T + 1``, non-decreasing, ``mode_start[0] = 0``.
    vert_start : numpy.ndarray
        ``int64``, length ``mode_start[T] + 1``, increasing.
    vy : numpy.ndarray
        Energy change of the vertex, ``S_t - S_{t-1}`` (kWh, driving
        included), increasing within a mode (coincident vertices are allowed:
        the more profitable one is kept).
    vr : numpy.ndarray
        Revenue of the step at the vertex ($), concave in ``vy`` within a mode.
    vin, vout : numpy.ndarray
        Charging and discharging power at the vertex (kW); the powers between
        two vertices are interpolated linearly.
    rev_scale : numpy.ndarray
        Per step, an upper bound on ``|vr|`` over the step's vertices ($), used
        by the rounding allowance.
    """

    mode_start: NDArray[np.int64]
    vert_start: NDArray[np.int64]
    vy: NDArray[np.float64]
    vr: NDArray[np.float64]
    vin: NDArray[np.float64]
    vout: NDArray[np.float64]
    rev_scale: NDArray[np.float64]

    def check(self, steps: int) -> None:
        """Raise ``ValueError`` unless the arrays describe ``steps`` steps consistently.

        Parameters
        ----------
        steps : int
            Number of steps ``T`` of the horizon.
        """
        ms, vs = self.mode_start, self.vert_start
        if ms.ndim != 1 or ms.shape[0] != steps + 1 or ms[0] != 0 or np.any(np.diff(ms) < 1):
            raise ValueError("mode_start must start at 0 and give every step at least one mode")
        if vs.ndim != 1 or vs.shape[0] != ms[-1] + 1 or vs[0] != 0 or np.any(np.diff(vs) < 1):
            raise ValueError("vert_start must start at 0 and give every mode at least one vertex")
        n = int(vs[-1])
        for name in ("vy", "vr", "vin", "vout"):
            arr = getattr(self, name)
            if arr.ndim != 1 or arr.shape[0] != n or not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must hold {n} finite values")
        if self.rev_scale.shape != (steps,) or np.any(~(self.rev_scale >= 0)):
            raise ValueError("rev_scale must hold one non-negative value per step")
        inner = np.ones(n, dtype=bool)  # vertices after the first of their mode
        inner[vs[:-1]] = False
        if np.any(np.diff(self.vy, prepend=-np.inf)[inner] < 0):
            raise ValueError("vy must not decrease within a mode")


def step_mode_arrays(
    price: NDArray[np.float64],
    dt: float,
    pmax: NDArray[np.float64],
    eta_in: float,
    eta_out: float,
    exclusive: bool,
    wear: float = 0.0,
    drive: NDArray[np.float64] | None = None,
) -> StepModes:
    """The modes of the price-taker's step revenue, vectorised over the steps.

    Per step (``a = eta_in pmax dt``, ``b = pmax dt / eta_out``,
    ``e = lambda pmax dt / 1000``, ``d`` the driving energy): vertices full
    discharge ``(-b - d, e - wear b)``, idle ``(-d, 0)`` and full charge
    ``(a - d, -e)``.  One mode through the three if the idle vertex lies on
    or above the chord (always for ``lambda >= 0``); otherwise, with
    exclusive charging, a charging mode (idle, full charge) and a
    discharging mode (full discharge, idle), and without it the chord
    (simultaneous charging and discharging).  A step without power
    (``pmax = 0``) has the single vertex ``(-d, 0)``.

    Parameters
    ----------
    price : numpy.ndarray
        $/MWh per step.
    dt : float
        Step length (h).
    pmax : numpy.ndarray
        Available power per step (kW).
    eta_in, eta_out : float
        Efficiencies.
    exclusive : bool
        Charging and discharging mutually exclusive.
    wear : float, default 0
        $ per kWh discharged, battery side.
    drive : numpy.ndarray, optional
        Driving energy per step (kWh).

    Returns
    -------
    StepModes
    """
    return _step_modes(price, dt, pmax, eta_in, eta_out, exclusive, wear, drive, None)


def _step_modes(
    price: ArrayLike, dt: float, pmax: ArrayLike, eta_in: float, eta_out: float, exclusive: bool, wear: float,
    drive: ArrayLike | None, scratch: list[NDArray] | None,
) -> StepModes:
    """:func:`step_mode_arrays`, written to fresh arrays or (``scratch``) to a solve's reused ones (:func:`_mode_arrays`)."""
    lam = np.ascontiguousarray(price, dtype=float)
    pm = np.ascontiguousarray(pmax, dtype=float)
    n_t = lam.shape[0]
    d = np.zeros(n_t) if drive is None else np.ascontiguousarray(drive, dtype=float)
    if scratch is None:
        ints, floats = np.empty(3 * n_t + 2, dtype=np.int64), np.empty(17 * n_t)
    else:
        ints, floats = scratch[0], scratch[1]
    mode_start, vert_start = ints[: n_t + 1], ints[n_t + 1 : 3 * n_t + 2]
    vy, vr, vin, vout = (floats[k * 4 * n_t : (k + 1) * 4 * n_t] for k in range(4))
    rev_scale = floats[16 * n_t : 17 * n_t]
    nm, nv = _price_taker_modes(
        lam, float(dt), pm, float(eta_in), float(eta_out), bool(exclusive), float(wear), d,
        mode_start, vert_start, vy, vr, vin, vout, rev_scale,
    )
    return StepModes(mode_start, vert_start[: nm + 1], vy[:nv], vr[:nv], vin[:nv], vout[:nv], rev_scale)


@_compile
def _price_taker_modes(
    lam, dt, pm, eta_in, eta_out, exclusive, wear, drive, mode_start, vert_start, vy, vr, vin, vout, rev_scale,
):  # pragma: no cover - compiled
    """The arrays of :func:`step_mode_arrays` (one pass over the steps), written to the given ones.

    ``mode_start`` and ``rev_scale`` hold one value per step (and one more),
    ``vert_start`` ``2 T + 1``, the vertex arrays ``4 T``; returns the
    numbers of modes and vertices used.
    """
    n_t = lam.shape[0]
    mode_start[0] = 0
    vert_start[0] = 0
    nm = 0
    nv = 0
    for t in range(n_t):
        pmax = pm[t]
        dr = drive[t]
        rev_scale[t] = abs(lam[t] * pmax * dt / 1000.0) + wear * pmax * dt / eta_out
        if pmax <= 0.0:
            vy[nv], vr[nv], vin[nv], vout[nv] = -dr, 0.0, 0.0, 0.0
            nv += 1
            nm += 1
            vert_start[nm] = nv
            mode_start[t + 1] = nm
            continue
        a = eta_in * pmax * dt
        b = pmax * dt / eta_out
        e = lam[t] * pmax * dt / 1000.0  # revenue of a full-power discharge
        vd = e - wear * b if wear > 0.0 else e  # value of the full-discharge vertex
        vc = -e  # value of the full-charge vertex
        # concave iff the idle vertex (0, 0) lies on or above the chord from
        # (-b, vd) to (a, vc), i.e. vd * a + vc * b <= 0; for lam >= 0 this always
        # holds (eta_in * eta_out <= 1), for lam < 0 iff
        # wear >= |lam| / 1000 * (1 / eta_in - eta_out)
        concave = lam[t] >= 0.0 or (wear > 0.0 and vd * a + vc * b <= 0.0)
        if dr != 0.0:
            y0, y1, y2 = -b - dr, -dr, a - dr
        else:
            y0, y1, y2 = -b, 0.0, a
        if concave:
            vy[nv] = y0
            vy[nv + 1] = y1
            vy[nv + 2] = y2
            vr[nv] = vd
            vr[nv + 1] = 0.0
            vr[nv + 2] = vc
            vin[nv] = 0.0
            vin[nv + 1] = 0.0
            vin[nv + 2] = pmax
            vout[nv] = pmax
            vout[nv + 1] = 0.0
            vout[nv + 2] = 0.0
            nv += 3
            nm += 1
            vert_start[nm] = nv
        elif not exclusive:  # concave envelope: simultaneous charge/discharge
            vy[nv] = y0
            vy[nv + 1] = y2
            vr[nv] = vd
            vr[nv + 1] = vc
            vin[nv] = 0.0
            vin[nv + 1] = pmax
            vout[nv] = pmax
            vout[nv + 1] = 0.0
            nv += 2
            nm += 1
            vert_start[nm] = nv
        else:  # charging mode (idle, full charge), then discharging mode (full discharge, idle)
            vy[nv] = y1
            vy[nv + 1] = y2
            vy[nv + 2] = y0
            vy[nv + 3] = y1
            vr[nv] = 0.0
            vr[nv + 1] = vc
            vr[nv + 2] = vd
            vr[nv + 3] = 0.0
            vin[nv] = 0.0
            vin[nv + 1] = pmax
            vin[nv + 2] = 0.0
            vin[nv + 3] = 0.0
            vout[nv] = 0.0
            vout[nv + 1] = 0.0
            vout[nv + 2] = pmax
            vout[nv + 3] = 0.0
            vert_start[nm + 1] = nv + 2
            nv += 4
            nm += 2
            vert_start[nm] = nv
        mode_start[t + 1] = nm
    return nm, nv


# --------------------------------------------------------------------------
# compiled primitives (arrays and scalars only)
# --------------------------------------------------------------------------
@_compile
def _prepare_modes(vert_start, vy, vr, vin, vout, big_m, dvy, dvr, dvin, dvout, nd, wy, wv, ws, nw):  # pragma: no cover
    """Per mode: drop coincident vertices (``d*``, count ``nd``) and cut the slack rays (``w*``, count ``nw``).

    Mode ``m`` uses the slots ``vert_start[m] ..`` of every output array; ``ws``
    holds the ``nw - 1`` slopes of the finite part ``(wy, wv)`` of ``w``.
    """
    for m in range(vert_start.shape[0] - 1):
        o = vert_start[m]
        cnt = vert_start[m + 1] - o
        mono = True
        for k in range(cnt):
            dvy[o + k] = vy[o + k]
            dvr[o + k] = vr[o + k]
            dvin[o + k] = vin[o + k]
            dvout[o + k] = vout[o + k]
            if k > 0 and vy[o + k] <= vy[o + k - 1]:
                mono = False
        # coincident vertices (vanishing or underflowing pmax): keep the more profitable one
        k = cnt if mono else 1
        while k < cnt:
            if dvy[o + k] <= dvy[o + k - 1]:
                drop = k if dvr[o + k] <= dvr[o + k - 1] else k - 1
                for q in range(drop, cnt - 1):
                    dvy[o + q] = dvy[o + q + 1]
                    dvr[o + q] = dvr[o + q + 1]
                    dvin[o + q] = dvin[o + q + 1]
                    dvout[o + q] = dvout[o + q + 1]
                cnt -= 1
            else:
                k += 1
        nd[m] = cnt
        i = 0
        while i < cnt - 1 and (dvr[o + i + 1] - dvr[o + i]) / (dvy[o + i + 1] - dvy[o + i]) > big_m:
            i += 1  # absorbed by the +M slack ray
        j = i
        while j < cnt - 1 and (dvr[o + j + 1] - dvr[o + j]) / (dvy[o + j + 1] - dvy[o + j]) >= -big_m:
            j += 1  # beyond: the -M slack ray is better
        nw[m] = j - i + 1
        for q in range(j - i + 1):
            wy[o + q] = dvy[o + i + q]
            wv[o + q] = dvr[o + i + q]
        for q in range(j - i):
            ws[o + q] = (dvr[o + i + q + 1] - dvr[o + i + q]) / (dvy[o + i + q + 1] - dvy[o + i + q])


@_inline
def _add_floor(tx, tv, ts, n, floor, rate, ox, ov, os, o):  # pragma: no cover
    """Write ``t + (-rate * max(0, floor - x))`` to the slots ``o ..`` of ``ox, ov, os``; returns the count.

    The penalty is concave, so the sum stays concave; a breakpoint is
    inserted at ``floor`` when it lies inside the domain.
    """
    if rate <= 0.0 or floor <= tx[0]:
        for k in range(n):
            ox[o + k] = tx[k]
            ov[o + k] = tv[k]
        for k in range(n - 1):
            os[o + k] = ts[k]
        return n
    cx = 0
    cs = 0
    for k in range(n):
        x = tx[k]
        if k > 0:
            x0 = tx[k - 1]
            if x0 < floor < x:  # split the segment at the floor
                os[o + cs] = ts[k - 1] + rate
                cs += 1
                ox[o + cx] = floor
                ov[o + cx] = tv[k - 1] + ts[k - 1] * (floor - x0)
                cx += 1
                os[o + cs] = ts[k - 1]
                cs += 1
            elif x <= floor:
                os[o + cs] = ts[k - 1] + rate
                cs += 1
            else:
                os[o + cs] = ts[k - 1]
                cs += 1
        ox[o + cx] = x
        ov[o + cx] = tv[k] - rate * (floor - x) if x < floor else tv[k]
        cx += 1
    return cx


@_called
def _sorted_points(cx, c0, cn, nc, allp):  # pragma: no cover
    """Sorted distinct breakpoints of components ``0 .. nc - 1`` (slots ``c0[k] .. c0[k] + cn[k]``) into ``allp``.

    Returns their count; ``allp`` holds at least ``sum(cn[:nc])`` values.
    Every component's breakpoints are sorted, so each is merged, from the back,
    into the sorted points of the ones before (a value equal to one already
    there goes after it: the order of an insertion sort); equal values keep
    the first.
    """
    p = 0
    for k in range(nc):
        o = c0[k]
        r = cn[k]
        i = p - 1
        j = r - 1
        w = p + r - 1
        while j >= 0:
            x = cx[o + j]
            if i >= 0 and allp[i] > x:
                allp[w] = allp[i]
                i -= 1
            else:
                allp[w] = x
                j -= 1
            w -= 1
        p += r
    cnt = 0
    for q in range(p):
        if cnt == 0 or allp[q] != allp[cnt - 1]:
            allp[cnt] = allp[q]
            cnt += 1
    return cnt


@_called
def _union_points(cx, c0, cn, nc):  # pragma: no cover
    """:func:`_sorted_points` in a new array."""
    total = 0
    for k in range(nc):
        total += cn[k]
    allp = np.empty(total)
    return allp[: _sorted_points(cx, c0, cn, nc, allp)]


@_called
def _eval_at(cx, cv, cs, c0, cn, nc, pts):  # pragma: no cover
    """Values of components ``0 .. nc - 1`` at sorted points of their common domain, shape ``(nc, len(pts))``."""
    npts = pts.shape[0]
    vals = np.empty(nc * npts)
    _eval_into(cx, cv, cs, c0, cn, nc, pts, npts, vals)
    return vals.reshape((nc, npts))


@_called
def _eval_into(cx, cv, cs, c0, cn, nc, pts, npts, vals):  # pragma: no cover
    """:func:`_eval_at` at ``pts[:npts]`` into the flat ``vals`` (component ``c`` at point ``i``: ``vals[c * npts + i]``)."""
    for c in range(nc):
        o = c0[c]
        last = cn[c] - 2
        k = 0
        for i in range(npts):
            p = pts[i]
            while k < last and cx[o + k + 1] <= p:
                k += 1
            if last < 0:
                vals[c * npts + i] = cv[o]
            else:
                vals[c * npts + i] = cv[o + k] + cs[o + k] * (p - cx[o + k])


@_inline
def _stable_order(key, idx):  # pragma: no cover
    """Indices sorting ``key`` ascending, ties in index order (stable), written to ``idx`` (returned)."""
    n = key.shape[0]
    for i in range(n):
        idx[i] = i
    for i in range(1, n):
        v = idx[i]
        j = i - 1
        while j >= 0 and key[idx[j]] > key[v]:
            idx[j + 1] = idx[j]
            j -= 1
        idx[j + 1] = v
    return idx


@_compile
def _prune(vals, nc, npts, tol, fbuf, ibuf):  # pragma: no cover
    """Components dominated (within ``tol``) by another one are dropped.

    ``vals[c * npts + p]`` is component ``c`` at point ``p``.  Returns the
    number ``nk`` of kept components (their indices, in the order kept, are
    ``ibuf[nc : nc + nk]``) and the largest measured excess of a dropped
    component over the kept ones.  ``fbuf`` and ``ibuf`` are scratch of at
    least ``nc * (nc + 1)`` and ``2 nc`` values.

    The differences ``D(a, b) = max_p (f_a - f_b)`` are computed only where a
    decision needs them, and a decision ``D(a, b) <= tol`` stops the pass
    over the points as soon as the running maximum exceeds ``tol`` (then only
    that is recorded, as ``+inf``); the excess ``max_d min_k D(d, k)`` (``d``
    dropped, ``k`` kept) takes the exact ``D`` where it is known, and stops a
    pass once it exceeds the running minimum (it cannot lower it), and a
    component once its minimum is at most the running excess (it cannot
    raise it).  So the decisions and the excess are those of computing every
    ``D`` in full.
    Written out over flat arrays, without a helper or a view (in numba those
    count references at every call).
    """
    memo = nc * nc  # fbuf[a * nc + b] = D(a, b) if <= tol, +inf if above, NaN if not yet known
    for k in range(memo):
        fbuf[k] = np.nan
    for i in range(nc):  # fbuf[memo + i] = -max_p f_i
        o = i * npts
        top = vals[o]
        for q in range(1, npts):
            if vals[o + q] > top:
                top = vals[o + q]
        fbuf[memo + i] = -top
    # candidates by decreasing maximum, ties in index order (a stable insertion sort)
    for i in range(nc):
        ibuf[i] = i
    for i in range(1, nc):
        v = ibuf[i]
        j = i - 1
        while j >= 0 and fbuf[memo + ibuf[j]] > fbuf[memo + v]:
            ibuf[j + 1] = ibuf[j]
            j -= 1
        ibuf[j + 1] = v
    nk = 0
    for oi in range(nc):
        i = ibuf[oi]
        dominated = False
        w = 0
        # phase 0: is i dominated by a kept one?  phase 1: drop the kept ones i dominates
        for phase in range(2):
            for q in range(nk):
                k = ibuf[nc + q]
                a = i if phase == 0 else k
                b = k if phase == 0 else i
                m = fbuf[a * nc + b]
                if m != m:  # D(a, b) <= tol?  stop once the running maximum exceeds tol
                    m = -np.inf
                    for p in range(npts):
                        d = vals[a * npts + p] - vals[b * npts + p]
                        if d > m:
                            m = d
                            if m > tol:
                                m = np.inf
                                break
                    fbuf[a * nc + b] = m
                if phase == 0:
                    if m <= tol:
                        dominated = True
                        break
                elif m > tol:
                    ibuf[nc + w] = k
                    w += 1
            if dominated:
                break
        if dominated:
            continue
        ibuf[nc + w] = i
        nk = w + 1
    excess = 0.0
    if nk < nc:
        excess = -np.inf
        for d in range(nc):
            kept = False
            for q in range(nk):
                if ibuf[nc + q] == d:
                    kept = True
            if kept:
                continue
            low = np.inf  # min over the kept k of D(d, k)
            for q in range(nk):
                k = ibuf[nc + q]
                m = fbuf[d * nc + k]
                if not m <= tol:  # not known exactly: the maximum, as far as it can lower the minimum
                    m = -np.inf
                    for p in range(npts):
                        x = vals[d * npts + p] - vals[k * npts + p]
                        if x > m:
                            m = x
                            if m > low:
                                break  # D(d, k) > low: the minimum stays low
                low = min(low, m)
                if low <= excess:
                    break  # d cannot raise the excess
            if low > excess:
                excess = low
    return nk, max(excess, 0.0)


@_compile
def _max_min_line(c, d):  # pragma: no cover
    """Upper bound on ``max_{tau in [0,1]} min_k (c[k] + d[k] tau)`` for one interval.

    With ``A`` the minimum of the non-decreasing lines and ``B`` that of the
    decreasing ones, ``A - B`` is increasing; the maximum of ``min(A, B)`` is
    ``A(1)`` if ``A(1) <= B(1)``, ``B(0)`` if ``A(0) >= B(0)``, and otherwise
    ``A = B`` at a crossing found by bisection, bracketed by ``[lo, hi]``,
    and bounded above by ``min(A(hi), B(lo))``.  Exact up to rounding and
    never below the true maximum.
    """
    a1 = b1 = a0 = b0 = np.inf
    for k in range(c.shape[0]):
        v1 = c[k] + d[k] * 1.0
        v0 = c[k] + d[k] * 0.0
        if d[k] >= 0.0:
            a1 = min(a1, v1)
            a0 = min(a0, v0)
        else:
            b1 = min(b1, v1)
            b0 = min(b0, v0)
    out = a1 if a1 <= b1 else b0
    if a1 > b1 and a0 < b0:
        lo = 0.0
        hi = 1.0
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            ea = eb = np.inf
            for k in range(c.shape[0]):
                v = c[k] + d[k] * mid
                if d[k] >= 0.0:
                    ea = min(ea, v)
                else:
                    eb = min(eb, v)
            if ea - eb < 0.0:
                lo = mid
            else:
                hi = mid
        ea = eb = np.inf
        for k in range(c.shape[0]):
            if d[k] >= 0.0:
                ea = min(ea, c[k] + d[k] * hi)
            else:
                eb = min(eb, c[k] + d[k] * lo)
        out = min(ea, eb)
    return out


@_compile
def _prune_strong_vals(vals, tol):  # pragma: no cover
    """Components dominated (within ``tol``) by the maximum of the others are dropped.

    The check is exact for PWL functions: on every interval between
    consecutive breakpoints all components are linear.  If one other
    component lies above a candidate at both ends of an interval, that bounds
    the excess there; otherwise the largest excess on the interval is a
    one-dimensional LP (:func:`_max_min_line`).  Components are removed one
    at a time, each removal lowers the maximum by at most its measured
    excess; returns the kept indices (increasing) and the sum.
    """
    nc, npt = vals.shape
    rowmax = np.empty(nc)
    for i in range(nc):
        rowmax[i] = vals[i, :].max()
    alive = np.ones(nc, dtype=np.bool_)
    n_alive = nc
    total = 0.0
    order = _stable_order(rowmax, np.empty(nc, dtype=np.int64))
    c = np.empty(nc)
    e = np.empty(nc)
    for oi in range(nc):
        p = order[oi]
        if n_alive - (1 if alive[p] else 0) == 0:
            break
        # quick accept: p exceeds the others at some breakpoint
        ex = -np.inf
        for i in range(npt):
            top = -np.inf
            for k in range(nc):
                if alive[k] and k != p and vals[k, i] > top:
                    top = vals[k, i]
            if vals[p, i] - top > ex:
                ex = vals[p, i] - top
                if ex > tol:
                    break  # only the comparison with tol matters here
        if ex > tol:
            continue
        if npt > 1:
            ex = -np.inf
            for i in range(npt - 1):
                nk = 0
                ub = np.inf  # best single dominating line
                for k in range(nc):
                    if alive[k] and k != p:
                        c[nk] = vals[p, i] - vals[k, i]
                        e[nk] = vals[p, i + 1] - vals[k, i + 1]
                        ub = min(ub, max(c[nk], e[nk]))
                        nk += 1
                if ub > tol:
                    ub = _max_min_line(c[:nk], e[:nk] - c[:nk])
                if ub > ex:
                    ex = ub
                    if ex > tol:
                        break  # p stays: its excess is not used
        if ex <= tol:
            if alive[p]:
                alive[p] = False
                n_alive -= 1
            total += max(ex, 0.0)
    return np.flatnonzero(alive), total


@_compile
def _eval_points(xs, vs, ss, pts):  # pragma: no cover - compiled
    """Values of one component at sorted points of its domain."""
    c0 = np.zeros(1, dtype=np.int64)
    cn = np.full(1, xs.shape[0], dtype=np.int64)
    return _eval_at(xs, vs, ss, c0, cn, 1, pts)[0]


@_compile
def _max_min_columns(c, d):  # pragma: no cover - compiled
    """:func:`_max_min_line` for every column of ``c`` and ``d`` (shape ``(K, I)``)."""
    out = np.empty(c.shape[1])
    for i in range(c.shape[1]):
        out[i] = _max_min_line(np.ascontiguousarray(c[:, i]), np.ascontiguousarray(d[:, i]))
    return out


def _max_min_lines(c: NDArray[np.float64], d: NDArray[np.float64]) -> NDArray[np.float64]:
    """Upper bound on ``max_{tau in [0,1]} min_k (c[k] + d[k] tau)`` per column (the kernel's one-interval LP)."""
    return _max_min_columns(np.asarray(c, dtype=float), np.asarray(d, dtype=float))


def _eval_sorted(c: tuple[list[float], list[float], list[float]], pts: list[float]) -> list[float]:
    """Evaluate a component ``(xs, vs, ss)`` at sorted points inside its domain (the kernel's evaluation)."""
    xs, vs, ss = (np.asarray(a, dtype=float) for a in c)
    return _eval_points(xs, vs, np.append(ss, 0.0), np.asarray(pts, dtype=float)).tolist()


def _prune_strong(comps: list[tuple[list[float], list[float], list[float]]], tol: float) -> tuple[list, float]:
    """The kernel's strong pruning for components ``(xs, vs, ss)`` on a common domain.

    Returns the kept components (in their order) and the summed excess of the
    removed ones (see :func:`_prune_strong_vals`).
    """
    pts = sorted(set().union(*[c[0] for c in comps]))
    kept, total = _prune_strong_vals(np.array([_eval_sorted(c, pts) for c in comps]), tol)
    return [comps[k] for k in kept.tolist()], float(total)


@_compile
def _concave_envelope(pts, vals):  # pragma: no cover
    """Concave upper envelope (upper hull) of components on a common domain: ``(xs, vs, ss)``."""
    top = np.empty(pts.shape[0])
    for i in range(pts.shape[0]):
        top[i] = vals[:, i].max()
    hull = np.empty(pts.shape[0], dtype=np.int64)
    nh = 0
    for i in range(pts.shape[0]):
        while nh >= 2:
            a = hull[nh - 2]
            b = hull[nh - 1]
            # drop b if it lies on/below the chord a -> i
            if (top[b] - top[a]) * (pts[i] - pts[a]) <= (top[i] - top[a]) * (pts[b] - pts[a]):
                nh -= 1
            else:
                break
        hull[nh] = i
        nh += 1
    xs = np.empty(nh)
    vs = np.empty(nh)
    ss = np.empty(max(nh - 1, 0))
    for q in range(nh):
        xs[q] = pts[hull[q]]
        vs[q] = top[hull[q]]
    for q in range(nh - 1):
        ss[q] = (vs[q + 1] - vs[q]) / (xs[q + 1] - xs[q])
    return xs, vs, ss


#: 32-bit limbs of :func:`_fsum`'s fixed-point accumulator: bit 0 of limb 0 weighs 2**-1074 (the least
#: subnormal), so limbs 0 .. 65 hold every bit of every finite double; two more take the carries.
_LIMBS = 68


@_compile
def _fsum(a):  # pragma: no cover - compiled
    """Correctly rounded sum of ``a``: the value of :func:`math.fsum`, to the bit.

    Every double is an integer times ``2**-1074``; the integers are added
    exactly in 32-bit limbs of ``int64`` (at most ``2**30`` values, so no limb
    overflows), the limbs are normalised, turned into doubles exactly
    (:func:`math.ldexp` of a value below ``2**32``) and their sum is rounded
    once by :func:`_fsum_partials`, CPython's ``math.fsum``: the correctly
    rounded (half-even) value of the exact sum, which is what ``math.fsum``
    returns for the inputs themselves.  About five times faster than the
    partials for a year of values.  Non-finite values, very long inputs and
    sums beyond ``2**1000`` take the partials directly.
    """
    n = a.shape[0]
    if n >= 1 << 30:
        return _fsum_partials(a)
    limbs = np.zeros(_LIMBS, dtype=np.int64)
    buf = np.empty(1)
    bits = buf.view(np.int64)
    for k in range(n):
        buf[0] = a[k]
        b = bits[0]
        e = (b >> 52) & 0x7FF
        if e == 0x7FF:  # inf or nan
            return _fsum_partials(a)
        mag = b & 0xFFFFFFFFFFFFF
        if e == 0:  # zero or subnormal: mag * 2**-1074
            e = 1
        else:
            mag |= 1 << 52
        if mag == 0:
            continue
        pos = e - 1  # a[k] = +-mag * 2**(pos - 1074)
        li = pos >> 5
        sh = pos & 31
        low = (mag & ((1 << (32 - sh)) - 1)) << sh  # mag * 2**sh = low + mid * 2**32 + high * 2**64
        rest = mag >> (32 - sh)
        mid = rest & 0xFFFFFFFF
        high = rest >> 32
        if b < 0:
            limbs[li] -= low
            limbs[li + 1] -= mid
            limbs[li + 2] -= high
        else:
            limbs[li] += low
            limbs[li + 1] += mid
            limbs[li + 2] += high
    _carry(limbs)
    sign = 1.0
    if limbs[_LIMBS - 1] < 0:  # a negative sum: round its magnitude (half-even rounding is symmetric)
        for i in range(_LIMBS):
            limbs[i] = -limbs[i]
        _carry(limbs)
        sign = -1.0
    if limbs[_LIMBS - 3] != 0 or limbs[_LIMBS - 2] != 0 or limbs[_LIMBS - 1] != 0:
        return _fsum_partials(a)  # |sum| >= 2**1006: ldexp could overflow
    terms = np.empty(_LIMBS - 3)
    nterm = 0
    for i in range(_LIMBS - 3):
        if limbs[i] != 0:
            terms[nterm] = math.ldexp(float(limbs[i]), 32 * i - 1074)
            nterm += 1
    return sign * _fsum_partials(terms[:nterm])


@_inline
def _carry(limbs):  # pragma: no cover - compiled
    """Carry every limb but the top one into ``[0, 2**32)`` (the value is unchanged; the top one keeps the sign)."""
    for i in range(limbs.shape[0] - 1):
        carry = limbs[i] >> 32
        limbs[i] -= carry << 32
        limbs[i + 1] += carry


@_compile
def _fsum_partials(a):  # pragma: no cover - compiled
    """Correctly rounded sum of ``a``: CPython's ``math.fsum`` (Shewchuk's partials), operation for operation."""
    p = np.empty(32)
    n = 0
    for k in range(a.shape[0]):
        x = a[k]
        i = 0
        for j in range(n):
            y = p[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                p[i] = lo
                i += 1
            x = hi
        n = i
        if x != 0.0:
            if p.shape[0] < n + 1:
                p = _grow(p, n + 1)
            p[n] = x
            n += 1
    hi = 0.0
    lo = 0.0
    if n > 0:
        n -= 1
        hi = p[n]
        # sum_exact from the top, stop when the sum becomes inexact
        while n > 0:
            x = hi
            n -= 1
            y = p[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        # half-even rounding across multiple partials
        if n > 0 and ((lo < 0.0 and p[n - 1] < 0.0) or (lo > 0.0 and p[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


@_compile
def _accounts(lam, dt, charge, discharge, s_up, s_dn, flo, lo, soc):  # pragma: no cover - compiled
    """The exact sums of :func:`solve_fleet`'s objective, in one call.

    Returns ``fsum(lam / 1000 * (discharge - charge) * dt)``, ``fsum(s_up +
    s_dn)``, the shortfall ``max(flo - soc, 0)`` per step (zeros when no floor
    lies above ``lo``), its sum and ``fsum(discharge)``: each term computed with
    the operations, in the order, of the numpy expressions they replace.
    """
    n = lam.shape[0]
    terms = np.empty(n)
    for t in range(n):
        terms[t] = lam[t] / 1000.0 * (discharge[t] - charge[t]) * dt
    profit = _fsum(terms)
    for t in range(n):
        terms[t] = s_up[t] + s_dn[t]
    slack = _fsum(terms)
    short = np.zeros(n)
    has_floor = False
    for t in range(n):
        if flo[t] > lo[t]:
            has_floor = True
            break
    if has_floor:
        for t in range(n):
            x = flo[t] - soc[t]
            short[t] = x if x >= 0.0 else 0.0  # np.maximum(x, 0.0), -0.0 included
    return profit, slack, short, _fsum(short), _fsum(discharge)


@_called
def _grow(a, need):  # pragma: no cover
    """``a`` if it holds ``need`` values, else a copy with room for at least ``need``.

    Not inlined: its callers call it only when an array is too short (rarely).
    """
    if a.shape[0] >= need:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@_called
def _add_floor_called(tx, tv, ts, n, floor, rate, ox, ov, os, o):  # pragma: no cover
    """:func:`_add_floor`, called (a floor inside the domain: a minority of the steps)."""
    return _add_floor(tx, tv, ts, n, floor, rate, ox, ov, os, o)


@_called
def _prune_step(nxb, nvb, nsb, n0, nn, nnew, ptol, ptsb, valsb, pfb, pib):  # pragma: no cover
    """:func:`_prune` of the ``nnew`` new components of a step (slots ``n0[k] .. n0[k] + nn[k]``), in the scratch given.

    Returns the number kept (indices ``pib[nnew : nnew + nk]``) and the excess.
    """
    npts = _sorted_points(nxb, n0, nn, nnew, ptsb)
    _eval_into(nxb, nvb, nsb, n0, nn, nnew, ptsb, npts, valsb)
    return _prune(valsb, nnew, npts, ptol, pfb, pib)


@_called
def _prune_strong_step(nxb, nvb, nsb, n0, nn, nnew, nk, ptol, pib):  # pragma: no cover
    """:func:`_prune_strong_vals` of the ``nk`` kept components ``pib[nnew : nnew + nk]``; the new count, the excess."""
    keep = pib[nnew : nnew + nk]
    k0s = n0[keep]
    kns = nn[keep]
    pts = _union_points(nxb, k0s, kns, nk)
    kept, ex = _prune_strong_vals(_eval_at(nxb, nvb, nsb, k0s, kns, nk, pts), ptol)
    still = keep[kept]
    for i in range(still.shape[0]):
        pib[nnew + i] = still[i]
    return still.shape[0], ex


@_called
def _envelope_step(nxb, nvb, nsb, n0, nn, nnew, nk, pib, sx, sv, ssl, used):  # pragma: no cover
    """The concave envelope of the kept components ``pib[nnew : nnew + nk]``, written to ``sx, sv, ssl`` from ``used``.

    Returns its number of breakpoints.
    """
    keep = pib[nnew : nnew + nk]
    k0s = n0[keep]
    kns = nn[keep]
    pts = _union_points(nxb, k0s, kns, nk)
    env_x, env_v, env_s = _concave_envelope(pts, _eval_at(nxb, nvb, nsb, k0s, kns, nk, pts))
    ne = env_x.shape[0]
    for k in range(ne):
        sx[used + k] = env_x[k]
        sv[used + k] = env_v[k]
    for k in range(ne - 1):
        ssl[used + k] = env_s[k]
    return ne


@_called
def _backward_steps(
    t_start, mode_start, vert_start, nw, wy, wv, ws, rev_scale, lo_a, hi_a, drive, flo, big_m, rate, max_components,
    slope_max, offsets, fp_terms, step_c0, step_nc, counts, sx, sv, ssl, c0, cn, nxb, nvb, nsb, n0, nn,
    px, pv, ps, tx, tv, ts, ptsb, valsb, pfb, pib, fstate, istate, need,
):  # pragma: no cover
    """The backward steps ``t = t_start, ..., 2`` of :func:`_dp_kernel` (``V_{t-1}`` from ``V_t``).

    No array is allocated or replaced here (in numba every such assignment in
    the loop costs reference counting, a third of the time): before a step
    the room it may need is checked, and if an array is too short the loop
    stops there and returns that step, with the sizes in ``need`` (for the
    caller to grow the arrays and call again); returns 1 when all are done.
    The running state (``span``, the allowances and the component counts) is
    kept in ``fstate`` and ``istate`` between calls.
    """
    span = fstate[0]
    prune_allow = fstate[1]
    merge_allow = fstate[2]
    used = istate[0]
    ncomp = istate[1]
    cap_step = istate[2]
    cap_count = istate[3]
    stop = 1
    for t in range(t_start, 1, -1):
        m_first = mode_start[t - 1]
        m_last = mode_start[t]
        k0 = step_c0[t]
        kn = step_nc[t]
        nnew = kn * (m_last - m_first)
        # ---- room for the step: else stop before it and say how much (the caller grows the arrays) ----
        gmax = 0
        gsum = 0
        for g in range(k0, k0 + kn):
            gmax = max(gmax, cn[g])
            gsum += cn[g]
        wmax = 0
        wsum = 0
        for m in range(m_first, m_last):
            wmax = max(wmax, nw[m])
            wsum += nw[m]
        # a clipped component has at most gn + nw + 1 breakpoints, the floor adds one
        bound = gsum * (m_last - m_first) + kn * wsum + 2 * nnew
        need[0] = gmax + wmax + 4  # px, pv, ps, tx, tv, ts
        need[1] = bound + 1  # nxb, nvb, nsb
        need[2] = nnew  # n0, nn
        need[3] = bound  # ptsb
        need[4] = nnew * bound  # valsb
        need[5] = nnew * (nnew + 1)  # pfb
        need[6] = 2 * nnew  # pib
        need[7] = used + bound  # sx, sv, ssl
        need[8] = ncomp + nnew  # c0, cn
        if (px.shape[0] < need[0] or pv.shape[0] < need[0] or ps.shape[0] < need[0] or tx.shape[0] < need[0]
                or tv.shape[0] < need[0] or ts.shape[0] < need[0] or nxb.shape[0] < need[1]
                or nvb.shape[0] < need[1] or nsb.shape[0] < need[1] or n0.shape[0] < need[2]
                or nn.shape[0] < need[2] or (nnew > 1 and (ptsb.shape[0] < need[3] or valsb.shape[0] < need[4]
                                                           or pfb.shape[0] < need[5] or pib.shape[0] < need[6]))
                or sx.shape[0] < need[7] or sv.shape[0] < need[7] or ssl.shape[0] < need[7]
                or c0.shape[0] < need[8] or cn.shape[0] < need[8]):
            stop = t
            break
        lo = lo_a[t - 2]
        hi = hi_a[t - 2]
        vscale = span + rev_scale[t - 1]
        mtol = _MERGE_RTOL * vscale
        # ---- every component with every mode ----
        q = 0
        nused = 0
        for g in range(k0, k0 + kn):
            gn = cn[g]
            for m in range(m_first, m_last):
                # ---- sup-convolution of component g with u(z) = w_m(-z), clipped to [lo, hi], to px/pv/ps
                # and then tx/tv/ts (written out here: an inlined helper counts references to its array
                # arguments at every call).  u is read from w reversed and negated (uz[q] = -wy[nu - q],
                # us[q] = -ws[nu - 1 - q]): exact.  Minkowski sum: every breakpoint is (breakpoint of g) +
                # (breakpoint of u), so positions and values cost one rounding each (no accumulation);
                # pieces of g steeper than +M are absorbed by the left slack ray, those below -M dropped ----
                g0 = c0[g]
                w0 = vert_start[m]
                nu = nw[m] - 1
                ci = 0
                while ci < gn - 1 and ssl[g0 + ci] > big_m:
                    ci += 1
                cj = ci
                while cj < gn - 1 and ssl[g0 + cj] >= -big_m:
                    cj += 1
                px[0] = sx[g0 + ci] + (-wy[w0 + nu])
                pv[0] = sv[g0 + ci] + wv[w0 + nu]
                npx = 1
                cq = 0
                while ci < cj or cq < nu:
                    if cq >= nu or (ci < cj and ssl[g0 + ci] >= -ws[w0 + nu - 1 - cq]):
                        ps[npx - 1] = ssl[g0 + ci]
                        ci += 1
                    else:
                        ps[npx - 1] = -ws[w0 + nu - 1 - cq]
                        cq += 1
                    px[npx] = sx[g0 + ci] + (-wy[w0 + nu - cq])
                    pv[npx] = sv[g0 + ci] + wv[w0 + nu - cq]
                    npx += 1
                # clip to [lo, hi] (left ray +M, right ray -M), merging nearly collinear pieces into chords
                ck = 0  # bisect right: the number of px <= lo
                chi = npx
                while ck < chi:
                    mid = (ck + chi) // 2
                    if lo < px[mid]:
                        chi = mid
                    else:
                        ck = mid + 1
                if ck == 0:
                    vlo = pv[0] - big_m * (px[0] - lo)
                elif ck == npx:
                    vlo = pv[npx - 1] - big_m * (lo - px[npx - 1])
                else:
                    vlo = pv[ck - 1] + ps[ck - 1] * (lo - px[ck - 1])
                tx[0] = lo
                tv[0] = vlo
                nt = 1
                dev = 0.0
                while hi > lo:
                    if ck < npx and px[ck] < hi:
                        cs = big_m if ck == 0 else ps[ck - 1]
                        cx = px[ck]
                        cv = pv[ck]
                        ck += 1
                        last = False
                    else:
                        if ck == 0:
                            cs = big_m
                            cv = pv[0] - big_m * (px[0] - hi)
                        elif ck == npx:
                            cs = -big_m
                            cv = pv[npx - 1] - big_m * (hi - px[npx - 1])
                        else:
                            cs = ps[ck - 1]
                            cv = pv[ck - 1] + cs * (hi - px[ck - 1])
                        cx = hi
                        last = True
                    if nt > 1:
                        s1 = ts[nt - 2]
                        if cs == s1:
                            tx[nt - 1] = cx
                            tv[nt - 1] = cv
                        else:
                            l1 = tx[nt - 1] - tx[nt - 2]
                            l2 = cx - tx[nt - 1]
                            dm = abs(cs - s1) * l1 * l2 / (l1 + l2)
                            if dm <= mtol:
                                ts[nt - 2] = (s1 * l1 + cs * l2) / (l1 + l2)
                                tx[nt - 1] = cx
                                tv[nt - 1] = cv
                                dev += dm
                            else:
                                tx[nt] = cx
                                tv[nt] = cv
                                ts[nt - 1] = cs
                                nt += 1
                    else:
                        tx[nt] = cx
                        tv[nt] = cv
                        ts[nt - 1] = cs
                        nt += 1
                    if last:
                        break
                merge_allow += dev
                fl = flo[t - 2]
                if rate <= 0.0 or fl <= tx[0]:  # no floor inside the domain: _add_floor copies
                    for k in range(nt):
                        nxb[nused + k] = tx[k]
                        nvb[nused + k] = tv[k]
                    for k in range(nt - 1):
                        nsb[nused + k] = ts[k]
                    cnt = nt
                else:
                    cnt = _add_floor_called(tx, tv, ts, nt, fl, rate, nxb, nvb, nsb, nused)
                n0[q] = nused
                nn[q] = cnt
                nused += cnt
                q += 1
        # ---- re-centre values (offsets are summed exactly afterwards) ----
        off = -np.inf
        for k in range(nused):
            if nvb[k] > off:
                off = nvb[k]
        vmin = np.inf
        if off != 0.0:
            for k in range(nused):
                v = nvb[k] - off
                nvb[k] = v
                if v < vmin:
                    vmin = v
        else:
            for k in range(nused):
                if nvb[k] < vmin:
                    vmin = nvb[k]
        offsets[t - 1] = off
        span_prev = span
        span = -vmin
        # ---- prune ----
        # the kept components are pib[nnew : nnew + nk] (the only one when nnew == 1)
        nk = 1
        ne = 0
        use_env = False
        if nnew > 1:
            ptol = _PRUNE_RTOL * (span + rev_scale[t - 1])
            nk, ex = _prune_step(nxb, nvb, nsb, n0, nn, nnew, ptol, ptsb, valsb, pfb, pib)
            prune_allow += ex
            if nk > _STRONG_PRUNE_FROM:
                # the union of the kept components' breakpoints, as in the check's proof
                nk, ex = _prune_strong_step(nxb, nvb, nsb, n0, nn, nnew, nk, ptol, pib)
                prune_allow += ex
            if nk > max_components:
                if cap_step < 0:
                    cap_step = t - 1
                    cap_count = nk
                ne = _envelope_step(nxb, nvb, nsb, n0, nn, nnew, nk, pib, sx, sv, ssl, used)
                use_env = True
        # ---- store V_{t-1} ----
        if use_env:
            nk = 1
        step_c0[t - 1] = ncomp
        step_nc[t - 1] = nk
        if use_env:  # written above
            c0[ncomp] = used
            cn[ncomp] = ne
            used += ne
            ncomp += 1
        else:
            for kk in range(nk):
                kept = pib[nnew + kk] if nnew > 1 else 0
                src = n0[kept]
                ln = nn[kept]
                for k in range(ln):
                    sx[used + k] = nxb[src + k]
                    sv[used + k] = nvb[src + k]
                for k in range(ln - 1):
                    ssl[used + k] = nsb[src + k]
                c0[ncomp] = used
                cn[ncomp] = ln
                used += ln
                ncomp += 1
        counts[t - 1] = nk
        # rounding allowance of this step (see module docstring): values cost
        # O(1) roundings of magnitude <= spans + step revenue, positions one
        # rounding of magnitude <= xmag, turned into values by slopes <= M
        wtop = -np.inf
        wbot = np.inf
        for m in range(m_first, m_last):
            wtop = max(wtop, wy[vert_start[m] + nw[m] - 1])
            wbot = min(wbot, wy[vert_start[m]])
        xmag = max(max(abs(lo), abs(hi)), max(abs(lo_a[t - 1]), abs(hi_a[t - 1]))) + abs(drive[t - 1]) + (wtop - wbot)
        floor_span = rate * max(flo[t - 2] - lo_a[t - 2], 0.0)
        fp_terms[t - 1] = span + span_prev + rev_scale[t - 1] + floor_span + xmag * slope_max

    fstate[0] = span
    fstate[1] = prune_allow
    fstate[2] = merge_allow
    istate[0] = used
    istate[1] = ncomp
    istate[2] = cap_step
    istate[3] = cap_count
    return stop


@_compile
def _dp_kernel(
    mode_start, vert_start, vy, vr, vin, vout, rev_scale,
    pm, lo_a, hi_a, drive, flo, dt, s0, eta_in, eta_out, big_m, exclusive, max_components, rate,
    wf, wi, sx, sv, ssl, c0, cn,
):  # pragma: no cover
    """Backward and forward pass on validated inputs (see :func:`solve_modes`).

    ``wf`` and ``wi`` are scratch space of at least :func:`_scratch_sizes`
    values; ``sx, sv, ssl`` (breakpoints, values, slopes of the stored
    ``V_t``) and ``c0, cn`` (their components) are storage of any length,
    grown here when too short (scratch reused between calls: fresh pages
    would cost a page fault each).

    Returns the trajectory (charge, discharge, soc, slack up, slack down),
    ``V_0(s_init)`` (the value found in step 1 plus the offsets subtracted from
    the stored ``V_t``, summed exactly), the allowance (prune, merge and
    rounding), the largest and the mean component count, the first capped
    step with its count (``-1, 0``), and the storage arrays (possibly grown).
    """
    n_t = pm.shape[0]
    n_v = vy.shape[0]
    n_m = vert_start.shape[0] - 1
    dvy = wf[0:n_v]
    dvr = wf[n_v : 2 * n_v]
    dvin = wf[2 * n_v : 3 * n_v]
    dvout = wf[3 * n_v : 4 * n_v]
    wy = wf[4 * n_v : 5 * n_v]
    wv = wf[5 * n_v : 6 * n_v]
    ws = wf[6 * n_v : 7 * n_v]
    f0 = 7 * n_v
    offsets = wf[f0 : f0 + n_t + 1]
    fp_terms = wf[f0 + n_t + 1 : f0 + 2 * n_t + 1]
    offsets[:] = 0.0
    fp_terms[:] = 0.0
    nd = wi[0:n_m]
    nw = wi[n_m : 2 * n_m]
    i0 = 2 * n_m
    step_c0 = wi[i0 : i0 + n_t + 1]
    step_nc = wi[i0 + n_t + 1 : i0 + 2 * n_t + 2]
    counts = wi[i0 + 2 * n_t + 2 : i0 + 3 * n_t + 3]
    step_c0[:] = 0
    step_nc[:] = 0
    counts[:] = 1
    _prepare_modes(vert_start, vy, vr, vin, vout, big_m, dvy, dvr, dvin, dvout, nd, wy, wv, ws, nw)
    # the shortfall penalty h_t(S) = -rate * max(0, floor_t - S) is added to the
    # stored value functions (they hold V_t + h_t); its range on the domain
    # enters the rounding allowance, its slope the largest slope
    has_floor = False
    for t in range(n_t):
        if flo[t] > lo_a[t]:
            has_floor = True
    slope_max = big_m + (rate if has_floor else 0.0)

    # stored V_t (t = 1..T): components step_c0[t] .. + step_nc[t]; component c
    # has breakpoints sx/sv[c0[c] .. + cn[c]] and slopes ss[c0[c] .. + cn[c] - 1]
    sx = _grow(sx, 8 * n_t + 64)
    sv = _grow(sv, 8 * n_t + 64)
    ssl = _grow(ssl, 8 * n_t + 64)
    c0 = _grow(c0, n_t + 16)
    cn = _grow(cn, n_t + 16)
    # new components of one step (before pruning)
    nxb = np.empty(256)
    nvb = np.empty(256)
    nsb = np.empty(256)
    n0 = np.empty(16, dtype=np.int64)
    nn = np.empty(16, dtype=np.int64)
    px = np.empty(64)
    pv = np.empty(64)
    ps = np.empty(64)
    tx = np.empty(64)
    tv = np.empty(64)
    ts = np.empty(64)

    ptsb = np.empty(64)  # pruning scratch: breakpoints, values, memo and order
    valsb = np.empty(256)
    pfb = np.empty(64)
    pib = np.empty(32, dtype=np.int64)

    # V_T = 0 (plus the need of step T) on [lo_T, hi_T]
    lo_t = lo_a[n_t - 1]
    hi_t = hi_a[n_t - 1]
    tx[0] = lo_t
    tv[0] = 0.0
    nt = 1
    if hi_t > lo_t:
        tx[1] = hi_t
        tv[1] = 0.0
        ts[0] = 0.0
        nt = 2
    cnt = _add_floor(tx, tv, ts, nt, flo[n_t - 1], rate, sx, sv, ssl, 0)
    c0[0] = 0
    cn[0] = cnt
    step_c0[n_t] = 0
    step_nc[n_t] = 1
    used = cnt
    ncomp = 1
    span = rate * max(flo[n_t - 1] - lo_a[n_t - 1], 0.0)
    fstate = np.zeros(3)  # span, prune and merge allowance
    fstate[0] = span
    istate = np.empty(4, dtype=np.int64)  # used, components, first capped step and its count
    istate[0] = used
    istate[1] = ncomp
    istate[2] = -1
    istate[3] = 0
    need = np.zeros(9, dtype=np.int64)
    t = n_t
    while t > 1:
        t = _backward_steps(
            t, mode_start, vert_start, nw, wy, wv, ws, rev_scale, lo_a, hi_a, drive, flo, big_m, rate, max_components,
            slope_max, offsets, fp_terms, step_c0, step_nc, counts, sx, sv, ssl, c0, cn, nxb, nvb, nsb, n0, nn,
            px, pv, ps, tx, tv, ts, ptsb, valsb, pfb, pib, fstate, istate, need,
        )
        if t > 1:  # grow what the next step needs, then go on
            px = _grow(px, need[0])
            pv = _grow(pv, need[0])
            ps = _grow(ps, need[0])
            tx = _grow(tx, need[0])
            tv = _grow(tv, need[0])
            ts = _grow(ts, need[0])
            nxb = _grow(nxb, need[1])
            nvb = _grow(nvb, need[1])
            nsb = _grow(nsb, need[1])
            n0 = _grow(n0, need[2])
            nn = _grow(nn, need[2])
            ptsb = _grow(ptsb, need[3])
            valsb = _grow(valsb, need[4])
            pfb = _grow(pfb, need[5])
            pib = _grow(pib, need[6])
            sx = _grow(sx, need[7])
            sv = _grow(sv, need[7])
            ssl = _grow(ssl, need[7])
            c0 = _grow(c0, need[8])
            cn = _grow(cn, need[8])
    span = fstate[0]
    prune_allow = fstate[1]
    merge_allow = fstate[2]
    cap_step = istate[2]
    cap_count = istate[3]

    # ---------------- forward pass ----------------
    charge = np.zeros(n_t)
    discharge = np.zeros(n_t)
    soc = np.zeros(n_t)
    s_up = np.zeros(n_t)
    s_dn = np.zeros(n_t)
    s = s0
    dp_local = 0.0
    for t in range(1, n_t + 1):
        m_first = mode_start[t - 1]
        m_last = mode_start[t]
        # maximise w_m(x - s) + f_k(x) over components, modes and x: the
        # breakpoints of f_k and of w_m(. - s) suffice; at the latter, w_m is
        # taken at its exact breakpoint y (not at the rounded (s + y) - s)
        best = -np.inf
        best_m = m_first
        x = 0.0
        y = 0.0
        for f in range(step_c0[t], step_c0[t] + step_nc[t]):
            fo = c0[f]
            fnum = cn[f]
            flo_x = sx[fo]
            fhi_x = sx[fo + fnum - 1]
            for m in range(m_first, m_last):
                wo = vert_start[m]
                wn = nw[m]
                for k in range(fnum):
                    yy = sx[fo + k] - s
                    # w_m(yy) with the slack rays, written out here (the innermost loop: an
                    # inlined helper would add reference counting of its array arguments)
                    if yy <= wy[wo]:
                        val = wv[wo] - big_m * (wy[wo] - yy)
                    elif yy >= wy[wo + wn - 1]:
                        val = wv[wo + wn - 1] - big_m * (yy - wy[wo + wn - 1])
                    else:
                        a_i = 0
                        b_i = wn
                        while a_i < b_i:  # bisect right
                            mid = (a_i + b_i) // 2
                            if yy < wy[wo + mid]:
                                b_i = mid
                            else:
                                a_i = mid + 1
                        a_i -= 1
                        val = wv[wo + a_i] + ws[wo + a_i] * (yy - wy[wo + a_i])
                    val = sv[fo + k] + val
                    if val > best:
                        best = val
                        best_m = m
                        x = sx[fo + k]
                        y = yy
                for k in range(wn):
                    xx = s + wy[wo + k]
                    if flo_x < xx < fhi_x:
                        a_i = 0
                        b_i = fnum
                        while a_i < b_i:  # bisect right (written out, as above)
                            mid = (a_i + b_i) // 2
                            if xx < sx[fo + mid]:
                                b_i = mid
                            else:
                                a_i = mid + 1
                        kk = a_i - 1
                        val = sv[fo + kk] + ssl[fo + kk] * (xx - sx[fo + kk]) + wv[wo + k]
                        if val > best:
                            best = val
                            best_m = m
                            x = xx
                            y = wy[wo + k]
        if t == 1:
            dp_local = best
        pmx = pm[t - 1]
        # split the move y into (P_in, P_out, slack): power first
        wo = vert_start[best_m]
        wn = nw[best_m]
        if y <= wy[wo]:
            z = wy[wo]
        elif y >= wy[wo + wn - 1]:
            z = wy[wo + wn - 1]
        else:
            z = y
        ndm = nd[best_m]
        if ndm == 1:
            pin = dvin[wo]
            pout = dvout[wo]
        else:
            a_i = 0
            b_i = ndm
            while a_i < b_i:  # bisect right
                mid = (a_i + b_i) // 2
                if z < dvy[wo + mid]:
                    b_i = mid
                else:
                    a_i = mid + 1
            kk = min(max(a_i - 1, 0), ndm - 2)
            th = (z - dvy[wo + kk]) / (dvy[wo + kk + 1] - dvy[wo + kk])
            th = min(max(th, 0.0), 1.0)
            pin = dvin[wo + kk] + th * (dvin[wo + kk + 1] - dvin[wo + kk])
            pout = dvout[wo + kk] + th * (dvout[wo + kk + 1] - dvout[wo + kk])
        sig0 = y - z
        pin = min(max(pin, 0.0), pmx)
        pout = min(max(pout, 0.0), pmx)
        if not exclusive and pin + pout > pmx:
            scale = pmx / (pin + pout)
            pin *= scale
            pout *= scale
        d_t = drive[t - 1]
        base = s + (eta_in * pin - pout / eta_out) * dt - d_t
        lo = lo_a[t - 1]
        hi = hi_a[t - 1]
        # rounding may push a full-power move an ulp across a bound: trim
        # the power (not slack) when the slack-free target was in bounds
        noise = 64.0 * _U * (abs(s) + abs(x) + abs(d_t) + pmx * dt / eta_out)
        for _ in range(4 if abs(sig0) <= noise else 0):
            if base < lo and pout > 0.0 and lo <= s + (eta_in * pin) * dt - d_t:
                new_p = min(pout - (lo - base) * eta_out / dt, np.nextafter(pout, 0.0))
                pout = max(new_p, 0.0)
            elif base > hi and pin > 0.0 and s - pout / eta_out * dt - d_t <= hi:
                new_p = min(pin - (base - hi) / (eta_in * dt), np.nextafter(pin, 0.0))
                pin = max(new_p, 0.0)
            else:
                break
            base = s + (eta_in * pin - pout / eta_out) * dt - d_t
        # slack only where the decomposition asks for it (beyond rounding
        # noise) or to absorb rounding that would otherwise violate a bound
        if lo <= base <= hi and abs(sig0) <= noise:
            sig = 0.0
        else:
            sig = x - base
        up = sig if sig > 0.0 else 0.0
        dn = -sig if sig < 0.0 else 0.0
        s_new = base + up - dn
        for _ in range(3):
            if s_new > hi:
                exc = s_new - hi
                if up >= exc:
                    up -= exc
                else:
                    dn += exc - up
                    up = 0.0
            elif s_new < lo:
                exc = lo - s_new
                if dn >= exc:
                    dn -= exc
                else:
                    up += exc - dn
                    dn = 0.0
            else:
                break
            s_new = base + up - dn
        s_new = min(max(s_new, lo), hi)
        charge[t - 1] = pin
        discharge[t - 1] = pout
        s_up[t - 1] = up
        s_dn[t - 1] = dn
        soc[t - 1] = s_new
        s = s_new

    # step 1 is evaluated in the forward pass, like a backward step
    wtop = -np.inf
    wbot = np.inf
    for m in range(mode_start[0], mode_start[1]):
        wtop = max(wtop, wy[vert_start[m] + nw[m] - 1] - wy[vert_start[m]])
    xmag = max(max(abs(s0), abs(lo_a[0])), abs(hi_a[0])) + abs(drive[0]) + wtop
    fp_terms[0] = span + rev_scale[0] + xmag * slope_max
    # offsets[k] (k = 1..T-1) was subtracted from the stored V_k, and the value
    # found in step 1 of the forward pass is V_0 minus their sum: exact sums
    offsets[n_t] = dp_local
    dp_value = _fsum(offsets[1 : n_t + 1])
    fp_allow = _FP_FACTOR * _U * _fsum(fp_terms) + 4.0 * _U * abs(dp_value)
    allowance = prune_allow + merge_allow + fp_allow
    comp_max = 0
    comp_sum = 0
    for k in range(1, n_t + 1):
        comp_max = max(comp_max, counts[k])
        comp_sum += counts[k]
    return (
        charge, discharge, soc, s_up, s_dn, dp_value, allowance, comp_max, comp_sum / n_t, cap_step, cap_count,
        sx, sv, ssl, c0, cn,
    )


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
#: Per step, ``None`` or the step revenue as modes ``(vy, vr, vin, vout)`` (see :func:`with_step_vertices`).
StepVertices = Sequence[Sequence[tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]] | None]


def with_step_vertices(modes: StepModes, vertices: StepVertices) -> StepModes:
    """``modes`` with the steps that ``vertices`` gives replaced by those (e.g. a price impact).

    Parameters
    ----------
    modes : StepModes
        The model's step revenues (:func:`step_mode_arrays`), ``T`` steps.
    vertices : sequence
        At most ``T`` entries; entry ``t`` is ``None`` (keep step ``t``) or a
        list of concave modes, each a tuple ``(vy, vr, vin, vout)`` of
        equally long sequences: increasing energy changes ``vy`` (kWh,
        driving already subtracted), the revenue ``vr`` ($) and the powers
        ``vin``/``vout`` (kW) at each vertex, linear in between
        (:func:`aggregator.price_impact.step_vertices`).

    Returns
    -------
    StepModes
        ``rev_scale`` of a replaced step covers its new revenues too (the
        rounding allowance).
    """
    ms, vs = modes.mode_start, modes.vert_start
    n_t = ms.shape[0] - 1
    entries = list(vertices)[:n_t]
    steps = [t for t, given in enumerate(entries) if given is not None]
    if not steps:
        return modes
    given = [list(entries[t]) for t in steps]
    new_modes = [mode for step in given for mode in step]  # (vy, vr, vin, vout) per given mode, in order
    new_count = np.array([len(mode[0]) for mode in new_modes], dtype=np.int64)
    total = int(new_count.sum())
    new = [np.fromiter(chain.from_iterable(mode[k] for mode in new_modes), dtype=np.float64) for k in range(4)]
    if any(arr.shape[0] != total for arr in new) or np.any(new_count < 1):
        raise ValueError("every given mode needs equally many (at least one) vy, vr, vin and vout")
    # steps of the model's modes and of the given ones; a step has either kind only, so a stable
    # sort by step puts every mode where it belongs, in its order within the step
    replaced = np.zeros(n_t, dtype=bool)
    replaced[steps] = True
    per_step = np.diff(ms)
    old_step = np.repeat(np.arange(n_t), per_step)
    old_kept = np.flatnonzero(~replaced[old_step])
    modes_given = np.array([len(step) for step in given], dtype=np.int64)
    new_step = np.repeat(np.asarray(steps, dtype=np.int64), modes_given)
    order = np.argsort(np.concatenate([old_step[old_kept], new_step]), kind="stable")
    # vertex ranges in the pool [model's vertices, given vertices]
    n_old = int(vs[-1])
    first = np.concatenate([vs[:-1][old_kept], n_old + np.cumsum(new_count) - new_count])[order]
    count = np.concatenate([np.diff(vs)[old_kept], new_count])[order]
    vert_start = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
    take = np.repeat(first - vert_start[:-1], count) + np.arange(int(vert_start[-1]))
    pool = [np.concatenate([old, add]) for old, add in
            zip((modes.vy, modes.vr, modes.vin, modes.vout), new)]
    per_step[steps] = modes_given
    rev = modes.rev_scale.copy()
    np.maximum.at(rev, np.repeat(new_step, new_count), np.abs(new[1]))  # a replaced step's rev_scale covers its new revenues
    return StepModes(
        mode_start=np.concatenate([[0], np.cumsum(per_step)]).astype(np.int64),
        vert_start=vert_start,
        vy=pool[0][take],
        vr=pool[1][take],
        vin=pool[2][take],
        vout=pool[3][take],
        rev_scale=rev,
    )


@dataclass(frozen=True, eq=False)
class ModeSolution:
    """Optimal trajectory of the DP over given step modes, and its certificate.

    Attributes
    ----------
    charge, discharge : numpy.ndarray
        ``P_in`` and ``P_out`` per step (kW).
    soc : numpy.ndarray
        State of charge at the end of each step (kWh).
    slack_up, slack_down : numpy.ndarray
        ``sigma+`` and ``sigma-`` per step (kWh).
    dp_value : float
        ``V_0(s_init)`` as computed by the backward pass (revenue of the
        modes minus slack and shortfall cost).
    allowance : float
        Pruning, merging and rounding allowance: ``dp_value + allowance`` is
        an upper bound on the optimum.
    components_max : int
    components_mean : float
        Largest and mean number of concave components of a value function.
    exact : bool
        ``False`` if the component cap forced a concave relaxation.
    """

    charge: NDArray[np.float64]
    discharge: NDArray[np.float64]
    soc: NDArray[np.float64]
    slack_up: NDArray[np.float64]
    slack_down: NDArray[np.float64]
    dp_value: float
    allowance: float
    components_max: int
    components_mean: float
    exact: bool


def _as_array(name: str, value: ArrayLike, n: int | None) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has length {arr.shape[0]}, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


@dataclass(frozen=True)
class _Inputs:
    """Validated inputs of one fleet (arrays contiguous ``float64``)."""

    pm: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    drive: NDArray[np.float64]
    flo: NDArray[np.float64]
    dt: float
    s0: float
    eta_in: float
    eta_out: float
    big_m: float
    rate: float


def _validate(
    n_t: int,
    dt: float,
    pmax: ArrayLike,
    smin: ArrayLike,
    smax: ArrayLike,
    s_init: float,
    eta_in: float,
    eta_out: float,
    penalty: float,
    driving: ArrayLike | None,
    floor: ArrayLike | None,
    shortfall_penalty: float | None,
) -> _Inputs:
    if n_t < 1:
        raise ValueError("price must have at least one step")
    pm = _as_array("pmax", pmax, n_t)
    lo_a = _as_array("smin", smin, n_t)
    hi_a = _as_array("smax", smax, n_t)
    dt = float(dt)
    eta_in = float(eta_in)
    eta_out = float(eta_out)
    big_m = float(penalty)
    s0 = float(s_init)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError("dt must be positive")
    if not (0 < eta_in <= 1 and 0 < eta_out <= 1):
        raise ValueError("efficiencies must lie in (0, 1]")
    if not (big_m > 0 and math.isfinite(big_m)):
        raise ValueError("penalty must be positive and finite")
    if not math.isfinite(s0):
        raise ValueError("s_init must be finite")
    if np.any(pm < 0):
        raise ValueError("pmax must be non-negative")
    if np.any(lo_a > hi_a):
        raise ValueError("smin must not exceed smax")
    drive = np.zeros(n_t) if driving is None else _as_array("driving", driving, n_t)
    flo = np.full(n_t, -math.inf) if floor is None else _as_array("floor", floor, n_t)
    rate = big_m if shortfall_penalty is None else float(shortfall_penalty)
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError("shortfall_penalty must be positive and finite")
    c = np.ascontiguousarray
    return _Inputs(c(pm), c(lo_a), c(hi_a), c(drive), c(flo), dt, s0, eta_in, eta_out, big_m, rate)


_scratch = threading.local()  # per thread: the kernel's scratch and storage arrays, reused between solves


def _kernel_arrays(n_t: int, n_v: int, n_m: int) -> list[NDArray]:
    """This thread's scratch ``wf, wi`` (grown to fit) and storage ``sx, sv, ssl, c0, cn`` for :func:`_dp_kernel`.

    ``wf`` holds 7 arrays of the ``n_v`` vertices and 2 of the steps, ``wi``
    2 of the ``n_m`` modes and 3 of the steps.  Reusing them saves the page
    faults of fresh memory (a sizeable part of a fleet-year's time).
    """
    arrays = getattr(_scratch, "arrays", None)
    if arrays is None:
        arrays = [np.empty(0), np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), np.empty(0),
                  np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)]
    if arrays[0].shape[0] < 7 * n_v + 2 * n_t + 1:
        arrays[0] = np.empty(7 * n_v + 2 * n_t + 1)
    if arrays[1].shape[0] < 2 * n_m + 3 * n_t + 3:
        arrays[1] = np.empty(2 * n_m + 3 * n_t + 3, dtype=np.int64)
    _scratch.arrays = arrays
    return arrays


def _mode_arrays(n_t: int) -> list[NDArray]:
    """This thread's reused space for the price taker's modes of ``n_t`` steps (``int64`` and ``float64``).

    The modes built there are read by the kernel and dropped before the next
    solve of the thread; a :class:`StepModes` given to the caller never lives there.
    """
    arrays = getattr(_scratch, "modes", None)
    if arrays is None or arrays[0].shape[0] < 3 * n_t + 2:
        arrays = [np.empty(3 * n_t + 2, dtype=np.int64), np.empty(17 * n_t)]
        _scratch.modes = arrays
    return arrays


def _run(modes: StepModes, p: _Inputs, exclusive: bool, max_components: int) -> tuple[ModeSolution, float]:
    """The compiled backward and forward pass (with the exact sums of the offsets and the allowance terms)."""
    i64 = [np.ascontiguousarray(a, dtype=np.int64) for a in (modes.mode_start, modes.vert_start)]
    f64 = [np.ascontiguousarray(a, dtype=np.float64) for a in (modes.vy, modes.vr, modes.vin, modes.vout, modes.rev_scale)]
    arrays = _kernel_arrays(p.pm.shape[0], f64[0].shape[0], i64[1].shape[0] - 1)
    (charge, discharge, soc, s_up, s_dn, dp_value, allowance, comp_max, comp_mean, cap_step, cap_count,
     *storage) = _dp_kernel(
        *i64, *f64,
        p.pm, p.lo, p.hi, p.drive, p.flo, p.dt, p.s0, p.eta_in, p.eta_out, p.big_m, bool(exclusive),
        int(max_components), p.rate, *arrays,
    )
    arrays[2:] = storage  # grown ones are kept for the next solve
    if cap_step >= 0:
        warnings.warn(
            f"exact_dp: {cap_count} value-function components at step {cap_step} "
            f"exceed max_components={max_components}; using a concave "
            "relaxation of the value function there (bound stays valid, "
            "solution may be suboptimal, see FleetSolution.exact)",
            RuntimeWarning,
            stacklevel=3,
        )
    sol = ModeSolution(
        charge=charge,
        discharge=discharge,
        soc=soc,
        slack_up=s_up,
        slack_down=s_dn,
        dp_value=dp_value,
        allowance=allowance,
        components_max=int(comp_max),
        components_mean=float(comp_mean),
        exact=cap_step < 0,
    )
    return sol, dp_value + allowance


def solve_modes(
    modes: StepModes,
    dt: float,
    pmax: ArrayLike,
    smin: ArrayLike,
    smax: ArrayLike,
    s_init: float,
    eta_in: float,
    eta_out: float,
    penalty: float,
    exclusive: bool = True,
    max_components: int = 256,
    driving: ArrayLike | None = None,
    floor: ArrayLike | None = None,
    shortfall_penalty: float | None = None,
) -> ModeSolution:
    """Solve the DP for step revenues given as modes (e.g. with a price impact).

    The caller's :class:`StepModes` replace :func:`step_mode_arrays`; the
    other arguments are those of :func:`solve_fleet` (``pmax``, the
    efficiencies and ``driving`` are used by the forward pass to turn a move
    into powers and the state of charge; the modes must already include the
    driving shift and any wear).  The caller recomputes its objective from
    the returned dispatch; ``dp_value + allowance`` bounds it.

    Parameters
    ----------
    modes : StepModes
        The one-step revenues, ``T`` steps.
    dt, pmax, smin, smax, s_init, eta_in, eta_out, penalty, exclusive, max_components, driving, floor, shortfall_penalty
        As for :func:`solve_fleet`.

    Returns
    -------
    ModeSolution

    Raises
    ------
    ValueError
        On inconsistent or out-of-range inputs.
    """
    n_t = modes.mode_start.shape[0] - 1
    modes.check(n_t)
    p = _validate(n_t, dt, pmax, smin, smax, s_init, eta_in, eta_out, penalty, driving, floor, shortfall_penalty)
    return _run(modes, p, exclusive, max_components)[0]


def solve_fleet(
    price: ArrayLike,
    dt: float,
    pmax: ArrayLike,
    smin: ArrayLike,
    smax: ArrayLike,
    s_init: float,
    eta_in: float,
    eta_out: float,
    penalty: float,
    exclusive: bool = True,
    max_components: int = 256,
    driving: ArrayLike | None = None,
    floor: ArrayLike | None = None,
    shortfall_penalty: float | None = None,
    wear_cost: float = 0.0,
    vertices: StepVertices | None = None,
) -> FleetSolution:
    """Solve the single-fleet arbitrage MILP exactly.

    Parameters
    ----------
    price : array_like
        Energy price per step ($/MWh), length ``T``; may be negative.
    dt : float
        Step length (h), ``> 0``.
    pmax : array_like
        Available charge/discharge power per step (kW), ``>= 0``; a scalar is
        broadcast.
    smin, smax : array_like
        Bounds on the state of charge at the end of each step (kWh),
        ``smin <= smax``; scalars are broadcast.
    s_init : float
        Initial state of charge ``S_0`` (kWh); not bounded.
    eta_in, eta_out : float
        Charging and discharging efficiencies in ``(0, 1]``.
    penalty : float
        Slack penalty ``M`` ($/kWh), ``> 0``.
    exclusive : bool, default True
        If ``True`` charging and discharging are mutually exclusive (binary
        ``u_t``); otherwise ``P_in + P_out <= pmax``.
    max_components : int, default 256
        Safety cap on concave components per value function; beyond it a
        concave relaxation is used and ``exact`` becomes ``False``.
    driving : array_like, optional
        Energy that leaves the battery in each step without passing the
        charger (driving, kWh), subtracted in the balance; default 0.
    floor : array_like, optional
        Soft floor on the state of charge at the end of each step (kWh):
        ``shortfall_t = max(0, floor_t - S_t)`` is priced at
        ``shortfall_penalty``; default: no floor.
    shortfall_penalty : float, optional
        Price of shortfall energy ($/kWh, ``> 0``); default: ``penalty``.
    wear_cost : float, default 0
        Battery wear in $ per kWh discharged, battery side
        (``P_out dt / eta_out``), ``>= 0``.
    vertices : sequence, optional
        Per step, ``None`` (the step revenue of the model above) or the step
        revenue itself as the maximum of concave modes, each a tuple
        ``(vy, vr, vin, vout)`` (see :func:`with_step_vertices`).
        ``objective`` and ``profit`` stay the documented model's
        (price-taker) valuation of the returned powers; ``dp_value`` and
        ``bound`` are those of the given step revenue.

    Returns
    -------
    FleetSolution
        Trajectory, objective, certified upper bound and diagnostics.

    Raises
    ------
    ValueError
        On inconsistent or out-of-range inputs.
    """
    lam = _as_array("price", price, None)
    p = _validate(lam.shape[0], dt, pmax, smin, smax, s_init, eta_in, eta_out, penalty, driving, floor, shortfall_penalty)
    wear = float(wear_cost)
    if not (wear >= 0 and math.isfinite(wear)):
        raise ValueError("wear_cost must be non-negative and finite")
    n_t = lam.shape[0]
    modes = _step_modes(lam, p.dt, p.pm, p.eta_in, p.eta_out, exclusive, wear, p.drive, _mode_arrays(n_t))
    if vertices is not None:  # a given step revenue (price impact): its modes replace the model's
        modes = with_step_vertices(modes, vertices)
    sol, bound = _run(modes, p, exclusive, max_components)
    dt = p.dt
    discharge = sol.discharge
    profit, slack, short, short_sum, discharged = _accounts(
        lam, dt, sol.charge, discharge, sol.slack_up, sol.slack_down, p.flo, p.lo, sol.soc
    )
    pen = p.big_m * slack
    short_cost = p.rate * short_sum
    wear_total = wear * dt / p.eta_out * discharged
    return FleetSolution(
        charge=sol.charge,
        discharge=discharge,
        soc=sol.soc,
        slack_up=sol.slack_up,
        slack_down=sol.slack_down,
        objective=profit - pen - wear_total - short_cost,
        profit=profit,
        penalty=pen,
        shortfall=short,
        shortfall_cost=short_cost,
        wear=wear_total,
        bound=bound,
        components_max=sol.components_max,
        components_mean=sol.components_mean,
        dp_value=sol.dp_value,
        allowance=sol.allowance,
        exact=sol.exact,
    )
