"""The public API is importable, and the fast commands do not import the model's libraries.

The children run with the installed plugin packages (``plugins/``), so these
also check that their modules, imported by every command, stay light.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import aggregator

HEAVY = ("linopy", "xarray", "pandas", "highspy")


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
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})\n"
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
    heavy, stdout = modules_imported_by(["run", "--hours", "6", "--json"], heavy=("linopy", "highspy", "polars"))
    assert '"status": "optimal"' in stdout and '"solver": "dp' in stdout, stdout
    assert heavy == [], heavy
