"""aggregator-gridlimit: a grid-connection limit shared by the fleets.

Active only when the scenario asks for it::

    [extensions.grid_limit]
    kw = 5000            # import limit at the connection, kW (a number or one value per step)
    export_kw = 3000     # optional export limit, kW (default: kw)
    fleets = ["a", "b"]  # optional: the fleets behind the connection (default: all)

It declares one :class:`aggregator.coupling.PowerCoupling` on the *net* power
the fleets draw through the connection (one fleet may discharge into
another)::

    sum(charge - discharge) <=  kw          (grid_limit_import)
    sum(discharge - charge) <=  export_kw   (grid_limit_export)

and the core writes those rows into the model.  The model is then the
documented one plus exactly these coupling rows: ``Aggregator.couplings()``
returns them, so a decomposition backend can solve it; the other backends
solve the whole model.
"""

from __future__ import annotations

from aggregator.plugins import LazyPlugin, hookimpl, lazy_exports

__all__ = ["GridLimit", "grid_limit_coupling"]
__version__ = "0.2.0"

# Light on purpose: the command line imports this module to list the plugin, so the class (and
# xarray) is imported only when a scenario uses it.
__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, ".extension"))


@hookimpl
def aggregator_register_model_extensions() -> list[LazyPlugin]:
    """Register the ``grid_limit`` model extension by its import path (imported when a scenario uses it)."""
    return [LazyPlugin("aggregator_gridlimit.extension:GridLimit",
                       name="grid_limit",
                       summary="A grid-connection limit on the fleets' net import and export (``[extensions.grid_limit]``).")]
