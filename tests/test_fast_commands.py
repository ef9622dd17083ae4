"""The public API is importable, and the fast commands do not import the model's libraries.

The children run with the installed plugin packages (``plugins/``), so these
also check that their modules, imported by every command, stay light.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import aggregator

HEAVY = ("linopy", "xarray", "pandas", "highspy")
REPO = Path(__file__).resolve().parents[1]
SEED_SCENARIO = REPO / "examples" / "scenarios" / "seed_case0_multi.toml"
SEED_PRICES = REPO.parent / "shared" / "data" / "seed" / "CA_Weighted_Price_Case0.csv"


def test_every_public_name_is_importable():
    for name in aggregator.__all__:
        assert getattr(aggregator, name) is not None, name
    assert callable(aggregator.sweep)  # the function, even after the submodule was imported
    importlib.import_module("aggregator.sweep")  # binds the submodule on the package

    assert callable(aggregator.sweep) and aggregator.sweep.__name__ == "sweep"
    assert set(aggregator.__all__) <= set(dir(aggregator))
    with pytest.raises(AttributeError):
        aggregator.not_a_name  # noqa: B018


def modules_imported_by(argv: list[str], heavy: tuple[str, ...] = HEAVY) -> tuple[list[str], str]:
    """Run the command line in a fresh interpreter; return the heavy modules it imported and its output."""
    code = (
        "import sys\n"
        "from aggregator.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in {heavy!r}))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "HEAVY " in done.stderr, done.stderr[-2000:]
    line = next(line for line in done.stderr.splitlines() if line.startswith("HEAVY "))
    return eval(line.removeprefix("HEAVY ")), done.stdout  # noqa: S307 - our own child's repr of a list


@pytest.mark.parametrize(
    "argv", [["--help"], ["scenario"], ["run", "--help"], ["solvers"], ["plugins"]], ids=" ".join
)
def test_fast_commands_do_not_import_the_model(argv):
    heavy, stdout = modules_imported_by(argv)
    assert heavy == [], f"aggregator {' '.join(argv)} imported {heavy}"
    assert stdout.strip()


def test_solvers_and_plugins_name_every_backend_and_plugin_without_importing_it():
    _, solvers = modules_imported_by(["solvers"])
    assert {"dp", "decomposition", "highs", "linopy", "scipy"} <= {line.split()[0] for line in solvers.splitlines()[1:]}
    _, listed = modules_imported_by(["plugins"])
    for name in ("csv", "constant", "synthetic", "tou", "trips", "dp", "scipy", "grid_limit"):
        assert any(line.split()[:1] == [name] for line in listed.splitlines()), name


def test_a_standard_run_solved_by_dp_imports_no_linopy():
    # The embedded default scenario is the documented model: dp solves it and the core checks
    # every row from the dispatch (Result.violations) without building a linopy model.
    heavy, stdout = modules_imported_by(["run", "--hours", "6", "--json"], heavy=("linopy", "highspy", "polars", "dask.array"))
    assert '"status": "optimal"' in stdout and '"solver": "dp' in stdout, stdout
    assert heavy == [], heavy


@pytest.mark.skipif(not SEED_SCENARIO.exists() or not SEED_PRICES.exists(), reason="seed data not found")
def test_the_seed_year_run_imports_neither_linopy_nor_dask_nor_jsonschema():
    # The README's scenario (the seed study, four fleets, a year): auto chooses dp, the model
    # is checked from the dispatch, and xarray is kept from importing dask.array.
    # Nor dask at all (xarray's to_numpy asks is_dask_collection: lazy_dask answers without dask.base),
    # nor jsonschema (valid options of one plain type are checked without it).
    heavy, stdout = modules_imported_by(["run", str(SEED_SCENARIO), "--json"], heavy=("linopy", "highspy", "dask", "jsonschema"))
    assert '"status": "optimal"' in stdout and '"solver": "dp' in stdout, stdout
    assert heavy == [], heavy


def test_xarray_still_recognises_dask_arrays_once_dask_array_is_imported():
    # aggregator.lazy_dask answers xarray's "is this a dask array?" without importing dask.array;
    # once something imports it, dask-backed variables must work as before.
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import xarray as xr\n"
        "import aggregator.result\n"
        "assert xr.DataArray(np.zeros(3)).chunks is None\n"
        "assert 'dask.array' not in sys.modules, 'dask.array imported'\n"
        "import dask.array as da\n"
        "x = xr.DataArray(da.zeros(3, chunks=1), dims='t')\n"
        "assert isinstance(x.data, da.Array) and x.chunks == ((1, 1, 1),), x\n"
        "assert float((x + 1).sum().compute()) == 3.0\n"
        "from xarray.namedarray.pycompat import mod_version\n"
        "assert mod_version('dask').major >= 2022\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
