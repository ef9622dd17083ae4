"""The builtin plugins, registered through the same hooks as third-party ones."""

from __future__ import annotations

from .availability import ConstantAvailability, CsvAvailability, SyntheticAvailability
from .decomposition import DecompositionBackend
from .dp_backend import DPBackend
from .market_files import CaisoOasisPriceSource, EntsoePriceSource
from .plugins import hookimpl
from .prices import ConstantPriceSource, CsvPriceSource, SyntheticPriceSource
from .solvers import HighsBackend, LinopyBackend


@hookimpl
def aggregator_register_price_sources():
    """Builtin price sources: csv, constant, synthetic, caiso_oasis, entsoe."""
    return [CsvPriceSource, ConstantPriceSource, SyntheticPriceSource, CaisoOasisPriceSource, EntsoePriceSource]


@hookimpl
def aggregator_register_availability_models():
    """Builtin availability models: csv, constant, synthetic."""
    return [CsvAvailability, ConstantAvailability, SyntheticAvailability]


@hookimpl
def aggregator_register_solver_backends():
    """Builtin solver backends: dp and decomposition (structure-aware, preferred by auto), highs, linopy."""
    return [DPBackend, DecompositionBackend, HighsBackend, LinopyBackend]
