"""Every script in examples/ runs, on a short horizon, as ``python examples/NAME.py``.

``AGGREGATOR_EXAMPLE_HOURS`` shortens each example's horizon (run by hand, they
use their full length); each runs in a fresh folder so that its output files
land there.  The scripts run in this process (``runpy``, as ``__main__``) to
save the interpreter's start-up time.  Examples that need the original study's
data skip without it.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from conftest import REPO, SEED

EXAMPLES = sorted((REPO / "examples").glob("*.py"))
NEEDS_SEED = {"reproduce_seed_study.py"}
HOURS = {"reproduce_seed_study.py": "72"}


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"quickstart.py", "custom_price_source.py", "grid_limit_extension.py", "reproduce_seed_study.py"} <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the examples draw figures; pip install '.[plot]'")
    if script.name in NEEDS_SEED and not (SEED / "CA_Weighted_Price_Case0.csv").exists():
        pytest.skip(f"seed data not found at {SEED} (it lives beside the repository in ../shared/data/seed)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGGREGATOR_EXAMPLE_HOURS", HOURS.get(script.name, "48"))
    monkeypatch.setenv("AGGREGATOR_EXAMPLE_WORKERS", "0")  # sweeps: no Dask cluster in the tests
    monkeypatch.setattr(sys, "argv", [str(script)])
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        assert exc.code in (None, 0), f"{script.name} exited with {exc.code}"
    out = capsys.readouterr().out
    assert "optimal" in out or "solved" in out, out
    pictures = list(tmp_path.rglob("*.png"))
    if script.name in ("quickstart.py", "reproduce_seed_study.py"):
        assert pictures and all(p.stat().st_size > 10_000 for p in pictures), pictures


def test_readme_python_snippet_runs_pasted_in_the_repository_folder(tmp_path: Path, monkeypatch):
    """The README's "Python API" block, pasted as it is into Python started in a clone's folder.

    The clone is laid out as a user has it (``examples/`` inside it, the seed
    data beside it in ``../shared``) by links, so that the snippet's output
    files land in a temporary folder, not in the repository.
    """
    pytest.importorskip("matplotlib", reason="the README's snippet draws a figure; pip install '.[plot]'")
    import re

    if not (SEED / "CA_Weighted_Price_Case0.csv").exists():
        pytest.skip(f"seed data not found at {SEED} (it lives beside the repository in ../shared/data/seed)")
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    snippet = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "examples").symlink_to(REPO / "examples")
    (tmp_path / "shared").symlink_to(SEED.parents[1])
    monkeypatch.chdir(clone)
    namespace: dict = {}
    exec(compile(snippet, "README.md (Python API)", "exec"), namespace)
    assert namespace["result"].status == "optimal"
    assert (clone / "result.nc").stat().st_size > 0 and (clone / "dispatch.png").stat().st_size > 10_000
    assert [f.name for f in namespace["agg"].fleets] == ["car_aval1", "car_aval2", "car_aval3", "car_aval4"]
