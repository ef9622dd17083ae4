"""Exceptions that carry a message meant for the user.

The command line turns :class:`InputError` into one line on standard error and
exit code 2, and :class:`SolveError` and :class:`PluginError` into exit code 1;
none prints a traceback.
"""

from __future__ import annotations

__all__ = [
    "AggregatorError",
    "InputError",
    "InputWarning",
    "PluginError",
    "SolveError",
    "PLUGIN_OPTION_FAILURES",
    "plugin_failed",
]


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


class PluginError(AggregatorError, RuntimeError):
    """A plugin returned data that breaks its contract: a bug in that plugin.

    Raised by the core when a price source or an availability model returns
    the wrong type, non-finite or out-of-range values, or too few of them.
    The message names the plugin and the distribution it comes from and says
    that the bug is the plugin's, not a mistake in the user's options (those
    are :class:`InputError`, raised by the plugin itself).

    Parameters
    ----------
    message : str
        The full message.
    plugin : str
        The plugin's registered name.
    distribution : str
        The installed distribution that provides it.
    """

    def __init__(self, message: str, *, plugin: str = "", distribution: str = "") -> None:
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution

    @classmethod
    def returned(cls, kind: str, plugin: str, distribution: str, what: str, where: str = "") -> "PluginError":
        """The error for a plugin that returned bad data.

        Parameters
        ----------
        kind : str
            The plugin kind in words (``"price source"``).
        plugin, distribution : str
            The plugin's name and its distribution.
        what : str
            What it returned, and what was expected.
        where : str
            Where the plugin was used (``"[prices]"``), put first in the message.

        Returns
        -------
        PluginError

        Examples
        --------
        >>> print(PluginError.returned("price source", "x", "y", "a list; expected a PriceSignal"))
        the price source 'x' from distribution 'y' returned a list; expected a PriceSignal: this is a bug in that plugin, not a mistake in your options (report it to the authors of 'y')
        """
        return cls(
            (f"{where}: " if where else "") + f"the {kind} {plugin!r} from distribution {distribution!r} returned {what}: this is a bug in that "
            f"plugin, not a mistake in your options (report it to the authors of {distribution!r})",
            plugin=plugin,
            distribution=distribution,
        )


#: What a plugin may raise on options it cannot use, besides :class:`InputError`: reported as a
#: mistake in the options that names the plugin (any other exception is a bug, reported as one).
PLUGIN_OPTION_FAILURES = (ValueError, TypeError, KeyError, IndexError, ArithmeticError, OSError)


def plugin_failed(kind: str, plugin: str, distribution: str, exc: Exception, where: str = "") -> InputError:
    """The error for a plugin that raised one of :data:`PLUGIN_OPTION_FAILURES` on the user's options.

    Parameters
    ----------
    kind : str
        The plugin kind in words (``"price source"``).
    plugin, distribution : str
        The plugin's name and its distribution.
    exc : Exception
        What it raised.
    where : str
        Where the plugin was used (``"[prices]"``), put first in the message.

    Returns
    -------
    InputError
    """
    return InputError(
        (f"{where}: " if where else "") + f"the {kind} {plugin!r} (from {distribution!r}) failed on these options: {type(exc).__name__}: {exc}"
    )
