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

- ``DIR/results/<hash>.nc.sha256``: the SHA-256 of the result file, written
  (atomically) after it.

A result file is trusted on resume (:func:`load_complete`) only when its bytes
match its checksum, it carries the scenario's current :func:`input_key` (the
scenario, the content of every file it names, the versions of the packages
and plugins that compute it), and the figures it reports agree with its
dispatch (:func:`check_figures`); otherwise the scenario is solved again, with
a note saying why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

import pandas as pd
import xarray as xr

from .atomic import StorageError, atomic_path, storage_cause
from .errors import InputError
from .formats import package_versions
from .formulation import VARIABLES
from .result import Result
from .rolling import ROLLING_ATTRS
from .sweep_spec import SweepPoint, SweepSpec, is_path_key

__all__ = [
    "RESULTS_FOLDER",
    "SUMMARY_COLUMNS",
    "versions",
    "with_provenance",
    "load_complete",
    "input_key",
    "file_digest",
    "checksum_path",
    "write_result",
    "check_figures",
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


def with_provenance(result: Result, point: SweepPoint, spec: SweepSpec, key: str) -> Result:
    """The result with the scenario, its hash, the swept values and the versions as attributes, and one coordinate per axis.

    Parameters
    ----------
    result : Result
    point : SweepPoint
    spec : SweepSpec
    key : str
        The scenario's :func:`input_key` (recorded as ``input_key``).

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
        input_key=key,
        versions=versions(),
    )
    return Result(ds)


def file_digest(path: str | Path, cache: dict[str, str] | None = None) -> str:
    """SHA-256 of a file's bytes (``"missing"`` when it cannot be read), remembered in ``cache``.

    Parameters
    ----------
    path : str or pathlib.Path
    cache : dict, optional
        Path to digest, for files that many scenarios share.

    Returns
    -------
    str
    """
    key = str(path)
    if cache is not None and key in cache:
        return cache[key]
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
    except OSError:
        value = "missing"
    if cache is not None:
        cache[key] = value
    return value


def _input_files(value: Any) -> list[str]:
    """Every path-valued entry of a scenario (``path`` or ``*_path`` keys, at any depth)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if is_path_key(str(key)) and isinstance(inner, str):
                found.append(inner)
            else:
                found += _input_files(inner)
    elif isinstance(value, list):
        for inner in value:
            found += _input_files(inner)
    return found


def _plugin_versions(scenario: Mapping[str, Any]) -> dict[str, str]:
    """Versions of the distributions whose plugins a scenario uses (any backend when the solver is ``auto``)."""
    from . import plugins

    used: set[tuple[str, str]] = set()
    prices = scenario.get("prices", {})
    used.add(("price_sources", str(prices.get("source", "csv")) if isinstance(prices, dict) else ""))
    for fleet in scenario.get("fleets", []):
        for key in ("availability", "power_availability"):
            spec = fleet.get(key) if isinstance(fleet, dict) else None
            if isinstance(spec, dict):
                used.add(("availability_models", str(spec.get("model"))))
    solver = scenario.get("solver", {})
    name = str(solver.get("name", "auto")) if isinstance(solver, dict) else "auto"
    backends = plugins.registry("solver_backends")
    used |= {("solver_backends", n) for n in (backends if name == "auto" else [name])}
    distributions = {dist for kind, n in used for (cls, dist) in [plugins.registry(kind).get(n, (None, ""))] if dist}
    classes, functions = plugins.registry("model_extensions"), plugins.extension_functions()
    for n in scenario.get("extensions", {}) or {}:
        entry = classes.get(n) or functions.get(n)
        if entry is not None:
            distributions.add(entry[1])
    out = {}
    for dist in sorted(distributions):
        try:
            out[dist] = version(dist)
        except (PackageNotFoundError, ValueError):  # registered at run time: no version to compare
            out[dist] = "unversioned"
    return out


def input_key(point: SweepPoint, cache: dict[str, str] | None = None) -> str:
    """The resume key of a scenario: what its answer depends on.

    The hash of the expanded scenario (every option, plugin options included),
    the SHA-256 of every file it names, and the versions of the packages and
    plugin distributions that compute the answer.  A result file is reused
    only when its key is the current one: editing ``prices.csv`` or upgrading
    a solver re-solves the scenarios that depend on it.

    Parameters
    ----------
    point : SweepPoint
    cache : dict, optional
        File digests already computed (see :func:`file_digest`).

    Returns
    -------
    str
        Hex SHA-256.
    """
    packages = {k: v for k, v in package_versions().items() if k != "python"}
    payload = {
        "scenario": point.hash,
        "files": {path: file_digest(path, cache) for path in sorted(set(_input_files(point.scenario)))},
        "versions": {**packages, **_plugin_versions(point.scenario)},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def checksum_path(path: Path) -> Path:
    """The file beside a result file that holds its SHA-256 (``<name>.sha256``).

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    pathlib.Path
    """
    return path.with_name(path.name + ".sha256")


def write_result(result: Result, path: Path) -> None:
    """Write a result file atomically, then its checksum beside it (atomically too).

    A result without its checksum (a run killed between the two) is not
    trusted on resume and is solved again.

    Parameters
    ----------
    result : Result
    path : pathlib.Path
    """
    checksum_path(path).unlink(missing_ok=True)  # never a new file with an old checksum
    with _local_write_lock():
        result.to_netcdf(path)
    with atomic_path(checksum_path(path)) as tmp:
        tmp.write_text(f"{file_digest(path)}  {path.name}\n")


def _local_write_lock() -> contextlib.AbstractContextManager:
    """Write files of this process under a local lock, not a Dask cluster's.

    With a distributed Client active, xarray takes a lock on the scheduler for
    every netCDF write: a round trip per file, and a lock that an interrupt in
    the middle of acquiring it leaves held, so that the write's own clean-up
    waits for it forever.  The results are numpy arrays written here: a
    thread lock is enough.
    """
    try:
        import dask
    except ImportError:  # no Dask, no distributed lock
        return contextlib.nullcontext()
    return dask.config.set(scheduler="synchronous")


def load_complete(path: Path, point: SweepPoint, key: str) -> tuple[Result | None, str]:
    """The result file of a point if it can be trusted, else why not.

    Trusted means: the file exists, its bytes match the checksum written with
    it, it opens, it is the result of this scenario with these inputs (its
    ``input_key``, see :func:`input_key`), it holds a solution, and the
    figures it reports agree with its dispatch (:func:`check_figures`).

    Parameters
    ----------
    path : pathlib.Path
        The result file.
    point : SweepPoint
    key : str
        The scenario's current :func:`input_key`.

    Returns
    -------
    tuple of (Result or None, str)
        The result and ``""``, or None and the reason (``""`` when there is no file).
    """
    if not path.is_file():
        return None, ""
    try:
        recorded = checksum_path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None, "no checksum beside it (written by an older version, or the run stopped before it)"
    if recorded != file_digest(path):
        return None, "its bytes do not match the checksum written with it (the file changed or is damaged)"
    try:
        with xr.open_dataset(path) as ds:
            attrs = ds.attrs
            if attrs.get("scenario_hash") != point.hash or "status" not in attrs:
                return None, "it belongs to another scenario"
            if attrs.get("input_key") != key:
                return None, "its input files, plugin options or package versions changed since it was written"
            result = Result(ds.load())
    except Exception as exc:  # unreadable, truncated or not netCDF: not trusted, solved again
        return None, f"it cannot be read ({type(exc).__name__})"
    if not all(v in result.dataset for v in VARIABLES) or not result.has_solution:
        return None, "it holds no solution"
    problem = check_figures(result)
    if problem:
        return None, problem
    return result, ""


def check_figures(result: Result, rtol: float = 1e-6) -> str:
    """Recompute a stored result's figures from its dispatch; say what disagrees.

    Parameters
    ----------
    result : Result
        A result with a solution.
    rtol : float
        Relative tolerance (of the larger magnitude, at least 1 $).

    Returns
    -------
    str
        ``""`` when the prices and the dispatch are finite, the fleets' profits
        sum to the profit, the penalty is the slack times its rate, and the
        objective is the profit less the penalty; else what is wrong.
    """
    ds = result.dataset
    for name in ("price", *VARIABLES):
        if name in ds and not np.isfinite(ds[name].to_numpy()).all():
            bad = int((~np.isfinite(ds[name].to_numpy())).sum())
            return f"{bad} values of {name!r} are not finite"

    def differ(a: float, b: float) -> bool:
        return not abs(a - b) <= rtol * max(1.0, abs(a), abs(b))

    profit = float(result.fleet_profit.sum())
    if differ(profit, result.profit):
        return f"the fleets' profits sum to {profit:,.6g} $, not the recorded profit {result.profit:,.6g} $"
    penalty = float(ds.attrs["slack_penalty"]) * float(result.slack_kwh.sum())
    if differ(penalty, result.penalty):
        return f"the slack costs {penalty:,.6g} $, not the recorded penalty {result.penalty:,.6g} $"
    if differ(result.profit - result.penalty, result.objective):
        return f"profit less penalty is {result.profit - result.penalty:,.6g} $, not the recorded objective {result.objective:,.6g} $"
    return ""


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
        cause = storage_cause(out if out.is_dir() else out.parent, exc) or exc.strerror
        raise StorageError(f"--out {out}: cannot create the output folder ({cause})") from None
    try:
        lock_file = open(out / ".sweep.lock", "w")
    except OSError as exc:
        cause = storage_cause(out, exc) or exc.strerror
        raise StorageError(f"--out {out}: cannot write into the output folder ({cause}); its files are unchanged") from None
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
