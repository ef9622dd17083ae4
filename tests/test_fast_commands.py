"""The public API is importable, and the fast commands do not import the model's libraries."""

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


@pytest.mark.parametrize("argv", [["--help"], ["scenario"], ["run", "--help"]])
def test_fast_commands_do_not_import_the_model(argv):
    code = (
        "import sys\n"
        "from aggregator.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in done.stderr, done.stderr[-2000:]
    assert done.stdout.strip()
