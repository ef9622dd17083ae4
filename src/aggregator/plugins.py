"""The plugin manager: hook registration, entry-point loading, name registries.

Builtin plugins (:mod:`aggregator.builtin_plugins`) are registered through the
same hooks as third-party ones.  Third-party plugins are modules named by an
entry point in the group ``aggregator``; they are loaded here, one at a time,
so that a broken plugin becomes a warning naming its distribution instead of
breaking start-up.  ``AGGREGATOR_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point
loading off.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterable

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
]

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
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=f"{dist}:{ep.name}")
        except Exception as exc:  # a broken plugin must not break the program
            warnings.warn(
                f"plugin {ep.name!r} from distribution {dist!r} could not be loaded and is skipped: "
                f"{type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        _DISTRIBUTIONS[id(plugin)] = dist


_DISTRIBUTIONS: dict[int, str] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created and loaded on first use.

    Returns
    -------
    pluggy.PluginManager

    Raises
    ------
    pluggy.PluginValidationError
        If a plugin implements a hook that does not exist (a misspelled name).
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
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            plugin = exc.plugin
            name = pm.get_name(plugin) or repr(plugin)
            pm.unregister(plugin)
            warnings.warn(f"plugin {name!r} is skipped: {exc}", PluginWarning, stacklevel=2)
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
    """
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    pm.check_pending()
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
        for cls in classes:
            name = getattr(cls, "name", "")
            if not name:
                warnings.warn(f"{_KIND_WORDS[kind]} {cls!r} from {dist!r} has no name; skipped", PluginWarning)
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
    pm = get_plugin_manager()
    for impl in reversed(pm.hook.aggregator_extend_model.get_hookimpls()):
        doc = (impl.function.__doc__ or "").strip().splitlines()
        name = getattr(impl.function, "extension_name", impl.plugin_name)
        rows.append(PluginInfo("model_extensions", name, _distribution(pm, impl), True, doc[0] if doc else ""))
    return rows


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
