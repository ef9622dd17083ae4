"""Exceptions that carry a message meant for the user.

The command line turns :class:`InputError` into one line on standard error and
exit code 2, and :class:`SolveError` into exit code 1; neither prints a
traceback.
"""

from __future__ import annotations

__all__ = ["AggregatorError", "InputError", "InputWarning", "SolveError"]


class AggregatorError(Exception):
    """Base class of every error the package raises on purpose."""


class InputError(AggregatorError, ValueError):
    """Bad input: a file, field, row or value the user has to fix.

    The message names the file, the field or the row and column, what was
    found and what was expected.
    """


class InputWarning(UserWarning):
    """Input that is allowed but probably a mistake (a price outside the sanity
    range, an initial state of charge that only slack can reconcile, ...).

    The command line prints it as one line ``warning: ...`` and carries on.
    """


class SolveError(AggregatorError, RuntimeError):
    """The optimisation ran but produced no usable solution (infeasible,
    time limit without a solution, solver failure)."""
