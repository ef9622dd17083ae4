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

from aggregator.plugins import LazyPlugin, hookimpl, lazy_exports

__all__ = ["TouPriceSource", "Tariff", "Rule", "DEFAULT_SEASONS", "DEFAULT_PERIODS", "DEFAULT_PERIOD", "DEFAULT_RATES"]
__version__ = "0.2.0"

# Light on purpose: the command line imports this module to list the plugin, so the class (and
# pandas) is imported only when a scenario uses it.
__getattr__ = lazy_exports(__name__, {"TouPriceSource": ".source", **dict.fromkeys(__all__[1:], ".tariff")})


@hookimpl
def aggregator_register_price_sources() -> list[LazyPlugin]:
    """Register the ``tou`` price source by its import path (imported when a scenario uses it)."""
    return [LazyPlugin("aggregator_tou.source:TouPriceSource",
                       name="tou",
                       summary='A utility time-of-use tariff by hour, weekday and season (``source = "tou"``).')]
