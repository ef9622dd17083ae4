"""The option reference of every installed plugin, as reStructuredText.

The docs build writes it from the plugins' typed options (see ``docs/conf.py``),
so that a plugin's keys are documented by declaring them: its page section
lists each key with its type, unit, range, default and description, the same
words that ``aggregator plugins --verbose`` prints and that error messages use.
"""

from __future__ import annotations

from . import plugins
from .options import as_option, describe_option

__all__ = ["options_reference"]

_SELECTED_BY = {
    "price_sources": '``[prices] source = "{name}"``',
    "availability_models": '``availability = {{ model = "{name}" }}``',
    "solver_backends": '``[solver] name = "{name}"``',
    "model_extensions": "``[extensions.{name}]``",
}


def _rest_literal(text: str) -> str:
    return text.replace("*", r"\*").replace("`", r"\`").replace("|", r"\|")


def options_reference(title: str = "Options of the installed plugins") -> str:
    """The reST section listing every installed plugin and its options.

    Parameters
    ----------
    title : str
        The section title.

    Returns
    -------
    str

    Examples
    --------
    >>> text = options_reference()
    >>> "``[extensions.grid_limit]``" in text or "Model extensions" in text
    True
    """
    lines = [title, "-" * len(title), ""]
    rows = plugins.listing()
    for kind in plugins.iter_kinds():
        heading = kind.replace("_", " ").capitalize()
        lines += [heading, "~" * len(heading), ""]
        found = [row for row in rows if row.kind == kind and not row.conflict]
        if not found:
            lines += ["None installed.", ""]
        for row in found:
            lines += [
                f"{_SELECTED_BY[kind].format(name=row.name)} (from ``{row.distribution}``)",
                f"    {_rest_literal(row.description) or '(no description)'}",
                "",
            ]
            if row.options is None:
                lines += ["    Its options are not declared.", ""]
                continue
            if not row.options:
                lines += ["    No options.", ""]
                continue
            for key, option in row.options.items():
                lines += [f"    ``{key}``", f"        {_rest_literal(describe_option(as_option(option)))}", ""]
    return "\n".join(lines) + "\n"
