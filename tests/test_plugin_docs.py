"""The "Writing a plugin" page: every hook has a section, and its tutorial works as written."""

from __future__ import annotations

import json
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from aggregator import hookspecs
from conftest import REPO, run_cli

PAGE = REPO / "docs" / "writing_plugins.rst"


def hook_names() -> list[str]:
    """Every hook specification in :mod:`aggregator.hookspecs`."""
    return sorted(
        name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, "aggregator_spec")
    )


def sections(text: str) -> set[str]:
    """Titles of the page's sections (a line underlined by at least as many = - ~ ^ characters)."""
    lines = text.splitlines()
    return {
        lines[i].strip().strip("`")
        for i in range(len(lines) - 1)
        if lines[i].strip() and re.fullmatch(r"([=\-~^])\1*", lines[i + 1].strip() or "x")
        and len(lines[i + 1].strip()) >= len(lines[i].strip())
    }


def test_there_are_hooks():
    assert len(hook_names()) >= 4


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_section_on_the_plugin_page(hook):
    assert hook in sections(PAGE.read_text()), f"{hook} is not documented in {PAGE.relative_to(REPO)}"


def captioned_blocks(text: str) -> dict[str, str]:
    """The page's ``code-block`` directives that have a ``:caption:``, by caption."""
    blocks = {}
    pattern = re.compile(r"^\.\. code-block:: \w+\n   :caption: (\S+)\n\n((?:   .*\n|\n)+)", re.MULTILINE)
    for match in pattern.finditer(text):
        blocks[match.group(1)] = textwrap.dedent(match.group(2)).strip() + "\n"
    return blocks


def test_the_tutorial_plugin_works_as_written(tmp_path):
    blocks = captioned_blocks(PAGE.read_text())
    assert {"pyproject.toml", "daynight.toml"} <= set(blocks)
    package = tmp_path / "aggregator-daynight"
    for caption, code in blocks.items():
        target = (package / caption) if caption != "daynight.toml" else (tmp_path / caption)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    # "Install" the package as pip would, from its own pyproject.toml: a .dist-info
    # with the entry points, next to its source on PYTHONPATH.
    project = tomllib.loads(blocks["pyproject.toml"])["project"]
    src = package / "src"
    info = src / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    entry_points = project["entry-points"]["aggregator"]
    (info / "entry_points.txt").write_text(
        "[aggregator]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    env = {"PYTHONPATH": str(src)}
    p = run_cli("plugins", env=env)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert any(line.split()[:2] == ["daynight", "aggregator-daynight"] for line in p.stdout.splitlines())
    p = run_cli("run", str(tmp_path / "daynight.toml"), "--json", env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["profit"] == pytest.approx(1.0, abs=1e-9)  # as the page says
    # The page's example of a misspelled key.
    bad = tmp_path / "bad.toml"
    bad.write_text(blocks["daynight.toml"].replace("day = 120", "dya = 120"))
    p = run_cli("run", str(bad), env=env)
    assert p.returncode == 2 and "[prices]: unknown key 'dya'; did you mean 'day'?" in p.stderr
