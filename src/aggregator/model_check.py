"""A built linopy model evaluated at a solution: every row, every bound, the objective.

The core checks what a backend returns against the model that was built --
the documented rows, and the rows and variables a subclass step or a model
extension added -- without trusting the backend's word (see
:meth:`aggregator.Aggregator.solve`).  Everything is evaluated from linopy's
own expressions in the model's units (coefficients, variable labels,
constants and right-hand sides), not from a solver's scaled matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import linopy
import numpy as np
import xarray as xr

__all__ = ["Violation", "column_values", "row_violations", "objective_value", "ROW_TOLERANCE"]

#: Relative feasibility tolerance: a row may miss by this share of its magnitude
#: (the larger of 1, its right-hand side and the sum of its terms' absolute values).
ROW_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Violation:
    """The worst violation of one constraint (or of one variable's bounds) by a solution.

    Parameters
    ----------
    name : str
        The constraint's name, or ``"bounds of X"`` / ``"integrality of X"``.
    amount : float
        By how much (in the row's units; NaN when a value is missing).
    tolerance : float
        What that row was allowed.
    """

    name: str
    amount: float
    tolerance: float


def _values(solution: xr.Dataset, name: str, labels: xr.DataArray) -> np.ndarray | None:
    if name in solution:
        return solution[name].transpose(*labels.dims).to_numpy().astype(float)
    if name == "mode" and "charge" in solution and "discharge" in solution:
        # The documented model's binary is implied by the dispatch: it may charge where it charges more.
        charge = solution["charge"].transpose(*labels.dims).to_numpy()
        discharge = solution["discharge"].transpose(*labels.dims).to_numpy()
        return (charge > discharge).astype(float)
    return None


def column_values(model: linopy.Model, solution: xr.Dataset) -> tuple[np.ndarray, list[str]]:
    """The solution's value of every model column, indexed by linopy variable label.

    Parameters
    ----------
    model : linopy.Model
        The built model.
    solution : xarray.Dataset
        Values of the model's variables by name over their dimensions (the
        documented ``mode`` binary may be absent: it is implied by
        ``charge`` and ``discharge``).

    Returns
    -------
    tuple of (numpy.ndarray, list of str)
        Values by label, one longer than the largest label with a last slot of
        0 (so that label -1, a masked term, reads 0); and the names of the
        model's variables the solution has no values for (their columns are NaN).
    """
    largest = max((int(model.variables[n].labels.max()) for n in model.variables), default=-1)
    x = np.full(largest + 2, np.nan)
    x[-1] = 0.0
    missing = []
    for name in model.variables:
        labels = model.variables[name].labels
        values = _values(solution, name, labels)
        if values is None:
            missing.append(name)
            continue
        lab = labels.to_numpy()
        present = lab >= 0
        x[lab[present]] = np.broadcast_to(values, lab.shape)[present]
    return x, missing


def _activity(expression, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value and sum of absolute term values of a linear expression, over its coordinates."""
    vars_ = expression.vars.to_numpy()
    coeffs = expression.coeffs.to_numpy()
    terms = np.where(vars_ >= 0, coeffs * x[vars_], 0.0)
    const = expression.const.to_numpy()
    return terms.sum(axis=-1) + const, np.abs(terms).sum(axis=-1) + np.abs(const)


def row_violations(model: linopy.Model, x: np.ndarray) -> list[Violation]:
    """The violated constraints, bounds and integralities of a model at column values ``x``.

    Parameters
    ----------
    model : linopy.Model
    x : numpy.ndarray
        Values by label, from :func:`column_values`.

    Returns
    -------
    list of Violation
        The worst row of each violated constraint (each beyond
        :data:`ROW_TOLERANCE` of its magnitude), worst first by the ratio of
        violation to tolerance; empty when the solution satisfies the model.
    """
    found: list[tuple[float, Violation]] = []

    def note(name: str, amount: np.ndarray, tolerance: np.ndarray, active: np.ndarray) -> None:
        amount = np.where(active, amount, 0.0)
        ratio = np.where(np.isnan(amount), np.inf, amount / tolerance)
        if not ratio.size or not ratio.max() > 1.0:
            return
        i = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        found.append((float(ratio[i]), Violation(name, float(amount[i]), float(tolerance[i]))))

    for name in model.constraints:
        con = model.constraints[name]
        lhs, size = _activity(con.lhs, x)
        rhs = np.broadcast_to(con.rhs.to_numpy().astype(float), lhs.shape)
        sign = np.broadcast_to(con.sign.to_numpy().astype(str), lhs.shape)
        diff = lhs - rhs
        amount = np.where(sign == "=", np.abs(diff), np.where(np.char.startswith(sign, "<"), diff, -diff))
        tolerance = ROW_TOLERANCE * np.maximum(1.0, np.maximum(size, np.where(np.isfinite(rhs), np.abs(rhs), 0.0)))
        note(name, amount, tolerance, con.labels.to_numpy() >= 0)
    binaries = set(model.binaries) | set(model.integers)
    for name in model.variables:
        var = model.variables[name]
        lab = var.labels.to_numpy()
        value = np.where(lab >= 0, x[lab], 0.0)
        lower = np.broadcast_to(var.lower.to_numpy().astype(float), lab.shape)
        upper = np.broadcast_to(var.upper.to_numpy().astype(float), lab.shape)
        amount = np.maximum(lower - value, value - upper)
        magnitude = np.maximum(np.abs(value), np.where(np.isfinite(lower), np.abs(lower), 0.0))
        tolerance = ROW_TOLERANCE * np.maximum(1.0, magnitude)
        note(f"bounds of {name}", amount, tolerance, lab >= 0)
        if name in binaries:
            note(f"integrality of {name}", np.abs(value - np.round(value)), np.full(lab.shape, ROW_TOLERANCE), lab >= 0)
    return [v for _, v in sorted(found, key=lambda item: -item[0])]


def objective_value(model: linopy.Model, x: np.ndarray) -> float:
    """The model's (linear) objective at column values ``x``, constant included.

    Parameters
    ----------
    model : linopy.Model
    x : numpy.ndarray
        Values by label, from :func:`column_values`.

    Returns
    -------
    float
        NaN when the objective is not linear.
    """
    expression = getattr(model.objective, "expression", None)
    if expression is None or not isinstance(expression, linopy.LinearExpression):
        return math.nan
    vars_ = expression.vars.to_numpy().ravel()
    coeffs = expression.coeffs.to_numpy().ravel()
    terms = np.where(vars_ >= 0, coeffs * x[vars_], 0.0)
    return math.fsum(terms) + float(expression.const.sum())
