"""Many vehicles: block-built profiles equal the per-vehicle ones, and a fleet's chunks on Dask give the local answer.

The Dask tests start a real local cluster of worker processes; the fault test
SIGKILLs one of them while the vehicle tasks run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections import deque

import numpy as np
import pytest

from aggregator import Aggregator, Fleet, PriceSignal
from aggregator.vehicles import VehicleSchedule, schedule_from_availability, trip_profile_block, trip_profiles


def _random_schedule(rng: np.random.Generator, overlapping: bool) -> VehicleSchedule:
    count, steps, trips = int(rng.integers(1, 30)), int(rng.integers(1, 50)), int(rng.integers(0, 80))
    vehicle = rng.integers(0, count, trips)
    if overlapping:  # trips that share steps, start together, lie outside the horizon or are empty
        first = rng.integers(-5, steps + 5, trips)
        last = first + rng.integers(-1, 6, trips)
    else:
        first = rng.permutation(np.arange(trips) * 3 - 5)
        last = first + 1
    return VehicleSchedule(tuple(map(str, range(count))), steps, vehicle, first, last, rng.random(trips) * 10)


def _one_by_one(schedule: VehicleSchedule) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The reference: :func:`trip_profiles` of each vehicle's trips, in their order."""
    out = []
    for v in range(schedule.count):
        mine = np.flatnonzero(schedule.vehicle == v)
        out.append(trip_profiles(schedule.first[mine], schedule.last[mine], schedule.energy[mine], schedule.steps))
    return out


@pytest.mark.parametrize("overlapping", [False, True])
def test_block_profiles_and_totals_equal_the_vehicle_by_vehicle_ones(overlapping):
    rng = np.random.default_rng(7 + overlapping)
    for _ in range(150):
        schedule = _random_schedule(rng, overlapping)
        reference = _one_by_one(schedule)
        for (v, *got), want in zip(schedule.iter_vehicles(), reference, strict=True):
            assert all(np.array_equal(a, b) for a, b in zip(got, want)), v
        total = [np.zeros(schedule.steps) for _ in range(3)]
        for profiles in reference:  # vehicle after vehicle, as the totals were summed before
            for t, p in zip(total, profiles):
                t += p
        assert all(np.array_equal(a, b) for a, b in zip(schedule.totals(), total))
        order = np.argsort(schedule.vehicle, kind="stable")
        block = trip_profile_block(schedule.vehicle[order], schedule.first[order], schedule.last[order],
                                   schedule.energy[order], schedule.count, schedule.steps)
        for v, want in enumerate(reference):
            assert all(np.array_equal(b[v], w) for b, w in zip(block, want))


def _fifo_reference(availability: np.ndarray, vehicles: int) -> tuple[list[int], list[int], list[int]]:
    """The rule of schedule_from_availability with two queues, step by step (its former implementation)."""
    target = np.rint(availability * vehicles).astype(int)
    home = deque(range(target[0]))
    away = deque((v, -1) for v in range(target[0], vehicles))
    veh, first, last = [], [], []
    for t in range(1, target.size):
        while len(home) > target[t]:
            away.append((home.popleft(), t))
        while len(home) < target[t]:
            v, start = away.popleft()
            veh.append(v), first.append(start), last.append(t - 1)
            home.append(v)
    for v, start in away:
        veh.append(v), first.append(start), last.append(target.size)
    return veh, first, last


def test_schedule_from_availability_follows_the_two_queues():
    rng = np.random.default_rng(11)
    for _ in range(300):
        vehicles = int(rng.integers(1, 12))
        availability = rng.integers(0, vehicles + 1, int(rng.integers(1, 40))) / vehicles
        s = schedule_from_availability(availability, vehicles, step_hours=1.0, trip_kwh=2.0)
        veh, first, last = _fifo_reference(availability, vehicles)
        assert s.vehicle.tolist() == veh and s.first.tolist() == first and s.last.tolist() == last


# ---------------------------------------------------------------- on Dask
def _problem(vehicles: int, hours: int) -> Aggregator:
    """A "vehicles" fleet from a synthetic profile (6 kWh trips, half a battery needed) beside a "study" fleet."""
    import pandas as pd

    from aggregator.synthetic import synthetic_availability, synthetic_prices

    index = pd.date_range("2024-01-01", periods=hours, freq="h")
    prices = synthetic_prices(index, seed=5)
    profile = synthetic_availability(index, pattern="residential", seed=2)
    trips = schedule_from_availability(profile, vehicles, step_hours=1.0, trip_kwh=6.0, max_trip_kwh=24.0)
    base = dict(battery_kwh=30, charger_kw=7.2, charge_efficiency=0.85, discharge_efficiency=0.78,
                contract_limit=0.8, initial_soc=1.0)
    cars = Fleet("cars", vehicles=vehicles, representation="vehicles", trips=trips, min_soc=0.5, **base)
    depot = Fleet("depot", vehicles=7, availability=profile, **base)
    return Aggregator([cars, depot], PriceSignal(prices), solver="dp")


def _assert_same(local, distributed_result) -> None:
    assert distributed_result.status == local.status == "optimal"
    assert distributed_result.objective == local.objective and distributed_result.bound == local.bound
    assert set(local.dataset.data_vars) == set(distributed_result.dataset.data_vars)
    for name in local.dataset.data_vars:
        assert local.dataset[name].equals(distributed_result.dataset[name]), name


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed", reason="vehicle tasks on Dask need dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as local, distributed.Client(local) as client:
        yield client


def test_vehicle_chunks_on_a_local_cluster_give_the_local_answer_exactly(cluster):
    """200 vehicles x 1 week: 8 chunks of 25 vehicles and the study fleet, as 9 tasks on two worker processes."""
    from aggregator.sweep import solve_fleets

    problem = _problem(200, 168)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the synthetic needs may be out of reach: the same warning both ways
        local = problem.solve()
        on_dask = solve_fleets(problem, client=cluster)
    assert on_dask.dataset.attrs["solver_choice"] == "dp on 9 vehicle tasks"
    assert on_dask.dataset.attrs["solver_vehicle_tasks"] == 9
    assert "vehicle_soc" in on_dask.dataset and on_dask.dataset.sizes["vehicle"] == 200  # kept per vehicle
    _assert_same(local, on_dask)
    assert float(on_dask.dataset["aggregation_error"].sel(fleet="cars")) == float(local.dataset["aggregation_error"].sel(fleet="cars"))


def test_a_worker_killed_during_the_vehicle_tasks_does_not_stop_the_run(cluster):
    """One of the two worker processes is SIGKILLed once the first chunk is done; its chunks run again."""
    from aggregator.sweep import solve_fleets

    problem = _problem(400, 8760)  # 16 chunks of a year each: seconds of work on two workers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = problem.solve(threads=1)
    pids = list(cluster.run(os.getpid).values())
    killed: list[float] = []

    def done_tasks(dask_scheduler=None) -> int:
        return sum(ts.state == "memory" and "-v" in str(ts.key) for ts in dask_scheduler.tasks.values())

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and cluster.run_on_scheduler(done_tasks) < 1:
            time.sleep(0.02)
        os.kill(pids[0], signal.SIGKILL)  # mid-run: its running chunk and the results it holds are lost
        killed.append(time.monotonic())

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_dask = solve_fleets(problem, client=cluster)
    finished = time.monotonic()
    killer.join(timeout=10)
    assert killed and killed[0] < finished, "the worker was not killed during the run"
    _assert_same(local, on_dask)


VEHICLE_SCENARIO = """\
[prices]
source = "synthetic"
seed = 5
[horizon]
hours = 168
[[fleets]]
name = "cars"
vehicles = 120
battery_kwh = 30
charger_kw = 7.2
contract_limit = 0.8
initial_soc = 1.0
representation = "vehicles"
min_soc = 0.5
availability = { model = "synthetic", pattern = "residential", seed = 2 }
trips = { model = "from_availability", trip_kwh = 6 }
"""


def test_the_command_on_a_running_scheduler_writes_the_local_per_vehicle_table(cluster, tmp_path):
    """``aggregator run --scheduler ADDRESS --out r.parquet``: the per-vehicle table equals the local run's."""
    import pandas as pd

    from conftest import run_cli

    path = tmp_path / "cars.toml"
    path.write_text(VEHICLE_SCENARIO)
    local = run_cli("-q", "run", str(path), "--out", str(tmp_path / "local.parquet"))
    on_dask = run_cli("-q", "run", str(path), "--scheduler", cluster.scheduler.address, "--json",
                      "--out", str(tmp_path / "dask.parquet"))
    assert local.returncode == 0 and on_dask.returncode == 0, local.stderr + on_dask.stderr
    from aggregator import Result

    assert Result.from_parquet(tmp_path / "dask.parquet").dataset.attrs["solver_choice"] == "dp on 5 vehicle tasks"
    for suffix in ("parquet", "vehicles.parquet"):
        a, b = pd.read_parquet(tmp_path / f"local.{suffix}"), pd.read_parquet(tmp_path / f"dask.{suffix}")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(pd.read_parquet(tmp_path / "dask.vehicles.parquet")) == 120 * 168
