"""A bound that keeps the coupling exact inside windows: the partial Lagrangian of the shared connection.

The dual function of :mod:`aggregator.decomposition` relaxes *every*
coupling row; it is the bound of the fleets' convex hulls and cannot close
a duality gap caused by exclusive charging at negative prices.  Here the
coupling rows are kept exactly inside some *windows* (runs of steps), and
only the rows outside them are priced by the multipliers ``nu``.  The
windows and the stretches between them (*segments*) are tied only through
each fleet's state of charge at their common ends; those equalities are
relaxed too, each with a price ``pi`` ($/kWh) of its own (variable
splitting).  With ``nu`` and ``pi`` fixed the problem separates into

* one MILP per window (every coupled fleet, the coupling rows, the
  exclusive-charging binaries at negative prices, the state entering it
  free at the cost ``pi`` and the state leaving it free at the revenue
  ``pi``), solved by HiGHS (:class:`WindowMILP`); its MILP dual bound is the
  window's value;
* one exact DP per fleet and segment at the adjusted prices, its free ends
  valued by ``pi`` through one added step on each free end (a step of
  ample power whose price turns the energy taken in, or given back, into
  ``pi`` $/kWh: :func:`segment_value`);

and the sum of these values plus the priced limits outside the windows is
an upper bound of the coupled optimum for *every* ``nu`` and ``pi``
(:func:`partial_bound`; proof on the docs page "Shared connections").
The same window MILPs with the states at their ends fixed to a feasible
dispatch's are a primal repair (:func:`window_milp_repair`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .solvers import SolverOptions, quiet_stdout

if TYPE_CHECKING:  # pragma: no cover
    from .decomposition import CoupledProblem

__all__ = ["PartialBound", "WindowMILP", "bound_windows", "partial_bound", "segment_value", "tighten",
           "window_milp_repair"]

_U = float(np.finfo(float).eps) / 2.0

#: HiGHS's relative gap for a window MILP: its dual bound is what counts, and it is valid at any gap.
WINDOW_MIP_GAP = 1e-7


def _check(problem: "CoupledProblem") -> None:
    for q in problem.problems:
        floor = q.get("floor")
        if floor is not None and bool((np.asarray(floor) > np.asarray(q["smin"])).any()):
            raise ValueError("the window bound covers fleets without a state-of-charge floor above soc_min only")
        if float(q.get("wear_cost", 0.0)) != 0.0:
            raise ValueError("the window bound covers fleets without wear cost only")


def _highs(matrix, cost, lower, upper, row_lower, row_upper, maximize: bool, options: SolverOptions):
    """A quiet HiGHS instance holding the LP ``cost . x`` over ``lower <= x <= upper``, ``row_lower <= A x <= row_upper``."""
    import highspy

    matrix = matrix.tocsc()
    matrix.sort_indices()
    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = matrix.shape
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    with quiet_stdout(not options.verbose):  # the banner
        h = highspy.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    if options.threads:
        h.setOptionValue("threads", int(options.threads))
    h.passModel(lp)
    return h


class WindowMILP:
    """The coupled fleets over the steps ``first .. last - 1`` as one HiGHS MILP.

    Columns per (fleet, step): ``charge``, ``discharge``, ``soc``, ``slack_up``,
    ``slack_down``; a binary ``mode`` per (fleet, step) with a negative price
    (``charge <= pmax * mode``, ``discharge <= pmax * (1 - mode)``; at a price
    >= 0 only ``charge + discharge <= pmax``, a relaxation, so valid for a
    bound and exact for the documented model, :func:`aggregator.formulation.binary_mask`);
    one ``entering`` state per fleet (the state before ``first``: ``s_init`` at
    step 0, else free within the bounds of step ``first - 1`` or fixed);
    the coupling rows of every step.  The objective is the documented one at
    the *true* prices, minus ``pi_in * entering`` plus ``pi_out * soc[last - 1]``.

    Parameters
    ----------
    problem : CoupledProblem
    first, last : int
        The window's steps ``[first, last)``.
    options : SolverOptions
        Threads and verbosity.
    entering : numpy.ndarray, optional
        ``(fleets,)``: fix the states before ``first`` (kWh); default free (unless ``first == 0``).
    leaving : numpy.ndarray, optional
        ``(fleets,)``: fix the states at the end of step ``last - 1``; default free.
    pi_in, pi_out : numpy.ndarray, optional
        ``(fleets,)``, $/kWh: the price of the entering and the leaving state (default 0).
    """

    def __init__(
        self,
        problem: "CoupledProblem",
        first: int,
        last: int,
        options: SolverOptions,
        entering: np.ndarray | None = None,
        leaving: np.ndarray | None = None,
        pi_in: np.ndarray | None = None,
        pi_out: np.ndarray | None = None,
    ) -> None:
        import highspy
        from scipy import sparse

        _check(problem)
        self.problem, self.first, self.last = problem, first, last
        fleets, steps = len(problem.problems), last - first
        n = fleets * steps
        self.fleets, self.steps, self.cells = fleets, steps, n
        p = problem.problems
        dt, penalty = float(p[0]["dt"]), float(p[0]["penalty"])
        price = np.asarray(p[0]["price"][first:last], dtype=float)
        window = slice(first, last)
        pmax = np.concatenate([q["pmax"][window] for q in p])
        smin = np.concatenate([q["smin"][window] for q in p])
        smax = np.concatenate([q["smax"][window] for q in p])
        drive = np.concatenate([np.zeros(steps) if q.get("driving") is None else np.asarray(q["driving"][window]) for q in p])
        eta_in = np.repeat([float(q["eta_in"]) for q in p], steps)
        eta_out = np.repeat([float(q["eta_out"]) for q in p], steps)
        negative = np.tile(price < 0, fleets) & np.repeat([bool(q.get("exclusive", True)) for q in p], steps)
        binary = np.flatnonzero(negative)
        k = binary.size
        self.binary = binary
        cell = np.arange(n)
        head = cell % steps == 0  # each fleet's first step
        value = np.tile(price, fleets) * dt / 1000.0
        inf = highspy.kHighsInf
        pi_in = np.zeros(fleets) if pi_in is None else np.asarray(pi_in, dtype=float)
        pi_out = np.zeros(fleets) if pi_out is None else np.asarray(pi_out, dtype=float)
        # columns: charge, discharge, soc, slack_up, slack_down (n each), mode (k), entering (fleets)
        e0 = 5 * n + k
        cost = np.concatenate([-value, value, np.zeros(n), np.full(2 * n, -penalty), np.zeros(k), -pi_in])
        tail = np.flatnonzero(cell % steps == steps - 1)
        cost[2 * n + tail] += pi_out
        lower = np.concatenate([np.zeros(2 * n), smin, np.zeros(2 * n + k), np.zeros(fleets)])
        upper = np.concatenate([pmax, pmax, smax, np.full(2 * n, inf), np.ones(k), np.zeros(fleets)])
        if first == 0:
            start = np.array([float(q["s_init"]) for q in p])
            lower[e0:], upper[e0:] = start, start
        elif entering is not None:
            lower[e0:], upper[e0:] = entering, entering
        else:
            lower[e0:] = [q["smin"][first - 1] for q in p]
            upper[e0:] = [q["smax"][first - 1] for q in p]
        if leaving is not None:
            lower[2 * n + tail] = upper[2 * n + tail] = np.asarray(leaving, dtype=float)
        rows, cols, vals = [], [], []

        def add(r, c, v):
            rows.append(np.asarray(r))
            cols.append(np.asarray(c))
            vals.append(np.broadcast_to(np.asarray(v, float), np.shape(r)))

        # balance: soc_t - soc_{t-1} - eta_in dt charge + dt / eta_out discharge - slack_up + slack_down = -drive
        add(cell, cell, -eta_in * dt)
        add(cell, n + cell, dt / eta_out)
        add(cell, 2 * n + cell, 1.0)
        add(cell[~head], 2 * n + cell[~head] - 1, -1.0)
        add(cell[head], e0 + cell[head] // steps, -1.0)
        add(cell, 3 * n + cell, -1.0)
        add(cell, 4 * n + cell, 1.0)
        row_lower, row_upper = [-drive], [-drive]
        add(n + cell, cell, 1.0)  # charge + discharge <= pmax
        add(n + cell, n + cell, 1.0)
        row_lower.append(np.full(n, -inf))
        row_upper.append(pmax)
        base = 2 * n
        if k:  # charge - pmax mode <= 0, discharge + pmax mode <= pmax
            add(base + np.arange(k), binary, 1.0)
            add(base + np.arange(k), 5 * n + np.arange(k), -pmax[binary])
            add(base + k + np.arange(k), n + binary, 1.0)
            add(base + k + np.arange(k), 5 * n + np.arange(k), pmax[binary])
            row_lower.append(np.full(2 * k, -inf))
            row_upper.append(np.concatenate([np.zeros(k), pmax[binary]]))
        base += 2 * k
        for c, m in enumerate(problem.members):
            for j in m:
                add(base + np.arange(steps), j * steps + np.arange(steps), 1.0)
                add(base + np.arange(steps), n + j * steps + np.arange(steps), -1.0)
            exp, imp = problem.export_kw[c, window], problem.import_kw[c, window]
            row_lower.append(np.where(np.isinf(exp), -inf, -exp))
            row_upper.append(np.where(np.isinf(imp), inf, imp))
            base += steps
        n_cols = e0 + fleets
        matrix = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(base, n_cols))
        # The relaxation is solved first (:meth:`solve`); the binaries become integers only if it mixes modes.
        self.highs = _highs(matrix, cost, lower, upper, np.concatenate(row_lower), np.concatenate(row_upper), True, options)
        self.highs.setOptionValue("mip_rel_gap", WINDOW_MIP_GAP)
        self.entering_column = e0

    def solve(self, time_limit: float | None = None) -> dict[str, Any] | None:
        """Solve; None when HiGHS has neither a dual bound nor a solution.

        Returns
        -------
        dict or None
            ``bound`` (HiGHS's MILP dual bound, $), ``objective`` (its incumbent's value, or
            ``-inf``), ``columns`` (the five blocks ``(fleets, steps)`` of the incumbent, or None),
            ``entering`` and ``leaving`` (``(fleets,)`` states of the incumbent, or None).
        """
        import highspy

        from .decomposition import FLOW_TOLERANCE

        h = self.highs
        if time_limit is not None:
            h.setOptionValue("time_limit", max(float(time_limit), 0.01))
        h.run()
        status = h.getModelStatus()
        relaxed = True
        if status == highspy.HighsModelStatus.kOptimal and self.binary.size:
            x = np.asarray(h.getSolution().col_value)
            both = np.minimum(x[self.binary], x[self.cells + self.binary]) > FLOW_TOLERANCE
            if both.any():  # the relaxation mixes modes at a negative price: the binaries count
                k = self.binary.size
                columns = np.arange(5 * self.cells, 5 * self.cells + k, dtype=np.int32)
                h.changeColsIntegrality(k, columns, np.full(k, highspy.HighsVarType.kInteger))
                h.run()
                status = h.getModelStatus()
                relaxed = False
        info = h.getInfo()
        optimal = status == highspy.HighsModelStatus.kOptimal
        if relaxed:  # an LP whose optimum mixes no modes: the MILP's optimum
            bound = float(info.objective_function_value) if optimal else math.inf
        else:
            bound = float(info.mip_dual_bound)
            if optimal:
                bound = max(bound, float(info.objective_function_value))
        if not math.isfinite(bound):
            return None
        out: dict[str, Any] = {"bound": bound, "objective": -math.inf, "columns": None, "entering": None, "leaving": None}
        if info.primal_solution_status == 2:  # kSolutionStatusFeasible
            x = np.asarray(h.getSolution().col_value)
            n = self.cells
            out["columns"] = [x[b * n : (b + 1) * n].reshape(self.fleets, self.steps) for b in range(5)]
            charge, discharge = (np.clip(c, 0.0, None) for c in out["columns"][:2])
            tiny = np.minimum(charge, discharge) <= FLOW_TOLERANCE  # within HiGHS's tolerance of one mode
            out["columns"][0] = np.where(tiny & (charge <= discharge), 0.0, charge)
            out["columns"][1] = np.where(tiny & (discharge < charge), 0.0, discharge)
            out["objective"] = float(info.objective_function_value)
            out["entering"] = x[self.entering_column :].copy()
            out["leaving"] = out["columns"][2][:, -1].copy()
        return out


def segment_value(
    q: dict[str, Any], price: np.ndarray, first: int, last: int, pi_in: float | None, pi_out: float | None
) -> tuple[float, float, float]:
    """One fleet over the steps ``[first, last)`` by the exact DP, its free ends valued at ``pi``.

    The fleet starts from ``s_init`` when ``pi_in`` is None (``first == 0``),
    else from any state within the bounds of step ``first - 1``, paying
    ``pi_in`` $/kWh for it: an added first step from an empty battery whose
    charging power is ample and whose price is ``1000 pi_in eta_in`` $/MWh.
    With ``pi_out`` it ends at any state, paid ``pi_out`` $/kWh for it: an
    added last step that must empty the battery, at the price
    ``1000 pi_out / eta_out``.  The added steps' other options (slack, the
    other flow) only enlarge the problem, so the DP's certified bound is an
    upper bound of ``max D(x, y) - pi_in x + pi_out y`` over the segment's
    schedules from ``x`` to ``y``.

    Parameters
    ----------
    q : dict
        The fleet's :func:`aggregator.exact_dp.solve_fleet` arguments over the horizon (no wear).
    price : numpy.ndarray
        ``(steps,)``, the prices the segment is solved at (the adjusted ones), $/MWh.
    first, last : int
    pi_in, pi_out : float or None

    Returns
    -------
    tuple of float
        ``(bound, worth, x, y)``: the certified bound (plus the rounding of the added prices), the
        DP answer's value with the added steps, and its entering and leaving states.
    """
    from .exact_dp import solve_fleet

    dt = float(q["dt"])
    eta_in, eta_out = float(q["eta_in"]), float(q["eta_out"])
    window = slice(first, last)
    arrays = {key: [np.asarray(q[key][window], dtype=float)] for key in ("pmax", "smin", "smax")}
    prices = [np.asarray(price[window], dtype=float)]
    drive = [np.zeros(last - first) if q.get("driving") is None else np.asarray(q["driving"][window], dtype=float)]
    s_init = float(q["s_init"])
    allowance = 0.0
    if pi_in is not None:
        top = float(q["smax"][first - 1])
        for key, v in (("pmax", 2.0 * top / (eta_in * dt) + 1.0), ("smin", float(q["smin"][first - 1])), ("smax", top)):
            arrays[key].insert(0, np.array([v]))
        prices.insert(0, np.array([1000.0 * pi_in * eta_in]))
        drive.insert(0, np.zeros(1))
        s_init = 0.0
        allowance += 8.0 * _U * abs(pi_in) * top
    if pi_out is not None:
        top = float(q["smax"][last - 1])
        for key, v in (("pmax", 2.0 * top * eta_out / dt + 1.0), ("smin", 0.0), ("smax", 0.0)):
            arrays[key].append(np.array([v]))
        prices.append(np.array([1000.0 * pi_out / eta_out]))
        drive.append(np.zeros(1))
        allowance += 8.0 * _U * abs(pi_out) * top
    kwargs = {key: np.concatenate(v) for key, v in arrays.items()}
    solution = solve_fleet(
        np.concatenate(prices), dt, s_init=s_init, eta_in=eta_in, eta_out=eta_out, penalty=float(q["penalty"]),
        exclusive=bool(q.get("exclusive", True)), driving=np.concatenate(drive), **kwargs,
    )
    soc = solution.soc
    x = float(soc[0]) if pi_in is not None else float(q["s_init"])
    y = float(soc[-2] if pi_out is not None else soc[-1])
    return solution.bound + allowance, solution.objective, x, y


def bound_windows(problem: "CoupledProblem", charge: np.ndarray, discharge: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """The windows to keep exact: the negative-price runs in which the answers reach a limit, widened.

    Every run of consecutive negative-price steps in which the summed answers
    reach an import or export limit at some step is kept whole (a boundary in
    the middle of a negative-price run would cut through the non-concave part
    of the fleets' value functions), then widened by ``margin`` steps on each
    side and merged with its neighbours.

    Parameters
    ----------
    problem : CoupledProblem
    charge, discharge : numpy.ndarray
        ``(fleets, steps)``: the fleets' answers at the multipliers (or a dispatch), kW.
    margin : int
        Steps added on each side.

    Returns
    -------
    list of tuple of int
        ``(first, last)`` runs (see :func:`aggregator.decomposition.windows`).

    Examples
    --------
    >>> from aggregator.decomposition import CoupledProblem
    >>> p = CoupledProblem(problems=[{"price": np.array([5.0, -1.0, -2.0, 5.0, -1.0, 5.0, 5.0])}], fleets=("a",),
    ...                    members=[np.array([0])], import_kw=np.full((1, 7), 10.0),
    ...                    export_kw=np.full((1, 7), np.inf), names=("site",))
    >>> bound_windows(p, np.array([[0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]]), np.zeros((1, 7)), 1)
    [(0, 4)]
    """
    from .decomposition import FLOW_TOLERANCE, windows

    net = problem.net_import(charge, discharge)
    tolerance = FLOW_TOLERANCE * max(1.0, float(np.abs(net).max(initial=0.0)))
    reach = ((net >= problem.import_kw - tolerance) | (-net >= problem.export_kw - tolerance)).any(axis=0)
    negative = problem.problems[0]["price"] < 0
    keep = np.zeros_like(negative)
    for a, b in windows(negative, 0):  # the negative-price runs
        if reach[a:b].any():
            keep[a:b] = True
    return windows(keep, margin)


@dataclass
class PartialBound:
    """The partial Lagrangian bound at some ``nu`` and ``pi``.

    Attributes
    ----------
    bound : float
        The upper bound ($): windows' MILP bounds + segments' DP bounds + priced limits outside + allowances.
    spans : list of tuple of int
        The windows.
    pi : numpy.ndarray
        ``(fleets, boundaries)``, $/kWh: the state prices it was evaluated at (boundary ``k`` is
        the state at the end of step ``ends[k]``).
    ends : numpy.ndarray
        The boundary steps.
    mismatch : numpy.ndarray
        ``(fleets, boundaries)``, kWh: the right piece's state minus the left piece's (a subgradient, negated).
    windows_bound : float
        The windows' part of ``bound``.
    evaluations : int
        How many ``pi`` were evaluated.
    history : list of float
        ``U`` at every evaluation, in order.
    """

    bound: float
    spans: list
    pi: np.ndarray
    ends: np.ndarray
    mismatch: np.ndarray
    windows_bound: float
    evaluations: int = 1
    history: list = field(default_factory=list)


def _pieces(spans: list[tuple[int, int]], steps: int) -> list[tuple[int, int, bool]]:
    """The horizon cut into windows and the segments between them: ``(first, last, is_window)``."""
    out, at = [], 0
    for a, b in spans:
        if a > at:
            out.append((at, a, False))
        out.append((a, b, True))
        at = b
    if at < steps:
        out.append((at, steps, False))
    return out


@dataclass
class _Plane:
    """One piece's value at some ``pi`` as a plane in ``pi`` (its schedule's value is linear in the state prices).

    ``value`` is the schedule's worth at the ``pi`` it was found at; ``terms`` lists ``(fleet, boundary, state,
    sign)``: the worth changes by ``sign * state * (pi' - pi)`` at other prices ``pi'``.
    """

    unit: int
    value: float
    terms: list


def _evaluate(problem, nu, pieces, ends, pi, options, deadline, cache):
    """``U(nu, pi)``, the windows' part, the mismatch at the boundaries and the pieces' planes (None: no bound)."""
    fleets = len(problem.problems)
    index = {int(e): k for k, e in enumerate(ends.tolist())}
    prices = problem.adjusted_prices(nu)
    left = np.full((fleets, ends.size), np.nan)  # the state each boundary's left piece ends with
    right = np.full((fleets, ends.size), np.nan)  # the state its right piece starts from
    terms, windows_total, planes = [], [], []
    unit = 0
    for a, b, is_window in pieces:
        k_in = index.get(a - 1)
        k_out = index.get(b - 1)
        pin = pi[:, k_in] if k_in is not None else None
        pout = pi[:, k_out] if k_out is not None else None
        if is_window:
            milp = WindowMILP(problem, a, b, options, pi_in=pin, pi_out=pout)
            result = milp.solve(time_limit=max(deadline - time.perf_counter(), 0.01))
            if result is None:
                return None
            terms.append(result["bound"])
            windows_total.append(result["bound"])
            if result["entering"] is not None:
                plane = []
                for j in range(fleets):
                    if k_in is not None:
                        right[j, k_in] = result["entering"][j]
                        plane.append((j, k_in, float(result["entering"][j]), -1.0))
                    if k_out is not None:
                        left[j, k_out] = result["leaving"][j]
                        plane.append((j, k_out, float(result["leaving"][j]), 1.0))
                planes.append(_Plane(unit, result["objective"], plane))
            unit += 1
        else:
            for j, q in enumerate(problem.problems):
                value, worth, x, y = segment_value(q, prices[j], a, b, None if pin is None else float(pin[j]),
                                                   None if pout is None else float(pout[j]))
                terms.append(value)
                plane = []
                if k_in is not None:
                    right[j, k_in] = x
                    plane.append((j, k_in, x, -1.0))
                if k_out is not None:
                    left[j, k_out] = y
                    plane.append((j, k_out, y, 1.0))
                planes.append(_Plane(unit, worth, plane))
                unit += 1
    # The priced limits outside the windows and the rounding of the adjusted prices there, as in dual_value.
    outside = np.ones(problem.steps, dtype=bool)
    for a, b, is_window in pieces:
        if is_window:
            outside[a:b] = False
    dt = float(problem.problems[0]["dt"])
    with np.errstate(invalid="ignore"):
        priced = np.where(nu > 0, nu * problem.import_kw, np.where(nu < 0, -nu * problem.export_kw, 0.0))[:, outside]
    constant = dt / 1000.0 * math.fsum(priced.ravel().tolist())
    membership = problem.membership().T.astype(float)
    magnitude = np.abs(problem.problems[0]["price"])[None, :] + membership @ np.abs(nu) + np.abs(prices)
    error = 2.0 * (membership.sum(axis=1)[:, None] + 1.0) * _U * magnitude
    pmax = np.array([q["pmax"] for q in problem.problems])
    allowance = dt / 1000.0 * float((error * pmax)[:, outside].sum()) + 4.0 * _U * (abs(constant) + float(np.abs(priced).sum()))
    total = math.fsum(terms + [constant, allowance])
    mismatch = np.nan_to_num(right - left)
    return total + 2.0 * _U * abs(total), math.fsum(windows_total), mismatch, planes, total - math.fsum(terms)


class _StateMaster:
    """Disaggregated cutting planes of ``U`` in ``pi`` (one model per piece), minimised over a box by HiGHS."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.cuts: list[tuple[np.ndarray, _Plane]] = []
        self.units = 0

    def add(self, pi: np.ndarray, planes: list) -> None:
        for plane in planes:
            self.cuts.append((pi.copy(), plane))
            self.units = max(self.units, plane.unit + 1)

    def solve(self, center: np.ndarray, radius: float, constant: float) -> tuple[np.ndarray, float] | None:
        import highspy
        from scipy import sparse

        m = center.size
        units = self.units
        rows, cols, vals, lower = [], [], [], []
        for r, (pi0, plane) in enumerate(self.cuts):
            # theta_u - sum sign * state * pi >= value - sum sign * state * pi0
            rhs = plane.value
            rows.append(r)
            cols.append(m + plane.unit)
            vals.append(1.0)
            for j, k, state, sign in plane.terms:
                rows.append(r)
                cols.append(j * self.shape[1] + k)
                vals.append(-sign * state)
                rhs -= sign * state * pi0[j, k]
            lower.append(rhs)
        matrix = sparse.csc_matrix((vals, (rows, cols)), shape=(len(self.cuts), m + units))
        matrix.sum_duplicates()
        inf = highspy.kHighsInf
        h = _highs(matrix, np.concatenate([np.zeros(m), np.ones(units)]),
                   np.concatenate([center.ravel() - radius, np.full(units, -inf)]),
                   np.concatenate([center.ravel() + radius, np.full(units, inf)]),
                   np.array(lower), np.full(len(self.cuts), inf), False, SolverOptions())
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(h.getSolution().col_value)
        return x[:m].reshape(self.shape), float(h.getInfo().objective_function_value) + constant


def partial_bound(
    problem: "CoupledProblem",
    nu: np.ndarray,
    spans: list[tuple[int, int]],
    options: SolverOptions,
    pi: np.ndarray | None = None,
    iterations: int = 12,
    deadline: float = math.inf,
    radius: float = 0.01,
) -> PartialBound | None:
    """The partial Lagrangian bound with the coupling kept inside ``spans``, minimised over ``pi``.

    ``U(nu, pi)`` (see the module docstring) is an upper bound of the coupled
    optimum for every ``nu`` and ``pi``, and a sum over the pieces of convex
    functions of the ``pi`` at their ends: each piece's answer at some ``pi``
    is worth, at other prices, its value plus the change of its states'
    prices, a plane below that piece's function.  Starting from ``pi``
    (default: ``eta_in`` times the price at each boundary, $/kWh), the planes
    of all pieces form a cutting-plane model of ``U`` that HiGHS minimises over
    a box of half-width ``radius`` $/kWh around the best ``pi`` so far (the
    boxstep method, as :class:`aggregator.decomposition.CuttingPlaneMaster` for
    ``nu``); the lowest ``U`` found is returned.

    Parameters
    ----------
    problem : CoupledProblem
    nu : numpy.ndarray
        ``(couplings, steps)``: the multipliers of the rows outside the windows (clipped like the dual's).
    spans : list of tuple of int
        Disjoint, sorted windows ``(first, last)``.
    options : SolverOptions
    pi : numpy.ndarray, optional
        ``(fleets, boundaries)`` start, $/kWh.
    iterations : int
        Evaluations of ``U`` at most.
    deadline : float
        ``time.perf_counter()`` value to stop at.
    radius : float
        The box's first half-width, $/kWh.

    Returns
    -------
    PartialBound or None
        None if not even one evaluation finished.
    """
    nu = problem.clip_multipliers(nu)
    pieces = _pieces(spans, problem.steps)
    ends = np.array(sorted({e for a, b, w in pieces if w for e in (a - 1, b - 1) if 0 <= e < problem.steps - 1}), dtype=int)
    fleets = len(problem.problems)
    if pi is None:
        eta = np.array([[float(q["eta_in"])] for q in problem.problems])
        pi = np.repeat(problem.problems[0]["price"][ends][None, :], fleets, axis=0) / 1000.0 * eta
    best: PartialBound | None = None
    history: list[float] = []
    master = _StateMaster((fleets, ends.size))
    predicted = math.nan
    for it in range(iterations):
        if time.perf_counter() >= deadline:
            break
        value = _evaluate(problem, nu, pieces, ends, pi, options, deadline, None)
        if value is None:
            break
        bound, windows_bound, mismatch, planes, constant = value
        history.append(bound)
        master.add(pi, planes)
        if best is None or bound < best.bound:
            decrease = math.inf if best is None else best.bound - bound
            if math.isfinite(predicted) and decrease >= 0.5 * predicted:
                radius *= 2.0
            best = PartialBound(bound=bound, spans=list(spans), pi=pi.copy(), ends=ends, mismatch=mismatch,
                                windows_bound=windows_bound)
        else:
            radius /= 2.0
        best.evaluations, best.history = it + 1, history
        if not ends.size or float(np.abs(mismatch).max(initial=0.0)) <= 1e-9:
            break  # the pieces agree: their answers form one schedule, U is the partial problem's value
        step = master.solve(best.pi, radius, constant)
        if step is None:
            break
        pi, model = step
        predicted = best.bound - model
        if predicted <= 1e-9 * abs(best.bound):
            break  # the model's minimum is the best point: minimised to within rounding
    return best


def window_milp_repair(
    problem: "CoupledProblem", columns: list[np.ndarray], spans: list[tuple[int, int]], options: SolverOptions,
    deadline: float = math.inf,
) -> dict[str, Any] | None:
    """Re-plan a feasible dispatch exactly inside windows: the coupled MILP with the states at their ends kept.

    Each window's MILP (:class:`WindowMILP`, the true prices, every coupled
    fleet) starts from the dispatch's states before it and ends at its states
    at its last step, so the dispatch outside stays feasible; where HiGHS finds
    a better schedule than the dispatch's inside the window, it replaces it.
    The result meets every row wherever the input did, and is worth at least as much.

    Parameters
    ----------
    problem : CoupledProblem
    columns : list of numpy.ndarray
        The dispatch: ``charge``, ``discharge``, ``soc``, ``slack_up``, ``slack_down``, ``(fleets, steps)``.
    spans : list of tuple of int
    options : SolverOptions
    deadline : float

    Returns
    -------
    dict or None
        ``objective`` (NaN: recomputed by the caller) and ``columns``; None if no window improved.
    """
    out = [c.copy() for c in columns]
    improved = False
    p = problem.problems
    dt, penalty, price = float(p[0]["dt"]), float(p[0]["penalty"]), p[0]["price"]
    for a, b in spans:
        if time.perf_counter() >= deadline:
            break
        entering = None if a == 0 else out[2][:, a - 1]
        leaving = out[2][:, b - 1] if b < problem.steps else None
        milp = WindowMILP(problem, a, b, options, entering=entering, leaving=leaving)
        result = milp.solve(time_limit=max(deadline - time.perf_counter(), 0.01))
        if result is None or result["columns"] is None:
            continue
        old = math.fsum((price[a:b] / 1000.0 * dt * (out[1][:, a:b] - out[0][:, a:b])).ravel().tolist()) - penalty * float(
            (out[3][:, a:b] + out[4][:, a:b]).sum())
        if result["objective"] > old + 1e-9 * max(1.0, abs(old)):
            for k in range(5):
                out[k][:, a:b] = np.clip(result["columns"][k], 0.0, None) if k != 2 else result["columns"][k]
            improved = True
    return {"objective": math.nan, "columns": out} if improved else None


#: Steps kept exact on each side of a negative-price step where the answers reach a limit.
BOUND_MARGIN = 2

#: Steps re-planned on each side by the window MILP repair (wider: its end states are the dispatch's).
REPAIR_MARGIN = 6

#: Share of the time limit the decomposition leaves to this stage when its dual function leaves a gap.
BOUND_SHARE = 0.5


def tighten(
    problem: "CoupledProblem",
    nu: np.ndarray,
    solutions: list,
    columns: list[np.ndarray] | None,
    options: SolverOptions,
    deadline: float,
    margin: int = BOUND_MARGIN,
    repair_margin: int = REPAIR_MARGIN,
) -> tuple[PartialBound | None, dict[str, Any] | None]:
    """The decomposition's last stage where the dual function leaves a gap: the window bound and repair.

    Parameters
    ----------
    problem : CoupledProblem
    nu : numpy.ndarray
        The best multipliers (lowest dual value).
    solutions : list of FleetSolution
        The fleets' DP answers at ``nu`` (the windows are around their negative-price steps at a limit).
    columns : list of numpy.ndarray or None
        The best dispatch so far (re-planned inside the windows by :func:`window_milp_repair`).
    options : SolverOptions
    deadline : float
    margin : int
        Steps kept exact on each side of a negative-price step at a limit, for the bound.
    repair_margin : int
        The same for the repair.

    Returns
    -------
    tuple
        ``(PartialBound or None, repaired dispatch or None)``.
    """
    charge = np.array([s.charge for s in solutions])
    discharge = np.array([s.discharge for s in solutions])
    spans = bound_windows(problem, charge, discharge, margin)
    if not spans:
        return None, None
    repaired = None
    if columns is not None:
        share = time.perf_counter() + 0.3 * max(deadline - time.perf_counter(), 0.0)
        repaired = window_milp_repair(problem, columns, bound_windows(problem, charge, discharge, repair_margin), options,
                                      share)
    return partial_bound(problem, nu, spans, options, deadline=deadline), repaired
