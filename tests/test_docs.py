"""The documentation: it builds without a warning, it documents every public name
and every scenario key, and the examples in docstrings run (doctests).

The build needs the ``docs`` requirements (installed by the ``test`` extra);
without Sphinx those tests skip with the reason.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aggregator
from conftest import REPO, run_cli

DOCS = REPO / "docs"


# ------------------------------------------------------------------ the site
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Build the HTML site once, warnings as errors, offline (no intersphinx fetches)."""
    for module in ("sphinx", "numpydoc", "furo", "sphinxarg", "sphinx-mathjax-offline"):
        pytest.importorskip(module, reason=f"{module} is not installed (python -m pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("docs")
    env = dict(os.environ, AGGREGATOR_DOCS_OFFLINE="1", MPLBACKEND="Agg")
    p = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert p.returncode == 0, f"sphinx-build -W failed:\n{p.stdout}\n{p.stderr}"
    return out / "html"


def test_docs_build_without_warnings(built):
    for page in ("index", "getting_started", "model", "scenarios", "cli", "backends", "scale", "study",
                 "writing_plugins", "api/index"):
        assert (built / f"{page}.html").exists(), page


def test_mathjax_is_served_with_the_pages(built):
    # no page loads MathJax (or any script) from the network: the formulas render offline
    page = (built / "model.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert any(src.startswith("_static/mathjax/tex-chtml.js") for src in scripts), scripts
    assert not [src for src in scripts if "://" in src], scripts
    assert (built / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def _chromium() -> str | None:
    import shutil

    return next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)


#: Headless Chromium without any network use of its own.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--virtual-time-budget=20000",
)


def test_formulas_render_offline_in_a_headless_browser(built, tmp_path):
    """A real browser opens the built model page from disk: every formula is typeset by MathJax, none fails."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium to render the docs in (Debian: apt-get install chromium); .ci/run installs it")
    page = (built / "model.html").as_uri()
    env = dict(os.environ, HOME=str(tmp_path))  # a fresh profile, nothing of the user's
    shot = tmp_path / "model.png"
    p = subprocess.run([browser, *CHROMIUM_FLAGS, "--window-size=1200,1600", f"--screenshot={shot}", page],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert p.returncode == 0 and shot.stat().st_size > 50_000, p.stderr[-2000:]
    p = subprocess.run([browser, *CHROMIUM_FLAGS, "--dump-dom", page], capture_output=True, text=True, env=env,
                       timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    dom = p.stdout
    source = (built / "model.html").read_text()
    formulas = source.count('class="math notranslate nohighlight"')
    assert formulas >= 50 and "\\(" in source  # the page holds raw TeX until MathJax typesets it
    # each formula became a MathJax element, none is an error, and no raw TeX delimiter is left in the text
    assert dom.count("<mjx-container") == formulas
    assert "<mjx-merror" not in dom
    body = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)
    assert "\\(" not in body and "\\[" not in body


def _inventory(built: Path) -> set[str]:
    from sphinx.util.inventory import InventoryFile

    with open(built / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", lambda base, uri: uri)
    return {name for kind in inventory.values() for name in kind} if isinstance(inventory, dict) else {
        item.name for item in inventory  # pragma: no cover - newer Sphinx inventory objects
    }


def test_every_public_name_is_in_the_api_reference(built):
    documented = _inventory(built)
    public = [f"aggregator.{name}" for name in aggregator.__all__]
    from aggregator import hookspecs

    public += [f"aggregator.hookspecs.{name}" for name in dir(hookspecs) if name.startswith("aggregator_")]
    for module in ("plotting", "formats", "summary"):
        mod = importlib.import_module(f"aggregator.{module}")
        public += [f"aggregator.{module}.{name}" for name in mod.__all__ if callable(getattr(mod, name))]
    missing = [name for name in public if name not in documented]
    assert not missing, f"public names missing from docs/api/: {missing}"


def test_cli_reference_lists_every_command(built):
    from aggregator.cli import build_parser

    html = (built / "cli.html").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for name, sub in commands.items():
        assert f"aggregator {name}" in html or f">{name}<" in html, name
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in html, f"{name} {option}"


def test_figures_of_the_pages_exist():
    for page in DOCS.glob("*.rst"):
        for figure in re.findall(r"\.\. (?:figure|image):: (\S+)", page.read_text()):
            assert (DOCS / figure).is_file(), f"{page.name}: {figure}"


# ----------------------------------------------------- pages that must agree with the code
def test_getting_started_starts_with_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    page = (DOCS / "getting_started.rst").read_text()
    commands = re.findall(r"^(python -m pip install .*)$", readme, flags=re.M)
    assert len(commands) >= 2, "the README's Quickstart commands were not found"
    for command in commands[:2]:
        assert command in page, f"docs/getting_started.rst does not show the README's command {command!r}"


def test_scenario_reference_documents_every_key():
    from aggregator import plugins, scenario

    page = (DOCS / "scenarios.rst").read_text()
    keys = set(scenario._TOP) | set(scenario._HORIZON) | set(scenario._SOLVER) | set(scenario._MODEL)
    keys |= set(scenario._FLEET) | {"source", "model", "min_price", "max_price", "window_hours", "commit_hours"}
    for kind in ("price_sources", "availability_models", "solver_backends"):
        for name, (cls, dist) in plugins.registry(kind).items():
            if dist == "aggregator":
                assert f"``{name}``" in page, f"{kind} {name!r} is not in docs/scenarios.rst"
                keys |= set(cls.options)
    missing = sorted(key for key in keys if f"``{key}``" not in page)
    assert not missing, f"scenario keys missing from docs/scenarios.rst: {missing}"


def test_the_first_scenario_of_the_docs_solves_without_slack():
    p = run_cli("run", str(REPO / "examples" / "scenarios" / "depot.toml"), "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["status"] == "optimal" and data["slack_kwh"] < 1e-3


# ----------------------------------------------------------------- doctests
def _modules() -> list[str]:
    """Modules with docstring examples (and any that cannot be imported here, to skip with the reason)."""
    names = []
    for info in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
        if info.name == "aggregator.__main__":
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            names.append(info.name)
            continue
        if any(t.examples for t in doctest.DocTestFinder(exclude_empty=True).find(module, info.name)):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional dependency of that module
        pytest.skip(f"{name} needs {exc.name}, which is not installed")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples]
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
