"""Scenario sweeps and many-fleet scenarios on Dask: expansion, resumable results, summary.

A *sweep file* names a base scenario and the keys to vary; the grid is the
product of the axes::

    base = "scenario.toml"                 # relative to this file
    [axes]
    "prices.path" = ["CA_Weighted_Price_Case0.csv", "CA_Weighted_Price_Case1.csv"]
    "fleets.*.contract_limit" = [0.6, 0.7, 0.8]   # * = every fleet; a fleet name selects one

Axis keys are dotted paths into the scenario (``"horizon.hours"``,
``"solver.mip_gap"``, ``"fleets.car_aval1.vehicles"``,
``"fleets.*.availability.column"``, ...).  Relative paths in the base scenario
are relative to the base file; relative paths in axis values are relative to
the sweep file.

:func:`sweep` (and ``aggregator sweep``) runs every scenario of the grid on a
Dask cluster (a local cluster of processes sized to the machine, or an
existing one) and writes, into the output folder ``DIR``:

- ``DIR/results/<hash>.nc``: one :class:`~aggregator.Result` per scenario,
  written atomically, named by the first 16 hex digits of the scenario's
  content hash (:func:`aggregator.scenario.scenario_hash` of the expanded
  scenario with absolute paths).  Attributes: ``scenario_hash``, ``scenario``
  (the expanded scenario as JSON), ``sweep_values``, ``sweep_axes``,
  ``versions`` (package, solver and library versions); one scalar coordinate
  per axis.
- ``DIR/summary.csv`` and ``DIR/summary.parquet``: one row per scenario and
  fleet (see :func:`sweep`).
- ``DIR/sweep.json``: the axes and the scenarios with their files and status.

Re-running the same sweep into the same folder skips every scenario whose
result file exists, opens, holds a solution and carries the matching hash, so
an interrupted sweep (Ctrl-C, a killed worker, a lost machine) finishes where
it stopped.  :func:`open_sweep` returns the combined view, with the swept axes
as dimensions.

Fleets of a standard problem (:meth:`Aggregator.is_standard`) share only the
price, so a scenario with several fleets is solved as one task per fleet and
the solutions are gathered into one Result (:func:`solve_fleets`): a worker
holds one fleet's problem at a time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TextIO

import numpy as np
import pandas as pd
import xarray as xr

from . import plugins
from .aggregator import Aggregator
from .atomic import atomic_path
from .errors import InputError
from .fleet import Fleet
from .formulation import VARIABLES
from .result import Result
from .rolling import ROLLING_ATTRS, RollingSpec, window_aggregator, worst_status
from .scenario import (
    _FLEET,
    _FLEET_REQUIRED,
    _HORIZON,
    _MODEL,
    _SOLVER,
    _TOP,
    _check_table,
    _plugin_options,
    _unknown,
    read_scenario,
    scenario_from_dict,
    scenario_hash,
)
from .solvers import SolveOutcome

__all__ = [
    "Axis",
    "SweepPoint",
    "SweepSpec",
    "SweepReport",
    "read_sweep",
    "sweep_from_dict",
    "sweep",
    "solve_fleets",
    "combine_fleet_results",
    "open_sweep",
    "as_sweep_dims",
    "SUMMARY_COLUMNS",
]

log = logging.getLogger(__name__)

_SWEEP_KEYS = {
    "base": "the base scenario file, relative to the sweep file",
    "axes": "table of dotted scenario keys to lists of values",
    "name": "a label for the sweep",
    "description": "free text",
}
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
_RESULTS = "results"
_HASH_DIGITS = 16


# --------------------------------------------------------------------- sweep file
@dataclass(frozen=True)
class Axis:
    """One swept key and its values.

    Attributes
    ----------
    key : str
        Dotted path into the scenario, e.g. ``"fleets.*.contract_limit"``.
    values : tuple
        The values as written in the sweep file.
    dim : str
        Name of the dimension in the combined dataset (``"fleets_contract_limit"``).
    """

    key: str
    values: tuple
    dim: str

    @property
    def labels(self) -> list[Any]:
        """The values as coordinate labels: numbers, strings or booleans as they are, anything else as JSON.

        Returns
        -------
        list
        """
        simple = all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in self.values)
        kinds = {type(v) for v in self.values}
        if simple and (kinds <= {int, float} or kinds == {str}):
            return list(self.values)
        if kinds == {bool}:
            return list(self.values)
        return [json.dumps(v, sort_keys=True, default=str) for v in self.values]


@dataclass(frozen=True)
class SweepPoint:
    """One scenario of the grid.

    Attributes
    ----------
    index : int
        Position in the grid (row-major over the axes in file order).
    values : dict
        Axis key to the value as written in the sweep file.
    labels : dict
        Axis key to the coordinate label (see :attr:`Axis.labels`).
    scenario : dict
        The expanded scenario, paths made absolute.
    hash : str
        :func:`~aggregator.scenario.scenario_hash` of :attr:`scenario`.
    """

    index: int
    values: dict[str, Any]
    labels: dict[str, Any]
    scenario: dict[str, Any]
    hash: str

    @property
    def short(self) -> str:
        """The first 16 hex digits of the hash (the result file's name)."""
        return self.hash[:_HASH_DIGITS]

    @property
    def label(self) -> str:
        """``key=value`` pairs, for messages."""
        return ", ".join(f"{k}={_short_value(v)}" for k, v in self.labels.items()) or "base"


def _short_value(value: Any) -> str:
    if isinstance(value, str) and ("/" in value or os.sep in value):
        return Path(value).name
    return str(value)


@dataclass
class SweepSpec:
    """A validated sweep file: the base scenario and the axes.

    Attributes
    ----------
    path : pathlib.Path or None
        The sweep file.
    base_path : pathlib.Path
        The base scenario file.
    base : dict
        The base scenario with absolute paths.
    axes : list of Axis
    name : str
    """

    path: Path | None
    base_path: Path
    base: dict[str, Any]
    axes: list[Axis]
    name: str = ""

    @property
    def folder(self) -> Path:
        """Folder that relative paths in axis values are relative to."""
        return self.path.parent if self.path is not None else self.base_path.parent

    def points(self) -> list[SweepPoint]:
        """Expand the grid: the product of the axes, in file order.

        Returns
        -------
        list of SweepPoint

        Raises
        ------
        InputError
            If two points expand to the same scenario.
        """
        points = []
        seen: dict[str, int] = {}
        for index, combo in enumerate(product(*(range(len(a.values)) for a in self.axes))):
            scenario = copy.deepcopy(self.base)
            values, labels = {}, {}
            for axis, i in zip(self.axes, combo):
                value = axis.values[i]
                _apply(scenario, axis.key, _resolve_value(axis.key, value, self.folder))
                values[axis.key] = value
                labels[axis.key] = axis.labels[i]
            digest = scenario_hash(scenario)
            if digest in seen:
                raise InputError(
                    f"{self.path or 'sweep'}: scenarios #{seen[digest]} and #{index} of the grid are the same scenario "
                    f"({', '.join(f'{k}={v!r}' for k, v in values.items())}); remove the duplicate axis value"
                )
            seen[digest] = index
            points.append(SweepPoint(index, values, labels, scenario, digest))
        return points


def read_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML sweep file.

    Returns
    -------
    SweepSpec

    Raises
    ------
    InputError
        Missing file, TOML error, unknown key, bad axis path or value (naming the
        file and the axis), or a base scenario that is not a valid scenario.
    """
    path = Path(path)
    data = read_scenario(path)  # same reading rules and messages as scenario files
    return sweep_from_dict(data, path)


def sweep_from_dict(data: Mapping[str, Any], path: str | Path) -> SweepSpec:
    """Validate a parsed sweep file.

    Parameters
    ----------
    data : mapping
        The sweep file as parsed from TOML.
    path : str or pathlib.Path
        Where it was read from (relative paths are relative to its folder).

    Returns
    -------
    SweepSpec

    Raises
    ------
    InputError
        Naming the file and the key at fault.
    """
    path = Path(path).resolve()
    where = str(path)
    for key in data:
        if key not in _SWEEP_KEYS:
            raise InputError(f"{where}: {_unknown(key, _SWEEP_KEYS, 'top level')}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise InputError(f"{where}: {key} = {data[key]!r}: expected a string")
    base_name = data.get("base")
    if base_name is None:
        raise InputError(f'{where}: `base` is missing; expected base = "scenario.toml"')
    if not isinstance(base_name, str):
        raise InputError(f"{where}: base = {base_name!r}: expected the path of a scenario file (a string)")
    base_path = (path.parent / base_name).resolve()
    if not base_path.exists():
        raise InputError(f"{where}: base = {base_name!r}: scenario file {base_path} not found")
    base = _absolute_paths(read_scenario(base_path), base_path.parent)
    try:
        check_scenario_structure(base)
    except InputError as exc:
        raise InputError(f"{base_path}: {exc}") from None
    axes_table = data.get("axes", {})
    if not isinstance(axes_table, dict):
        raise InputError(f'{where}: axes: expected a table such as [axes] "fleets.*.contract_limit" = [0.6, 0.8]')
    axes: list[Axis] = []
    dims = _dim_names(list(axes_table))
    for key, values in axes_table.items():
        at = f"{where}: [axes] {key!r}"
        if isinstance(values, dict):
            raise InputError(
                f"{at}: expected a list of values; write the dotted key in quotes "
                f'("{key}.{next(iter(values), "x")}" = [...]), not as a table'
            )
        if not isinstance(values, list) or not values:
            raise InputError(f"{at} = {values!r}: expected a non-empty list of values")
        for value in values:
            trial = copy.deepcopy(base)
            try:
                _apply(trial, key, _resolve_value(key, value, path.parent))
                check_scenario_structure(trial)
            except InputError as exc:
                raise InputError(f"{at} value {value!r}: {exc}") from None
        canonical = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(canonical)) != len(canonical):
            raise InputError(f"{at} = {values!r}: a value appears twice")
        axes.append(Axis(key, tuple(values), dims[key]))
    spec = SweepSpec(path, base_path, base, axes, name=str(data.get("name", "")))
    for point in spec.points():  # combinations of axis values must be valid too
        try:
            check_scenario_structure(point.scenario)
        except InputError as exc:
            raise InputError(f"{where}: scenario {point.label}: {exc}") from None
    return spec


def _dim_names(keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in keys:
        parts = [p for p in key.split(".") if p != "*"]
        name = re.sub(r"\W+", "_", "_".join(parts)).strip("_") or "axis"
        candidate, n = name, 2
        while candidate in out.values():
            candidate, n = f"{name}_{n}", n + 1
        out[key] = candidate
    return out


def _apply(scenario: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in a scenario dict (``fleets.<name or *>.field...``)."""
    parts = key.split(".")
    if any(not p for p in parts):
        raise InputError(f"{key!r} is not a dotted key such as 'prices.path' or 'fleets.*.contract_limit'")
    top = parts[0]
    if top not in _TOP:
        raise _unknown(top, _TOP, "first part")
    value = copy.deepcopy(value)
    if top == "fleets":
        if len(parts) < 3:
            raise InputError("expected 'fleets.<fleet name or *>.<field>', e.g. 'fleets.*.contract_limit'")
        fleets = scenario.get("fleets")
        if not isinstance(fleets, list):
            raise InputError("the base scenario has no [[fleets]]")
        selector = parts[1]
        targets = fleets if selector == "*" else [f for f in fleets if isinstance(f, dict) and f.get("name") == selector]
        if not targets:
            names = ", ".join(repr(f.get("name")) for f in fleets if isinstance(f, dict))
            raise InputError(f"no fleet named {selector!r} in the base scenario (fleets: {names}; * selects every fleet)")
        for fleet in targets:
            if parts[2] == "name" and selector == "*" and len(fleets) > 1:
                raise InputError("'fleets.*.name' would give every fleet the same name")
            _set(fleet, parts[2:], copy.deepcopy(value), f"fleet {fleet.get('name')!r}")
    elif len(parts) == 1:
        scenario[top] = value
    else:
        table = scenario.setdefault(top, {})
        if not isinstance(table, dict):
            raise InputError(f"{top!r} is not a table in the base scenario")
        _set(table, parts[1:], value, f"[{top}]")


def _set(table: dict[str, Any], parts: Sequence[str], value: Any, where: str) -> None:
    for i, part in enumerate(parts[:-1]):
        inner = table.get(part)
        if inner is None:
            inner = table[part] = {}
        if not isinstance(inner, dict):
            raise InputError(
                f"{where} {'.'.join(parts[: i + 1])} = {inner!r} is not a table, so "
                f"{'.'.join(parts)!r} does not exist; sweep {'.'.join(parts[: i + 1])!r} itself"
            )
        table = inner
    table[parts[-1]] = value


def _is_path_key(key: str) -> bool:
    return key == "path" or key.endswith("_path")


def _resolve_value(key: str, value: Any, folder: Path) -> Any:
    """Make a path-valued axis value absolute (relative to the sweep file)."""
    last = key.split(".")[-1]
    if _is_path_key(last) and isinstance(value, str):
        return str((folder / value).resolve())
    if isinstance(value, dict):
        return {k: (str((folder / v).resolve()) if _is_path_key(k) and isinstance(v, str) else v) for k, v in value.items()}
    return value


def _absolute_paths(scenario: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The scenario with the paths of its price source and availability tables made absolute."""
    scenario = copy.deepcopy(scenario)
    tables = [scenario.get("prices")]
    for fleet in scenario.get("fleets", []) if isinstance(scenario.get("fleets"), list) else []:
        if isinstance(fleet, dict):
            tables += [fleet.get("availability"), fleet.get("power_availability")]
    for table in tables:
        if isinstance(table, dict):
            for key, value in table.items():
                if _is_path_key(key) and isinstance(value, str):
                    table[key] = str((folder / value).resolve())
    return scenario


def check_scenario_structure(data: Mapping[str, Any]) -> None:
    """Check a scenario dict's keys, types and fleet parameters without reading any data file.

    Parameters
    ----------
    data : mapping
        A parsed scenario.

    Raises
    ------
    InputError
        Unknown key (with a did-you-mean), wrong type, missing key, unknown
        plugin name or option, or a fleet parameter out of range.
    """
    for key in data:
        if key not in _TOP:
            raise _unknown(key, _TOP, "top level")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise InputError(f"{key} = {data[key]!r}: expected a string")
    horizon = _check_table(data.get("horizon", {}), _HORIZON, "[horizon]")
    if "rolling" in horizon:
        RollingSpec.from_mapping(horizon["rolling"])
    _check_table(data.get("model", {}), _MODEL, "[model]")
    solver = data.get("solver", {})
    if not isinstance(solver, dict):
        raise InputError(f"[solver]: expected a table, found {solver!r}")
    name = solver.get("name", "auto")
    if not isinstance(name, str):
        raise InputError(f"[solver] name = {name!r}: expected a string")
    backends = (
        [cls for cls, _ in plugins.registry("solver_backends").values()]
        if name == "auto"
        else [plugins.lookup("solver_backends", name, where="[solver] name")]
    )
    _check_table(solver, {**_SOLVER, **{k: object for cls in backends for k in cls.options}}, "[solver]")
    prices = data.get("prices")
    if not isinstance(prices, dict):
        raise InputError("[prices] is missing: expected a table such as [prices] source = \"csv\", path = ...")
    source = prices.get("source", "csv")
    if not isinstance(source, str):
        raise InputError(f"[prices] source = {source!r}: expected a string")
    _plugin_options(prices, plugins.lookup("price_sources", source, where="[prices] source"), "[prices]", "source")
    fleets = data.get("fleets")
    if not isinstance(fleets, list) or not fleets:
        raise InputError("[[fleets]] is missing: expected at least one [[fleets]] table")
    names: set[str] = set()
    for i, table in enumerate(fleets, start=1):
        where = f"[[fleets]] #{i}"
        table = _check_table(table, _FLEET, where)
        for key in _FLEET_REQUIRED:
            if key not in table:
                raise InputError(f"{where}: `{key}` is missing")
        if table["name"] in names:
            raise InputError(f"{where}: name {table['name']!r} is used twice; expected unique fleet names")
        names.add(table["name"])
        for key in ("availability", "power_availability"):
            spec = table.get(key)
            if isinstance(spec, dict):
                model = spec.get("model")
                if not isinstance(model, str):
                    raise InputError(f"{where} {key}: needs `model = ...` (a registered availability model)")
                cls = plugins.lookup("availability_models", model, where=f"{where} {key} model")
                _plugin_options(spec, cls, f"{where} {key}", "model")
        params = {k: v for k, v in table.items() if k not in ("availability", "power_availability")}
        Fleet(**params, availability=[1.0])  # ranges of the parameters


# ----------------------------------------------------------------- many fleets
def _with_fleets(aggregator: Aggregator, fleets: list[Fleet], standard: bool | None = None) -> Aggregator:
    """A shallow copy of the problem with other fleets (same prices, options and class).

    ``standard`` carries a known answer of :meth:`Aggregator.is_standard` so
    that the copy does not build its model again to find it out.
    """
    other = copy.copy(aggregator)
    other.fleets = list(fleets)
    other._inputs = None
    other._model_changed_by_extensions = None if standard is None else not standard
    return other


def _is_standard(aggregator: Aggregator, cache: dict[Any, bool] | None = None) -> bool:
    """:meth:`Aggregator.is_standard`, asked cheaply, and remembered by the aggregator.

    With model extensions installed, ``is_standard`` builds the model to see
    whether they change it.  That is asked of a short probe (every fleet, the
    first 24 steps) rather than of the whole horizon, and the answer is
    remembered in ``cache`` for problems of the same class, extension options
    and fleet names (the scenarios of one sweep usually share them).
    """
    if aggregator._model_changed_by_extensions is not None or not plugins.extension_hooks():
        return aggregator.is_standard()
    key = (
        type(aggregator),
        json.dumps(aggregator.extensions, sort_keys=True, default=str),
        tuple(f.name for f in aggregator.fleets),
    )
    if cache is None or key not in cache:
        probe = window_aggregator(aggregator, 0, min(aggregator.steps, 24))
        probe._model_changed_by_extensions = None
        standard = probe.is_standard()
        if cache is not None:
            cache[key] = standard
    else:
        standard = cache[key]
    aggregator._model_changed_by_extensions = not standard
    return aggregator.is_standard()


def _solve_task(template: Aggregator, fleets: list[Fleet] | None, trim: bool) -> Result:
    """Run on a worker: solve the template (or a copy of it with ``fleets``)."""
    problem = template if fleets is None else _with_fleets(template, fleets, standard=template.is_standard())
    result = problem.solve()
    if trim:  # the gatherer rebuilds the inputs; ship only the solution and the facts
        keep = list(VARIABLES) + [v for v in ("window", "shortfall") if v in result.dataset]
        result = Result(result.dataset[keep])
    return result


def combine_fleet_results(
    aggregator: Aggregator, results: Sequence[Result | BaseException], *, wall_seconds: float = math.nan
) -> Result:
    """Gather the results of independent single-fleet solves into the Result of the whole problem.

    Parameters
    ----------
    aggregator : Aggregator
        The whole (standard) problem; ``results[i]`` solves its fleet ``i``.
    results : sequence of Result or exception
        One per fleet, in the order of ``aggregator.fleets``; an exception
        stands for a fleet whose task failed.
    wall_seconds : float
        Wall time of the whole solve.

    Returns
    -------
    Result
        Objective and bound are the sums of the fleets' (a sum of proven
        bounds is a proven bound), the gap follows from the sums; the status
        is the worst of the fleets'; rolling-horizon amounts are summed.
    """
    fleets = [f.name for f in aggregator.fleets]
    problems = []
    for name, result in zip(fleets, results):
        if isinstance(result, BaseException):
            problems.append(f"fleet {name!r}: {type(result).__name__}: {result}")
        elif not result.has_solution:
            problems.append(f"fleet {name!r}: {result.status} {result.dataset.attrs.get('message', '')}".strip())
    solved = [r for r in results if isinstance(r, Result)]
    statuses = [r.status for r in solved] + (["error"] * (len(results) - len(solved)))
    solvers = sorted({str(r.dataset.attrs.get("solver", "")) for r in solved} - {""})
    choices = sorted({str(r.dataset.attrs.get("solver_choice", "")) for r in solved} - {""})
    seconds = sum(float(r.dataset.attrs.get("solve_seconds", 0.0)) for r in solved)
    common = dict(solver=", ".join(solvers), solve_seconds=seconds, details={"fleet_tasks": len(results)})
    if problems:
        outcome = SolveOutcome(
            status=worst_status(statuses), termination="fleet tasks", message="; ".join(problems), **common
        )
    else:
        # the fleet-level shortfall of a "vehicles" fleet is its vehicles' sum: keep it (per-vehicle
        # dispatch stays in the fleet tasks' results only)
        parts = [r.dataset[list(VARIABLES)] for r in solved]
        if any("shortfall" in r.dataset for r in solved):
            parts = [
                p.assign(shortfall=r.dataset["shortfall"] if "shortfall" in r.dataset else xr.zeros_like(p["soc"]))
                for p, r in zip(parts, solved)
            ]
        solution = xr.concat(parts, dim="fleet")
        objective = float(sum(r.objective for r in solved))
        bound = float(sum(r.bound for r in solved))
        outcome = SolveOutcome(
            status=worst_status(statuses),
            objective=objective,
            bound=bound,
            solution=solution,
            termination="fleet tasks",
            message="; ".join(m for m in (str(r.dataset.attrs.get("message", "")) for r in solved) if m),
            **common,
        )
    mip_gap = float(aggregator.solver_options.get("mip_gap", 1e-4))
    choice = f"{len(results)} independent fleet tasks; " + "; ".join(choices)
    out = Result.from_outcome(
        aggregator.inputs, outcome, choice=choice, wall_seconds=wall_seconds, mip_gap=mip_gap, name=aggregator.name
    )
    if problems or not solved:
        return out
    first = solved[0].dataset
    if "window" in first:
        out.dataset["window"] = first["window"]
    attrs = out.dataset.attrs
    for key in ("rolling_window_hours", "rolling_commit_hours", "rolling_windows"):
        if key in first.attrs:
            attrs[key] = first.attrs[key]
    for key in ROLLING_ATTRS:
        if all(key in r.dataset.attrs for r in solved):
            attrs[key] = float(sum(float(r.dataset.attrs[key]) for r in solved))
    if "foresight_loss" in attrs:
        pf = attrs["perfect_foresight_objective"]
        attrs["foresight_loss_share"] = attrs["foresight_loss"] / abs(pf) if pf else 0.0
    return out


# ------------------------------------------------------------------ executors
class _SerialFuture:
    """A task run in this process when its result is asked for."""

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self._fn, self._args = fn, args
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        if not self._done:
            try:
                self._value = self._fn(*self._args)
            except Exception as exc:  # recorded like a failed Dask task
                self._error = exc
            self._done = True

    def result(self) -> Any:
        self.run()
        if self._error is not None:
            raise self._error
        return self._value

    def release(self) -> None:
        self._value = None


class _SerialExecutor:
    """Runs tasks one after another in this process (``workers=0``; no Dask)."""

    workers = 1

    def __init__(self) -> None:
        self._queue: list[_SerialFuture] = []

    def scatter(self, value: Any) -> Any:
        return value

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> _SerialFuture:
        future = _SerialFuture(fn, args)
        self._queue.append(future)
        return future

    def completed(self) -> Iterator[_SerialFuture]:
        while self._queue:
            future = self._queue.pop(0)
            future.run()
            yield future


class _DaskExecutor:
    """Submits tasks to a dask.distributed Client."""

    def __init__(self, client: Any) -> None:
        from distributed import as_completed

        self.client = client
        self._completed = as_completed([], with_results=False)

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def scatter(self, value: Any) -> Any:
        return self.client.scatter(value, hash=False)

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Any:
        future = self.client.submit(fn, *args, key=key, pure=False)
        self._completed.add(future)
        return future

    def completed(self) -> Iterator[Any]:
        yield from self._completed


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError(
            "running on Dask needs dask.distributed: python -m pip install 'aggregator[scale]' "
            "(or pass workers=0 / --workers 0 to solve in this process)"
        ) from None
    return distributed


@contextlib.contextmanager
def _executor(
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    note: Callable[[str], None] = lambda message: None,
) -> Iterator[_SerialExecutor | _DaskExecutor]:
    """The place tasks run: this process, an existing client, a scheduler's cluster or a new local cluster."""
    if client is not None:
        yield _DaskExecutor(client)
        return
    if workers is not None and workers < 0:
        raise InputError(f"--workers {workers}: expected a number of worker processes >= 0")
    if scheduler is None and workers == 0:
        note("solving in this process (workers = 0, no Dask)")
        yield _SerialExecutor()
        return
    with _quiet_dask_logs():
        with _dask_executor(scheduler, workers, threads_per_worker, note) as executor:
            yield executor


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Keep Dask's INFO chatter (cluster start and stop) out of the user's terminal unless -vv."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    _import_distributed()  # it sets its loggers' levels when imported
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "dask")]
    loggers = [logging.getLogger(name) for name in {"distributed", "dask", *names}]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _dask_executor(
    scheduler: str | None, workers: int | None, threads_per_worker: int, note: Callable[[str], None]
) -> Iterator[_DaskExecutor]:
    distributed = _import_distributed()
    if scheduler is not None:
        try:
            if scheduler.endswith(".json") and Path(scheduler).is_file():
                connected = distributed.Client(scheduler_file=scheduler, timeout="30s")
            else:
                connected = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({exc})") from None
        try:
            try:
                connected.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise InputError(f"--scheduler {scheduler}: the cluster has no workers (waited 60 s)") from None
            executor = _DaskExecutor(connected)
            note(f"dask: connected to {scheduler} ({executor.workers} workers); dashboard {connected.dashboard_link}")
            yield executor
        finally:
            connected.close()
        return
    n = workers or _cpu_count()
    cluster = distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        silence_logs=logging.ERROR,
    )
    try:
        local = distributed.Client(cluster)
        try:
            hint = "" if plugins.optional_dependency("bokeh") else " (install bokeh to view it)"
            note(f"dask: local cluster of {n} worker processes x {threads_per_worker} thread; dashboard {local.dashboard_link}{hint}")
            yield _DaskExecutor(local)
        finally:
            local.close()
    finally:
        cluster.close()


def solve_fleets(
    aggregator: Aggregator,
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    solver: str | None = None,
    mip_gap: float | None = None,
    time_limit: float | None = None,
) -> Result:
    """Solve a problem with one task per fleet on a Dask cluster, gathered into one Result.

    A standard problem (:meth:`Aggregator.is_standard`) separates into one
    problem per fleet; each is a task (a worker holds one fleet's problem).
    Other problems are solved as one task.

    Parameters
    ----------
    aggregator : Aggregator
        The problem (with its solver and options; rolling settings apply per fleet).
    client : distributed.Client, optional
        Use this client.
    scheduler : str, optional
        Address (``tcp://host:8786``) or scheduler file (``.json``) of a running cluster.
    workers : int, optional
        Worker processes of the local cluster started otherwise (default: one per
        core); 0 solves in this process without Dask.
    threads_per_worker : int
        Threads per local worker process.
    solver : str, optional
        Backend name or ``"auto"`` instead of the aggregator's.
    mip_gap, time_limit : float, optional
        Instead of the aggregator's solver options (the time limit applies to each task).

    Returns
    -------
    Result
        See :func:`combine_fleet_results`.
    """
    overrides = {k: v for k, v in (("mip_gap", mip_gap), ("time_limit", time_limit)) if v is not None}
    if solver is not None or overrides:
        aggregator = copy.copy(aggregator)
        aggregator.solver = solver or aggregator.solver
        aggregator.solver_options = {**aggregator.solver_options, **overrides}
    with _executor(client=client, scheduler=scheduler, workers=workers, threads_per_worker=threads_per_worker) as ex:
        start = time.perf_counter()
        tasks, split = _submit(ex, aggregator, f"solve-{id(aggregator):x}")
        results: list[Any] = [None] * len(tasks)
        index = {id(f): i for i, f in enumerate(tasks)}
        for future in ex.completed():
            results[index[id(future)]] = _outcome_of(future)
        return _assemble(aggregator, results, time.perf_counter() - start, split)


def _submit(ex: Any, aggregator: Aggregator, key: str, cache: dict[Any, bool] | None = None) -> tuple[list[Any], bool]:
    """Submit a problem: one task per fleet when the fleets separate, else one task."""
    standard = _is_standard(aggregator, cache)
    if standard and len(aggregator.fleets) > 1:
        template = ex.scatter(_with_fleets(aggregator, aggregator.fleets[:1], standard=True))
        futures = [
            ex.submit(_solve_task, template, [fleet], True, key=f"{key}-{i}") for i, fleet in enumerate(aggregator.fleets)
        ]
        return futures, True
    whole = _with_fleets(aggregator, aggregator.fleets, standard=standard)
    return [ex.submit(_solve_task, whole, None, False, key=f"{key}-all")], False


def _outcome_of(future: Any) -> Result | BaseException:
    try:
        return future.result()
    except Exception as exc:  # a failed task (solver crash, killed worker, ...) is recorded
        return exc
    finally:
        with contextlib.suppress(Exception):
            future.release()


def _assemble(aggregator: Aggregator, results: list[Any], wall: float, split: bool) -> Result:
    if split:
        return combine_fleet_results(aggregator, results, wall_seconds=wall)
    if isinstance(results[0], BaseException):
        return _failed_result(aggregator, results[0], wall)
    return results[0]


def _failed_result(aggregator: Aggregator, error: BaseException, wall: float) -> Result:
    outcome = SolveOutcome(status="error", termination="task failed", message=f"{type(error).__name__}: {error}")
    return Result.from_outcome(aggregator.inputs, outcome, choice="", wall_seconds=wall, name=aggregator.name)


# ------------------------------------------------------------------- progress
class _Progress:
    """A progress bar on a terminal (rich), plain lines otherwise."""

    def __init__(self, scenarios: int, fleets: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.scenarios, self.fleets = scenarios, fleets
        self.scenarios_done = self.fleets_done = self.failed = 0
        self.start = time.monotonic()
        self.bar: Any = None
        self._next_line = 0.0
        interactive = (
            enabled
            and fleets > 0
            and hasattr(self.stream, "isatty")
            and self.stream.isatty()
            and os.environ.get("TERM") != "dumb"
        )
        if interactive:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
            except ImportError:  # plain lines without rich
                return
            self.bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("fleets, {task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self.task = self.bar.add_task("sweep", total=fleets, info=self._info())
            self.bar.start()

    def _info(self) -> str:
        return f"scenarios {self.scenarios_done}/{self.scenarios}, failed {self.failed}"

    def note(self, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task, info=self._info())

    def _clock(self) -> str:
        elapsed = time.monotonic() - self.start
        text = f"{_hms(elapsed)}"
        if 0 < self.fleets_done < self.fleets:
            text += f", ~{_hms(elapsed / self.fleets_done * (self.fleets - self.fleets_done))} left"
        return text

    def fleets_finished(self, n: int, scenario_fleets: int) -> None:
        self.fleets_done += n
        if self.bar is not None:
            self.bar.update(self.task, advance=n)
        elif self.enabled and scenario_fleets >= 20 and time.monotonic() >= self._next_line:
            self._next_line = time.monotonic() + 10.0
            self.note(f"[{self._clock()}] fleets {self.fleets_done}/{self.fleets}")

    def scenario_finished(self, point: SweepPoint, line: str, failed: bool) -> None:
        self.scenarios_done += 1
        self.failed += int(failed)
        if self.bar is not None:
            self._postfix()
            if failed:
                self.note(f"failed: {point.short} ({point.label}): {line}")
            return
        self.note(
            f"[{self._clock()}] scenario {self.scenarios_done}/{self.scenarios} "
            f"({self.failed} failed) {point.short} {point.label}: {line}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# ------------------------------------------------------------------- results
def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in ("aggregator", "numpy", "pandas", "xarray", "linopy", "highspy", "dask", "distributed"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return json.dumps(out, sort_keys=True)


def _with_provenance(result: Result, point: SweepPoint, spec: SweepSpec) -> Result:
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
        versions=_versions(),
    )
    return Result(ds)


def _load_complete(path: Path, point: SweepPoint) -> Result | None:
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


def _rows(point: SweepPoint, spec: SweepSpec, result: Result | None, error: str, file: str) -> list[dict[str, Any]]:
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


def _summary_frame(rows: list[dict[str, Any]], spec: SweepSpec) -> pd.DataFrame:
    columns = ["scenario", "index", *(a.key for a in spec.axes), *SUMMARY_COLUMNS]
    extra = [k for k in ROLLING_ATTRS if any(k in r for r in rows)]
    frame = pd.DataFrame(rows, columns=columns + extra)
    return frame.sort_values(["index"], kind="stable").reset_index(drop=True)


def _write_summary(frame: pd.DataFrame, out: Path) -> None:
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


def _write_manifest(out: Path, spec: SweepSpec, points: list[SweepPoint], states: dict[str, dict[str, Any]]) -> None:
    manifest = {
        "name": spec.name,
        "sweep": str(spec.path) if spec.path else None,
        "base": str(spec.base_path),
        "axes": [{"key": a.key, "dim": a.dim, "values": a.labels} for a in spec.axes],
        "scenarios": [
            {"index": p.index, "hash": p.hash, "values": p.labels, **states.get(p.hash, {"status": "pending"})}
            for p in points
        ],
        "versions": json.loads(_versions()),
    }
    with atomic_path(out / "sweep.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, default=str))


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[Path]:
    """Create the folder, hold its lock and drop partial files a killed run left behind."""
    try:
        (out / _RESULTS).mkdir(parents=True, exist_ok=True)
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
        for stale in list((out / _RESULTS).glob(".*.part")) + list(out.glob(".*.part")):
            stale.unlink(missing_ok=True)
        yield out
    finally:
        lock_file.close()


@dataclass
class SweepReport:
    """What a sweep did.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    points : list of SweepPoint
        Every scenario of the grid.
    summary : pandas.DataFrame
        The summary table (also in ``out/summary.csv`` and ``out/summary.parquet``).
    solved : list of str
        Hashes of the scenarios solved by this run.
    skipped : list of str
        Hashes of the scenarios whose complete result was already there.
    failed : dict of str to str
        Hash to the reason, for every scenario without an optimal result
        (an error, or a status other than ``optimal``).
    """

    out: Path
    points: list[SweepPoint]
    summary: pd.DataFrame
    solved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every scenario is solved to optimality, 1 when any failed."""
        return 1 if self.failed else 0

    def dataset(self) -> xr.Dataset:
        """The combined view (see :func:`open_sweep`).

        Returns
        -------
        xarray.Dataset
        """
        return open_sweep(self.out)


def sweep(
    sweep_file: str | Path | SweepSpec,
    out: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    threads_per_worker: int = 1,
    progress: bool | None = None,
    stream: TextIO | None = None,
) -> SweepReport:
    """Run every scenario of a sweep on Dask, resumably.

    Scenarios whose complete result is already in ``out`` are skipped; each
    other one is built here, solved on the cluster (one task per fleet when the
    fleets separate), and written atomically as soon as its last task is done.
    A scenario that fails (a bad input file, a solver failure, a killed worker)
    is recorded with its error and the others go on.

    Parameters
    ----------
    sweep_file : str, pathlib.Path or SweepSpec
        The sweep file.
    out : str or pathlib.Path, optional
        Output folder (created); default ``<sweep file stem>-results`` in the
        current folder.
    scheduler : str, optional
        Address (``tcp://host:8786``) or scheduler file (``.json``) of a running
        Dask cluster; default: start a local cluster.
    workers : int, optional
        Worker processes of the local cluster (default: one per core); 0 solves
        in this process without Dask.
    client : distributed.Client, optional
        Use this client (and its cluster) instead.
    threads_per_worker : int
        Threads per local worker process.
    progress : bool, optional
        Report progress on ``stream`` (a bar on a terminal, lines otherwise);
        default: on.
    stream : file, optional
        Where progress goes (default: standard error).

    Returns
    -------
    SweepReport
        The summary has one row per scenario and fleet: ``scenario`` (hash
        prefix), ``index``, one column per axis key (the swept values),
        ``fleet``, ``status`` (``failed`` when no result was produced),
        ``profit``, ``charged_kwh``, ``discharged_kwh``, ``slack_kwh`` (per
        fleet), ``gap``, ``seconds`` (solver seconds, summed over the fleet
        tasks), ``objective``, ``bound``, ``solver``, ``error``, ``file``, and
        the rolling-horizon amounts when a scenario rolls.

    Raises
    ------
    InputError
        Bad sweep file, output folder or scheduler.
    """
    spec = sweep_file if isinstance(sweep_file, SweepSpec) else read_sweep(sweep_file)
    points = spec.points()
    if out is None:
        stem = spec.path.stem if spec.path is not None else "sweep"
        out = Path.cwd() / f"{stem}-results"
    out = Path(out)
    report = SweepReport(out=out, points=points, summary=pd.DataFrame())
    ledger = _Ledger(spec, report)
    with _output_folder(out):
        todo = []
        for point in points:
            file = Path(_RESULTS) / f"{point.short}.nc"
            done = _load_complete(out / file, point)
            if done is None:
                todo.append(point)
            else:
                ledger.done(point, done, file, resumed=True)
        n_fleets = len(spec.base.get("fleets", []))
        reporter = ledger.reporter = _Progress(len(todo), len(todo) * n_fleets, enabled=progress is not False, stream=stream)
        if report.skipped:
            reporter.note(f"{len(report.skipped)} of {len(points)} scenarios already done in {out}; {len(todo)} to solve")
        try:
            if todo:
                with _executor(
                    client=client, scheduler=scheduler, workers=workers, threads_per_worker=threads_per_worker, note=reporter.note
                ) as ex:
                    _run(todo, ex, ledger)
        finally:
            reporter.close()
            all_rows = [row for p in points for row in ledger.rows.get(p.hash, [])]
            report.summary = _summary_frame(all_rows, spec)
            _write_summary(report.summary, out)
            _write_manifest(out, spec, points, ledger.states)
    return report


@dataclass
class _Job:
    point: SweepPoint
    aggregator: Aggregator
    split: bool
    tasks: int
    results: list[Any]
    start: float
    remaining: int


@dataclass
class _Ledger:
    """What a sweep run knows so far, scenario by scenario: summary rows, manifest states, the report."""

    spec: SweepSpec
    report: SweepReport
    reporter: _Progress | None = None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def done(self, point: SweepPoint, result: Result, file: Path, *, resumed: bool = False) -> None:
        self.rows[point.hash] = _rows(point, self.spec, result, "", str(file))
        self.states[point.hash] = {"status": result.status, "file": str(file)}
        (self.report.skipped if resumed else self.report.solved).append(point.hash)
        bad = result.status != "optimal"
        if bad:
            self.report.failed[point.hash] = f"status {result.status}"
        if self.reporter is not None and not resumed:
            line = f"{result.status}, profit {result.profit:,.2f} $, gap {result.gap:.1e}"
            self.reporter.scenario_finished(point, line, bad)

    def fail(self, point: SweepPoint, error: str) -> None:
        self.rows[point.hash] = _rows(point, self.spec, None, error, "")
        self.states[point.hash] = {"status": "failed", "error": error}
        self.report.failed[point.hash] = error
        if self.reporter is not None:
            self.reporter.scenario_finished(point, f"failed: {error}", True)


def _build(point: SweepPoint, spec: SweepSpec) -> Aggregator:
    aggregator = scenario_from_dict(point.scenario, spec.base_path.parent, source=f"{spec.base_path.name} [{point.label}]")
    aggregator.name = f"{spec.name or spec.base_path.stem} {point.short}"
    return aggregator


def _run(todo: list[SweepPoint], ex: Any, ledger: _Ledger) -> None:
    """Build, submit and gather the scenarios, a few at a time (bounded memory here)."""
    reporter = ledger.reporter
    assert reporter is not None
    n_fleets = len(ledger.spec.base.get("fleets", []))
    standard_cache: dict[Any, bool] = {}
    pending: dict[int, tuple[_Job, int]] = {}
    queue = iter(todo)
    limit = 4 * ex.workers

    def feed() -> None:
        while len(pending) < limit:
            point = next(queue, None)
            if point is None:
                return
            try:
                aggregator = _build(point, ledger.spec)
                futures, split = _submit(ex, aggregator, point.short, standard_cache)
            except Exception as exc:  # a bad input file fails this scenario only
                reporter.fleets_finished(n_fleets, n_fleets)
                ledger.fail(point, _message(exc))
                continue
            job = _Job(point, aggregator, split, len(futures), [None] * len(futures), time.perf_counter(), len(futures))
            for i, future in enumerate(futures):
                pending[id(future)] = (job, i)

    feed()
    for future in ex.completed():
        job, i = pending.pop(id(future))
        job.results[i] = _outcome_of(future)
        job.remaining -= 1
        reporter.fleets_finished(1 if job.tasks > 1 else n_fleets, job.tasks)
        if job.remaining == 0:
            _finish(job, ledger)
        feed()


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"


def _finish(job: _Job, ledger: _Ledger) -> None:
    """Gather a scenario's tasks, write its result atomically, record it."""
    point = job.point
    try:
        result = _assemble(job.aggregator, job.results, time.perf_counter() - job.start, job.split)
        result = _with_provenance(result, point, ledger.spec)
        if not result.has_solution:
            ledger.fail(point, f"{result.status}: {result.dataset.attrs.get('message') or result.status}")
            return
        file = Path(_RESULTS) / f"{point.short}.nc"
        result.to_netcdf(ledger.report.out / file)
    except Exception as exc:  # assembling or writing failed: this scenario only
        ledger.fail(point, _message(exc))
    else:
        ledger.done(point, result, file)
    finally:
        job.results = []


# ------------------------------------------------------------ combined view
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


# ------------------------------------------------------------- command line
def sweep_command(
    sweep_file: str | Path, *, out: str | Path | None = None, scheduler: str | None = None, workers: int | None = None, quiet: bool = False
) -> int:
    """``aggregator sweep``: run a sweep and print what became of each scenario.

    Parameters
    ----------
    sweep_file : str or pathlib.Path
        The sweep file.
    out : str or pathlib.Path, optional
        Output folder.
    scheduler : str, optional
        A running Dask scheduler.
    workers : int, optional
        Local worker processes (0: in this process).
    quiet : bool
        No progress output.

    Returns
    -------
    int
        0 when every scenario is solved to optimality, 1 when any failed
        (they are listed on standard error).

    Raises
    ------
    InputError
        Bad sweep file, output folder or scheduler (exit code 2 on the command line).
    """
    report = sweep(sweep_file, out, scheduler=scheduler, workers=workers, progress=not quiet)
    frame = report.summary
    if not frame.empty:
        keys = ["index", "scenario", *(a.key for a in read_axes(report))]
        totals = frame.groupby(keys, sort=True, dropna=False).agg(
            status=("status", "first"), profit=("profit", "sum"), gap=("gap", "first")
        )
        with pd.option_context("display.max_rows", 60, "display.width", 200, "display.max_colwidth", 40):
            shown = totals.reset_index().rename(columns=lambda c: c if c not in keys[2:] else c)
            for key in keys[2:]:
                shown[key] = shown[key].map(_short_value)
            print(shown.to_string(index=False))
    print(
        f"{len(report.points)} scenarios: {len(report.solved)} solved now, {len(report.skipped)} already done, "
        f"{len(report.failed)} failed; results in {report.out}"
    )
    if report.failed:
        by_hash = {p.hash: p for p in report.points}
        print(f"aggregator: {len(report.failed)} of {len(report.points)} scenarios failed:", file=sys.stderr)
        for digest, reason in report.failed.items():
            point = by_hash[digest]
            print(f"  {point.short} ({point.label}): {reason}", file=sys.stderr)
    return report.exit_code


def read_axes(report: SweepReport) -> list[Axis]:
    """The axes of a report's sweep, from its output folder's manifest.

    Parameters
    ----------
    report : SweepReport

    Returns
    -------
    list of Axis
    """
    manifest = json.loads((report.out / "sweep.json").read_text())
    return [Axis(a["key"], tuple(a["values"]), a["dim"]) for a in manifest["axes"]]
