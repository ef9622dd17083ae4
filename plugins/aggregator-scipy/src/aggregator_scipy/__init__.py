"""aggregator-scipy: a solver backend that solves the MILP with :func:`scipy.optimize.milp`.

It takes the linopy model as matrices (so it solves any model, including one
that a model extension changed), hands them to SciPy's bundled HiGHS and maps
the solution back to the model's variables.  It reports the bound the solver
proves, so the certified gap is as trustworthy as the builtin ``highs``
backend's.  It needs SciPy but not highspy.  Select it with::

    [solver]
    name = "scipy"
    presolve = true     # optional
    node_limit = 10000  # optional

``auto`` prefers the builtin ``highs`` backend (priority 10) and falls back to
this one (priority 5) when highspy is missing.
"""

from __future__ import annotations

import importlib.util
import math
import time
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

import aggregator
from aggregator import InputError, SolveOutcome, SolverBackend, SolverOptions
from aggregator.formulation import VARIABLES
from aggregator.solvers import relative_gap

if TYPE_CHECKING:  # pragma: no cover
    import linopy

__all__ = ["ScipyBackend"]
__version__ = "0.1.0"

# scipy.optimize.milp status codes
_OPTIMAL, _LIMIT, _INFEASIBLE, _UNBOUNDED = 0, 1, 2, 3


def _scipy_version() -> str:
    try:
        return version("scipy")
    except PackageNotFoundError:  # pragma: no cover
        return ""


class ScipyBackend(SolverBackend):
    """The MILP with scipy.optimize.milp (SciPy's HiGHS), from the linopy model's matrices."""

    name = "scipy"
    description = "the MILP with scipy.optimize.milp (SciPy's bundled HiGHS); any model, proven bound"
    priority = 5
    options = {
        "presolve": "run the solver's presolve (true/false, default true)",
        "node_limit": "stop after this many branch-and-bound nodes (integer)",
    }

    @classmethod
    def is_available(cls) -> bool:
        """Whether SciPy and linopy are installed (without importing them).

        Returns
        -------
        bool
        """
        return importlib.util.find_spec("scipy") is not None and importlib.util.find_spec("linopy") is not None

    def _milp_options(self, options: SolverOptions) -> dict[str, Any]:
        extra = dict(options.extra)
        unknown = sorted(set(extra) - set(self.options))
        if unknown:
            raise InputError(
                f"[solver] {unknown[0]} = {extra[unknown[0]]!r}: not an option of the scipy backend "
                f"(options: {', '.join(sorted(self.options))})"
            )
        milp: dict[str, Any] = {"disp": bool(options.verbose), "mip_rel_gap": float(options.mip_gap)}
        if options.time_limit is not None:
            milp["time_limit"] = float(options.time_limit)
        if "presolve" in extra:
            if not isinstance(extra["presolve"], bool):
                raise InputError(f"[solver] presolve = {extra['presolve']!r}: expected true or false")
            milp["presolve"] = extra["presolve"]
        if "node_limit" in extra:
            limit = extra["node_limit"]
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise InputError(f"[solver] node_limit = {limit!r}: expected an integer >= 1")
            milp["node_limit"] = limit
        return milp

    def solve(self, aggregator: "aggregator.Aggregator", options: SolverOptions) -> SolveOutcome:
        """Build the model, solve it with :func:`scipy.optimize.milp`, map the solution back.

        Parameters
        ----------
        aggregator : aggregator.Aggregator
            The problem.
        options : SolverOptions
            ``mip_gap``, ``time_limit``, ``verbose`` and the options in :attr:`options`
            (``threads`` is ignored: SciPy's HiGHS runs on one thread).

        Returns
        -------
        SolveOutcome
            With the bound the solver proves (NaN when it proves none).
        """
        from scipy.optimize import Bounds, LinearConstraint, milp

        milp_options = self._milp_options(options)
        model = aggregator.build_model()
        m = model.matrices
        maximise = model.objective.sense == "max"
        constant = float(model.objective.expression.const.sum()) if hasattr(model.objective, "expression") else 0.0
        c = np.asarray(m.c, dtype=float)
        sense = np.asarray(m.sense).astype(str)
        b = np.asarray(m.b, dtype=float)
        lower = np.where(np.isin(sense, [">", "="]), b, -np.inf)
        upper = np.where(np.isin(sense, ["<", "="]), b, np.inf)
        integrality = (np.asarray(m.vtypes).astype(str) != "C").astype(int)
        constraints = [LinearConstraint(m.A, lower, upper)] if len(b) else []
        label = f"scipy {_scipy_version()}".strip()
        start = time.perf_counter()
        try:
            res = milp(
                c=-c if maximise else c,
                constraints=constraints,
                integrality=integrality,
                bounds=Bounds(np.asarray(m.lb, dtype=float), np.asarray(m.ub, dtype=float)),
                options=milp_options,
            )
        except Exception as exc:  # a solver crash is reported, not raised
            return SolveOutcome("error", solver=label, solve_seconds=time.perf_counter() - start,
                                termination="error", message=f"scipy.optimize.milp failed: {exc}")
        seconds = time.perf_counter() - start
        details = {"nodes": int(getattr(res, "mip_node_count", 0) or 0)}
        if res.x is None:
            status = {_INFEASIBLE: "infeasible", _UNBOUNDED: "error"}.get(res.status, "no_solution")
            return SolveOutcome(status, solver=label, solve_seconds=seconds, termination=str(res.message),
                                message=f"scipy.optimize.milp: {res.message}", details=details)
        sign = -1.0 if maximise else 1.0
        objective = sign * float(res.fun) + constant
        bound = self._bound(res, objective, sign, constant, bool(integrality.any()))
        gap = relative_gap(objective, bound)
        within = res.status == _OPTIMAL and math.isfinite(gap) and gap <= options.mip_gap * (1 + 1e-9) + 1e-12
        return SolveOutcome(
            status="optimal" if within else "time_limit",
            objective=objective,
            bound=bound,
            solution=_solution(model, np.asarray(m.vlabels), res.x),
            solver=label,
            solve_seconds=seconds,
            termination=str(res.message),
            details=details,
        )

    @staticmethod
    def _bound(res: Any, objective: float, sign: float, constant: float, has_integers: bool) -> float:
        """Upper bound of the maximum from what the solver proves (NaN when nothing is proven)."""
        if not has_integers:
            return objective if res.status == _OPTIMAL else math.nan
        dual = getattr(res, "mip_dual_bound", None)
        if dual is None or not math.isfinite(dual):
            return math.nan
        bound = sign * float(dual) + constant
        return max(bound, objective) if res.status == _OPTIMAL else bound


def _solution(model: "linopy.Model", vlabels: np.ndarray, x: np.ndarray) -> xr.Dataset:
    """The values of the reported variables over (time, fleet); variables left out of the model are 0."""
    from aggregator.formulation import OPTIONAL_VARIABLES

    names = list(VARIABLES) + [name for name in OPTIONAL_VARIABLES if name in model.variables]
    values = np.zeros(int(max(vlabels.max(initial=-1), max(int(model[v].labels.max()) for v in names))) + 2)
    values[vlabels] = x
    values[-1] = 0.0  # label -1: a slot masked out of the model
    return xr.Dataset({
        name: model[name].labels.copy(data=values[model[name].labels.to_numpy()]) for name in names
    })


@aggregator.hookimpl
def aggregator_register_solver_backends() -> list[type[SolverBackend]]:
    """Register the ``scipy`` solver backend.

    Returns
    -------
    list of type
        ``[ScipyBackend]``.
    """
    return [ScipyBackend]
