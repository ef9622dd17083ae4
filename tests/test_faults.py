"""Faults with real processes and real signals: killed runs, lost workers, interrupts, full or read-only disks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

psutil = pytest.importorskip("psutil", reason="process checks use psutil (pip install -e '.[test]')")

#: 200 fleets over a year: the dp backend solves them in a pool of worker processes for several seconds
#: (four fleets took several seconds with the pure-Python kernel; the compiled one finishes them before a
#: signal sent once the pool has started arrives, and the run would end with the handler restored).
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
    for i, pattern in enumerate(["residential", "commercial"] * 100)
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
    # Without the kernel worker (tests/test_kernel_worker.py): the first child is then the pool's.
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run", str(scenario)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "AGGREGATOR_KERNEL_WORKER": "0"},
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
        lines = stderr.strip().splitlines()  # input warnings of some fleets (a low first step), then one line
        assert lines[-1] == "aggregator: terminated (SIGTERM)", stderr
        assert all(line.startswith("warning: fleet ") for line in lines[:-1]), stderr


# ------------------------------------------------------------- full or read-only disk
def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a small tmpfs needs mount(8) as root (Linux); not available to this user")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KiB tmpfs (a file system that fills up, and can be remounted read-only)."""
    folder = tmp_path / "disk"
    _mount_tmpfs(folder, "256k")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("aggregator: error")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize("suffix", [".nc", ".csv", ".parquet"])
def test_full_disk_is_one_line_and_keeps_the_previous_file(small_disk, suffix):
    target = small_disk / f"result{suffix}"
    target.write_bytes(b"the previous result")
    _fill(small_disk)
    p = run_cli("run", "--hours", "48", "--out", str(target))
    assert p.returncode == 2, p.stderr
    line = _one_error_line(p.stderr)
    assert str(target) in line and "no space left on the device" in line and "previous file is unchanged" in line, line
    assert target.read_bytes() == b"the previous result"
    assert not list(small_disk.glob(".*.part"))


def _small_sweep(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        '[prices]\nsource = "synthetic"\nseed = 1\n[horizon]\nhours = 24\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\navailability = 0.8\n'
    )
    path = folder / "sweep.toml"
    path.write_text('base = "base.toml"\n[axes]\n"fleets.a.vehicles" = [10, 20]\n')
    return path


def test_read_only_sweep_folder_with_results_is_one_line(small_disk, tmp_path):
    path = _small_sweep(tmp_path / "s")
    out = small_disk / "out"
    assert run_cli("sweep", str(path), "--out", str(out), "--workers", "0").returncode == 0
    before = {f: f.read_bytes() for f in out.rglob("*") if f.is_file()}
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    p = run_cli("sweep", str(path), "--out", str(out), "--workers", "0")
    assert p.returncode == 2, p.stderr
    line = _one_error_line(p.stderr)
    assert str(out) in line and "read-only file system" in line and "unchanged" in line, line
    assert {f: f.read_bytes() for f in out.rglob("*") if f.is_file()} == before


def test_sweep_on_a_full_disk_is_one_line(small_disk, tmp_path):
    path = _small_sweep(tmp_path / "s")
    out = small_disk / "out"
    (out / "results").mkdir(parents=True)
    (out / ".sweep.lock").write_text("")
    _fill(small_disk)
    p = run_cli("sweep", str(path), "--out", str(out), "--workers", "0")
    assert p.returncode == 2, p.stderr
    line = _one_error_line(p.stderr)
    assert "no space left on the device" in line and str(out) in line, line
    assert not list(out.rglob(".*.part"))


# -------------------------------------------------------------------- small holes
def test_out_empty_is_an_input_error(tmp_path):
    for args in (["run", "--hours", "24", "--out", ""], ["sweep", str(_small_sweep(tmp_path / "s")), "--out", "", "--workers", "0"]):
        p = run_cli(*args, cwd=tmp_path)
        assert p.returncode == 2, (args, p.stderr)
        assert "--out '': empty" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "summary.csv").exists()


def test_control_characters_in_fleet_names_are_refused():
    from aggregator import Fleet, InputError

    for name in ("a\x00b", "a\x00c", "tab\there", "bell\x07"):
        with pytest.raises(InputError, match="control character"):
            Fleet(name, vehicles=1, battery_kwh=10, charger_kw=5, availability=[1.0])
    Fleet("Dépôt Nord – 2", vehicles=1, battery_kwh=10, charger_kw=5, availability=[1.0])  # printable unicode is fine


# ------------------------------------------------------------------- interrupts
def _interruptible_sweep(folder: Path, scenarios: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        '[prices]\nsource = "synthetic"\nseed = 1\n[horizon]\nhours = 400\n'
        '[[fleets]]\nname = "a"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\ninitial_soc = 0.5\n'
        'availability = { model = "synthetic", pattern = "commercial", seed = 1 }\n'
    )
    path = folder / "sweep.toml"
    path.write_text(f'base = "base.toml"\n[axes]\n"prices.seed" = {list(range(1, scenarios + 1))}\n')
    return path


def _start_and_wait_for_a_result(command: list[str], out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    deadline = time.monotonic() + 180
    while not list((out / "results").glob("*.nc")):
        assert proc.poll() is None, "the sweep ended before it could be interrupted: " + proc.stderr.read()
        assert time.monotonic() < deadline, "no scenario finished"
        time.sleep(0.02)
    time.sleep(0.5)  # the sweep records it in its summary just after writing it
    return proc


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupted_sweep_is_one_line_with_a_partial_summary_and_resumes(tmp_path, how):
    import pandas as pd

    from aggregator.sweep import sweep

    scenarios = 24  # with the compiled kernel 10 short scenarios could all finish between the first result and the signal
    path = _interruptible_sweep(tmp_path / "s", scenarios)
    out = tmp_path / "out"
    command = [sys.executable, "-X", "faulthandler", "-m", "aggregator", "sweep", str(path), "--out", str(out), "--workers", "2"]
    proc = _start_and_wait_for_a_result(command, out)
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    try:
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: to the CLI and its workers
        else:
            proc.send_signal(signal.SIGTERM)  # what a scheduler or systemd sends: to the CLI
        try:
            _, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # show where it hangs (faulthandler dumps every thread on SIGABRT)
            proc.send_signal(signal.SIGABRT)
            _, stderr = proc.communicate(timeout=30)
            raise AssertionError("the interrupted sweep did not end:\n" + stderr[-8000:]) from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == (130 if how == "ctrl-c" else 143), stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    last = [line for line in stderr.splitlines() if line.startswith("aggregator:")]
    word = "interrupted" if how == "ctrl-c" else "terminated (SIGTERM)"
    assert len(last) == 1 and last[0].startswith(f"aggregator: {word}; ") and "run the same sweep again" in last[0], stderr
    assert stderr.rstrip().splitlines()[-1] == last[0]
    _, alive = psutil.wait_procs(family[1:], timeout=20)
    assert not alive, f"{len(alive)} worker processes outlived the interrupted sweep"
    summary = pd.read_csv(out / "summary.csv")
    done = set(summary.loc[summary["status"] == "optimal", "scenario"])
    assert 0 < len(done) < scenarios, summary.to_string()
    resumed = sweep(path, out, workers=0, progress=False)
    assert resumed.exit_code == 0 and len(resumed.skipped) >= len(done) and len(resumed.summary) == scenarios


# ---------------------------------------------------------------- a lost Dask worker
def test_a_lost_dask_worker_is_retried_and_the_sweep_completes(tmp_path):
    """A real local cluster of two worker processes; one is SIGKILLed while the sweep runs."""
    import threading

    distributed = pytest.importorskip("distributed", reason="sweeps on Dask need dask.distributed")
    from aggregator.sweep import sweep

    folder = tmp_path / "s"
    folder.mkdir()
    fleets = "".join(
        f'[[fleets]]\nname = "f{i}"\nvehicles = 10\nbattery_kwh = 40\ncharger_kw = 7\ninitial_soc = 0.5\n'
        f'availability = {{ model = "synthetic", pattern = "residential", seed = {i} }}\n'
        for i in range(2)
    )
    (folder / "base.toml").write_text('[prices]\nsource = "synthetic"\nseed = 1\n[horizon]\nhours = 400\n' + fleets)
    path = folder / "sweep.toml"
    path.write_text('base = "base.toml"\n[axes]\n"prices.seed" = [1, 2, 3, 4, 5, 6, 7, 8]\n')
    out = tmp_path / "out"
    killed: list[int] = []
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def kill_one_worker() -> None:
            deadline = time.monotonic() + 120
            while not list((out / "results").glob("*.nc")) and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(pids[0], signal.SIGKILL)  # mid-sweep: its tasks and the data it holds are lost
            killed.append(pids[0])

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        report = sweep(path, out, client=client, progress=False)
        killer.join(timeout=10)
    assert killed, "the worker was not killed during the sweep"
    assert len(list((out / "results").glob("*.nc"))) < 8 or report.solved  # it was killed before the end
    assert report.exit_code == 0, report.failed
    assert len(report.solved) == 8 and not report.failed
    assert len(report.summary) == 16 and set(report.summary["status"]) == {"optimal"}
