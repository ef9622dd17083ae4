"""The builtin plugins, registered through the same hooks as third-party ones.

Each class is registered by its import path (:class:`~aggregator.plugins.LazyPlugin`)
with what the listings show, so that ``aggregator plugins`` and ``aggregator
solvers`` import none of the modules that define them (and so none of
pandas, xarray, linopy or highspy); a class is imported when a scenario uses
it.  ``tests/test_plugins.py`` checks that each declaration agrees with its class.
"""

from __future__ import annotations

from .plugins import LazyPlugin, hookimpl

#: name -> (import path of the class, the first line of its docstring)
PRICE_SOURCES = {
    "csv": ("aggregator.prices:CsvPriceSource", 'Prices read from a CSV file (``source = "csv"``).'),
    "constant": ("aggregator.prices:ConstantPriceSource", 'One price for every step (``source = "constant"``).'),
    "synthetic": ("aggregator.prices:SyntheticPriceSource",
                  'Deterministic California-like prices (``source = "synthetic"``).'),
    "caiso_oasis": ("aggregator.market_files:CaisoOasisPriceSource",
                    'A CAISO OASIS LMP report (``source = "caiso_oasis"``): PRC_LMP or PRC_INTVL_LMP, zipped CSV.'),
    "entsoe": ("aggregator.market_files:EntsoePriceSource",
               'ENTSO-E day-ahead prices (``source = "entsoe"``): the transparency platform\'s CSV export.'),
}
#: name -> (class in aggregator.availability, the first line of its docstring)
AVAILABILITY_MODELS = {
    "csv": ("CsvAvailability",
            'A column of a CSV file (``model = "csv"``): aligned by time when it has a time column, else row by row.'),
    "constant": ("ConstantAvailability", 'The same share every step (``model = "constant"``).'),
    "synthetic": ("SyntheticAvailability", 'A synthetic commuting pattern (``model = "synthetic"``).'),
}


@hookimpl
def aggregator_register_price_sources():
    """Builtin price sources: csv, constant, synthetic, caiso_oasis, entsoe."""
    return [LazyPlugin(path, name=name, summary=summary) for name, (path, summary) in PRICE_SOURCES.items()]


@hookimpl
def aggregator_register_availability_models():
    """Builtin availability models: csv, constant, synthetic."""
    return [LazyPlugin(f"aggregator.availability:{cls}", name=name, summary=summary)
            for name, (cls, summary) in AVAILABILITY_MODELS.items()]


@hookimpl
def aggregator_register_solver_backends():
    """Builtin solver backends: dp and decomposition (structure-aware, preferred by auto), highs, linopy."""
    return [
        LazyPlugin("aggregator.dp_backend:DPBackend", name="dp", priority=100,
                   summary="Exact dynamic programme per fleet over piecewise-linear value functions (structure-aware).",
                   description="exact per-fleet dynamic programme, certified bound; the documented model only"),
        LazyPlugin("aggregator.decomposition:DecompositionBackend", name="decomposition", priority=90,
                   requires=("highspy",),
                   summary="Fleets behind shared connections: priced coupling rows, exact per-fleet DP, repaired "
                           "LP dispatch.",
                   description="dual decomposition of declared coupling rows over the exact per-fleet DP, "
                               "certified bound"),
        LazyPlugin("aggregator.solvers:HighsBackend", name="highs", priority=10, requires=("highspy", "linopy"),
                   summary="The MILP through linopy and HiGHS, with the bound HiGHS proves.",
                   description="the exact MILP with HiGHS (highspy) through linopy, warm-started from the dp backend"),
        LazyPlugin("aggregator.solvers:LinopyBackend", name="linopy", priority=0, requires=("linopy",),
                   summary='Any solver that linopy supports and finds installed (``solver = "cbc"``, ...).',
                   description="the MILP through linopy with any installed solver (option `solver`)"),
    ]
