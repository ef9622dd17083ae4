"""Solver backends: the plugin kind that turns a problem into a solution.

A backend receives the :class:`~aggregator.Aggregator` (from which it can take
the validated inputs, or build the linopy model) and returns a
:class:`SolveOutcome` of one shape whatever the solver: status, objective,
a bound that is proven to be at least the true optimum (or NaN when the
solver does not prove one), and the solution arrays.

Builtin backends:

- ``highs``: the MILP through linopy and HiGHS (highspy), the reference.
- ``linopy``: any other solver linopy supports and finds installed
  (``[solver] name = "linopy"``, ``solver = "cbc"``).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import numpy as np
import xarray as xr

from .errors import InputError
from .formulation import VARIABLES
from .options import Option

if TYPE_CHECKING:  # pragma: no cover
    import linopy

    from .aggregator import Aggregator

__all__ = [
    "SolveOutcome",
    "SolverOptions",
    "SolverBackend",
    "HighsBackend",
    "LinopyBackend",
    "relative_gap",
    "solution_from_vector",
    "absolute_tolerance",
    "money_scale",
]

#: Statuses a backend may report (``feasible``: a solution without a proven gap
#: within the requested one, e.g. from a heuristic, or a bound the core could not accept).
STATUSES = ("optimal", "feasible", "time_limit", "infeasible", "no_solution", "error")

#: The most solver threads accepted: HiGHS creates every thread it is given (100,000 take minutes).
MAX_THREADS = 1024


def check_threads(threads: Any, where: str = "threads") -> int | None:
    """A thread count, checked: None (the solver's default), or an integer from 0 (also the default) to 1024.

    Parameters
    ----------
    threads : int or None
    where : str
        The field's name, for the message.

    Returns
    -------
    int or None

    Raises
    ------
    InputError
        Not an integer, negative, or above :data:`MAX_THREADS`.
    """
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 0 <= threads <= MAX_THREADS:
        raise InputError(f"{where} = {threads!r}; expected an integer from 0 (the solver's default) to {MAX_THREADS}")
    return int(threads)


def relative_gap(objective: float, bound: float, absolute: float | None = None) -> float:
    """Certified relative gap ``(bound - objective) / |bound|``, 0 when the two are closer than ``absolute``.

    A relative gap means nothing when the optimum is at or near 0 (the
    bound of an optimum of 0 is a rounding allowance of, say, 1e-6 $, and
    its relative gap would be 1).  So a difference ``bound - objective`` up to
    an absolute tolerance counts as no gap: by default :data:`ABSOLUTE_GAP`
    (a micro-dollar); :meth:`aggregator.Aggregator.solve` passes the
    problem's own, :func:`absolute_tolerance`: ``1e-12`` times the problem's
    money scale (steps times the largest change of the objective one step
    can make).  Above it the gap is ``(bound - objective) / max(|bound|, absolute)``.

    Parameters
    ----------
    objective : float
        Objective of the solution found.
    bound : float
        Proven upper bound of the optimum (maximisation).
    absolute : float, optional
        Absolute tolerance in $ (default :data:`ABSOLUTE_GAP`).

    Returns
    -------
    float
        NaN when either is unknown; never negative beyond rounding.

    Examples
    --------
    >>> relative_gap(99.0, 100.0)
    0.01
    >>> relative_gap(0.0, 0.0)
    0.0
    >>> relative_gap(0.0, 1e-12)  # a difference below a micro-dollar is no gap
    0.0
    >>> relative_gap(0.0, 6.8e-6, absolute=5e-3)  # within the problem's tolerance: optimal at 0
    0.0
    """
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.nan
    absolute = ABSOLUTE_GAP if absolute is None else absolute
    diff = bound - objective
    if diff <= absolute:
        return 0.0
    return diff / max(abs(bound), absolute, 1e-9)


#: Differences between bound and objective up to this many $ count as no gap
#: (a relative gap means nothing when the optimum is about 0); the floor of
#: :func:`absolute_tolerance`.
ABSOLUTE_GAP = 1e-6

#: :func:`absolute_tolerance` is this share of a problem's money scale: about a
#: thousand times the rounding the exact DP charges per step (8 roundings of
#: the unit round-off 1.1e-16).
ABSOLUTE_GAP_FACTOR = 1e-12


def money_scale(inputs: xr.Dataset) -> float:
    """The problem's money scale in $: steps times the largest change of the objective one step can make.

    Per fleet and step, the most one step can move the objective is the
    revenue of full power at the largest price (``max|price| / 1000 *
    power_max * dt``) plus the penalty of slack worth the fleet's whole
    energy range (``slack_penalty * max(soc_max, soc_initial, power_max * dt)``).

    Parameters
    ----------
    inputs : xarray.Dataset
        Validated inputs (:attr:`aggregator.Aggregator.inputs`).

    Returns
    -------
    float
    """
    dt = float(inputs.attrs["step_hours"])
    price = float(np.max(np.abs(inputs["price"].to_numpy()), initial=0.0))
    pmax = inputs["power_max"].max("time").to_numpy() * dt
    energy = np.maximum.reduce([inputs["soc_max"].max("time").to_numpy(), inputs["soc_initial"].to_numpy(), pmax])
    per_step = price / 1000.0 * pmax + float(inputs.attrs["slack_penalty"]) * energy
    return float(inputs.sizes["time"] * per_step.sum())


def absolute_tolerance(inputs: xr.Dataset) -> float:
    """The absolute tolerance in $ within which bound and objective count as equal for this problem.

    ``max(ABSOLUTE_GAP, ABSOLUTE_GAP_FACTOR * money_scale(inputs))``: 1e-6 $ at
    least, else 1e-12 times :func:`money_scale`.  It decides when a gap is 0
    (:func:`relative_gap`) and how far below the recomputed objective a
    claimed bound may lie before it is no certificate.

    Parameters
    ----------
    inputs : xarray.Dataset

    Returns
    -------
    float

    Examples
    --------
    A week of zero prices, 1000 vehicles of 30 kWh at the default 1000 $/kWh penalty:
    168 steps x 1000 $/kWh x 30,000 kWh = 5.04e9 $, so 0.005 $.
    """
    return max(ABSOLUTE_GAP, ABSOLUTE_GAP_FACTOR * money_scale(inputs))


@dataclass(frozen=True)
class SolverOptions:
    """Options common to every backend.

    Parameters
    ----------
    mip_gap : float
        Requested relative optimality gap.
    time_limit : float or None
        Wall-clock limit in seconds.
    threads : int or None
        Threads the solver may use (None: its default).
    verbose : bool
        Show the solver's log.
    extra : mapping
        Backend-specific options (the other keys of ``[solver]``).
    """

    mip_gap: float = 1e-4
    time_limit: float | None = None
    threads: int | None = None
    verbose: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SolveOutcome:
    """What a backend returns, whatever the solver.

    Parameters
    ----------
    status : str
        One of ``optimal`` (gap within the requested one, with a finite
        bound), ``feasible`` (a solution, no proven gap within the requested
        one: a heuristic's answer), ``time_limit`` (stopped by the time limit
        with a solution outside the requested gap), ``infeasible``,
        ``no_solution`` (stopped without a solution), ``error``.  The core
        checks the claim (:meth:`aggregator.Aggregator.solve`) and downgrades
        a status the solution, bound or gap does not support.
    objective : float
        Objective value of the solution as the solver claims it (NaN without
        one); the core recomputes the reported objective from the solution
        and keeps this as ``solver_objective``.
    bound : float
        Proven upper bound of the optimum (NaN when not proven).
    solution : xarray.Dataset or None
        ``charge``, ``discharge``, ``soc``, ``slack_up``, ``slack_down`` over
        (time, fleet), and the values of any other variable of the built model
        (a subclass's or an extension's) under its name: the core checks the
        solution against every row of the model, and a model variable without
        values makes the solution unverifiable (status ``error``).
    solver : str
        Backend and solver that produced it, e.g. ``"highs 1.16.0"``.
    solve_seconds : float
        Wall time of the solve.
    termination : str
        The solver's own word for how it ended.
    message : str
        A sentence for the user when something went wrong or is worth knowing.
    details : dict
        Backend-specific facts (nodes, iterations, component counts, ...).
    """

    status: str
    objective: float = math.nan
    bound: float = math.nan
    solution: xr.Dataset | None = None
    solver: str = ""
    solve_seconds: float = 0.0
    termination: str = ""
    message: str = ""
    details: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Certified relative gap, NaN when no bound is proven."""
        return relative_gap(self.objective, self.bound)


class SolverBackend:
    """Base class of solver backends (a plugin kind).

    Subclasses set :attr:`name`, implement :meth:`solve` and may override
    :meth:`supports` and :meth:`is_available`.  Register them by returning the
    class from the ``aggregator_register_solver_backends`` hook.

    Attributes
    ----------
    name : str
        The name used in ``[solver] name = ...`` and ``--solver``.
    description : str
        One line for ``aggregator solvers``.
    priority : int
        Preference of ``auto`` among backends that support a problem (higher first).
    options : dict of str to Option
        Backend-specific keys of ``[solver]``, typed (see
        :class:`aggregator.options.Option`); a scenario that names the
        backend has them checked.  They reach :meth:`solve` in
        ``SolverOptions.extra``.
    exact : bool
        Whether the backend proves its bound (an exact method, not a
        heuristic); ``auto`` says so when it prefers an outside backend over
        an exact builtin one.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    priority: ClassVar[int] = 0
    exact: ClassVar[bool] = False
    options: ClassVar[Mapping[str, "Option | str"]] = {}

    @classmethod
    def is_available(cls) -> bool:
        """Whether the solver this backend drives is installed (cheap check)."""
        return True

    def supports(self, aggregator: "Aggregator") -> str | None:
        """Why this backend cannot solve the problem, or None when it can.

        Parameters
        ----------
        aggregator : Aggregator
            The problem.

        Returns
        -------
        str or None
        """
        return None

    def solve(self, aggregator: "Aggregator", options: SolverOptions) -> SolveOutcome:
        """Solve the problem.

        Parameters
        ----------
        aggregator : Aggregator
            The problem (inputs and model builder).
        options : SolverOptions
            Gap, time limit, threads and backend-specific options.

        Returns
        -------
        SolveOutcome
        """
        raise NotImplementedError


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True):
    """Silence what C libraries print on file descriptor 1.

    Solvers such as HiGHS print a banner straight to the process's standard
    output; ``--json`` must print exactly one JSON object there.

    Parameters
    ----------
    enabled : bool
        Do nothing when false.
    """
    if not enabled:
        yield
        return
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def solution_from_vector(model: "linopy.Model", vlabels: np.ndarray, x: np.ndarray) -> xr.Dataset:
    """Every model variable's values from a solver's solution vector over the model's columns.

    For backends that solve the matrices of the linopy model themselves
    (``model.matrices``): maps the values back to the model's variables by
    name, the reported ones of :data:`aggregator.formulation.VARIABLES` over
    ``(time, fleet)`` and any that an extension or subclass added (the core
    checks the solution against every row of the built model).

    Parameters
    ----------
    model : linopy.Model
        The built model.
    vlabels : numpy.ndarray
        The variable label of each column (``model.matrices.vlabels``).
    x : numpy.ndarray
        The solution, one value per column.

    Returns
    -------
    xarray.Dataset
        One variable per model variable (``charge``, ``discharge``, ``soc``,
        ``slack_up``, ``slack_down``, ``mode``, ...); an entry masked out of
        the model (label ``-1``) is 0.
    """
    vlabels = np.asarray(vlabels)
    names = list(model.variables)
    size = max(int(vlabels.max(initial=-1)), max(int(model[v].labels.max()) for v in names)) + 2
    values = np.zeros(size)
    values[vlabels] = np.asarray(x, dtype=float)
    values[-1] = 0.0  # label -1: a slot masked out of the model
    return xr.Dataset({
        name: model[name].labels.copy(data=values[model[name].labels.to_numpy()]) for name in names
    })


def _solution_from_model(model) -> xr.Dataset:
    """Every variable of the solved model (the reported ones and any an extension or subclass added)."""
    return xr.Dataset({name: model.solution[name] for name in model.variables})


class LinopyBackend(SolverBackend):
    """Any solver that linopy supports and finds installed (``solver = "cbc"``, ...)."""

    name = "linopy"
    description = "the MILP through linopy with any installed solver (option `solver`)"
    priority = 0
    options = {"solver": Option(str, "a solver linopy supports, e.g. glpk, cbc, scip, gurobi, cplex")}
    solver_name: ClassVar[str | None] = None

    @classmethod
    def is_available(cls) -> bool:  # noqa: D102
        import importlib.util

        return importlib.util.find_spec("linopy") is not None

    def _solver(self, options: SolverOptions) -> str:
        import linopy

        name = self.solver_name or options.extra.get("solver")
        installed = sorted(linopy.available_solvers)
        if not name:
            raise InputError(
                f"[solver] name = 'linopy' needs `solver = ...`; installed: {', '.join(installed) or 'none'}"
            )
        if name not in installed:
            raise InputError(
                f"[solver] solver = {name!r} is not installed; installed solvers: {', '.join(installed) or 'none'}"
            )
        return name

    def _solver_options(self, solver: str, options: SolverOptions) -> dict[str, Any]:
        extra = {k: v for k, v in options.extra.items() if k != "solver"}
        if solver == "highs":
            base: dict[str, Any] = {"mip_rel_gap": options.mip_gap, "output_flag": bool(options.verbose)}
            if options.time_limit is not None:
                base["time_limit"] = float(options.time_limit)
            if options.threads is not None:
                base["threads"] = int(options.threads)
            return base | extra
        names = {
            "gurobi": ("MIPGap", "TimeLimit", "Threads"),
            "cplex": ("mip.tolerances.mipgap", "timelimit", "threads"),
            "cbc": ("ratioGap", "sec", "threads"),
            "glpk": ("mipgap", "tmlim", None),
            "scip": ("limits/gap", "limits/time", "parallel/maxnthreads"),
        }.get(solver, (None, None, None))
        base = {}
        if names[0]:
            base[names[0]] = options.mip_gap
        if names[1] and options.time_limit is not None:
            base[names[1]] = options.time_limit
        if names[2] and options.threads is not None:
            base[names[2]] = options.threads
        return base | extra

    def solve(self, aggregator: "Aggregator", options: SolverOptions) -> SolveOutcome:  # noqa: D102
        solver = self._solver(options)
        model = aggregator.build_model()
        start = time.perf_counter()
        kwargs = self._solver_options(solver, options)
        try:
            with quiet_stdout(not options.verbose):
                termination = self._run(model, solver, kwargs, aggregator, options)
        except Exception as exc:  # a solver crash is reported, not raised
            return SolveOutcome(
                status="error",
                solver=solver,
                solve_seconds=time.perf_counter() - start,
                termination="error",
                message=f"solver {solver} failed: {exc}",
            )
        seconds = time.perf_counter() - start
        return self._outcome(model, solver, str(termination), seconds, options)

    def _run(self, model, solver: str, kwargs: dict[str, Any], aggregator: "Aggregator", options: SolverOptions) -> str:
        """Run the solver on the built model; return its termination condition."""
        _, termination = model.solve(
            solver_name=solver, io_api="direct" if solver == "highs" else None, progress=False, **kwargs
        )
        return str(termination)

    def _bound(self, model, solver: str, objective: float, termination: str, options: SolverOptions) -> float:
        """A proven bound from what the solver reports (conservative when it reports less)."""
        if termination != "optimal" or not math.isfinite(objective):
            return math.nan
        if not _has_binaries(model):
            return objective
        return objective + options.mip_gap * abs(objective)

    def _outcome(self, model, solver: str, termination: str, seconds: float, options: SolverOptions) -> SolveOutcome:
        objective = float(model.objective.value) if model.objective.value is not None else math.nan
        has_solution = math.isfinite(objective) and termination not in ("infeasible", "infeasible_or_unbounded")
        bound = self._bound(model, solver, objective, termination, options) if has_solution else math.nan
        version = _solver_version(solver)
        if not has_solution:
            status = "infeasible" if "infeasible" in termination else "no_solution"
            return SolveOutcome(
                status=status,
                solver=f"{solver} {version}".strip(),
                solve_seconds=seconds,
                termination=termination,
                message=f"{solver} ended with '{termination}' and no solution",
            )
        gap = relative_gap(objective, bound)
        within = math.isfinite(gap) and gap <= options.mip_gap * (1 + 1e-9) + 1e-12
        message = ""
        if within:
            status = "optimal"
        elif termination == "optimal":
            # The solver proved optimality within its own tolerances, not within the requested gap.
            status = "optimal"
            message = f"{solver} reports optimal at gap {gap:.1e}, above the requested {options.mip_gap:.1e}"
        else:
            status = "time_limit"
        return SolveOutcome(
            status=status,
            objective=objective,
            bound=bound,
            solution=_solution_from_model(model),
            solver=f"{solver} {version}".strip(),
            solve_seconds=seconds,
            termination=termination,
            message=message,
        )


def _has_binaries(model) -> bool:
    """Whether the model has at least one binary that is not masked out."""
    return any(bool((model.variables[name].labels >= 0).any()) for name in model.binaries)


def _solver_version(solver: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    dist = {"highs": "highspy", "gurobi": "gurobipy", "cplex": "cplex", "scip": "pyscipopt", "xpress": "xpress"}.get(
        solver
    )
    if not dist:
        return ""
    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


class HighsBackend(LinopyBackend):
    """The MILP through linopy and HiGHS, with the bound HiGHS proves."""

    name = "highs"
    description = "the exact MILP with HiGHS (highspy) through linopy, warm-started from the dp backend"
    priority = 10
    exact = True
    options = {
        "warm_start": Option(
            bool,
            "start from the dp backend's solution of the documented model (default true; "
            "turns HiGHS's presolve off unless `presolve` is set)",
        )
    }
    solver_name = "highs"

    def _run(self, model, solver, kwargs, aggregator, options):  # noqa: D102
        warm = options.extra.get("warm_start", True)
        kwargs = {k: v for k, v in kwargs.items() if k != "warm_start"}
        if not warm or not _has_binaries(model):
            return super()._run(model, solver, kwargs, aggregator, options)
        import linopy.solvers as linopy_solvers

        if not hasattr(linopy_solvers.Solver, "from_name"):  # older linopy: no hook between build and run
            return super()._run(model, solver, kwargs, aggregator, options)
        # HiGHS 1.16 with presolve and a MIP start can report the start's value in the presolved
        # space as objective and dual bound (6 $ above what its own solution is worth, on a 3-step
        # instance of issue 10): with a start, presolve is off unless the scenario sets it.
        kwargs.setdefault("presolve", "off")
        engine = linopy_solvers.Solver.from_name("highs", model=model, io_api="direct", options=kwargs)
        index, values = warm_start_vector(model, aggregator)
        if index.size:
            engine.solver_model.setSolution(int(index.size), index, values)
        result = engine.solve()
        model.assign_result(result)
        model.solver = engine
        return str(result.status.termination_condition.value)

    @classmethod
    def is_available(cls) -> bool:  # noqa: D102
        import importlib.util

        return importlib.util.find_spec("highspy") is not None and importlib.util.find_spec("linopy") is not None

    def _bound(self, model, solver, objective, termination, options):  # noqa: D102
        h = getattr(model, "solver_model", None)
        if h is None:
            return super()._bound(model, solver, objective, termination, options)
        info = h.getInfo()
        if not _has_binaries(model):
            return objective if termination == "optimal" else math.nan
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound):
            return math.nan
        # HiGHS reports the bound of its internal (minimisation) problem in the model's sense.
        return max(bound, objective) if termination == "optimal" else bound


def warm_start_vector(model, aggregator: "Aggregator") -> tuple[np.ndarray, np.ndarray]:
    """A MIP start for the model: the dp backend's solution of the documented model.

    Only the core variables (and the binary ``mode`` where it exists) get a
    value; columns an extension added are left for the solver to complete.  A
    start that violates an extension's constraints is simply rejected by the
    solver, so this never changes the optimum, only how soon a good incumbent
    is known.

    Parameters
    ----------
    model : linopy.Model
        The built model.
    aggregator : Aggregator
        Its problem.

    Returns
    -------
    tuple of numpy.ndarray
        Column positions (int32) and values for ``Highs.setSolution``.
    """
    from .dp_backend import combine_fleet_solutions, fleet_problems, solve_fleet_problem

    inputs = aggregator.inputs
    if "vehicle" in inputs.dims:  # per-vehicle variables: no complete start from fleet totals
        return np.zeros(0, dtype=np.int32), np.zeros(0)
    solutions = [solve_fleet_problem(p) for p in fleet_problems(inputs)]
    combined = combine_fleet_solutions(inputs, solutions, seconds=0.0).solution
    start = {name: combined[name].transpose("time", "fleet").to_numpy() for name in VARIABLES}
    if "shortfall" in model.variables:
        start["shortfall"] = combined["shortfall"].transpose("time", "fleet").to_numpy()
    charging = (start["charge"] > 0) | (start["discharge"] <= 0)
    start["mode"] = charging.astype(float)
    vlabels = np.asarray(model.matrices.vlabels)
    by_label = np.full(int(vlabels.max(initial=-1)) + 1, np.nan)
    for name, values in start.items():
        if name not in model.variables:
            continue
        labels = model.variables[name].labels.transpose("time", "fleet").to_numpy()
        present = labels >= 0
        by_label[labels[present]] = values[present]
    column_values = by_label[vlabels]
    index = np.flatnonzero(np.isfinite(column_values)).astype(np.int32)
    return index, column_values[index].astype(float)
