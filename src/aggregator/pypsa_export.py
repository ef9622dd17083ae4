"""A scenario's fleets as PyPSA components, to drop into a power-system model.

:func:`to_pypsa` turns an :class:`~aggregator.Aggregator` into a
:class:`pypsa.Network` whose optimum is the aggregator's (the documented model
without the exclusive-charging binary); :func:`export_pypsa` writes it as a
PyPSA netCDF file (``aggregator export-pypsa SCENARIO OUT.nc``).  PyPSA is an
optional dependency: ``python -m pip install "aggregator[pypsa]"``.

The network, in PyPSA's units (MW, MWh, currency/MWh), per fleet *f*:

=====================================  =========  ==========================================================
component                              class      the model's part (docs: "The model")
=====================================  =========  ==========================================================
``grid``                               Bus        the connection to the wholesale market
``market``                             Generator  buys (p > 0) and sells (p < 0) at ``marginal_cost`` = price
``f battery``                          Bus        the fleet's batteries
``f batteries``                        Store      ``S``: ``e_nom`` the largest ``soc_max``, ``e_max_pu`` /
                                                  ``e_min_pu`` the bounds ``soc_max`` / ``soc_min`` (which follow
                                                  the availability), ``e_initial`` = ``soc_initial``
``f charge``                           Link       ``P_in`` (grid side, bus0): efficiency ``charge_efficiency``,
                                                  ``p_max_pu`` the power bound
``f discharge``                        Link       ``P_out / discharge_efficiency`` (battery side, bus0):
                                                  efficiency ``discharge_efficiency``, marginal cost the wear
``f chargers``                         Bus        the shared charger limit ``P_in + P_out <= power_max``
``f charger capacity``                 Generator  ``p_max_pu`` the power bound; both links draw on it (bus2)
``f slack up`` / ``f slack down``      Generator  the slack energy ``sigma+`` / ``sigma-`` at the penalty
``f driving``                          Load       ``"energy"`` fleets' driving ``d``
=====================================  =========  ==========================================================

Snapshots are the steps; their weightings (objective, stores, generators) are
the step length, so a power in MW over a step is that many MWh.

What has no exact PyPSA equivalent:

* **Exclusive charging** (the binary ``u``) is not exported: PyPSA's linear
  optimisation cannot say "charge or discharge, not both".  The export is
  its convex hull, the shared charger limit ``P_in + P_out <= power_max``
  (``[model] exclusive_charging = false``), modelled exactly by the
  ``chargers`` bus: each link also draws its grid-side power from it
  (``bus2`` with ``efficiency2 = -1`` for charging, ``-discharge_efficiency``
  for discharging), and its ``charger capacity`` generator supplies at most
  the power bound.  At prices >= 0 this is the exclusive model's optimum too
  (see :func:`aggregator.formulation.binary_mask`); with negative prices and
  exclusive charging the export warns that it is the relaxation.
* **Slack energy** is energy, not power: the slack generators' output (MW)
  times the step length is ``sigma`` (MWh), at a marginal cost of
  ``1000 * slack_penalty`` per MWh; ``slack down`` runs between
  ``p_min_pu = -1`` and ``0`` with a negative marginal cost, so removing
  energy costs the penalty too.  Their ``p_nom`` is a bound the slack cannot
  usefully exceed (the largest energy bound plus a step's full discharge and
  driving).
* **Departure needs** (``min_soc``: a soft floor on the stored energy, priced
  shortfall), **"vehicles" fleets**, **model extensions**, **subclass model
  steps** and the **rolling horizon** have no component here: they are
  refused (the rolling horizon is exported as the perfect-foresight model,
  with a note in the log).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import InputError, InputWarning

if TYPE_CHECKING:  # pragma: no cover
    import pypsa

    from .aggregator import Aggregator

__all__ = ["to_pypsa", "export_pypsa", "pypsa_objective"]

log = logging.getLogger("aggregator")

#: PyPSA's carriers of the exported components.
CARRIERS = ("AC", "EV battery", "EV charger", "EV chargers", "slack", "market", "driving")


def _pypsa():
    try:
        import pypsa
    except ImportError:
        raise InputError(
            "exporting to PyPSA needs pypsa, which is not installed; install it with "
            "python -m pip install \"aggregator[pypsa]\" (or python -m pip install pypsa)"
        ) from None
    return pypsa


def _check_exportable(aggregator: "Aggregator") -> None:
    """Refuse what the network cannot represent, naming the setting."""
    if aggregator.extensions:
        raise InputError(
            f"[extensions] {', '.join(aggregator.extensions)}: model extensions have no PyPSA export; "
            "expected a scenario without [extensions]"
        )
    if not aggregator.is_standard():
        raise InputError(
            f"{type(aggregator).__name__} changes a model step (a subclass or an installed hook); "
            "only the documented model can be exported to PyPSA"
        )
    inputs = aggregator.inputs
    for fleet in aggregator.fleets:
        if fleet.representation == "vehicles":
            raise InputError(
                f"fleet {fleet.name!r}: representation 'vehicles' has no PyPSA export yet; "
                "expected representation 'study' or 'energy'"
            )
    if "soc_floor" in inputs and bool((inputs["soc_floor"] > 0).any()):
        named = [str(f) for f in inputs.indexes["fleet"] if float(inputs["soc_floor"].sel(fleet=f).max()) > 0]
        raise InputError(
            f"fleet {named[0]!r}: min_soc (a departure need priced as shortfall) has no PyPSA component; "
            "expected no min_soc in a scenario to export"
        )
    if aggregator.rolling is not None:
        log.info("[horizon] rolling: the PyPSA network is the perfect-foresight model of the whole horizon")
    if aggregator.exclusive_charging and bool((inputs["price"] < 0).any()):
        warnings.warn(
            "exclusive_charging = true and some prices are negative: PyPSA has no binary, so the network lets a "
            "fleet charge and discharge in one step within its shared charger limit (the model with "
            "exclusive_charging = false), which may be worth more at negative prices",
            InputWarning,
            stacklevel=3,
        )


def to_pypsa(aggregator: "Aggregator") -> "pypsa.Network":
    """The aggregator's fleets and prices as a :class:`pypsa.Network`.

    Parameters
    ----------
    aggregator : Aggregator
        A problem of ``"study"`` or ``"energy"`` fleets without departure
        needs or model extensions.

    Returns
    -------
    pypsa.Network
        Its components are listed in the module's documentation; solved with
        ``network.optimize()``, its objective (a cost, in the prices'
        currency) is minus the aggregator's objective (see
        :func:`pypsa_objective`).

    Raises
    ------
    InputError
        If pypsa is not installed, or the problem has a part that PyPSA
        cannot represent (the message names it).

    Warns
    -----
    InputWarning
        With exclusive charging and negative prices: the network is the
        relaxation without the binary.
    """
    pypsa = _pypsa()
    _check_exportable(aggregator)
    inputs = aggregator.inputs
    dt = float(inputs.attrs["step_hours"])
    penalty = float(inputs.attrs["slack_penalty"]) * 1000.0  # $/kWh -> $/MWh
    time = pd.DatetimeIndex(inputs.indexes["time"], name="snapshot")
    n = pypsa.Network(name=aggregator.name or "aggregator")
    n.set_snapshots(time)
    n.snapshot_weightings.loc[:, :] = dt
    for carrier in CARRIERS:
        n.add("Carrier", carrier)

    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=time)

    def per_unit(values: np.ndarray, nominal: float) -> pd.Series:
        return series(values / nominal if nominal > 0 else np.zeros_like(values))

    pmax_all = inputs["power_max"].transpose("time", "fleet").to_numpy() / 1000.0  # MW
    n.add("Bus", "grid", carrier="AC")
    market = max(float(pmax_all.max(axis=0).sum()), 1e-3)
    n.add("Generator", "market", bus="grid", carrier="market", p_nom=market, p_min_pu=-1.0, p_max_pu=1.0,
          marginal_cost=series(inputs["price"].to_numpy()))
    for j, name in enumerate(str(f) for f in inputs.indexes["fleet"]):
        fleet = inputs.sel(fleet=name)
        pmax = pmax_all[:, j]
        p_nom = float(pmax.max())
        soc_min = fleet["soc_min"].to_numpy() / 1000.0
        soc_max = fleet["soc_max"].to_numpy() / 1000.0
        s0 = float(fleet["soc_initial"]) / 1000.0
        driving = fleet["driving"].to_numpy() / 1000.0 if "driving" in fleet else np.zeros_like(soc_max)
        eta_in, eta_out = float(fleet["charge_efficiency"]), float(fleet["discharge_efficiency"])
        wear = float(fleet["wear_cost"]) * 1000.0 if "wear_cost" in fleet else 0.0
        battery, chargers = f"{name} battery", f"{name} chargers"
        n.add("Bus", battery, carrier="EV battery")
        n.add("Bus", chargers, carrier="EV chargers")
        e_nom = max(float(soc_max.max()), s0, 1e-9)
        n.add("Store", f"{name} batteries", bus=battery, carrier="EV battery", e_nom=e_nom, e_cyclic=False,
              e_initial=s0, e_min_pu=per_unit(soc_min, e_nom), e_max_pu=per_unit(soc_max, e_nom))
        n.add("Generator", f"{name} charger capacity", bus=chargers, carrier="EV chargers", p_nom=max(p_nom, 1e-9),
              p_max_pu=per_unit(pmax, p_nom))
        n.add("Link", f"{name} charge", bus0="grid", bus1=battery, bus2=chargers, carrier="EV charger",
              efficiency=eta_in, efficiency2=-1.0, p_nom=max(p_nom, 1e-9), p_max_pu=per_unit(pmax, p_nom))
        n.add("Link", f"{name} discharge", bus0=battery, bus1="grid", bus2=chargers, carrier="EV charger",
              efficiency=eta_out, efficiency2=-eta_out, p_nom=max(p_nom / eta_out, 1e-9),
              p_max_pu=per_unit(pmax, p_nom), marginal_cost=wear)
        # a bound the slack never usefully exceeds: the most energy the battery can hold, plus a step's
        # full discharge and driving, per step
        reach = 2.0 * (e_nom + p_nom * dt / eta_out + float(driving.max(initial=0.0))) / dt + 1.0
        n.add("Generator", f"{name} slack up", bus=battery, carrier="slack", p_nom=reach, marginal_cost=penalty)
        n.add("Generator", f"{name} slack down", bus=battery, carrier="slack", p_nom=reach, p_min_pu=-1.0,
              p_max_pu=0.0, marginal_cost=-penalty)
        if driving.any():
            n.add("Load", f"{name} driving", bus=battery, carrier="driving", p_set=series(driving / dt))
    return n


def pypsa_objective(network: "pypsa.Network") -> float:
    """The aggregator's objective ($) of a solved exported network: minus its cost.

    Parameters
    ----------
    network : pypsa.Network
        A network from :func:`to_pypsa`, after ``network.optimize()``.

    Returns
    -------
    float
    """
    constant = float(getattr(network, "objective_constant", 0.0) or 0.0)
    return -(float(network.objective) + constant)


def export_pypsa(aggregator: "Aggregator", path: str | Path, *, create_folder: bool = False) -> Path:
    """Write the network of :func:`to_pypsa` as a PyPSA netCDF file, atomically.

    Parameters
    ----------
    aggregator : Aggregator
    path : str or pathlib.Path
        The ``.nc`` file; read it back with ``pypsa.Network(path)``.
    create_folder : bool
        Create a missing folder instead of failing.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        As :func:`to_pypsa`, or when the path is not a ``.nc`` file in a
        writable folder.
    """
    from .atomic import atomic_path, check_output_folder

    path = Path(path)
    if path.suffix != ".nc":
        raise InputError(f"{path}: expected a .nc file (PyPSA's netCDF format)")
    check_output_folder(path, create=create_folder)
    network = to_pypsa(aggregator)
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            network.export_to_netcdf(str(tmp))
    return path
