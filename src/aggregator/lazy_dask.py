"""xarray without importing ``dask.array`` until something uses dask arrays.

Whenever dask is installed, xarray imports ``dask.array`` (about a second on a
small machine, with scipy and much of pandas) the first time it builds a
variable: :func:`xarray.core.variable.as_compatible_data` asks
``isinstance(data, array_type("dask"))``, and ``array_type`` imports the
module to learn the class.  xarray has no option to defer that.

An object cannot be a dask array before ``dask.array`` has been imported, so
the answer is the same if the class is looked up only in
:data:`sys.modules`: importing this module registers, in xarray's cache of
duck-array modules, an entry for ``"dask"`` whose ``type`` is ``()`` until
``dask.array`` is imported (by anyone: a Dask sweep, a plugin, the user) and
its ``Array`` class from then on.  The entry's other facts (module, version,
availability) are xarray's own, looked up the first time they are asked for.
If xarray already filled that entry, or its internals differ from the ones
expected (another version), nothing is changed: xarray then imports
``dask.array`` as before, which is slower, never wrong.

Likewise ``DataArray.to_numpy`` asks ``is_dask_collection(data)``, which
imports ``dask.base`` (with dask's configuration, yaml, toolz, jinja2 and
psutil: 0.3 to 1 s) to call :func:`dask.base.is_dask_collection`.  That
function answers ``False`` for any object without a ``__dask_graph__``
attribute (a numpy array), so xarray's check is wrapped to give that answer
without the import, and to ask dask for any other object.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["dask_array_types", "is_dask_collection"]


def dask_array_types() -> tuple[type, ...]:
    """The dask array class if ``dask.array`` has been imported, else ``()`` (without importing it).

    Returns
    -------
    tuple of type
    """
    module = sys.modules.get("dask.array")
    cls = getattr(module, "Array", None)
    return (cls,) if isinstance(cls, type) else ()


def is_dask_collection(x: object) -> bool:
    """Whether ``x`` is a dask collection, as :func:`dask.base.is_dask_collection` says.

    Without a ``__dask_graph__`` attribute it is not (dask's own first test),
    and nothing is imported; otherwise dask is asked (when it is installed).

    Parameters
    ----------
    x : object

    Returns
    -------
    bool
    """
    if not hasattr(x, "__dask_graph__"):
        return False
    if _XARRAY_CHECK:
        return bool(_XARRAY_CHECK[0](x))
    try:
        from dask.base import is_dask_collection as dask_check
    except ImportError:
        return False
    return bool(dask_check(x))


#: xarray's own ``is_dask_collection``, once it is wrapped.
_XARRAY_CHECK: list = []


def _wrap_dask_collection_check() -> None:
    try:
        from xarray.namedarray import utils
    except ImportError:  # pragma: no cover - xarray is a dependency
        return
    original = getattr(utils, "is_dask_collection", None)
    if not callable(original) or original is is_dask_collection:
        return
    _XARRAY_CHECK.append(original)
    utils.is_dask_collection = is_dask_collection


def _register() -> None:
    try:
        from xarray.namedarray import pycompat
    except ImportError:  # pragma: no cover - xarray is a dependency
        return
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    base = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or not isinstance(base, type) or "dask" in cache:
        return

    class _LazyDask(base):  # type: ignore[misc, valid-type]
        """xarray's record of dask: the array class from sys.modules, the rest from xarray when asked."""

        def __init__(self) -> None:  # noqa: D107 - nothing is imported here
            self._full: Any = None

        @property
        def type(self) -> tuple[type, ...]:  # noqa: A003 - xarray's attribute name
            return dask_array_types()

        def _resolved(self) -> Any:
            if self._full is None:
                self._full = base("dask")
            return self._full

        module = property(lambda self: self._resolved().module)
        version = property(lambda self: self._resolved().version)
        available = property(lambda self: self._resolved().available)

    cache["dask"] = _LazyDask()


_register()
_wrap_dask_collection_check()
