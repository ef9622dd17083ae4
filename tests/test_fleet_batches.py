"""Many fleets as batches of arrays for the DP kernel: the same optimum, checked once, light workers (issue 14)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from aggregator import Aggregator, PriceSignal
from aggregator.fleet_batches import SOLUTION_ARRAYS, BatchAssembly, solve_fleet_batch
from aggregator.fleet_tasks import TaskPlan, assemble_result, fleet_batches, solve_fleets

from conftest import make_fleet

pytestmark = pytest.mark.filterwarnings("ignore::aggregator.errors.InputWarning")

PRICES = [30.0, 80.0, 20.0, 90.0]


def _two_fleets() -> Aggregator:
    # Fleet a (10 kWh, 10 kW, lossless, always there): buy 10 kWh at 30 and sell at 80, buy at 20 and
    # sell at 90: -0.3 + 0.8 - 0.2 + 0.9 = 1.2 $.
    # Fleet b is half there in step 2 (5 kWh, 5 kW): buying x at 30, selling y <= min(5, x) at 80, filling
    # up at 20 and selling 10 at 90 earns 0.7 - 0.01 x + 0.06 y, best at x = y = 5: 0.95 $.  Total 2.15 $.
    fleets = [make_fleet("a", availability=(1.0,) * 4), make_fleet("b", availability=(1.0, 0.5, 1.0, 1.0))]
    return Aggregator(fleets, PriceSignal(PRICES), solver="dp")


def _solved_batches(aggregator: Aggregator) -> tuple[TaskPlan, list]:
    inputs = aggregator.inputs
    batches = fleet_batches(inputs, workers=1, most=1)
    plan = TaskPlan("batches", choice="dp", assembly=BatchAssembly(inputs.sizes["time"], inputs.sizes["fleet"]),
                    fleets=[(b.start, b.start + b.size) for b in batches])
    return plan, [solve_fleet_batch(b) for b in batches]


def test_batches_on_threads_give_the_hand_derived_optimum_and_the_in_process_dispatch():
    whole = _two_fleets()
    gathered = solve_fleets(whole, workers=2)
    direct = whole.solve()
    assert gathered.status == "optimal" and gathered.objective == pytest.approx(2.15, abs=1e-12)
    assert gathered.profit == pytest.approx(2.15, abs=1e-12) and gathered.bound >= gathered.objective
    assert "2 independent fleet tasks" in gathered.dataset.attrs["solver_choice"]
    for name in ("charge", "discharge", "soc", "slack_up", "slack_down"):
        np.testing.assert_array_equal(gathered.dataset[name].to_numpy(), direct.dataset[name].to_numpy())
    assert gathered.dataset.attrs["inputs_hash"] == direct.dataset.attrs["inputs_hash"]
    assert gathered.fleet_profit.round(9).to_dict() == {"a": 1.2, "b": 0.95}


def test_a_batch_on_a_thread_writes_its_fleets_straight_into_the_whole_problems_arrays():
    whole = _two_fleets()
    inputs = whole.inputs
    batches = fleet_batches(inputs, workers=1, most=1)
    copied, shared = BatchAssembly(inputs.sizes["time"], 2), BatchAssembly(inputs.sizes["time"], 2)
    for batch in batches:
        copied.add(solve_fleet_batch(batch))
        written = solve_fleet_batch(batch, into=shared)
        assert all(getattr(written, name) is None for name in SOLUTION_ARRAYS)  # nothing to copy back
        shared.add(written)
    assert shared.complete() and shared.totals() == copied.totals()
    for name in SOLUTION_ARRAYS:
        np.testing.assert_array_equal(shared.arrays[name], copied.arrays[name])
    assert shared.arrays["discharge"][:, 0].tolist() == [0.0, 10.0, 0.0, 10.0]  # fleet a sells twice (above)


def test_a_batch_that_claims_more_than_its_dispatch_is_worth_is_not_certified():
    whole = _two_fleets()
    plan, solutions = _solved_batches(whole)
    solutions[1].objective[0] += 100.0  # a corrupted or lying worker
    result = assemble_result(whole, [plan.receive(s) for s in solutions], 0.0, plan)
    assert result.status == "feasible"
    assert result.objective == pytest.approx(2.15, abs=1e-12)  # recomputed from the dispatch
    assert "the 2 fleet tasks claimed objective" in result.dataset.attrs["message"]


def test_a_batch_whose_dispatch_breaks_a_bound_is_not_trusted():
    whole = _two_fleets()
    plan, solutions = _solved_batches(whole)
    solutions[1].discharge[1, 0] += 3.0  # fleet b sells 8 kW where 5 kW are available
    result = assemble_result(whole, [plan.receive(s) for s in solutions], 0.0, plan)
    assert result.status == "error" and "violates the" in result.dataset.attrs["message"]


def test_a_failed_batch_names_its_fleets():
    whole = _two_fleets()
    plan, solutions = _solved_batches(whole)
    results = [plan.receive(solutions[0]), plan.receive(RuntimeError("worker lost"))]
    result = assemble_result(whole, results, 0.0, plan)
    assert result.status == "error" and not result.has_solution
    assert "fleets 'b' to 'b': RuntimeError: worker lost" in result.dataset.attrs["message"]


def test_a_dask_worker_solving_batches_imports_neither_xarray_nor_linopy():
    distributed = pytest.importorskip("distributed", reason="Dask workers need dask.distributed")
    whole = _two_fleets()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        gathered = solve_fleets(whole, client=client)
        loaded = client.run(lambda: sorted(m for m in ("xarray", "linopy", "pandas") if m in sys.modules))
    assert gathered.status == "optimal" and gathered.objective == pytest.approx(2.15, abs=1e-12)
    assert list(loaded.values()) == [[]], loaded


def test_energy_fleets_keep_driving_needs_and_wear_in_batches():
    # Beside fleet a (1.2 $, above), an "energy" fleet that drives 4 kWh away in step 2, needs 5 kWh at the
    # end of step 3 and pays 0.01 $/kWh of wear: buy 10 kWh at 30 (0.3 $), sell 6 at 80 (0.48 $, wear
    # 0.06 $: 6 + 4 driven = 10 kWh out), buy 10 at 20 (0.2 $), sell 10 at 90 (0.9 $, wear 0.1 $); the
    # need of 5 kWh after step 3 is met (10 kWh).  0.88 - 0.16 = 0.72 $ beside 1.2 $: 1.92 $ in total.
    from aggregator import Fleet

    energy = Fleet("e", vehicles=1, battery_kwh=10, charger_kw=10, charge_efficiency=1.0, discharge_efficiency=1.0,
                   contract_limit=1.0, initial_soc=0.0, availability=[1.0] * 4, representation="energy",
                   driving_kwh=[0.0, 4.0, 0.0, 0.0], min_soc=[0.0, 0.0, 0.5, 0.0], wear_cost=0.01)
    whole = Aggregator([make_fleet("a", availability=(1.0,) * 4), energy], PriceSignal(PRICES), solver="dp")
    gathered = solve_fleets(whole, workers=2)
    direct = whole.solve()
    assert "2 independent fleet tasks" in gathered.dataset.attrs["solver_choice"]
    assert gathered.status == "optimal" and direct.status == "optimal"
    assert gathered.objective == pytest.approx(1.92, abs=1e-12) and gathered.wear == pytest.approx(0.16, abs=1e-12)
    assert gathered.objective == direct.objective and gathered.wear == direct.wear
    assert gathered.shortfall_cost == direct.shortfall_cost == 0.0
    for name in ("charge", "discharge", "soc"):
        np.testing.assert_array_equal(gathered.dataset[name].to_numpy(), direct.dataset[name].to_numpy())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_during_a_threaded_many_fleet_run_is_one_line_and_quick(tmp_path):
    # 600 fleet-years on 2 threads: several seconds of kernel work, so the signal lands mid-run.
    import signal
    import subprocess
    import time

    psutil = pytest.importorskip("psutil", reason="process checks use psutil")
    fleets = "".join(
        f'[[fleets]]\nname = "f{i}"\nvehicles = 100\nbattery_kwh = 40\ncharger_kw = 7\ninitial_soc = 0.1\n'
        f'availability = {{ model = "synthetic", pattern = "{"residential" if i % 2 else "commercial"}", seed = {i} }}\n'
        for i in range(600)
    )
    scenario = tmp_path / "many.toml"
    scenario.write_text('[prices]\nsource = "synthetic"\nseed = 3\n[horizon]\nhours = 8760\n[solver]\nname = "dp"\n' + fleets)
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "-q", "run", str(scenario), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        watched = psutil.Process(proc.pid)
        deadline = time.monotonic() + 300
        # past the imports and the scenario (a few CPU seconds), into the kernel's 10-20 CPU seconds
        while sum(watched.cpu_times()[:2]) < 6.0 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert not watched.children(), "the threaded run started worker processes"
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(timeout=60)
        assert time.monotonic() - sent < 30  # the batches in progress end, no further batch starts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    lines = proc.stderr.read().decode().strip().splitlines()
    assert lines[-1] == "aggregator: terminated (SIGTERM)", lines
