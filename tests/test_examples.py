"""Every script in examples/ runs, on a short horizon, as a user would run it.

``AGGREGATOR_EXAMPLE_HOURS`` shortens each example's horizon (run by hand, they
use their full length); each runs in a fresh folder so that its output files
land there.  Examples that need the original study's data skip without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SEED

EXAMPLES = sorted((REPO / "examples").glob("*.py"))
NEEDS_SEED = {"reproduce_seed_study.py"}
HOURS = {"reproduce_seed_study.py": "168"}


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"quickstart.py", "custom_price_source.py", "grid_limit_extension.py", "reproduce_seed_study.py"} <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path):
    pytest.importorskip("matplotlib", reason="the examples draw figures; pip install '.[plot]'")
    if script.name in NEEDS_SEED and not (SEED / "CA_Weighted_Price_Case0.csv").exists():
        pytest.skip(f"seed data not found at {SEED} (it lives beside the repository in ../shared/data/seed)")
    env = dict(os.environ, AGGREGATOR_EXAMPLE_HOURS=HOURS.get(script.name, "48"), AGGREGATOR_EXAMPLE_WORKERS="0",
               MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, f"{script.name} failed:\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr
    assert "optimal" in p.stdout or "solved" in p.stdout, p.stdout
    pictures = list(tmp_path.rglob("*.png"))
    if script.name in ("quickstart.py", "reproduce_seed_study.py"):
        assert pictures and all(p.stat().st_size > 10_000 for p in pictures), pictures
