"""Nothing lost: every file appears whole or not at all, and a failed run never truncates an output.

Interruptions are real where they can be: a process killed with SIGKILL while
netCDF bytes are being written (it stops itself at that point and waits for the
kill), command-line runs killed at several moments, and writes that raise
midway.  The previous output must stay byte for byte, and a completed output
must open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import xarray as xr

from aggregator import Aggregator, PriceSignal, Result
from aggregator.atomic import atomic_path, check_output_folder
from aggregator.errors import InputError

from conftest import REPO, make_fleet, run_cli

pytestmark = pytest.mark.filterwarnings("ignore::aggregator.errors.InputWarning")

PREVIOUS = b"the previous result, which must survive"


@pytest.fixture(scope="module")
def result() -> Result:
    return Aggregator([make_fleet(availability=[1, 1, 1])], PriceSignal([10.0, 100.0, -5.0])).solve("highs")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_write_that_raises_midway_leaves_the_previous_file(tmp_path):
    target = tmp_path / "out.nc"
    target.write_bytes(PREVIOUS)
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == PREVIOUS
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("method, suffix, writer", [
    ("to_netcdf", ".nc", "xarray.Dataset.to_netcdf"),
    ("to_csv", ".csv", "pandas.DataFrame.to_csv"),
])
def test_result_writers_raising_midway(result, tmp_path, monkeypatch, method, suffix, writer):
    module, cls, name = writer.rsplit(".", 2)
    owner = getattr(__import__(module), cls)
    real = getattr(owner, name)

    def half_then_fail(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)  # the whole file, then truncated: as if the disk filled up
        Path(path).write_bytes(Path(path).read_bytes()[:100])
        raise OSError(28, "No space left on device")

    target = tmp_path / f"result{suffix}"
    target.write_bytes(PREVIOUS)
    monkeypatch.setattr(owner, name, half_then_fail)
    with pytest.raises(OSError, match=r"\(no space left on the device\); the previous file is unchanged"):
        getattr(result, method)(target)
    assert target.read_bytes() == PREVIOUS
    assert _leftovers(tmp_path) == []


def test_the_file_is_fsynced_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("new")
    assert events[:2] == ["fsync", "replace"]
    assert (tmp_path / "f.txt").read_text() == "new"


def test_the_mode_of_the_replaced_file_is_kept(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.stat().st_mode & 0o777 == 0o640


_KILLED_WRITER = r"""
import os, sys, time
from pathlib import Path
import xarray as xr
from aggregator import Aggregator, PriceSignal, Fleet

fleet = Fleet("f", vehicles=10, battery_kwh=30, charger_kw=7, availability=[1.0] * 200)
result = Aggregator([fleet], PriceSignal([float(i % 24) for i in range(200)])).solve("highs")
real = xr.Dataset.to_netcdf

def write_then_hang(self, path, *args, **kwargs):
    real(self, path, *args, **kwargs)
    with open(path, "r+b") as f:  # leave it half-written, as at the moment of the kill
        f.truncate(os.path.getsize(path) // 2)
    Path(sys.argv[2]).write_text(str(path))  # tell the parent where we are
    time.sleep(60)

xr.Dataset.to_netcdf = write_then_hang
result.to_netcdf(sys.argv[1])
"""


def test_sigkill_during_to_netcdf_leaves_the_previous_file(tmp_path):
    target = tmp_path / "result.nc"
    target.write_bytes(PREVIOUS)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target), str(ready)], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, "the writer exited before writing"
            assert time.monotonic() < deadline, "the writer never reached to_netcdf"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == PREVIOUS
    partial = Path(ready.read_text())
    assert partial.parent == tmp_path and partial.name.startswith(".result.nc.") and partial.name.endswith(".part")
    assert partial.exists()  # SIGKILL leaves it: nothing could remove it then
    # The next write of the same file removes what the dead process left, and nothing that a live one writes.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket, re
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64]
        busy = tmp_path / f".result.nc.{host}-{live.pid}.abcd1234.part"
        busy.write_bytes(b"being written")
        other = tmp_path / ".other.nc.x.part"
        other.write_bytes(b"not ours")
        result = Aggregator([make_fleet(availability=[1.0] * 4)], PriceSignal([1.0, 5.0, 2.0, 9.0])).solve("highs")
        result.to_netcdf(target)
        assert not partial.exists()
        assert busy.exists() and other.exists()
    finally:
        live.kill()
        live.wait()


def test_cli_killed_at_any_moment_leaves_a_whole_file(tmp_path):
    """Runs killed after various delays: the output is the previous one or a complete new one."""
    first = tmp_path / "first.nc"
    assert run_cli("run", "--hours", "48", "--out", str(first)).returncode == 0
    previous = first.read_bytes()

    def kill_after(delay: float) -> tuple[float, bytes, int]:
        target = tmp_path / f"killed-{delay}.nc"
        target.write_bytes(previous)
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "run", "--hours", "48", "--out", str(target)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
        )
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        return delay, target.read_bytes(), proc.returncode

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(kill_after, [0.5, 2.0, 3.5]))
    for delay, data, code in outcomes:
        if data != previous:  # replaced: it must be a complete result
            path = tmp_path / f"check-{delay}.nc"
            path.write_bytes(data)
            with xr.open_dataset(path) as ds:
                assert ds.attrs["status"] == "optimal" and ds.sizes["time"] == 48
    assert any(code == -signal.SIGKILL for _, _, code in outcomes)  # at least one run was really interrupted


def test_a_failed_run_never_touches_the_output(tmp_path):
    target = tmp_path / "r.nc"
    target.write_bytes(PREVIOUS)
    bad = tmp_path / "s.toml"
    bad.write_text("[prices]\nsource = 'constant'\nprice = 30\n[horizon]\nhours = 2\n[[fleets]]\nname = 'a'\nvehicles = 0\nbattery_kwh = 30\ncharger_kw = 7\navailability = 1.0\n")
    p = run_cli("run", str(bad), "--out", str(target))
    assert p.returncode == 2 and "vehicles = 0" in p.stderr
    assert target.read_bytes() == PREVIOUS
    assert _leftovers(tmp_path) == []


def test_out_folder_must_exist_unless_mkdir(tmp_path):
    with pytest.raises(InputError, match="does not exist.*--mkdir"):
        check_output_folder(tmp_path / "a" / "b" / "r.nc")
    assert not (tmp_path / "a").exists()
    check_output_folder(tmp_path / "a" / "b" / "r.nc", create=True)
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        check_output_folder(tmp_path / "file" / "r.nc", create=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder_is_an_input_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError, match="not writable"):
            check_output_folder(folder / "r.nc")
    finally:
        folder.chmod(0o700)


def test_cli_mkdir_creates_the_folder_and_writes(tmp_path):
    target = tmp_path / "new" / "deeper" / "r.nc"
    p = run_cli("run", "--hours", "24", "--out", str(target), "--mkdir")
    assert p.returncode == 0, p.stderr
    with xr.open_dataset(target) as ds:
        assert ds.sizes["time"] == 24
    assert _leftovers(target.parent) == []
