"""aggregator-gridlimit: a grid-connection limit shared by the fleets.

Active only when the scenario asks for it::

    [extensions.grid_limit]
    kw = 5000            # import limit at the connection, kW
    export_kw = 3000     # optional export limit, kW (default: kw)
    fleets = ["a", "b"]  # optional: the fleets behind the connection (default: all)

It adds two constraints over time to the model, on the *net* power the fleets
draw through the connection (one fleet may discharge into another)::

    sum(charge - discharge) <=  kw          (grid_limit_import)
    sum(discharge - charge) <=  export_kw   (grid_limit_export)

The model is then no longer the standard one, so ``[solver] name = "auto"``
solves it with a general MILP backend.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import linopy
import xarray as xr

import aggregator
from aggregator import InputError
from aggregator.plugins import model_extension

__all__ = ["grid_limit_options", "aggregator_extend_model"]
__version__ = "0.1.0"

NAME = "grid_limit"
OPTIONS = {
    "kw": "import limit at the grid connection in kW (required)",
    "export_kw": "export limit in kW (default: kw)",
    "fleets": "names of the fleets behind the connection (default: all)",
}


def _limit(options: Mapping[str, Any], key: str) -> float:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"[extensions.{NAME}] {key} = {value!r}: expected a number of kW >= 0")
    return float(value)


def grid_limit_options(options: Mapping[str, Any], fleet_names: list[str]) -> tuple[float, float, list[str]]:
    """Check the ``[extensions.grid_limit]`` table.

    Parameters
    ----------
    options : mapping
        The table.
    fleet_names : list of str
        The scenario's fleets.

    Returns
    -------
    tuple
        ``(import_kw, export_kw, fleets)``.

    Raises
    ------
    InputError
        Naming the key at fault.

    Examples
    --------
    >>> grid_limit_options({"kw": 500}, ["a", "b"])
    (500.0, 500.0, ['a', 'b'])
    """
    if "kw" not in options:
        raise InputError(f"[extensions.{NAME}] needs `kw = ...` (the import limit in kW)")
    import_kw = _limit(options, "kw")
    export_kw = _limit(options, "export_kw") if "export_kw" in options else import_kw
    fleets = options.get("fleets", fleet_names)
    if not isinstance(fleets, list) or not fleets or not all(isinstance(f, str) for f in fleets):
        raise InputError(f"[extensions.{NAME}] fleets = {fleets!r}: expected a list of fleet names")
    for name in fleets:
        if name not in fleet_names:
            raise InputError(
                f"[extensions.{NAME}] fleets: no fleet named {name!r}; fleets are {', '.join(fleet_names)}"
            )
    return import_kw, export_kw, list(fleets)


@aggregator.hookimpl
@model_extension(NAME, options=OPTIONS)
def aggregator_extend_model(model: linopy.Model, inputs: xr.Dataset) -> None:
    """A grid-connection limit on the fleets' net import and export (``[extensions.grid_limit]``).

    Parameters
    ----------
    model : linopy.Model
        The model; gets the constraints ``grid_limit_import`` and
        ``grid_limit_export`` over time when the scenario has the table.
    inputs : xarray.Dataset
        The validated inputs; ``inputs.attrs["extensions"]["grid_limit"]``
        holds the options.

    Raises
    ------
    InputError
        Naming the ``[extensions.grid_limit]`` key at fault.
    """
    options = inputs.attrs.get("extensions", {}).get(NAME)
    if options is None:  # not asked for: leave the model untouched
        return
    import_kw, export_kw, fleets = grid_limit_options(options, [str(f) for f in inputs.indexes["fleet"]])
    net = (model["charge"] - model["discharge"]).sel(fleet=fleets).sum("fleet")
    model.add_constraints(net <= import_kw, name="grid_limit_import")
    model.add_constraints(-net <= export_kw, name="grid_limit_export")
