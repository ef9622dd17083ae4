"""Scenario files (TOML): reading, validating and turning them into an Aggregator.

The schema is documented in the docs page "Scenario file reference".  Every
unknown key is an error naming it (with a did-you-mean), every wrong type an
error naming the field, the expected type and the value found.
"""

from __future__ import annotations

import dataclasses
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
from .availability import ProfileTimeMismatch, load_profile
from .csv_input import shared_reads
from .default_scenario import DEFAULT_SCENARIO
from .errors import InputError, InputWarning, PluginError
from .fleet import Fleet
from .input_files import read_regular
from .options import as_option, toml_repr, unknown_key_error, validate_options, validate_value
from .prices import MAX_STEPS, MIN_STEP_HOURS, PRICE_RANGE, load_prices, price_step_hours, window_offset
from .timezones import AMBIGUOUS_RULES, NONEXISTENT_RULES, check_timezone
from .rolling import RollingSpec
from .scenario_schema import FLEET, HORIZON, MODEL, SOLVER, TOP_LEVEL, type_map
from .solvers import check_threads

__all__ = [
    "load_scenario",
    "scenario_from_dict",
    "read_scenario",
    "validate_scenario",
    "unknown_key",
    "DEFAULT_SCENARIO",
    "scenario_hash",
]

#: The largest scenario or sweep file read, in bytes (a larger one is surely not a scenario).
MAX_SCENARIO_BYTES = 64 * 2**20

# The type check of each core table comes from its one declaration in aggregator.scenario_schema.
_TOP = {key: option.description for key, option in TOP_LEVEL.items()}
_HORIZON = type_map(HORIZON)
_SOLVER = type_map(SOLVER)
_MODEL = type_map(MODEL)
_FLEET = type_map(FLEET)

# ---- fleet representations (issue 12): keys, their types, and how they are read ----------------
# One block so that a schema rewrite can move it as a whole; see _representation_keys below.
# Their types are declared with the other fleet keys in aggregator.scenario_schema.FLEET.
_FLEET_REPRESENTATION = ("representation", "driving_kwh", "min_soc", "shortfall_penalty", "wear_cost", "trips",
                         "vehicle_results")
_TRIPS_FILE_KEYS = {"path": "trips file (CSV: vehicle, depart, arrive, energy_kwh), relative to the scenario"}
_TRIPS_GENERATOR_KEYS = {
    "model": '"from_availability": vehicles that reproduce the fleet\'s availability profile',
    "trip_kwh": "kWh of every trip (default 0)",
    "kwh_per_hour": "kWh per hour away (default 0)",
}


def _driving_profile(spec: Any, where: str, base_dir: Path, time, step_hours: float, offset: int = 0) -> np.ndarray:
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
        return values[offset: len(time)]
    if isinstance(spec, dict):
        return _availability(spec, where, base_dir, time, step_hours)[offset: len(time)]
    return np.asarray(float(spec))


def _representation_keys(
    table: dict[str, Any], where: str, base_dir: Path, time, step_hours: float, profile_time=None, offset: int = 0
) -> dict[str, Any]:
    """The Fleet keyword arguments of the representation keys of one [[fleets]] table.

    ``time`` is the studied window; profiles are read over ``profile_time``
    (from the series' start to the window's end) and cut at ``offset``.
    """
    profile_time = time if profile_time is None else profile_time
    from .vehicles import read_trips, schedule_from_availability

    out: dict[str, Any] = {}
    for key in ("representation", "shortfall_penalty", "wear_cost", "vehicle_results"):
        if key in table:
            out[key] = table[key]
    if "driving_kwh" in table:
        out["driving_kwh"] = _driving_profile(
            table["driving_kwh"], f"{where} driving_kwh", base_dir, profile_time, step_hours, offset
        )
    if "min_soc" in table:
        spec = table["min_soc"]
        out["min_soc"] = (
            _availability(spec, f"{where} min_soc", base_dir, profile_time, step_hours)[offset: len(profile_time)]
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
            profile = _availability(
                table["availability"], f"{where} availability", base_dir, profile_time, step_hours
            )[offset: len(profile_time)]
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
# availability is required of every fleet but a "vehicles" one (its trips say when it is plugged in)
_FLEET_REQUIRED = (*(key for key, option in FLEET.items() if option.required), "availability")
_TYPE_WORDS = {str: "a string", bool: "true or false", int: "an integer", float: "a number", dict: "a table"}


def _type_word(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    words = [_TYPE_WORDS.get(t, t.__name__) for t in types if not (t is int and float in types)]
    return " or ".join(words)


_toml_repr = toml_repr
_unknown = unknown_key_error


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
    """A plugin's table checked against its declared options (:mod:`aggregator.options`), defaults filled in."""
    return validate_options(cls.options, table, where, skip=(skip,))


def _check_extensions(extensions: Mapping[str, Mapping[str, Any]]) -> None:
    """Each ``[extensions.<name>]`` names an installed model extension, and its table fits the declared options."""
    for name, table in extensions.items():
        _, _, _, declared = plugins.lookup_extension(name)
        validate_options(declared, table, f"[extensions.{name}]")


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
        Missing file, not a regular file (a folder, FIFO or device), larger
        than :data:`MAX_SCENARIO_BYTES`, or TOML syntax error (with line and column).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: scenario file not found")
    raw = read_regular(path, "a scenario file (.toml)", limit=MAX_SCENARIO_BYTES)
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
        Hex SHA-256 of the canonical JSON of ``data``; numbers compare by
        value (``100`` and ``100.0`` hash alike).
    """
    canonical = json.dumps(_same_numbers(data), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same_numbers(value: Any) -> Any:
    """``value`` with whole floats as integers (``100.0`` is ``100``), so that equal numbers hash equally."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, Mapping):
        return {k: _same_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_same_numbers(v) for v in value]
    return value


def unknown_key(key: str, known: Mapping[str, Any] | set[str], where: str) -> InputError:
    """The error for an unknown key: where it is, a did-you-mean, and the keys expected there.

    Parameters
    ----------
    key : str
        The key found.
    known : mapping or set
        The keys allowed there.
    where : str
        Where it was found (``"[solver]"``, ``"top level"``, ...).

    Returns
    -------
    InputError
        To raise.
    """
    return _unknown(key, known, where)


def validate_scenario(data: Mapping[str, Any]) -> None:
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
    _time_rules(horizon)
    _check_table(data.get("model", {}), _MODEL, "[model]")
    solver = data.get("solver", {})
    if not isinstance(solver, dict):
        raise InputError(f"[solver]: expected a table, found {solver!r}")
    name = solver.get("name", "auto")
    if not isinstance(name, str):
        raise InputError(f"[solver] name = {name!r}: expected a string")
    if name != "auto":
        backends = [plugins.lookup("solver_backends", name, where="[solver] name")]
    elif set(solver) - set(_SOLVER):  # a backend's own key under auto: any backend's options are allowed
        backends = [cls for cls, _ in plugins.registry("solver_backends").values()]
    else:  # only the common keys: no backend needs importing to check them
        backends = []
    _check_table(solver, {**_SOLVER, **{k: object for cls in backends for k in cls.options}}, "[solver]")
    prices = data.get("prices")
    if not isinstance(prices, dict):
        raise InputError("[prices] is missing: expected a table such as [prices] source = \"csv\", path = ...")
    source = prices.get("source", "csv")
    if not isinstance(source, str):
        raise InputError(f"[prices] source = {source!r}: expected a string")
    _currency(prices, "")
    _plugin_options({k: v for k, v in prices.items() if k not in _PRICE_CORE_KEYS},
                    plugins.lookup("price_sources", source, where="[prices] source"), "[prices]", "source")
    if "impact" in prices and not isinstance(prices["impact"], dict):
        from .price_impact import IMPACT_KEY, impact_profile

        impact_profile(prices["impact"], 1, IMPACT_KEY)
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


#: Keys of ``[prices]`` understood for every price source: the sanity range of prices in $/MWh.
_PRICE_RANGE_KEYS = ("min_price", "max_price")
#: All the core keys of ``[prices]`` (not the source's): the sanity range, the currency label and the price impact.
_PRICE_CORE_KEYS = (*_PRICE_RANGE_KEYS, "currency", "impact")


def _currency(table: Mapping[str, Any], found: str) -> str:
    """``[prices] currency``: a short label; it must agree with a currency the source read from its file."""
    if "currency" not in table:
        return found
    label = table["currency"]
    if not isinstance(label, str) or not label.strip() or len(label) > 16:
        raise InputError(f"[prices] currency = {_toml_repr(label)}: expected a short label such as \"EUR\" or \"USD\"")
    if found and found != label:
        raise InputError(
            f"[prices] currency = {label!r}, but the price file gives its prices in {found}; expected the same "
            "(or leave currency out)"
        )
    return label.strip()


def _time_rules(horizon: Mapping[str, Any]) -> tuple[str | None, str, str]:
    """``[horizon] timezone``, ``ambiguous`` and ``nonexistent``, checked."""
    zone = horizon.get("timezone")
    zone = None if zone is None else check_timezone(zone, "[horizon] timezone")
    rules = []
    for key, choices, default in (("ambiguous", AMBIGUOUS_RULES, "infer"), ("nonexistent", NONEXISTENT_RULES, "raise")):
        value = horizon.get(key, default)
        if value not in choices:
            raise InputError(f"[horizon] {key} = {_toml_repr(value)}: expected one of {', '.join(map(repr, choices))}")
        if key in horizon and zone is None:
            raise InputError(f"[horizon] {key} is given without [horizon] timezone; expected a zone for its rule to apply to")
        rules.append(value)
    return zone, rules[0], rules[1]


def _supply_curve(spec: dict, base_dir: Path, length: int) -> Any:
    """``[prices] impact = { curve = "supply.csv" }`` (one curve per row of the prices) or ``{ points = [...] }``."""
    from .price_impact import IMPACT_KEY
    from .supply_curve import curve_from_points, read_supply_curve

    extra = sorted(set(spec) - {"curve", "points"})
    if extra or len(spec) != 1:
        raise InputError(f"{IMPACT_KEY} = {_toml_repr(spec)}: expected either curve = \"file.csv\" or points = "
                         f"[[MW, $/MWh], ...], alone" + (f" (unknown key {', '.join(extra)})" if extra else ""))
    if "points" in spec:
        return curve_from_points(spec["points"], length, f"{IMPACT_KEY} points")
    path = spec["curve"]
    if not isinstance(path, str) or not path:
        raise InputError(f"{IMPACT_KEY} curve = {_toml_repr(path)}: expected the path of a CSV file")
    return read_supply_curve(base_dir / path, length, f"{IMPACT_KEY} curve")


def _price_impact(spec: Any, base_dir: Path, step_hours: float, length: int) -> Any:
    """``[prices] impact``: a number, a series given like the prices (a table with ``source``, ``path``, ...),
    or a supply curve (:func:`_supply_curve`).

    A series must have one value per row of the price series (``length``).
    """
    if spec is None:
        return None
    from .price_impact import IMPACT_KEY, impact_profile

    if isinstance(spec, dict) and ("curve" in spec or "points" in spec):
        return _supply_curve(spec, base_dir, length)
    if isinstance(spec, dict):
        name = spec.get("source", "csv")
        if not isinstance(name, str):
            raise InputError(f"{IMPACT_KEY} source = {name!r}: expected a string")
        cls = plugins.lookup("price_sources", name, where=f"{IMPACT_KEY} source")
        options = _plugin_options(spec, cls, IMPACT_KEY, "source")
        distribution = plugins.entries("price_sources")[name].distribution
        try:
            spec = load_prices(cls, name, distribution, options, base_dir=base_dir, steps=None,
                               step_hours=step_hours, where=IMPACT_KEY).values
        except InputError as exc:
            raise InputError(f"{IMPACT_KEY}: {exc}") from None
    elif isinstance(spec, bool) or not isinstance(spec, (int, float)):
        raise InputError(
            f"{IMPACT_KEY} = {_toml_repr(spec)}: expected a number of $/MWh per MW >= 0, or a table like "
            "[prices] ({ path = \"impact.csv\", column = \"beta\" })"
        )
    return impact_profile(spec, length, IMPACT_KEY)


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


def _availability(spec: Any, where: str, base_dir: Path, time, step_hours: float, prices_source: str = ""):
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = {"model": "constant", "value": spec}
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a table such as {{ model = \"csv\", path = ..., column = ... }}")
    model_name = spec.get("model")
    if not isinstance(model_name, str):
        raise InputError(f"{where}: needs `model = ...` (a registered availability model)")
    cls = plugins.lookup("availability_models", model_name, where=f"{where} model")
    options = _plugin_options(spec, cls, where, "model")
    distribution = plugins.entries("availability_models")[model_name].distribution
    try:
        return load_profile(cls, model_name, distribution, options, base_dir=base_dir, time=time, step_hours=step_hours)
    except ProfileTimeMismatch as exc:  # name the price file too
        raise InputError(f"{where}: {exc}" + (f" (the prices: {prices_source})" if prices_source else "")) from None
    except InputError as exc:  # the plugin's own message, or its failure on the options
        raise InputError(f"{where}: {exc}") from None
    except PluginError as exc:
        raise PluginError(f"{where}: {exc}", plugin=exc.plugin, distribution=exc.distribution) from None


def scenario_from_dict(
    data: Mapping[str, Any],
    base_dir: str | Path = ".",
    *,
    source: str = "scenario",
    cls: type[Aggregator] = Aggregator,
) -> Aggregator:
    """Turn a parsed scenario into an :class:`~aggregator.Aggregator`.

    Parameters
    ----------
    data : mapping
        The scenario as parsed from TOML.
    base_dir : str or pathlib.Path
        Folder that relative paths are relative to.
    source : str
        Name of the file, for messages.
    cls : type, optional
        The :class:`~aggregator.Aggregator` subclass to build (it gets every
        setting of the scenario: fleets, prices, model options, extensions,
        solver settings, rolling horizon).

    Returns
    -------
    Aggregator
        An instance of ``cls``.

    Raises
    ------
    InputError
        Naming the file, the table and the key at fault.
    """
    base_dir = Path(base_dir)
    if not (isinstance(cls, type) and issubclass(cls, Aggregator)):
        raise TypeError(f"cls = {cls!r}: expected aggregator.Aggregator or a subclass of it")
    try:
        with shared_reads():  # the fleets' profiles often share a file: read it once
            return _build(data, base_dir, cls)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _horizon_steps(hours: float | None, step_hours: float) -> int | None:
    """The number of steps in ``[horizon] hours`` (None without it), checked."""
    if hours is None:
        return None
    steps = int(round(hours / step_hours))
    if steps < 1 or abs(steps * step_hours - hours) > 1e-9 * max(1.0, hours):
        raise InputError(f"[horizon] hours = {hours!r}: expected a whole number of {step_hours:g}-hour steps")
    if steps > MAX_STEPS:
        raise InputError(f"[horizon] hours = {hours!r} makes {steps:,} steps; expected at most {MAX_STEPS:,}")
    return steps


def _build(data: Mapping[str, Any], base_dir: Path, aggregator_cls: type[Aggregator]) -> Aggregator:
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
    given_step = horizon.get("step_hours")  # None: the step of the prices' time stamps, else 1 hour
    if given_step is not None and not (math.isfinite(given_step) and given_step >= MIN_STEP_HOURS):
        raise InputError(f"[horizon] step_hours = {given_step!r}: expected a number of hours of at least 1 second (1/3600)")
    hours = horizon.get("hours")
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise InputError(f"[horizon] hours = {hours!r}: expected a number of hours > 0")

    # Solver: common keys plus the options of the chosen backend (or of any, for auto).
    solver_name = solver.get("name", "auto")
    if not isinstance(solver_name, str):
        raise InputError(f"[solver] name = {solver_name!r}: expected a string")
    if solver_name == "auto":
        extra_keys: dict[str, Any] = {}
        if set(solver) - set(_SOLVER):  # a backend's own key: any backend's options are allowed (imports them all)
            for cls, _ in plugins.registry("solver_backends").values():
                extra_keys.update({k: _ANY for k in cls.options})
    else:
        cls = plugins.lookup("solver_backends", solver_name, where="[solver] name")
        extra_keys = {k: _ANY for k in cls.options}
    solver = _check_table(solver, {**_SOLVER, **extra_keys}, "[solver]")
    if solver_name != "auto":
        for key, option in cls.options.items():
            if key in solver:
                validate_value(as_option(option), solver[key], f"[solver] {key}")
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
        {k: v for k, v in prices_table.items() if k not in _PRICE_CORE_KEYS}, source_cls, "[prices]", "source"
    )
    timezone, ambiguous, nonexistent = _time_rules(horizon)
    distribution = plugins.entries("price_sources")[source_name].distribution
    step_hours = price_step_hours(
        source_cls, source_name, distribution, options, base_dir=base_dir, given=given_step, where="[prices]",
        timezone=timezone, ambiguous=ambiguous, nonexistent=nonexistent,
    )
    steps = _horizon_steps(hours, step_hours)
    start = horizon.get("start")  # a window of the series: the source gives all of it
    prices = load_prices(
        source_cls, source_name, distribution, options, base_dir=base_dir,
        steps=steps if start is None else None, step_hours=step_hours, where="[prices]",
        timezone=timezone, ambiguous=ambiguous, nonexistent=nonexistent,
    )
    prices = dataclasses.replace(prices, currency=_currency(prices_table, prices.currency))
    offset = 0 if start is None else window_offset(prices, start, "[horizon] start", ambiguous=ambiguous,
                                                        nonexistent=nonexistent)
    if steps is not None and steps > len(prices) - offset:
        after = f" after [horizon] start = {_toml_repr(start)}" if offset else ""
        raise InputError(
            f"[horizon] hours = {hours} needs {steps} steps but the prices ({prices.source}) have "
            f"{len(prices) - offset}{after}; shorten the horizon or supply a longer price series"
        )
    steps = steps if steps is not None else len(prices) - offset
    # Availability profiles are built on the price series from its first step and cut like it, so a
    # profile file without time stamps stays aligned row by row with the price file.
    profile_time = prices.time[: offset + steps]
    impact = _price_impact(prices_table.get("impact"), base_dir, step_hours, len(prices))
    impact = None if impact is None else impact[offset : offset + steps]
    prices = prices.window(offset, steps)
    per_kwh = prices.per_kwh_warning()
    if per_kwh:
        warnings.warn(per_kwh, InputWarning, stacklevel=2)
    problem = prices.out_of_range(*price_range)
    if problem:
        keys = " and ".join(f"[prices] {k} = {_toml_repr(prices_table[k])}" for k in _PRICE_RANGE_KEYS if k in prices_table)
        warnings.warn(
            f"{problem}; check the units ({prices.unit} expected) or the data"
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
        params = {
            k: v for k, v in table.items() if k not in ("availability", "power_availability", *_FLEET_REPRESENTATION)
        }
        params.update(_representation_keys(table, where, base_dir, prices.time, step_hours, profile_time, offset))
        if "availability" in table and "trips" not in params:
            params["availability"] = _availability(
                table["availability"], f"{where} availability", base_dir, profile_time, step_hours, prices.source
            )[offset:]
        if "power_availability" in table:
            params["power_availability"] = _availability(
                table["power_availability"], f"{where} power_availability", base_dir, profile_time, step_hours,
                prices.source,
            )[offset:]
        fleets.append(Fleet(**params))

    extensions = data.get("extensions", {})
    if not isinstance(extensions, dict) or not all(isinstance(v, dict) for v in extensions.values()):
        raise InputError("[extensions]: expected tables such as [extensions.grid_limit]")
    _check_extensions(extensions)

    solver_options = {k: v for k, v in solver.items() if k != "name"}
    aggregator = aggregator_cls(
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
        price_impact=impact,
    )
    if extensions:
        # Options that need the problem (fleet names, profile lengths) are checked now, not at solve time.
        aggregator.declared_couplings()
    return aggregator


def load_scenario(path: str | Path, cls: type[Aggregator] = Aggregator) -> Aggregator:
    """Read a scenario file and build its :class:`~aggregator.Aggregator`.

    Relative paths inside the file are relative to the file's folder.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML scenario file.
    cls : type, optional
        An :class:`~aggregator.Aggregator` subclass to build instead (for
        subclasses that change a model step): it gets every setting of the
        scenario, exactly as the base class would.

    Returns
    -------
    Aggregator
        An instance of ``cls``.

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
    aggregator = scenario_from_dict(data, path.parent, source=str(path), cls=cls)
    aggregator.name = aggregator.name or path.stem
    return aggregator
