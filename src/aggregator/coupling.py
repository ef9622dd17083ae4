"""Coupling constraints: per-step limits on the summed power of several fleets.

A model extension that only limits the fleets' combined net power (a shared
grid connection, a feeder, a transformer) *declares* its rows as
:class:`PowerCoupling` objects.  The rows still go into the linopy model
(:func:`add_coupling_rows`), so every general backend solves the same
problem; the declaration tells ``auto`` and the structure-aware decomposition
backend what those rows are, so that the problem keeps its structure: the
documented per-fleet model plus these rows and nothing else.

For a coupling ``c`` over fleets ``F_c`` and every step ``t``::

    sum_{f in F_c} (charge[t, f] - discharge[t, f]) <= import_kw[t]   (name + "_import")
    sum_{f in F_c} (discharge[t, f] - charge[t, f]) <= export_kw[t]   (name + "_export")

A limit of ``+inf`` at a step means no row is needed there (the row is then
added with an infinite right-hand side by :func:`add_coupling_rows`, which
linopy and HiGHS treat as free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import linopy
    import xarray as xr

__all__ = ["PowerCoupling", "add_coupling_rows", "check_coupling", "coupling_violation", "same_rows"]


def _limit_profile(value: ArrayLike, steps: int, where: str) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(steps, float(array))
    if array.shape != (steps,):
        raise InputError(f"{where}: expected a number or a profile of {steps} steps, got shape {array.shape}")
    if np.isnan(array).any() or (array < 0).any():
        bad = int(np.flatnonzero(np.isnan(array) | (array < 0))[0])
        raise InputError(f"{where}: step {bad} is {array[bad]!r}; expected a limit in kW >= 0 (inf for none)")
    return array


@dataclass(frozen=True)
class PowerCoupling:
    """A declared per-step limit on the net power of a set of fleets.

    Parameters
    ----------
    name : str
        Prefix of the linopy constraint names (``name + "_import"`` and
        ``name + "_export"``), usually the extension's name.
    fleets : tuple of str
        The fleets behind the connection.
    import_kw : numpy.ndarray
        Per-step limit (kW) of ``sum(charge - discharge)``; ``inf`` for none.
    export_kw : numpy.ndarray
        Per-step limit (kW) of ``sum(discharge - charge)``; ``inf`` for none.
    """

    name: str
    fleets: tuple[str, ...]
    import_kw: NDArray[np.float64]
    export_kw: NDArray[np.float64]

    @classmethod
    def create(
        cls,
        name: str,
        fleets: Sequence[str],
        steps: int,
        import_kw: ArrayLike = math.inf,
        export_kw: ArrayLike = math.inf,
    ) -> "PowerCoupling":
        """A checked coupling: limits broadcast to ``steps`` and non-negative.

        Parameters
        ----------
        name : str
        fleets : sequence of str
        steps : int
        import_kw, export_kw : float or array_like
            A number or a profile of ``steps`` values (kW), ``inf`` for none.

        Returns
        -------
        PowerCoupling

        Raises
        ------
        InputError
            Naming the limit at fault.

        Examples
        --------
        >>> c = PowerCoupling.create("site", ["a", "b"], 3, import_kw=500)
        >>> c.import_kw.tolist(), c.export_kw.tolist()
        ([500.0, 500.0, 500.0], [inf, inf, inf])
        """
        if not fleets:
            raise InputError(f"coupling {name!r}: expected at least one fleet")
        return cls(
            name=name,
            fleets=tuple(str(f) for f in fleets),
            import_kw=_limit_profile(import_kw, steps, f"coupling {name!r} import_kw"),
            export_kw=_limit_profile(export_kw, steps, f"coupling {name!r} export_kw"),
        )

    @property
    def constraint_names(self) -> tuple[str, str]:
        """The names of the two linopy constraints these rows are."""
        return (f"{self.name}_import", f"{self.name}_export")


def add_coupling_rows(model: "linopy.Model", coupling: PowerCoupling, inputs: "xr.Dataset") -> None:
    """Add a coupling's rows to a linopy model (both directions, every step).

    Parameters
    ----------
    model : linopy.Model
        The model, with ``charge`` and ``discharge`` over (time, fleet).
    coupling : PowerCoupling
    inputs : xarray.Dataset
        The validated inputs (for the time coordinate).
    """
    import xarray as xr

    check_coupling(coupling, inputs)
    time = inputs.indexes["time"]
    net = (model["charge"] - model["discharge"]).sel(fleet=list(coupling.fleets)).sum("fleet")
    imp = xr.DataArray(coupling.import_kw, coords={"time": time}, dims="time")
    exp = xr.DataArray(coupling.export_kw, coords={"time": time}, dims="time")
    model.add_constraints(net <= imp, name=coupling.constraint_names[0])
    model.add_constraints(-net <= exp, name=coupling.constraint_names[1])


def check_coupling(coupling: PowerCoupling, inputs: "xr.Dataset") -> None:
    """Check a coupling against the problem it is added to: known fleets, one limit per step.

    Parameters
    ----------
    coupling : PowerCoupling
    inputs : xarray.Dataset
        The validated inputs (fleet names and horizon).

    Raises
    ------
    InputError
        Naming the coupling's key at fault and what was expected.
    """
    fleets = [str(f) for f in inputs.indexes["fleet"]]
    unknown = [f for f in coupling.fleets if f not in fleets]
    if unknown:
        raise InputError(
            f"coupling {coupling.name!r} fleets: {unknown[0]!r} is not a fleet of the scenario; "
            f"expected one of {', '.join(fleets)}"
        )
    steps = inputs.sizes["time"]
    for key in ("import_kw", "export_kw"):
        _limit_profile(getattr(coupling, key), steps, f"coupling {coupling.name!r} {key}")


def coupling_violation(coupling: PowerCoupling, charge: "xr.DataArray", discharge: "xr.DataArray") -> float:
    """The largest violation (kW) of a coupling by a dispatch, 0 when it holds.

    Parameters
    ----------
    coupling : PowerCoupling
    charge, discharge : xarray.DataArray
        Over (time, fleet), kW.

    Returns
    -------
    float
    """
    net = (charge - discharge).sel(fleet=list(coupling.fleets)).sum("fleet").to_numpy()
    over = np.maximum(net - coupling.import_kw, -net - coupling.export_kw)
    return float(max(0.0, np.nanmax(over))) if over.size else 0.0


def same_rows(built: "linopy.Constraint", reference: "linopy.Constraint") -> bool:
    """Whether two linopy constraints over the same variables are the same rows.

    Same dimensions and coordinates, and row by row the same coefficient of
    every variable (terms summed per variable, zero terms dropped), the same
    sense and the same right-hand side (exactly: both are written from the
    same numbers when an extension declares its rows honestly).

    Parameters
    ----------
    built, reference : linopy.Constraint
        Constraints of two models whose variables have the same labels.

    Returns
    -------
    bool
    """
    from scipy import sparse

    dims = [d for d in reference.labels.dims]
    if sorted(built.labels.dims) != sorted(dims):
        return False
    for d in dims:
        if not built.labels.indexes[d].equals(reference.labels.indexes[d]):
            return False

    def rows(con: "linopy.Constraint") -> tuple:
        labels = con.labels.transpose(*dims).to_numpy().ravel()
        variables = con.vars.transpose(*dims, "_term").to_numpy().reshape(labels.size, -1)
        coeffs = con.coeffs.transpose(*dims, "_term").to_numpy().reshape(labels.size, -1).astype(float)
        keep = (variables >= 0) & (labels[:, None] >= 0)
        row = np.broadcast_to(np.arange(labels.size)[:, None], variables.shape)
        sign = np.broadcast_to(con.sign.to_numpy() if con.sign.ndim == 0 else con.sign.transpose(*dims).to_numpy().ravel(),
                               labels.shape)
        rhs = np.broadcast_to(con.rhs.to_numpy() if con.rhs.ndim == 0 else con.rhs.transpose(*dims).to_numpy().ravel(),
                              labels.shape).astype(float)
        return labels >= 0, (row[keep], variables[keep], coeffs[keep]), sign, rhs

    a_on, (a_row, a_var, a_coef), a_sign, a_rhs = rows(built)
    b_on, (b_row, b_var, b_coef), b_sign, b_rhs = rows(reference)
    if not np.array_equal(a_on, b_on):
        return False
    on = a_on
    if not (np.array_equal(a_sign[on], b_sign[on]) and np.array_equal(a_rhs[on], b_rhs[on])):
        return False
    width = int(max(a_var.max(initial=-1), b_var.max(initial=-1))) + 1
    shape = (on.size, width)
    a = sparse.csr_matrix((a_coef, (a_row, a_var)), shape=shape)
    b = sparse.csr_matrix((b_coef, (b_row, b_var)), shape=shape)
    difference = a - b
    difference.eliminate_zeros()
    return difference.nnz == 0
