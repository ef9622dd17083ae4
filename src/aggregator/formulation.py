"""The optimisation model as a labeled :class:`linopy.Model`, in small steps.

Each ``define_*`` function adds one part of the model described in the docs
(page "The model") to a :class:`linopy.Model` over the dimensions
``(time, fleet)``, reading everything it needs from the validated inputs
:class:`xarray.Dataset` built by :meth:`aggregator.Aggregator.inputs`.
:class:`aggregator.Aggregator` calls them in order; a subclass can replace or
extend any step.

Variables (result name, unit):

============  =====  ====================================================
name          unit   meaning
============  =====  ====================================================
charge        kW     grid-side charging power ``P_in``
discharge     kW     grid-side discharging power ``P_out``
soc           kWh    energy stored at the end of the step ``S``
slack_up      kWh    energy added without being bought (penalised)
slack_down    kWh    energy removed without being sold (penalised)
mode          --     1 = the fleet may charge, 0 = it may discharge
shortfall     kWh    departure need not met (priced at shortfall_penalty)
============  =====  ====================================================

``market_impact`` ($, over time: what moving the price costs) exists only with a price impact (``price_impact`` in the
inputs): it is the epigraph of ``beta_t q_t^2 dt`` over the tangents of
:func:`aggregator.price_impact.tangent_points` (a piecewise-linear outer
form, so the model stays a MILP that HiGHS solves; its optimum is an upper
bound and the accounting values the dispatch with the exact quadratic).
With a supply curve (``supply_quantity``/``supply_shift`` in the inputs) it
lies above the tangents of ``q s_t(q) dt`` per convex mode
(:func:`aggregator.price_impact.tangent_table`, both models); where a step has
several modes, ``supply_mode_on`` (binary), ``supply_mode_purchase`` (MW) and
``supply_mode_impact`` ($) over ``(time, supply_mode)`` choose one (the
disjunctive form of docs page "The model", "A residual-supply curve").

``shortfall`` exists only when a fleet has a departure need (``soc_floor``)
or is a ``"vehicles"`` fleet.  ``"vehicles"`` fleets add the same variables
per vehicle over ``(time, vehicle)`` (``vehicle_charge``, ...), each vehicle
its own battery, and rows that make the fleet's variables the sums of its
vehicles' (``vehicle_sum_*``); the fleet-level binary is left out there,
because different vehicles may charge and discharge in one step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:  # linopy is imported where a model is built: the dp path needs no linopy
    import linopy

__all__ = [
    "VARIABLES",
    "OPTIONAL_VARIABLES",
    "define_variables",
    "define_constraints",
    "define_objective",
    "build_model",
    "binary_mask",
    "has_shortfall",
    "net_out_simultaneous",
]

#: Model variables reported in a :class:`~aggregator.Result`, with their units.
VARIABLES: dict[str, str] = {
    "charge": "kW",
    "discharge": "kW",
    "soc": "kWh",
    "slack_up": "kWh",
    "slack_down": "kWh",
}

#: Variables reported when the model has them: the shortfall of departure needs
#: and the per-vehicle dispatch of "vehicles" fleets (over (time, vehicle)).
OPTIONAL_VARIABLES: dict[str, str] = {
    "shortfall": "kWh",
    "vehicle_charge": "kW",
    "vehicle_discharge": "kW",
    "vehicle_soc": "kWh",
    "vehicle_shortfall": "kWh",
}


def define_variables(model: linopy.Model, inputs: xr.Dataset) -> None:
    """Add the decision variables.

    Parameters
    ----------
    model : linopy.Model
        The model to extend.
    inputs : xarray.Dataset
        Validated inputs (``power_max``, ``soc_min``, ``soc_max`` over (time, fleet)).
    """
    coords = [inputs.indexes["time"], inputs.indexes["fleet"]]
    pmax = inputs["power_max"]
    model.add_variables(lower=0, upper=pmax, coords=coords, name="charge")
    model.add_variables(lower=0, upper=pmax, coords=coords, name="discharge")
    model.add_variables(lower=inputs["soc_min"], upper=inputs["soc_max"], coords=coords, name="soc")
    model.add_variables(lower=0, coords=coords, name="slack_up")
    model.add_variables(lower=0, coords=coords, name="slack_down")
    if inputs.attrs["exclusive_charging"]:
        model.add_variables(coords=coords, binary=True, name="mode", mask=binary_mask(inputs))
    if has_shortfall(inputs):
        model.add_variables(lower=0, coords=coords, name="shortfall")
    if "vehicle" in inputs.dims:
        _define_vehicle_variables(model, inputs)
    if _impact_mask(inputs) is not None:
        model.add_variables(lower=0, coords=[inputs.indexes["time"]], name="market_impact", mask=_impact_mask(inputs))


def _impact_mask(inputs: xr.Dataset) -> xr.DataArray | None:
    """Over time: where the price moves with the purchase (None: a price taker)."""
    from .price_impact import has_price_impact

    if not has_price_impact(inputs):
        return None
    if "supply_shift" in inputs:
        return (inputs["supply_shift"] != 0).any("supply_point") & (inputs["power_max"].sum("fleet") > 0)
    return inputs["price_impact"] > 0


def _define_impact_constraints(model: linopy.Model, inputs: xr.Dataset) -> None:
    """``market_impact_t`` above the tangents of ``q s_t(q) dt`` on the convex mode chosen (any price impact).

    The tangents come from :func:`aggregator.price_impact.tangent_table`
    (for a slope ``beta`` the tangents of ``beta_t q^2 dt`` at the points
    ``q_k``: ``2 beta_t q_k dt q - beta_t q_k^2 dt``).  With one mode per
    step: ``market_impact_t >= a_k q_t + c_k`` for each tangent.  Otherwise
    the disjunctive (convex-hull) form over the modes ``m`` of the step: a
    binary ``supply_mode_on`` (one per step), the net purchase split ``q_t =
    sum_m supply_mode_purchase`` with ``lo_m z_m <= u_m <= hi_m z_m``, and
    ``supply_mode_impact_m >= a_k u_m + c_k z_m``; ``market_impact_t >= sum_m
    supply_mode_impact_m``.
    """
    from .price_impact import tangent_table

    table = tangent_table(inputs)
    net = (model["charge"] - model["discharge"]).sum("fleet") / 1000.0  # MW
    impact = model["market_impact"].fillna(0)  # absent where the price does not move (the rows are masked there)
    if not table.several:
        first = {"supply_mode": 0}
        model.add_constraints(impact - table.slope.isel(first) * net >= table.intercept.isel(first),
                              name="market_impact_tangent", mask=table.tangent_mask.isel(first))
        return
    coords = [inputs.indexes["time"], table.mode_mask.indexes["supply_mode"]]
    mask = table.mode_mask
    # absent where a step has fewer modes: a sum over modes counts the present ones, other rows are masked
    on = model.add_variables(binary=True, coords=coords, name="supply_mode_on", mask=mask).fillna(0)
    part = model.add_variables(coords=coords, name="supply_mode_purchase", mask=mask).fillna(0)
    cost = model.add_variables(coords=coords, name="supply_mode_impact", mask=mask).fillna(0)
    step = _impact_mask(inputs)
    model.add_constraints(on.sum("supply_mode") == 1, name="supply_mode_choice", mask=step)
    model.add_constraints(net - part.sum("supply_mode") == 0, name="supply_mode_split", mask=step)
    model.add_constraints(part - table.lower * on >= 0, name="supply_mode_lower", mask=mask)
    model.add_constraints(part - table.upper * on <= 0, name="supply_mode_upper", mask=mask)
    model.add_constraints(cost - table.slope * part - table.intercept * on >= 0, name="market_impact_tangent",
                          mask=table.tangent_mask)
    model.add_constraints(impact - cost.sum("supply_mode") >= 0, name="market_impact_modes", mask=step)


def has_shortfall(inputs: xr.Dataset) -> bool:
    """Whether the model has a ``shortfall`` variable (some departure need, or a "vehicles" fleet).

    Parameters
    ----------
    inputs : xarray.Dataset

    Returns
    -------
    bool
    """
    return "vehicle" in inputs.dims or ("soc_floor" in inputs and bool((inputs["soc_floor"] > 0).any()))


def _vehicle_fleets(inputs: xr.Dataset) -> xr.DataArray:
    """Over fleet: True for "vehicles" fleets."""
    reps = inputs.attrs.get("representations", {})
    return xr.DataArray([reps.get(f) == "vehicles" for f in inputs.indexes["fleet"]], dims="fleet",
                        coords={"fleet": inputs["fleet"]})


def _vehicle_data(inputs: xr.Dataset) -> xr.Dataset:
    from .vehicles import vehicle_inputs

    arrays = vehicle_inputs(inputs)
    coords = {"time": inputs["time"], "vehicle": inputs["vehicle"]}
    data = xr.Dataset(coords=coords)
    for key in ("power_max", "driving", "soc_floor"):
        data[key] = (("time", "vehicle"), arrays[key])
    for key in ("soc_min", "soc_max", "soc_initial"):
        data[key] = ("vehicle", arrays[key])
    owner = arrays["fleet"]
    for key in ("charge_efficiency", "discharge_efficiency", "shortfall_penalty"):
        data[key] = ("vehicle", inputs[key].to_numpy()[owner])
    # the fleet each vehicle belongs to, as a (vehicle, fleet) 0/1 matrix for the sums
    member = np.zeros((owner.size, inputs.sizes["fleet"]))
    member[np.arange(owner.size), owner] = 1.0
    data["member"] = (("vehicle", "fleet"), member)
    data = data.assign_coords(fleet=inputs["fleet"])
    return data


def _define_vehicle_variables(model: linopy.Model, inputs: xr.Dataset) -> None:
    v = _vehicle_data(inputs)
    coords = [inputs.indexes["time"], inputs.indexes["vehicle"]]
    model.add_variables(lower=0, upper=v["power_max"], coords=coords, name="vehicle_charge")
    model.add_variables(lower=0, upper=v["power_max"], coords=coords, name="vehicle_discharge")
    lower = v["soc_min"].broadcast_like(v["power_max"]).transpose("time", "vehicle")
    upper = v["soc_max"].broadcast_like(v["power_max"]).transpose("time", "vehicle")
    model.add_variables(lower=lower, upper=upper, coords=coords, name="vehicle_soc")
    model.add_variables(lower=0, coords=coords, name="vehicle_slack_up")
    model.add_variables(lower=0, coords=coords, name="vehicle_slack_down")
    model.add_variables(lower=0, coords=coords, name="vehicle_shortfall")
    if inputs.attrs["exclusive_charging"]:
        mask = xr.ones_like(v["power_max"], dtype=bool)
        if inputs.attrs.get("binaries", "all") != "all":
            mask = mask & (inputs["price"] < 0)
        model.add_variables(coords=coords, binary=True, name="vehicle_mode", mask=mask.transpose("time", "vehicle"))


def _define_vehicle_constraints(model: linopy.Model, inputs: xr.Dataset) -> None:
    """Each vehicle's power limits, balance and departure need; fleet variables = sums over vehicles."""
    v = _vehicle_data(inputs)
    dt = float(inputs.attrs["step_hours"])
    charge, discharge, soc = model["vehicle_charge"], model["vehicle_discharge"], model["vehicle_soc"]
    pmax = v["power_max"]
    model.add_constraints(charge + discharge <= pmax, name="vehicle_power_limit")
    if inputs.attrs["exclusive_charging"]:
        mode = model["vehicle_mode"].fillna(0)
        mask = xr.ones_like(pmax, dtype=bool)
        if inputs.attrs.get("binaries", "all") != "all":
            mask = mask & (inputs["price"] < 0)
        model.add_constraints(charge - pmax * mode <= 0, name="vehicle_charge_limit", mask=mask)
        model.add_constraints(discharge + pmax * mode <= pmax, name="vehicle_discharge_limit", mask=mask)
    flow = (
        (v["charge_efficiency"] * dt) * charge
        - (dt / v["discharge_efficiency"]) * discharge
        + model["vehicle_slack_up"]
        - model["vehicle_slack_down"]
    )
    previous = soc.shift(time=1).fillna(0)
    initial = xr.zeros_like(v["power_max"])
    initial[0, :] = v["soc_initial"].to_numpy()
    model.add_constraints(soc - previous - flow == initial - v["driving"], name="vehicle_energy_balance")
    model.add_constraints(soc + model["vehicle_shortfall"] >= v["soc_floor"], name="vehicle_need")
    member = v["member"]
    chosen = _vehicle_fleets(inputs)
    for name in ("charge", "discharge", "soc", "slack_up", "slack_down", "shortfall"):
        total = (model[f"vehicle_{name}"] * member).sum("vehicle")
        model.add_constraints(model[name] - total == 0, name=f"vehicle_sum_{name}", mask=chosen.broadcast_like(inputs["soc_min"]))


def define_constraints(model: linopy.Model, inputs: xr.Dataset) -> None:
    """Add the power limits and the energy balance.

    With ``exclusive_charging`` the binary ``mode`` forbids charging and
    discharging in the same step; without it the fleet's chargers are shared
    (``charge + discharge <= power_max``), which is the continuous relaxation.

    Parameters
    ----------
    model : linopy.Model
        The model, with the variables of :func:`define_variables`.
    inputs : xarray.Dataset
        Validated inputs.
    """
    charge, discharge, soc = model["charge"], model["discharge"], model["soc"]
    pmax = inputs["power_max"]
    dt = float(inputs.attrs["step_hours"])
    # The convex hull of {charge <= pmax*u, discharge <= pmax*(1-u), u binary}: valid
    # always, and the whole power limit where the binary is not needed.
    model.add_constraints(charge + discharge <= pmax, name="power_limit")
    if inputs.attrs["exclusive_charging"]:
        mode = model["mode"].fillna(0)  # absent where the binary is not needed (masked below)
        mask = binary_mask(inputs)
        model.add_constraints(charge - pmax * mode <= 0, name="charge_limit", mask=mask)
        model.add_constraints(discharge + pmax * mode <= pmax, name="discharge_limit", mask=mask)
    eta_in = inputs["charge_efficiency"]
    eta_out = inputs["discharge_efficiency"]
    flow = (eta_in * dt) * charge - (dt / eta_out) * discharge + model["slack_up"] - model["slack_down"]
    # S_t - S_{t-1} - flow_t = 0, with S_0 = S_init moved to the right-hand side of the first step.
    previous = soc.shift(time=1).fillna(0)
    initial = xr.zeros_like(inputs["soc_min"])
    initial[0, :] = inputs["soc_initial"].to_numpy()
    driving = inputs["driving"] if "driving" in inputs else 0.0
    model.add_constraints(soc - previous - flow == initial - driving, name="energy_balance")
    if has_shortfall(inputs):
        # the departure need: S_t + shortfall_t >= soc_floor_t (a "vehicles" fleet's shortfall is its vehicles' sum)
        need = xr.ones_like(inputs["soc_min"], dtype=bool)
        if "vehicle" in inputs.dims:
            need = need & ~_vehicle_fleets(inputs)
        model.add_constraints(soc + model["shortfall"] >= inputs["soc_floor"], name="departure_need", mask=need)
    if "vehicle" in inputs.dims:
        _define_vehicle_constraints(model, inputs)
    if "market_impact" in model.variables:
        _define_impact_constraints(model, inputs)


def binary_mask(inputs: xr.Dataset) -> xr.DataArray:
    """Where the exclusive-charging binary is needed, over (time, fleet).

    With ``inputs.attrs["binaries"] == "all"`` everywhere.  With
    ``"negative_prices"`` (the default for the documented model) only at steps
    with a negative price: at a price >= 0 charging and discharging at once can
    never raise the objective, because ``charge_efficiency * discharge_efficiency <= 1``,
    so the convex-hull power limit alone is exact there (see
    :func:`net_out_simultaneous` for the tie case).

    Parameters
    ----------
    inputs : xarray.Dataset

    Returns
    -------
    xarray.DataArray of bool
    """
    everywhere = xr.ones_like(inputs["power_max"], dtype=bool)
    if "vehicle" in inputs.dims:  # a "vehicles" fleet's binaries are per vehicle
        everywhere = everywhere & ~_vehicle_fleets(inputs)
    if inputs.attrs.get("binaries", "all") == "all":
        return everywhere
    return everywhere & (inputs["price"] < 0)


def net_out_simultaneous(solution: xr.Dataset, inputs: xr.Dataset, tol: float = 0.0) -> xr.Dataset:
    """Replace simultaneous charging and discharging by its net flow, where the price is >= 0.

    Keeps every step's change of stored energy, so the state of charge and all
    bounds are unchanged, and never lowers the revenue: for net charging the
    grid purchase falls from ``p`` and sale ``q`` to ``p - q / (eta_in * eta_out)``;
    for net discharging the sale becomes ``q - eta_in * eta_out * p``.  Used
    after solving a model whose binaries were kept only at negative prices,
    where a solver may return such a tie (price exactly 0, or lossless fleets).

    Parameters
    ----------
    solution : xarray.Dataset
        ``charge`` and ``discharge`` over (time, fleet).
    inputs : xarray.Dataset
        The inputs the model was built from.
    tol : float
        Flows at or below this are left alone.

    Returns
    -------
    xarray.Dataset
        A copy with ``charge`` and ``discharge`` netted where needed.
    """
    out = solution
    if "vehicle_charge" in solution:
        out = _net_out_vehicles(solution, inputs, tol)
    charge = out["charge"].transpose("time", "fleet").to_numpy().copy()
    discharge = out["discharge"].transpose("time", "fleet").to_numpy().copy()
    eta_in = np.broadcast_to(inputs["charge_efficiency"].to_numpy()[None, :], charge.shape)
    eta_out = np.broadcast_to(inputs["discharge_efficiency"].to_numpy()[None, :], charge.shape)
    both = (np.minimum(charge, discharge) > tol) & (inputs["price"].to_numpy()[:, None] >= 0)
    if "vehicle" in inputs.dims:  # a "vehicles" fleet's totals may charge and discharge (different vehicles)
        both &= ~_vehicle_fleets(inputs).to_numpy()[None, :]
    if not both.any():
        return out
    charge, discharge = _net(charge, discharge, eta_in, eta_out, both)
    out = out.copy()
    out["charge"] = (("time", "fleet"), charge)
    out["discharge"] = (("time", "fleet"), discharge)
    return out


def _net(charge, discharge, eta_in, eta_out, both):
    """Net out simultaneous flows where ``both`` (see :func:`net_out_simultaneous`)."""
    eta = eta_in * eta_out
    net = eta_in * charge - discharge / eta_out  # change of stored energy per hour
    p, q = charge[both], discharge[both]
    n, e = net[both], eta[both]
    charging = n >= 0
    charge, discharge = charge.copy(), discharge.copy()
    charge[both] = np.where(charging, p - q / e, 0.0)
    discharge[both] = np.where(charging, 0.0, q - e * p)
    return np.clip(charge, 0.0, None), np.clip(discharge, 0.0, None)


def _net_out_vehicles(solution: xr.Dataset, inputs: xr.Dataset, tol: float) -> xr.Dataset:
    """Net out each vehicle's simultaneous flows at prices >= 0; the fleet totals follow."""
    charge = solution["vehicle_charge"].transpose("time", "vehicle").to_numpy()
    discharge = solution["vehicle_discharge"].transpose("time", "vehicle").to_numpy()
    owner = inputs["vehicle_fleet"].to_numpy()
    eta_in = np.broadcast_to(inputs["charge_efficiency"].to_numpy()[owner][None, :], charge.shape)
    eta_out = np.broadcast_to(inputs["discharge_efficiency"].to_numpy()[owner][None, :], charge.shape)
    both = (np.minimum(charge, discharge) > tol) & (inputs["price"].to_numpy()[:, None] >= 0)
    if not both.any():
        return solution
    charge, discharge = _net(charge, discharge, eta_in, eta_out, both)
    out = solution.copy()
    out["vehicle_charge"] = (("time", "vehicle"), charge)
    out["vehicle_discharge"] = (("time", "vehicle"), discharge)
    member = np.zeros((owner.size, inputs.sizes["fleet"]))
    member[np.arange(owner.size), owner] = 1.0
    chosen = _vehicle_fleets(inputs).to_numpy()
    for name, values in (("charge", charge), ("discharge", discharge)):
        fleet = out[name].transpose("time", "fleet").to_numpy().copy()
        fleet[:, chosen] = (values @ member)[:, chosen]
        out[name] = (("time", "fleet"), fleet)
    return out


def define_objective(model: linopy.Model, inputs: xr.Dataset) -> None:
    """Maximise arbitrage revenue minus the slack penalty, battery wear and shortfall.

    ``sum(price / 1000 * (discharge - charge) * dt) - M * sum(slack_up + slack_down)
    - sum(wear_cost * discharge * dt / discharge_efficiency) - sum(shortfall_penalty * shortfall)
    - sum(market_impact)``
    in $, with price in $/MWh, power in kW, dt in hours and M in $/kWh (the
    last three terms only where they are non-zero; ``market_impact`` is the
    tangent form of ``sum(price_impact * q^2 * dt)``, see the module docstring).

    Parameters
    ----------
    model : linopy.Model
        The model, with the variables of :func:`define_variables`.
    inputs : xarray.Dataset
        Validated inputs.
    """
    dt = float(inputs.attrs["step_hours"])
    penalty = float(inputs.attrs["slack_penalty"])
    value = inputs["price"] * (dt / 1000.0)
    revenue = (value * model["discharge"]).sum() - (value * model["charge"]).sum()
    slack = (model["slack_up"] + model["slack_down"]).sum()
    objective = revenue - penalty * slack
    if "wear_cost" in inputs and bool((inputs["wear_cost"] > 0).any()):
        objective = objective - ((inputs["wear_cost"] * dt / inputs["discharge_efficiency"]) * model["discharge"]).sum()
    if "shortfall" in model.variables:
        objective = objective - (inputs["shortfall_penalty"] * model["shortfall"]).sum()
    if "market_impact" in model.variables:
        objective = objective - model["market_impact"].sum()
    model.add_objective(objective, sense="max")


def build_model(inputs: xr.Dataset) -> linopy.Model:
    """Build the whole model from inputs with the three ``define_*`` steps.

    Parameters
    ----------
    inputs : xarray.Dataset
        Validated inputs.

    Returns
    -------
    linopy.Model
    """
    import linopy

    model = linopy.Model(force_dim_names=True)
    define_variables(model, inputs)
    define_constraints(model, inputs)
    define_objective(model, inputs)
    return model
