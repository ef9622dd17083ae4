"""Sweep files: the base scenario, the axes, and the grid of scenarios they expand to.

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
the sweep file.  Every expanded scenario is checked with
:func:`aggregator.scenario.validate_scenario` before anything is solved.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import InputError
from .scenario import read_scenario, scenario_hash, unknown_key, validate_scenario

__all__ = ["Axis", "SweepPoint", "SweepSpec", "read_sweep", "sweep_from_dict", "short_value", "is_path_key", "HASH_DIGITS"]

_SWEEP_KEYS = {
    "base": "the base scenario file, relative to the sweep file",
    "axes": "table of dotted scenario keys to lists of values",
    "name": "a label for the sweep",
    "description": "free text",
}
#: Hex digits of the scenario hash that name its result file.
HASH_DIGITS = 16


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
        return self.hash[:HASH_DIGITS]

    @property
    def label(self) -> str:
        """``key=value`` pairs, for messages."""
        return ", ".join(f"{k}={short_value(v)}" for k, v in self.labels.items()) or "base"


def short_value(value: Any) -> str:
    """An axis value for a table or a message: a path as its file name, anything else as text.

    Parameters
    ----------
    value : object

    Returns
    -------
    str
    """
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
            raise InputError(f"{where}: {unknown_key(key, _SWEEP_KEYS, 'top level')}")
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
        validate_scenario(base)
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
                validate_scenario(trial)
            except InputError as exc:
                raise InputError(f"{at} value {value!r}: {exc}") from None
        canonical = [scenario_hash({"value": v}) for v in values]  # by value: 100 and 100.0 are one value
        if len(set(canonical)) != len(canonical):
            raise InputError(f"{at} = {values!r}: a value appears twice (numbers compare by value)")
        axes.append(Axis(key, tuple(values), dims[key]))
    spec = SweepSpec(path, base_path, base, axes, name=str(data.get("name", "")))
    for point in spec.points():  # combinations of axis values must be valid too
        try:
            validate_scenario(point.scenario)
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
    top = parts[0]  # an unknown first part is named by validate_scenario, which every expansion goes through
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


def is_path_key(key: str) -> bool:
    """Whether a scenario key holds a file path (``path`` or ``*_path``), relative to its file.

    Parameters
    ----------
    key : str

    Returns
    -------
    bool
    """
    return key == "path" or key.endswith("_path")


def _resolve_value(key: str, value: Any, folder: Path) -> Any:
    """Make a path-valued axis value absolute (relative to the sweep file)."""
    last = key.split(".")[-1]
    if is_path_key(last) and isinstance(value, str):
        return str((folder / value).resolve())
    if isinstance(value, dict):
        return {k: (str((folder / v).resolve()) if is_path_key(k) and isinstance(v, str) else v) for k, v in value.items()}
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
                if is_path_key(key) and isinstance(value, str):
                    table[key] = str((folder / value).resolve())
    return scenario
