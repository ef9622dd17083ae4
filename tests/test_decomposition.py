"""The decomposition backend: fleets behind a shared connection, against the exact HiGHS MILP."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import Aggregator, Fleet, PriceSignal
from aggregator.availability import CsvAvailability
from aggregator.coupling import PowerCoupling, add_coupling_rows, coupling_violation
from aggregator.errors import InputError


class SharedConnection(Aggregator):
    """Fleets behind connections declared as couplings (``site`` = [(fleets or None, import, export)])."""

    site: list = []

    def declared_couplings(self):
        names = [f.name for f in self.fleets]
        return [
            PowerCoupling.create(f"site{i}", fleets or names, self.steps, import_kw=imp, export_kw=exp)
            for i, (fleets, imp, exp) in enumerate(self.site)
        ]

    def extend_model(self, model, inputs):
        super().extend_model(model, inputs)
        for coupling in self.declared_couplings():
            add_coupling_rows(model, coupling, inputs)


def shared(fleets, prices, site, **kw) -> SharedConnection:
    agg = SharedConnection(fleets, prices, **kw)
    agg.site = site
    return agg


def seed_window(seed, start: int, hours: int, kw: float, contract: float = 0.8) -> SharedConnection:
    """The seed Case0 instance's four fleets over a window, behind one connection of ``kw`` both ways."""
    prices = PriceSignal.from_csv(seed / "CA_Weighted_Price_Case0.csv", "Weighted_Avg_Price")
    window = PriceSignal(prices.values[start : start + hours], 1.0, prices.time[start : start + hours], "seed")
    fleets = []
    for i in range(1, 5):
        profile = CsvAvailability().profile(
            {"path": str(seed / "car_profile_multiple.csv"), "column": f"car_aval{i}"},
            base_dir=seed, time=prices.time[: start + hours], step_hours=1.0,
        )
        fleets.append(Fleet(f"car_aval{i}", vehicles=1000, battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85,
                            discharge_efficiency=0.78, contract_limit=contract, initial_soc=1.0,
                            availability=profile[start : start + hours]))
    return shared(fleets, window, [(None, kw, kw)], hours=hours)


def net_import(result, fleets=None):
    ds = result.dataset
    net = ds["charge"] - ds["discharge"]
    if fleets:
        net = net.sel(fleet=list(fleets))
    return net.sum("fleet").to_numpy()


def test_auto_chooses_decomposition_and_says_why(seed):
    agg = seed_window(seed, 0, 24, 6000.0)
    backend, note = agg.backend()
    assert backend.name == "decomposition"
    assert "decomposition" in note and "coupling" in note and "site0" in note
    assert [c.name for c in agg.couplings()] == ["site0"]


@pytest.mark.parametrize(
    ("start", "hours", "kw"),
    [(0, 24, 6000.0), (2160, 48, 12000.0), (2160, 168, 6000.0), (4000, 96, 9000.0)],
)
def test_seed_windows_match_the_exact_milp(seed, start, hours, kw):
    agg = seed_window(seed, start, hours, kw)
    exact = agg.solve("highs", mip_gap=0.0)
    assert exact.status == "optimal"
    result = agg.solve(mip_gap=1e-7)
    assert result.status == "optimal", result.dataset.attrs.get("message")
    assert result.dataset.attrs["solver"].startswith("decomposition")
    assert result.objective == pytest.approx(exact.objective, rel=1e-6)
    assert result.bound >= exact.objective - 1e-6 * abs(exact.objective)
    assert result.bound >= result.objective
    net = net_import(result)
    assert net.max() <= kw + 1e-6 and -net.min() <= kw + 1e-6
    assert result.violations()["exclusive"] == 0.0


def test_a_limit_that_never_binds_gives_the_uncoupled_dp_answer(seed):
    agg = seed_window(seed, 2160, 72, 1e6)
    uncoupled = Aggregator(agg.fleets, agg.prices, hours=72).solve()
    assert uncoupled.dataset.attrs["solver"].startswith("dp")
    result = agg.solve()
    assert result.dataset.attrs["solver"].startswith("decomposition")
    assert result.status == "optimal"
    assert result.objective == uncoupled.objective
    assert result.bound == pytest.approx(uncoupled.bound, rel=1e-12)
    for name in ("charge", "discharge", "soc", "slack_up", "slack_down"):
        np.testing.assert_array_equal(result.dataset[name].to_numpy(), uncoupled.dataset[name].to_numpy())


def fleet(name, pmax=10.0, capacity=20.0, **kw):
    params = dict(vehicles=1, battery_kwh=capacity, charger_kw=pmax, charge_efficiency=0.9,
                  discharge_efficiency=0.9, contract_limit=1.0, initial_soc=0.5)
    params.update(kw)
    return Fleet(name, **params)


def test_hand_solved_shared_export_limit():
    # Two lossless 10 kWh fleets, full, one step at 100 $/MWh, export limited to 12 kW:
    # together they can sell 12 kWh (not 20), worth 1.20 $.
    fleets = [fleet(n, pmax=10.0, capacity=10.0, charge_efficiency=1.0, discharge_efficiency=1.0, initial_soc=1.0,
                    availability=[1.0]) for n in ("a", "b")]
    agg = shared(fleets, PriceSignal([100.0]), [(None, math.inf, 12.0)])
    result = agg.solve(mip_gap=0.0)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(1.2, abs=1e-9)
    assert result.bound == pytest.approx(1.2, abs=1e-9)
    assert net_import(result)[0] == pytest.approx(-12.0)


@pytest.mark.parametrize("extra", [{"wear_cost": 0.05}, {"representation": "energy", "driving_kwh": 1.0}])
def test_fleets_beyond_the_study_model_fall_back_to_the_milp(extra):
    # The decomposition's LP start and repair model the study fleet only: auto must not choose it
    # (its answer would be checked and rejected), and the exact MILP gets the same answer it would alone.
    fleets = [fleet(n, pmax=10.0, capacity=10.0, initial_soc=1.0, availability=[1.0, 1.0], **extra) for n in ("a", "b")]
    agg = shared(fleets, PriceSignal([100.0, 20.0]), [(None, math.inf, 12.0)])
    backend, note = agg.backend("auto")
    assert backend.name != "decomposition" and "decomposition skipped" in note, note
    result = agg.solve(mip_gap=0.0)
    assert result.status == "optimal" and result.objective == pytest.approx(result.bound, abs=1e-6)


@pytest.mark.parametrize(
    ("site", "key"),
    [
        ([(None, -1.0, 5.0)], "import_kw"),
        ([(None, 5.0, [1.0, 2.0])], "export_kw"),
        ([(["a", "nope"], 5.0, 5.0)], "fleets"),
    ],
)
def test_bad_coupling_is_one_input_error_naming_the_key(site, key):
    fleets = [fleet(n, availability=[1.0] * 3) for n in ("a", "b")]
    agg = shared(fleets, PriceSignal([10.0, -5.0, 50.0]), site)
    with pytest.raises(InputError, match=key) as info:
        agg.solve()
    assert "site0" in str(info.value)


@st.composite
def small_instances(draw):
    steps = draw(st.integers(2, 8))
    n = draw(st.integers(1, 3))
    prices = draw(st.lists(st.sampled_from([-40.0, -5.0, 0.0, 10.0, 30.0, 80.0, 200.0]), min_size=steps, max_size=steps))
    fleets = []
    for i in range(n):
        availability = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=steps, max_size=steps))
        fleets.append(fleet(f"f{i}", pmax=draw(st.sampled_from([5.0, 10.0])), capacity=draw(st.sampled_from([10.0, 30.0])),
                            charge_efficiency=draw(st.sampled_from([0.8, 1.0])),
                            discharge_efficiency=draw(st.sampled_from([0.85, 1.0])),
                            initial_soc=draw(st.sampled_from([0.0, 0.5, 1.0])), contract_limit=0.9,
                            availability=availability))
    imp = draw(st.sampled_from([0.0, 4.0, 8.0, 15.0, math.inf]))
    exp = draw(st.sampled_from([0.0, 4.0, 8.0, 15.0, math.inf]))
    if math.isinf(imp) and math.isinf(exp):
        exp = 6.0
    members = None if n == 1 else draw(st.sampled_from([None, [f"f{i}" for i in range(n - 1)]]))
    return fleets, PriceSignal(prices), [(members, imp, exp)]


@pytest.mark.filterwarnings("ignore:fleet .* initial_soc")  # random initial states outside the first bounds
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_random_small_instances_against_the_exact_milp(instance):
    fleets, prices, site = instance
    agg = shared(fleets, prices, site, slack_penalty=100.0)
    exact = agg.solve("highs", mip_gap=0.0)
    result = agg.solve("decomposition", mip_gap=1e-9)
    assert result.status in ("optimal", "time_limit")
    scale = max(1.0, abs(exact.objective))
    assert result.bound >= exact.objective - 1e-7 * scale
    assert result.objective <= exact.objective + 1e-7 * scale
    if result.status == "optimal":
        assert result.objective == pytest.approx(exact.objective, rel=1e-6, abs=1e-6)
    for coupling in agg.declared_couplings():
        assert coupling_violation(coupling, result.dataset["charge"], result.dataset["discharge"]) <= 1e-6
    assert result.violations()["exclusive"] == 0.0


def test_the_cutting_plane_master_alone_finds_the_multiplier():
    # The hand-solved export limit from nu = 0 without the window LP's duals: the fleets' DP answers
    # sell 20 kW (L(0) = 2.00 $); only the master's steps can bring the bound down to the optimum 1.20 $
    # (nu = -100 $/MWh, where selling is worth nothing and the limit's 12 kW are worth 1.20 $).
    fleets = [fleet(n, pmax=10.0, capacity=10.0, charge_efficiency=1.0, discharge_efficiency=1.0, initial_soc=1.0,
                    availability=[1.0]) for n in ("a", "b")]
    for master in ("box", "proximal"):
        agg = shared(fleets, PriceSignal([100.0]), [(None, math.inf, 12.0)])
        result = agg.solve("decomposition", mip_gap=1e-9, start="zero", chase=0, master=master)
        attrs = result.dataset.attrs
        assert result.status == "optimal", attrs.get("message")
        assert result.bound == pytest.approx(1.2, abs=1e-9) and result.objective == pytest.approx(1.2, abs=1e-9)
        assert attrs["solver_dual_evaluations"] > 1 and attrs["solver_serious_steps"] >= 1


class MisdeclaredConnection(SharedConnection):
    """Declares an import limit of 12 kW but adds rows of ``added`` kW over the fleets ``added_fleets``."""

    added: float = 12.0
    added_fleets: list | None = None

    def extend_model(self, model, inputs):
        Aggregator.extend_model(self, model, inputs)
        [declared] = self.declared_couplings()
        names = self.added_fleets or list(declared.fleets)
        add_coupling_rows(model, PowerCoupling.create(declared.name, names, self.steps, import_kw=self.added,
                                                      export_kw=declared.export_kw), inputs)


@pytest.mark.parametrize(("added", "added_fleets"), [(12.0, None), (13.0, None), (12.0, ["a"])])
def test_a_declaration_that_differs_from_its_rows_is_not_a_coupling(added, added_fleets):
    # Same constraint names, other limits or fleets: the rows are compared, not only their names,
    # so auto solves the model as built (the MILP) instead of the declared coupling.
    fleets = [fleet(n, pmax=10.0, capacity=10.0, charge_efficiency=1.0, discharge_efficiency=1.0, initial_soc=0.0,
                    availability=[1.0, 1.0]) for n in ("a", "b")]
    agg = MisdeclaredConnection(fleets, PriceSignal([10.0, 100.0]))
    agg.site, agg.added, agg.added_fleets = [(None, 12.0, math.inf)], added, added_fleets
    honest = added == 12.0 and added_fleets is None
    assert (agg.couplings() is not None) == honest
    backend, _ = agg.backend("auto")
    assert (backend.name == "decomposition") == honest
    # Buy at 10 $/MWh within the import rows as built, sell everything at 100 $/MWh.
    bought = {(12.0, None): 12.0, (13.0, None): 13.0, (12.0, ("a",)): 20.0}[(added, tuple(added_fleets or ()) or None)]
    result = agg.solve(mip_gap=0.0)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(bought * 0.09, abs=1e-9)


def test_the_allotment_repair_alone_finds_the_shared_optimum():
    # The hand-solved export limit without the window LP: the DP answers sell 10 + 10 kW against a
    # limit of 12 kW; the allotments scale them to 6 + 6 kW and each fleet's DP sells its share,
    # worth the optimum 1.20 $ (the window LP is switched off, so only the allotment can find it).
    fleets = [fleet(n, pmax=10.0, capacity=10.0, charge_efficiency=1.0, discharge_efficiency=1.0, initial_soc=1.0,
                    availability=[1.0]) for n in ("a", "b")]
    agg = shared(fleets, PriceSignal([100.0]), [(None, math.inf, 12.0)])
    result = agg.solve("decomposition", mip_gap=1e-9, window_cells=0, local_repair=False)
    attrs = result.dataset.attrs
    assert result.status == "optimal", attrs.get("message")
    assert result.objective == pytest.approx(1.2, abs=1e-9)
    assert attrs["solver_repairs"] == 0 and attrs["solver_allotment_repairs"] >= 1
    assert result.dataset["discharge"].to_numpy().ravel().tolist() == pytest.approx([6.0, 6.0])


def test_the_local_window_repair_alone_finds_the_shared_optimum():
    # The hand-solved export limit at nu = 0: the DP answers sell 10 + 10 kW against 12 kW. The local
    # repair (violated steps only, LPs of at most 2 cells: one piece per step) re-plans that step at the
    # true price and sells 12 kWh, the optimum 1.20 $; the DP answers elsewhere are kept.
    from aggregator.decomposition import CoupledProblem, dual_value, window_repair
    from aggregator.solvers import SolverOptions

    fleets = [fleet(n, pmax=10.0, capacity=10.0, charge_efficiency=1.0, discharge_efficiency=1.0, initial_soc=1.0,
                    availability=[1.0]) for n in ("a", "b")]
    agg = shared(fleets, PriceSignal([100.0]), [(None, math.inf, 12.0)])
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    options = SolverOptions()
    nu = np.zeros(problem.import_kw.shape)
    answers = dual_value(problem, nu, options).solutions
    assert [s.discharge[0] for s in answers] == [10.0, 10.0]
    fixed, _, cells = window_repair(problem, answers, nu, 3, options, math.inf, violated_only=True, batch_cells=2)
    assert cells == 2 and not fixed.get("partial")
    assert fixed["columns"][1].sum() == pytest.approx(12.0) and _objective_of(problem, fixed["columns"]) == pytest.approx(1.2)
    # In the backend (opt-in, above window_cells): once, from the first answers.
    result = agg.solve("decomposition", mip_gap=1e-9, window_cells=0, local_repair=True, start="zero", chase=0)
    assert result.status == "optimal" and result.objective == pytest.approx(1.2, abs=1e-9)
    assert result.dataset.attrs["solver_local_repairs"] == 1 and result.dataset.attrs["solver_repairs"] == 0


def test_local_window_repair_in_pieces_meets_the_limit_and_stays_below_the_optimum(seed):
    # Two days of the seed year at 6,000 kW from the DP answers at the aggregated LP's multipliers (as
    # the backend does; they break the limit where the fleets are indifferent): cut into LPs of 12 steps
    # (48 cells), the repair's dispatch meets the limit with exclusive flows and is worth no more than
    # the same repair in one LP (each cut fixes a state), which is worth no more than the MILP optimum.
    from aggregator.decomposition import CoupledLP, CoupledProblem, aggregated_problem, dual_value, window_repair
    from aggregator.solvers import SolverOptions

    kw = 6000.0
    agg = seed_window(seed, 2160, 48, kw)
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    options = SolverOptions()
    nu = problem.clip_multipliers(CoupledLP(aggregated_problem(problem), options).solve()["nu"])
    answers = dual_value(problem, nu, options).solutions
    exact = agg.solve("highs", mip_gap=0.0).objective
    whole, _, cells = window_repair(problem, answers, nu, 3, options, math.inf, violated_only=True)
    pieces, _, cut = window_repair(problem, answers, nu, 3, options, math.inf, violated_only=True, batch_cells=48)
    assert cut == cells > 0
    worth = {}
    for name, dispatch in (("whole", whole), ("pieces", pieces)):
        columns = dispatch["columns"]
        net = problem.net_import(columns[0], columns[1])
        assert net.max() <= kw * (1 + 1e-9) and -net.min() <= kw * (1 + 1e-9)
        assert not ((columns[0] > 1e-7) & (columns[1] > 1e-7)).any()
        worth[name] = _objective_of(problem, columns)
    assert worth["pieces"] <= worth["whole"] + 1e-6 * abs(worth["whole"]) and worth["whole"] <= exact + 1e-6 * abs(exact)
    assert worth["pieces"] > 0.8 * exact  # measured 0.86: the cuts cost some value, not most of it


@pytest.mark.parametrize("kw", [6000.0, 20000.0])
def test_allotment_repair_meets_the_limit_and_never_loses_against_its_reference(seed, kw):
    # Two days of the seed year: from the coupled LP's dispatch (meets the limit, but burns energy at
    # negative prices) and from the uncoupled DP answers (break it), the allotment repair's dispatch
    # meets the limit and the DP's own rows; repaired again from its own (feasible, exclusive) answer,
    # it is worth at least as much.
    from aggregator.decomposition import CoupledLP, CoupledProblem, _columns, allotment_repair, dual_value
    from aggregator.solvers import SolverOptions

    agg = seed_window(seed, 2160, 48, kw)
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    options = SolverOptions()
    uncoupled = _columns(dual_value(problem, np.zeros(problem.import_kw.shape), options).solutions)
    relaxed = CoupledLP(problem, options).solve()["columns"]
    exact = agg.solve("highs", mip_gap=0.0).objective
    for reference in (uncoupled, relaxed):
        first = allotment_repair(problem, reference[0], reference[1], options)["columns"]
        second = allotment_repair(problem, first[0], first[1], options)["columns"]
        for columns in (first, second):
            net = problem.net_import(columns[0], columns[1])
            assert net.max() <= kw * (1 + 1e-12) and -net.min() <= kw * (1 + 1e-12)
            assert not ((columns[0] > 0) & (columns[1] > 0)).any()
        worth = [_objective_of(problem, c) for c in (first, second)]
        assert worth[1] >= worth[0] - 1e-9 * abs(worth[0])
        assert worth[1] <= exact + 1e-6 * abs(exact)


def _objective_of(problem, columns):
    p = problem.problems[0]
    revenue = (p["price"][None, :] / 1000.0 * (columns[1] - columns[0]) * p["dt"]).sum()
    return float(revenue - p["penalty"] * (columns[3] + columns[4]).sum())


@pytest.mark.parametrize(("price", "lo", "hi", "sold"), [(100.0, -6.0, -4.0, 6.0), (-100.0, -6.0, -4.0, 4.0),
                                                         (-100.0, -6.0, 3.0, 0.0), (100.0, -10.0, 10.0, 10.0)])
def test_a_fleet_within_its_interval_hand_solved(price, lo, hi, sold):
    # One lossless 10 kWh fleet, full, one step: within [lo, hi] kW of net import it sells as much as the
    # price rewards, at least -hi when the interval forces a discharge; a full fleet cannot charge.
    from aggregator.decomposition import solve_within

    problem = dict(price=np.array([price]), dt=1.0, pmax=np.array([10.0]), smin=np.array([0.0]), smax=np.array([10.0]),
                   s_init=10.0, eta_in=1.0, eta_out=1.0, penalty=1000.0, exclusive=True)
    charge, discharge, soc, up, down = solve_within({"problem": problem, "lo": np.array([lo]), "hi": np.array([hi])})
    assert discharge[0] == pytest.approx(sold) and charge[0] == 0.0
    assert soc[0] == pytest.approx(10.0 - sold) and up[0] == down[0] == 0.0


def test_full_intervals_are_the_price_taker(seed):
    # With the whole power range as interval, the interval modes are the price taker's: same DP answer.
    from aggregator.decomposition import CoupledProblem, solve_within
    from aggregator.exact_dp import solve_fleet

    agg = seed_window(seed, 2160, 168, 12000.0)
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings()).problems[0]
    columns = solve_within({"problem": problem, "lo": -problem["pmax"], "hi": problem["pmax"]})
    reference = solve_fleet(**problem)
    for got, name in zip(columns, ("charge", "discharge", "soc", "slack_up", "slack_down")):
        np.testing.assert_allclose(got, getattr(reference, name), rtol=0, atol=1e-9)


def test_block_repair_replans_only_the_fleets_that_break_the_limit():
    # Three lossless 10 kWh fleets behind an import limit of 12 kW; a and b start empty, c full; prices
    # 10, 100, 50, 50, 10, 100 $/MWh. At nu = 0 the DP answers buy 10 kW each at the 10 $ steps (0 and 4)
    # and sell everything at the 100 $ steps: 20 and 30 kW at steps 0 and 4 break the limit. With one
    # step of margin the blocks are steps 0-1 (a and b import at step 0; c, idle there, keeps its answer)
    # and steps 3-5 (all three import at step 4), each an LP from and to the DP's states:
    # block 1 buys 12 kWh at 10 $ and sells them at 100 $ (1.08 $), c sells its 10 kWh (1.00 $); block 2
    # buys 12 kWh at 50 $ (step 3) and 12 kWh at 10 $ (step 4), sells 24 kWh at 100 $ (1.68 $): 3.76 $.
    from aggregator.decomposition import CoupledProblem, block_repair, dual_value
    from aggregator.solvers import SolverOptions

    fleets = [fleet(n, pmax=10.0, capacity=10.0, charge_efficiency=1.0, discharge_efficiency=1.0,
                    initial_soc=1.0 if n == "c" else 0.0, availability=[1.0] * 6) for n in ("a", "b", "c")]
    agg = shared(fleets, PriceSignal([10.0, 100.0, 50.0, 50.0, 10.0, 100.0]), [(None, 12.0, math.inf)])
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    options = SolverOptions()
    answers = dual_value(problem, np.zeros(problem.import_kw.shape), options).solutions
    assert [s.charge[0] for s in answers] == [10.0, 10.0, 0.0] and [s.charge[4] for s in answers] == [10.0] * 3
    exact = agg.solve("highs", mip_gap=0.0).objective
    for free_only, workers, expected_cells in ((True, 1, 2 * 2 + 3 * 3), (False, 1, 3 * 2 + 3 * 3), (True, 2, 13)):
        fixed, cells = block_repair(problem, answers, 1, options, math.inf, 20_000, workers, free_only)
        columns = fixed["columns"]
        assert cells == expected_cells and not fixed.get("partial")
        assert problem.net_import(columns[0], columns[1]).max() <= 12.0 + 1e-9
        assert _objective_of(problem, columns) == pytest.approx(3.76, abs=1e-9)
        assert _objective_of(problem, columns) <= exact + 1e-9
        if free_only:  # c's answer in the first block is kept: idle, then it sells its 10 kWh
            assert columns[1][2, :2].tolist() == pytest.approx([0.0, 10.0]) and columns[0][2, :2].tolist() == [0.0, 0.0]


@pytest.mark.filterwarnings("ignore:fleet .* initial_soc")  # random initial states outside the first bounds
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(), st.integers(0, 3), st.booleans())
def test_random_small_instances_with_the_block_repair_against_the_exact_milp(instance, margin, free_only):
    # The path for many fleets (window LP skipped, the block repair first) on small instances: the bound
    # is never below the MILP optimum, the dispatch never above it, and every dispatch meets the rows.
    from aggregator.decomposition import CoupledProblem, block_repair, dual_value
    from aggregator.solvers import SolverOptions

    fleets, prices, site = instance
    agg = shared(fleets, prices, site, slack_penalty=100.0)
    exact = agg.solve("highs", mip_gap=0.0)
    scale = max(1.0, abs(exact.objective))
    problem = CoupledProblem.from_inputs(agg.inputs, agg.couplings())
    answers = dual_value(problem, np.zeros(problem.import_kw.shape), SolverOptions()).solutions
    fixed, _ = block_repair(problem, answers, margin, SolverOptions(), math.inf, 6, 1, free_only)
    if not fixed.get("partial"):
        columns = fixed["columns"]
        net = problem.net_import(columns[0], columns[1])
        assert (net <= problem.import_kw + 1e-6).all() and (-net <= problem.export_kw + 1e-6).all()
        assert not ((columns[0] > 1e-7) & (columns[1] > 1e-7)).any()
        assert _objective_of(problem, columns) <= exact.objective + 1e-7 * scale
    result = agg.solve("decomposition", mip_gap=1e-9, window_cells=0, local_window=margin, local_cells=6)
    assert result.bound >= exact.objective - 1e-7 * scale
    assert result.objective <= exact.objective + 1e-7 * scale
    for coupling in agg.declared_couplings():
        assert coupling_violation(coupling, result.dataset["charge"], result.dataset["discharge"]) <= 1e-6
    assert result.violations()["exclusive"] == 0.0
