"""The ``grid_limit`` model extension (:class:`GridLimit`) and its coupling."""

from __future__ import annotations

from typing import Any, Mapping

import xarray as xr

from aggregator import InputError, ModelExtension
from aggregator.coupling import PowerCoupling
from aggregator.options import Option

__all__ = ["GridLimit", "grid_limit_coupling"]

NAME = "grid_limit"
_LIMIT = dict(type=(float, list), unit="kW", minimum=0)


def grid_limit_coupling(options: Mapping[str, Any], inputs: xr.Dataset) -> PowerCoupling:
    """The coupling that a checked ``[extensions.grid_limit]`` table declares.

    Parameters
    ----------
    options : mapping
        The table, checked against :attr:`GridLimit.options`.
    inputs : xarray.Dataset
        The problem's inputs (fleet names and number of steps).

    Returns
    -------
    PowerCoupling

    Raises
    ------
    InputError
        Naming the key at fault: a fleet that is not in the scenario, or a
        profile whose length is not the horizon's.

    Examples
    --------
    >>> import pandas as pd
    >>> inputs = xr.Dataset(coords={"time": pd.date_range("2024-01-01", periods=3, freq="h"), "fleet": ["a", "b"]})
    >>> c = grid_limit_coupling({"kw": 500, "export_kw": [0, 10, 20]}, inputs)
    >>> c.fleets, c.import_kw.tolist(), c.export_kw.tolist()
    (('a', 'b'), [500.0, 500.0, 500.0], [0.0, 10.0, 20.0])
    """
    where = f"[extensions.{NAME}]"
    names = [str(f) for f in inputs.indexes["fleet"]]
    fleets = options.get("fleets", names)
    for name in fleets:
        if name not in names:
            raise InputError(f"{where} fleets: no fleet named {name!r}; fleets are {', '.join(names)}")
    steps = int(inputs.sizes["time"])
    limits = {}
    for key in ("kw", "export_kw"):
        value = options.get(key, options["kw"])
        if isinstance(value, list) and len(value) != steps:
            raise InputError(
                f"{where} {key}: a profile of {len(value)} values; expected one value per step ({steps} steps)"
            )
        limits[key] = value
    return PowerCoupling.create(NAME, fleets, steps, import_kw=limits["kw"], export_kw=limits["export_kw"])


class GridLimit(ModelExtension):
    """A grid-connection limit on the fleets' net import and export (``[extensions.grid_limit]``)."""

    name = NAME
    options = {
        "kw": Option(**_LIMIT, required=True, description="import limit at the grid connection, or one per step"),
        "export_kw": Option(**_LIMIT, description="export limit, or one per step (default: kw)"),
        "fleets": Option(list, "the fleets behind the connection (default: all)", items=Option(str),
                         schema={"minItems": 1}),
    }

    def couplings(self, options: Mapping[str, Any], *, inputs: xr.Dataset) -> list[PowerCoupling]:
        """The one coupling of the connection (see :func:`grid_limit_coupling`).

        Parameters
        ----------
        options : mapping
            The checked ``[extensions.grid_limit]`` table.
        inputs : xarray.Dataset
            The problem's inputs.

        Returns
        -------
        list of PowerCoupling
        """
        return [grid_limit_coupling(options, inputs)]
