"""Solver outcomes are reported honestly: status, facts, exit code, and what was written.

Every outcome is produced for real where it can be: a HiGHS time limit on an
instance too big to finish, an infeasible model from a subclass and from a
model extension, a backend that is not installed, a backend and a HiGHS call
that crash, a backend that returns a solution violating the constraints.  The
command line runs in-process through :func:`aggregator.cli.main` (plugins
registered at run time exist only in this process); its exit code, standard
output and standard error are checked as a user would see them.
"""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest

from aggregator import Aggregator, PriceSignal, SolveOutcome, SolverBackend, hookimpl, plugins
from aggregator.cli import main
from aggregator.errors import InputError, InputWarning
from aggregator.scenario import DEFAULT_SCENARIO, scenario_from_dict

from conftest import make_fleet

pytestmark = pytest.mark.filterwarnings("ignore::aggregator.errors.InputWarning")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """The command line in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def scenario_file(tmp_path, hours: int = 24, start: str = "2024-04-15", extra: str = "", solver: str = "highs"):
    text = (
        DEFAULT_SCENARIO.replace("hours = 168", f"hours = {hours}")
        .replace('start = "2024-04-15"', f'start = "{start}"')
        .replace('name = "auto"', f'name = "{solver}"')
    )
    path = tmp_path / "s.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture
def runtime_plugin():
    """Register plugin objects for one test, and remove them afterwards."""
    added = []

    def add(plugin, name):
        plugins.register(plugin, name=name, distribution="test-plugin")
        added.append(plugin)
        return plugin

    yield add
    for plugin in added:
        plugins.unregister(plugin)


# ------------------------------------------------------------------ optimal


def test_optimal_and_within_gap(tmp_path, capsys):
    agg = scenario_from_dict(tomllib.loads(DEFAULT_SCENARIO.replace("hours = 168", "hours = 48")))
    for gap in (1e-6, 0.2):
        result = agg.solve("highs", mip_gap=gap)
        assert result.status == "optimal"
        assert result.gap <= gap * (1 + 1e-9) + 1e-12
        assert result.bound >= result.objective - 1e-6 * max(1.0, abs(result.objective))
        assert result.summary()["mip_gap"] == gap
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path, 48)), "--mip-gap", "0.2", "--json")
    data = json.loads(out)
    assert code == 0 and data["status"] == "optimal" and data["gap"] <= 0.2 and data["mip_gap"] == 0.2


# --------------------------------------------------------------- time limits


def _big(tmp_path):
    """2000 hours of spring prices (hundreds of negative hours), three fleets: HiGHS needs seconds for 1e-9.

    Without the warm start, so that HiGHS starts with no solution at all.
    """
    path = scenario_file(tmp_path, hours=2000, start="2024-03-01")
    path.write_text(path.read_text().replace('name = "highs"', 'name = "highs"\nwarm_start = false', 1))
    return path


def test_time_limit_without_a_solution(tmp_path, capsys):
    path = _big(tmp_path)
    out_file = tmp_path / "result.nc"
    out_file.write_bytes(b"previous result")
    code, out, err = run(capsys, "run", str(path), "--time-limit", "0.001", "--mip-gap", "1e-9", "--json", "--out", str(out_file))
    data = json.loads(out)
    assert code == 1
    assert data["status"] == "no_solution" and data["profit"] is None and data["fleets"] == {}
    assert "without a feasible solution" in err and "--time-limit" in err
    assert out_file.read_bytes() == b"previous result"  # nothing written over the previous file


def test_time_limit_with_a_solution_reports_the_facts(tmp_path, capsys):
    path = _big(tmp_path)
    agg = scenario_from_dict(tomllib.loads(path.read_text()))
    for limit in (0.3, 0.8, 2.0, 5.0):  # the first limit at which HiGHS has a solution but no proof
        result = agg.solve("highs", time_limit=limit, mip_gap=1e-9)
        if result.status != "no_solution":
            break
    if result.status == "optimal":
        pytest.skip("HiGHS proved optimality within the time limit on this machine")
    assert result.status == "time_limit", result.dataset.attrs
    assert result.has_solution and math.isfinite(result.objective) and math.isfinite(result.bound)
    assert result.bound >= result.objective and result.gap > 1e-9
    assert max(result.violations().values()) <= 1e-6 * float(agg.inputs["soc_max"].max())
    summary = result.summary()
    assert summary["termination"] == "time_limit" and summary["profit"] is not None and summary["bound"] is not None

    code, out, err = run(capsys, "run", str(path), "--time-limit", str(limit), "--mip-gap", "1e-9", "--json")
    data = json.loads(out)
    if data["status"] == "time_limit":
        assert code == 1
        for word in ("time limit", "profit", "bound", "gap", "requested", "--time-limit"):
            assert word in err, err
    else:  # the CLI's own solve may land on another side of the limit; it must still be honest
        assert (code, data["status"]) in ((0, "optimal"), (1, "no_solution"))


def test_time_limit_within_the_requested_gap_is_success(tmp_path, capsys):
    """A solver stopped by its time limit with a solution inside the requested gap counts as solved."""
    agg = scenario_from_dict(tomllib.loads(_big(tmp_path).read_text()))
    result = agg.solve("highs", time_limit=30, mip_gap=0.5)
    assert result.status == "optimal" and result.gap <= 0.5


# ---------------------------------------------------------------- infeasible


class NoSlack(Aggregator):
    """The model without slack: infeasible when vehicles leave fuller than the fleet can discharge."""

    def define_constraints(self, model, inputs):
        super().define_constraints(model, inputs)
        model.add_constraints(model["slack_up"] + model["slack_down"] <= 0, name="no_slack")


class Impossible(Aggregator):
    """A constraint no solution meets: sell more energy than the fleets hold."""

    def define_constraints(self, model, inputs):
        super().define_constraints(model, inputs)
        model.add_constraints(model["discharge"].sum() >= 1e6, name="impossible_sales")


def _drop_fleets():
    # Fleet 'a' is full (10 kWh, 2 kW charger) and its vehicles leave at step 2: 6 kWh cannot be discharged in time.
    return [
        make_fleet("a", availability=[1, 1, 0, 0], charger_kw=2, initial_soc=1.0),
        make_fleet("b", availability=[1, 1, 1, 1]),
    ]


@pytest.mark.parametrize("exclusive", [True, False])
def test_infeasible_names_the_fleet_and_step_and_slack(exclusive):
    agg = NoSlack(_drop_fleets(), PriceSignal([30.0, 50.0, 40.0, 20.0]), exclusive_charging=exclusive)
    result = agg.solve("highs")
    assert result.status == "infeasible" and not result.has_solution
    message = result.dataset.attrs["message"]
    for word in ("fleet 'a'", "step 2", "slack", "would resolve it", "NoSlack.define_constraints"):
        assert word in message, message
    assert "fleet 'b'" not in message
    # With the documented model the same inputs solve, using exactly the slack the bounds force.
    standard = Aggregator(_drop_fleets(), PriceSignal([30.0, 50.0, 40.0, 20.0]), exclusive_charging=exclusive).solve("highs")
    assert standard.status == "optimal"
    assert standard.slack_kwh.sum() == pytest.approx(6.0, abs=1e-6) == standard.slack_forced_kwh()


def test_infeasible_from_an_added_constraint_says_so():
    result = Impossible(_drop_fleets(), PriceSignal([30.0, 50.0, 40.0, 20.0])).solve("highs")
    assert result.status == "infeasible"
    message = result.dataset.attrs["message"]
    assert "every fleet can stay within its energy bounds without slack" not in message  # fleet a cannot
    assert "Impossible.define_constraints" in message
    feasible_bounds = Impossible([make_fleet("b", availability=[1, 1])], PriceSignal([30.0, 50.0])).solve("highs")
    assert feasible_bounds.status == "infeasible"
    assert "every fleet can stay within its energy bounds without slack" in feasible_bounds.dataset.attrs["message"]


class _MinimumSales:
    """A model extension (``[extensions.minimum_sales] kwh = ...``) that can ask for the impossible."""

    @hookimpl
    def aggregator_extend_model(self, model, inputs):
        options = inputs.attrs["extensions"].get("minimum_sales")
        if options is not None:
            model.add_constraints(model["discharge"].sum() >= float(options["kwh"]), name="minimum_sales")


def test_infeasible_extension_through_the_cli(tmp_path, capsys, runtime_plugin):
    runtime_plugin(_MinimumSales(), "test:minimum_sales")
    path = scenario_file(tmp_path, 24, extra="\n[extensions.minimum_sales]\nkwh = 1e9\n")
    out_file = tmp_path / "r.nc"
    code, out, err = run(capsys, "run", str(path), "--out", str(out_file))
    assert code == 1 and "status     infeasible" in out
    assert "infeasible" in err and "extension 'minimum_sales'" in err and "without slack" in err
    assert not out_file.exists()
    # A reachable minimum solves.
    path.write_text(path.read_text().replace("kwh = 1e9", "kwh = 10"))
    code, out, err = run(capsys, "run", str(path), "--json")
    assert code == 0 and json.loads(out)["status"] == "optimal"


# ------------------------------------------------- solver not installed / crash


class _Missing(SolverBackend):
    name = "fancy"
    description = "a backend whose solver is not installed"

    @classmethod
    def is_available(cls):
        return False


class _Crashing(SolverBackend):
    name = "crashing"
    description = "a backend that fails inside solve"

    def solve(self, aggregator, options):
        raise ZeroDivisionError("the backend divided by zero")


class _Lying(SolverBackend):
    name = "lying"
    description = "a backend that returns a solution which breaks the energy balance"

    def solve(self, aggregator, options):
        import xarray as xr

        inputs = aggregator.inputs
        zeros = xr.zeros_like(inputs["soc_max"])
        solution = xr.Dataset(
            {"charge": zeros, "discharge": zeros + inputs["power_max"], "soc": inputs["soc_max"], "slack_up": zeros, "slack_down": zeros}
        )
        return SolveOutcome("optimal", objective=1e9, bound=1e9, solution=solution, solver="lying 0.0")


class _Backends:
    @hookimpl
    def aggregator_register_solver_backends(self):
        return [_Missing, _Crashing, _Lying]


def test_solver_not_installed_lists_the_installed_ones(tmp_path, capsys, runtime_plugin):
    runtime_plugin(_Backends(), "test:backends")
    agg = Aggregator([make_fleet()], PriceSignal([10.0]))
    with pytest.raises(InputError, match=r"'fancy'.*not installed.*highs"):
        agg.solve("fancy")
    auto = agg.solve("auto")  # skips what is not installed
    assert auto.has_solution and "fancy" not in auto.dataset.attrs["solver"]
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path)), "--solver", "fancy")
    assert code == 2 and "'fancy'" in err and "highs" in err and err.count("\n") == 1
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path)), "--solver", "gurobi")
    assert code == 2 and "'gurobi'" in err and "highs" in err


def test_backend_crash_is_status_error(tmp_path, capsys, runtime_plugin):
    runtime_plugin(_Backends(), "test:backends")
    result = Aggregator([make_fleet()], PriceSignal([10.0])).solve("crashing")
    assert result.status == "error" and not result.has_solution
    assert "crashing" in result.dataset.attrs["message"] and "ZeroDivisionError" in result.dataset.attrs["message"]
    out_file = tmp_path / "r.nc"
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path)), "--solver", "crashing", "--out", str(out_file))
    assert code == 1 and "the solver failed" in err and "divided by zero" in err
    assert not out_file.exists()


def test_highs_crash_is_status_error(tmp_path, capsys, monkeypatch):
    import highspy

    def explode(self, *args, **kwargs):
        raise RuntimeError("HiGHS crashed (simulated)")

    monkeypatch.setattr(highspy.Highs, "run", explode)
    result = Aggregator([make_fleet()], PriceSignal([10.0])).solve("highs")
    assert result.status == "error" and "HiGHS crashed" in result.dataset.attrs["message"]
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path)), "--solver", "highs", "--json")
    assert code == 1 and json.loads(out)["status"] == "error" and "HiGHS crashed" in err


def test_solution_that_breaks_the_constraints_is_not_trusted(tmp_path, capsys, runtime_plugin):
    runtime_plugin(_Backends(), "test:backends")
    result = Aggregator([make_fleet(availability=[1, 1])], PriceSignal([10.0, 20.0])).solve("lying")
    assert result.status == "error" and "not trusted" in result.dataset.attrs["message"]
    out_file = tmp_path / "r.nc"
    out_file.write_bytes(b"previous")
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path)), "--solver", "lying", "--out", str(out_file))
    assert code == 1 and "not trusted" in err
    assert out_file.read_bytes() == b"previous"


# ------------------------------------------------------------------- slack


def test_slack_use_is_reported_in_text_and_json(tmp_path, capsys):
    path = scenario_file(tmp_path, 24)
    text = path.read_text()
    # The workplace fleet starts full although few of its vehicles are plugged in at midnight.
    path.write_text(text.replace("initial_soc = 0.1", "initial_soc = 1.0"))
    with pytest.warns(InputWarning, match="fleet 'workplace': initial_soc = 1"):
        code, out, err = run(capsys, "run", str(path), "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data["slack"]) == {"workplace"}
    entry = data["slack"]["workplace"]
    assert entry["first_step"] == 0 and entry["direction"] == "down" and entry["steps"] >= 1
    assert entry["kwh"] == pytest.approx(data["slack_kwh"], rel=1e-6)
    assert entry["penalty"] == pytest.approx(data["penalty"], rel=1e-6)
    assert data["slack_forced_kwh"] == pytest.approx(data["slack_kwh"], rel=1e-6)
    for key in ("status", "profit", "objective", "penalty", "bound", "gap", "solve_seconds", "fleets", "slack_kwh", "solver"):
        assert key in data  # the keys that existed before
    code, out, err = run(capsys, "run", str(path))
    assert code == 0
    note = out[out.index("note:"):]
    for word in ("kWh of slack energy used", "penalty", "force at least", "fleet 'workplace'", "first at step 0", "most at step"):
        assert word in note, note


def test_no_slack_no_note(tmp_path, capsys):
    code, out, err = run(capsys, "run", str(scenario_file(tmp_path, 24)), "--json")
    data = json.loads(out)
    assert code == 0 and data["slack"] == {} and data["slack_forced_kwh"] == 0.0


def test_every_status_has_one_json_shape(tmp_path, capsys, runtime_plugin):
    runtime_plugin(_Backends(), "test:backends")
    shapes = set()
    for args in (("--solver", "highs"), ("--solver", "crashing"), ("--solver", "highs", "--time-limit", "0.001", "--hours", "2000")):
        path = _big(tmp_path)
        code, out, err = run(capsys, "run", str(path), "--hours", "24", *args[:2], *args[2:], "--json")
        data = json.loads(out)
        shapes.add(tuple(sorted(set(data) - {"message"})))
    assert len(shapes) == 1, shapes


def test_slack_penalty_too_low_is_a_warning():
    prices = PriceSignal(np.array([30.0, -200.0, 900.0]))
    with pytest.warns(InputWarning, match="slack_penalty = 0.1 .* not above"):
        Aggregator([make_fleet(availability=[1, 1, 1])], prices, slack_penalty=0.1)
