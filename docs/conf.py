"""Sphinx configuration of the aggregator documentation.

Build it with warnings as errors, as CI does::

    python -m pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

Offline builds: intersphinx (links to the Python, xarray, pandas, linopy and
pluggy documentation) tries each project's online inventory first and falls
back to an empty local inventory, so a build without network access stays
green under ``-W`` (its links to those projects are then plain text).  Set
``AGGREGATOR_DOCS_OFFLINE=1`` to skip the network attempts altogether.
The formulas render without network access too: MathJax 3 comes from the
``sphinx-mathjax-offline`` package (a requirement of the ``docs`` extra), is
copied into ``_static/mathjax/`` of the build and loaded from there.
``AGGREGATOR_DOCS_MATHJAX`` points MathJax elsewhere (a path or URL of
``tex-chtml.js``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))  # the package, when it is not installed

import aggregator  # noqa: E402

project = "aggregator"
author = "the aggregator authors"
copyright = "the aggregator authors"
release = aggregator.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinxarg.ext",
]

exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]  # _generated: included by scenarios.rst
templates_path: list[str] = []
root_doc = "index"
language = "en"

# --- API reference: autodoc + numpydoc ------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autosummary_generate = False  # the API pages list their entries themselves (no generated files)
numpydoc_show_class_members = False  # autodoc's :members: lists them, once
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# --- links to other projects' documentation -----------------------------------------
_EMPTY_INVENTORY = Path(tempfile.gettempdir()) / "aggregator-docs-empty-objects.inv"
if not _EMPTY_INVENTORY.exists():
    _EMPTY_INVENTORY.write_bytes(
        b"# Sphinx inventory version 2\n# Project: none\n# Version: \n"
        b"# The remainder of this file is compressed using zlib.\n" + zlib.compress(b"")
    )
_OFFLINE = os.environ.get("AGGREGATOR_DOCS_OFFLINE", "") not in ("", "0")
_PROJECTS = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "pandas": "https://pandas.pydata.org/docs",
    "xarray": "https://docs.xarray.dev/en/stable",
    "linopy": "https://linopy.readthedocs.io/en/latest",
    "pluggy": "https://pluggy.readthedocs.io/en/stable",
    "matplotlib": "https://matplotlib.org/stable",
}
# Each project: its online inventory, else an empty local one (intersphinx only
# warns when *every* location of a project fails).
intersphinx_mapping = {
    name: (url, (str(_EMPTY_INVENTORY),) if _OFFLINE else (None, str(_EMPTY_INVENTORY)))
    for name, url in _PROJECTS.items()
}
intersphinx_timeout = 10
intersphinx_cache_limit = 1  # days: an offline build's empty inventories are not kept for long

# --- HTML -------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"aggregator {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}


def _local_mathjax() -> Path:
    """The folder holding ``mathjax/tex-chtml.js`` (MathJax 3 with its fonts and TeX extensions)."""
    import importlib

    try:
        package = importlib.import_module("sphinx-mathjax-offline")  # its import name has hyphens
    except ImportError:
        raise RuntimeError(
            "the documentation renders its formulas offline with MathJax from the package sphinx-mathjax-offline, "
            "which is not installed: python -m pip install -e \".[docs]\""
        ) from None
    return Path(package.__file__).resolve().parent / "static"


if os.environ.get("AGGREGATOR_DOCS_MATHJAX"):
    mathjax_path = os.environ["AGGREGATOR_DOCS_MATHJAX"]
else:  # copied into _static/ with the build, so the pages need no network
    html_static_path.append(str(_local_mathjax()))
    mathjax_path = "mathjax/tex-chtml.js"

# Keep "--option" as two hyphens (the command line reference is full of them).
smartquotes = False

# --- generated pages: the plugins' option reference and the scenario JSON Schema ---------
# Both come from the typed option declarations (aggregator.options) of the core and of
# every plugin installed where the docs are built; they are written anew on each build.
_GENERATED = DOCS / "_generated"
_GENERATED.mkdir(exist_ok=True)


def _write_generated() -> None:
    import json

    from aggregator.atomic import atomic_path
    from aggregator.reference import options_reference
    from aggregator.scenario_schema import scenario_json_schema

    for name, text in (
        ("plugin_options.rst", options_reference()),
        ("scenario.schema.json", json.dumps(scenario_json_schema(), indent=2) + "\n"),
    ):
        target = _GENERATED / name
        if not target.exists() or target.read_text() != text:  # an unchanged file keeps Sphinx's cache valid
            with atomic_path(target) as tmp:
                tmp.write_text(text)


_write_generated()
