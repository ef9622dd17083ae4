"""Shared fixtures: the seed data folder (skipped when absent) and small builders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator import Aggregator, Fleet, PriceSignal

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "data" / "seed"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile (or load) the exact DP's kernel once, before any test starts worker processes.

    numba caches the compiled kernel on disk; in a fresh checkout the first call
    compiles it (about 30 s of CPU).  Doing that here, in one process, lets the
    process pools and Dask workers of later tests load the cache instead of each
    compiling it at the same time.
    """
    from aggregator.exact_dp import prepare_kernel

    prepare_kernel()


@pytest.fixture(scope="session")
def seed() -> Path:
    """The study's real input files at ../shared/data/seed (skip when absent)."""
    if not (SEED / "CA_Weighted_Price_Case0.csv").exists():
        pytest.skip(f"seed data not found at {SEED} (it lives beside the repository in ../shared/data/seed)")
    return SEED


def make_fleet(name: str = "f", availability=(1.0,), **kw) -> Fleet:
    """A one-vehicle fleet with round numbers, for hand-solved tests."""
    params = dict(
        vehicles=1,
        battery_kwh=10,
        charger_kw=10,
        charge_efficiency=1.0,
        discharge_efficiency=1.0,
        contract_limit=1.0,
        initial_soc=0.0,
    )
    params.update(kw)
    return Fleet(name, availability=list(availability), **params)


def solve(prices, fleets, solver="highs", **kw):
    """Build and solve a small problem."""
    return Aggregator(fleets, PriceSignal(prices), **kw).solve(solver=solver)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command line in a subprocess, as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=600,
    )
