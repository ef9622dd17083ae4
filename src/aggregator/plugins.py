"""The plugin manager: hook registration, entry-point loading, name registries.

Builtin plugins (:mod:`aggregator.builtin_plugins`) are registered through the
same hooks as third-party ones.  Third-party plugins are modules named by an
entry point in the group ``aggregator``; they are loaded here, one at a time,
so that a broken plugin becomes a warning naming its distribution instead of
breaking start-up.  ``AGGREGATOR_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point
loading off.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

import pluggy

from . import hookspecs
from .errors import InputError

__all__ = [
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "PluginInfo",
    "get_plugin_manager",
    "reset_plugin_manager",
    "registry",
    "lookup",
    "optional_dependency",
    "PluginWarning",
    "model_extension",
    "model_extensions",
]

_F = TypeVar("_F", bound=Callable[..., Any])

ENTRY_POINT_GROUP = "aggregator"
hookimpl = pluggy.HookimplMarker("aggregator")

_KINDS = {
    "price_sources": "aggregator_register_price_sources",
    "availability_models": "aggregator_register_availability_models",
    "solver_backends": "aggregator_register_solver_backends",
}
_KIND_WORDS = {
    "price_sources": "price source",
    "availability_models": "availability model",
    "solver_backends": "solver backend",
}

_HOOK_NAMES = tuple(sorted(name for name in dir(hookspecs) if name.startswith("aggregator_")))

_manager: pluggy.PluginManager | None = None
_registries: dict[str, dict[str, tuple[type, str]]] | None = None


class PluginWarning(UserWarning):
    """A plugin could not be loaded or failed in a hook; the rest keeps working."""


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin class, for listings.

    Parameters
    ----------
    kind : str
        ``price_sources``, ``availability_models``, ``solver_backends`` or ``model_extensions``.
    name : str
        Its registered name.
    distribution : str
        The installed distribution that provides it (``aggregator`` for builtins).
    available : bool
        Whether its optional dependencies are installed.
    description : str
        First line of its docstring.
    """

    kind: str
    name: str
    distribution: str
    available: bool
    description: str


def optional_dependency(module: str) -> bool:
    """Whether a module can be imported, without importing it.

    Parameters
    ----------
    module : str
        Module name.

    Returns
    -------
    bool
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ep.value
        name = f"{dist}:{ep.name}"
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            plugin = ep.load()
            if pm.is_registered(plugin):  # two entry points naming one module
                continue
            pm.register(plugin, name=name)
        except Exception as exc:  # a broken plugin must not break the program
            warnings.warn(
                f"plugin {ep.name!r} from distribution {dist!r} could not be loaded and is skipped: "
                f"{type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        _DISTRIBUTIONS[id(plugin)] = dist
        _warn_unmarked(pm, plugin, dist)


def _warn_unmarked(pm: pluggy.PluginManager, plugin: Any, dist: str) -> None:
    """Warn about ``aggregator_*`` functions that lack ``@hookimpl`` (pluggy would ignore them)."""
    marked = {caller.name for caller in pm.get_hookcallers(plugin) or []}
    for attr in dir(plugin):
        if attr.startswith("aggregator_") and attr not in marked and callable(getattr(plugin, attr, None)):
            warnings.warn(
                f"plugin {pm.get_name(plugin)!r} from distribution {dist!r}: function {attr!r} is not marked "
                "with @aggregator.hookimpl and is ignored",
                PluginWarning,
                stacklevel=3,
            )


def _drop_invalid(pm: pluggy.PluginManager) -> None:
    """Unregister, with a warning, every plugin that implements a hook that does not exist."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            plugin = exc.plugin
            name = pm.get_name(plugin) or repr(plugin)
            dist = _DISTRIBUTIONS.get(id(plugin), name)
            unknown = sorted(c.name for c in pm.get_hookcallers(plugin) or [] if not c.has_spec())
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, list(_HOOK_NAMES), n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            pm.unregister(plugin)
            warnings.warn(
                f"error in plugin {name!r} from distribution {dist!r}: unknown hook {', '.join(hints) or str(exc)}; "
                f"the plugin is skipped (hooks: {', '.join(_HOOK_NAMES)})",
                PluginWarning,
                stacklevel=3,
            )


_DISTRIBUTIONS: dict[int, str] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created and loaded on first use.

    Returns
    -------
    pluggy.PluginManager

    Notes
    -----
    A plugin that cannot be imported, or that implements a hook that does not
    exist (a misspelled name, found by ``check_pending``), is skipped with a
    :class:`PluginWarning` naming its distribution; the others keep working.
    """
    global _manager
    if _manager is None:
        from . import builtin_plugins

        pm = pluggy.PluginManager("aggregator")
        pm.add_hookspecs(hookspecs)
        pm.register(builtin_plugins, name="aggregator")
        _DISTRIBUTIONS[id(builtin_plugins)] = "aggregator"
        if os.environ.get("AGGREGATOR_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0"):
            _load_entry_points(pm)
        _drop_invalid(pm)
        _manager = pm
    return _manager


def register(plugin: Any, name: str | None = None, distribution: str = "<runtime>") -> None:
    """Register a plugin object (a module or instance with hook implementations) at run time.

    Parameters
    ----------
    plugin : object
        Object carrying ``@hookimpl`` functions.
    name : str, optional
        Name to register it under.
    distribution : str
        What to show as its origin in listings.

    Raises
    ------
    pluggy.PluginValidationError
        If the plugin implements a hook that does not exist (it is then not registered).
    """
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pm.unregister(plugin)
        raise
    _DISTRIBUTIONS[id(plugin)] = distribution
    _invalidate()


def unregister(plugin: Any) -> None:
    """Remove a plugin registered with :func:`register`.

    Parameters
    ----------
    plugin : object
    """
    get_plugin_manager().unregister(plugin)
    _invalidate()


def _invalidate() -> None:
    global _registries
    _registries = None


def reset_plugin_manager() -> None:
    """Forget the plugin manager and registries (they are rebuilt on next use)."""
    global _manager
    _manager = None
    _invalidate()


def _distribution(pm: pluggy.PluginManager, impl: pluggy.HookImpl) -> str:
    return _DISTRIBUTIONS.get(id(impl.plugin), impl.plugin_name)


def _base_class(kind: str) -> type:
    from .availability import AvailabilityModel
    from .prices import PriceSource
    from .solvers import SolverBackend

    return {
        "price_sources": PriceSource,
        "availability_models": AvailabilityModel,
        "solver_backends": SolverBackend,
    }[kind]


def _collect(kind: str) -> dict[str, tuple[type, str]]:
    pm = get_plugin_manager()
    hook = getattr(pm.hook, _KINDS[kind])
    found: dict[str, tuple[type, str]] = {}
    for impl in reversed(hook.get_hookimpls()):  # registration order
        dist = _distribution(pm, impl)
        try:
            classes = impl.function() or []
            classes = list(classes)
        except Exception as exc:
            warnings.warn(
                f"plugin from distribution {dist!r} failed in {_KINDS[kind]}: {type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=3,
            )
            continue
        base = _base_class(kind)
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                warnings.warn(
                    f"plugin from distribution {dist!r} returned {cls!r} from {_KINDS[kind]}; expected a subclass "
                    f"of aggregator.{base.__name__}; skipped",
                    PluginWarning,
                    stacklevel=3,
                )
                continue
            name = getattr(cls, "name", "")
            if not name or not isinstance(name, str):
                warnings.warn(
                    f"{_KIND_WORDS[kind]} {cls.__qualname__} from {dist!r} has no `name` (a string); skipped",
                    PluginWarning,
                    stacklevel=3,
                )
                continue
            if name in found and found[name][0] is not cls:
                raise InputError(
                    f"two plugins register the {_KIND_WORDS[kind]} {name!r}: "
                    f"distribution {found[name][1]!r} and distribution {dist!r}; uninstall one of them"
                )
            found[name] = (cls, dist)
    return found


def registry(kind: str) -> dict[str, tuple[type, str]]:
    """The registered classes of one kind, keyed by name (cached).

    Parameters
    ----------
    kind : {"price_sources", "availability_models", "solver_backends"}

    Returns
    -------
    dict
        name -> (class, distribution).

    Raises
    ------
    InputError
        If two distributions register one name (the message names both).
    """
    global _registries
    if _registries is None:
        _registries = {}
    if kind not in _registries:
        _registries[kind] = _collect(kind)
    return _registries[kind]


def lookup(kind: str, name: str, *, where: str) -> type:
    """The class registered under a name, or an error listing the installed ones.

    Parameters
    ----------
    kind : {"price_sources", "availability_models", "solver_backends"}
    name : str
        The requested name.
    where : str
        Where the name was given (``"[prices] source"``), for the message.

    Returns
    -------
    type

    Raises
    ------
    InputError
        Unknown name, or a plugin whose dependencies are not installed.
    """
    reg = registry(kind)
    if name not in reg:
        raise InputError(
            f"{where} = {name!r}: no {_KIND_WORDS[kind]} of that name; installed: {', '.join(sorted(reg)) or 'none'}"
        )
    cls, dist = reg[name]
    if not cls.is_available():
        usable = sorted(n for n, (c, _) in reg.items() if c.is_available())
        raise InputError(
            f"{where} = {name!r}: the {_KIND_WORDS[kind]} from {dist!r} needs a package that is not installed; "
            f"usable: {', '.join(usable)}"
        )
    return cls


def listing() -> list[PluginInfo]:
    """Every registered plugin class and model extension, for ``aggregator plugins``.

    Returns
    -------
    list of PluginInfo
    """
    rows: list[PluginInfo] = []
    for kind in _KINDS:
        for name, (cls, dist) in sorted(registry(kind).items()):
            doc = (cls.__doc__ or "").strip().splitlines()
            rows.append(PluginInfo(kind, name, dist, bool(cls.is_available()), doc[0] if doc else ""))
    for name, (function, dist, _) in sorted(model_extensions().items()):
        doc = (function.__doc__ or "").strip().splitlines()
        rows.append(PluginInfo("model_extensions", name, dist, True, doc[0] if doc else ""))
    return rows


def model_extension(name: str, options: Mapping[str, str] | None = None) -> Callable[[_F], _F]:
    """Name an ``aggregator_extend_model`` implementation and declare its options.

    The name is the key of the scenario's ``[extensions.<name>]`` table and what
    ``aggregator plugins`` lists; with ``options`` given, any other key in that
    table is an error naming it.  An implementation without this decorator is
    listed under its entry-point name and its options are not checked.

    Parameters
    ----------
    name : str
        The extension's name (a Python identifier, e.g. ``"grid_limit"``).
    options : mapping of str to str, optional
        Allowed keys of ``[extensions.<name>]`` and a short description of each.

    Returns
    -------
    callable
        A decorator that returns the function unchanged, with the attributes
        ``extension_name`` and ``extension_options`` set.

    Examples
    --------
    >>> @hookimpl
    ... @model_extension("grid_limit", options={"kw": "import limit in kW"})
    ... def aggregator_extend_model(model, inputs):
    ...     pass
    >>> aggregator_extend_model.extension_name, aggregator_extend_model.extension_options
    ('grid_limit', {'kw': 'import limit in kW'})
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"model extension name {name!r}: expected a Python identifier such as 'grid_limit'")

    def mark(function: _F) -> _F:
        function.extension_name = name  # type: ignore[attr-defined]
        function.extension_options = None if options is None else dict(options)  # type: ignore[attr-defined]
        return function

    return mark


def model_extensions() -> dict[str, tuple[Callable[..., Any], str, dict[str, str] | None]]:
    """The installed model extensions, keyed by name.

    Returns
    -------
    dict
        name -> (hook function, distribution, allowed option keys or None when
        the extension does not declare them).

    Raises
    ------
    InputError
        If two plugins use one extension name (names both distributions).
    """
    pm = get_plugin_manager()
    found: dict[str, tuple[Callable[..., Any], str, dict[str, str] | None]] = {}
    for impl in reversed(pm.hook.aggregator_extend_model.get_hookimpls()):  # registration order
        dist = _distribution(pm, impl)
        name = getattr(impl.function, "extension_name", None) or impl.plugin_name.rpartition(":")[2]
        if name in found:
            raise InputError(
                f"two plugins register the model extension {name!r}: distribution {found[name][1]!r} and "
                f"distribution {dist!r}; uninstall one of them"
            )
        found[name] = (impl.function, dist, getattr(impl.function, "extension_options", None))
    return found


def extension_hooks() -> list[Any]:
    """The hook implementations of ``aggregator_extend_model`` (possibly empty).

    Returns
    -------
    list
    """
    return list(get_plugin_manager().hook.aggregator_extend_model.get_hookimpls())


def iter_kinds() -> Iterable[str]:
    """The registry kinds.

    Returns
    -------
    iterable of str
    """
    return iter(_KINDS)
