"""The ``decomposition`` backend: fleets behind shared connections, by pricing the coupling rows.

A declared :class:`~aggregator.coupling.PowerCoupling` limits the summed net
power of some fleets per step; without it every fleet is solved exactly and
independently by the per-fleet DP (:mod:`aggregator.dp_backend`).  This
backend prices the coupling rows instead of keeping them: with a multiplier
``nu[c, t]`` ($/MWh, either sign) on the net import of coupling ``c`` at
step ``t``, the problem separates again, each fleet seeing the adjusted price
``price + sum of nu over its couplings``, and

``L(nu) = sum_f V_f(price + nu) + dt/1000 * sum_{c,t} (max(nu, 0) * import_kw + max(-nu, 0) * export_kw)``

is an upper bound of the coupled optimum for *every* ``nu`` (the dual
function; proof on the docs page "Shared connections").  The backend

1. takes the first ``nu`` from the coupled LP relaxation of an *aggregated*
   problem (one equivalent fleet per set of fleets behind the same
   couplings: :func:`aggregated_problem`), whose size does not grow with the
   number of fleets;
2. evaluates ``L(nu)`` exactly with the per-fleet DP (in parallel over the
   fleets), the DP's own certified bounds plus a rounding allowance for the
   price adjustment: that is the certified bound (:func:`dual_value`);
3. repairs the fleets' answers over windows around the steps where they
   break a limit (or were chosen at non-zero multipliers), keeping them
   elsewhere, by one LP with the fleets' states fixed at the windows' ends
   and the modes fixed where the relaxation would charge and discharge at
   once (:func:`window_repair`, skipped for many fleets); the relaxed window
   LP's duals are a further multiplier candidate (for many fleets: one small
   LP per block of broken steps, in parallel, :func:`block_repair`); then, while the gap is
   open, gives every fleet a share of each limit and re-solves it exactly
   by the DP within its share (:func:`allotment_repair`, which scales with
   the fleets);
4. while the certified gap exceeds the requested one, improves ``nu`` with a
   cutting-plane model of ``L`` stabilised by a box (:class:`CuttingPlaneMaster`,
   an LP in the multipliers of the active steps only, solved by HiGHS).

The result reports the best dual-function value as the bound and the best
repaired dispatch as the solution; the status is ``optimal`` only when their
gap is within the requested one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import xarray as xr

from .dp_backend import NUMERICAL_GAP, fleet_problems, solve_fleet_problems
from .solvers import SolveOutcome, SolverBackend, SolverOptions, quiet_stdout, relative_gap
from .window_bound import BOUND_SHARE, tighten

if TYPE_CHECKING:  # pragma: no cover
    from .aggregator import Aggregator
    from .coupling import PowerCoupling
    from .exact_dp import FleetSolution, StepModes

__all__ = [
    "DecompositionBackend", "CoupledLP", "CoupledProblem", "CuttingPlaneMaster", "DualValue", "aggregated_problem",
    "allotment_repair", "allotments", "block_repair", "dual_value", "interval_modes", "repair", "solve_coupled", "window_repair",
    "solve_span", "solve_within", "windows",
]

_U = float(np.finfo(float).eps) / 2.0
log = logging.getLogger(__name__)

#: Flows at or below this many kW count as zero when looking for simultaneous charging and discharging.
FLOW_TOLERANCE = 1e-7

#: Window-LP duals evaluated in a row (each one's repair proposing the next) before the master takes over.
CHASE = 3

#: The window repair LP is skipped above this many coupled (fleet, step) cells (the allotment repair scales).
WINDOW_CELLS = 200_000

#: Above ``window_cells``: steps re-planned on each side of a step whose DP answers break a limit, and the
#: largest (fleet, step) cells per LP of that local repair (:func:`window_repair` with ``batch_cells``).
LOCAL_WINDOW = 3
LOCAL_CELLS = 20_000

#: Allotment repairs (a DP round each) per set of DP answers, while each gains at least 1 % of the gap.
ALLOTMENT_ROUNDS = 3

#: From this many (fleet x step) cells the allotment repair re-solves the fleets on a process pool (the
#: threshold its benchmarks were measured with; the dp backend's own is ``dp_backend.PARALLEL_MIN_CELLS``).
REPAIR_PARALLEL_MIN_CELLS = 10_000


@dataclass(frozen=True)
class CoupledProblem:
    """The per-fleet problems and the coupling rows between them, as arrays.

    Attributes
    ----------
    problems : list of dict
        Keyword arguments of :func:`aggregator.exact_dp.solve_fleet`, one per fleet.
    fleets : tuple of str
        The fleet names, in order.
    members : list of numpy.ndarray
        For every coupling, the indices of its fleets.
    import_kw, export_kw : numpy.ndarray
        Limits per coupling and step, shape ``(couplings, steps)``; ``inf`` for none.
    names : tuple of str
        The couplings' names.
    """

    problems: list[dict[str, Any]]
    fleets: tuple[str, ...]
    members: list[np.ndarray]
    import_kw: np.ndarray
    export_kw: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def from_inputs(cls, inputs: xr.Dataset, couplings: Sequence["PowerCoupling"]) -> "CoupledProblem":
        """Check the couplings against the inputs and gather them.

        Parameters
        ----------
        inputs : xarray.Dataset
            Validated inputs.
        couplings : sequence of PowerCoupling

        Returns
        -------
        CoupledProblem

        Raises
        ------
        InputError
            A coupling naming an unknown fleet, or with limits of the wrong length or below zero.
        """
        from .coupling import check_coupling

        fleets = tuple(str(f) for f in inputs.indexes["fleet"])
        steps = inputs.sizes["time"]
        index = {name: i for i, name in enumerate(fleets)}
        members, imports, exports = [], [], []
        for c in couplings:
            check_coupling(c, inputs)
            members.append(np.array(sorted({index[f] for f in c.fleets}), dtype=int))
            imports.append(np.asarray(c.import_kw, dtype=float))
            exports.append(np.asarray(c.export_kw, dtype=float))
        return cls(
            problems=fleet_problems(inputs),
            fleets=fleets,
            members=members,
            import_kw=np.array(imports).reshape(len(couplings), steps),
            export_kw=np.array(exports).reshape(len(couplings), steps),
            names=tuple(c.name for c in couplings),
        )

    @property
    def steps(self) -> int:
        """Number of time steps."""
        return int(self.problems[0]["price"].shape[0])

    def membership(self) -> np.ndarray:
        """Boolean matrix ``(couplings, fleets)``: which fleets each coupling sums."""
        out = np.zeros((len(self.members), len(self.problems)), dtype=bool)
        for c, m in enumerate(self.members):
            out[c, m] = True
        return out

    def clip_multipliers(self, nu: np.ndarray) -> np.ndarray:
        """Multipliers of a side without a limit must vanish (positive: import, negative: export)."""
        nu = np.where(np.isinf(self.import_kw), np.minimum(nu, 0.0), nu)
        return np.where(np.isinf(self.export_kw), np.maximum(nu, 0.0), nu)

    def adjusted_prices(self, nu: np.ndarray) -> np.ndarray:
        """Each fleet's price plus the multipliers of its couplings, shape ``(fleets, steps)``."""
        price = self.problems[0]["price"]
        return price[None, :] + self.membership().T.astype(float) @ nu

    def net_import(self, charge: np.ndarray, discharge: np.ndarray) -> np.ndarray:
        """``sum (charge - discharge)`` per coupling and step, from ``(fleets, steps)`` arrays."""
        return self.membership().astype(float) @ (charge - discharge)


@dataclass
class DualValue:
    """One evaluation of the dual function.

    Attributes
    ----------
    nu : numpy.ndarray
        The multipliers, ``(couplings, steps)``, $/MWh.
    bound : float
        Certified upper bound ``L(nu)`` including every allowance.
    subgradient : numpy.ndarray
        ``dt/1000 * (limit - net import)`` on the side ``nu`` prices, $ per $/MWh.
    solutions : list of FleetSolution
        The fleets' DP answers at the adjusted prices.
    """

    nu: np.ndarray
    bound: float
    subgradient: np.ndarray
    solutions: list


def dual_value(problem: CoupledProblem, nu: np.ndarray, options: SolverOptions) -> DualValue:
    """Evaluate the dual function exactly (per-fleet DP at the adjusted prices, in parallel).

    Parameters
    ----------
    problem : CoupledProblem
    nu : numpy.ndarray
        Multipliers ``(couplings, steps)`` in $/MWh; sides without a limit are clipped to 0.
    options : SolverOptions
        For the number of worker processes.

    Returns
    -------
    DualValue
    """
    nu = problem.clip_multipliers(nu)
    prices = problem.adjusted_prices(nu)
    tasks = [dict(p, price=prices[j]) for j, p in enumerate(problem.problems)]
    solutions, _ = solve_fleet_problems(tasks, options)
    dt = float(problem.problems[0]["dt"])
    with np.errstate(invalid="ignore"):  # 0 * inf where a side has no limit (its multiplier is 0)
        terms = np.where(nu > 0, nu * problem.import_kw, np.where(nu < 0, -nu * problem.export_kw, 0.0))
    constant = dt / 1000.0 * math.fsum(terms.ravel().tolist())
    # The fleets' DP solved the problem at the rounded adjusted prices; the exact
    # ones differ by at most one rounding per addition, worth at most
    # |delta price| * pmax * dt / 1000 per step; the constant costs one rounding per
    # product and the sums a few more (see the docs page for the argument).
    pmax = np.array([p["pmax"] for p in problem.problems])
    membership = problem.membership().T.astype(float)
    members = membership.sum(axis=1)[:, None]
    magnitude = np.abs(problem.problems[0]["price"])[None, :] + membership @ np.abs(nu) + np.abs(prices)
    price_error = 2.0 * (members + 1.0) * _U * magnitude
    allowance = dt / 1000.0 * float((price_error * pmax).sum()) + 4.0 * _U * (abs(constant) + float(np.abs(terms).sum()))
    total = math.fsum([s.bound for s in solutions] + [constant, allowance])
    bound = total + 2.0 * _U * abs(total)  # fsum rounds to nearest: never below the exact sum by more than this
    charge = np.array([s.charge for s in solutions])
    discharge = np.array([s.discharge for s in solutions])
    net = problem.net_import(charge, discharge)
    limit = np.where(nu > 0, problem.import_kw, np.where(nu < 0, -problem.export_kw, np.clip(net, -problem.export_kw, problem.import_kw)))
    subgradient = dt / 1000.0 * (limit - net)
    return DualValue(nu=nu, bound=bound, subgradient=subgradient, solutions=solutions)


class CoupledLP:
    """The coupled problem's continuous part as one HiGHS LP (built with highspy, kept for re-solves).

    Columns are ``charge``, ``discharge``, ``soc``, ``slack_up``, ``slack_down``, each a block
    over (fleet, step); rows are the energy balance, ``charge + discharge <= power_max``
    and one ranged row ``-export_kw <= sum(charge - discharge) <= import_kw`` per coupling and step.
    Fixing a fleet's mode in a step sets the upper bound of its charge or discharge to 0.

    Parameters
    ----------
    problem : CoupledProblem
    options : SolverOptions
        Threads and verbosity.
    starts : numpy.ndarray, optional
        Steps where a segment begins (its balance row starts from a given state instead of the
        previous step's): default ``[0]``, the whole horizon as one segment.  The windows of
        :func:`window_repair` are segments of one LP.
    initial : numpy.ndarray, optional
        ``(fleets, len(starts))``: the state before each segment's first step (kWh); default the
        fleets' ``s_init``.
    """

    def __init__(
        self,
        problem: CoupledProblem,
        options: SolverOptions,
        starts: np.ndarray | None = None,
        initial: np.ndarray | None = None,
    ) -> None:
        import highspy
        from scipy import sparse

        self.problem = problem
        fleets, steps = len(problem.problems), problem.steps
        n = fleets * steps
        self.cells = n
        p = problem.problems
        dt = float(p[0]["dt"])
        penalty = float(p[0]["penalty"])
        price = p[0]["price"]
        pmax = np.concatenate([q["pmax"] for q in p])
        smin = np.concatenate([q["smin"] for q in p])
        smax = np.concatenate([q["smax"] for q in p])
        eta_in = np.repeat([q["eta_in"] for q in p], steps)
        eta_out = np.repeat([q["eta_out"] for q in p], steps)
        cell = np.arange(n)
        starts = np.array([0]) if starts is None else np.asarray(starts, dtype=int)
        if initial is None:
            initial = np.array([[q["s_init"]] for q in p])
        segment_start = np.zeros(steps, dtype=bool)
        segment_start[starts] = True
        first = np.tile(segment_start, fleets)
        value = np.tile(price, fleets) * dt / 1000.0
        inf = highspy.kHighsInf
        self.pmax = pmax
        cost = np.concatenate([-value, value, np.zeros(n), np.full(2 * n, -penalty)])
        lower = np.zeros(5 * n)
        upper = np.concatenate([pmax, pmax, smax, np.full(2 * n, inf)])
        lower[2 * n : 3 * n] = smin
        # rows: balance (n), power (n), couplings (C * steps)
        rows_i, cols_j, vals = [], [], []

        def add(rows, cols, v):
            rows_i.append(rows)
            cols_j.append(cols)
            vals.append(np.broadcast_to(np.asarray(v, float), np.shape(rows)))

        add(cell, cell, -eta_in * dt)
        add(cell, n + cell, dt / eta_out)
        add(cell, 2 * n + cell, 1.0)
        add(cell[~first], 2 * n + cell[~first] - 1, -1.0)
        add(cell, 3 * n + cell, -1.0)
        add(cell, 4 * n + cell, 1.0)
        add(n + cell, cell, 1.0)
        add(n + cell, n + cell, 1.0)
        rhs = np.zeros(n)
        rhs[first] = np.asarray(initial, dtype=float).ravel()  # (fleet, segment) in cell order
        row_lower = [rhs, np.full(n, -inf)]
        row_upper = [rhs, pmax]
        for c, m in enumerate(problem.members):
            base = 2 * n + c * steps
            for j in m:
                add(base + np.arange(steps), j * steps + np.arange(steps), 1.0)
                add(base + np.arange(steps), n + j * steps + np.arange(steps), -1.0)
            row_lower.append(np.where(np.isinf(problem.export_kw[c]), -inf, -problem.export_kw[c]))
            row_upper.append(np.where(np.isinf(problem.import_kw[c]), inf, problem.import_kw[c]))
        n_rows = 2 * n + len(problem.members) * steps
        matrix = sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_j))), shape=(n_rows, 5 * n)
        )
        matrix.sort_indices()
        lp = highspy.HighsLp()
        lp.num_col_ = 5 * n
        lp.num_row_ = n_rows
        lp.col_cost_ = cost
        lp.col_lower_ = lower
        lp.col_upper_ = upper
        lp.row_lower_ = np.concatenate(row_lower)
        lp.row_upper_ = np.concatenate(row_upper)
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data
        with quiet_stdout(not options.verbose):  # the banner
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", bool(options.verbose))
        self.highs.setOptionValue("solver", str(options.extra.get("lp_solver", "simplex")))
        if options.threads:
            self.highs.setOptionValue("threads", int(options.threads))
        self.highs.passModel(lp)
        self.upper_c = pmax.copy()
        self.upper_d = pmax.copy()
        self._steps = steps
        self._fleets = fleets

    def solve(self, time_limit: float | None = None) -> dict[str, Any] | None:
        """Solve (warm-started from the previous basis); None when HiGHS stops without an optimum.

        Parameters
        ----------
        time_limit : float, optional
            Seconds.

        Returns
        -------
        dict or None
            ``objective``, ``columns`` (the five blocks, each ``(fleets, steps)``) and
            ``nu`` (the coupling rows' duals as multipliers in $/MWh, ``(couplings, steps)``).
        """
        import highspy

        h = self.highs
        if time_limit is not None:
            h.setOptionValue("time_limit", max(float(time_limit), 0.01))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = h.getSolution()
        x = np.asarray(solution.col_value)
        n, steps, fleets = self.cells, self._steps, self._fleets
        columns = [x[k * n : (k + 1) * n].reshape(fleets, steps) for k in range(5)]
        dt = float(self.problem.problems[0]["dt"])
        duals = np.asarray(solution.row_dual)[2 * n :].reshape(len(self.problem.members), steps)
        return {"objective": float(h.getInfo().objective_function_value), "columns": columns, "nu": duals * 1000.0 / dt}

    def forbid(self, charge_off: np.ndarray, discharge_off: np.ndarray) -> None:
        """Set the upper bound of charge (discharge) to 0 where ``charge_off`` (``discharge_off``) is True.

        Parameters
        ----------
        charge_off, discharge_off : numpy.ndarray of bool
            ``(fleets, steps)``; cumulative with earlier calls.
        """
        c = np.flatnonzero(charge_off.ravel() & (self.upper_c > 0))
        d = np.flatnonzero(discharge_off.ravel() & (self.upper_d > 0))
        self.upper_c[c] = 0.0
        self.upper_d[d] = 0.0
        cols = np.concatenate([c, self.cells + d]).astype(np.int32)
        if cols.size:
            zeros = np.zeros(cols.size)
            self.highs.changeColsBounds(cols.size, cols, zeros, zeros)

    def reset(self) -> None:
        """Undo every :meth:`forbid`."""
        cols = np.arange(2 * self.cells, dtype=np.int32)
        self.highs.changeColsBounds(cols.size, cols, np.zeros(cols.size), np.concatenate([self.pmax, self.pmax]))
        self.upper_c = self.pmax.copy()
        self.upper_d = self.pmax.copy()


def repair(lp: CoupledLP, relaxed: dict[str, Any], modes: np.ndarray | None, deadline: float) -> dict[str, Any] | None:
    """A feasible dispatch from the relaxed LP solution: fix modes where both flows are on, re-solve, repeat.

    Parameters
    ----------
    lp : CoupledLP
        The LP (its forbidden flows are reset first).
    relaxed : dict
        A solution of the relaxation (:meth:`CoupledLP.solve`).
    modes : numpy.ndarray, optional
        ``(fleets, steps)``: +1 where the DP at the adjusted prices charges, -1 where it
        discharges, 0 where idle; the mode in a conflicting step follows it, else the larger flow.
    deadline : float
        ``time.perf_counter()`` value to stop at.

    Returns
    -------
    dict or None
        ``objective`` and ``columns`` of a solution without simultaneous charging and
        discharging, or None if the LP could not be solved in time.
    """
    lp.reset()
    current = relaxed
    for _ in range(50):
        charge, discharge = current["columns"][0], current["columns"][1]
        both = (charge > FLOW_TOLERANCE) & (discharge > FLOW_TOLERANCE)
        if not both.any():
            return current
        prefer_charge = charge >= discharge
        if modes is not None:
            prefer_charge = np.where(modes > 0, True, np.where(modes < 0, False, prefer_charge))
        lp.forbid(both & ~prefer_charge, both & prefer_charge)
        current = lp.solve(time_limit=deadline - time.perf_counter())
        if current is None:
            return None
    return None


def _improvement(value: float) -> float:
    """How much better a new dispatch must be to replace the current one (keeps the DP's answer on ties)."""
    return 1e-12 * abs(value) if math.isfinite(value) else 0.0


def _columns(solutions: list) -> list[np.ndarray]:
    """The fleets' DP answers as the five ``(fleets, steps)`` blocks of a dispatch."""
    return [np.array([getattr(s, name) for s in solutions]) for name in ("charge", "discharge", "soc", "slack_up", "slack_down")]


def _violated(problem: CoupledProblem, charge: np.ndarray, discharge: np.ndarray) -> np.ndarray:
    """``(couplings, steps)``: where the summed net import breaks a limit (beyond the flow tolerance)."""
    net = problem.net_import(charge, discharge)
    tolerance = FLOW_TOLERANCE * max(1.0, float(np.abs(net).max(initial=0.0)))
    return (net > problem.import_kw + tolerance) | (-net > problem.export_kw + tolerance)


def _dp_candidate(problem: CoupledProblem, solutions: list) -> dict[str, Any] | None:
    """The fleets' DP answers as one dispatch, when they already meet every coupling row (else None)."""
    columns = _columns(solutions)
    if _violated(problem, columns[0], columns[1]).any():
        return None
    return {"objective": math.nan, "columns": columns}


def _clean(columns: list[np.ndarray]) -> list[np.ndarray]:
    """Zero the smaller of two simultaneous flows that are both below the tolerance, and tiny negatives."""
    charge, discharge = (np.clip(c, 0.0, None) for c in columns[:2])
    tiny = (np.minimum(charge, discharge) > 0) & (np.minimum(charge, discharge) <= FLOW_TOLERANCE)
    charge = np.where(tiny & (charge <= discharge), 0.0, charge)
    discharge = np.where(tiny & (discharge < charge), 0.0, discharge)
    return [charge, discharge, columns[2], np.clip(columns[3], 0.0, None), np.clip(columns[4], 0.0, None)]


def _objective(problem: CoupledProblem, columns: list[np.ndarray]) -> float:
    p = problem.problems[0]
    dt, penalty, price = float(p["dt"]), float(p["penalty"]), p["price"]
    revenue = (price[None, :] / 1000.0 * (columns[1] - columns[0]) * dt).ravel().tolist()
    return math.fsum(revenue) - penalty * math.fsum((columns[3] + columns[4]).ravel().tolist())


def _modes(solutions: list) -> np.ndarray:
    charge = np.array([s.charge for s in solutions])
    discharge = np.array([s.discharge for s in solutions])
    return np.sign(charge - discharge)


def _per_step_keys(problem: CoupledProblem) -> list[str]:
    steps = problem.steps
    return [k for k, v in problem.problems[0].items() if isinstance(v, np.ndarray) and v.shape == (steps,)]


def aggregated_problem(problem: CoupledProblem) -> CoupledProblem:
    """One equivalent fleet per set of fleets that share the same couplings (for a cheap first multiplier).

    The fleets behind exactly the same couplings are merged into one: power and
    energy bounds and initial states summed, efficiencies averaged (weighted by
    mean power).  Its coupled LP has ``groups * steps`` cells instead of
    ``fleets * steps``; its coupling duals are a start for the multipliers.  Any
    multiplier gives a valid bound (the dual function), so the averaging costs
    at most iterations, never correctness.

    Parameters
    ----------
    problem : CoupledProblem

    Returns
    -------
    CoupledProblem
        With one "fleet" per membership pattern, named ``group0``, ``group1``, ...
    """
    membership = problem.membership()
    patterns: dict[tuple[bool, ...], list[int]] = {}
    for j in range(len(problem.problems)):
        patterns.setdefault(tuple(membership[:, j].tolist()), []).append(j)
    groups, members = [], [[] for _ in problem.members]
    for g, (pattern, fleets) in enumerate(patterns.items()):
        qs = [problem.problems[j] for j in fleets]
        weight = np.array([max(float(q["pmax"].mean()), 1e-12) for q in qs])
        merged = dict(qs[0])
        for key in ("pmax", "smin", "smax"):
            merged[key] = np.sum([q[key] for q in qs], axis=0)
        merged["s_init"] = float(sum(q["s_init"] for q in qs))
        for key in ("eta_in", "eta_out"):
            merged[key] = float(np.dot(weight, [q[key] for q in qs]) / weight.sum())
        groups.append(merged)
        for c, inside in enumerate(pattern):
            if inside:
                members[c].append(g)
    return CoupledProblem(
        problems=groups,
        fleets=tuple(f"group{g}" for g in range(len(groups))),
        members=[np.array(m, dtype=int) for m in members],
        import_kw=problem.import_kw,
        export_kw=problem.export_kw,
        names=problem.names,
    )


def windows(mask: np.ndarray, margin: int) -> list[tuple[int, int]]:
    """The runs of ``mask`` widened by ``margin`` steps on both sides and merged, as ``(first, last + 1)``.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        ``(steps,)``.
    margin : int

    Returns
    -------
    list of tuple of int

    Examples
    --------
    >>> windows(np.array([0, 0, 1, 0, 0, 0, 0, 1, 0], dtype=bool), 1)
    [(1, 4), (6, 9)]
    """
    steps = mask.shape[0]
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return []
    out: list[tuple[int, int]] = []
    for t in hits.tolist():
        a, b = max(0, t - margin), min(steps, t + margin + 1)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def window_repair(
    problem: CoupledProblem,
    solutions: list,
    nu: np.ndarray,
    margin: int,
    options: SolverOptions,
    deadline: float,
    violated_only: bool = False,
    batch_cells: int | None = None,
) -> tuple[dict[str, Any] | None, np.ndarray | None, int]:
    """Repair the fleets' DP answers against the coupling over windows around the steps that need it.

    Outside the steps where the DP answers break a limit (or where ``nu`` is
    non-zero, so that the answer was chosen at a price other than the true
    one), the fleets are independent and their DP answers are kept.  Around
    those steps, widened by ``margin`` steps and merged into windows, one LP
    (:class:`CoupledLP`, a segment per window) re-plans all fleets of the
    couplings at the true prices, starting each window from the DP's state
    before it and ending it at the DP's state at its last step (so that the
    kept answer after it stays feasible); slack makes it feasible whatever
    the states.  Simultaneous charging and discharging is then removed as in
    :func:`repair`, the modes following the DP answers.  The stitched
    dispatch meets every row of the model.

    With ``batch_cells``, the windows are first cut into pieces of at most
    ``batch_cells // fleets`` steps (each piece starting and ending at the DP's
    states, like a window) and solved as several LPs of at most about that many
    (fleet, step) cells each: the pieces are independent once their end states
    are fixed, and many small LPs are much cheaper than one large one.

    Parameters
    ----------
    problem : CoupledProblem
    solutions : list of FleetSolution
        The fleets' DP answers at ``nu``.
    nu : numpy.ndarray
        ``(couplings, steps)``, the multipliers the answers were computed at.
    margin : int
        Steps added on each side of a step that needs re-planning.
    options : SolverOptions
    deadline : float
        ``time.perf_counter()`` value to stop at.
    violated_only : bool
        Re-plan around the steps where the answers break a limit only (not where ``nu`` is non-zero).
    batch_cells : int, optional
        Solve the windows as LPs of at most about this many cells each (default: one LP).

    Returns
    -------
    tuple
        ``(dispatch, window_nu, cells)``: the repaired dispatch (``objective``,
        ``columns``) or None if an LP was not solved in time (with ``batch_cells``:
        the pieces repaired until then, the rest as the DP answers, marked
        ``partial``, which may break a limit); the relaxed
        window LPs' coupling duals as multipliers (``nu`` with the window steps
        replaced), or None; and the number of (fleet, step) cells re-planned.
    """
    columns = _columns(solutions)
    need = _violated(problem, columns[0], columns[1]).any(axis=0)
    if not violated_only:
        need |= (nu != 0).any(axis=0)
    spans = windows(need, margin)
    if not spans:
        return {"objective": math.nan, "columns": columns}, None, 0
    coupled = np.flatnonzero(problem.membership().any(axis=0))
    batches = [spans]
    if batch_cells:
        longest = max(1, int(batch_cells) // max(1, coupled.size))
        pieces = [(t, min(t + longest, b)) for a, b in spans for t in range(a, b, longest)]
        batches, size = [], longest + 1
        for piece in pieces:  # consecutive pieces into LPs of at most ``longest`` steps
            if size + piece[1] - piece[0] > longest:
                batches.append([])
                size = 0
            batches[-1].append(piece)
            size += piece[1] - piece[0]
    out = [c.copy() for c in columns]
    window_nu = nu.copy()
    modes = _modes(solutions)
    cells = 0
    for batch in batches:
        fixed, duals, index = _repair_spans(problem, columns, modes, coupled, batch, options, deadline)
        cells += index.size * coupled.size
        if duals is not None:
            window_nu[:, index] = duals
        if fixed is None:
            if batch_cells:  # the pieces repaired so far: a reference for the allotment repair
                return {"objective": math.nan, "columns": out, "partial": True}, None, cells
            return None, (window_nu if duals is not None else None), cells
        for k in range(5):
            out[k][np.ix_(coupled, index)] = fixed[k]
    return {"objective": math.nan, "columns": out}, window_nu, cells


def _repair_spans(
    problem: CoupledProblem,
    columns: list[np.ndarray],
    modes: np.ndarray,
    coupled: np.ndarray,
    spans: list[tuple[int, int]],
    options: SolverOptions,
    deadline: float,
) -> tuple[list[np.ndarray] | None, np.ndarray | None, np.ndarray]:
    """One window LP over ``spans`` (see :func:`window_repair`): the repaired blocks, the relaxed duals, the steps."""
    task = _span_task(problem, columns, modes, coupled, spans, options, deadline)
    blocks, duals = solve_span(task)
    return blocks, duals, task["index"]


def _span_task(
    problem: CoupledProblem,
    columns: list[np.ndarray],
    modes: np.ndarray,
    free: np.ndarray,
    spans: list[tuple[int, int]],
    options: SolverOptions,
    deadline: float,
) -> dict[str, Any]:
    """The window LP over ``spans`` for the fleets ``free`` (the others' flows taken off the limits), as a task."""
    index = np.concatenate([np.arange(a, b) for a, b in spans])
    lengths = np.array([b - a for a, b in spans])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    keys = _per_step_keys(problem)
    subs, initial = [], []
    for j in free.tolist():
        q = dict(problem.problems[j])
        for key in keys:
            q[key] = np.ascontiguousarray(q[key][index])
        soc = columns[2][j]
        initial.append([soc[a - 1] if a > 0 else problem.problems[j]["s_init"] for a, _ in spans])
        for (a, b), end in zip(spans, (starts + lengths - 1).tolist()):
            if b < problem.steps:  # the kept answer continues from this state
                q["smin"][end] = q["smax"][end] = soc[b - 1]
        subs.append(q)
    local = {int(j): i for i, j in enumerate(free.tolist())}
    membership = problem.membership()
    fixed = np.ones(len(problem.problems), dtype=bool)
    fixed[free] = False
    kept = (membership & fixed[None, :]).astype(float) @ (columns[0][:, index] - columns[1][:, index])
    import_kw = problem.import_kw[:, index] - kept  # inf stays inf; the range keeps its width import + export
    export_kw = problem.export_kw[:, index] + kept
    sub = CoupledProblem(
        problems=subs,
        fleets=tuple(problem.fleets[j] for j in free.tolist()),
        members=[np.array([local[int(j)] for j in m if int(j) in local], dtype=int) for m in problem.members],
        import_kw=import_kw,
        export_kw=export_kw,
        names=problem.names,
    )
    return {"problem": sub, "starts": starts, "initial": np.array(initial), "modes": modes[free][:, index],
            "options": options, "deadline": deadline, "index": index, "free": free}


def solve_span(task: dict[str, Any]) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """Solve one window LP (of :func:`window_repair` or :func:`block_repair`; a process-pool task).

    Parameters
    ----------
    task : dict
        ``problem`` (the free fleets over the span's steps, limits net of the fixed fleets),
        ``starts``, ``initial`` (see :class:`CoupledLP`), ``modes``, ``options`` and ``deadline``.

    Returns
    -------
    tuple
        The five ``(free fleets, span steps)`` blocks without simultaneous flows, or None if
        not solved in time; the relaxed LP's coupling duals (``(couplings, span steps)``, $/MWh)
        or None.
    """
    if not task["problem"].problems:
        return [np.zeros((0, task["index"].size))] * 5, None
    lp = CoupledLP(task["problem"], task["options"], starts=task["starts"], initial=task["initial"])
    relaxed = lp.solve(time_limit=task["deadline"] - time.perf_counter())
    if relaxed is None:
        return None, None
    fixed = repair(lp, relaxed, task["modes"], task["deadline"])
    return (None if fixed is None else fixed["columns"]), relaxed["nu"]


def block_repair(
    problem: CoupledProblem,
    solutions: list,
    margin: int,
    options: SolverOptions,
    deadline: float,
    max_cells: int = LOCAL_CELLS,
    workers: int = 1,
    free_only: bool = True,
) -> tuple[dict[str, Any] | None, int]:
    """Repair the DP answers around the steps where they break a limit: one small LP per block, in parallel.

    The steps where the answers break a limit, widened by ``margin`` steps on
    each side, form connected *blocks*; outside them the answers are kept.
    Every block is re-planned by its own LP at the true prices (as in
    :func:`window_repair`: from the DP's state before it to the DP's state at
    its last step, slack keeping it feasible, the modes fixed where the
    relaxation would charge and discharge at once), so the blocks are
    independent and are solved on ``workers`` processes.  With ``free_only``,
    only the fleets that push a broken step over its limit (importing where
    the import limit is broken, exporting where the export limit is) are
    re-planned in a block; the others keep their answers, whose net power is
    taken off the block's limits (at a broken step the kept fleets do not
    push towards the broken side, so scaling the free fleets' flows towards
    zero meets the limit, and elsewhere their DP answers do).  A block longer than ``max_cells // free fleets`` steps is cut into
    pieces, each from and to the DP's states (a cut fixes one more state, so
    it can only cost value).  Many small LPs are much cheaper for the simplex
    method than one large one.

    Parameters
    ----------
    problem : CoupledProblem
    solutions : list of FleetSolution
        The fleets' DP answers (at any multipliers).
    margin : int
        Steps added on each side of a broken step.
    options : SolverOptions
    deadline : float
        ``time.perf_counter()`` value to stop at.
    max_cells : int
        The largest LP, in (fleet, step) cells.
    workers : int
        Processes solving the blocks' LPs (1: in this process).
    free_only : bool
        Re-plan only the fleets that push a broken step over its limit.

    Returns
    -------
    tuple
        ``(dispatch, cells)``: the stitched dispatch (``objective`` NaN, ``columns``;
        marked ``partial`` when some LPs were not solved in time, whose blocks keep
        the DP answers, so that it may break a limit), or the DP answers as they are
        when they break no limit; and the (fleet, step) cells re-planned.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, wait

    from .process_pool import worker_pool

    columns = _columns(solutions)
    broken = _violated(problem, columns[0], columns[1])
    spans = windows(broken.any(axis=0), margin)
    if not spans:
        return {"objective": math.nan, "columns": columns}, 0
    membership = problem.membership()
    coupled = membership.any(axis=0)
    net = columns[0] - columns[1]
    modes = _modes(solutions)
    tasks = []
    for a, b in spans:
        if free_only:
            over_import = (broken[:, a:b] & (problem.net_import(columns[0][:, a:b], columns[1][:, a:b]) > 0))
            over_export = broken[:, a:b] & ~over_import
            push = np.zeros(len(problem.problems), dtype=bool)
            for c in range(len(problem.members)):
                inside = membership[c]
                push |= inside & ((net[:, a:b] > FLOW_TOLERANCE) & over_import[c][None, :]).any(axis=1)
                push |= inside & ((net[:, a:b] < -FLOW_TOLERANCE) & over_export[c][None, :]).any(axis=1)
            free = np.flatnonzero(push & coupled)
        else:
            free = np.flatnonzero(coupled)
        longest = max(1, int(max_cells) // max(1, free.size))
        for t in range(a, b, longest):
            tasks.append(_span_task(problem, columns, modes, free, [(t, min(t + longest, b))], options, deadline))
    out = [c.copy() for c in columns]
    cells = 0
    done = [False] * len(tasks)

    def stitch(k: int, blocks: list[np.ndarray] | None) -> None:
        nonlocal cells
        if blocks is None:
            return
        task = tasks[k]
        for i in range(5):
            if task["free"].size:
                out[i][np.ix_(task["free"], task["index"])] = blocks[i]
        cells += task["free"].size * task["index"].size
        done[k] = True

    parallel = workers > 1 and len(tasks) > 1 and not multiprocessing.current_process().daemon
    if parallel:
        with worker_pool(min(workers, len(tasks))) as pool:
            largest_first = sorted(range(len(tasks)), key=lambda k: -tasks[k]["index"].size * tasks[k]["free"].size)
            futures = {pool.submit(solve_span, tasks[k]): k for k in largest_first}  # a short tail of small LPs
            pending = set(futures)
            while pending:
                left = deadline - time.perf_counter() + 5.0
                finished, pending = wait(pending, timeout=max(left, 0.0) if math.isfinite(left) else None,
                                         return_when=FIRST_COMPLETED)
                if not finished:  # the LPs stop at the deadline themselves; this is a safeguard
                    for future in pending:
                        future.cancel()
                    break
                for future in finished:
                    stitch(futures[future], future.result()[0])
    else:
        for k, task in enumerate(tasks):
            if time.perf_counter() >= deadline:
                break
            stitch(k, solve_span(task)[0])
    dispatch = {"objective": math.nan, "columns": out}
    if not all(done) or _violated(problem, out[0], out[1]).any():  # the latter is a safeguard
        dispatch["partial"] = True
    return dispatch, cells


def _workers(options: SolverOptions) -> int:
    """Worker processes for the repairs: ``threads`` if given, else the cores this process may use."""
    import os

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return int(options.threads or available)



def allotments(problem: CoupledProblem, charge: np.ndarray, discharge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-fleet shares of every coupling's limits that keep a reference dispatch, as net-power intervals.

    The reference's net import ``n = charge - discharge`` of each fleet is
    first brought within the limits (where a coupling's sum exceeds its
    import limit, its importing fleets' ``n`` are scaled down; likewise for
    export).  In every step where a coupling's fleets could together exceed
    its import limit, each fleet's net import gets an upper end ``hi = n +``
    a share of the room left under the limit, in proportion to the power it
    could still add; where they could exceed the export limit, a lower end
    ``lo = n -`` a share of the export room.  The upper ends of a coupling sum
    to at most its import limit and the lower ends to at least minus its
    export limit, so any dispatch within the intervals meets every coupling
    row; a negative upper end makes a fleet discharge at least that much
    (it feeds another fleet behind the limit), a positive lower end makes it
    charge.  A fleet behind several couplings gets the narrowest ends.

    Parameters
    ----------
    problem : CoupledProblem
    charge, discharge : numpy.ndarray
        ``(fleets, steps)``, kW: the reference (feasible or not).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lo, hi)``, ``(fleets, steps)``, kW, within ``[-power, power]``.

    Examples
    --------
    Two fleets of 10 kW behind an import limit of 12 kW, the reference charging 8 kW and
    discharging 3 kW: the 7 kW left go to the fleets in proportion to the 2 and 13 kW they
    could add.

    >>> p = CoupledProblem(problems=[{"price": np.zeros(1), "pmax": np.full(1, 10.0)}] * 2, fleets=("a", "b"),
    ...                    members=[np.array([0, 1])], import_kw=np.full((1, 1), 12.0),
    ...                    export_kw=np.full((1, 1), np.inf), names=("site",))
    >>> lo, hi = allotments(p, np.array([[8.0], [0.0]]), np.array([[0.0], [3.0]]))
    >>> lo.ravel().tolist(), hi.ravel().round(4).tolist()
    ([-10.0, -10.0], [8.9333, 3.0667])
    """
    pmax = np.array([q["pmax"] for q in problem.problems], dtype=float)
    net = np.clip(charge - discharge, -pmax, pmax)
    for c, m in enumerate(problem.members):  # the reference within the limits
        total = net[m].sum(axis=0)
        for sign, limit in ((1.0, problem.import_kw[c]), (-1.0, problem.export_kw[c])):
            part = np.maximum(sign * net[m], 0.0)
            over = sign * total - limit
            scale = np.where(over > 0, 1.0 - over / np.where(part.sum(axis=0) > 0, part.sum(axis=0), 1.0), 1.0)
            net[m] = np.where(part > 0, sign * part * np.clip(scale, 0.0, 1.0), net[m])
            total = net[m].sum(axis=0)
    lo, hi = -pmax.copy(), pmax.copy()
    guard = 1.0 - 8.0 * _U * max(len(m) for m in problem.members) if problem.members else 1.0
    for c, m in enumerate(problem.members):
        for sign, limit, end in ((1.0, problem.import_kw[c], hi), (-1.0, problem.export_kw[c], lo)):
            bind = np.flatnonzero(pmax[m].sum(axis=0) > limit)
            if bind.size == 0:
                continue
            cells = np.ix_(m, bind)
            use = sign * net[cells]  # along the side: import (sign +1) or export (sign -1)
            want = pmax[cells] - use
            wanted = want.sum(axis=0)
            left = np.maximum(limit[bind] - use.sum(axis=0), 0.0) * guard  # rounding never lifts a sum above it
            share = np.minimum(np.where(wanted > 0, left / np.where(wanted > 0, wanted, 1.0), 0.0), 1.0)
            value = sign * (use + want * share)
            end[cells] = np.minimum(end[cells], value) if sign > 0 else np.maximum(end[cells], value)
    return np.minimum(lo, hi), hi


def interval_modes(problem: dict[str, Any], lo: np.ndarray, hi: np.ndarray) -> "StepModes":
    """The step revenues of one fleet whose net import is kept within ``[lo, hi]`` per step, as DP modes.

    Per step, in net import ``x`` (kW): one mode through ``lo`` and ``hi``
    when the interval does not contain 0 (forced charging or discharging) or
    the price is negative without exclusive charging (the chord); one mode
    through ``lo``, 0 and ``hi`` at a price ``>= 0``; else (a negative price,
    exclusive) a charging mode ``[0, hi]`` and a discharging mode ``[lo, 0]``.
    With ``lo = -power`` and ``hi = power`` these are the price taker's modes
    (:func:`aggregator.exact_dp.step_mode_arrays`).  A vertex at ``x`` has the
    energy change ``eta_in x dt`` (``x dt / eta_out`` for ``x < 0``) minus the
    driving, the revenue ``-price x dt / 1000`` and the powers ``max(x, 0)`` and
    ``max(-x, 0)``; beyond the interval the DP's slack rays apply.

    Parameters
    ----------
    problem : dict
        The fleet's problem (keyword arguments of :func:`aggregator.exact_dp.solve_fleet`, no wear).
    lo, hi : numpy.ndarray
        ``(steps,)``, kW, ``lo <= hi``.

    Returns
    -------
    aggregator.exact_dp.StepModes
    """
    from .exact_dp import StepModes

    price, dt = np.asarray(problem["price"], dtype=float), float(problem["dt"])
    eta_in, eta_out = float(problem["eta_in"]), float(problem["eta_out"])
    steps = price.shape[0]
    drive = np.zeros(steps) if problem.get("driving") is None else np.asarray(problem["driving"], dtype=float)
    straddle = (lo < 0.0) & (hi > 0.0)
    split = straddle & (price < 0.0) & bool(problem.get("exclusive", True))
    middle = straddle & (price >= 0.0)
    # Up to four vertices per step, in order; split steps are two modes of two vertices.
    x = np.stack([np.where(split, 0.0, lo), np.where(split, hi, np.where(middle, 0.0, hi)),
                  np.where(split, lo, hi), np.zeros(steps)], axis=1)
    count = np.where(split, 4, np.where(middle, 3, 2))
    keep = np.arange(4)[None, :] < count[:, None]
    xs = x[keep]
    t = np.repeat(np.arange(steps), count)
    vy = np.where(xs > 0, eta_in * xs * dt, xs * dt / eta_out) - drive[t]
    modes_per_step = np.where(split, 2, 1)
    per_mode = np.stack([np.where(split, 2, count), np.where(split, 2, 0)], axis=1)[np.arange(2)[None, :] < modes_per_step[:, None]]
    return StepModes(
        mode_start=np.concatenate([[0], np.cumsum(modes_per_step)]).astype(np.int64),
        vert_start=np.concatenate([[0], np.cumsum(per_mode)]).astype(np.int64),
        vy=np.ascontiguousarray(vy),
        vr=np.ascontiguousarray(-price[t] * xs * dt / 1000.0),
        vin=np.ascontiguousarray(np.maximum(xs, 0.0)),
        vout=np.ascontiguousarray(np.maximum(-xs, 0.0)),
        rev_scale=np.abs(price) * np.maximum(np.abs(lo), np.abs(hi)) * dt / 1000.0,
    )


def solve_within(task: dict[str, Any]) -> list[np.ndarray]:
    """One fleet solved exactly by the DP with its net import within ``task["lo"]`` .. ``task["hi"]``.

    Parameters
    ----------
    task : dict
        ``problem`` (the fleet's :func:`aggregator.exact_dp.solve_fleet` arguments), ``lo`` and ``hi``.

    Returns
    -------
    list of numpy.ndarray
        ``charge``, ``discharge``, ``soc``, ``slack_up``, ``slack_down``.
    """
    from .exact_dp import solve_modes

    q = task["problem"]
    keys = ("dt", "pmax", "smin", "smax", "s_init", "eta_in", "eta_out", "penalty", "exclusive", "driving", "floor",
            "shortfall_penalty")
    solution = solve_modes(interval_modes(q, task["lo"], task["hi"]), **{k: q[k] for k in keys if k in q})
    return [solution.charge, solution.discharge, solution.soc, solution.slack_up, solution.slack_down]


def allotment_repair(
    problem: CoupledProblem, charge: np.ndarray, discharge: np.ndarray, options: SolverOptions
) -> dict[str, Any] | None:
    """A dispatch that meets every coupling row: each fleet re-solved exactly within its share of the limits.

    The shares are :func:`allotments` of the reference; every fleet is then
    solved by the exact DP at the *true* prices with its net import kept
    within its interval (:func:`interval_modes`), in parallel.  The fleets'
    answers are exact within their intervals and the intervals' ends sum to
    within the limits, so the stitched dispatch is feasible; when the
    reference is itself feasible with exclusive flows, each fleet can keep
    its part of it, so the result is worth at least as much (a repeated
    repair never gets worse).

    Parameters
    ----------
    problem : CoupledProblem
    charge, discharge : numpy.ndarray
        ``(fleets, steps)``: the reference dispatch, kW.
    options : SolverOptions
        ``threads`` caps the worker processes.

    Returns
    -------
    dict or None
        ``objective`` (NaN: recomputed by the caller) and ``columns``; None if the
        stitched dispatch breaks a limit (not expected: a safeguard).
    """
    import multiprocessing

    from .process_pool import worker_pool

    lo, hi = allotments(problem, charge, discharge)
    tasks = [{"problem": q, "lo": lo[j], "hi": hi[j]} for j, q in enumerate(problem.problems)]
    workers = min(len(tasks), _workers(options))
    if workers > 1 and problem.steps * len(tasks) >= REPAIR_PARALLEL_MIN_CELLS and not multiprocessing.current_process().daemon:
        with worker_pool(workers) as pool:
            answers = list(pool.map(solve_within, tasks, chunksize=max(1, len(tasks) // (4 * workers))))
    else:
        answers = [solve_within(task) for task in tasks]
    columns = [np.array([a[k] for a in answers]) for k in range(5)]
    if _violated(problem, columns[0], columns[1]).any():
        return None
    return {"objective": math.nan, "columns": columns}


class CuttingPlaneMaster:
    """Kelley's cutting-plane model of the dual function, stabilised by a box (the boxstep method).

    Every fleet answer ``x`` found at some multipliers gives a plane below the
    fleet's value function, exact in ``nu`` (its value at the adjusted prices
    is linear in them)::

        V_f(nu) >= Pi_f(x) - dt/1000 * sum_{c,t} nu[c, t] * N_{f,c,t}(x).

    The fleets are summed into ``groups`` (one plane per group and
    evaluation: all fleets when there are few, else about ``max_groups``
    groups, which keeps the master small for many fleets).  The master LP
    minimises the model plus ``dt/1000 * sum (nu+ I + nu- E)`` over a box of
    half-width ``radius`` around the centre, in the multipliers of the
    *active* steps only: those where some combination of the known answers
    could reach a limit (elsewhere no row can bind in the model, and the
    multipliers stay 0).  It is solved by HiGHS's simplex method.

    Parameters
    ----------
    problem : CoupledProblem
    max_groups : int
        At most this many planes per evaluation.
    """

    def __init__(self, problem: CoupledProblem, max_groups: int = 16) -> None:
        self.problem = problem
        fleets = len(problem.problems)
        self.groups = [g for g in np.array_split(np.arange(fleets), min(fleets, max(1, max_groups))) if g.size]
        self.dt = float(problem.problems[0]["dt"])
        shape = (len(self.groups), len(problem.members), problem.steps)
        self.values: list[np.ndarray] = []  # per cut: (groups,)
        self.nets: list[np.ndarray] = []  # per cut: (groups, couplings, steps), kW
        self.highest = np.full(shape, -np.inf)
        self.lowest = np.full(shape, np.inf)
        membership = problem.membership()
        self._member = [membership[:, g] for g in self.groups]  # (couplings, fleets in group)
        self.active = np.zeros((len(problem.members), problem.steps), dtype=bool)
        self.flows: list[np.ndarray] = []  # per cut: the fleets' net import, (fleets, steps), float32
        self._group_of = np.zeros(fleets, dtype=int)
        for i, g in enumerate(self.groups):
            self._group_of[g] = i
        #: After :meth:`solve`: the weight of every cut in every group's model at the minimum
        #: (the master's duals, ``(cuts, groups)``, summing to 1 per group), else None.
        self.weights: np.ndarray | None = None

    def combination(self) -> np.ndarray:
        """The cuts' answers combined with :attr:`weights`: each fleet's net import, ``(fleets, steps)``, kW.

        At the minimum of the model the combination meets the coupling rows
        where the model's multipliers are free to move (the optimality
        conditions of the master LP); it is a reference for :func:`allotments`.
        """
        if self.weights is None:
            raise ValueError("no master solution yet")
        out = np.zeros(self.flows[0].shape)
        for k, flow in enumerate(self.flows[: self.weights.shape[0]]):  # the cuts of the last solve
            w = self.weights[k][self._group_of]
            if w.any():
                out += w[:, None] * flow
        return out

    def add(self, value: DualValue) -> None:
        """Add the planes of one evaluation of the dual function.

        Parameters
        ----------
        value : DualValue
        """
        columns = _columns(value.solutions)
        self.add_schedules(columns, value.nu)

    def add_schedules(self, columns: list[np.ndarray], nu: np.ndarray | None = None) -> None:
        """Add the planes of any schedules feasible for every fleet on its own (a DP answer or a repaired dispatch).

        Every schedule in a fleet's feasible set gives a plane below its value
        function, wherever it came from.  (Adding the repaired dispatches' planes
        as well was measured on 100 fleets and did not improve the dispatch; the
        backend adds the DP answers' only.)

        Parameters
        ----------
        columns : list of numpy.ndarray
            ``charge``, ``discharge``, ``soc``, ``slack_up``, ``slack_down``, each ``(fleets, steps)``.
        nu : numpy.ndarray, optional
            The multipliers the schedules were computed at (their non-zero steps become active).
        """
        p = self.problem
        net = columns[0] - columns[1]
        q = p.problems[0]
        slack = (columns[3] + columns[4]).sum(axis=1)
        worth = -(q["price"][None, :] * net).sum(axis=1) * self.dt / 1000.0 - float(q["penalty"]) * slack  # at the true prices
        nets = np.array([self._member[i].astype(float) @ net[g] for i, g in enumerate(self.groups)])
        self.values.append(np.array([worth[g].sum() for g in self.groups]))
        self.nets.append(nets)
        self.flows.append(net.astype(np.float32))
        self.highest = np.maximum(self.highest, nets)
        self.lowest = np.minimum(self.lowest, nets)
        reach = self.highest.sum(axis=0)
        fall = self.lowest.sum(axis=0)
        slack = FLOW_TOLERANCE * max(1.0, float(np.abs(reach).max(initial=0.0)), float(np.abs(fall).max(initial=0.0)))
        self.active |= (reach >= p.import_kw - slack) | (fall <= -p.export_kw + slack)
        if nu is not None:
            self.active |= nu != 0

    def solve(
        self, center: np.ndarray, radius: float, proximal: bool = False, time_limit: float = 60.0
    ) -> tuple[np.ndarray, float, bool] | None:
        """Minimise the model over the box around ``center`` (or plus a proximal term).

        Parameters
        ----------
        center : numpy.ndarray
            ``(couplings, steps)``; zero outside the active steps.
        radius : float
            Half-width of the box, $/MWh; with ``proximal``, the weight of the
            term ``||nu - center||^2 / (2 radius)`` instead (no box; HiGHS's QP solver).
        proximal : bool
        time_limit : float
            Seconds for HiGHS.

        Returns
        -------
        tuple or None
            ``(nu, model value, whether the box limits the answer)``; None if HiGHS fails.
        """
        import highspy

        p = self.problem
        k_cuts, groups = len(self.values), len(self.groups)
        cells = np.flatnonzero(self.active.ravel())
        m = cells.size
        scale = self.dt / 1000.0
        imp, exp = p.import_kw.ravel()[cells], p.export_kw.ravel()[cells]
        c0 = center.ravel()[cells]
        inf = highspy.kHighsInf
        lo, hi = (c0 - radius, c0 + radius) if not proximal else (np.full(m, -np.inf), np.full(m, np.inf))
        # columns: theta (groups, free), u = nu+ (m), w = nu- (m)
        cost = np.concatenate([np.ones(groups), scale * np.where(np.isinf(imp), 0.0, imp),
                               scale * np.where(np.isinf(exp), 0.0, exp)])
        u_hi = np.where(np.isinf(imp), 0.0, np.maximum(hi, 0.0))
        w_hi = np.where(np.isinf(exp), 0.0, np.maximum(-lo, 0.0))
        lower = np.concatenate([np.full(groups, -inf), np.maximum(lo, 0.0), np.maximum(-hi, 0.0)])
        upper = np.concatenate([np.full(groups, inf), u_hi, w_hi])
        lower[groups:] = np.minimum(lower[groups:], upper[groups:])
        # rows: theta_g + scale * sum net (u - w) >= value, for every cut and group
        coefficient = scale * np.array([n.reshape(groups, -1)[:, cells] for n in self.nets]).reshape(k_cuts * groups, m)
        dense = np.hstack([np.tile(np.eye(groups), (k_cuts, 1)), coefficient, -coefficient])
        from scipy import sparse

        matrix = sparse.csc_matrix(dense)
        matrix.eliminate_zeros()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = groups + 2 * m, k_cuts * groups
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
        lp.row_lower_ = np.concatenate(self.values)
        lp.row_upper_ = np.full(k_cuts * groups, inf)
        lp.sense_ = highspy.ObjSense.kMinimize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data
        with quiet_stdout(True):
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit))
        if proximal:
            # + ||u - w - c0||^2 / (2 radius): Hessian blocks [[1, -1], [-1, 1]] / radius (lower triangle).
            lp.col_cost_ = cost + np.concatenate([np.zeros(groups), -c0 / radius, c0 / radius])
            model = highspy.HighsModel()
            model.lp_ = lp
            hessian = model.hessian_
            hessian.dim_ = groups + 2 * m
            hessian.format_ = highspy.HessianFormat.kTriangular
            starts = np.concatenate([np.zeros(groups, dtype=np.int32), 2 * np.arange(m, dtype=np.int32),
                                     2 * m + np.arange(m + 1, dtype=np.int32)])
            index = np.concatenate([np.stack([groups + np.arange(m), groups + m + np.arange(m)], axis=1).ravel(),
                                    groups + m + np.arange(m)]).astype(np.int32)
            value = np.concatenate([np.tile([1.0, -1.0], m), np.ones(m)]) / radius
            hessian.start_, hessian.index_, hessian.value_ = starts, index, value
            model.hessian_ = hessian
            h.passModel(model)
        else:
            h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(h.getSolution().col_value)
        duals = np.abs(np.asarray(h.getSolution().row_dual)).reshape(k_cuts, groups)
        total = duals.sum(axis=0)
        self.weights = np.where(total > 0, duals / np.where(total > 0, total, 1.0), 1.0 / k_cuts)
        nu = np.zeros(p.import_kw.size)
        nu[cells] = x[groups : groups + m] - x[groups + m :]
        on_box = not proximal and bool(np.any(np.abs(nu[cells] - c0) >= radius * (1.0 - 1e-9)))
        return nu.reshape(p.import_kw.shape), float(cost @ x), on_box


def solve_coupled(inputs: xr.Dataset, couplings: Sequence["PowerCoupling"], options: SolverOptions) -> SolveOutcome:
    """Solve the documented model plus coupling rows by pricing the rows (see the module docstring).

    Parameters
    ----------
    inputs : xarray.Dataset
        Validated inputs.
    couplings : sequence of PowerCoupling
        The declared couplings (their rows are the only addition to the documented model).
    options : SolverOptions
        ``mip_gap``, ``time_limit``, ``threads``; extra keys ``max_iterations`` (dual
        evaluations after the start, default 60), ``window`` (steps re-planned on each
        side of a step that needs it, default 24), ``start`` (``"aggregate"``, default,
        or ``"zero"``), ``max_groups`` (planes per evaluation in the master, default 16),
        ``window_cells`` (the window LP is skipped above this many coupled cells,
        default :data:`WINDOW_CELLS`), ``allotment_rounds`` (default :data:`ALLOTMENT_ROUNDS`),
        ``lp_solver`` (HiGHS ``solver`` option for the LPs, default ``"simplex"``), ``local_repair``
        (above ``window_cells``, re-plan the steps the first answers break, one LP of at most
        ``local_cells`` cells per block, ``local_window`` steps each side: :func:`block_repair`; default on), ``radius`` (the box's
        first half-width, $/MWh; default twice the largest start multiplier) and ``shrink_after``
        (null steps before the box halves, default 2).

    Returns
    -------
    SolveOutcome
    """
    from .formulation import VARIABLES

    start = time.perf_counter()
    deadline = start + (options.time_limit if options.time_limit else math.inf)
    max_iterations = int(options.extra.get("max_iterations", 60))
    margin = int(options.extra.get("window", 24))
    chase = int(options.extra.get("chase", CHASE))
    proximal = str(options.extra.get("master", "box")) == "proximal"
    problem = CoupledProblem.from_inputs(inputs, couplings)
    target = max(options.mip_gap, NUMERICAL_GAP)
    window_cells = int(options.extra.get("window_cells", WINDOW_CELLS))
    rounds = int(options.extra.get("allotment_rounds", ALLOTMENT_ROUNDS))
    local = bool(options.extra.get("local_repair", True))
    local_margin = int(options.extra.get("local_window", LOCAL_WINDOW))
    local_cells = int(options.extra.get("local_cells", LOCAL_CELLS))
    # The window bound (aggregator.window_bound) gets the rest of the time once the dual loop has had its share;
    # by default only where the window LP runs too (its MILPs grow with the fleets like that LP).
    few = int(problem.membership().any(axis=0).sum()) * problem.steps <= window_cells
    window_bound = bool(options.extra.get("window_bound", few))
    loop_deadline = deadline
    if window_bound and math.isfinite(deadline):
        loop_deadline = start + (1.0 - float(options.extra.get("window_bound_share", BOUND_SHARE))) * (deadline - start)
    timings = {"start_seconds": 0.0, "dp_seconds": 0.0, "master_seconds": 0.0, "repair_seconds": 0.0,
               "allotment_seconds": 0.0, "window_bound_seconds": 0.0}
    counts = {"dual_evaluations": 0, "serious_steps": 0, "repairs": 0, "repair_cells_max": 0, "allotment_repairs": 0,
              "local_repairs": 0}

    def timed(key: str, call, *args):
        tick = time.perf_counter()
        try:
            return call(*args)
        finally:
            timings[key] += time.perf_counter() - tick

    nu = np.zeros(problem.import_kw.shape)
    if str(options.extra.get("start", "aggregate")) == "aggregate":
        relaxed = timed("start_seconds", lambda: CoupledLP(aggregated_problem(problem), options).solve(
            time_limit=deadline - time.perf_counter()))
        if relaxed is not None:
            nu = problem.clip_multipliers(relaxed["nu"])
    master = CuttingPlaneMaster(problem, int(options.extra.get("max_groups", 16)))

    seen: set[bytes] = set()

    def evaluate(multipliers: np.ndarray) -> DualValue:
        value = timed("dp_seconds", dual_value, problem, multipliers, options)
        seen.add(value.nu.tobytes())
        counts["dual_evaluations"] += 1
        master.add(value)
        return value

    primal, best_objective = None, -math.inf
    pending: list[np.ndarray] = []

    def consider(candidate: dict[str, Any] | None) -> bool:
        """Keep ``candidate`` if it is the best dispatch so far; whether it was."""
        nonlocal primal, best_objective
        if candidate is None:
            return False
        worth = _objective(problem, _clean(candidate["columns"]))
        if worth > best_objective + _improvement(best_objective):
            primal, best_objective = candidate, worth
            return True
        return False

    def improve(value: DualValue, queue: bool = True) -> None:
        """Repair the answers at ``value`` and keep the better dispatch; queue the windows' duals."""
        if consider(_dp_candidate(problem, value.solutions)) and not (value.nu != 0).any():
            return  # feasible at the true prices: the uncoupled optimum itself
        coupled_cells = int(problem.membership().any(axis=0).sum()) * problem.steps
        if coupled_cells > window_cells and local and not counts["local_repairs"]:
            # Many fleets: LPs of at most ``local_cells`` cells around the steps the answers break, once.
            share = deadline if not math.isfinite(deadline) else time.perf_counter() + 0.85 * (deadline - time.perf_counter())
            fixed, cells = timed("repair_seconds", block_repair, problem, value.solutions, local_margin, options, share,
                                 local_cells, _workers(options) if coupled_cells >= REPAIR_PARALLEL_MIN_CELLS else 1)
            counts["local_repairs"] += 1
            counts["repair_cells_max"] = max(counts["repair_cells_max"], cells)
            if fixed is not None and fixed.get("partial"):
                fixed = timed("allotment_seconds", allotment_repair, problem, fixed["columns"][0], fixed["columns"][1], options)
                counts["allotment_repairs"] += 1
            consider(fixed)
        if coupled_cells <= window_cells:
            fixed, window_nu, cells = timed("repair_seconds", window_repair, problem, value.solutions, value.nu,
                                            margin, options, deadline)
            counts["repairs"] += 1
            counts["repair_cells_max"] = max(counts["repair_cells_max"], cells)
            consider(fixed)
            if window_nu is not None and queue and chase > 0:
                window_nu = problem.clip_multipliers(window_nu)
                if window_nu.tobytes() not in seen:  # the same windows can propose the same duals again
                    pending.append(window_nu)
        allot(value)

    def allot(value: DualValue | None) -> None:
        """Allotment repairs: from the master's combination of the answers (which meets the limits where the
        model's minimum does, when the master has run), else from ``value``'s answers, then from the best dispatch."""
        references = []
        if master.weights is not None:
            net = master.combination()
            references.append([np.maximum(net, 0.0), np.maximum(-net, 0.0)])
        elif primal is None and value is not None:
            references.append(_columns(value.solutions))
        for _ in range(rounds):
            if relative_gap(best_objective, best.bound) <= target or time.perf_counter() >= deadline:
                break
            given = bool(references)
            reference = references.pop() if given else primal["columns"]
            before = best_objective
            counts["allotment_repairs"] += 1
            better = consider(timed("allotment_seconds", allotment_repair, problem, reference[0], reference[1], options))
            if given or primal is None:
                continue
            if not better or best_objective - before < 0.01 * (best.bound - best_objective):
                break  # no longer worth a DP round

    center = evaluate(nu)
    best = center
    improve(center)
    price = problem.problems[0]["price"]
    radius = float(options.extra.get("radius", max(10.0, 2.0 * float(np.abs(nu).max(initial=0.0)), 0.1 * float(np.abs(price).max()))))
    shrink_after = int(options.extra.get("shrink_after", 2))
    iterations, chased, nulls = 0, 0, 0
    while (
        relative_gap(best_objective, best.bound) > target
        and iterations < max_iterations
        and time.perf_counter() < loop_deadline
    ):
        iterations += 1
        predicted, on_box = math.nan, False
        if pending:
            candidate_nu = pending.pop()
            chased += 1
        else:
            chased = 0
            limit = max(min(60.0, deadline - time.perf_counter()), 0.01)
            # The proximal weight makes a step along the centre's subgradient about ``radius`` long.
            weight = radius / max(float(np.linalg.norm(center.subgradient)), 1e-12)
            step = timed("master_seconds", master.solve, center.nu, weight, True, limit) if proximal else None
            if step is None:  # the box (also when HiGHS's QP solver fails)
                step = timed("master_seconds", master.solve, center.nu, radius, False, limit)
            if step is None:
                break
            candidate_nu, model, on_box = step
            predicted = center.bound - model
            if relative_gap(best_objective, best.bound) > target:
                allot(None)  # the master's new weights: a new reference for the shares
            if predicted <= 0.1 * target * abs(center.bound) and not on_box:
                # The model's minimum is the centre: the restricted dual is solved to within the target.
                if margin >= problem.steps:
                    break
                margin = min(2 * margin, problem.steps)  # the gap is the repair's: re-plan wider windows
                improve(center)
                continue
        current = evaluate(candidate_nu)
        log.debug("decomposition: evaluation %d bound %.10g (centre %.10g, predicted decrease %.4g, radius %.4g) profit %.10g",
                  counts["dual_evaluations"], current.bound, center.bound, predicted, radius, best_objective)
        if current.bound < best.bound:
            best = current
        decrease = center.bound - current.bound
        if decrease > 0 and (not math.isfinite(predicted) or decrease >= 0.1 * predicted):
            center, nulls = current, 0  # a serious step
            counts["serious_steps"] += 1
            if math.isfinite(predicted) and (on_box or decrease >= 0.5 * predicted):
                radius *= 2.0  # the model was right, or the box stopped a good step: trust a larger box
            improve(current, queue=chased < chase)
        elif math.isfinite(predicted):
            nulls += 1
            if nulls % shrink_after == 0:  # the model's new planes did not help twice: a smaller box
                radius = max(radius / 2.0, 1e-6)

    bound = best.bound
    if window_bound and relative_gap(best_objective, bound) > target and time.perf_counter() < deadline:
        partial, repaired = timed("window_bound_seconds", tighten, problem, best.nu, best.solutions,
                                  None if primal is None else primal["columns"], options, deadline)
        consider(repaired)
        if partial is not None:
            bound = min(bound, partial.bound)
            counts["window_bound_windows"] = len(partial.spans)
            counts["window_bound_evaluations"] = partial.evaluations

    seconds = time.perf_counter() - start
    solver = f"decomposition (dp + highs {_highs_version()})"
    details = {
        "iterations": iterations,
        "window": margin,
        "active_steps": int(master.active.sum()),
        **counts,
        **{k: round(v, 3) for k, v in timings.items()},
    }
    if primal is None:
        return SolveOutcome(status="no_solution", bound=bound, solver=solver, solve_seconds=seconds,
                            termination="time_limit", message="no repaired dispatch within the time limit",
                            details=details)
    columns = _clean(primal["columns"])
    coords = {"time": inputs["time"], "fleet": inputs["fleet"]}
    solution = xr.Dataset(
        {name: xr.DataArray(columns[k].T, dims=("time", "fleet"), coords=coords) for k, name in enumerate(VARIABLES)}
    )
    gap = relative_gap(best_objective, bound)
    status = "optimal" if gap <= target else "time_limit"
    message = ""
    if status != "optimal":
        message = (
            f"stopped after {iterations} multiplier updates with certified gap {gap:.3g} above the requested "
            f"{options.mip_gap:g}"
        )
    return SolveOutcome(
        status=status,
        objective=best_objective,
        bound=bound,
        solution=solution,
        solver=solver,
        solve_seconds=seconds,
        termination="optimal" if status == "optimal" else "gap_not_reached",
        message=message,
        details=details,
    )


def _highs_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("highspy")
    except PackageNotFoundError:  # pragma: no cover
        return ""


class DecompositionBackend(SolverBackend):
    """Fleets behind shared connections: priced coupling rows, exact per-fleet DP, repaired LP dispatch."""

    name = "decomposition"
    description = "dual decomposition of declared coupling rows over the exact per-fleet DP, certified bound"
    priority = 90
    options = {
        "max_iterations": "multiplier updates after the LP start (default 60)",
        "lp_solver": "HiGHS solver for the coupled LPs: simplex (default), ipm or pdlp",
    }

    @classmethod
    def is_available(cls) -> bool:  # noqa: D102 - documented in the base class
        from importlib.util import find_spec

        return find_spec("highspy") is not None

    def supports(self, aggregator: "Aggregator") -> str | None:  # noqa: D102
        couplings = aggregator.couplings()
        if couplings is None:
            return "the model has a subclass step or a model extension that is not a declared coupling"
        if not couplings:
            return "no coupling is declared (the fleets are independent: dp solves them)"
        inputs = aggregator.inputs
        from .price_impact import has_price_impact

        if has_price_impact(inputs):
            return "the price impact is not priced by the decomposition (the MILP carries it with the coupling rows)"

        richer = [f.name for f in aggregator.fleets if f.representation != "study"]
        if richer or ("wear_cost" in inputs and bool((inputs["wear_cost"] > 0).any())):
            # Its coupled LP and repair model the study's fleet only; the DP bound alone would be valid.
            which = f"fleets {', '.join(map(repr, richer))} are not representation = 'study'" if richer else "wear_cost is set"
            return f"{which}; the decomposition's LP start and repair cover the study representation without wear only"
        return None

    def solve(self, aggregator: "Aggregator", options: SolverOptions) -> SolveOutcome:  # noqa: D102
        couplings = aggregator.couplings() or []
        return solve_coupled(aggregator.inputs, couplings, options)
