"""Hook specifications of the ``aggregator`` plugin system (specifications only).

Plugins implement these with :data:`aggregator.hookimpl` and are found through
the entry-point group ``aggregator``.  Hooks are always called with keyword
arguments.  The ``register_*`` hooks return lists that the core flattens into
registries keyed by name; two plugins offering one name is an error naming both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import linopy
    import xarray as xr

    from .availability import AvailabilityModel
    from .extensions import ModelExtension
    from .prices import PriceSource
    from .solvers import SolverBackend

hookspec = pluggy.HookspecMarker("aggregator")


@hookspec
def aggregator_register_price_sources() -> Iterable[type["PriceSource"]]:
    """Return price source classes (subclasses of :class:`aggregator.PriceSource`).

    Returns
    -------
    iterable of type
        Each class has a unique ``name``, used as ``[prices] source = "name"``.
    """


@hookspec
def aggregator_register_availability_models() -> Iterable[type["AvailabilityModel"]]:
    """Return availability model classes (subclasses of :class:`aggregator.AvailabilityModel`).

    Returns
    -------
    iterable of type
        Each class has a unique ``name``, used as ``availability = { model = "name" }``.
    """


@hookspec
def aggregator_register_solver_backends() -> Iterable[type["SolverBackend"]]:
    """Return solver backend classes (subclasses of :class:`aggregator.SolverBackend`).

    Returns
    -------
    iterable of type
        Each class has a unique ``name``, used as ``[solver] name = "name"``.
    """


@hookspec
def aggregator_register_model_extensions() -> Iterable[type["ModelExtension"]]:
    """Return model extension classes (subclasses of :class:`aggregator.ModelExtension`).

    Returns
    -------
    iterable of type
        Each class has a unique ``name``, used as ``[extensions.<name>]``; it
        is called only for scenarios that name it.
    """


@hookspec
def aggregator_extend_model(model: "linopy.Model", inputs: "xr.Dataset") -> None:
    """The low-level escape hatch: change any model before it is solved.

    Prefer :func:`aggregator_register_model_extensions`: a
    :class:`~aggregator.ModelExtension` class is called only when the
    scenario names it and gets its options checked.  This hook is called for
    *every* model, once per build, after the core has defined its variables,
    constraints and objective (and after the configured extension classes).
    ``inputs.attrs["extensions"]`` holds the scenario's ``[extensions]``
    table (a dict of name -> options); an implementation should act only
    when its own name is there.  Name it and declare its options with
    :func:`aggregator.plugins.model_extension`, so that ``aggregator
    plugins`` lists it and a scenario's misspelled ``[extensions.<name>]``
    table or key is an error.  Because it may act on any model, the core
    checks on a two-step probe that it leaves unconfigured models alone
    before letting the structure-aware backend solve them.

    Parameters
    ----------
    model : linopy.Model
        The model, with variables ``charge``, ``discharge``, ``soc``,
        ``slack_up``, ``slack_down``, ``mode`` over (time, fleet).
    inputs : xarray.Dataset
        The validated inputs over (time, fleet) (see
        :meth:`aggregator.Aggregator.inputs`).

    Returns
    -------
    None
    """
