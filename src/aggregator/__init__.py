"""aggregator: optimise the charging and vehicle-to-grid discharging of EV fleets.

The public API:

- :class:`Fleet`, :class:`PriceSignal`, :class:`Aggregator`, :class:`Result`
- :func:`load_scenario`
- :func:`sweep` (scenario grids and many fleets on Dask) and :func:`solve_rolling`
- plugin base classes :class:`PriceSource`, :class:`AvailabilityModel`,
  :class:`SolverBackend`, :class:`ModelExtension`, their typed options
  :class:`Option` and the marker :data:`hookimpl`

The names are imported on first use (:pep:`562`), so that ``import aggregator``
and the command line's fast commands (``--help``, ``scenario``) do not import
linopy, xarray and pandas; ``from aggregator import Aggregator`` and
``aggregator.Aggregator`` work as usual.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import AggregatorError, InputError, PluginError, SolveError

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .aggregator import Aggregator
    from .availability import AvailabilityModel
    from .extensions import ModelExtension
    from .fleet import Fleet
    from .options import Option
    from .plugins import hookimpl
    from .prices import PriceSignal, PriceSource
    from .result import Result
    from .rolling import solve_rolling
    from .scenario import load_scenario
    from .solvers import SolveOutcome, SolverBackend, SolverOptions
    from .sweep import sweep

#: Public name -> the submodule that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "Aggregator": "aggregator",
    "AvailabilityModel": "availability",
    "Fleet": "fleet",
    "ModelExtension": "extensions",
    "Option": "options",
    "PriceSignal": "prices",
    "PriceSource": "prices",
    "Result": "result",
    "SolveOutcome": "solvers",
    "SolverBackend": "solvers",
    "SolverOptions": "solvers",
    "hookimpl": "plugins",
    "load_scenario": "scenario",
    "solve_rolling": "rolling",
}

__all__ = sorted([*_LAZY, "AggregatorError", "InputError", "PluginError", "SolveError", "sweep"])


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use (:pep:`562`)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("aggregator")
        except PackageNotFoundError:  # pragma: no cover - source tree without metadata
            value = "0.0.0"
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module, whose ``sweep`` attribute is always the function.

    ``aggregator.sweep`` is the function :func:`aggregator.sweep.sweep`; the
    import system binds the submodule of the same name on the package when it
    is first imported, which would hide the function.  The submodule stays
    reachable as ``sys.modules["aggregator.sweep"]`` and through ``from
    aggregator.sweep import ...``.
    """

    @property
    def sweep(self):  # type: ignore[override]
        return importlib.import_module(".sweep", __name__).sweep

    @sweep.setter
    def sweep(self, value: Any) -> None:  # the import system binding the submodule: keep the function
        pass


sys.modules[__name__].__class__ = _Package
