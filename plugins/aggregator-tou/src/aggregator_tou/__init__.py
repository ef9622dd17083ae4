"""aggregator-tou: a time-of-use tariff price source for aggregator.

Install it next to ``aggregator`` and select it in a scenario::

    [prices]
    source = "tou"
    start = "2024-07-01"

The package registers :class:`TouPriceSource` through the
``aggregator_register_price_sources`` hook; the entry point in
``pyproject.toml`` (group ``aggregator``) names this module.
"""

from __future__ import annotations

import importlib
from typing import Any

from aggregator.plugins import LazyPlugin, hookimpl

__all__ = ["TouPriceSource", "Tariff", "Rule", "DEFAULT_SEASONS", "DEFAULT_PERIODS", "DEFAULT_PERIOD", "DEFAULT_RATES"]
__version__ = "0.2.0"

# Light on purpose: the command line imports this module to list the plugin, so the class (and
# pandas) is imported only when a scenario uses it.
_MODULES = {
    "TouPriceSource": ".source",
    "Tariff": ".tariff",
    "Rule": ".tariff",
    "DEFAULT_SEASONS": ".tariff",
    "DEFAULT_PERIODS": ".tariff",
    "DEFAULT_PERIOD": ".tariff",
    "DEFAULT_RATES": ".tariff",
}


def __getattr__(name: str) -> Any:
    """The package's public names, imported from their modules on first use (:pep:`562`)."""
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def aggregator_register_price_sources() -> list[LazyPlugin]:
    """Register the ``tou`` price source by its import path (imported when a scenario uses it).

    Returns
    -------
    list of LazyPlugin
    """
    return [
        LazyPlugin(
            "aggregator_tou.source:TouPriceSource",
            name="tou",
            summary='A utility time-of-use tariff by hour, weekday and season (``source = "tou"``).',
        )
    ]
