"""Result files: provenance, and the Parquet format (netCDF and CSV live on :class:`~aggregator.Result`).

Every format carries the units and the provenance of a run:

- netCDF (``.nc``): the whole :class:`xarray.Dataset`; units in each
  variable's ``units`` attribute, run facts and provenance in the global
  attributes.
- Parquet (``.parquet``): the long table of :meth:`Result.to_dataframe`
  (one row per step and fleet); units in each column's field metadata
  (``units``), run facts, provenance and the per-fleet parameters as JSON
  under the schema metadata key ``aggregator``.  :meth:`Result.from_parquet`
  reads it back.
- CSV (``.csv``): the same long table; CSV has no place for metadata, so
  prefer netCDF or Parquet when provenance matters.

Provenance: ``scenario_hash`` (SHA-256 of the parsed scenario file, see
:func:`aggregator.scenario.scenario_hash`; present when the run came from a
scenario file through the command line), ``inputs_hash`` (SHA-256 of the
validated inputs the model was built from, always present), ``versions``
(Python, aggregator and the numerical packages), ``solver``,
``solver_choice``, ``status``, ``gap``, ``bound``, ``mip_gap`` and
``created``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .atomic import atomic_path
from .errors import InputError
from .input_files import check_regular

if TYPE_CHECKING:  # pragma: no cover
    from .result import Result

__all__ = [
    "PROVENANCE_KEYS", "STEP_COLUMNS", "provenance", "package_versions", "inputs_hash", "write_parquet", "read_parquet",
]

#: Attributes of a result that say where it came from.
PROVENANCE_KEYS = (
    "name",
    "scenario_hash",
    "inputs_hash",
    "versions",
    "solver",
    "solver_choice",
    "status",
    "gap",
    "bound",
    "mip_gap",
    "created",
)

_PACKAGES = ("aggregator", "numpy", "pandas", "xarray", "linopy", "highspy", "pluggy")
_METADATA_KEY = b"aggregator"


#: The columns of a result's long table (:meth:`aggregator.Result.to_dataframe`) with one value per step.
STEP_COLUMNS = ("price", "price_faced")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on.

    Returns
    -------
    dict of str to str
        ``python`` and each of aggregator, numpy, pandas, xarray, linopy,
        highspy, pluggy (``"not installed"`` when missing).
    """
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def inputs_hash(inputs: xr.Dataset) -> str:
    """SHA-256 of validated inputs: every variable's values and the model attributes.

    Two runs with the same hash solved the same problem, whatever files or
    Python code produced it.

    Parameters
    ----------
    inputs : xarray.Dataset
        The aggregator's inputs (:attr:`aggregator.Aggregator.inputs`).

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    for coord in ("time", "fleet"):
        digest.update(coord.encode())
        digest.update("\x1f".join(map(str, inputs.indexes[coord])).encode())
    for name in sorted(inputs.data_vars):
        digest.update(str(name).encode())
        digest.update(memoryview(np.ascontiguousarray(inputs[name].to_numpy(), dtype=float)).cast("B"))  # no copy
    attrs = {k: inputs.attrs[k] for k in sorted(inputs.attrs) if k != "price_source"}
    digest.update(json.dumps(attrs, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """A JSON-ready copy of an attribute value (NaN and infinities become None)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, str) else str(value)


def provenance(result: "Result") -> dict[str, Any]:
    """Where a result came from, as a JSON-ready dict.

    Parameters
    ----------
    result : Result

    Returns
    -------
    dict
        The :data:`PROVENANCE_KEYS` present in the result's attributes;
        ``versions`` as a dict.
    """
    attrs = result.dataset.attrs
    out: dict[str, Any] = {}
    for key in PROVENANCE_KEYS:
        if key in attrs:
            out[key] = _plain(attrs[key])
    if isinstance(out.get("versions"), str):
        try:
            out["versions"] = json.loads(out["versions"])
        except json.JSONDecodeError:
            pass
    return out


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "Parquet output needs pyarrow, which is not installed; install it with "
            "python -m pip install \"aggregator[parquet]\" (or python -m pip install pyarrow)"
        ) from None
    return pa, pq


def write_parquet(result: "Result", path: str | Path) -> Path:
    """Write a result as a Parquet table, atomically (see :meth:`Result.to_parquet`).

    Parameters
    ----------
    result : Result
    path : str or pathlib.Path

    Returns
    -------
    pathlib.Path
    """
    pa, pq = _pyarrow()
    path = Path(path)
    ds = result.dataset
    frame = result.to_dataframe().reset_index()
    frame["fleet"] = frame["fleet"].astype(str)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    units = {name: str(ds[name].attrs.get("units", "")) for name in frame.columns if name in ds}
    fields = [
        field.with_metadata({"units": units[field.name]}) if units.get(field.name) else field for field in table.schema
    ]
    fleet_vars = {
        name: {str(f): _plain(v) for f, v in zip(ds.indexes["fleet"], ds[name].to_numpy())}
        for name in ds.data_vars
        if ds[name].dims == ("fleet",)
    }
    meta = {
        "format": "aggregator-result-1",
        "attrs": {str(k): _plain(v) for k, v in ds.attrs.items()},
        "provenance": provenance(result),
        "units": units | {name: str(ds[name].attrs.get("units", "")) for name in fleet_vars},
        "fleet_parameters": fleet_vars,
        "fleets": [str(f) for f in ds.indexes["fleet"]],
    }
    schema = pa.schema(fields, metadata={**(table.schema.metadata or {}), _METADATA_KEY: json.dumps(meta).encode()})
    table = table.cast(schema)
    vehicles = result.vehicle_dataframe()
    if not vehicles.empty:  # the per-vehicle table first, so the main file never names a missing one
        vehicles = vehicles.reset_index()
        vehicles["vehicle"] = vehicles["vehicle"].astype(str)
        vtable = pa.Table.from_pandas(vehicles, preserve_index=False)
        vfields = [
            field.with_metadata({"units": str(ds[field.name].attrs["units"])})
            if field.name in ds and ds[field.name].attrs.get("units") else field
            for field in vtable.schema
        ]
        vmeta = {_METADATA_KEY: json.dumps({"format": "aggregator-vehicles-1", "result": path.name}).encode()}
        vtable = vtable.cast(pa.schema(vfields, metadata={**(vtable.schema.metadata or {}), **vmeta}))
        with atomic_path(result.vehicle_path(path)) as tmp:
            pq.write_table(vtable, tmp)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_parquet(path: str | Path) -> xr.Dataset:
    """Read a Parquet file written by :func:`write_parquet` back into the result's Dataset.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    InputError
        If the file is missing, not a regular file, or was not written by aggregator.
    """
    pa, pq = _pyarrow()
    path = check_regular(path, "a result file (.parquet)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a Parquet file ({exc})") from None
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    if raw is None:
        raise InputError(f"{path}: a Parquet file without aggregator metadata; expected one written by aggregator")
    meta = json.loads(raw)
    frame = table.to_pandas()
    frame["time"] = pd.DatetimeIndex(frame["time"]).as_unit("ns")
    fleets = pd.Index(meta["fleets"], name="fleet")
    frame = frame.set_index(["time", "fleet"])
    steps = [name for name in STEP_COLUMNS if name in frame.columns]  # one value per step, repeated per fleet
    ds = xr.Dataset.from_dataframe(frame.drop(columns=steps)).reindex(fleet=fleets)
    for name in steps:
        ds[name] = frame[name].groupby(level="time").first().to_xarray()
    for name, values in meta["fleet_parameters"].items():
        ds[name] = xr.DataArray([values[f] for f in fleets], dims="fleet", coords={"fleet": fleets})
    for name, unit in meta["units"].items():
        if name in ds and unit:
            ds[name].attrs["units"] = unit
    ds.attrs.update({k: (math.nan if v is None else v) for k, v in meta["attrs"].items()})
    _read_vehicles(ds, path, pa, pq)
    order = [v for v in ("charge", "discharge", "soc", "slack_up", "slack_down", "price") if v in ds]
    return ds[order + [v for v in ds.data_vars if v not in order]]


def _read_vehicles(ds: xr.Dataset, path: Path, pa: Any, pq: Any) -> None:
    """Add the per-vehicle table written beside ``path`` (if any) to ``ds``."""
    vpath = path.with_name(f"{path.stem}.vehicles{path.suffix}")
    if not vpath.exists():
        return
    check_regular(vpath, "a per-vehicle result file (.vehicles.parquet)")
    try:
        vtable = pq.read_table(vpath)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{vpath}: not a Parquet file ({exc})") from None
    if _METADATA_KEY not in (vtable.schema.metadata or {}):
        raise InputError(f"{vpath}: a Parquet file without aggregator metadata; expected the per-vehicle table of {path.name}")
    frame = vtable.to_pandas()
    frame["time"] = pd.DatetimeIndex(frame["time"]).as_unit("ns")
    order = pd.unique(frame["vehicle"])
    frame = frame.drop(columns="fleet").set_index(["time", "vehicle"])
    part = xr.Dataset.from_dataframe(frame).reindex(vehicle=order)
    for field in vtable.schema:
        unit = (field.metadata or {}).get(b"units")
        if unit and field.name in part:
            part[field.name].attrs["units"] = unit.decode()
    for name in part.data_vars:
        ds[name] = part[name]
