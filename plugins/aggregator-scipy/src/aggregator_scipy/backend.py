"""The ``scipy`` solver backend (:class:`ScipyBackend`): the linopy model's matrices solved by scipy.optimize.milp."""

from __future__ import annotations

import importlib.util
import math
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

import aggregator
from aggregator import InputError, SolveOutcome, SolverBackend, SolverOptions
from aggregator.solvers import relative_gap, solution_from_vector

__all__ = ["ScipyBackend"]

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
            solution=solution_from_vector(model, np.asarray(m.vlabels), res.x),
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
