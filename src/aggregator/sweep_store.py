"""The results store of a sweep: one result file per scenario, the resume rules, the summary and the combined view.

The output folder ``DIR`` holds:

- ``DIR/results/<hash>.nc``: one :class:`~aggregator.Result` per scenario,
  written atomically, named by the first 16 hex digits of the scenario's
  content hash (:func:`aggregator.scenario.scenario_hash` of the expanded
  scenario with absolute paths).  Attributes: ``scenario_hash``, ``scenario``
  (the expanded scenario as JSON), ``sweep_values``, ``sweep_axes``,
  ``versions`` (package, solver and library versions); one scalar coordinate
  per axis.
- ``DIR/summary.csv`` and ``DIR/summary.parquet``: one row per scenario and fleet.
- ``DIR/sweep.json``: the axes and the scenarios with their files and status.

A result file is trusted on resume (:func:`load_complete`) when it exists,
opens, holds a solution and carries the matching hash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import xarray as xr

from .atomic import atomic_path
from .errors import InputError
from .formulation import VARIABLES
from .result import Result
from .rolling import ROLLING_ATTRS
from .sweep_spec import SweepPoint, SweepSpec

__all__ = [
    "RESULTS_FOLDER",
    "SUMMARY_COLUMNS",
    "versions",
    "with_provenance",
    "load_complete",
    "summary_rows",
    "summary_frame",
    "write_summary",
    "write_manifest",
    "output_folder",
    "as_sweep_dims",
    "open_sweep",
]

log = logging.getLogger(__name__)

#: Columns of the summary table after the swept values.
SUMMARY_COLUMNS = (
    "fleet",
    "status",
    "profit",
    "charged_kwh",
    "discharged_kwh",
    "slack_kwh",
    "gap",
    "seconds",
    "objective",
    "bound",
    "solver",
    "error",
    "file",
)
#: The subfolder of the output folder that holds one result file per scenario.
RESULTS_FOLDER = "results"


def versions() -> str:
    """Versions of Python and of the packages that compute or store a result, as JSON.

    Returns
    -------
    str
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in ("aggregator", "numpy", "pandas", "xarray", "linopy", "highspy", "dask", "distributed"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return json.dumps(out, sort_keys=True)


def with_provenance(result: Result, point: SweepPoint, spec: SweepSpec) -> Result:
    """The result with the scenario, its hash, the swept values and the versions as attributes, and one coordinate per axis.

    Parameters
    ----------
    result : Result
    point : SweepPoint
    spec : SweepSpec

    Returns
    -------
    Result
    """
    ds = result.dataset
    coords = {axis.dim: point.labels[axis.key] for axis in spec.axes}
    ds = ds.assign_coords({dim: value for dim, value in coords.items()})
    for axis in spec.axes:
        ds[axis.dim].attrs["axis"] = axis.key
    ds.attrs.update(
        scenario_hash=point.hash,
        scenario=json.dumps(point.scenario, sort_keys=True, default=str),
        sweep_index=point.index,
        sweep_values=json.dumps(point.values, sort_keys=True, default=str),
        sweep_axes=json.dumps([[axis.key, axis.dim] for axis in spec.axes]),
        sweep_base=str(spec.base_path),
        versions=versions(),
    )
    return Result(ds)


def load_complete(path: Path, point: SweepPoint) -> Result | None:
    """The result file of a point if it is whole and belongs to it, else None."""
    if not path.is_file():
        return None
    try:
        with xr.open_dataset(path) as ds:
            if ds.attrs.get("scenario_hash") != point.hash or "status" not in ds.attrs:
                return None
            result = Result(ds.load())
    except Exception:  # unreadable, truncated or not netCDF: not trusted, solved again
        return None
    if not all(v in result.dataset for v in VARIABLES) or not result.has_solution:
        return None
    return result


def summary_rows(point: SweepPoint, spec: SweepSpec, result: Result | None, error: str, file: str) -> list[dict[str, Any]]:
    """The summary rows of a scenario: one per fleet, or one ``failed`` row without a result.

    Parameters
    ----------
    point : SweepPoint
    spec : SweepSpec
    result : Result or None
    error : str
        Why there is no result (or why it is not optimal).
    file : str
        The result file, relative to the output folder.

    Returns
    -------
    list of dict
    """
    head: dict[str, Any] = {"scenario": point.short, "index": point.index}
    head.update({axis.key: point.labels[axis.key] for axis in spec.axes})
    if result is None:
        return [{**head, "fleet": None, "status": "failed", "error": error, "file": None}]
    a = result.dataset.attrs
    facts = {
        "status": a["status"],
        "gap": float(a["gap"]),
        "seconds": float(a.get("solve_seconds", math.nan)),
        "objective": float(a["objective"]),
        "bound": float(a["bound"]),
        "solver": str(a.get("solver", "")),
        "error": (error or str(a.get("message", "")) or None) if a["status"] != "optimal" else None,
        "file": file,
    }
    for key in ROLLING_ATTRS:
        if key in a:
            facts[key] = float(a[key])
    table = result.fleet_table()
    return [
        {
            **head,
            "fleet": str(name),
            **facts,
            "profit": float(row["profit"]),
            "charged_kwh": float(row["charged_kwh"]),
            "discharged_kwh": float(row["discharged_kwh"]),
            "slack_kwh": float(row["slack_kwh"]),
        }
        for name, row in table.iterrows()
    ]


def summary_frame(rows: list[dict[str, Any]], spec: SweepSpec) -> pd.DataFrame:
    """The summary table of rows (:func:`summary_rows`), in grid order.

    Parameters
    ----------
    rows : list of dict
    spec : SweepSpec

    Returns
    -------
    pandas.DataFrame
    """
    columns = ["scenario", "index", *(a.key for a in spec.axes), *SUMMARY_COLUMNS]
    extra = [k for k in ROLLING_ATTRS if any(k in r for r in rows)]
    frame = pd.DataFrame(rows, columns=columns + extra)
    return frame.sort_values(["index"], kind="stable").reset_index(drop=True)


def write_summary(frame: pd.DataFrame, out: Path) -> None:
    """Write ``summary.csv`` and ``summary.parquet`` into ``out``, atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
    out : pathlib.Path
    """
    with atomic_path(out / "summary.csv") as tmp:
        frame.to_csv(tmp, index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        log.warning("pyarrow is not installed: %s not written", out / "summary.parquet")
        return
    table = frame.copy()
    for column in table.columns:
        if table[column].dtype == object:
            kinds = {type(v) for v in table[column] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1:
                table[column] = table[column].map(lambda v: None if v is None else str(v))
    with atomic_path(out / "summary.parquet") as tmp:
        table.to_parquet(tmp, index=False)


def write_manifest(out: Path, spec: SweepSpec, points: list[SweepPoint], states: dict[str, dict[str, Any]]) -> None:
    """Write ``sweep.json``: the axes and every scenario with its state.

    Parameters
    ----------
    out : pathlib.Path
    spec : SweepSpec
    points : list of SweepPoint
    states : dict
        Scenario hash to its state (status, file, error).
    """
    manifest = {
        "name": spec.name,
        "sweep": str(spec.path) if spec.path else None,
        "base": str(spec.base_path),
        "axes": [{"key": a.key, "dim": a.dim, "values": a.labels} for a in spec.axes],
        "scenarios": [
            {"index": p.index, "hash": p.hash, "values": p.labels, **states.get(p.hash, {"status": "pending"})}
            for p in points
        ],
        "versions": json.loads(versions()),
    }
    with atomic_path(out / "sweep.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, default=str))


@contextlib.contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """Create the folder, hold its lock and drop partial files a killed run left behind."""
    try:
        (out / RESULTS_FOLDER).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the output folder ({exc.strerror})") from None
    lock_file = open(out / ".sweep.lock", "w")
    try:
        try:
            import fcntl

            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - no fcntl (Windows): no lock
            pass
        except OSError:
            raise InputError(f"--out {out}: another sweep is writing into this folder; wait for it or choose another") from None
        for stale in list((out / RESULTS_FOLDER).glob(".*.part")) + list(out.glob(".*.part")):
            stale.unlink(missing_ok=True)
        yield out
    finally:
        lock_file.close()


def as_sweep_dims(ds: xr.Dataset) -> xr.Dataset:
    """Turn one sweep result file into a tile of the combined view (an ``open_mfdataset`` preprocess).

    The axis coordinates become length-1 dimensions; the run facts
    (``status``, ``profit``, ``objective``, ``bound``, ``gap``,
    ``solve_seconds``, and the rolling amounts) become variables over them.

    Parameters
    ----------
    ds : xarray.Dataset
        A result file written by :func:`sweep`.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import xarray as xr  # doctest: +SKIP
    >>> xr.open_mfdataset("DIR/results/*.nc", preprocess=as_sweep_dims, combine="by_coords")  # doctest: +SKIP
    """
    dims = [dim for _, dim in json.loads(ds.attrs.get("sweep_axes", "[]"))]
    facts = {}
    for key in ("status", "profit", "objective", "bound", "gap", "solve_seconds", *ROLLING_ATTRS):
        if key in ds.attrs:
            facts[key] = xr.DataArray(ds.attrs[key])
    ds = ds.assign(facts)
    ds.attrs = {}
    return ds.expand_dims(dims) if dims else ds


def open_sweep(out: str | Path) -> xr.Dataset:
    """The combined view of a sweep's results, with the swept axes as dimensions (lazy, Dask-backed).

    Parameters
    ----------
    out : str or pathlib.Path
        The output folder of :func:`sweep`.

    Returns
    -------
    xarray.Dataset
        Over the axes' dimensions, ``time`` and ``fleet``; scenarios without a
        result are missing values.

    Raises
    ------
    InputError
        If the folder holds no sweep results.
    """
    out = Path(out)
    manifest_path = out / "sweep.json"
    if not manifest_path.is_file():
        raise InputError(f"{out}: no sweep.json; not the output folder of a sweep")
    manifest = json.loads(manifest_path.read_text())
    files = [str(out / s["file"]) for s in manifest["scenarios"] if s.get("file")]
    if not files:
        raise InputError(f"{out}: no scenario of this sweep has a result yet")
    attrs = {"sweep": manifest.get("sweep") or "", "base": manifest["base"], "axes": json.dumps(manifest["axes"])}
    try:
        combined = xr.open_mfdataset(
            files, preprocess=as_sweep_dims, combine="by_coords", combine_attrs="drop", data_vars="all"
        )
    except ValueError:  # an incomplete grid or differing horizons: align by label
        tiles = [as_sweep_dims(xr.open_dataset(f, chunks={})) for f in files]
        combined = xr.merge(tiles, join="outer", compat="no_conflicts", combine_attrs="drop")
    combined.attrs.update(attrs)
    return combined
