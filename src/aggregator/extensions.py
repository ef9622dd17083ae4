"""Model extensions: a plugin kind that adds rows to the linopy model.

A *model extension* is a class with a ``name`` and typed ``options``,
registered through the ``aggregator_register_model_extensions`` hook like the
other plugin kinds.  It is used only when a scenario names it
(``[extensions.<name>]``, or ``Aggregator(..., extensions={name: options})``);
an installed extension that is not named never touches the model.

An extension that only limits the fleets' summed power declares its rows as
:class:`~aggregator.coupling.PowerCoupling` objects in :meth:`ModelExtension.couplings`;
the default :meth:`ModelExtension.add_to_model` then writes exactly those rows
(:func:`~aggregator.coupling.add_coupling_rows`), so that the structure-aware
decomposition backend knows the problem is the documented model plus these
rows.  An extension with other rows (new variables, objective terms)
overrides :meth:`ModelExtension.add_to_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .coupling import PowerCoupling, add_coupling_rows

if TYPE_CHECKING:  # pragma: no cover
    import linopy
    import xarray as xr

    from .options import Option

__all__ = ["ModelExtension"]


class ModelExtension:
    """Base class of model extensions (a plugin kind).

    Subclasses set :attr:`name` and :attr:`options` and implement
    :meth:`couplings` (rows that are per-step limits on the fleets' summed
    power) or :meth:`add_to_model` (any other rows), and register the class
    from the ``aggregator_register_model_extensions`` hook.

    Attributes
    ----------
    name : str
        The name a scenario uses in ``[extensions.<name>]``.
    options : dict of str to Option
        The keys of the ``[extensions.<name>]`` table (see
        :class:`aggregator.options.Option`); any other key is an error.

    Examples
    --------
    A cap on the fleets' summed net import, as a declared coupling:

    >>> from aggregator.options import Option
    >>> class ImportCap(ModelExtension):
    ...     '''A cap on the fleets' summed net import.'''
    ...     name = "import_cap"
    ...     options = {"kw": Option(float, "the cap", unit="kW", minimum=0, required=True)}
    ...
    ...     def couplings(self, options, *, inputs):
    ...         fleets = list(inputs.indexes["fleet"])
    ...         return [PowerCoupling.create(self.name, fleets, inputs.sizes["time"], import_kw=options["kw"])]
    """

    name: ClassVar[str] = ""
    options: ClassVar[Mapping[str, "Option | str"]] = {}

    @classmethod
    def is_available(cls) -> bool:
        """Whether the optional dependencies of this extension are installed (cheap check)."""
        return True

    def couplings(self, options: Mapping[str, Any], *, inputs: "xr.Dataset") -> list[PowerCoupling]:
        """The rows of this extension that are per-step limits on the fleets' summed power.

        Parameters
        ----------
        options : mapping
            The ``[extensions.<name>]`` table, checked against :attr:`options`
            (defaults filled in).
        inputs : xarray.Dataset
            The validated inputs over (time, fleet) (see :attr:`aggregator.Aggregator.inputs`).

        Returns
        -------
        list of PowerCoupling
            Default: none.
        """
        return []

    def add_to_model(self, model: "linopy.Model", options: Mapping[str, Any], *, inputs: "xr.Dataset") -> None:
        """Add this extension's rows to the model.

        The default adds the rows of :meth:`couplings` and nothing else;
        override it for rows that are not couplings (and call ``super()`` to
        keep the couplings).

        Parameters
        ----------
        model : linopy.Model
            The model, with variables ``charge``, ``discharge``, ``soc``,
            ``slack_up``, ``slack_down``, ``mode`` over (time, fleet).
        options : mapping
            The checked ``[extensions.<name>]`` table.
        inputs : xarray.Dataset
            The validated inputs.
        """
        for coupling in self.couplings(options, inputs=inputs):
            add_coupling_rows(model, coupling, inputs)
