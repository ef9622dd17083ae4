"""The plugin system, exercised the way a user meets it.

The plugin packages in ``plugins/`` are installed by CI (see the README's test
command); these tests reach them only through their entry points, mostly by
running ``python -m aggregator`` in a subprocess.  Broken, duplicate and
"outside" plugins are real distributions: a ``.dist-info`` folder with an
``entry_points.txt`` and a module, on a ``PYTHONPATH`` folder in ``tmp_path``.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.metadata
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aggregator import InputError, plugins
from aggregator.options import validate_options
from conftest import run_cli

PLUGIN_DISTRIBUTIONS = ("aggregator-tou", "aggregator-trips", "aggregator-gridlimit", "aggregator-scipy")


@pytest.fixture(scope="module", autouse=True)
def plugin_packages_installed() -> None:
    """The plugin packages must be installed (CI does it; the README's test command shows how)."""
    missing = []
    for name in PLUGIN_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        pytest.fail(
            f"plugin packages not installed: {', '.join(missing)}; install them with "
            + " ".join(f"-e plugins/{name}" for name in missing)
            + " (see the README's test command)"
        )


FLEET = """
[[fleets]]
name = "{name}"
vehicles = 1
battery_kwh = 10
charger_kw = 10
charge_efficiency = {eta}
discharge_efficiency = {eta}
contract_limit = 1.0
initial_soc = 0.0
availability = {availability}
"""


def fleet(name: str = "ev", eta: float = 1.0, availability: str = "1.0") -> str:
    """A one-vehicle fleet of 10 kWh and 10 kW that starts empty."""
    return FLEET.format(name=name, eta=eta, availability=availability)


def write(folder: Path, text: str, name: str = "s.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def run_json(scenario: Path, *args: str, env: dict | None = None) -> dict:
    p = run_cli("run", str(scenario), "--json", *args, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def exit_2(scenario: Path, *args: str) -> str:
    p = run_cli("run", str(scenario), *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    return p.stderr


# --------------------------------------------------------------- listings
def test_plugins_lists_every_kind_with_its_distribution():
    p = run_cli("plugins")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    for header in ("price sources:", "availability models:", "solver backends:", "model extensions:"):
        assert header in lines
    rows = {tuple(line.split()[:2]) for line in lines if line.startswith("  ")}
    for row in [("tou", "aggregator-tou"), ("trips", "aggregator-trips"), ("scipy", "aggregator-scipy"),
                ("grid_limit", "aggregator-gridlimit"), ("csv", "aggregator"), ("highs", "aggregator")]:
        assert row in rows
    p = run_cli("solvers")
    assert p.returncode == 0 and any(line.split()[:3] == ["scipy", "available", "aggregator-scipy"]
                                     for line in p.stdout.splitlines())


# ------------------------------------------------------------------- tou
TOU_PEAK_ONLY = """
[prices]
source = "tou"
start = "2024-07-01"            # a Monday
[[prices.periods]]
name = "peak"
hours = [16, 21]
{days}
[prices.rates]
peak = 300
off_peak = 100

[horizon]
hours = {hours}
"""


@pytest.mark.parametrize("solver", ["auto", "scipy"])
def test_tou_flat_tariff_with_one_peak_hand_solved(tmp_path, solver):
    # 100 $/MWh all day, 300 $/MWh from 16:00 to 21:00, two days, efficiencies 0.9.
    # Each day: buy 10/0.9 kWh off-peak (1.1111 $) to fill the 10 kWh battery and
    # sell 10 * 0.9 = 9 kWh at the peak (2.70 $); nothing is worth buying after it.
    scenario = write(tmp_path, TOU_PEAK_ONLY.format(days="", hours=48) + fleet(eta=0.9))
    data = run_json(scenario, "--solver", solver)
    assert data["status"] == "optimal"
    assert data["profit"] == pytest.approx(2 * (9 * 0.3 - 10 / 0.9 * 0.1), abs=1e-6)
    assert data["fleets"]["ev"]["charged_kwh"] == pytest.approx(2 * 10 / 0.9, abs=1e-6)
    assert data["fleets"]["ev"]["discharged_kwh"] == pytest.approx(18.0, abs=1e-6)


def tou(**options) -> np.ndarray:
    """Hourly prices of the ``tou`` source found through its entry point."""
    source = plugins.lookup("price_sources", "tou", where="test")
    step_hours = options.pop("step_hours", 1.0)
    options = validate_options(source.options, options, "[prices]")  # what the core does before load
    signal = source().load(options, base_dir=Path("."), steps=None, step_hours=step_hours)
    return signal.to_series()


def test_tou_default_tariff_by_hour_weekday_and_season():
    prices = tou(start="2024-01-01", hours=8760)
    assert len(prices) == 8760
    at = lambda stamp: prices[pd.Timestamp(stamp)]  # noqa: E731
    assert at("2024-07-10 17:00") == 550  # summer weekday peak
    assert at("2024-07-13 17:00") == 420  # summer Saturday: part-peak
    assert at("2024-07-10 15:00") == 420 and at("2024-07-10 22:00") == 420  # shoulders
    assert at("2024-07-10 10:00") == 300 and at("2024-07-10 03:00") == 300  # off-peak
    assert at("2024-01-10 17:00") == 450  # winter weekday peak
    assert at("2024-01-10 10:00") == 250  # winter midday super-off-peak
    assert at("2024-01-10 03:00") == 290
    assert at("2024-05-31 17:00") == 450 and at("2024-06-01 17:00") == 420  # June is summer (a Saturday)


def test_tou_holidays_units_and_step_lengths():
    holiday = tou(start="2024-07-04", hours=24, holidays=["2024-07-04"])
    assert holiday["2024-07-04 17:00"] == 420  # Independence Day is priced as a Sunday
    kwh = tou(start="2024-07-01", hours=24, unit="$/kWh", rates={"peak": 0.5, "off_peak": 0.2},
              periods=[{"name": "peak", "hours": [16, 21]}])
    assert kwh["2024-07-01 16:00"] == pytest.approx(500) and kwh["2024-07-01 10:00"] == pytest.approx(200)
    quarter = tou(start="2024-07-01 15:30", hours=1, step_hours=0.25)
    assert quarter.tolist() == [420, 420, 550, 550]
    # A two-hour step from 15:00 is half part-peak (420) and half peak (550).
    two = tou(start="2024-07-01 15:00", hours=4, step_hours=2.0)
    assert two.tolist() == [pytest.approx(485), 550]
    wrap = tou(start="2024-07-01", hours=24, periods=[{"name": "night", "hours": [22, 6]}],
               rates={"night": 50, "off_peak": 200})
    assert wrap.iloc[[0, 5, 6, 21, 22, 23]].tolist() == [50, 50, 200, 200, 50, 50]


def test_tou_peak_on_weekdays_only(tmp_path):
    # From Friday 00:00 for three days; the peak is on weekdays only -> one cycle.
    scenario = write(tmp_path, TOU_PEAK_ONLY.format(days='days = "weekdays"', hours=72).replace(
        "2024-07-01", "2024-07-05") + fleet())
    data = run_json(scenario)
    assert data["profit"] == pytest.approx(10 * 0.3 - 10 * 0.1, abs=1e-6)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"unit": "cents"}, ["unit", "'cents'"]),
        ({"seasons": {"summer": [6, 7, 8], "winter": [1, 2, 3, 4, 5, 10, 11, 12]}}, ["month 9", "no season"]),
        ({"seasons": {"a": [1, 2, 3, 4, 5, 6, 7], "b": [7, 8, 9, 10, 11, 12]}}, ["month 7", "'a'", "'b'"]),
        ({"periods": [{"name": "peak", "hours": [16, 25]}]}, ["periods[1] hours", "[0, 24]"]),
        ({"periods": [{"name": "peak", "hours": [16, 16]}]}, ["periods[1] hours", "empty"]),
        ({"periods": [{"name": "peak", "hour": [16, 21]}]}, ["periods[1]", "unknown key 'hour'"]),
        ({"periods": [{"name": "peak", "hours": [16, 21], "days": "workdays"}]}, ["periods[1] days", "weekdays"]),
        ({"periods": [{"name": "peak", "hours": [16, 21], "seasons": ["spring"]}]}, ["unknown season 'spring'"]),
        ({"rates": {"peak": "high", "off_peak": 1}}, ["rates", "'high'"]),
        ({"rates": {"summer": {"peak": 1}, "winter": {"peak": 1}}}, ["no rate for period", "'off_peak'"]),
        ({"holidays": ["July 4"]}, ["holidays", "'July 4'"]),
        ({"hours": -5}, ["hours", "-5"]),
    ],
)
def test_tou_bad_options_name_the_key(options, words):
    with pytest.raises(InputError) as info:
        tou(**options)
    message = str(info.value)
    assert message.startswith("[prices]")
    for word in words:
        assert word in message


def test_tou_unknown_and_bad_keys_exit_2_naming_them(tmp_path):
    base = TOU_PEAK_ONLY.format(days="", hours=24)
    stderr = exit_2(write(tmp_path, base.replace('start = "2024-07-01"', 'peak_hours = [16, 21]') + fleet()))
    assert "unknown key 'peak_hours'" in stderr and "[prices]" in stderr
    stderr = exit_2(write(tmp_path, base.replace("peak = 300", 'peak = "high"') + fleet()))
    assert "rates.peak = 'high'" in stderr


# ----------------------------------------------------------------- trips
def trips_profile(time: pd.DatetimeIndex, step_hours: float = 1.0, **options) -> np.ndarray:
    model = plugins.lookup("availability_models", "trips", where="test")
    options = validate_options(model.options, options, "availability")  # what the core does before profile
    return model().profile(options, base_dir=Path("."), time=time, step_hours=step_hours)


def test_trips_fixed_schedule_by_weekday():
    time = pd.date_range("2024-07-05", periods=72, freq="h")  # Friday to Sunday
    profile = trips_profile(time, trips=[{"depart": "07:30", "arrive": "18:00", "days": "weekdays", "share": 0.6}],
                            plugged_in=0.9)
    friday = profile[:24]
    assert friday[:7] == pytest.approx(0.9) and friday[18:] == pytest.approx(0.9)
    assert friday[7:18] == pytest.approx(0.9 * 0.4)  # away from the 7:00 step (leaves 7:30) to 18:00
    assert profile[24:] == pytest.approx(0.9)  # nobody leaves at the weekend


def test_trips_overnight_and_multi_day_trips():
    # A workplace fleet: away overnight Monday-Thursday and from Friday 17:00 to Monday 09:00.
    time = pd.date_range("2024-07-05", periods=96, freq="h")  # Friday to Monday
    trips = [{"depart": "17:00", "arrive": "09:00", "days": ["mon", "tue", "wed", "thu"]},
             {"depart": "17:00", "duration": 64, "days": ["fri"]}]
    profile = trips_profile(time, trips=trips).reshape(4, 24)
    present = np.zeros(24)
    present[9:17] = 1.0
    assert profile[0] == pytest.approx(present)  # Friday: back from Thursday night at 9, leaves at 17
    assert profile[1:3] == pytest.approx(0.0)  # the weekend away
    assert profile[3] == pytest.approx(present)  # Monday: back at 9


def test_trips_distributions_are_seeded_and_independent_of_the_horizon():
    week = pd.date_range("2024-07-01", periods=168, freq="h")
    first = trips_profile(week, seed=3)
    assert np.array_equal(first, trips_profile(week, seed=3))
    assert not np.array_equal(first, trips_profile(week, seed=4))
    later = trips_profile(pd.date_range("2024-06-28", periods=24 * 6, freq="h"), seed=3)
    assert np.array_equal(first[:72], later[72:])  # a day's profile does not depend on the horizon
    # The default commuters: about 90 % away at noon on weekdays, all home at night.
    assert first[12] == pytest.approx(0.1, abs=0.03) and first[2] == pytest.approx(1.0)
    assert ((first >= 0) & (first <= 1)).all()
    # A vehicle home for a whole hour is home for each of its quarters.
    quarters = trips_profile(pd.date_range("2024-07-01", periods=96, freq="15min"), step_hours=0.25, seed=3)
    assert (quarters.reshape(24, 4).min(axis=1) >= first[:24] - 1e-12).all()


@pytest.mark.parametrize(
    "options, words",
    [
        ({"trips": [{"depart": "25:00", "arrive": "18:00"}]}, ["trips[1] depart", "'25:00'"]),
        ({"trips": [{"depart": "07:00"}]}, ["trips[1]", "arrive", "duration"]),
        ({"trips": [{"depart": "07:00", "arrive": "18:00", "duration": 3}]}, ["exactly one"]),
        ({"trips": [{"depart": "07:00", "arrive": "18:00", "share": 1.5}]}, ["trips[1] share", "1.5"]),
        ({"trips": [{"depart": {"mean": 7, "sd": 1}, "arrive": "18:00"}]}, ["trips[1] depart", "unknown key 'sd'"]),
        ({"trips": [{"depart": "07:00", "arrive": "18:00", "days": "sundays"}]}, ["trips[1] days", "'sundays'"]),
        ({"trips": [{"depart": "07:00", "duration": -2}]}, ["trips[1] duration", "-2"]),
        ({"trips": []}, ["trips"]),
        ({"plugged_in": 2}, ["plugged_in", "2"]),
        ({"seed": -1}, ["seed", "-1"]),
    ],
)
def test_trips_bad_options_name_the_key(options, words):
    with pytest.raises(InputError) as info:
        trips_profile(pd.date_range("2024-07-01", periods=24, freq="h"), **options)
    for word in words:
        assert word in str(info.value)


# --------------------------------------------------- extension and backend
GRID = """
[prices]
source = "csv"
path = "prices.csv"
{extension}
""" + fleet("a") + fleet("b")


def grid_scenario(tmp_path: Path, extension: str) -> Path:
    (tmp_path / "prices.csv").write_text("price\n10\n100\n")
    return write(tmp_path, GRID.format(extension=extension))


@pytest.mark.parametrize(
    "extension, solver, profit",
    [
        # Each fleet buys 10 kWh at 10 $/MWh and sells them at 100 $/MWh: 2 * 0.90 $.
        ("", "auto", 1.8),
        # 12 kW through the connection: 12 kWh bought (0.12 $) and sold (1.20 $).
        ("[extensions.grid_limit]\nkw = 12", "auto", 1.08),
        ("[extensions.grid_limit]\nkw = 12", "scipy", 1.08),
        # Export limited to 5 kW: only 5 kWh are worth buying.
        ("[extensions.grid_limit]\nkw = 100\nexport_kw = 5", "scipy", 0.45),
        # Only fleet a behind a 4 kW connection: a makes 0.36 $, b 0.90 $.
        ('[extensions.grid_limit]\nkw = 4\nfleets = ["a"]', "highs", 1.26),
    ],
)
def test_grid_limit_hand_solved(tmp_path, extension, solver, profit):
    data = run_json(grid_scenario(tmp_path, extension), "--solver", solver)
    assert data["status"] == "optimal"
    assert data["profit"] == pytest.approx(profit, abs=1e-6)
    assert data["bound"] == pytest.approx(profit, abs=1e-6)
    if extension and solver == "auto":
        # The grid limit declares its rows as a coupling: auto prices them over the exact per-fleet DP.
        assert data["solver"].split()[0] == "decomposition"


@pytest.mark.parametrize(
    "extension, words",
    [
        ("[extensions.grid_limt]\nkw = 12", ["[extensions.grid_limt]", "no model extension", "did you mean 'grid_limit'"]),
        ("[extensions.grid_limit]\nkw = 12\nimport_kw = 3", ["[extensions.grid_limit]", "unknown key 'import_kw'"]),
        ("[extensions.grid_limit]\nkw = -1", ["[extensions.grid_limit] kw = -1"]),
        ('[extensions.grid_limit]\nkw = 1\nfleets = ["c"]', ["no fleet named 'c'"]),
    ],
)
def test_bad_extension_tables_exit_2_naming_them(tmp_path, extension, words):
    stderr = exit_2(grid_scenario(tmp_path, extension), "--solver", "scipy")
    for word in words:
        assert word in stderr


def test_unknown_solver_exit_2_listing_the_installed_ones(tmp_path):
    scenario = grid_scenario(tmp_path, "")
    for stderr in (exit_2(scenario, "--solver", "gurobi-turbo"),
                   exit_2(write(tmp_path, "[solver]\nname = 'gurobi-turbo'\n" + scenario.read_text(), "t.toml"))):
        assert "'gurobi-turbo'" in stderr and "highs" in stderr and "scipy" in stderr


def test_all_four_plugin_packages_in_one_scenario(tmp_path):
    scenario = write(tmp_path, """
        [prices]
        source = "tou"
        start = "2024-07-01"
        [horizon]
        hours = 24
        [solver]
        name = "scipy"
        presolve = true
        [extensions.grid_limit]
        kw = 8
        [[fleets]]
        name = "commuters"
        vehicles = 2
        battery_kwh = 10
        charger_kw = 10
        availability = { model = "trips", trips = [{ depart = "08:00", arrive = "18:00", days = "weekdays" }] }
        [[fleets]]
        name = "depot"
        vehicles = 1
        battery_kwh = 10
        charger_kw = 10
        availability = 1.0
    """)
    out = tmp_path / "r.nc"
    data = run_json(scenario, "--out", str(out))
    assert data["status"] == "optimal" and data["solver"].startswith("scipy")
    with xr.open_dataset(out) as ds:
        commuters = ds["availability"].sel(fleet="commuters").to_numpy()
        expected = np.ones(24)
        expected[8:18] = 0.0
        assert commuters == pytest.approx(expected)
        assert ds["price"].to_numpy()[17] == 550 and ds["price"].to_numpy()[3] == 300
        net = (ds["charge"] - ds["discharge"]).sum("fleet").to_numpy()
        assert net.max() <= 8 + 1e-6 and net.min() >= -8 - 1e-6


# ----------------------------------------- throwaway distributions (real ones)
def make_distribution(folder: Path, name: str, source: str, module: str | None = None) -> None:
    """Install a one-module distribution with an entry point in group ``aggregator`` into ``folder``."""
    module = module or name.replace("-", "_")
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[aggregator]\n{module} = {module}\n")


BROKEN_IMPORT = "import a_module_that_does_not_exist\n"
BROKEN_HOOK = """
    import aggregator

    @aggregator.hookimpl
    def aggregator_register_price_sources():
        raise RuntimeError("the tariff server is down")
"""
MISSPELLED_HOOK = """
    import aggregator

    @aggregator.hookimpl
    def aggregator_register_price_source():
        return []
"""
UNMARKED_HOOK = """
    def aggregator_register_availability_models():
        return []
"""


def test_broken_plugins_are_warnings_naming_the_distribution(tmp_path):
    make_distribution(tmp_path, "aggregator-broken-import", BROKEN_IMPORT)
    make_distribution(tmp_path, "aggregator-broken-hook", BROKEN_HOOK)
    make_distribution(tmp_path, "aggregator-misspelled", MISSPELLED_HOOK)
    make_distribution(tmp_path, "aggregator-unmarked", UNMARKED_HOOK)
    env = {"PYTHONPATH": str(tmp_path)}
    p = run_cli("plugins", env=env)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    warnings = p.stderr.splitlines()
    def warned(*words: str) -> bool:
        return any(all(w in line for w in words) for line in warnings)
    assert warned("'aggregator-broken-import'", "ModuleNotFoundError", "a_module_that_does_not_exist")
    assert warned("'aggregator-broken-hook'", "RuntimeError", "the tariff server is down")
    assert warned("'aggregator-misspelled'", "'aggregator_register_price_source'",
                  "did you mean 'aggregator_register_price_sources'")
    assert warned("'aggregator-unmarked'", "not marked with @aggregator.hookimpl")
    # The rest keeps working.
    assert "aggregator-tou" in p.stdout and "aggregator-trips" in p.stdout
    scenario = write(tmp_path, TOU_PEAK_ONLY.format(days="", hours=24) + fleet())
    assert run_json(scenario, env=env)["profit"] == pytest.approx(2.0, abs=1e-6)


def test_two_plugins_with_one_name_is_an_error_naming_both(tmp_path):
    make_distribution(tmp_path, "aggregator-other-tou", """
        import aggregator

        class OtherTou(aggregator.PriceSource):
            name = "tou"

        @aggregator.hookimpl
        def aggregator_register_price_sources():
            return [OtherTou]
    """)
    scenario = write(tmp_path, TOU_PEAK_ONLY.format(days="", hours=24) + fleet())
    p = run_cli("run", str(scenario), env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "'tou'" in p.stderr and "'aggregator-tou'" in p.stderr and "'aggregator-other-tou'" in p.stderr


def test_autoload_can_be_disabled(tmp_path):
    make_distribution(tmp_path, "aggregator-broken-import", BROKEN_IMPORT)
    p = run_cli("plugins", env={"PYTHONPATH": str(tmp_path), "AGGREGATOR_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert p.returncode == 0 and p.stderr == ""
    assert "csv" in p.stdout and "tou" not in p.stdout and "aggregator-broken" not in p.stdout


OUTSIDE = """
    '''A plugin written outside the repository: one of each kind.'''
    import numpy as np

    import aggregator
    from aggregator.plugins import model_extension
    from aggregator.solvers import HighsBackend


    class TwoPrice(aggregator.PriceSource):
        '''Low, high, low, high, ... $/MWh.'''
        name = "twoprice"
        options = {"low": "$/MWh", "high": "$/MWh"}

        def load(self, options, *, base_dir, steps, step_hours):
            values = np.resize([options["low"], options["high"]], steps)
            return aggregator.PriceSignal(values, step_hours, source="twoprice")


    class Half(aggregator.AvailabilityModel):
        '''Half of the fleet plugged in.'''
        name = "half"

        def profile(self, options, *, base_dir, time, step_hours):
            return np.full(len(time), 0.5)


    class Outside(aggregator.SolverBackend):
        '''HiGHS, under another name.'''
        name = "outside"
        description = "the builtin highs backend, relabelled"

        def solve(self, aggregator, options):
            outcome = HighsBackend().solve(aggregator, options)
            outcome.solver = "outside " + outcome.solver
            return outcome


    @aggregator.hookimpl
    def aggregator_register_price_sources():
        return [TwoPrice]


    @aggregator.hookimpl
    def aggregator_register_availability_models():
        return [Half]


    @aggregator.hookimpl
    def aggregator_register_solver_backends():
        return [Outside]


    @aggregator.hookimpl
    @model_extension("discharge_cap", options={"kw": "cap on the fleets' total discharge"})
    def aggregator_extend_model(model, inputs):
        '''Cap the total discharge.'''
        options = inputs.attrs["extensions"].get("discharge_cap")
        if options is not None:
            model.add_constraints(model["discharge"].sum("fleet") <= options["kw"], name="discharge_cap")
"""


def test_an_outside_package_adds_one_plugin_of_each_kind(tmp_path):
    make_distribution(tmp_path, "outside-plugin", OUTSIDE)
    env = {"PYTHONPATH": str(tmp_path)}
    scenario = write(tmp_path, """
        [prices]
        source = "twoprice"
        low = 10
        high = 100
        [horizon]
        hours = 2
        [solver]
        name = "outside"
        [extensions.discharge_cap]
        kw = 4
        [[fleets]]
        name = "ev"
        vehicles = 2
        battery_kwh = 10
        charger_kw = 10
        charge_efficiency = 1.0
        discharge_efficiency = 1.0
        contract_limit = 1.0
        initial_soc = 0.0
        availability = { model = "half" }
    """)
    # Half of two vehicles: 10 kWh, 10 kW; 4 kWh sold at 100 $/MWh, bought at 10 $/MWh.
    data = run_json(scenario, env=env)
    assert data["solver"].startswith("outside highs")
    assert data["profit"] == pytest.approx(0.36, abs=1e-9)
    p = run_cli("plugins", env=env)
    for name in ("twoprice", "half", "outside", "discharge_cap"):
        assert any(line.split()[:2] == [name, "outside-plugin"] for line in p.stdout.splitlines()), name


def test_the_core_imports_nothing_from_plugins():
    core = Path(plugins.__file__).parent
    packages = [name.replace("-", "_") for name in PLUGIN_DISTRIBUTIONS]
    for path in core.rglob("*.py"):
        text = path.read_text()
        for package in packages:
            assert not re.search(rf"^\s*(from|import)\s+{package}\b", text, re.MULTILINE), (path, package)


@pytest.mark.parametrize("module", ["aggregator_tou.tariff", "aggregator_trips.schedule", "aggregator_gridlimit.extension"])
def test_plugin_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------- lazy registration (LazyPlugin)
def test_every_lazy_registration_agrees_with_its_class():
    """What the listings show without importing a class is what the class says (builtins and plugins/)."""
    import warnings

    plugins.reset_plugin_manager()
    try:
        for kind in plugins.iter_kinds():
            for name, entry in plugins.entries(kind).items():
                assert not entry.loaded, f"{kind} {name}: the example plugins and builtins register lazily"
                declared = (entry.is_available(), entry.summary)
                if kind == "solver_backends":
                    declared += (entry.priority, entry.description)
                with warnings.catch_warnings():
                    warnings.simplefilter("error", plugins.PluginWarning)
                    cls = entry.load()
                actual = (bool(cls.is_available()), plugins.plain_text(cls.__doc__.strip().splitlines()[0]))
                if kind == "solver_backends":
                    actual += (cls.priority, cls.description)
                assert declared == actual, (kind, name)
                assert cls.name == name
    finally:
        plugins.reset_plugin_manager()


LAZY_GHOST = """
    from aggregator.plugins import LazyPlugin, hookimpl

    @hookimpl
    def aggregator_register_price_sources():
        return [LazyPlugin("aggregator_ghost_impl:GhostPrices", name="ghost", summary="Prices from nowhere.")]
"""
LAZY_MISMATCH = """
    from aggregator.plugins import LazyPlugin, hookimpl

    @hookimpl
    def aggregator_register_price_sources():
        return [
            LazyPlugin("aggregator_odd_impl:FlatPrices", name="flat", summary="Something else entirely."),
            LazyPlugin("aggregator_odd_impl:FlatPrices", name="level", summary="Flat prices."),
        ]
"""
ODD_IMPL = '''
import numpy as np
import pandas as pd

import aggregator


class FlatPrices(aggregator.PriceSource):
    """Flat prices."""

    name = "flat"

    def load(self, options, *, base_dir, steps, step_hours):
        time = pd.date_range("2024-01-01", periods=steps, freq="h")
        return aggregator.PriceSignal(np.full(steps, 50.0), step_hours, time, source="flat")
'''


def test_a_lazy_plugin_that_cannot_be_imported_is_an_error_naming_its_distribution(tmp_path):
    make_distribution(tmp_path, "aggregator-ghost", LAZY_GHOST)
    env = {"PYTHONPATH": str(tmp_path)}
    p = run_cli("plugins", env=env)  # the listing names it from its registration, without importing it
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert any(line.split()[:2] == ["ghost", "aggregator-ghost"] and "Prices from nowhere." in line
               for line in p.stdout.splitlines())
    p = run_cli("plugins", "--verbose", env=env)  # the options need the class: the row says why there are none
    assert p.returncode == 0 and "Traceback" not in p.stderr
    row = next(line for line in p.stdout.splitlines() if line.split()[:1] == ["ghost"])
    assert "error:" in row and "could not be imported" in row and "aggregator_ghost_impl" in row
    scenario = write(tmp_path, '[prices]\nsource = "ghost"\n[horizon]\nhours = 4\n' + fleet())
    p = run_cli("run", str(scenario), env=env)
    assert p.returncode == 1 and "Traceback" not in p.stderr  # a plugin's bug, not the user's input
    assert "'aggregator-ghost'" in p.stderr and "could not be imported" in p.stderr and "ModuleNotFoundError" in p.stderr


def test_a_lazy_plugin_is_checked_against_its_class_when_imported(tmp_path):
    make_distribution(tmp_path, "aggregator-odd", LAZY_MISMATCH)
    (tmp_path / "aggregator_odd_impl.py").write_text(ODD_IMPL)
    env = {"PYTHONPATH": str(tmp_path)}
    # Registered under the class's name with another summary: a warning, and the class's summary is used.
    scenario = write(tmp_path, '[prices]\nsource = "flat"\n[horizon]\nhours = 4\n' + fleet())
    p = run_cli("run", str(scenario), "--json", env=env)
    assert p.returncode == 0, p.stderr
    assert "declares summary 'Something else entirely.'" in p.stderr and "'Flat prices.'" in p.stderr
    # Registered under another name than the class's: an error naming the distribution.
    p = run_cli("run", str(write(tmp_path, '[prices]\nsource = "level"\n[horizon]\nhours = 4\n' + fleet())), env=env)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "'aggregator-odd'" in p.stderr and "registered as 'level' but its class is named 'flat'" in p.stderr


def test_lazy_plugin_paths_are_checked_when_registered():
    with pytest.raises(ValueError, match="expected 'package.module:ClassName'"):
        plugins.LazyPlugin("aggregator.prices.CsvPriceSource", name="csv")
    with pytest.raises(ValueError, match="expected a name"):
        plugins.LazyPlugin("aggregator.prices:CsvPriceSource", name="")
