"""Scenario files (TOML): reading, validating and turning them into an Aggregator.

The schema is documented in the docs page "Scenario file reference".  Every
unknown key is an error naming it (with a did-you-mean), every wrong type an
error naming the field, the expected type and the value found.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import plugins
from .aggregator import Aggregator
from .errors import InputError, InputWarning
from .fleet import Fleet
from .prices import MAX_STEPS, MIN_STEP_HOURS, PRICE_RANGE, PriceSignal
from .solvers import check_threads

__all__ = ["load_scenario", "scenario_from_dict", "read_scenario", "DEFAULT_SCENARIO", "scenario_hash"]

#: The embedded default scenario: one synthetic spring week, three fleets.
DEFAULT_SCENARIO = """\
# The default scenario of `aggregator run`: one synthetic California-like spring
# week (evening peak, midday solar dip with negative prices) and three fleets.
name = "default"

[prices]
source = "synthetic"
start = "2024-04-15"
seed = 2024

[horizon]
hours = 168
step_hours = 1.0

[solver]
name = "auto"
mip_gap = 1e-4

[model]
slack_penalty = 1000.0
exclusive_charging = true

[[fleets]]
name = "residential"
vehicles = 2000
battery_kwh = 60
charger_kw = 7.2
charge_efficiency = 0.9
discharge_efficiency = 0.9
contract_limit = 0.5
initial_soc = 0.8
availability = { model = "synthetic", pattern = "residential", seed = 1 }

[[fleets]]
name = "workplace"
vehicles = 800
battery_kwh = 60
charger_kw = 11
charge_efficiency = 0.9
discharge_efficiency = 0.9
contract_limit = 0.8
initial_soc = 0.1
availability = { model = "synthetic", pattern = "commercial", seed = 2 }

[[fleets]]
name = "delivery_vans"
vehicles = 300
battery_kwh = 75
charger_kw = 22
charge_efficiency = 0.92
discharge_efficiency = 0.9
contract_limit = 0.4
initial_soc = 0.6
availability = { model = "synthetic", pattern = "mixed", seed = 3 }
"""

_TOP = {
    "name": "a label for the scenario",
    "description": "free text",
    "prices": "table: price source",
    "horizon": "table: hours, step_hours, rolling",
    "solver": "table: name, mip_gap, time_limit, threads",
    "model": "table: slack_penalty, exclusive_charging",
    "fleets": "array of tables, one per fleet",
    "extensions": "table of model extension options by name",
}
_HORIZON = {"hours": (int, float), "step_hours": (int, float), "rolling": dict}
_SOLVER = {"name": str, "mip_gap": (int, float), "time_limit": (int, float), "threads": int, "verbose": bool}
_MODEL = {"slack_penalty": (int, float), "exclusive_charging": bool}
_FLEET = {
    "name": str,
    "vehicles": (int, float),
    "battery_kwh": (int, float),
    "charger_kw": (int, float),
    "charge_efficiency": (int, float),
    "discharge_efficiency": (int, float),
    "contract_limit": (int, float),
    "initial_soc": (int, float),
    "availability": (dict, int, float),
    "power_availability": (dict, int, float),
}
# ---- fleet representations (issue 12): keys, their types, and how they are read ----------------
# One block so that a schema rewrite can move it as a whole; see _representation_keys below.
_FLEET_REPRESENTATION = {
    "representation": str,
    "driving_kwh": (dict, int, float),
    "min_soc": (dict, int, float),
    "shortfall_penalty": (int, float),
    "wear_cost": (int, float),
    "trips": dict,
    "vehicle_results": str,
}
_FLEET.update(_FLEET_REPRESENTATION)
_TRIPS_FILE_KEYS = {"path": "trips file (CSV: vehicle, depart, arrive, energy_kwh), relative to the scenario"}
_TRIPS_GENERATOR_KEYS = {
    "model": '"from_availability": vehicles that reproduce the fleet\'s availability profile',
    "trip_kwh": "kWh of every trip (default 0)",
    "kwh_per_hour": "kWh per hour away (default 0)",
}


def _driving_profile(spec: Any, where: str, base_dir: Path, time, step_hours: float) -> np.ndarray:
    """``driving_kwh``: a number, or a profile like availability (kWh, so a CSV column is read as numbers >= 0)."""
    if isinstance(spec, dict) and spec.get("model") == "csv":
        from .csv_input import numeric_column, read_csv_table

        unknown = sorted(set(spec) - {"model", "path", "column"})
        if unknown:
            raise _unknown(unknown[0], {"model", "path", "column"}, where)
        if not isinstance(spec.get("path"), str):
            raise InputError(f"{where}: needs `path = ...` (a CSV file)")
        path = Path(spec["path"]).expanduser()
        path = path if path.is_absolute() else base_dir / path
        _, values = numeric_column(read_csv_table(path), path, spec.get("column"), what="driving energy")
        if values.size < len(time):
            raise InputError(f"{path}: {values.size} rows but the horizon needs {len(time)} steps")
        return values[: len(time)]
    if isinstance(spec, dict):
        return _availability(spec, where, base_dir, time, step_hours)[: len(time)]
    return np.asarray(float(spec))


def _representation_keys(table: dict[str, Any], where: str, base_dir: Path, time, step_hours: float) -> dict[str, Any]:
    """The Fleet keyword arguments of the representation keys of one [[fleets]] table."""
    from .vehicles import read_trips, schedule_from_availability

    out: dict[str, Any] = {}
    for key in ("representation", "shortfall_penalty", "wear_cost", "vehicle_results"):
        if key in table:
            out[key] = table[key]
    if "driving_kwh" in table:
        out["driving_kwh"] = _driving_profile(table["driving_kwh"], f"{where} driving_kwh", base_dir, time, step_hours)
    if "min_soc" in table:
        spec = table["min_soc"]
        out["min_soc"] = (
            _availability(spec, f"{where} min_soc", base_dir, time, step_hours)[: len(time)]
            if isinstance(spec, dict)
            else np.asarray(float(spec))
        )
    if "trips" in table:
        spec = table["trips"]
        twhere = f"{where} trips"
        if table.get("representation") != "vehicles":
            raise InputError(f"{twhere}: trips are given but representation = {table.get('representation', 'study')!r}; expected representation = \"vehicles\"")
        if "model" in spec:
            if spec["model"] != "from_availability":
                raise InputError(f"{twhere} model = {spec['model']!r}: expected \"from_availability\" (or `path = ...` for a trips file)")
            for key in spec:
                if key not in _TRIPS_GENERATOR_KEYS:
                    raise _unknown(key, _TRIPS_GENERATOR_KEYS, twhere)
            if "availability" not in table:
                raise InputError(f"{twhere}: model = \"from_availability\" needs the fleet's `availability` (the profile to reproduce)")
            profile = _availability(table["availability"], f"{where} availability", base_dir, time, step_hours)[: len(time)]
            vehicles = table.get("vehicles")
            if isinstance(vehicles, float) and vehicles.is_integer():
                vehicles = int(vehicles)
            if not isinstance(vehicles, int) or vehicles < 1:
                raise InputError(f"{where} vehicles = {vehicles!r}: a 'vehicles' fleet needs a whole number of vehicles >= 1")
            capacity = float(table.get("battery_kwh", math.inf))
            out["trips"] = schedule_from_availability(
                profile, vehicles, step_hours=step_hours, trip_kwh=spec.get("trip_kwh", 0.0),
                kwh_per_hour=spec.get("kwh_per_hour", 0.0),
                max_trip_kwh=capacity * float(table.get("contract_limit", 0.8)), where=twhere,
            )
        else:
            for key in spec:
                if key not in _TRIPS_FILE_KEYS:
                    raise _unknown(key, {**_TRIPS_FILE_KEYS, "model": ""}, twhere)
            if not isinstance(spec.get("path"), str):
                raise InputError(f"{twhere}: needs `path = ...` (a CSV file: vehicle, depart, arrive, energy_kwh) or model = \"from_availability\"")
            path = Path(spec["path"]).expanduser()
            out["trips"] = read_trips(path if path.is_absolute() else base_dir / path, time, step_hours)
    elif table.get("representation") == "vehicles":
        raise InputError(f"{where}: representation = \"vehicles\" needs `trips = {{ path = ... }}` or `trips = {{ model = \"from_availability\" }}`")
    return out
# ---- end of the fleet representation block ------------------------------------------------------
_ANY = (object, bool)  # a backend-specific [solver] key: any TOML value, the backend checks it
_FLEET_REQUIRED = ("name", "vehicles", "battery_kwh", "charger_kw", "availability")
_TYPE_WORDS = {str: "a string", bool: "true or false", int: "an integer", float: "a number", dict: "a table"}


def _type_word(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    words = [_TYPE_WORDS.get(t, t.__name__) for t in types if not (t is int and float in types)]
    return " or ".join(words)


def _toml_repr(value: Any) -> str:
    """A value as it would be written in TOML (``true``, not ``True``), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _unknown(key: str, known: Mapping[str, Any] | set[str], where: str) -> InputError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InputError(f"{where}: unknown key {key!r}{hint} (expected one of {', '.join(sorted(known))})")


def _check_table(table: Any, schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise InputError(f"{where}: expected a table, found {table!r}")
    for key, value in table.items():
        if key not in schema:
            raise _unknown(key, schema, where)
        types = schema[key]
        types = types if isinstance(types, tuple) else (types,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            raise InputError(f"{where} {key} = {_toml_repr(value)}: expected {_type_word(types)}")
    return dict(table)


def _plugin_options(table: dict[str, Any], cls: type, where: str, skip: str) -> dict[str, Any]:
    options = {k: v for k, v in table.items() if k != skip}
    allowed = dict(cls.options)
    for key in options:
        if key not in allowed:
            raise _unknown(key, set(allowed) | {skip}, where)
    return options


def _check_extensions(extensions: Mapping[str, Mapping[str, Any]]) -> None:
    """Each ``[extensions.<name>]`` names an installed model extension and only keys it declares."""
    installed = plugins.model_extensions()
    for name, table in extensions.items():
        where = f"[extensions.{name}]"
        if name not in installed:
            close = difflib.get_close_matches(name, list(installed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"{where}: no model extension of that name{hint} (installed: {', '.join(sorted(installed)) or 'none'})"
            )
        allowed = installed[name][2]
        if allowed is not None:
            for key in table:
                if key not in allowed:
                    raise _unknown(key, allowed, where)


def read_scenario(path: str | Path) -> dict[str, Any]:
    """Parse a scenario file into a dict (no validation beyond TOML syntax).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    dict

    Raises
    ------
    InputError
        Missing file or TOML syntax error (with line and column).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: scenario file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a scenario file (.toml)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file; expected a TOML scenario") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: TOML syntax error: {exc}") from None


def scenario_hash(data: Mapping[str, Any]) -> str:
    """A content hash of a scenario dict (stable across key order).

    Parameters
    ----------
    data : mapping

    Returns
    -------
    str
        Hex SHA-256 of the canonical JSON of ``data``.
    """
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


#: Keys of ``[prices]`` understood for every price source: the sanity range of prices in $/MWh.
_PRICE_RANGE_KEYS = ("min_price", "max_price")


def _price_range(table: Mapping[str, Any]) -> tuple[float, float]:
    bounds = []
    for key, default in zip(_PRICE_RANGE_KEYS, PRICE_RANGE):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise InputError(f"[prices] {key} = {_toml_repr(value)}: expected a number of $/MWh")
        bounds.append(float(value))
    if not bounds[0] < bounds[1]:
        raise InputError(
            f"[prices] max_price = {bounds[1]:g} is not above min_price = {bounds[0]:g}; expected min_price < max_price"
        )
    return bounds[0], bounds[1]


#: What a price source or availability model may raise on options it cannot use (besides InputError).
_PLUGIN_FAILURES = (ValueError, TypeError, KeyError, IndexError, ArithmeticError, OSError)


def _plugin_failed(kind: str, name: str, where: str, exc: Exception) -> InputError:
    dist = plugins.registry(kind).get(name, (None, "?"))[1]
    word = {"price_sources": "price source", "availability_models": "availability model"}[kind]
    return InputError(
        f"{where}: the {word} {name!r} (from {dist!r}) failed on these options: {type(exc).__name__}: {exc}"
    )


def _availability(spec: Any, where: str, base_dir: Path, time, step_hours: float):
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = {"model": "constant", "value": spec}
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a table such as {{ model = \"csv\", path = ..., column = ... }}")
    model_name = spec.get("model")
    if not isinstance(model_name, str):
        raise InputError(f"{where}: needs `model = ...` (a registered availability model)")
    cls = plugins.lookup("availability_models", model_name, where=f"{where} model")
    options = _plugin_options(spec, cls, where, "model")
    try:
        profile = cls().profile(options, base_dir=base_dir, time=time, step_hours=step_hours)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    except _PLUGIN_FAILURES as exc:
        raise _plugin_failed("availability_models", model_name, where, exc) from None
    try:
        return np.asarray(profile, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{where}: the availability model {model_name!r} returned {type(profile).__name__}, "
            f"expected an array of shares ({exc})"
        ) from None


def scenario_from_dict(data: Mapping[str, Any], base_dir: str | Path = ".", *, source: str = "scenario") -> Aggregator:
    """Turn a parsed scenario into an :class:`~aggregator.Aggregator`.

    Parameters
    ----------
    data : mapping
        The scenario as parsed from TOML.
    base_dir : str or pathlib.Path
        Folder that relative paths are relative to.
    source : str
        Name of the file, for messages.

    Returns
    -------
    Aggregator

    Raises
    ------
    InputError
        Naming the file, the table and the key at fault.
    """
    base_dir = Path(base_dir)
    try:
        return _build(data, base_dir)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _build(data: Mapping[str, Any], base_dir: Path) -> Aggregator:
    for key in data:
        if key not in _TOP:
            raise _unknown(key, _TOP, "top level")
    if "name" in data and not isinstance(data["name"], str):
        raise InputError(f"name = {data['name']!r}: expected a string")
    horizon = _check_table(data.get("horizon", {}), _HORIZON, "[horizon]")
    solver = data.get("solver", {})
    if not isinstance(solver, dict):
        raise InputError(f"[solver]: expected a table, found {solver!r}")
    model = _check_table(data.get("model", {}), _MODEL, "[model]")
    step_hours = float(horizon.get("step_hours", 1.0))
    if not (math.isfinite(step_hours) and step_hours >= MIN_STEP_HOURS):
        raise InputError(f"[horizon] step_hours = {step_hours!r}: expected a number of hours of at least 1 second (1/3600)")
    hours = horizon.get("hours")
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise InputError(f"[horizon] hours = {hours!r}: expected a number of hours > 0")
    steps = None if hours is None else int(round(hours / step_hours))
    if steps is not None and (steps < 1 or abs(steps * step_hours - hours) > 1e-9 * max(1.0, hours)):
        raise InputError(f"[horizon] hours = {hours!r}: expected a whole number of {step_hours:g}-hour steps")
    if steps is not None and steps > MAX_STEPS:
        raise InputError(f"[horizon] hours = {hours!r} makes {steps:,} steps; expected at most {MAX_STEPS:,}")

    # Solver: common keys plus the options of the chosen backend (or of any, for auto).
    solver_name = solver.get("name", "auto")
    if not isinstance(solver_name, str):
        raise InputError(f"[solver] name = {solver_name!r}: expected a string")
    if solver_name == "auto":
        extra_keys: dict[str, Any] = {}
        for cls, _ in plugins.registry("solver_backends").values():
            extra_keys.update({k: _ANY for k in cls.options})
    else:
        cls = plugins.lookup("solver_backends", solver_name, where="[solver] name")
        extra_keys = {k: _ANY for k in cls.options}
    solver = _check_table(solver, {**_SOLVER, **extra_keys}, "[solver]")
    gap = solver.get("mip_gap", 1e-4)
    if not 0 <= gap < 1:
        raise InputError(f"[solver] mip_gap = {gap!r}: expected a relative gap in [0, 1)")
    if "time_limit" in solver and not solver["time_limit"] > 0:
        raise InputError(f"[solver] time_limit = {solver['time_limit']!r}: expected seconds > 0")
    check_threads(solver.get("threads"), "[solver] threads")

    # Prices.
    prices_table = data.get("prices")
    if prices_table is None:
        raise InputError("[prices] is missing: expected a table such as [prices] source = \"csv\", path = ...")
    if not isinstance(prices_table, dict):
        raise InputError(f"[prices]: expected a table, found {prices_table!r}")
    source_name = prices_table.get("source", "csv")
    if not isinstance(source_name, str):
        raise InputError(f"[prices] source = {source_name!r}: expected a string")
    source_cls = plugins.lookup("price_sources", source_name, where="[prices] source")
    price_range = _price_range(prices_table)
    options = _plugin_options(
        {k: v for k, v in prices_table.items() if k not in _PRICE_RANGE_KEYS}, source_cls, "[prices]", "source"
    )
    try:
        prices = source_cls().load(options, base_dir=base_dir, steps=steps, step_hours=step_hours)
    except _PLUGIN_FAILURES as exc:
        raise _plugin_failed("price_sources", source_name, "[prices]", exc) from None
    if not isinstance(prices, PriceSignal):
        raise InputError(
            f"[prices] source = {source_name!r} returned {type(prices).__name__}; expected a PriceSignal (a bug in the source)"
        )
    if abs(prices.step_hours - step_hours) > 1e-12:
        raise InputError(
            f"[prices] source {source_name!r} gave {prices.step_hours}-hour steps but [horizon] step_hours = {step_hours}"
        )
    if steps is not None and steps > len(prices):
        raise InputError(
            f"[horizon] hours = {hours} needs {steps} steps but the prices ({prices.source}) have {len(prices)}; "
            "shorten the horizon or supply a longer price series"
        )
    prices = prices.head(steps if steps is not None else len(prices))
    problem = prices.out_of_range(*price_range)
    if problem:
        keys = " and ".join(f"[prices] {k} = {_toml_repr(prices_table[k])}" for k in _PRICE_RANGE_KEYS if k in prices_table)
        warnings.warn(
            f"{problem}; check the units ($/MWh expected) or the data"
            + (f" ({keys})" if keys else ", or widen the sanity range with [prices] min_price / max_price"),
            InputWarning,
            stacklevel=2,
        )

    # Fleets.
    fleets_table = data.get("fleets")
    if not fleets_table:
        raise InputError("[[fleets]] is missing: expected at least one [[fleets]] table")
    if not isinstance(fleets_table, list):
        raise InputError("fleets: expected an array of tables ([[fleets]])")
    fleets = []
    names: dict[str, int] = {}
    for i, table in enumerate(fleets_table, start=1):
        where = f"[[fleets]] #{i}"
        if isinstance(table, dict) and isinstance(table.get("name"), str):
            where = f"[[fleets]] #{i} ({table['name']!r})"
        table = _check_table(table, _FLEET, where)
        if "name" in table:
            where = f"[[fleets]] #{i} ({table['name']!r})"
            if table["name"] in names:
                raise InputError(
                    f"{where}: name {table['name']!r} is already used by fleet #{names[table['name']]}; "
                    "expected unique fleet names"
                )
            names[table["name"]] = i
        for key in _FLEET_REQUIRED:
            if key not in table and not (key == "availability" and table.get("representation") == "vehicles"):
                raise InputError(f"{where}: `{key}` is missing")
        params = {k: v for k, v in table.items() if k not in ("availability", "power_availability") and k not in _FLEET_REPRESENTATION}
        params.update(_representation_keys(table, where, base_dir, prices.time, step_hours))
        if "availability" in table and "trips" not in params:
            params["availability"] = _availability(
                table["availability"], f"{where} availability", base_dir, prices.time, step_hours
            )[: len(prices)]
        if "power_availability" in table:
            params["power_availability"] = _availability(
                table["power_availability"], f"{where} power_availability", base_dir, prices.time, step_hours
            )[: len(prices)]
        fleets.append(Fleet(**params))

    extensions = data.get("extensions", {})
    if not isinstance(extensions, dict) or not all(isinstance(v, dict) for v in extensions.values()):
        raise InputError("[extensions]: expected tables such as [extensions.grid_limit]")
    _check_extensions(extensions)

    solver_options = {k: v for k, v in solver.items() if k != "name"}
    return Aggregator(
        fleets,
        prices,
        hours=None,
        slack_penalty=model.get("slack_penalty", 1000.0),
        exclusive_charging=model.get("exclusive_charging", True),
        extensions=extensions,
        solver=solver_name,
        solver_options=solver_options,
        name=str(data.get("name", "")),
        rolling=horizon.get("rolling"),
    )


def load_scenario(path: str | Path) -> Aggregator:
    """Read a scenario file and build its :class:`~aggregator.Aggregator`.

    Relative paths inside the file are relative to the file's folder.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML scenario file.

    Returns
    -------
    Aggregator

    Raises
    ------
    InputError
        Naming the file and the key, row or value at fault.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "s.toml").write_text(DEFAULT_SCENARIO)
    >>> agg = load_scenario(folder / "s.toml")
    >>> [f.name for f in agg.fleets], agg.steps
    (['residential', 'workplace', 'delivery_vans'], 168)
    """
    path = Path(path)
    data = read_scenario(path)
    aggregator = scenario_from_dict(data, path.parent, source=str(path))
    aggregator.name = aggregator.name or path.stem
    return aggregator
