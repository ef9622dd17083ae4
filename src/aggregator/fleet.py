"""Fleet: the parameters of one fleet of electric vehicles, validated."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Fleet", "REPRESENTATIONS", "VEHICLE_RESULTS"]

#: The fleet representations (scenario key ``representation``), see the docs page "The model".
REPRESENTATIONS: dict[str, str] = {
    "study": "the original study's fleet: one battery whose size follows the share plugged in",
    "energy": "one battery holding the energy of all vehicles, plugged in or not; driving and departure needs",
    "vehicles": "every vehicle its own battery, plugged in whenever it is not on a trip",
}
#: What a ``"vehicles"`` fleet keeps in its result: every vehicle's dispatch, or only the fleet totals.
VEHICLE_RESULTS = ("all", "totals")


def _positive(name: str, fleet: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a number > 0")
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a number > 0")
    return float(value)


def _share(name: str, fleet: str, value: Any, *, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a number")
    ok = (0 < value <= 1) if low_open else (0 <= value <= 1)
    if not math.isfinite(value) or not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a number in {interval}")
    return float(value)


#: The smallest efficiency accepted: anything lower is a typing error, and 1/efficiency must stay finite.
MIN_EFFICIENCY = 1e-3
#: The largest fleet energy or power accepted (kWh, kW): solvers treat bounds near 1e20 as infinite.
MAX_FLEET_SIZE = 1e12


def _efficiency(name: str, fleet: str, value: Any) -> float:
    value = _share(name, fleet, value, low_open=True)
    if value < MIN_EFFICIENCY:
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a number in (0, 1] of at least {MIN_EFFICIENCY:g}")
    return value


def _profile(name: str, fleet: str, value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1 or array.size == 0:
        raise InputError(f"fleet {fleet!r}: {name} must be a non-empty one-dimensional profile")
    bad = ~np.isfinite(array) | (array < 0) | (array > 1)
    if bad.any():
        step = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"fleet {fleet!r}: {name} at step {step} is {array[step]!r}; "
            "expected a share of the fleet plugged in, in [0, 1]"
        )
    array.setflags(write=False)
    return array


def _nonnegative_profile(name: str, fleet: str, value: Any, *, upper: float | None = None, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1 or array.size == 0:
        raise InputError(f"fleet {fleet!r}: {name} must be a number or a non-empty one-dimensional profile")
    bad = ~np.isfinite(array) | (array < 0)
    if upper is not None:
        bad |= array > upper
    if bad.any():
        step = int(np.flatnonzero(bad)[0])
        raise InputError(f"fleet {fleet!r}: {name} at step {step} is {float(array[step])!r}; expected {what}")
    array.setflags(write=False)
    return array


def _rate(name: str, fleet: str, value: Any, *, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a number of $/kWh")
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise InputError(f"fleet {fleet!r}: {name} = {value!r}; expected a finite number of $/kWh {'> 0' if strict else '>= 0'}")
    return float(value)


@dataclass(frozen=True, eq=False)
class Fleet:
    """One fleet of identical electric vehicles, controlled as one battery.

    The usable power and energy of the fleet follow the share of its vehicles
    that are plugged in (the availability profile): in step *t* the fleet can
    charge or discharge up to ``vehicles * charger_kw * k_t`` kW and store
    between ``(1 - contract_limit) * vehicles * battery_kwh * k_t`` and
    ``vehicles * battery_kwh * k_t`` kWh.

    Parameters
    ----------
    name : str
        Unique name of the fleet (a label on the ``fleet`` dimension).
    vehicles : float
        Number of vehicles, > 0.
    battery_kwh : float
        Usable battery per vehicle in kWh, > 0.
    charger_kw : float
        Charger power per vehicle in kW, > 0.
    charge_efficiency : float
        Grid-to-battery efficiency in (0, 1].
    discharge_efficiency : float
        Battery-to-grid efficiency in (0, 1].
    contract_limit : float
        Share of the battery the aggregator may cycle, in [0, 1].
    initial_soc : float
        State of charge before the first step, as a share of
        ``vehicles * battery_kwh``, in [0, 1].
    availability : array_like
        Share of the fleet plugged in, per step, in [0, 1]; it scales the
        energy bounds and (unless ``power_availability`` is given) the power
        bound.
    power_availability : array_like, optional
        A separate profile for the power bound.
    representation : {"study", "energy", "vehicles"}
        ``"study"`` (default): the original study's model, as above.
        ``"energy"``: the stored energy is that of all the fleet's batteries,
        within ``[(1 - contract_limit) * vehicles * battery_kwh, vehicles *
        battery_kwh]`` whatever the share plugged in; the power follows the
        availability.  ``"vehicles"``: every vehicle its own battery,
        plugged in whenever it is not on a trip (``trips``).
    driving_kwh : float or array_like, optional
        ``"energy"`` only: energy each vehicle drives per step (kWh, >= 0),
        taken out of the stored energy.
    min_soc : float or array_like, optional
        Departure need, a share of the battery in [0, 1]: for ``"energy"`` a
        floor on the stored energy at the end of each step (share of
        ``vehicles * battery_kwh``, a number or a profile); for
        ``"vehicles"`` the share each vehicle must hold when it leaves.
        Unmet need is shortfall energy priced at ``shortfall_penalty``.
    shortfall_penalty : float, optional
        $/kWh of shortfall (> 0); default: the model's slack penalty.
    wear_cost : float
        Battery wear in $ per kWh discharged from the batteries (battery
        side, ``P_out * dt / discharge_efficiency``), >= 0; every representation.
    trips : aggregator.vehicles.VehicleSchedule, optional
        ``"vehicles"`` only (required there): the vehicles' trips.
    vehicle_results : {"all", "totals"}
        ``"vehicles"`` only: keep every vehicle's dispatch in the result on a
        ``vehicle`` dimension (``"all"``, default) or only the fleet totals.

    Raises
    ------
    InputError
        If a field is missing or out of range; the message names the field and
        the bad value.

    Examples
    --------
    >>> fleet = Fleet("depot", vehicles=100, battery_kwh=60, charger_kw=11,
    ...               charge_efficiency=0.9, discharge_efficiency=0.9,
    ...               contract_limit=0.5, initial_soc=0.8, availability=[1, 0.5])
    >>> fleet.capacity_kwh
    6000.0
    >>> Fleet("bad", vehicles=0, battery_kwh=60, charger_kw=11, availability=[1])
    Traceback (most recent call last):
    ...
    aggregator.errors.InputError: fleet 'bad': vehicles = 0; expected a number > 0
    """

    name: str
    vehicles: float
    battery_kwh: float
    charger_kw: float
    charge_efficiency: float = 0.85
    discharge_efficiency: float = 0.78
    contract_limit: float = 0.8
    initial_soc: float = 1.0
    availability: Any = field(default=None, repr=False)
    power_availability: Any = field(default=None, repr=False)
    representation: str = "study"
    driving_kwh: Any = field(default=None, repr=False)
    min_soc: Any = field(default=None, repr=False)
    shortfall_penalty: float | None = None
    wear_cost: float = 0.0
    trips: Any = field(default=None, repr=False)
    vehicle_results: str = "all"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"fleet name {self.name!r}: expected a non-empty string")
        control = next((c for c in self.name if unicodedata.category(c) == "Cc"), None)
        if control is not None:  # netCDF ends a label at NUL: two fleets would share a name in the file
            raise InputError(
                f"fleet name {self.name!r}: contains the control character {control!r}; "
                "expected printable characters (letters, digits, spaces, punctuation)"
            )
        name = self.name
        set_ = object.__setattr__
        set_(self, "vehicles", _positive("vehicles", name, self.vehicles))
        set_(self, "battery_kwh", _positive("battery_kwh", name, self.battery_kwh))
        set_(self, "charger_kw", _positive("charger_kw", name, self.charger_kw))
        set_(self, "charge_efficiency", _efficiency("charge_efficiency", name, self.charge_efficiency))
        set_(self, "discharge_efficiency", _efficiency("discharge_efficiency", name, self.discharge_efficiency))
        for what, size, unit, fields in (
            ("energy", self.vehicles * self.battery_kwh, "kWh", "vehicles x battery_kwh"),
            ("power", self.vehicles * self.charger_kw, "kW", "vehicles x charger_kw"),
        ):
            if not size <= MAX_FLEET_SIZE:
                raise InputError(
                    f"fleet {name!r}: {fields} = {size:.3g} {unit}; expected a fleet {what} of at most {MAX_FLEET_SIZE:g} {unit}"
                )
        set_(self, "contract_limit", _share("contract_limit", name, self.contract_limit, low_open=False))
        set_(self, "initial_soc", _share("initial_soc", name, self.initial_soc, low_open=False))
        if self.representation == "vehicles" and hasattr(self.trips, "plugged_share"):
            # a vehicle is plugged in whenever it is not on a trip: the schedule is the availability
            set_(self, "availability", self.trips.plugged_share())
            if self.power_availability is not None:
                raise InputError(f"fleet {name!r}: power_availability is given but representation = 'vehicles'; "
                                 "expected the trips alone to say when each vehicle is plugged in")
        if self.availability is None:
            raise InputError(f"fleet {name!r}: availability is missing; expected a profile of shares in [0, 1]")
        set_(self, "availability", _profile("availability", name, self.availability))
        if self.power_availability is not None:
            power = _profile("power_availability", name, self.power_availability)
            if power.size != self.availability.size:
                raise InputError(
                    f"fleet {name!r}: power_availability has {power.size} steps but availability has "
                    f"{self.availability.size}; expected the same length"
                )
            set_(self, "power_availability", power)
        self._check_representation()

    def _check_representation(self) -> None:
        """Validate the representation and its keys (driving, needs, wear, trips)."""
        name, set_ = self.name, object.__setattr__
        rep = self.representation
        if rep not in REPRESENTATIONS:
            raise InputError(
                f"fleet {name!r}: representation = {rep!r}; expected one of {', '.join(map(repr, REPRESENTATIONS))}"
            )
        set_(self, "wear_cost", _rate("wear_cost", name, self.wear_cost, strict=False))
        if self.shortfall_penalty is not None:
            set_(self, "shortfall_penalty", _rate("shortfall_penalty", name, self.shortfall_penalty, strict=True))
        allowed = {"study": (), "energy": ("driving_kwh", "min_soc"), "vehicles": ("min_soc", "trips")}[rep]
        for key in ("driving_kwh", "min_soc", "trips"):
            if getattr(self, key) is not None and key not in allowed:
                needs = [r for r, keys in (("energy", ("driving_kwh", "min_soc")), ("vehicles", ("min_soc", "trips"))) if key in keys]
                raise InputError(
                    f"fleet {name!r}: {key} is given but representation = {rep!r}; expected representation = "
                    + " or ".join(repr(r) for r in needs)
                )
        if self.driving_kwh is not None:
            set_(self, "driving_kwh", _nonnegative_profile("driving_kwh", name, self.driving_kwh, what="kWh per vehicle and step >= 0"))
        if self.min_soc is not None:
            soc = _nonnegative_profile("min_soc", name, self.min_soc, upper=1.0, what="a share of the battery in [0, 1]")
            if rep == "vehicles" and soc.size != 1:
                raise InputError(f"fleet {name!r}: min_soc of a 'vehicles' fleet is one share for every departure; expected a number in [0, 1]")
            set_(self, "min_soc", soc)
        for key, value in (("driving_kwh", self.driving_kwh), ("min_soc", self.min_soc)):
            if value is not None and value.size not in (1, self.availability.size):
                raise InputError(
                    f"fleet {name!r}: {key} has {value.size} steps but availability has {self.availability.size}; "
                    "expected a number or the same length"
                )
        if rep == "vehicles":
            from .vehicles import VehicleSchedule

            if not isinstance(self.trips, VehicleSchedule):
                raise InputError(f"fleet {name!r}: representation = 'vehicles' needs trips (a VehicleSchedule, scenario key trips)")
            self.trips.check_fleet(self)
        if self.vehicle_results not in VEHICLE_RESULTS:
            raise InputError(
                f"fleet {name!r}: vehicle_results = {self.vehicle_results!r}; expected one of {', '.join(map(repr, VEHICLE_RESULTS))}"
            )

    def profile(self, key: str, steps: int) -> np.ndarray:
        """A per-step profile of ``steps`` steps (``driving_kwh`` or ``min_soc``; a number is repeated, absent is 0).

        Parameters
        ----------
        key : {"driving_kwh", "min_soc"}
        steps : int

        Returns
        -------
        numpy.ndarray
        """
        value = getattr(self, key)
        if value is None:
            return np.zeros(steps)
        if value.size == 1:
            return np.full(steps, float(value[0]))
        return np.asarray(value[:steps], dtype=float)

    def __repr__(self) -> str:
        a = self.availability
        avail = f"availability {float(a.min()):.2g}" + (f" to {float(a.max()):.2g}" if a.min() != a.max() else "")
        avail += f" (mean {float(a.mean()):.2f}) over {a.size:,} steps"
        extra = []
        if self.power_availability is not None:
            extra.append("own power_availability")
        if self.representation != "study":
            extra.append(f"representation {self.representation!r}")
        if self.wear_cost:
            extra.append(f"wear_cost {self.wear_cost:g} $/kWh")
        if self.trips is not None:
            extra.append(f"trips of {len(self.trips.ids):,} vehicles")
        return (
            f"<Fleet {self.name!r}: {self.vehicles:,g} vehicles x {self.battery_kwh:g} kWh, {self.charger_kw:g} kW "
            f"({self.capacity_kwh:,.0f} kWh, {self.power_kw:,.0f} kW); efficiency {self.charge_efficiency:g} in, "
            f"{self.discharge_efficiency:g} out; contract_limit {self.contract_limit:g}, initial_soc {self.initial_soc:g}; "
            f"{avail}{''.join('; ' + e for e in extra)}>"
        )

    @property
    def capacity_kwh(self) -> float:
        """Energy of the whole fleet's batteries in kWh (``vehicles * battery_kwh``)."""
        return self.vehicles * self.battery_kwh

    @property
    def power_kw(self) -> float:
        """Charger power of the whole fleet in kW (``vehicles * charger_kw``)."""
        return self.vehicles * self.charger_kw

    @property
    def steps(self) -> int:
        """Length of the availability profile."""
        return int(self.availability.size)

    @property
    def power_profile(self) -> np.ndarray:
        """Availability used for the power bound."""
        return self.availability if self.power_availability is None else self.power_availability

    def window_options(self, start: int, stop: int) -> dict[str, Any]:
        """The profile fields restricted to steps ``start:stop``, for :meth:`with_options`.

        Parameters
        ----------
        start, stop : int

        Returns
        -------
        dict
            ``availability`` and, where given, ``power_availability``,
            ``driving_kwh``, ``min_soc`` (profiles sliced, numbers kept) and
            ``trips`` (trips shifted to the window; energy of trips that left
            before it is not counted again).
        """
        changes: dict[str, Any] = {"availability": self.availability[start:stop]}
        for key in ("power_availability", "driving_kwh", "min_soc"):
            value = getattr(self, key)
            if value is not None:
                changes[key] = value if (key != "power_availability" and value.size == 1) else value[start:stop]
        if self.trips is not None:
            changes["trips"] = self.trips.window(start, stop)
        return changes

    def with_options(self, **changes: Any) -> "Fleet":
        """Return a copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            Field names and new values.

        Returns
        -------
        Fleet
        """
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(changes)
        return Fleet(**values)
