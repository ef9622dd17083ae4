"""Faults with real processes and real signals: killed runs, lost workers, interrupts, full or read-only disks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil", reason="process checks use psutil (pip install -e '.[test]')")

#: Four fleets over a year: the dp backend solves them in a pool of worker processes for several seconds.
MANY_FLEETS = """\
[prices]
source = "synthetic"
seed = 3
[horizon]
hours = 8760
[solver]
name = "dp"
""" + "".join(
    f"""
[[fleets]]
name = "f{i}"
vehicles = 100
battery_kwh = 40
charger_kw = 7
initial_soc = 0.1
availability = {{ model = "synthetic", pattern = "{pattern}", seed = {i} }}
"""
    for i, pattern in enumerate(["residential", "commercial", "residential", "commercial"])
)


def _wait_for_children(proc: subprocess.Popen, timeout: float = 120) -> list:
    """The child processes of ``proc`` once it has some (the dp pool's workers)."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its pool started: " + proc.stderr.read().decode()
        children = parent.children(recursive=True)
        if children:
            time.sleep(0.3)  # let the pool start all of its workers
            return parent.children(recursive=True)
        time.sleep(0.02)
    raise AssertionError("no pool worker appeared")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_dp_pool_workers_die_with_a_killed_run(tmp_path, sig):
    scenario = tmp_path / "many.toml"
    scenario.write_text(MANY_FLEETS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run", str(scenario)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    children = []
    try:
        children = _wait_for_children(proc)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"{len(alive)} of {len(children)} pool workers outlived the run killed with {sig.name}"
    finally:
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        stderr = proc.stderr.read().decode()
        assert stderr.strip().splitlines() == ["aggregator: terminated (SIGTERM)"], stderr
