"""The command line's kernel worker (aggregator.kernel_worker), with real processes and real signals.

``aggregator run`` forks one worker at its start that loads the dp kernel while
the run reads its inputs; the fleets are solved there and this process never
loads numba.  These run the command line in fresh interpreters (the worker is
only started in a fresh process) and check that the answer is the one of a run
without the worker to the last bit, that a worker killed before it answers
costs time but not the answer, and that the worker dies with a killed run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from aggregator import kernel_worker

psutil = pytest.importorskip("psutil", reason="process checks use psutil (pip install -e '.[test]')")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and fork")

REPO = Path(__file__).resolve().parents[1]
SEED_SCENARIO = REPO / "examples" / "scenarios" / "seed_case0_multi.toml"
SEED_PRICES = REPO.parent / "shared" / "data" / "seed" / "CA_Weighted_Price_Case0.csv"
OFF = {kernel_worker.ENVIRONMENT_VARIABLE: "0"}
SOLVED_THERE = "kernel worker: "  # the -vv line of a solve in the worker
DIED = "the kernel worker process ended before it returned the solutions"

#: The child reports, after the run, whether it loaded numba itself.
PROGRAM = (
    "import sys\n"
    "from aggregator.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('NUMBA', 'numba' in sys.modules, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", PROGRAM, "-vv", "run", *args, "--json"]


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=REPO)


def _same_result(a: Path, b: Path) -> None:
    """Two result files hold the same answer and dispatch, bit for bit."""
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        for key in ("status", "objective", "bound", "inputs_hash", "scenario_hash"):
            assert x.attrs[key] == y.attrs[key], key
        for name in x.data_vars:
            assert np.array_equal(x[name].values, y[name].values, equal_nan=True), name


@pytest.mark.parametrize("scenario", ["default", "seed"])
def test_the_worker_solves_and_the_answer_is_that_of_a_run_without_it(tmp_path, scenario):
    if scenario == "seed" and not SEED_PRICES.exists():
        pytest.skip("seed data not found")
    args = [] if scenario == "default" else [str(SEED_SCENARIO)]
    with_worker = _run(*args, "--out", str(tmp_path / "with.nc"))
    without = _run(*args, "--out", str(tmp_path / "without.nc"), env=OFF)
    assert with_worker.returncode == 0 and without.returncode == 0, with_worker.stderr + without.stderr
    assert SOLVED_THERE in with_worker.stderr and "NUMBA False" in with_worker.stderr, with_worker.stderr
    assert SOLVED_THERE not in without.stderr and "NUMBA True" in without.stderr, without.stderr
    first, second = json.loads(with_worker.stdout), json.loads(without.stdout)
    first.pop("solve_seconds"), second.pop("solve_seconds")
    assert first == second
    _same_result(tmp_path / "with.nc", tmp_path / "without.nc")


def _kernel_worker_of(proc: subprocess.Popen, timeout: float = 120) -> psutil.Process:
    """The run's kernel worker, as soon as it exists."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its worker started: " + proc.stderr.read()
        children = parent.children()
        if children:
            return children[0]
        time.sleep(0.005)
    raise AssertionError("no kernel worker appeared")


def _wait_until_dead(process: psutil.Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {process.pid} still alive after SIGKILL")


def test_a_killed_worker_costs_time_not_the_answer(tmp_path):
    reference = _run("--out", str(tmp_path / "reference.nc"), env=OFF)
    assert reference.returncode == 0, reference.stderr
    proc = subprocess.Popen(_command("--out", str(tmp_path / "killed.nc")), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        worker = _kernel_worker_of(proc)
        os.kill(proc.pid, signal.SIGSTOP)  # the run cannot reach its solve while its worker is killed
        worker.kill()
        _wait_until_dead(worker)  # a zombie until the (stopped) run reaps it
        os.kill(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert DIED in stderr and SOLVED_THERE not in stderr, stderr
    assert "NUMBA True" in stderr  # solved in the run's own process instead
    first, second = json.loads(stdout), json.loads(reference.stdout)
    first.pop("solve_seconds"), second.pop("solve_seconds")
    assert first == second
    _same_result(tmp_path / "killed.nc", tmp_path / "reference.nc")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_the_worker_dies_with_a_killed_or_interrupted_run(sig):
    proc = subprocess.Popen([sys.executable, "-m", "aggregator", "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    worker = None
    try:
        worker = _kernel_worker_of(proc)
        time.sleep(0.2)  # its handlers set (die_with_parent): as a signal after the start meets it
        proc.send_signal(sig)
        proc.wait(timeout=60)
        worker.wait(timeout=10)  # raises psutil.TimeoutExpired if it outlives the run
    finally:
        if worker is not None and worker.is_running():
            worker.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    assert "Traceback" not in stderr, stderr
    if sig != signal.SIGKILL:
        assert proc.returncode == 128 + sig
        expected = "aggregator: terminated (SIGTERM)" if sig == signal.SIGTERM else "aggregator: interrupted"
        assert stderr.strip().splitlines()[-1] == expected, stderr


def test_it_is_not_started_where_it_cannot_help(monkeypatch):
    assert not kernel_worker.worthwhile()  # this process imported numpy's company: pandas, xarray (not fresh)
    code = "from aggregator import kernel_worker; print(kernel_worker.worthwhile())"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, **OFF})
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert fresh.stdout.strip() == str(cores >= 2) and off.stdout.strip() == "False"
    assert kernel_worker.current_kernel_worker() is None
    with kernel_worker.kernel_worker(start=False) as worker:
        assert worker is None and kernel_worker.current_kernel_worker() is None
