"""The plugin manager: hook registration, entry-point loading, name registries.

Builtin plugins (:mod:`aggregator.builtin_plugins`) are registered through the
same hooks as third-party ones.  Third-party plugins are modules named by an
entry point in the group ``aggregator``; they are loaded here, one at a time,
so that a broken plugin becomes a warning naming its distribution instead of
breaking start-up.  ``AGGREGATOR_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point
loading off.

A hook may return a class or a :class:`LazyPlugin`, a class named by its
import path with what the listings need (name, summary, the modules it
requires, a backend's priority and description): the class is imported on
first use.  So ``aggregator plugins`` and ``aggregator solvers``, which name
every registered class, import none of linopy, xarray or pandas (the
builtins are registered this way, and so are the example plugin packages).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

import pluggy

from . import hookspecs
from .errors import InputError, PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "LazyPlugin",
    "lazy_exports",
    "PluginEntry",
    "PluginInfo",
    "get_plugin_manager",
    "reset_plugin_manager",
    "registry",
    "entries",
    "lookup",
    "optional_dependency",
    "PluginWarning",
    "model_extension",
    "extension_functions",
    "conflicts",
    "lookup_extension",
]

_F = TypeVar("_F", bound=Callable[..., Any])

ENTRY_POINT_GROUP = "aggregator"
hookimpl = pluggy.HookimplMarker("aggregator")

_KINDS = {
    "price_sources": "aggregator_register_price_sources",
    "availability_models": "aggregator_register_availability_models",
    "solver_backends": "aggregator_register_solver_backends",
    "model_extensions": "aggregator_register_model_extensions",
}
_KIND_WORDS = {
    "price_sources": "price source",
    "availability_models": "availability model",
    "solver_backends": "solver backend",
    "model_extensions": "model extension",
}

_HOOK_NAMES = tuple(sorted(name for name in dir(hookspecs) if name.startswith("aggregator_")))

#: The base class of each kind, as (module, class name): looked up in sys.modules, never imported
#: to check a class (a subclass of a base class cannot exist before the base's module is imported).
_BASES = {
    "price_sources": ("aggregator.prices", "PriceSource"),
    "availability_models": ("aggregator.availability", "AvailabilityModel"),
    "solver_backends": ("aggregator.solvers", "SolverBackend"),
    "model_extensions": ("aggregator.extensions", "ModelExtension"),
}

_manager: pluggy.PluginManager | None = None
_registries: dict[str, tuple[dict[str, "PluginEntry"], dict[str, tuple[str, ...]]]] | None = None


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
    conflict : str
        Empty, or why the name cannot be used (two distributions register it).
    options : dict
        Its declared options (name -> :class:`aggregator.options.Option`);
        ``None`` for a legacy extension hook that declares none, or when
        listed with ``with_options=False`` (see :func:`listing`).
    error : str
        Empty, or why its class cannot be used (it cannot be imported, or
        does not match its :class:`LazyPlugin` registration).
    """

    kind: str
    name: str
    distribution: str
    available: bool
    description: str
    conflict: str = ""
    options: Mapping[str, Any] | None = None
    error: str = ""


@dataclass(frozen=True)
class LazyPlugin:
    """A plugin class named by its import path, imported only when it is used.

    Return it from a ``register`` hook instead of the class, so that listing
    the plugins (``aggregator plugins``, ``aggregator solvers``, the
    ``auto`` choice of a backend) does not import the class's module and the
    heavy libraries it needs.  What the listings show is declared here; when
    the class is imported, the core checks that it agrees (a
    :class:`PluginWarning` names any difference, and the class wins).

    Parameters
    ----------
    path : str
        ``"package.module:ClassName"``.
    name : str
        The class's ``name`` (what a scenario selects it by).
    summary : str, optional
        The first line of the class's docstring, for ``aggregator plugins``
        (default: the class is imported to read it).
    requires : tuple of str
        Top-level modules the class needs beyond ``aggregator``'s own
        dependencies; it is available when :func:`importlib.util.find_spec`
        finds each of them (nothing is imported).  Must agree with the
        class's ``is_available()``.
    priority : int, optional
        A solver backend's ``priority`` (default: imported to read it).
    description : str, optional
        A solver backend's ``description`` (default: imported to read it).

    Examples
    --------
    >>> LazyPlugin("aggregator.prices:CsvPriceSource", name="csv",
    ...            summary='Prices read from a CSV file (source = "csv").').module
    'aggregator.prices'
    """

    path: str
    name: str
    summary: str | None = None
    requires: tuple[str, ...] = ()
    priority: int | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        module, _, attr = self.path.partition(":")
        if not module or not attr:
            raise ValueError(f"LazyPlugin path {self.path!r}: expected 'package.module:ClassName'")
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"LazyPlugin {self.path!r}: expected a name (a non-empty string)")
        object.__setattr__(self, "requires", tuple(self.requires))

    @property
    def module(self) -> str:
        """The module that defines the class.

        Returns
        -------
        str
        """
        return self.path.partition(":")[0]

    def import_class(self) -> type:
        """Import the module and return the class (no check; see :meth:`PluginEntry.load`).

        Returns
        -------
        type
        """
        target: Any = importlib.import_module(self.module)
        for attr in self.path.partition(":")[2].split("."):
            target = getattr(target, attr)
        return target


def lazy_exports(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (:pep:`562`) that imports each public name from its module on first use.

    A plugin package keeps its top module light (the command line imports it
    to list the plugin) and still offers its public names there.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    modules : mapping of str to str
        Public name -> the module that defines it (relative, such as ``".source"``, or absolute).

    Returns
    -------
    callable
        Assign it to the package's ``__getattr__``.

    Examples
    --------
    >>> getattr_ = lazy_exports("aggregator", {"InputError": ".errors"})
    >>> getattr_("InputError").__name__
    'InputError'
    """
    def __getattr__(name: str) -> Any:
        if name in modules:
            return getattr(importlib.import_module(modules[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_plugin_class(kind: str, cls: Any) -> bool:
    """Whether ``cls`` subclasses the base class of ``kind`` (without importing the base's module)."""
    module, attr = _BASES[kind]
    base_module = sys.modules.get(module)
    return isinstance(cls, type) and base_module is not None and issubclass(cls, getattr(base_module, attr))


class PluginEntry:
    """One registered plugin class: what the listings need, and the class on demand.

    Parameters
    ----------
    kind : str
        ``price_sources``, ``availability_models``, ``solver_backends`` or ``model_extensions``.
    target : type or LazyPlugin
        The class, or where to import it from.
    distribution : str
        The installed distribution that registers it.
    """

    def __init__(self, kind: str, target: "type | LazyPlugin", distribution: str) -> None:
        self.kind = kind
        self.distribution = distribution
        self._lazy = target if isinstance(target, LazyPlugin) else None
        self._class: type | None = None if self._lazy is not None else target
        self.name: str = self._lazy.name if self._lazy is not None else target.name
        self.path: str = self._lazy.path if self._lazy is not None else _class_path(target)

    def __repr__(self) -> str:
        return f"PluginEntry({self.kind!r}, {self.name!r}, {self.path!r}, distribution={self.distribution!r})"

    @property
    def loaded(self) -> bool:
        """Whether the class has been imported.

        Returns
        -------
        bool
        """
        return self._class is not None

    def load(self) -> type:
        """The class, imported on first use and checked against its registration.

        Returns
        -------
        type

        Raises
        ------
        PluginError
            The class cannot be imported, is not a subclass of the kind's base
            class, or has another ``name`` than it was registered under.
        """
        if self._class is not None:
            return self._class
        assert self._lazy is not None
        where = f"{_KIND_WORDS[self.kind]} {self.name!r} from distribution {self.distribution!r} ({self.path})"
        try:
            cls = self._lazy.import_class()
        except Exception as exc:
            raise PluginError(f"the {where} could not be imported: {type(exc).__name__}: {exc}") from exc
        module, attr = _BASES[self.kind]
        if not _is_plugin_class(self.kind, cls):
            raise PluginError(f"the {where} is {cls!r}; expected a subclass of {module.partition('.')[0]}.{attr}")
        if getattr(cls, "name", None) != self.name:
            raise PluginError(f"the {where} is registered as {self.name!r} but its class is named {cls.name!r}")
        for field_name, declared, actual in (
            ("summary", None if self._lazy.summary is None else plain_text(self._lazy.summary), _first_line(cls.__doc__)),
            ("priority", self._lazy.priority, getattr(cls, "priority", None)),
            ("description", self._lazy.description, getattr(cls, "description", None)),
        ):
            if declared is not None and declared != actual:
                warnings.warn(
                    f"the {where} declares {field_name} {declared!r} in its registration but its class has "
                    f"{actual!r}; the class's is used (update the LazyPlugin)",
                    PluginWarning,
                    stacklevel=2,
                )
        self._class = cls
        return cls

    def is_available(self) -> bool:
        """Whether the class's optional dependencies are installed (nothing is imported for a lazy entry).

        Returns
        -------
        bool
        """
        if self._class is not None:
            return bool(self._class.is_available())
        assert self._lazy is not None
        return all(optional_dependency(module) for module in self._lazy.requires)

    def _attribute(self, attr: str) -> Any:
        """What the registration declares (until the class is imported), else the class's own value."""
        declared = None if self._lazy is None or self._class is not None else getattr(self._lazy, attr)
        if declared is not None:
            return plain_text(declared) if attr == "summary" else declared
        cls = self.load()
        return _first_line(cls.__doc__) if attr == "summary" else getattr(cls, attr)

    @property
    def summary(self) -> str:
        """The first line of the class's docstring, plain text (str)."""
        return self._attribute("summary")

    @property
    def priority(self) -> int:
        """A solver backend's ``priority`` (int)."""
        return self._attribute("priority")

    @property
    def description(self) -> str:
        """A solver backend's ``description`` (str)."""
        return self._attribute("description")


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


def _conflict_error(kind: str, name: str, dists: Iterable[str], where: str = "") -> InputError:
    dists = sorted(set(dists))
    named = " and ".join(f"distribution {d!r}" for d in dists)
    return InputError(
        f"{where + ' = ' + repr(name) + ': ' if where else ''}two plugins register the {_KIND_WORDS[kind]} "
        f"{name!r}: {named}; uninstall one of them"
    )


def _collect(kind: str) -> tuple[dict[str, PluginEntry], dict[str, tuple[str, ...]]]:
    pm = get_plugin_manager()
    hook = getattr(pm.hook, _KINDS[kind])
    found: dict[str, PluginEntry] = {}
    clashes: dict[str, tuple[str, ...]] = {}
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
            if not isinstance(cls, LazyPlugin) and not _is_plugin_class(kind, cls):
                module, attr = _BASES[kind]
                warnings.warn(
                    f"plugin from distribution {dist!r} returned {cls!r} from {_KINDS[kind]}; expected a subclass "
                    f"of aggregator.{attr} or an aggregator.plugins.LazyPlugin; skipped",
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
            entry = PluginEntry(kind, cls, dist)
            if name in clashes:
                clashes[name] = tuple(sorted(set(clashes[name]) | {dist}))
                continue
            if name in found and found[name].path != entry.path:
                # Not an error here: only a scenario that uses the name fails (see lookup).
                clashes[name] = tuple(sorted({found.pop(name).distribution, dist}))
                continue
            found[name] = entry  # the same class again: the later registration names it
    return found, clashes


def registry(kind: str) -> dict[str, tuple[type, str]]:
    """The registered classes of one kind, keyed by name (every class is imported).

    Parameters
    ----------
    kind : {"price_sources", "availability_models", "solver_backends", "model_extensions"}

    Returns
    -------
    dict
        name -> (class, distribution).  A name that two distributions
        register is left out (see :func:`conflicts`): using it is an error
        naming both, but the other plugins keep working.  A class that
        cannot be imported is left out with a :class:`PluginWarning`.
        :func:`entries` names them without importing any.
    """
    found: dict[str, tuple[type, str]] = {}
    for name, entry in entries(kind).items():
        try:
            found[name] = (entry.load(), entry.distribution)
        except PluginError as exc:
            warnings.warn(f"{exc}; skipped", PluginWarning, stacklevel=2)
    return found


def entries(kind: str) -> dict[str, PluginEntry]:
    """The registered plugins of one kind, keyed by name, without importing their classes (cached).

    Parameters
    ----------
    kind : {"price_sources", "availability_models", "solver_backends", "model_extensions"}

    Returns
    -------
    dict
        name -> :class:`PluginEntry`; names that two distributions register
        are left out, as in :func:`registry`.
    """
    return dict(_collected(kind)[0])


def _collected(kind: str) -> tuple[dict[str, PluginEntry], dict[str, tuple[str, ...]]]:
    global _registries
    if _registries is None:
        _registries = {}
    if kind not in _registries:
        _registries[kind] = _collect(kind)
    return _registries[kind]


def conflicts(kind: str) -> dict[str, tuple[str, ...]]:
    """The names of one kind that more than one distribution registers.

    Parameters
    ----------
    kind : {"price_sources", "availability_models", "solver_backends", "model_extensions"}

    Returns
    -------
    dict
        name -> the distributions that register it (sorted).
    """
    clashes = dict(_collected(kind)[1])
    if kind == "model_extensions":
        classes = _collected(kind)[0]
        functions, function_clashes = _functions()
        for name, dists in function_clashes.items():
            clashes[name] = tuple(sorted(set(dists) | set(clashes.get(name, ()))))
        for name, (_, dist, _) in functions.items():
            if name in classes:
                clashes[name] = tuple(sorted({dist, classes[name].distribution}))
    return clashes


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
        Unknown name, a name two distributions register, or a plugin whose
        dependencies are not installed.
    PluginError
        The registered class cannot be imported or does not match its registration.
    """
    reg = entries(kind)
    clash = conflicts(kind).get(name)
    if clash:
        raise _conflict_error(kind, name, clash, where)
    if name not in reg:
        raise InputError(
            f"{where} = {name!r}: no {_KIND_WORDS[kind]} of that name; installed: {', '.join(sorted(reg)) or 'none'}"
        )
    entry = reg[name]
    if not entry.is_available():
        usable = sorted(n for n, e in reg.items() if e.is_available())
        raise InputError(
            f"{where} = {name!r}: the {_KIND_WORDS[kind]} from {entry.distribution!r} needs a package that is not "
            f"installed; usable: {', '.join(usable)}"
        )
    cls = entry.load()
    if not cls.is_available():  # the class's own check has the last word
        raise InputError(
            f"{where} = {name!r}: the {_KIND_WORDS[kind]} from {entry.distribution!r} needs a package that is not "
            "installed"
        )
    return cls


def listing(*, with_options: bool = True) -> list[PluginInfo]:
    """Every registered plugin class and model extension, for ``aggregator plugins``.

    A name that two distributions register is listed once per distribution,
    with :attr:`PluginInfo.conflict` saying so.

    Parameters
    ----------
    with_options : bool
        Fill in :attr:`PluginInfo.options` (this imports every class); with
        False they are ``None`` and only classes registered without a
        summary (see :class:`LazyPlugin`) are imported.

    Returns
    -------
    list of PluginInfo
    """
    rows: list[PluginInfo] = []
    for kind in _KINDS:
        registered = entries(kind)
        for name, entry in sorted(registered.items()):
            try:
                options = dict(entry.load().options) if with_options else None
                rows.append(PluginInfo(kind, name, entry.distribution, entry.is_available(), entry.summary,
                                       options=options))
            except PluginError as exc:
                rows.append(PluginInfo(kind, name, entry.distribution, False, "", error=str(exc)))
        if kind == "model_extensions":
            for name, (function, dist, options) in sorted(_functions()[0].items()):
                if name not in registered:
                    rows.append(PluginInfo(kind, name, dist, True, _first_line(function.__doc__), options=options))
        for name, dists in sorted(conflicts(kind).items()):
            for dist in dists:
                others = ", ".join(repr(d) for d in dists if d != dist)
                rows.append(PluginInfo(kind, name, dist, False, "", conflict=f"also registered by {others}; "
                                       "not usable until one of them is uninstalled"))
    rows.sort(key=lambda row: (list(_KINDS).index(row.kind), row.name, row.distribution))
    return rows


def _first_line(doc: str | None) -> str:
    """The first line of a docstring, without reST markup (for a terminal)."""
    lines = (doc or "").strip().splitlines()
    return plain_text(lines[0]) if lines else ""


def plain_text(text: str) -> str:
    """reST inline markup turned into plain text (``x`` -> x, :class:`~a.B` -> B).

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> plain_text("Prices from ``[prices] path`` (see :class:`~aggregator.PriceSignal`).")
    'Prices from [prices] path (see PriceSignal).'
    """
    import re

    text = re.sub(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", lambda m: m.group(1).rpartition(".")[2]
                  if m.group(0).count("~") else m.group(1), text)
    return text.replace("``", "")


def model_extension(name: str, options: Mapping[str, Any] | None = None) -> Callable[[_F], _F]:
    """Name an ``aggregator_extend_model`` implementation (the low-level hook) and declare its options.

    Prefer a :class:`~aggregator.ModelExtension` class: it is called only when
    the scenario names it.  This decorator is for the low-level hook, which is
    called for every model.  The name is the key of the scenario's
    ``[extensions.<name>]`` table and what ``aggregator plugins`` lists; with
    ``options`` given (descriptions or :class:`~aggregator.options.Option`
    objects), the table is checked against them.  An implementation without
    this decorator is listed under its entry-point name and its options are
    not checked.

    Parameters
    ----------
    name : str
        The extension's name (a Python identifier, e.g. ``"grid_limit"``).
    options : mapping of str to Option or str, optional
        Allowed keys of ``[extensions.<name>]``: typed options or a short description of each.

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


def _functions() -> tuple[dict[str, tuple[Callable[..., Any], str, dict[str, Any] | None]], dict[str, tuple[str, ...]]]:
    pm = get_plugin_manager()
    found: dict[str, tuple[Callable[..., Any], str, dict[str, Any] | None]] = {}
    clashes: dict[str, tuple[str, ...]] = {}
    for impl in reversed(pm.hook.aggregator_extend_model.get_hookimpls()):  # registration order
        dist = _distribution(pm, impl)
        name = getattr(impl.function, "extension_name", None) or impl.plugin_name.rpartition(":")[2]
        if name in clashes or name in found:
            clashes[name] = tuple(sorted(set(clashes.get(name, ())) | {found.pop(name, (None, dist))[1], dist}))
            continue
        found[name] = (impl.function, dist, getattr(impl.function, "extension_options", None))
    return found, clashes


def extension_functions() -> dict[str, tuple[Callable[..., Any], str, dict[str, Any] | None]]:
    """The installed ``aggregator_extend_model`` implementations (the low-level hook), keyed by name.

    Returns
    -------
    dict
        name -> (hook function, distribution, declared options or None when
        the implementation declares none).  Names that two plugins use are
        left out (see :func:`conflicts`).
    """
    return _functions()[0]


def lookup_extension(name: str) -> tuple[str, Any, str, Mapping[str, Any] | None]:
    """The model extension of a name: a :class:`~aggregator.ModelExtension` class or a hook function.

    Parameters
    ----------
    name : str
        The ``[extensions.<name>]`` name.

    Returns
    -------
    tuple
        ``(form, object, distribution, options)`` with ``form`` ``"class"``
        (object is the class) or ``"function"`` (object is the
        ``aggregator_extend_model`` implementation); ``options`` is the
        declared option mapping (``None``: not declared).

    Raises
    ------
    InputError
        No extension of that name (with a did-you-mean), or two plugins use it.
    """
    where = f"[extensions.{name}]"
    clash = conflicts("model_extensions").get(name)
    if clash:
        raise InputError(f"{where}: {_conflict_error('model_extensions', name, clash)}")
    classes, functions = entries("model_extensions"), extension_functions()
    if name in classes:
        entry = classes[name]
        dist = entry.distribution
        if not entry.is_available() or not entry.load().is_available():
            raise InputError(f"{where}: the model extension from {dist!r} needs a package that is not installed")
        cls = entry.load()
        return "class", cls, dist, dict(cls.options)
    if name in functions:
        function, dist, options = functions[name]
        return "function", function, dist, options
    installed = sorted(set(classes) | set(functions))
    close = difflib.get_close_matches(name, installed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(f"{where}: no model extension of that name{hint} (installed: {', '.join(installed) or 'none'})")


def extension_hooks() -> list[Any]:
    """The hook implementations of ``aggregator_extend_model`` (possibly empty).

    Only these low-level hooks can change a model the scenario did not ask
    to change, so only they need the probe of :meth:`aggregator.Aggregator.is_standard`.

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
