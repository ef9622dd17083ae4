"""aggregator: optimise the charging and vehicle-to-grid discharging of EV fleets.

The public API:

- :class:`Fleet`, :class:`PriceSignal`, :class:`Aggregator`, :class:`Result`
- :func:`load_scenario`
- :func:`sweep` (scenario grids and many fleets on Dask) and :func:`solve_rolling`
- plugin base classes :class:`PriceSource`, :class:`AvailabilityModel`,
  :class:`SolverBackend` and the marker :data:`hookimpl`
"""

from .aggregator import Aggregator
from .availability import AvailabilityModel
from .errors import AggregatorError, InputError, PluginError, SolveError
from .fleet import Fleet
from .plugins import hookimpl
from .prices import PriceSignal, PriceSource
from .result import Result
from .rolling import solve_rolling
from .scenario import load_scenario
from .solvers import SolveOutcome, SolverBackend, SolverOptions
from .sweep import sweep  # aggregator.sweep is this function; `from aggregator.sweep import ...` reaches the module

__all__ = [
    "Aggregator",
    "AggregatorError",
    "AvailabilityModel",
    "Fleet",
    "InputError",
    "PluginError",
    "PriceSignal",
    "PriceSource",
    "Result",
    "SolveError",
    "SolveOutcome",
    "SolverBackend",
    "SolverOptions",
    "hookimpl",
    "load_scenario",
    "solve_rolling",
    "sweep",
]

try:
    from importlib.metadata import version as _version

    __version__ = _version("aggregator")
except Exception:  # pragma: no cover - source tree without metadata
    __version__ = "0.0.0"
