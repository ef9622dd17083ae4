"""Every reported number is recomputed and checked by the core, whatever the backend claims (issue 10, items 1, 5-7).

The lying backends are real plugins: classes registered through the plugin
manager (in this process with :func:`aggregator.plugins.register`, and once as
an outside distribution on ``PYTHONPATH`` run through the command line), each
breaking one clause of the :class:`~aggregator.SolveOutcome` contract.  The
optima are derived by hand in the comments.
"""

from __future__ import annotations

import json
import math
import re
import textwrap

import numpy as np
import pytest
import xarray as xr

from aggregator import (
    Aggregator,
    Fleet,
    InputError,
    ModelExtension,
    Option,
    PriceSignal,
    SolveOutcome,
    SolverBackend,
    hookimpl,
    plugins,
)
from aggregator.cli import main
from aggregator.dp_backend import fleet_problems, solve_fleet_problem
from aggregator.formulation import VARIABLES
from aggregator.solvers import HighsBackend

from conftest import make_fleet, run_cli

pytestmark = pytest.mark.filterwarnings("ignore::aggregator.errors.InputWarning")

DIST = "test-liars"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


# ------------------------------------------------------------------ item 1


def issue_instance() -> Aggregator:
    """The reproducer of issue 10 item 1.

    30,000 kWh, 36 MW of chargers; availability 0.2, 0.9, 0.1 of the fleet; half-hour steps.
    Step 1 (-8 $/MWh): charge 3,600 kWh at full power, paid 28.80 $; the 30,000 + 2,808 kWh
    above the 6,000 kWh maximum go to slack at 0.001 $/kWh: 26.808 $.  Step 2 (-3 $/MWh):
    charge 16,200 kWh, paid 48.60 $ (18,636 kWh stored, within 27,000).  Step 3 (2 $/MWh): sell
    1,800 kWh (3.60 $, 3,750 kWh out of the battery); 11,886 kWh of slack down to 3,000 kWh: 11.886 $.
    Objective 28.8 - 26.808 + 48.6 + 3.6 - 11.886 = 42.306 $.
    """
    f = Fleet("f", vehicles=1000, battery_kwh=30, charger_kw=36, charge_efficiency=0.78,
              discharge_efficiency=0.48, contract_limit=1.0, initial_soc=1.0, availability=[0.2, 0.9, 0.1])
    return Aggregator([f], PriceSignal([-8.0, -3.0, 2.0], step_hours=0.5), slack_penalty=0.001)


def test_warm_started_highs_reports_what_its_dispatch_is_worth():
    agg = issue_instance()
    for options in ({}, {"warm_start": False}):
        result = agg.solve("highs", mip_gap=0, **options)
        assert result.status == "optimal", result.dataset.attrs["message"]
        assert result.objective == pytest.approx(42.306, abs=1e-6)
        assert result.dataset.attrs["solver_objective"] == pytest.approx(42.306, abs=1e-6)
        assert result.bound == pytest.approx(42.306, abs=1e-6)
        assert result.profit - result.penalty == pytest.approx(result.objective, abs=1e-9)


def test_highs_presolve_with_a_start_is_caught_by_the_core():
    """Asking for presolve with the start brings HiGHS's wrong claim back; the core does not pass it on."""
    result = issue_instance().solve("highs", mip_gap=0, presolve="on")
    a = result.dataset.attrs
    assert result.objective == pytest.approx(42.306, abs=1e-6)  # what the dispatch is worth
    if a["solver_objective"] == pytest.approx(42.306, abs=1e-6):
        pytest.skip("this HiGHS no longer misreports the start's value")
    assert result.status == "feasible"
    assert "claimed objective 48.306 $ but its dispatch is worth 42.306 $" in a["message"]
    assert "'aggregator'" in a["message"]


# ------------------------------------------------------- lying backends (item 5)


def _true_solution(aggregator) -> xr.Dataset:
    """The exact solution of the documented model (the dp functions), whatever the model was changed to."""
    inputs = aggregator.inputs
    solutions = [solve_fleet_problem(p) for p in fleet_problems(inputs)]
    coords = {"time": inputs["time"], "fleet": inputs["fleet"]}
    return xr.Dataset({
        name: xr.DataArray(np.stack([getattr(s, name) for s in solutions], axis=1), dims=("time", "fleet"), coords=coords)
        for name in VARIABLES
    })


class _Liar(SolverBackend):
    """Solves with HiGHS, then changes what it says."""

    priority = -100

    def tamper(self, outcome: SolveOutcome) -> None:
        raise NotImplementedError

    def solve(self, aggregator, options):
        outcome = HighsBackend().solve(aggregator, options)
        self.tamper(outcome)
        outcome.solver = f"{self.name} 0.1"
        return outcome


class Inflating(_Liar):
    name = "inflating"

    def tamper(self, outcome):
        outcome.objective += 100.0
        outcome.bound += 100.0


class NanBound(_Liar):
    name = "nan_bound"

    def tamper(self, outcome):
        outcome.bound = math.nan


class LowBound(_Liar):
    name = "low_bound"

    def tamper(self, outcome):
        outcome.bound = outcome.objective - 0.5


class Empty(_Liar):
    name = "empty"

    def tamper(self, outcome):
        outcome.solution = None


class Unconstrained(SolverBackend):
    """Returns the documented model's optimum as optimal, whatever rows the model has."""

    name = "unconstrained"
    priority = -100

    def solve(self, aggregator, options):
        solution = _true_solution(aggregator)
        price = aggregator.inputs["price"].to_numpy()[:, None] * aggregator.step_hours / 1000
        value = float((price * (solution["discharge"] - solution["charge"]).to_numpy()).sum())
        return SolveOutcome("optimal", objective=value, bound=value, solution=solution, solver="unconstrained 0.1")


class Idle(SolverBackend):
    """A heuristic: never trade (feasible when the fleet starts within its bounds and they never tighten)."""

    name = "idle"
    priority = -100

    def solve(self, aggregator, options):
        inputs = aggregator.inputs
        zeros = xr.zeros_like(inputs["soc_max"])
        soc = zeros + inputs["soc_initial"]
        solution = xr.Dataset({"charge": zeros, "discharge": zeros, "soc": soc, "slack_up": zeros, "slack_down": zeros})
        return SolveOutcome("feasible", objective=0.0, solution=solution, solver="idle 0.1", termination="heuristic")


class Eager(Inflating):
    """An outside backend that wants to be chosen first."""

    name = "eager"
    priority = 1000

    def tamper(self, outcome):
        pass


class _Backends:
    @hookimpl
    def aggregator_register_solver_backends(self):
        return [Inflating, NanBound, LowBound, Empty, Unconstrained, Idle]


class SalesCap(ModelExtension):
    """``[extensions.sales_cap] kwh = ...``: at most this much energy sold in the horizon."""

    name = "sales_cap"
    options = {"kwh": Option(float, "energy sold at most", unit="kWh", minimum=0, required=True)}

    def add_to_model(self, model, options, *, inputs):
        dt = float(inputs.attrs["step_hours"])
        model.add_constraints((model["discharge"] * dt).sum() <= float(options["kwh"]), name="sales_cap")


class Fee(ModelExtension):
    """``[extensions.fee] per_kwh = ...``: a fee on every kWh sold, in the objective."""

    name = "fee"
    options = {"per_kwh": Option(float, "fee per kWh sold", unit="$/kWh", minimum=0, required=True)}

    def add_to_model(self, model, options, *, inputs):
        dt = float(inputs.attrs["step_hours"])
        fee = float(options["per_kwh"]) * (model["discharge"] * dt).sum()
        model.add_objective(model.objective.expression - fee, overwrite=True, sense="max")


class _Extensions:
    @hookimpl
    def aggregator_register_model_extensions(self):
        return [SalesCap, Fee]


@pytest.fixture
def liars():
    added = [_Backends(), _Extensions()]
    for i, plugin in enumerate(added):
        plugins.register(plugin, name=f"test:liars{i}", distribution=DIST)
    yield
    for plugin in added:
        plugins.unregister(plugin)


def two_hours(**kw) -> Aggregator:
    """10 then 100 $/MWh, a lossless 10 kWh / 10 kW vehicle that starts empty: buy 10 kWh (0.10 $), sell them (1.00 $)."""
    return Aggregator([make_fleet(availability=[1, 1])], PriceSignal([10.0, 100.0]), **kw)


def named(result) -> str:
    message = result.dataset.attrs["message"]
    assert "the " in message and f"'{DIST}'" in message, message
    return message


def test_an_inflated_objective_is_recomputed_and_not_certified(liars):
    result = two_hours().solve("inflating")
    assert result.objective == pytest.approx(0.9, abs=1e-9) and result.profit == pytest.approx(0.9, abs=1e-9)
    assert result.dataset.attrs["solver_objective"] == pytest.approx(100.9, abs=1e-9)
    assert result.status == "feasible"  # its bound 100.9 proves a gap of 99 %
    assert "claimed objective 100.9 $ but its dispatch is worth 0.9 $" in named(result)


def test_optimal_without_a_finite_bound_is_feasible(liars):
    result = two_hours().solve("nan_bound")
    assert result.status == "feasible" and result.objective == pytest.approx(0.9, abs=1e-9)
    assert math.isnan(result.gap) and "no finite bound" in named(result)


def test_a_bound_below_the_objective_is_no_certificate(liars):
    result = two_hours().solve("low_bound")
    assert result.status == "feasible"
    assert math.isnan(result.bound) and math.isnan(result.gap)
    assert result.dataset.attrs["solver_bound"] == pytest.approx(0.4, abs=1e-9)
    assert "below that objective" in named(result)


def test_optimal_without_a_solution_is_an_error(liars):
    result = two_hours().solve("empty")
    assert result.status == "error" and not result.has_solution
    assert "'optimal' without a solution" in named(result)


def test_extension_rows_are_checked(liars):
    # Capped at 4 kWh sold: the documented optimum sells 10 kWh, which breaks the extension's row.
    agg = two_hours(extensions={"sales_cap": {"kwh": 4.0}})
    result = agg.solve("unconstrained")
    assert result.status == "error" and "sales_cap" in named(result) and "not trusted" in result.dataset.attrs["message"]
    honest = agg.solve("highs")  # buy 4 kWh at 10, sell them at 100: 0.36 $
    assert honest.status == "optimal" and honest.objective == pytest.approx(0.36, abs=1e-9)


class SalesCapped(Aggregator):
    """A subclass row: at most 4 kWh sold."""

    def define_constraints(self, model, inputs):
        super().define_constraints(model, inputs)
        model.add_constraints((model["discharge"] * float(inputs.attrs["step_hours"])).sum() <= 4.0, name="subclass_cap")


def test_subclass_rows_are_checked(liars):
    agg = SalesCapped([make_fleet(availability=[1, 1])], PriceSignal([10.0, 100.0]))
    result = agg.solve("unconstrained")
    assert result.status == "error" and "subclass_cap" in named(result)
    assert agg.solve("highs").objective == pytest.approx(0.36, abs=1e-9)


def test_an_extension_objective_is_evaluated_on_the_built_model(liars):
    # A fee of 0.01 $/kWh on the 10 kWh sold: objective 0.9 - 0.1 = 0.8 $; the profit stays 0.9 $.
    agg = two_hours(extensions={"fee": {"per_kwh": 0.01}})
    honest = agg.solve("highs")
    assert honest.status == "optimal"
    assert honest.objective == pytest.approx(0.8, abs=1e-9) and honest.profit == pytest.approx(0.9, abs=1e-9)
    lie = agg.solve("inflating")
    assert lie.objective == pytest.approx(0.8, abs=1e-9) and lie.status == "feasible"


def test_a_heuristic_is_feasible_exit_1_without_time_limit_advice(liars, tmp_path, capsys):
    result = two_hours().solve("idle")
    assert result.status == "feasible" and result.objective == 0.0 and math.isnan(result.gap)
    scenario = tmp_path / "s.toml"
    scenario.write_text(textwrap.dedent("""
        [prices]
        source = "constant"
        price = 50
        hours = 3
        [solver]
        name = "idle"
        [[fleets]]
        name = "ev"
        vehicles = 1
        battery_kwh = 10
        charger_kw = 10
        charge_efficiency = 1.0
        discharge_efficiency = 1.0
        contract_limit = 1.0
        initial_soc = 0.5
        availability = 1.0
    """))
    out_file = tmp_path / "r.nc"
    code, out, err = run(capsys, "run", str(scenario), "--out", str(out_file))
    assert code == 1 and "status     feasible" in out
    assert "without a proven gap" in err and "not certified" in err and "--time-limit" not in err
    assert out_file.exists()  # the solution is kept, with its status


def test_auto_says_when_it_prefers_an_outside_backend():
    class _Eager:
        @hookimpl
        def aggregator_register_solver_backends(self):
            return [Eager]

    plugin = _Eager()
    plugins.register(plugin, name="test:eager", distribution=DIST)
    try:
        backend, note = two_hours().backend("auto")
    finally:
        plugins.unregister(plugin)
    assert backend.name == "eager"
    assert f"outside distribution '{DIST}'" in note and "exact builtin dp, highs" in note


OUTSIDE_LIAR = """
    import aggregator
    from aggregator.solvers import HighsBackend

    class Boasting(aggregator.SolverBackend):
        name = "boasting"

        def solve(self, aggregator, options):
            outcome = HighsBackend().solve(aggregator, options)
            outcome.objective = outcome.bound = 2 * outcome.objective + 1
            return outcome

    @aggregator.hookimpl
    def aggregator_register_solver_backends():
        return [Boasting]
"""


def test_an_outside_distribution_that_lies_is_named(tmp_path):
    from test_plugins import make_distribution

    make_distribution(tmp_path, "aggregator-boasting", OUTSIDE_LIAR)
    scenario = tmp_path / "s.toml"
    scenario.write_text(textwrap.dedent("""
        [prices]
        source = "constant"
        price = 50
        hours = 2
        [solver]
        name = "boasting"
        [[fleets]]
        name = "ev"
        vehicles = 1
        battery_kwh = 10
        charger_kw = 10
        charge_efficiency = 1.0
        discharge_efficiency = 1.0
        contract_limit = 1.0
        initial_soc = 1.0
        availability = 1.0
    """))
    # Full at 50 $/MWh: sell 10 kWh in the first hour, 0.50 $; the backend claims 2.00 $.
    p = run_cli("run", str(scenario), "--json", env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    data = json.loads(p.stdout)
    assert data["status"] == "feasible" and data["objective"] == pytest.approx(0.5, abs=1e-9)
    assert "'aggregator-boasting'" in data["message"] and "claimed objective 2 $" in data["message"]


# ------------------------------------------------------------------ item 6


def test_dp_proves_an_optimum_of_zero():
    """Zero prices for a week: nothing to earn, nothing forced; the optimum is 0 and dp proves it."""
    agg = Aggregator([Fleet("f", vehicles=1000, battery_kwh=30, charger_kw=7.2, availability=[1.0] * 168)],
                     PriceSignal([0.0] * 168))
    from aggregator.solvers import absolute_tolerance

    result = agg.solve("dp")
    assert result.status == "optimal" and result.gap == 0.0
    assert result.objective == 0.0 and 0.0 <= result.bound <= absolute_tolerance(agg.inputs)
    # 168 steps x (0 $ of trade + 1000 $/kWh x 30,000 kWh) x 1e-12 = 0.00504 $.
    assert absolute_tolerance(agg.inputs) == pytest.approx(168 * 1000 * 30000 * 1e-12)


# ------------------------------------------------------------------ item 7


def _readable(message: str) -> None:
    assert not re.search(r"\d{20}", message.replace(",", "")), message
    assert len(message) < 400, message


@pytest.mark.parametrize("penalty", [1e308, 1e7])
def test_a_huge_slack_penalty_is_an_input_error(penalty):
    with pytest.raises(InputError, match=r"slack_penalty = 1e\+(308|07) \$/kWh is out of range.*at most 1e\+06") as info:
        two_hours(slack_penalty=penalty)
    _readable(str(info.value))


def test_huge_prices_are_an_input_error():
    with pytest.raises(InputError, match=r"step 1 .* is 1e\+308 \$/MWh; expected a price between") as info:
        Aggregator([make_fleet(availability=[1, 1])], PriceSignal([10.0, 1e308]))
    _readable(str(info.value))


def test_huge_magnitudes_through_the_cli(tmp_path, capsys):
    from aggregator.scenario import DEFAULT_SCENARIO

    for key, value in (("slack_penalty = 1000.0", "slack_penalty = 1e308"),):
        path = tmp_path / "s.toml"
        path.write_text(DEFAULT_SCENARIO.replace("hours = 168", "hours = 24").replace(key, value))
        code, out, err = run(capsys, "run", str(path))
        assert code == 2 and err.count("\n") == 1 and "1e+308" in err and "--time-limit" not in err
        _readable(err)
    # The largest accepted penalty still solves, to optimality.
    path.write_text(DEFAULT_SCENARIO.replace("hours = 168", "hours = 24").replace("slack_penalty = 1000.0", "slack_penalty = 1e6"))
    code, out, err = run(capsys, "run", str(path), "--json")
    assert code == 0 and json.loads(out)["status"] == "optimal"


def test_combined_fleet_tasks_are_checked_like_a_backend():
    # Two fleets solved as independent tasks (as `run --workers` and sweeps do); one task's result
    # claims 100 $ more than its dispatch is worth (a corrupted or lying worker).  The combined
    # result recomputes its objective from the concatenated dispatch and must not be certified.
    from aggregator.fleet_tasks import combine_fleet_results

    fleets = [make_fleet("a", availability=(1.0,) * 4), make_fleet("b", availability=(1.0, 0.5, 1.0, 1.0))]
    whole = Aggregator(fleets, PriceSignal([30.0, 80.0, 20.0, 90.0]))
    parts = [Aggregator([f], PriceSignal([30.0, 80.0, 20.0, 90.0])).solve(solver="dp") for f in fleets]
    honest = combine_fleet_results(whole, parts)
    assert honest.status == "optimal" and honest.objective == pytest.approx(sum(p.objective for p in parts), abs=1e-9)
    parts[1].dataset.attrs["objective"] = parts[1].objective + 100.0
    lied = combine_fleet_results(whole, parts)
    assert lied.status == "feasible"
    assert lied.objective == pytest.approx(honest.objective, abs=1e-9)
    assert "the 2 fleet tasks claimed objective" in lied.dataset.attrs["message"]
