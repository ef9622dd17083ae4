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

If more than ``max_components`` components survive pruning in some step (never
observed: the study data need at most 15, random adversarial series about 10),
the value function is replaced by its concave upper envelope there and a
``RuntimeWarning`` is issued: the bound stays valid (it is then the bound of a
relaxation), the trajectory stays feasible but may be suboptimal, ``exact`` is
``False`` and ``bound - objective`` reports the possible loss.
"""

from __future__ import annotations

import gc
import math
import warnings
from bisect import bisect_right
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FleetSolution", "solve_fleet"]

_U = float(np.finfo(float).eps) / 2.0  # unit round-off
_PRUNE_RTOL = 1e-12
_MERGE_RTOL = 1e-14
_FP_FACTOR = 8.0  # roundings per step charged in the rounding allowance
_STRONG_PRUNE_FROM = 8  # use the (costlier) strong pruning above this count

# A component: (xs, vs, ss) -- breakpoints (sorted, absolute kWh), values ($)
# and slopes ($/kWh) of the len(xs) - 1 segments.
_Comp = tuple[list[float], list[float], list[float]]


@dataclass(frozen=True, eq=False)
class FleetSolution:
    """Optimal schedule of one fleet and its certificate.

    Attributes
    ----------
    charge, discharge : numpy.ndarray
        ``P_in`` and ``P_out`` per step (kW), length ``T``.
    soc : numpy.ndarray
        State of charge ``S_1 .. S_T`` at the end of each step (kWh).
    slack_up, slack_down : numpy.ndarray
        ``sigma+`` and ``sigma-`` per step (kWh).
    objective : float
        ``profit - penalty - wear - shortfall_cost`` of the returned
        trajectory ($).
    profit : float
        ``sum lambda/1000 (P_out - P_in) dt`` ($).
    penalty : float
        ``M * sum (sigma+ + sigma-)`` ($).
    shortfall : numpy.ndarray
        ``max(0, floor_t - S_t)`` per step (kWh); zeros without a floor.
    shortfall_cost : float
        ``shortfall_penalty * sum shortfall`` ($).
    wear : float
        ``wear_cost * sum P_out dt / eta_out`` ($).
    bound : float
        Upper bound on the optimal objective: DP value plus allowances for
        pruning, merging and rounding (see module docstring).
    components_max : int
        Largest number of concave components of a value function.
    components_mean : float
        Mean number of components over the steps.
    dp_value : float
        ``V_0(s_init)`` as computed by the backward pass.
    allowance : float
        ``bound - dp_value``.
    exact : bool
        ``False`` if the component cap forced a concave relaxation.
    """

    charge: NDArray[np.float64]
    discharge: NDArray[np.float64]
    soc: NDArray[np.float64]
    slack_up: NDArray[np.float64]
    slack_down: NDArray[np.float64]
    objective: float
    profit: float
    penalty: float
    shortfall: NDArray[np.float64]
    shortfall_cost: float
    wear: float
    bound: float
    components_max: int
    components_mean: float
    dp_value: float
    allowance: float
    exact: bool

    @property
    def gap(self) -> float:
        """Certified relative gap ``(bound - objective) / max(|bound|, 1)``."""
        return (self.bound - self.objective) / max(abs(self.bound), 1.0)


# --------------------------------------------------------------------------
# one-step revenue
# --------------------------------------------------------------------------
class _Mode:
    """One concave mode of the one-step revenue ``w_t`` (with slack)."""

    __slots__ = ("vy", "vin", "vout", "wy", "wv", "ws", "uz", "uv", "us")

    def __init__(
        self,
        vy: list[float],
        vr: list[float],
        vin: list[float],
        vout: list[float],
        big_m: float,
    ) -> None:
        # power vertices (increasing y) with their revenue and powers; drop
        # coincident vertices (only possible for vanishing or underflowing
        # pmax), keeping the more profitable one
        k = 1 if any(vy[i + 1] <= vy[i] for i in range(len(vy) - 1)) else len(vy)
        while k < len(vy):
            if vy[k] <= vy[k - 1]:
                drop = k if vr[k] <= vr[k - 1] else k - 1
                vy, vr = vy[:drop] + vy[drop + 1 :], vr[:drop] + vr[drop + 1 :]
                vin, vout = vin[:drop] + vin[drop + 1 :], vout[:drop] + vout[drop + 1 :]
            else:
                k += 1
        self.vy = vy
        self.vin = vin
        self.vout = vout
        slopes = [(vr[i + 1] - vr[i]) / (vy[i + 1] - vy[i]) for i in range(len(vy) - 1)]
        n = len(slopes)
        i = 0
        while i < n and slopes[i] > big_m:  # absorbed by the +M slack ray
            i += 1
        j = i
        while j < n and slopes[j] >= -big_m:  # beyond: -M slack ray is better
            j += 1
        # finite part of w (between the slack rays)
        self.wy = vy[i : j + 1]
        self.wv = vr[i : j + 1]
        self.ws = slopes[i:j]
        # u(z) = w(-z): breakpoints, values and slopes reversed and negated
        self.uz = [-y for y in reversed(self.wy)]
        self.uv = self.wv[::-1]
        self.us = [-s for s in reversed(self.ws)]

    def value(self, y: float, big_m: float) -> float:
        """Evaluate ``w_mode(y)`` including the slack rays."""
        wy = self.wy
        if y <= wy[0]:
            return self.wv[0] - big_m * (wy[0] - y)
        if y >= wy[-1]:
            return self.wv[-1] - big_m * (y - wy[-1])
        k = bisect_right(wy, y) - 1
        return self.wv[k] + self.ws[k] * (y - wy[k])

    def decompose(self, y: float) -> tuple[float, float, float]:
        """Split an energy change ``y`` into ``(P_in, P_out, slack)``."""
        wy = self.wy
        if y <= wy[0]:
            z = wy[0]
        elif y >= wy[-1]:
            z = wy[-1]
        else:
            z = y
        vy = self.vy
        if len(vy) == 1:
            return self.vin[0], self.vout[0], y - z
        k = min(max(bisect_right(vy, z) - 1, 0), len(vy) - 2)
        th = (z - vy[k]) / (vy[k + 1] - vy[k])
        th = min(max(th, 0.0), 1.0)
        pin = self.vin[k] + th * (self.vin[k + 1] - self.vin[k])
        pout = self.vout[k] + th * (self.vout[k + 1] - self.vout[k])
        return pin, pout, y - z


def _step_modes(
    lam: float,
    pmax: float,
    dt: float,
    eta_in: float,
    eta_out: float,
    big_m: float,
    exclusive: bool,
    wear: float = 0.0,
    drive: float = 0.0,
) -> list[_Mode]:
    """Concave modes whose maximum is the one-step revenue ``w_t``.

    ``wear`` ($/kWh) is charged on the battery-side discharge ``P_out dt /
    eta_out``, which lowers the value of the full-discharge vertex by
    ``wear * b``.  ``drive`` (kWh) is the known energy that leaves the battery
    in the step: it shifts every vertex by ``-drive`` (``x - S = y - drive``).
    """
    if pmax <= 0.0:
        return [_Mode([-drive], [0.0], [0.0], [0.0], big_m)]
    a = eta_in * pmax * dt
    b = pmax * dt / eta_out
    e = lam * pmax * dt / 1000.0  # revenue of a full-power discharge
    vd = e - wear * b if wear > 0.0 else e  # value of the full-discharge vertex
    vc = -e  # value of the full-charge vertex
    # concave iff the idle vertex (0, 0) lies on or above the chord from
    # (-b, vd) to (a, vc), i.e. vd * a + vc * b <= 0; for lam >= 0 this always
    # holds (eta_in * eta_out <= 1), for lam < 0 iff
    # wear >= |lam| / 1000 * (1 / eta_in - eta_out)
    concave = lam >= 0.0 or (wear > 0.0 and vd * a + vc * b <= 0.0)
    if drive != 0.0:
        ys = [-b - drive, -drive, a - drive]
    else:
        ys = [-b, 0.0, a]
    if concave:
        return [_Mode(ys, [vd, 0.0, vc], [0.0, 0.0, pmax], [pmax, 0.0, 0.0], big_m)]
    if not exclusive:  # concave envelope: simultaneous charge/discharge
        return [_Mode([ys[0], ys[2]], [vd, vc], [0.0, pmax], [pmax, 0.0], big_m)]
    return [
        _Mode([ys[1], ys[2]], [0.0, vc], [0.0, pmax], [0.0, 0.0], big_m),
        _Mode([ys[0], ys[1]], [vd, 0.0], [0.0, 0.0], [pmax, 0.0], big_m),
    ]


def _add_floor(c: _Comp, floor: float, rate: float) -> _Comp:
    """Add the shortfall penalty ``-rate * max(0, floor - x)`` to a component.

    The penalty is concave, so the sum stays concave; a breakpoint is
    inserted at ``floor`` when it lies inside the domain.
    """
    xs, vs, ss = c
    if rate <= 0.0 or floor <= xs[0]:
        return c
    nx: list[float] = []
    nv: list[float] = []
    ns: list[float] = []
    for k, x in enumerate(xs):
        if k > 0:
            x0 = xs[k - 1]
            if x0 < floor < x:  # split the segment at the floor
                ns.append(ss[k - 1] + rate)
                nx.append(floor)
                nv.append(vs[k - 1] + ss[k - 1] * (floor - x0))
                ns.append(ss[k - 1])
            elif x <= floor:
                ns.append(ss[k - 1] + rate)
            else:
                ns.append(ss[k - 1])
        nx.append(x)
        nv.append(vs[k] - rate * (floor - x) if x < floor else vs[k])
    return (nx, nv, ns)


# --------------------------------------------------------------------------
# PWL primitives
# --------------------------------------------------------------------------
def _convolve_clip(
    g: _Comp, m: _Mode, lo: float, hi: float, big_m: float, mtol: float
) -> tuple[_Comp, float]:
    """Sup-convolution ``(g [] u_m)`` restricted to ``[lo, hi]``.

    Returns the new component and the total deviation of the chord merges.
    """
    gx, gv, gs = g
    n = len(gs)
    i = 0
    while i < n and gs[i] > big_m:
        i += 1
    j = i
    while j < n and gs[j] >= -big_m:
        j += 1
    # Minkowski sum: every breakpoint is (breakpoint of g) + (breakpoint of
    # u), so positions and values cost one rounding each (no accumulation).
    uz = m.uz
    uv = m.uv
    us = m.us
    px = [gx[i] + uz[0]]
    pv = [gv[i] + uv[0]]
    ps: list[float] = []
    q = 0
    nu = len(us)
    while i < j or q < nu:
        if q >= nu or (i < j and gs[i] >= us[q]):
            ps.append(gs[i])
            i += 1
        else:
            ps.append(us[q])
            q += 1
        px.append(gx[i] + uz[q])
        pv.append(gv[i] + uv[q])

    # ---- clip to [lo, hi] (left ray +M, right ray -M) ----
    npx = len(px)
    k = bisect_right(px, lo)
    if k == 0:
        vlo = pv[0] - big_m * (px[0] - lo)
    elif k == npx:
        vlo = pv[-1] - big_m * (lo - px[-1])
    else:
        vlo = pv[k - 1] + ps[k - 1] * (lo - px[k - 1])
    xs = [lo]
    vs = [vlo]
    ss: list[float] = []
    if not hi > lo:
        return (xs, vs, ss), 0.0
    dev = 0.0
    while True:
        if k < npx and px[k] < hi:
            s = big_m if k == 0 else ps[k - 1]
            nx = px[k]
            nv = pv[k]
            k += 1
            last = False
        else:
            if k == 0:
                s = big_m
                nv = pv[0] - big_m * (px[0] - hi)
            elif k == npx:
                s = -big_m
                nv = pv[-1] - big_m * (hi - px[-1])
            else:
                s = ps[k - 1]
                nv = pv[k - 1] + s * (hi - px[k - 1])
            nx = hi
            last = True
        if ss:
            s1 = ss[-1]
            if s == s1:
                xs[-1] = nx
                vs[-1] = nv
            else:
                l1 = xs[-1] - xs[-2]
                l2 = nx - xs[-1]
                d = abs(s - s1) * l1 * l2 / (l1 + l2)
                if d <= mtol:
                    ss[-1] = (s1 * l1 + s * l2) / (l1 + l2)
                    xs[-1] = nx
                    vs[-1] = nv
                    dev += d
                else:
                    xs.append(nx)
                    vs.append(nv)
                    ss.append(s)
        else:
            xs.append(nx)
            vs.append(nv)
            ss.append(s)
        if last:
            break
    return (xs, vs, ss), dev


def _eval_sorted(c: _Comp, pts: list[float]) -> list[float]:
    """Evaluate a component at sorted points inside its domain."""
    xs, vs, ss = c
    out = []
    k = 0
    last = len(ss) - 1
    for p in pts:
        while k < last and xs[k + 1] <= p:
            k += 1
        if last < 0:
            out.append(vs[0])
        else:
            out.append(vs[k] + ss[k] * (p - xs[k]))
    return out


def _prune(comps: list[_Comp], tol: float) -> tuple[list[_Comp], float]:
    """Drop components dominated (within ``tol``) by another component.

    All components share the same domain.  Returns the kept components and
    the largest measured excess of a dropped component over the kept ones.
    """
    if len(comps) == 1:
        return comps, 0.0
    pts = sorted(set().union(*[c[0] for c in comps]))
    vals = np.array([_eval_sorted(c, pts) for c in comps])
    # diff[i, j] = max_p (f_i - f_j)
    if vals.size * len(comps) <= 1 << 20:
        diff = (vals[:, None, :] - vals[None, :, :]).max(axis=2)
    else:  # many components: row by row to bound memory
        diff = np.array([(row - vals).max(axis=1) for row in vals])
    order = np.argsort(-vals.max(axis=1), kind="stable")
    keep: list[int] = []
    for i in order:
        if any(diff[i, k] <= tol for k in keep):
            continue
        keep = [k for k in keep if diff[k, i] > tol]
        keep.append(int(i))
    excess = 0.0
    if len(keep) < len(comps):
        kept = np.array(keep)
        dropped = np.setdiff1d(np.arange(len(comps)), kept)
        excess = float(diff[np.ix_(dropped, kept)].min(axis=1).max())
    return [comps[k] for k in keep], max(excess, 0.0)


def _max_min_lines(c: NDArray[np.float64], d: NDArray[np.float64]) -> NDArray[np.float64]:
    """Upper bound on ``max_{tau in [0,1]} min_k (c[k] + d[k] tau)`` per column.

    ``c`` and ``d`` have shape ``(K, I)``: ``K`` lines on each of ``I``
    intervals.  With ``A`` the minimum of the non-decreasing lines and ``B``
    that of the decreasing ones, ``A - B`` is increasing; the maximum of
    ``min(A, B)`` is ``A(1)`` if ``A(1) <= B(1)``, ``B(0)`` if
    ``A(0) >= B(0)``, and otherwise ``A = B`` at a crossing found by
    bisection, bracketed by ``[lo, hi]``, and bounded above by
    ``min(A(hi), B(lo))``.  The result is exact up to rounding and never
    below the true maximum.
    """
    inc = d >= 0.0
    inf = np.inf

    def env_a(tau: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(inc, c + d * tau, inf).min(axis=0)

    def env_b(tau: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(inc, inf, c + d * tau).min(axis=0)

    n_i = c.shape[1]
    zero = np.zeros(n_i)
    one = np.ones(n_i)
    a1, b1, a0, b0 = env_a(one), env_b(one), env_a(zero), env_b(zero)
    out = np.where(a1 <= b1, a1, b0)
    cross = (a1 > b1) & (a0 < b0)
    if np.any(cross):
        cc, dd, ii = c[:, cross], d[:, cross], inc[:, cross]
        lo = np.zeros(cc.shape[1])
        hi = np.ones(cc.shape[1])
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            vals = cc + dd * mid
            g = np.where(ii, vals, inf).min(axis=0) - np.where(ii, inf, vals).min(axis=0)
            below = g < 0.0
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        a_hi = np.where(ii, cc + dd * hi, inf).min(axis=0)
        b_lo = np.where(ii, inf, cc + dd * lo).min(axis=0)
        out[cross] = np.minimum(a_hi, b_lo)
    return out


def _prune_strong(comps: list[_Comp], tol: float) -> tuple[list[_Comp], float]:
    """Drop components dominated (within ``tol``) by the maximum of the others.

    The check is exact for PWL functions: on every interval between
    consecutive breakpoints all components are linear.  If one other
    component lies above a candidate at both ends of an interval, that bounds
    the excess there; otherwise the largest excess ``max_x p(x) - max_k
    f_k(x)`` on the interval is a one-dimensional LP
    (:func:`_max_min_lines`).  Components are removed one at a time, each
    removal lowers the maximum by at most its measured excess; the sum is
    returned.
    """
    pts = sorted(set().union(*[c[0] for c in comps]))
    vals = np.array([_eval_sorted(c, pts) for c in comps])
    alive = list(range(len(comps)))
    total = 0.0
    for p in np.argsort(vals.max(axis=1), kind="stable"):
        p = int(p)
        others = [k for k in alive if k != p]
        if not others:
            break
        vo = vals[others]
        # quick accept: p exceeds the others at some breakpoint
        ex = float((vals[p] - vo.max(axis=0)).max())
        if ex > tol:
            continue
        if len(pts) > 1:
            c = vals[p, :-1] - vo[:, :-1]
            e = vals[p, 1:] - vo[:, 1:]
            ub = np.maximum(c, e).min(axis=0)  # best single dominating line
            hard = ub > tol
            if np.any(hard):
                ub[hard] = _max_min_lines(c[:, hard], (e - c)[:, hard])
            ex = float(ub.max())
        if ex <= tol:
            alive = others
            total += max(ex, 0.0)
    return [comps[k] for k in alive], total


def _concave_envelope(comps: list[_Comp]) -> _Comp:
    """Concave upper envelope (upper hull) of components on a common domain."""
    pts = sorted(set().union(*[c[0] for c in comps]))
    vals = np.array([_eval_sorted(c, pts) for c in comps]).max(axis=0)
    hull: list[int] = []
    for i in range(len(pts)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b if it lies on/below the chord a -> i
            if (vals[b] - vals[a]) * (pts[i] - pts[a]) <= (vals[i] - vals[a]) * (pts[b] - pts[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    xs = [pts[i] for i in hull]
    vs = [float(vals[i]) for i in hull]
    ss = [(vs[i + 1] - vs[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
    return (xs, vs, ss)


def _best_move(
    comps: list[_Comp], modes: list[_Mode], s: float, big_m: float
) -> tuple[float, int, float, float]:
    """Maximise ``w_m(x - s) + f_k(x)`` over components, modes and ``x``.

    The objective is PWL in ``x``, so the breakpoints of ``f_k`` and of
    ``w_m(. - s)`` suffice.  At the latter, ``w_m`` is taken at its exact
    breakpoint ``y`` (not at the rounded ``(s + y) - s``).  Returns the value,
    the mode index, ``x`` and the move ``y``.
    """
    best = -math.inf
    best_m = 0
    best_x = best_y = 0.0
    for f in comps:
        fx, fv, fs = f
        lo = fx[0]
        hi = fx[-1]
        for mi, m in enumerate(modes):
            for x, v in zip(fx, fv):
                y = x - s
                val = v + m.value(y, big_m)
                if val > best:
                    best, best_m, best_x, best_y = val, mi, x, y
            for y, wv in zip(m.wy, m.wv):
                x = s + y
                if lo < x < hi:
                    k = bisect_right(fx, x) - 1
                    val = fv[k] + fs[k] * (x - fx[k]) + wv
                    if val > best:
                        best, best_m, best_x, best_y = val, mi, x, y
    return best, best_m, best_x, best_y


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
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
    vertices: Sequence[Sequence[tuple[list[float], list[float], list[float], list[float]]] | None] | None = None,
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
        ``(vy, vr, vin, vout)`` of lists: increasing energy changes ``vy``
        (kWh, driving already subtracted), the revenue ``vr`` ($) and the
        powers ``vin``/``vout`` (kW) at each vertex, linear in between
        (:func:`aggregator.price_impact.step_vertices`).  ``objective`` and
        ``profit`` stay the documented model's (price-taker) valuation of the
        returned powers; ``dp_value`` and ``bound`` are those of the given
        step revenue.

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
    n_t = lam.shape[0]
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
    wear = float(wear_cost)
    if not (wear >= 0 and math.isfinite(wear)):
        raise ValueError("wear_cost must be non-negative and finite")

    # The DP allocates many small lists and no reference cycles; the cyclic
    # garbage collector would repeatedly traverse them (about 40 % run time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _solve(
            lam, pm, lo_a, hi_a, dt, s0, eta_in, eta_out, big_m, exclusive, max_components, drive, flo, rate, wear,
            vertices,
        )
    finally:
        if gc_was_enabled:
            gc.enable()


def _solve(
    lam: NDArray[np.float64],
    pm: NDArray[np.float64],
    lo_a: NDArray[np.float64],
    hi_a: NDArray[np.float64],
    dt: float,
    s0: float,
    eta_in: float,
    eta_out: float,
    big_m: float,
    exclusive: bool,
    max_components: int,
    drive: NDArray[np.float64],
    flo: NDArray[np.float64],
    rate: float,
    wear: float,
    vertices: Sequence | None = None,
) -> FleetSolution:
    """Backward and forward pass on validated inputs (see :func:`solve_fleet`)."""
    n_t = lam.shape[0]
    lam_l = lam.tolist()
    pm_l = pm.tolist()
    lo_l = lo_a.tolist()
    hi_l = hi_a.tolist()
    dr_l = drive.tolist()
    fl_l = flo.tolist()
    modes_all = [
        _step_modes(lam_l[t], pm_l[t], dt, eta_in, eta_out, big_m, exclusive, wear, dr_l[t])
        for t in range(n_t)
    ]
    if vertices is not None:  # a given step revenue (price impact): its modes replace the model's
        for t, given in enumerate(vertices):
            if given is not None:
                modes_all[t] = [_Mode(list(vy), list(vr), list(vi), list(vo), big_m) for vy, vr, vi, vo in given]
    step_rev = (np.abs(lam * pm * dt / 1000.0) + wear * pm * dt / eta_out).tolist()
    # the shortfall penalty h_t(S) = -rate * max(0, floor_t - S) is added to the
    # stored value functions (they hold V_t + h_t); its range on the domain
    # enters the rounding allowance, its slope the largest slope
    has_floor = bool(np.any(flo > lo_a))
    floor_span = (rate * np.maximum(flo - lo_a, 0.0)).tolist()
    slope_max = big_m + (rate if has_floor else 0.0)

    # ---------------- backward pass ----------------
    # stored[t] holds the components of V_t (t = 1..T), values relative to
    # offsets[t]; stored[0] is unused.
    stored: list[list[_Comp]] = [[] for _ in range(n_t + 1)]
    offsets = [0.0] * (n_t + 1)
    lo_t, hi_t = lo_l[-1], hi_l[-1]
    if hi_t > lo_t:
        stored[n_t] = [_add_floor(([lo_t, hi_t], [0.0, 0.0], [0.0]), fl_l[-1], rate)]
    else:
        stored[n_t] = [_add_floor(([lo_t], [0.0], []), fl_l[-1], rate)]
    prune_allow = 0.0
    merge_allow = 0.0
    fp_terms: list[float] = []
    counts = [1] * (n_t + 1)
    exact = True
    span = floor_span[-1]
    for t in range(n_t, 1, -1):
        comps = stored[t]
        modes = modes_all[t - 1]
        lo = lo_l[t - 2]
        hi = hi_l[t - 2]
        vscale = span + step_rev[t - 1]
        mtol = _MERGE_RTOL * vscale
        new: list[_Comp] = []
        for g in comps:
            for m in modes:
                c, d = _convolve_clip(g, m, lo, hi, big_m, mtol)
                merge_allow += d
                new.append(_add_floor(c, fl_l[t - 2], rate) if has_floor else c)
        # re-centre values (offset kept exactly-summed later)
        off = max(max(c[1]) for c in new)
        if off != 0.0:
            for c in new:
                vs = c[1]
                for k in range(len(vs)):
                    vs[k] -= off
        offsets[t - 1] = off
        span_prev = span
        span = -min(min(c[1]) for c in new)
        if len(new) > 1:
            ptol = _PRUNE_RTOL * (span + step_rev[t - 1])
            new, ex = _prune(new, ptol)
            prune_allow += ex
            if len(new) > _STRONG_PRUNE_FROM:
                new, ex = _prune_strong(new, ptol)
                prune_allow += ex
            if len(new) > max_components:
                if exact:
                    warnings.warn(
                        f"exact_dp: {len(new)} value-function components at step {t - 1} "
                        f"exceed max_components={max_components}; using a concave "
                        "relaxation of the value function there (bound stays valid, "
                        "solution may be suboptimal, see FleetSolution.exact)",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                new = [_concave_envelope(new)]
                exact = False
        counts[t - 1] = len(new)
        # rounding allowance of this step (see module docstring): values cost
        # O(1) roundings of magnitude <= spans + step revenue, positions one
        # rounding of magnitude <= xmag, turned into values by slopes <= M
        xmag = max(abs(lo), abs(hi), abs(lo_l[t - 1]), abs(hi_l[t - 1])) + abs(dr_l[t - 1]) + (
            max(m.wy[-1] for m in modes) - min(m.wy[0] for m in modes)
        )
        fp_terms.append(span + span_prev + step_rev[t - 1] + floor_span[t - 2] + xmag * slope_max)
        stored[t - 1] = new

    # ---------------- forward pass ----------------
    charge = np.zeros(n_t)
    discharge = np.zeros(n_t)
    soc = np.zeros(n_t)
    s_up = np.zeros(n_t)
    s_dn = np.zeros(n_t)
    s = s0
    dp_local = 0.0
    for t in range(1, n_t + 1):
        modes = modes_all[t - 1]
        best, mi, x, y = _best_move(stored[t], modes, s, big_m)
        if t == 1:
            dp_local = best
        pmx = pm_l[t - 1]
        pin, pout, _sig = modes[mi].decompose(y)
        pin = min(max(pin, 0.0), pmx)
        pout = min(max(pout, 0.0), pmx)
        if not exclusive and pin + pout > pmx:
            scale = pmx / (pin + pout)
            pin *= scale
            pout *= scale
        d_t = dr_l[t - 1]
        base = s + (eta_in * pin - pout / eta_out) * dt - d_t
        lo = lo_l[t - 1]
        hi = hi_l[t - 1]
        # rounding may push a full-power move an ulp across a bound: trim
        # the power (not slack) when the slack-free target was in bounds
        noise = 64.0 * _U * (abs(s) + abs(x) + abs(d_t) + pmx * dt / eta_out)
        for _ in range(4 if abs(_sig) <= noise else 0):
            if base < lo and pout > 0.0 and lo <= s + (eta_in * pin) * dt - d_t:
                new_p = min(pout - (lo - base) * eta_out / dt, math.nextafter(pout, 0.0))
                pout = max(new_p, 0.0)
            elif base > hi and pin > 0.0 and s - pout / eta_out * dt - d_t <= hi:
                new_p = min(pin - (base - hi) / (eta_in * dt), math.nextafter(pin, 0.0))
                pin = max(new_p, 0.0)
            else:
                break
            base = s + (eta_in * pin - pout / eta_out) * dt - d_t
        # slack only where the decomposition asks for it (beyond rounding
        # noise) or to absorb rounding that would otherwise violate a bound
        if lo <= base <= hi and abs(_sig) <= noise:
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

    profit = math.fsum((lam / 1000.0 * (discharge - charge) * dt).tolist())
    pen = big_m * math.fsum((s_up + s_dn).tolist())
    short = np.maximum(flo - soc, 0.0) if has_floor else np.zeros(n_t)
    short_cost = rate * math.fsum(short.tolist())
    wear_total = wear * dt / eta_out * math.fsum(discharge.tolist())
    objective = profit - pen - wear_total - short_cost
    # offsets[k] (k = 1..T-1) was subtracted from the stored V_k, and the
    # value found in step 1 of the forward pass is V_0 minus their sum.
    dp_value = math.fsum(offsets[1:n_t] + [dp_local])
    # step 1 is evaluated in the forward pass, like a backward step
    xmag = max(abs(s0), abs(lo_l[0]), abs(hi_l[0])) + abs(dr_l[0]) + max(m.wy[-1] - m.wy[0] for m in modes_all[0])
    fp_terms.append(span + step_rev[0] + xmag * slope_max)
    fp_allow = _FP_FACTOR * _U * math.fsum(fp_terms) + 4.0 * _U * abs(dp_value)
    allowance = prune_allow + merge_allow + fp_allow
    bound = dp_value + allowance
    comp_counts = counts[1:]
    return FleetSolution(
        charge=charge,
        discharge=discharge,
        soc=soc,
        slack_up=s_up,
        slack_down=s_dn,
        objective=objective,
        profit=profit,
        penalty=pen,
        shortfall=short,
        shortfall_cost=short_cost,
        wear=wear_total,
        bound=bound,
        components_max=int(max(comp_counts)),
        components_mean=float(np.mean(comp_counts)),
        dp_value=dp_value,
        allowance=allowance,
        exact=exact,
    )
