"""The scenario file's keys as typed options, and its JSON Schema.

The core tables of a scenario (top level, ``[horizon]``, ``[solver]``,
``[model]``, ``[[fleets]]``) are declared here once, as
:class:`~aggregator.options.Option` objects; the plugins declare theirs on
their classes.  :func:`scenario_json_schema` assembles both into the JSON
Schema of the scenario file (``aggregator schema`` prints it), which editors
with a TOML language server use to complete and check scenario files.

A new core key is one line in one of the mappings below: the type check of
:mod:`aggregator.scenario`, the JSON Schema and the option listing all come
from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from . import plugins
from .options import Option, options_schema
from .timezones import AMBIGUOUS_RULES, NONEXISTENT_RULES

__all__ = [
    "TOP_LEVEL",
    "HORIZON",
    "SOLVER",
    "MODEL",
    "FLEET",
    "scenario_json_schema",
    "type_map",
]

_SHARE = dict(type=float, minimum=0, maximum=1)
_PROFILE = Option(
    (dict, float),
    "a share in [0, 1] for every step, or a table naming an availability model: { model = \"csv\", ... }",
)

#: Top-level keys.
TOP_LEVEL: dict[str, Option] = {
    "name": Option(str, "a label for the scenario (default: the file's name)"),
    "description": Option(str, "free text"),
    "prices": Option(dict, "the price source and its options", required=True),
    "horizon": Option(dict, "hours, step_hours, start, timezone, ambiguous, nonexistent, rolling"),
    "solver": Option(dict, "name, mip_gap, time_limit, threads and the backend's own keys"),
    "model": Option(dict, "slack_penalty, exclusive_charging"),
    "fleets": Option(list, "one table per fleet ([[fleets]])", required=True, items=Option(dict)),
    "extensions": Option(dict, "model extension options by name ([extensions.<name>])"),
}

#: ``[horizon]``.
HORIZON: dict[str, Option] = {
    "hours": Option(float, "length of the horizon (default: the price series')", unit="hours", exclusive_minimum=0),
    "step_hours": Option(float, "length of a step", unit="hours", minimum=1 / 3600, default=1.0),
    "start": Option((str, dt.date), "first time studied: a window of a longer price series (a TOML date or "
                    "date-time, or an ISO string; default: the series' start)"),
    "timezone": Option(str, "IANA time zone of the time axis, such as \"Europe/Berlin\": stamps with UTC offsets are "
                       "converted to it, stamps without are its local times (default: the zone of the stamps' "
                       "offsets)"),
    "ambiguous": Option(str, "how a local time the clocks repeat is read: in the file's order, as daylight time "
                        "(earliest) or standard time (latest)", choices=AMBIGUOUS_RULES,
                        default="infer"),
    "nonexistent": Option(str, "what a local time the clocks skip becomes: an error, or the instant after (before) "
                          "the gap", choices=NONEXISTENT_RULES, default="raise"),
    "rolling": Option(dict, "rolling-horizon operation: { window_hours = 48, commit_hours = 24 }",
                      schema={"properties": {"window_hours": {"type": "number", "exclusiveMinimum": 0},
                                             "commit_hours": {"type": "number", "exclusiveMinimum": 0}},
                              "required": ["window_hours", "commit_hours"], "additionalProperties": False}),
}

#: ``[solver]`` (the keys every backend shares; each backend adds its own).
SOLVER: dict[str, Option] = {
    "name": Option(str, "solver backend, or auto for the fastest that supports the problem", default="auto"),
    "mip_gap": Option(float, "requested relative gap", minimum=0, exclusive_maximum=1, default=1e-4),
    "time_limit": Option(float, "time limit of the solve", unit="seconds", exclusive_minimum=0),
    "threads": Option(int, "threads for the solver (0: the solver's choice)", minimum=0, maximum=1024),
    "verbose": Option(bool, "show the solver's log"),
}

#: ``[model]``.
MODEL: dict[str, Option] = {
    "slack_penalty": Option(float, "penalty on slack energy", unit="$/kWh", exclusive_minimum=0, default=1000.0),
    "exclusive_charging": Option(bool, "forbid charging and discharging a fleet in the same step", default=True),
}

#: ``[[fleets]]``.
FLEET: dict[str, Option] = {
    "name": Option(str, "unique name of the fleet", required=True),
    "vehicles": Option(float, "number of vehicles", exclusive_minimum=0, required=True),
    "battery_kwh": Option(float, "usable battery per vehicle", unit="kWh", exclusive_minimum=0, required=True),
    "charger_kw": Option(float, "charger power per vehicle", unit="kW", exclusive_minimum=0, required=True),
    "charge_efficiency": Option(float, "share of grid energy stored", exclusive_minimum=0, maximum=1, default=0.85),
    "discharge_efficiency": Option(float, "share of stored energy delivered", exclusive_minimum=0, maximum=1,
                                   default=0.78),
    "contract_limit": Option(**_SHARE, description="share of the battery the aggregator may use", default=0.8),
    "initial_soc": Option(**_SHARE, description="state of charge at the start, a share of the battery",
                          default=1.0),
    "availability": Option(_PROFILE.type, "plugged-in share (required except for representation = \"vehicles\" "
                           "with a trips file): " + _PROFILE.description),
    "power_availability": Option(_PROFILE.type, "share of the charger power usable (default: availability)"),
    # fleet representations (docs page "The model")
    "representation": Option(str, "how the fleet is modelled", choices=("study", "energy", "vehicles"),
                             default="study"),
    "driving_kwh": Option((dict, float), "energy each vehicle drives per step (\"energy\"): a number or a "
                          "profile like availability", unit="kWh", minimum=0),
    "min_soc": Option((dict, float), "share of the fleet's battery that must be stored at the end of each "
                      "step (a departure need), a number or a profile", minimum=0, maximum=1),
    "shortfall_penalty": Option(float, "price of unmet departure need (default: the slack penalty)",
                                unit="$/kWh", exclusive_minimum=0),
    "wear_cost": Option(float, "battery wear per kWh discharged from the batteries", unit="$/kWh", minimum=0,
                        default=0.0),
    "trips": Option(dict, "the vehicles' trips (\"vehicles\"): { path = \"trips.csv\" } or "
                    "{ model = \"from_availability\", trip_kwh = ..., kwh_per_hour = ... }"),
    "vehicle_results": Option(str, "keep every vehicle's dispatch in the result, or only the fleet totals",
                              choices=("all", "totals"), default="all"),
}


def type_map(declared: Mapping[str, Option]) -> dict[str, tuple[type, ...]]:
    """The Python types of each key (for :mod:`aggregator.scenario`'s type check).

    Parameters
    ----------
    declared : mapping of str to Option

    Returns
    -------
    dict
        key -> tuple of types (``float`` keys accept ``int`` too).
    """
    out = {}
    for key, option in declared.items():
        kinds = option.type if isinstance(option.type, tuple) else (option.type,)
        if float in kinds and int not in kinds:
            kinds = (int, *kinds)
        out[key] = tuple(kinds)
    return out


def _plugin_branches(kind: str, key: str, default: str | None, extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One schema per registered plugin of a kind, told apart by ``key`` (``source``, ``model``)."""
    branches = []
    for name, (cls, _) in sorted(plugins.registry(kind).items()):
        selector: dict[str, Any] = {"const": name, "description": plugins.plain_text(
            (cls.__doc__ or name).strip().splitlines()[0])}
        schema = options_schema(cls.options, extra={key: selector, **extra})
        if name != default:
            schema["required"] = [*schema.get("required", []), key]
        branches.append(schema)
    return branches


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file, with the installed plugins' options.

    Returns
    -------
    dict

    Examples
    --------
    >>> import jsonschema, tomllib
    >>> from aggregator.scenario import DEFAULT_SCENARIO
    >>> jsonschema.validate(tomllib.loads(DEFAULT_SCENARIO), scenario_json_schema())
    """
    price_range = {
        "min_price": {"type": "number", "description": "sanity range of prices, lower end ($/MWh)"},
        "max_price": {"type": "number", "description": "sanity range of prices, upper end ($/MWh)"},
        "currency": {"type": "string", "description": "a label of the prices' currency, such as EUR (carried into "
                     "summaries and result attributes)"},
        "impact": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "object"}],
                   "description": "price impact: the price moves by this many $/MWh per MW the aggregator "
                                  "buys (>= 0); a number or a series given like the prices "
                                  "({ path = ..., column = ... }, one value per price row); or a piecewise-"
                                  "linear supply curve, the price shift in $/MWh against the net purchase in MW: "
                                  "{ curve = \"supply.csv\" } (columns step, net_purchase_mw, price_shift) or "
                                  "{ points = [[MW, $/MWh], ...] } (every step)"},
    }
    availability = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                              *_plugin_branches("availability_models", "model", None, {})]}
    fleet = options_schema(FLEET)
    fleet["properties"]["availability"] = {**availability, "description": FLEET["availability"].description}
    fleet["properties"]["power_availability"] = {**availability,
                                                 "description": FLEET["power_availability"].description}
    solver_keys: dict[str, Any] = {}
    for _, (cls, _) in sorted(plugins.registry("solver_backends").items()):
        solver_keys.update(options_schema(cls.options)["properties"])
    solver = options_schema(SOLVER, extra={k: v for k, v in solver_keys.items() if k not in SOLVER})
    extensions: dict[str, Any] = {}
    for name, (cls, _) in sorted(plugins.registry("model_extensions").items()):
        extensions[name] = options_schema(cls.options)
    for name, (_, _, options) in sorted(plugins.extension_functions().items()):
        extensions.setdefault(name, options_schema(options))
    top = options_schema(TOP_LEVEL)
    top["properties"].update(
        prices={"anyOf": _plugin_branches("price_sources", "source", "csv", price_range),
                "description": TOP_LEVEL["prices"].description},
        horizon=options_schema(HORIZON),
        solver=solver,
        model=options_schema(MODEL),
        fleets={"type": "array", "minItems": 1, "items": fleet, "description": TOP_LEVEL["fleets"].description},
        extensions={"type": "object", "properties": extensions, "additionalProperties": False,
                    "description": TOP_LEVEL["extensions"].description},
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "aggregator scenario",
        "description": "A scenario file of aggregator (TOML): prices, fleets, horizon, solver and model options.",
        **top,
    }
