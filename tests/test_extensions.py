"""Model extensions as a class kind, typed options, duplicate plugin names, the scenario JSON Schema.

Outside packages are real distributions (a ``.dist-info`` folder with an
entry point on ``PYTHONPATH``, see ``test_plugins.make_distribution``) run
through the real command line; the grid limit runs through the installed
``aggregator-gridlimit`` package and the real HiGHS solver.  Optima are
worked out by hand in the comments.
"""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from aggregator import Aggregator, Fleet, InputError, PriceSignal, load_scenario, plugins
from aggregator.coupling import PowerCoupling
from aggregator.scenario import DEFAULT_SCENARIO
from aggregator.scenario_schema import scenario_json_schema
from conftest import REPO, run_cli
from test_plugins import exit_2, fleet, make_distribution, run_json, write


def ev(name: str = "ev") -> Fleet:
    """One lossless vehicle of 10 kWh and 10 kW that starts empty, always plugged in."""
    return Fleet(name, vehicles=1, battery_kwh=10, charger_kw=10, charge_efficiency=1.0, discharge_efficiency=1.0,
                 contract_limit=1.0, initial_soc=0.0, availability=[1.0, 1.0])


CHEAP_THEN_DEAR = PriceSignal([10.0, 100.0])  # $/MWh: buy in step 0, sell in step 1


# ------------------------------------------------------- grid limit as a coupling
@pytest.mark.parametrize(
    "options, profit",
    [
        # No limit binding: buy 10 kWh at 10 $/MWh (0.10 $), sell them at 100 $/MWh (1.00 $).
        ({"kw": 100}, 0.90),
        # Import 4 kW in step 0: buy 4 kWh (0.04 $), sell 4 kWh (0.40 $).
        ({"kw": [4, 100]}, 0.36),
        # Export 3 kW in step 1: buying more than 3 kWh is waste; 0.30 - 0.03.
        ({"kw": 100, "export_kw": [100, 3]}, 0.27),
    ],
)
def test_grid_limit_declares_its_rows_as_a_coupling_hand_solved(options, profit):
    agg = Aggregator([ev()], CHEAP_THEN_DEAR, extensions={"grid_limit": options})
    [coupling] = agg.declared_couplings()
    assert isinstance(coupling, PowerCoupling) and coupling.fleets == ("ev",)
    expected_import = np.broadcast_to(np.asarray(options["kw"], float), (2,))
    assert coupling.import_kw.tolist() == expected_import.tolist()
    # The model is the documented one plus exactly the declared rows.
    [same] = agg.couplings()
    assert same.name == coupling.name and same.import_kw.tolist() == coupling.import_kw.tolist()
    assert set(coupling.constraint_names) <= set(agg.build_model().constraints)
    result = agg.solve("highs", mip_gap=0)
    assert result.status == "optimal" and result.profit == pytest.approx(profit, abs=1e-9)


def test_grid_limit_on_some_fleets_only():
    # Fleet a is behind a 4 kW connection, b is not: a earns 0.36 $, b 0.90 $.
    agg = Aggregator([ev("a"), ev("b")], CHEAP_THEN_DEAR, extensions={"grid_limit": {"kw": 4, "fleets": ["a"]}})
    assert [c.fleets for c in agg.couplings()] == [("a",)]
    assert agg.solve("highs", mip_gap=0).profit == pytest.approx(1.26, abs=1e-9)


@pytest.mark.parametrize(
    "table, words",
    [
        ("kw = -1", ["[extensions.grid_limit] kw = -1", "expected a number of kW >= 0"]),
        ("kw = [1, -2]", ["[extensions.grid_limit] kw[1] = -2", ">= 0"]),
        ("kw = [1, 2, 3]", ["[extensions.grid_limit] kw", "3 values", "2 steps"]),
        ('kw = 1\nexport_kw = "lots"', ["[extensions.grid_limit] export_kw = 'lots'"]),
        ('kw = 1\nfleets = ["c"]', ["[extensions.grid_limit] fleets", "no fleet named 'c'"]),
        ("export_kw = 1", ["[extensions.grid_limit] needs `kw = ...`"]),
    ],
)
def test_bad_grid_limits_exit_2_naming_the_key(tmp_path, table, words):
    scenario = write(tmp_path, '[prices]\nsource = "constant"\nprice = 50\n[horizon]\nhours = 2\n'
                     f"[extensions.grid_limit]\n{table}\n" + fleet())
    stderr = exit_2(scenario)
    assert str(scenario) in stderr
    for word in words:
        assert word in stderr, stderr


# ----------------------------------------------- extensions only when named
def test_an_unnamed_extension_class_is_never_called_and_needs_no_probe():
    import aggregator

    calls = []

    class Loud(aggregator.ModelExtension):
        """Breaks every model it touches."""

        name = "loud"

        def add_to_model(self, model, options, *, inputs):
            calls.append(options)
            model.add_constraints(model["charge"].sum() <= -1, name="loud")

    class Module:
        @staticmethod
        @aggregator.hookimpl
        def aggregator_register_model_extensions():
            return [Loud]

    plugins.register(Module, name="loud-test")
    try:
        plain = Aggregator([ev()], CHEAP_THEN_DEAR)
        assert plain.is_standard() and plain._model_changed_by_extensions is None  # no probe was built
        assert plain.solve("dp").profit == pytest.approx(0.9, abs=1e-9) and calls == []
        named = Aggregator([ev()], CHEAP_THEN_DEAR, extensions={"loud": {}})
        assert not named.is_standard() and named.couplings() is None  # rows that are not couplings
        named.build_model()
        assert calls == [{}]
        with pytest.raises(InputError, match=r"\[extensions.loud\]: unknown key 'volume'"):
            Aggregator([ev()], CHEAP_THEN_DEAR, extensions={"loud": {"volume": 11}}).build_model()
    finally:
        plugins.unregister(Module)


def test_load_scenario_builds_a_subclass_with_every_setting(tmp_path):
    class Mine(Aggregator):
        pass

    scenario = write(tmp_path, '[prices]\nsource = "constant"\nprice = 50\n[horizon]\nhours = 2\n'
                     "[model]\nslack_penalty = 7\nexclusive_charging = false\n[solver]\nname = \"highs\"\n"
                     "time_limit = 9\n[extensions.grid_limit]\nkw = 4\n" + fleet())
    agg = load_scenario(scenario, cls=Mine)
    assert type(agg) is Mine
    assert (agg.slack_penalty, agg.exclusive_charging, agg.solver) == (7.0, False, "highs")
    assert agg.solver_options == {"time_limit": 9} and agg.extensions == {"grid_limit": {"kw": 4}}
    assert agg.name == "s"


# ------------------------------------------------ duplicate names (issue 10, 14)
OTHER_CSV = """
    import aggregator

    class OtherCsv(aggregator.PriceSource):
        '''Not the builtin csv.'''
        name = "csv"

    @aggregator.hookimpl
    def aggregator_register_price_sources():
        return [OtherCsv]
"""


def test_a_duplicate_name_fails_only_where_it_is_used(tmp_path):
    make_distribution(tmp_path, "aggregator-other-csv", OTHER_CSV)
    env = {"PYTHONPATH": str(tmp_path)}
    p = run_cli("plugins", env=env)
    assert p.returncode == 0, p.stderr
    assert "``" not in p.stdout and ":class:" not in p.stdout  # plain text on a terminal, no reST markup
    prices = p.stdout.split("availability models:")[0]
    conflict = [line.split() for line in prices.splitlines() if line.split()[:1] == ["csv"]]
    assert sorted(line[1] for line in conflict) == ["aggregator", "aggregator-other-csv"]
    assert all("conflict:" in line for line in conflict)
    # A scenario that does not use csv runs as before.
    constant = write(tmp_path, '[prices]\nsource = "constant"\nprice = 50\n[horizon]\nhours = 2\n' + fleet())
    assert run_json(constant, env=env)["status"] == "optimal"
    # One that does is an input error naming both distributions.
    (tmp_path / "p.csv").write_text("price\n10\n100\n")
    uses = write(tmp_path, '[prices]\nsource = "csv"\npath = "p.csv"\n' + fleet(), name="csv.toml")
    p = run_cli("run", str(uses), env=env)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "[prices] source = 'csv'" in p.stderr
    assert "'aggregator'" in p.stderr and "'aggregator-other-csv'" in p.stderr


# --------------------------------------- an outside package of the four kinds
OUTSIDE_TYPED = """
    '''Written from docs/writing_plugins.rst alone: one class of each kind, typed options.'''
    import numpy as np

    import aggregator
    from aggregator import Option
    from aggregator.coupling import PowerCoupling
    from aggregator.solvers import HighsBackend


    class Alternating(aggregator.PriceSource):
        '''Low, high, low, high, ... $/MWh.'''
        name = "alternating"
        options = {"low": Option(float, "price of even steps", unit="$/MWh", required=True),
                   "high": Option(float, "price of odd steps", unit="$/MWh", required=True)}

        def load(self, options, *, base_dir, steps, step_hours):
            return aggregator.PriceSignal(np.resize([options["low"], options["high"]], steps), step_hours)


    class Share(aggregator.AvailabilityModel):
        '''A fixed share of the fleet plugged in.'''
        name = "share"
        options = {"share": Option(float, "plugged-in share", minimum=0, maximum=1, default=0.5)}

        def profile(self, options, *, base_dir, time, step_hours):
            return np.full(len(time), options["share"])


    class Relabelled(aggregator.SolverBackend):
        '''HiGHS under another name.'''
        name = "relabelled"
        options = {"label": Option(str, "prefix of the reported solver name")}

        def solve(self, aggregator, options):
            outcome = HighsBackend().solve(aggregator, options)
            outcome.solver = options.extra.get("label", "relabelled") + " " + outcome.solver
            return outcome


    class ExportCap(aggregator.ModelExtension):
        '''A cap on the fleets' summed export.'''
        name = "export_cap"
        options = {"kw": Option(float, "the cap", unit="kW", minimum=0, required=True)}

        def couplings(self, options, *, inputs):
            fleets = list(inputs.indexes["fleet"])
            return [PowerCoupling.create(self.name, fleets, inputs.sizes["time"], export_kw=options["kw"])]


    @aggregator.hookimpl
    def aggregator_register_price_sources():
        return [Alternating]


    @aggregator.hookimpl
    def aggregator_register_availability_models():
        return [Share]


    @aggregator.hookimpl
    def aggregator_register_solver_backends():
        return [Relabelled]


    @aggregator.hookimpl
    def aggregator_register_model_extensions():
        return [ExportCap]
"""

TYPED_SCENARIO = """
[prices]
source = "alternating"
{prices}
[horizon]
hours = 2
[solver]
name = "relabelled"
{solver}
[extensions.export_cap]
{cap}
[[fleets]]
name = "ev"
vehicles = 2
battery_kwh = 10
charger_kw = 10
charge_efficiency = 1.0
discharge_efficiency = 1.0
contract_limit = 1.0
initial_soc = 0.0
availability = {availability}
"""


def typed(tmp_path: Path, prices="low = 10\nhigh = 100", solver='label = "outside"', cap="kw = 4",
          availability='{ model = "share" }') -> Path:
    return write(tmp_path, TYPED_SCENARIO.format(prices=prices, solver=solver, cap=cap, availability=availability))


def test_an_outside_package_adds_each_kind_with_typed_options(tmp_path):
    make_distribution(tmp_path, "outside-typed", OUTSIDE_TYPED)
    env = {"PYTHONPATH": str(tmp_path)}
    # Half of two vehicles: 10 kWh and 10 kW; the cap sells 4 kWh at 100 $/MWh, bought at 10 $/MWh.
    data = run_json(typed(tmp_path), env=env)
    assert data["solver"].startswith("outside highs") and data["profit"] == pytest.approx(0.36, abs=1e-9)

    bad = {
        "prices": ('low = "cheap"\nhigh = 100', "[prices] low = 'cheap': expected a number of $/MWh"),
        "availability": ('{ model = "share", shar = 0.5 }', "unknown key 'shar'; did you mean 'share'?"),
        "solver": ("label = 3", "[solver] label = 3: expected a string"),
        "cap": ("kw = -4", "[extensions.export_cap] kw = -4: expected a number of kW >= 0"),
    }
    for key, (value, message) in bad.items():
        p = run_cli("run", str(typed(tmp_path, **{key: value})), env=env)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert message in p.stderr, (key, p.stderr)
    p = run_cli("run", str(typed(tmp_path, availability='{ model = "share", share = 1.5 }')), env=env)
    assert p.returncode == 2 and "availability share = 1.5: expected a number in [0, 1]" in p.stderr

    # Documentation for free: the listing, the generated reference and the JSON Schema.
    p = run_cli("plugins", "--verbose", env=env)
    assert p.returncode == 0, p.stderr
    assert any(line.split() == ["kw", "the", "cap;", "a", "number", "of", "kW", ">=", "0;", "required"]
               for line in p.stdout.splitlines()), p.stdout
    assert any(line.split() == ["share", "plugged-in", "share;", "a", "number", "in", "[0,", "1];", "default", "0.5"]
               for line in p.stdout.splitlines()), p.stdout
    code = "from aggregator.reference import options_reference; print(options_reference())"
    p = run_cli_python(code, env)
    assert "``[extensions.export_cap]`` (from ``outside-typed``)" in p.stdout
    assert "the cap; a number of kW >= 0; required" in p.stdout
    p = run_cli("schema", env=env)
    schema = json.loads(p.stdout)
    cap = schema["properties"]["extensions"]["properties"]["export_cap"]
    assert cap["properties"]["kw"]["minimum"] == 0 and cap["required"] == ["kw"]
    jsonschema.validate(tomllib.loads(typed(tmp_path).read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tomllib.loads(typed(tmp_path, cap="kw = -4").read_text()), schema)


def run_cli_python(code: str, env: dict):
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=120)
    assert p.returncode == 0, p.stderr
    return p


# ---------------------------------------------------------- the JSON Schema
def scenario_files() -> list[Path]:
    files = [p for p in (REPO / "examples").rglob("*.toml") if p.name != "sweep.toml"]  # sweep.toml: a sweep spec
    assert files
    return files


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.name)
def test_example_scenarios_validate_against_the_schema(path):
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(tomllib.loads(path.read_text()), schema)


def test_the_default_scenario_validates_and_bad_ones_do_not():
    schema = scenario_json_schema()
    data = tomllib.loads(DEFAULT_SCENARIO)
    jsonschema.validate(data, schema)
    for broken in (
        {**data, "horizon": {"hours": -1}},
        {**data, "solver": {"mip_gap": 2}},
        {**data, "fleets": [{**data["fleets"][0], "initial_soc": 1.5}]},
        {**data, "prices": {"source": "synthetic", "sead": 1}},
        {**data, "extensions": {"grid_limt": {"kw": 1}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_schema_command_prints_valid_json_schema():
    p = run_cli("schema")
    assert p.returncode == 0, p.stderr
    jsonschema.Draft202012Validator.check_schema(json.loads(p.stdout))


# ------------------------------------------------------- module boundaries
#: Private imports still in the tree, each removed by a known piece of work.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()  # none: the sweep modules use scenario.validate_scenario


def test_no_module_imports_another_modules_private_names():
    found = []
    for root in [REPO / "src", *sorted((REPO / "plugins").glob("*/src"))]:
        for path in root.rglob("*.py"):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            package = module.rpartition(".")[0]
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source = node.module or ""
                if node.level:
                    source = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [source])
                    source = source.rstrip(".")
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and (module, source) not in KNOWN_PRIVATE_IMPORTS:
                    found.append(f"{module} imports {', '.join(private)} from {source}")
    assert not found, found


@pytest.mark.parametrize(
    "table, key, value",
    [
        ("horizon", "hours", -1), ("horizon", "step_hours", 0), ("solver", "mip_gap", 1), ("solver", "time_limit", 0),
        ("solver", "threads", 2000), ("model", "slack_penalty", 0), ("model", "exclusive_charging", 1),
        ("fleets", "vehicles", 0), ("fleets", "contract_limit", 1.5), ("fleets", "initial_soc", -0.1),
        ("fleets", "charge_efficiency", 0), ("fleets", "battery_kwh", "big"),
    ],
)
def test_the_schema_and_the_loader_reject_the_same_core_values(tmp_path, table, key, value):
    from aggregator.scenario import scenario_from_dict

    data = tomllib.loads(DEFAULT_SCENARIO)
    if table == "fleets":
        data["fleets"][0][key] = value
    else:
        data.setdefault(table, {})[key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, scenario_json_schema())
    with pytest.raises(InputError, match=key):
        scenario_from_dict(data, tmp_path)


def test_auto_says_which_backend_name_it_skipped_for_a_conflict():
    import aggregator

    class OtherHighs(aggregator.SolverBackend):
        """Not the builtin highs."""

        name = "highs"

    class Module:
        @staticmethod
        @aggregator.hookimpl
        def aggregator_register_solver_backends():
            return [OtherHighs]

    plugins.register(Module, name="other-highs", distribution="aggregator-other-highs")
    try:
        agg = Aggregator([ev()], CHEAP_THEN_DEAR)
        backend, note = agg.backend("auto")
        assert backend.name == "dp"
        assert "highs skipped: registered by 'aggregator' and 'aggregator-other-highs'" in note
        with pytest.raises(InputError, match="two plugins register the solver backend 'highs'"):
            agg.backend("highs")
        assert agg.solve("dp").profit == pytest.approx(0.9, abs=1e-9)
    finally:
        plugins.unregister(Module)
