"""Aggregator: fleets and prices in, a labeled model out, solved into a Result."""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import formulation, plugins
from .diagnostics import profitable_slack_price
from .errors import InputError, InputWarning, PluginError, SolveError
from .coupling import PowerCoupling
from .extensions import ModelExtension
from .fleet import Fleet
from .needs import UnmetNeeds, unmet_needs
from .options import validate_options
from .prices import PriceSignal
from .result import Result
from .rolling import RollingSpec
from .solvers import SolveOutcome, SolverBackend, SolverOptions, check_threads
from .timezones import TIMEZONE_ATTR, utc_naive

if TYPE_CHECKING:  # imported where a model is built (build_model): a standard model solved by dp needs no linopy
    import linopy

__all__ = ["Aggregator"]

log = logging.getLogger(__name__)

_PARAMETERS = {
    "vehicles": "",
    "battery_kwh": "kWh",
    "charger_kw": "kW",
    "charge_efficiency": "1",
    "discharge_efficiency": "1",
    "contract_limit": "1",
    "initial_soc": "1",
}


#: The largest slack penalty accepted, in $/kWh (a thousand times the study's 1000 $/kWh).
MAX_SLACK_PENALTY = 1e6
#: The largest price magnitude accepted, in $/MWh (fifty times the highest market price caps, ~20,000 $/MWh).
MAX_ABS_PRICE = 1e6


def _number(x: float) -> str:
    """A number for messages: readable whatever its magnitude (``1e+308``, not 309 digits)."""
    return f"{x:.4g}"


class Aggregator:
    """An aggregator of EV fleets facing one wholesale price: the optimisation problem.

    The model is built in overridable steps -- :meth:`define_variables`,
    :meth:`define_constraints`, :meth:`define_objective`, then
    :meth:`extend_model` (which calls the plugins' ``aggregator_extend_model``
    hook) -- so a subclass can add or replace one step with ``super()``.

    Parameters
    ----------
    fleets : sequence of Fleet
        The fleets; names must be unique.
    prices : PriceSignal
        Wholesale prices in $/MWh.
    hours : float, optional
        Length of the horizon in hours; default: the length of the price series.
    slack_penalty : float
        Penalty M on slack energy in $/kWh.
    exclusive_charging : bool
        Forbid a fleet from charging and discharging in the same step (binary).
    extensions : mapping, optional
        Options of model extensions by name (the scenario's ``[extensions]`` table).
    solver : str
        Default backend for :meth:`solve` (``"auto"`` picks the fastest that supports the problem).
    solver_options : mapping, optional
        Default ``mip_gap``, ``time_limit``, ``threads`` and backend-specific options.
    name : str
        A label for the scenario, kept in the result's attributes.
    rolling : mapping or RollingSpec, optional
        Rolling-horizon operation (``{"window_hours": 48, "commit_hours": 24}``):
        :meth:`solve` then solves window by window, carrying the state of charge
        forward, and reports the loss against perfect foresight (see
        :func:`aggregator.rolling.solve_rolling`).  Default: one solve of the
        whole horizon.
    price_impact : float or array_like, optional
        The aggregator is a price maker: the price it pays or receives is
        ``price + price_impact * q`` with ``q`` the net purchase of all fleets
        in MW; ``price_impact`` ($/MWh per MW, ``>= 0``) is one number or one
        value per step of ``prices`` (:mod:`aggregator.price_impact`); or a
        piecewise-linear supply curve per step, ``price + s_t(q)``
        (:class:`aggregator.supply_curve.SupplyCurve`).
        Default: a price taker.

    Examples
    --------
    Two hours, 10 $/MWh then 100 $/MWh; one lossless 1-vehicle fleet of 10 kWh
    and 10 kW that starts empty: buy 10 kWh for 0.10 $, sell them for 1.00 $.

    >>> fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10,
    ...               charge_efficiency=1.0, discharge_efficiency=1.0,
    ...               contract_limit=1.0, initial_soc=0.0, availability=[1, 1])
    >>> result = Aggregator([fleet], PriceSignal([10.0, 100.0])).solve(solver="highs")
    >>> result.status, round(result.profit, 6)
    ('optimal', 0.9)
    """

    def __init__(
        self,
        fleets: Sequence[Fleet],
        prices: PriceSignal,
        *,
        hours: float | None = None,
        slack_penalty: float = 1000.0,
        exclusive_charging: bool = True,
        extensions: Mapping[str, Mapping[str, Any]] | None = None,
        solver: str = "auto",
        solver_options: Mapping[str, Any] | None = None,
        name: str = "",
        rolling: Mapping[str, Any] | RollingSpec | None = None,
        price_impact: Any = None,
    ) -> None:
        fleets = list(fleets)
        if not fleets:
            raise InputError("no fleets: expected at least one fleet")
        seen: set[str] = set()
        for fleet in fleets:
            if not isinstance(fleet, Fleet):
                raise InputError(f"fleets: {fleet!r} is not a Fleet")
            if fleet.name in seen:
                raise InputError(f"fleet name {fleet.name!r} appears twice; expected unique names")
            seen.add(fleet.name)
        if not isinstance(prices, PriceSignal):
            raise InputError(f"prices: {type(prices).__name__} is not a PriceSignal")
        if isinstance(slack_penalty, bool) or not isinstance(slack_penalty, (int, float)) or not slack_penalty > 0:
            raise InputError(f"slack_penalty = {slack_penalty!r}; expected a number of $/kWh > 0")
        if not math.isfinite(slack_penalty) or slack_penalty > MAX_SLACK_PENALTY:
            raise InputError(
                f"slack_penalty = {_number(slack_penalty)} $/kWh is out of range; expected a number of $/kWh > 0 and "
                f"at most {MAX_SLACK_PENALTY:.0e} (any penalty above what a kWh can earn keeps slack to what the "
                "bounds force; larger ones only ruin the solvers' arithmetic)"
            )
        if not isinstance(exclusive_charging, bool):
            raise InputError(f"exclusive_charging = {exclusive_charging!r}; expected true or false")
        step = prices.step_hours
        if hours is None:
            steps = len(prices)
        else:
            if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours < math.inf:
                raise InputError(f"hours = {hours!r}; expected a number of hours > 0")
            steps = int(round(hours / step))
            if abs(steps * step - hours) > 1e-9 * max(1.0, hours) or steps < 1:
                raise InputError(f"hours = {hours!r} is not a whole number of {step}-hour steps")
        impact = None
        from .supply_curve import SupplyCurve

        if isinstance(price_impact, SupplyCurve):
            if price_impact.steps not in (steps, len(prices)):
                raise InputError(f"price_impact: the supply curve has {price_impact.steps} steps; expected one per "
                                 f"step of the prices ({len(prices)})")
            impact = price_impact[:steps]
        elif price_impact is not None:
            from .price_impact import impact_profile

            given = np.asarray(price_impact, dtype=object)
            count = len(prices) if given.ndim == 1 and given.size == len(prices) else steps
            impact = impact_profile(price_impact, count)[:steps]
        if impact is not None:
            if rolling is not None:
                raise InputError("price_impact with a rolling horizon is not supported yet; expected one of the two")
        self.price_impact: np.ndarray | SupplyCurve | None = impact
        prices = prices.head(steps)
        too_large = np.flatnonzero(~(np.abs(prices.values) <= MAX_ABS_PRICE))
        if too_large.size:
            i = int(too_large[0])
            raise InputError(
                f"prices ({prices.source}): step {i} ({prices.time[i]}) is {_number(float(prices.values[i]))} $/MWh; "
                f"expected a price between -{MAX_ABS_PRICE:.0e} and {MAX_ABS_PRICE:.0e} $/MWh "
                f"({too_large.size:,} step(s) outside)"
            )
        for fleet in fleets:
            if fleet.steps < steps:
                raise InputError(
                    f"fleet {fleet.name!r}: availability has {fleet.steps} steps but the horizon needs {steps}; "
                    "shorten the horizon or supply a longer profile"
                )
        self.fleets: list[Fleet] = fleets
        self.prices: PriceSignal = prices
        self.slack_penalty = float(slack_penalty)
        self.exclusive_charging = exclusive_charging
        self.extensions: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (extensions or {}).items()}
        self.solver = solver
        self.solver_options: dict[str, Any] = dict(solver_options or {})
        self.name = name
        self.rolling: RollingSpec | None = None if rolling is None else RollingSpec.from_mapping(rolling)
        if self.rolling is not None:
            self.rolling.steps(step)
            if any(f.representation == "vehicles" for f in fleets):
                raise InputError(
                    "[horizon] rolling: a 'vehicles' fleet cannot be operated with a rolling horizon yet (each "
                    "vehicle's state of charge would have to be carried between windows); expected representation "
                    "'energy' or 'study' with rolling"
                )
        self._inputs: xr.Dataset | None = None
        self._model_changed_by_extensions: bool | None = None
        self._extension_delta: tuple[tuple[str, ...], tuple[str, ...], bool] | None = None
        self._coupling_check: tuple[tuple, linopy.Model | None] | None = None
        self._warn_about_inputs()

    def __repr__(self) -> str:
        from . import labels

        p = self.prices
        name = f" {self.name!r}" if self.name else ""
        model = ["exclusive charging" if self.exclusive_charging else "shared chargers",
                 f"slack_penalty {self.slack_penalty:g} $/kWh", f"solver {self.solver!r}"]
        if self.extensions:
            model.append(f"extensions {', '.join(self.extensions)}")
        if self.rolling is not None:
            model.append(f"rolling {self.rolling.window_hours:g} h / {self.rolling.commit_hours:g} h")
        shown = 8
        lines = [
            f"<Aggregator{name}: {len(self.fleets)} fleet{'s' if len(self.fleets) != 1 else ''}, "
            f"{self.steps:,} steps of {labels.hours(self.step_hours)}, {labels.span(p.time, p.step_hours)} "
            f"{labels.time_zone(p)}; {'; '.join(model)}",
            f"  prices {p.values.min():,.2f} to {p.values.max():,.2f} {labels.currency(p)}/MWh "
            f"(mean {p.values.mean():,.2f}) from {p.source!r}",
        ]
        for f in self.fleets[:shown]:
            lines.append(
                f"  fleet {f.name!r}: {f.vehicles:,g} x {f.battery_kwh:g} kWh, {f.charger_kw:g} kW, "
                f"contract_limit {f.contract_limit:g}, mean availability {float(f.availability[: self.steps].mean()):.2f}"
                + (f", {f.representation}" if f.representation != "study" else "")
            )
        if len(self.fleets) > shown:
            lines.append(f"  ... and {len(self.fleets) - shown} more fleets")
        return "\n".join(lines) + ">"

    def _warn_about_inputs(self) -> None:
        """Warn (:class:`~aggregator.errors.InputWarning`) about allowed inputs that make slack certain or profitable."""
        dt, penalty = self.step_hours, self.slack_penalty
        for f in self.fleets:
            cap, k = f.capacity_kwh, float(f.availability[0]) if f.representation == "study" else 1.0
            s0, smax = f.initial_soc * cap, cap * k
            smin = (1 - f.contract_limit) * smax
            pmax = f.power_kw * float(f.power_profile[0])
            if s0 > smax:
                reach = pmax * dt / f.discharge_efficiency
                missing, side = s0 - reach - smax, f"above the first step's maximum {smax:,.1f} kWh (availability {k:g} x {cap:,.1f} kWh)"
                move = f"discharging at full power removes at most {reach:,.1f} kWh in the first step"
            elif s0 < smin:
                reach = pmax * dt * f.charge_efficiency
                missing = smin - s0 - reach
                side = (
                    f"below the first step's minimum {smin:,.1f} kWh ((1 - contract_limit {f.contract_limit:g}) x "
                    f"availability {k:g} x {cap:,.1f} kWh)"
                )
                move = f"charging at full power adds at most {reach:,.1f} kWh in the first step"
            else:
                continue
            what = f"fleet {f.name!r}: initial_soc = {f.initial_soc:g} ({s0:,.1f} kWh) is {side}"
            if missing <= 1e-9 * max(1.0, cap):
                log.info("%s; the first step must move the state of charge into its bounds", what)
                continue
            warnings.warn(
                f"{what}; {move}, so slack will cover {missing:,.1f} kWh at {penalty:,g} $/kWh "
                f"({missing * penalty:,.2f} $ of penalty) where the model allows slack (a model without slack "
                "is infeasible); expected an initial_soc within the first step's bounds",
                InputWarning,
                stacklevel=3,
            )
        worth = profitable_slack_price(self.prices.values, [f.charge_efficiency for f in self.fleets])
        if penalty <= worth:
            warnings.warn(
                f"slack_penalty = {penalty:g} $/kWh is not above {worth:,.4g} $/kWh, what a kWh of slack energy can "
                "earn at these prices (largest |price| / 1000 / charge_efficiency): the optimiser may create or "
                f"destroy energy for profit; expected a penalty above {worth:,.4g} $/kWh",
                InputWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ inputs
    @property
    def steps(self) -> int:
        """Number of time steps in the horizon."""
        return len(self.prices)

    @property
    def step_hours(self) -> float:
        """Length of a step in hours (Δt)."""
        return self.prices.step_hours

    @property
    def inputs(self) -> xr.Dataset:
        """The validated inputs as one :class:`xarray.Dataset` over (time, fleet).

        Data variables: ``price`` ($/MWh, time); ``price_impact`` ($/MWh per
        MW, time; only for a price maker); ``availability`` and
        ``power_availability`` (share, time x fleet); the fleet parameters
        (fleet); the derived bounds ``power_max`` (kW), ``soc_min``,
        ``soc_max`` (kWh) over (time, fleet) and ``soc_initial`` (kWh, fleet);
        ``driving`` and ``soc_floor`` (kWh, time x fleet), ``wear_cost`` and
        ``shortfall_penalty`` ($/kWh, fleet) for the fleet representations,
        and for "vehicles" fleets the ``vehicle`` and ``trip`` dimensions
        (:doc:`/model`, "Fleet representations").
        Attributes: ``step_hours``, ``slack_penalty``, ``exclusive_charging``,
        ``extensions``, ``representations``, ``vehicle_results``, ``vehicle_min_soc``,
        ``currency`` and, when the prices have a zone, ``timezone``.  The
        ``time`` coordinate is in UTC when the prices have a zone, which is then
        its attribute ``timezone`` (:func:`aggregator.timezones.local_time`
        gives the local stamps).
        """
        if self._inputs is None:
            self._inputs = self._build_inputs()
        return self._inputs

    def _build_inputs(self) -> xr.Dataset:
        n = self.steps
        # The time axis in UTC (unique and evenly spaced); its zone is the coordinate's attribute.
        time_index = pd.DatetimeIndex(utc_naive(self.prices.time), name="time")
        fleet_index = pd.Index([f.name for f in self.fleets], name="fleet")
        coords = {"time": time_index, "fleet": fleet_index}
        energy = np.stack([f.availability[:n] for f in self.fleets], axis=1)
        # without a power profile of its own a fleet's power follows its availability: one array for both
        power = energy if all(f.power_availability is None for f in self.fleets) else \
            np.stack([f.power_profile[:n] for f in self.fleets], axis=1)
        ds = xr.Dataset(coords=coords)
        zone = self.prices.timezone
        if zone is not None:
            ds["time"].attrs[TIMEZONE_ATTR] = zone
        ds["price"] = xr.DataArray(self.prices.values, dims="time", attrs={"units": self.prices.unit})
        ds["availability"] = xr.DataArray(energy, dims=("time", "fleet"), attrs={"units": "1"})
        ds["power_availability"] = xr.DataArray(power, dims=("time", "fleet"), attrs={"units": "1"})
        for field_name, unit in _PARAMETERS.items():
            values = [getattr(f, field_name) for f in self.fleets]
            ds[field_name] = xr.DataArray(np.asarray(values, float), dims="fleet", attrs={"units": unit})
        # the derived bounds in numpy (time x fleet, contiguous), in the order of the formulas' operations
        vehicles = ds["vehicles"].to_numpy()
        capacity = vehicles * ds["battery_kwh"].to_numpy()
        dims = ("time", "fleet")
        ds["power_max"] = xr.DataArray((vehicles * ds["charger_kw"].to_numpy()) * power, dims=dims, attrs={"units": "kW"})
        ds["soc_max"] = xr.DataArray(capacity * energy, dims=dims, attrs={"units": "kWh"})
        ds["soc_min"] = xr.DataArray((1 - ds["contract_limit"].to_numpy()) * capacity * energy, dims=dims, attrs={"units": "kWh"})
        ds["soc_initial"] = xr.DataArray(ds["initial_soc"].to_numpy() * capacity, dims="fleet", attrs={"units": "kWh"})
        self._add_representation_inputs(ds, n)
        from .price_impact import curve_variables, moves_price
        from .supply_curve import SupplyCurve

        if isinstance(self.price_impact, SupplyCurve):
            ds.update(curve_variables(self.price_impact, ds["time"]))
        elif self.price_impact is not None:
            ds["price_impact"] = xr.DataArray(self.price_impact, dims="time", attrs={"units": "$/MWh per MW"})
        impact = moves_price(self.price_impact)
        ds.attrs.update(
            step_hours=self.step_hours,
            slack_penalty=self.slack_penalty,
            exclusive_charging=self.exclusive_charging,
            extensions=self.extensions,
            price_source=self.prices.source,
            # only when given (the inputs' hash of every earlier scenario is unchanged)
            **({"currency": self.prices.currency} if self.prices.currency else {}),
            **({TIMEZONE_ATTR: zone} if zone is not None else {}),
            # Binaries only at negative prices is exact for the documented model;
            # a subclass step or a configured extension may change that, so keep them all.
            # With price impact simultaneous flows can pay at any price (they move the price less).
            binaries="negative_prices" if self._overridden_steps() == [] and not self.extensions and not impact else "all",
        )
        return ds

    # ------------------------------------------------- fleet representations
    def _add_representation_inputs(self, ds: xr.Dataset, n: int) -> None:
        """Driving, departure needs, wear and (for "vehicles" fleets) the trips, in the inputs.

        ``"energy"`` and ``"vehicles"`` fleets store the energy of all their
        batteries: constant bounds ``[(1 - c) N E, N E]``.  ``driving`` (kWh,
        time x fleet) leaves the stored energy in the balance; ``soc_floor``
        (kWh, time x fleet) is the departure need, met or priced as shortfall
        at ``shortfall_penalty`` ($/kWh, fleet); ``wear_cost`` ($/kWh, fleet)
        is charged on battery-side discharge.  For "vehicles" fleets the
        fleet's arrays are the sums over its vehicles, and the trips are kept
        on a ``trip`` dimension (``trip_vehicle``, ``trip_first``,
        ``trip_last``, ``trip_energy``) with the vehicles on ``vehicle``
        (``vehicle_fleet``: index of the fleet).
        """
        from .vehicles import VehicleSchedule

        driving = np.zeros((n, len(self.fleets)))
        floor = np.zeros((n, len(self.fleets)))
        smin = ds["soc_min"].to_numpy()
        smax = ds["soc_max"].to_numpy()
        if any(f.representation != "study" for f in self.fleets):  # their bounds change below
            smin, smax = smin.copy(), smax.copy()
        labels, owner = [], []
        trips = {"trip_vehicle": [], "trip_first": [], "trip_last": [], "trip_energy": []}
        for j, f in enumerate(self.fleets):
            if f.representation == "study":
                continue
            cap = f.capacity_kwh
            smax[:, j] = cap
            smin[:, j] = (1 - f.contract_limit) * cap
            if f.representation == "energy":
                driving[:, j] = f.vehicles * f.profile("driving_kwh", n)
                floor[:, j] = cap * f.profile("min_soc", n)
                _check_driving(f, driving[:, j], ds["power_max"].values[:, j], self.step_hours)
                charge = f.charge_efficiency * ds["power_max"].values[:, j] * self.step_hours
                unmet = unmet_needs(f.initial_soc * cap, smin[0, j], cap, charge, driving[:, j], floor[:, j])
                _warn_unmet(f, ds.indexes["time"], [(f.name, unmet)], self._shortfall_rate(f))
                continue
            schedule: VehicleSchedule = f.trips
            _, drive, departs = schedule.totals(n)
            driving[:, j] = drive
            _check_driving(f, drive, ds["power_max"].values[:, j], self.step_hours)
            need = f.battery_kwh * float(f.profile("min_soc", 1)[0])
            floor[:, j] = departs * need
            if need > 0:
                rate = f.charge_efficiency * f.charger_kw * self.step_hours
                found = [
                    (f"{f.name}/{schedule.ids[v]}", unmet_needs(f.initial_soc * f.battery_kwh, (1 - f.contract_limit) * f.battery_kwh,
                                                                f.battery_kwh, plugged * rate, d, dep * need))
                    for v, plugged, d, dep in schedule.iter_vehicles(n)
                ]
                _warn_unmet(f, ds.indexes["time"], found, self._shortfall_rate(f))
            offset = len(labels)
            labels += [f"{f.name}/{v}" for v in schedule.ids]
            owner += [j] * schedule.count
            trips["trip_vehicle"].append(schedule.vehicle + offset)
            trips["trip_first"].append(schedule.first)
            trips["trip_last"].append(schedule.last)
            trips["trip_energy"].append(schedule.energy)
        ds["soc_min"].values = smin
        ds["soc_max"].values = smax
        dims = ("time", "fleet")
        ds["driving"] = xr.DataArray(driving, dims=dims, attrs={"units": "kWh"})
        ds["soc_floor"] = xr.DataArray(floor, dims=dims, attrs={"units": "kWh"})
        ds["wear_cost"] = xr.DataArray([f.wear_cost for f in self.fleets], dims="fleet", attrs={"units": "$/kWh"})
        ds["shortfall_penalty"] = xr.DataArray(
            [self._shortfall_rate(f) for f in self.fleets],
            dims="fleet",
            attrs={"units": "$/kWh"},
        )
        if labels:
            ds.coords["vehicle"] = pd.Index(labels, name="vehicle")
            ds["vehicle_fleet"] = xr.DataArray(np.asarray(owner, dtype=np.int64), dims="vehicle")
            for key, parts in trips.items():
                ds[key] = xr.DataArray(np.concatenate(parts), dims="trip")
            ds["trip_energy"].attrs["units"] = "kWh"
        ds.attrs["representations"] = {f.name: f.representation for f in self.fleets}
        vehicle_fleets = [f for f in self.fleets if f.representation == "vehicles"]
        ds.attrs["vehicle_results"] = {f.name: f.vehicle_results for f in vehicle_fleets}
        ds.attrs["vehicle_min_soc"] = {f.name: float(f.profile("min_soc", 1)[0]) for f in vehicle_fleets}

    def _shortfall_rate(self, fleet: Fleet) -> float:
        """The fleet's shortfall penalty ($/kWh): its own, else the slack penalty."""
        return self.slack_penalty if fleet.shortfall_penalty is None else fleet.shortfall_penalty

    # ------------------------------------------------------------------- model
    def define_variables(self, model: linopy.Model, inputs: xr.Dataset) -> None:
        """Add the variables (see :func:`aggregator.formulation.define_variables`).

        Parameters
        ----------
        model : linopy.Model
        inputs : xarray.Dataset
        """
        formulation.define_variables(model, inputs)

    def define_constraints(self, model: linopy.Model, inputs: xr.Dataset) -> None:
        """Add the constraints (see :func:`aggregator.formulation.define_constraints`).

        Parameters
        ----------
        model : linopy.Model
        inputs : xarray.Dataset
        """
        formulation.define_constraints(model, inputs)

    def define_objective(self, model: linopy.Model, inputs: xr.Dataset) -> None:
        """Set the objective (see :func:`aggregator.formulation.define_objective`).

        Parameters
        ----------
        model : linopy.Model
        inputs : xarray.Dataset
        """
        formulation.define_objective(model, inputs)

    def configured_extensions(self) -> list[tuple[str, ModelExtension, dict[str, Any]]]:
        """The model extension classes this problem names, with their checked options.

        Only :class:`~aggregator.ModelExtension` classes are returned; names
        that belong to a low-level ``aggregator_extend_model`` hook are left
        to :meth:`extend_model`.

        Returns
        -------
        list of tuple
            ``(name, extension instance, options)`` in the order of
            :attr:`extensions`; ``options`` is the table checked against the
            class's declared options, defaults filled in.

        Raises
        ------
        InputError
            An unknown extension name, a name two plugins register, or a bad option.
        """
        configured = []
        for name, table in self.extensions.items():
            form, found, _, declared = plugins.lookup_extension(name)
            if form == "class":
                options = validate_options(declared, table, f"[extensions.{name}]")
                configured.append((name, found(), options))
        return configured

    def _run_extension(self, name: str, step: Callable[[], Any]) -> Any:
        """Run one step of a configured extension; a failure other than bad input names its distribution."""
        try:
            return step()
        except InputError:
            raise
        except Exception as exc:
            dist = plugins.lookup_extension(name)[2]
            raise SolveError(
                f"model extension {name!r} from distribution {dist!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def extend_model(self, model: linopy.Model, inputs: xr.Dataset) -> None:
        """Let the configured model extensions add their rows, then the low-level hooks.

        Each :class:`~aggregator.ModelExtension` the problem names
        (:meth:`configured_extensions`) adds its rows
        (:meth:`~aggregator.ModelExtension.add_to_model`).  Then every
        implementation of the low-level ``aggregator_extend_model`` hook is
        called on its own, so that a failure names its distribution: one the
        scenario asked for (``[extensions.<name>]``) that fails is an error;
        one it did not ask for is skipped with a warning.

        Parameters
        ----------
        model : linopy.Model
        inputs : xarray.Dataset

        Raises
        ------
        InputError
            Re-raised from an extension that rejects its options.
        SolveError
            An extension the scenario asked for failed.
        """
        for name, extension, options in self.configured_extensions():
            self._run_extension(name, lambda: extension.add_to_model(model, options, inputs=inputs))
        requested = set(inputs.attrs.get("extensions") or {})
        for name, (function, dist, _) in plugins.extension_functions().items():
            try:
                function(model=model, inputs=inputs)
            except InputError:
                raise
            except Exception as exc:
                what = f"model extension {name!r} from distribution {dist!r} failed: {type(exc).__name__}: {exc}"
                if name in requested:
                    raise SolveError(what) from exc
                warnings.warn(what + "; skipped", plugins.PluginWarning, stacklevel=2)

    def build_model(self) -> linopy.Model:
        """Build the labeled :class:`linopy.Model` over (time, fleet).

        Returns
        -------
        linopy.Model
        """
        import linopy

        inputs = self.inputs
        model = linopy.Model(force_dim_names=True)
        self.define_variables(model, inputs)
        self.define_constraints(model, inputs)
        self.define_objective(model, inputs)
        before = _model_signature(model)
        self.extend_model(model, inputs)
        after = _model_signature(model)
        self._model_changed_by_extensions = after != before
        self._extension_delta = _signature_delta(before, after)
        if self._model_changed_by_extensions and inputs.attrs["binaries"] != "all":
            # An extension changed the model: the reduced binaries may no longer be exact.
            inputs.attrs["binaries"] = "all"
            return self.build_model()
        return model

    def _overridden_steps(self) -> list[str]:
        cls = type(self)
        steps = ("define_variables", "define_constraints", "define_objective", "extend_model", "build_model")
        return [step for step in steps if getattr(cls, step) is not getattr(Aggregator, step)]

    def is_standard(self) -> bool:
        """Whether the problem is exactly the documented model (no subclass step, no extension).

        Structure-aware backends solve only standard problems; others fall back
        to a general MILP backend.  A problem with configured ``extensions`` is
        never standard.  :class:`~aggregator.ModelExtension` classes act only
        when configured; installed low-level ``aggregator_extend_model`` hooks
        (which are called for every model) are checked, on a two-step probe,
        to leave an unconfigured model alone.

        Returns
        -------
        bool
        """
        if self._overridden_steps() or self.extensions:
            return False
        if not plugins.extension_hooks():
            return True
        if self._model_changed_by_extensions is None:
            # Low-level hooks must act only when the scenario names them; check that the
            # installed ones keep to it on a two-step probe instead of building the whole model.
            probe = Aggregator(
                [f.with_options(**{**f.window_options(0, 2), "representation": "study", "driving_kwh": None,
                                   "min_soc": None, "trips": None, "power_availability": None})
                 for f in self.fleets[:1]],
                self.prices.head(min(2, self.steps)),
                slack_penalty=self.slack_penalty,
                exclusive_charging=self.exclusive_charging,
            )
            probe.build_model()
            self._model_changed_by_extensions = probe._model_changed_by_extensions
        return not self._model_changed_by_extensions

    # --------------------------------------------------------------- couplings
    def declared_couplings(self) -> list["PowerCoupling"]:
        """The coupling rows that the configured model extensions declare (see :mod:`aggregator.coupling`).

        The couplings of every :class:`~aggregator.ModelExtension` the problem
        names (:meth:`~aggregator.ModelExtension.couplings`), in the order of
        :attr:`extensions`; none without extensions.  The structure-aware
        decomposition backend uses them; the rows are also in the model (the
        default :meth:`~aggregator.ModelExtension.add_to_model` writes them
        with :func:`aggregator.coupling.add_coupling_rows`).  A subclass may
        override this to declare rows its own steps add.

        Returns
        -------
        list of PowerCoupling

        Raises
        ------
        InputError
            An extension rejects its options (a fleet it does not know, a
            profile of the wrong length).
        """
        inputs = self.inputs
        declared: list[PowerCoupling] = []
        for name, extension, options in self.configured_extensions():
            declared.extend(self._run_extension(name, lambda: list(extension.couplings(options, inputs=inputs))))
        return declared

    def couplings(self) -> list["PowerCoupling"] | None:
        """The couplings, if the problem is the documented model plus exactly the declared coupling rows.

        The check builds only what the extensions add: the model's variables,
        then :meth:`extend_model` on them (no documented row, no objective), and
        compares the rows added with those
        :func:`~aggregator.coupling.add_coupling_rows` writes for the
        declarations, coefficient by coefficient and limit by limit.  A
        declaration that differs from the rows in name, fleets, coefficients,
        sense or limits, or an extension that adds a variable, an objective
        term or any other row, is not a coupling.  The verdict is kept for
        the same declarations (the solution check reuses the small model).

        Returns
        -------
        list of PowerCoupling or None
            ``[]`` for the standard model; the declared couplings when the
            model differs from the standard one only by exactly their
            constraints (no new variable, no objective term, no other row, no
            overridden ``define_*`` step); ``None`` otherwise.
        """
        declared = self.declared_couplings()
        if not declared:
            return [] if self.is_standard() else None
        if {"define_variables", "define_constraints", "define_objective", "build_model"} & set(
            self._overridden_steps()
        ):
            return None
        key = tuple((c.name, c.fleets, c.import_kw.tobytes(), c.export_kw.tobytes()) for c in declared)
        if self._coupling_check is None or self._coupling_check[0] != key:
            self._coupling_check = (key, self._coupling_rows_model(declared))
        return declared if self._coupling_check[1] is not None else None

    def _coupling_rows_model(self, declared: list["PowerCoupling"]) -> linopy.Model | None:
        """The model's variables plus the extensions' rows, if those rows are exactly the declared ones (else None)."""
        import linopy

        from .coupling import add_coupling_rows, same_rows

        inputs = self.inputs
        model = linopy.Model(force_dim_names=True)
        self.define_variables(model, inputs)
        before = _model_signature(model)
        try:
            self.extend_model(model, inputs)
        except InputError:
            raise
        except Exception:  # an extension that needs the documented rows: check on the whole model
            if self._extension_delta is None:
                self.build_model()
            added_variables, added_constraints, objective_changed = self._extension_delta
            expected = {name for coupling in declared for name in coupling.constraint_names}
            if added_variables or objective_changed or set(added_constraints) != expected:
                return None
            model = self.build_model()
        else:
            added_variables, added_constraints, objective_changed = _signature_delta(before, _model_signature(model))
            expected = {name for coupling in declared for name in coupling.constraint_names}
            if added_variables or objective_changed or set(added_constraints) != expected:
                return None
        reference = linopy.Model(force_dim_names=True)
        self.define_variables(reference, inputs)
        for coupling in declared:
            add_coupling_rows(reference, coupling, inputs)
        if all(same_rows(model.constraints[name], reference.constraints[name]) for name in expected):
            return model
        return None

    def _checked_coupling_model(self) -> linopy.Model | None:
        """The variables-plus-coupling-rows model, when :meth:`couplings` accepted the declarations."""
        if self._coupling_check is None or self._coupling_check[1] is None:
            return None
        return self._coupling_check[1] if self.couplings() is not None else None

    # ------------------------------------------------------------------- solve
    def backend(self, name: str | None = None) -> tuple[SolverBackend, str]:
        """The backend a solve would use, and why.

        Parameters
        ----------
        name : str, optional
            A backend name or ``"auto"``; default: the aggregator's ``solver``.

        Returns
        -------
        tuple of (SolverBackend, str)
            The backend instance and a sentence on the choice.

        Raises
        ------
        InputError
            Unknown or unavailable backend name (lists the installed ones).
        """
        name = name or self.solver or "auto"
        if name != "auto":
            cls = plugins.lookup("solver_backends", name, where="[solver] name")
            backend = cls()
            reason = backend.supports(self)
            if reason:
                raise InputError(f"[solver] name = {name!r} cannot solve this problem: {reason}")
            return backend, "requested"
        # In priority order, importing only the backends tried: a standard model imports dp alone.
        candidates = sorted(
            (entry for entry in plugins.entries("solver_backends").values() if entry.is_available()),
            key=lambda entry: -entry.priority,
        )
        skipped = [
            f"{name} skipped: registered by {' and '.join(repr(d) for d in dists)}"
            for name, dists in sorted(plugins.conflicts("solver_backends").items())
        ]
        for position, entry in enumerate(candidates):
            try:
                cls = entry.load()
            except PluginError as exc:  # a broken plugin must not stop auto: the next backend is tried
                warnings.warn(f"{exc}; skipped", plugins.PluginWarning, stacklevel=2)
                skipped.append(f"{entry.name} skipped: cannot be imported")
                continue
            backend = cls()
            reason = backend.supports(self)
            if reason is None:
                note = f"auto chose {cls.name}"
                if entry.distribution != "aggregator":
                    note += self._outside_choice_note(cls, entry.distribution, candidates[position + 1 :])
                if skipped:
                    note += " (" + "; ".join(skipped) + ")"
                return backend, note
            skipped.append(f"{cls.name} skipped: {reason}")
        raise InputError("no installed solver backend supports this problem: " + "; ".join(skipped))

    def _outside_choice_note(self, cls: type, dist: str, rest: list[plugins.PluginEntry]) -> str:
        """What ``auto`` says when it picks a backend from outside the core over an exact builtin one."""
        exact = [entry.name for entry in rest if entry.distribution == "aggregator" and _exact_and_supports(entry, self)]
        note = f" from the outside distribution {dist!r} (priority {cls.priority})"
        if exact:
            note += (
                f" over the exact builtin {', '.join(exact)} (lower priority); its results are checked by the core, "
                f"name a builtin backend to use it"
            )
        return note

    def solve(
        self,
        solver: str | None = None,
        *,
        mip_gap: float | None = None,
        time_limit: float | None = None,
        threads: int | None = None,
        verbose: bool = False,
        **options: Any,
    ) -> Result:
        """Solve the problem and return a :class:`Result`.

        Parameters
        ----------
        solver : str, optional
            Backend name or ``"auto"`` (default: the aggregator's ``solver``).
        mip_gap : float, optional
            Requested relative gap (default 1e-4).
        time_limit : float, optional
            Seconds.
        threads : int, optional
            Threads for the solver.
        verbose : bool
            Show the solver log.
        **options
            Backend-specific options.

        Returns
        -------
        Result
            Whatever the outcome; check :attr:`Result.status`.
        """
        if getattr(self, "rolling", None) is not None:
            from .rolling import solve_rolling

            return solve_rolling(
                self, solver, mip_gap=mip_gap, time_limit=time_limit, threads=threads, verbose=verbose, **options
            )
        defaults = dict(self.solver_options)
        mip_gap = defaults.pop("mip_gap", 1e-4) if mip_gap is None else mip_gap
        time_limit = defaults.pop("time_limit", None) if time_limit is None else time_limit
        threads = check_threads(defaults.pop("threads", None) if threads is None else threads)
        defaults.pop("mip_gap", None), defaults.pop("time_limit", None), defaults.pop("threads", None)
        verbose = bool(defaults.pop("verbose", False)) or verbose
        extra = defaults | options
        backend, choice = self.backend(solver)
        log.info("solver: %s", choice)
        opts = SolverOptions(mip_gap=float(mip_gap), time_limit=time_limit, threads=threads, verbose=verbose, extra=extra)
        start = time.perf_counter()
        try:
            outcome: SolveOutcome = backend.solve(self, opts)
        except (InputError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a crashing backend is reported as a status, not raised
            log.debug("the %s backend failed", backend.name, exc_info=True)
            outcome = SolveOutcome(
                status="error",
                solver=backend.name,
                solve_seconds=time.perf_counter() - start,
                termination="error",
                message=f"the {backend.name} backend failed: {type(exc).__name__}: {exc}",
            )
        if outcome.status == "infeasible":
            outcome.message = "; ".join(filter(None, [outcome.message, self.explain_infeasibility()]))
        inputs = self.inputs
        if outcome.solution is not None and inputs.attrs["exclusive_charging"] and inputs.attrs["binaries"] != "all":
            outcome.solution = formulation.net_out_simultaneous(outcome.solution, inputs)
        objective = self._check_outcome(outcome, backend)
        wall = time.perf_counter() - start
        result = Result.from_outcome(
            self.inputs,
            outcome,
            choice=choice,
            wall_seconds=wall,
            mip_gap=opts.mip_gap,
            name=self.name,
            objective=objective,
        )
        self.check_solution(result)
        self._check_certificate(result, backend)
        if result.has_solution and not self.extensions and any(f.representation == "vehicles" for f in self.fleets):
            from .aggregation import add_aggregation_errors

            add_aggregation_errors(self, result, solver=solver, mip_gap=mip_gap, time_limit=time_limit, threads=threads)
        return result

    def _backend_label(self, backend: SolverBackend) -> str:
        """``the NAME backend (distribution DIST)``, for messages about what a backend claimed."""
        entry = plugins.entries("solver_backends").get(backend.name)
        dist = entry.distribution if entry is not None and entry.loaded and entry.load() is type(backend) \
            else type(backend).__module__
        return f"the {backend.name} backend (distribution {dist!r})"

    def _check_outcome(self, outcome: SolveOutcome, backend: SolverBackend) -> float | None:
        """Enforce the :class:`SolveOutcome` contract on what a backend returned, before it becomes a Result.

        A status the solution does not support is corrected in place: an unknown
        status, or a solution-bearing status without a solution, is ``error``; a
        solution that comes with ``infeasible``, ``no_solution`` or ``error`` is
        dropped.  For a model other than the documented one the solution is
        checked against every row, bound and integrality of the built model
        (:mod:`aggregator.model_check`); a violated one (or a model variable
        without values) makes the status ``error``.

        Returns
        -------
        float or None
            The built model's objective at the solution, when a subclass or an
            extension changed the objective; None when the documented terms
            (:func:`aggregator.accounting.objective_terms`) give it.
        """
        from .solvers import STATUSES

        label = self._backend_label(backend)
        if outcome.status not in STATUSES:
            outcome.message = "; ".join(filter(None, [
                f"{label} returned the unknown status {outcome.status!r} (expected one of {', '.join(STATUSES)})",
                outcome.message,
            ]))
            outcome.status, outcome.solution = "error", None
        with_solution = ("optimal", "feasible", "time_limit")
        if outcome.status in with_solution and outcome.solution is None:
            outcome.message = "; ".join(filter(None, [
                f"{label} reported {outcome.status!r} without a solution", outcome.message
            ]))
            outcome.status = "error"
        if outcome.status not in with_solution:
            outcome.solution = None
            return None
        missing = [name for name in formulation.VARIABLES if name not in outcome.solution]
        if missing:
            outcome.message = f"{label} returned a solution without {', '.join(missing)}; it is not trusted"
            outcome.status, outcome.solution = "error", None
            return None
        if self.is_standard():
            return None  # the documented model: Result.violations checks all its rows (cheap)
        from .model_check import column_values, objective_value, row_violations

        # Declared couplings that match the extensions' rows: those rows are checked on the small
        # model of couplings() (variables and the extensions' rows), the documented ones by check_solution.
        model = self._checked_coupling_model() or self.build_model()
        x, absent = column_values(model, outcome.solution)
        if absent:
            outcome.message = (
                f"{label} returned no values for the model variable(s) {', '.join(absent)}, so the rows of the "
                "built model cannot be checked; the solution is not trusted"
            )
            outcome.status, outcome.solution = "error", None
            return None
        violated = row_violations(model, x)
        if violated:
            worst = violated[0]
            outcome.message = (
                f"the solution from {label} violates the {worst.name} constraints of the built model by "
                f"{worst.amount:.3g} (tolerance {worst.tolerance:.3g})"
                + (f" and {len(violated) - 1} other constraint(s)" if len(violated) > 1 else "")
                + "; it is not trusted"
            )
            outcome.status = "error"
            return None
        overridden = set(self._overridden_steps())
        changed = bool({"define_objective", "build_model"} & overridden) or bool(
            self._extension_delta is not None and self._extension_delta[2]
        )
        return objective_value(model, x) if changed else None

    def check_solution(self, result: Result) -> None:
        """Demote a solution that violates the documented model's constraints to status ``error``: it is not trusted.

        The tolerance is 1e-6 of the problem's largest state-of-charge bound or
        step energy (at least 1e-6).  A problem other than the documented model
        is checked against every row of its built model when it is solved instead.

        Parameters
        ----------
        result : Result
            A result of this problem, changed in place (status and message).
        """
        if not result.has_solution or result.status not in ("optimal", "feasible", "time_limit"):
            return
        if not self.is_standard() and self._checked_coupling_model() is None:
            return  # checked against every row of the built model (_check_outcome)
        inputs = self.inputs
        scale = max(1.0, float(inputs["soc_max"].max()), float(inputs["power_max"].max()) * self.step_hours)
        tolerance = 1e-6 * scale
        violated = {name: value for name, value in result.violations().items() if not value <= tolerance}
        if violated:
            name, value = max(violated.items(), key=lambda item: item[1])
            result.dataset.attrs["status"] = "error"
            result.dataset.attrs["message"] = (
                f"the solution from {result.dataset.attrs['solver']} violates the {name} constraints by {value:.3g} "
                f"(tolerance {tolerance:.3g}); it is not trusted"
            )

    def _check_certificate(self, result: Result, backend: SolverBackend) -> None:
        """:meth:`check_certificate` of what ``backend`` returned."""
        self.check_certificate(result, self._backend_label(backend))

    def check_certificate(self, result: Result, label: str) -> None:
        """Accept ``optimal`` only with a finite bound >= the recomputed objective and a gap within ``mip_gap``.

        A bound below the recomputed objective by more than the problem's
        absolute tolerance (:func:`aggregator.solvers.absolute_tolerance`) plus
        1e-9 of the objective is no certificate: it is dropped (kept as
        ``solver_bound``) and the gap becomes unknown.  ``optimal`` without a
        finite bound, or with a gap above the requested one, becomes ``feasible``;
        the message names the backend and its distribution.

        Parameters
        ----------
        result : Result
            A result of this problem, changed in place (status, bound, gap, message).
        label : str
            Who made the claims, for the message (e.g. ``"the dp backend
            (distribution 'aggregator')"``, ``"the fleet tasks"``).
        """
        from .solvers import absolute_tolerance

        a = result.dataset.attrs
        if not result.has_solution or a["status"] not in ("optimal", "feasible", "time_limit"):
            return
        notes = []
        objective, claimed, bound = result.objective, float(a["solver_objective"]), result.bound
        tolerance = absolute_tolerance(self.inputs) + 1e-9 * abs(objective)
        from .price_impact import linearisation_allowance

        # a MILP backend values the market impact with the model's tangents, at most this much too high
        claim_tolerance = tolerance + linearisation_allowance(self.inputs)
        if not (0.0 <= claimed - objective <= claim_tolerance or abs(claimed - objective) <= tolerance):
            notes.append(f"{label} claimed objective {_money(claimed)} $ but its dispatch is worth {_money(objective)} $")
            label = "it"
        if math.isfinite(bound) and bound < objective - tolerance:
            notes.append(
                f"its bound {_money(bound)} $ is below that objective (tolerance {tolerance:.2g} $), so it proves nothing"
            )
            a["solver_bound"], a["bound"], a["gap"] = bound, math.nan, math.nan
        if a["status"] == "optimal":
            from .dp_backend import NUMERICAL_GAP

            gap, requested = float(a["gap"]), float(a["mip_gap"])
            if not math.isfinite(float(a["bound"])):
                notes.append(f"{label} proves no finite bound, so the gap is not known")
            # Solvers measure the gap against the objective or the bound; (1 + requested) covers both.
            elif not gap <= max(requested, NUMERICAL_GAP) * (1 + requested) * (1 + 1e-9):
                notes.append(f"{label} reported optimal, but the proven gap is {gap:.2e}, above the requested {requested:.1e}")
            if notes:
                a["status"] = "feasible"
                notes.append("status feasible (a solution without a proven gap) instead of optimal")
        if notes:
            a["message"] = "; ".join(filter(None, [*notes, a.get("message", "")]))

    def explain_infeasibility(self) -> str:
        """Why this problem can be infeasible, for the message of an ``infeasible`` result.

        The documented model is always feasible (slack absorbs what the bounds
        cannot); an infeasible problem comes from a subclass step or a model
        extension.  The sentence names the fleets and steps whose energy
        bounds cannot be met without slack (see
        :func:`aggregator.diagnostics.slack_floor`), or says that they all can,
        and names the subclass steps and extensions that changed the model.

        Returns
        -------
        str
        """
        from .diagnostics import slack_floor, slack_needs

        floor = slack_floor(self.inputs)
        needs = slack_needs(floor["slack_up"], floor["slack_down"])
        changes = [f"{type(self).__name__}.{step}" for step in self._overridden_steps()]
        changes += [f"extension {name!r}" for name in self.extensions]
        by = f" (the model is changed by {', '.join(changes)})" if changes else ""
        if needs:
            return (
                "without slack these fleets cannot stay within their energy bounds: "
                + "; ".join(need.sentence() for need in needs)
                + f"; slack energy (as in the documented model, penalised at {self.slack_penalty:g} $/kWh) would "
                f"resolve it{by}"
            )
        return (
            "every fleet can stay within its energy bounds without slack, so a constraint added to the "
            f"documented model cannot be met{by}"
        )


def _exact_and_supports(entry: plugins.PluginEntry, aggregator: Aggregator) -> bool:
    """Whether a registered backend is exact and can solve the problem (False when it cannot be imported)."""
    try:
        cls = entry.load()
    except PluginError:
        return False
    return bool(cls.exact) and cls().supports(aggregator) is None


def _money(x: float) -> str:
    """An amount for messages: at most 7 significant digits, never hundreds of them."""
    return f"{x:,.7g}" if math.isfinite(x) else str(x)


def _check_driving(fleet: Fleet, driving: np.ndarray, pmax: np.ndarray, dt: float) -> None:
    """Driving energy the chargers can never replace is bad input (slack would be certain)."""
    total = float(driving.sum())
    room = (fleet.initial_soc - (1 - fleet.contract_limit)) * fleet.capacity_kwh
    chargeable = fleet.charge_efficiency * float(pmax.sum()) * dt
    if total > room + chargeable + 1e-9 * max(1.0, total):
        raise InputError(
            f"fleet {fleet.name!r}: driving_kwh takes {total:,.1f} kWh over the horizon but the chargers can store at "
            f"most {chargeable:,.1f} kWh and the batteries start with {max(room, 0.0):,.1f} kWh above their minimum; "
            "expected driving energy the chargers can replace (lower driving_kwh or raise availability/charger_kw)"
        )


def _warn_unmet(fleet: Fleet, time: pd.Index, found: list[tuple[str, UnmetNeeds]], rate: float) -> None:
    """Warn once per fleet about departure needs that no dispatch meets (the shortfall is certain)."""
    unmet = [(who, u) for who, u in found if u.steps]
    if not unmet:
        return
    who, first = min(unmet, key=lambda item: item[1].first)
    largest = max(u.largest_kwh for _, u in unmet)
    steps = sum(u.steps for _, u in unmet)
    whose = f" of {len(unmet):,} vehicles" if fleet.representation == "vehicles" else ""
    at = f"vehicle {who!r} " if fleet.representation == "vehicles" else ""
    warnings.warn(
        f"fleet {fleet.name!r}: {steps:,} departure needs{whose} (min_soc) are out of reach even charging at full "
        f"power whenever plugged in; the first {at}at {time[first.first]}, {first.first_kwh:,.2f} kWh short (the largest "
        f"{largest:,.2f} kWh); the result covers them with shortfall ({rate:,g} $/kWh) or slack energy, both "
        "reported by step; expected needs the chargers can reach (lower min_soc or the trip energies, or raise charger_kw)",
        InputWarning,
        stacklevel=4,
    )


def _signature_delta(before: tuple, after: tuple) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """What an extension step added: (new variables, new constraints, whether the objective changed)."""
    added_variables = tuple(v for v in after[0] if v not in before[0])
    added_constraints = tuple(c for c in after[1] if c not in before[1])
    return added_variables, added_constraints, after[2:] != before[2:]


def _model_signature(model: linopy.Model) -> tuple:
    objective = model.objective
    return (
        tuple(model.variables),
        tuple(model.constraints),
        int(objective.expression.nterm) if hasattr(objective, "expression") else 0,
        int(objective.expression.size) if hasattr(objective, "expression") else 0,
    )

