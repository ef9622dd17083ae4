"""aggregator-scipy: a solver backend that solves the MILP with :func:`scipy.optimize.milp`.

It takes the linopy model as matrices (so it solves any model, including one
that a model extension changed), hands them to SciPy's bundled HiGHS and maps
the solution back to the model's variables.  It reports the bound the solver
proves, so the certified gap is as trustworthy as the builtin ``highs``
backend's.  It needs SciPy but not highspy.  Select it with::

    [solver]
    name = "scipy"
    presolve = true     # optional
    node_limit = 10000  # optional

``auto`` prefers the builtin ``highs`` backend (priority 10) and falls back to
this one (priority 5) when highspy is missing.
"""

from __future__ import annotations

from aggregator.plugins import LazyPlugin, hookimpl, lazy_exports

__all__ = ["ScipyBackend"]
__version__ = "0.1.0"

# Light on purpose: the command line imports this module to list the plugin, so the class (and
# linopy, scipy) is imported only when a scenario uses it.
__getattr__ = lazy_exports(__name__, {"ScipyBackend": ".backend"})


@hookimpl
def aggregator_register_solver_backends() -> list[LazyPlugin]:
    """Register the ``scipy`` solver backend by its import path (imported when a scenario uses it)."""
    return [LazyPlugin("aggregator_scipy.backend:ScipyBackend",
                       name="scipy",
                       summary="The MILP with scipy.optimize.milp (SciPy's HiGHS), from the linopy model's matrices.",
                       description="the MILP with scipy.optimize.milp (SciPy's bundled HiGHS); any model, proven bound",
                       priority=5,
                       requires=("scipy", "linopy"))]
