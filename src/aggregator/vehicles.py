"""Per-vehicle trip schedules for ``representation = "vehicles"`` fleets.

A :class:`VehicleSchedule` holds every trip of every vehicle of one fleet on
the step grid of the horizon.  A vehicle is plugged in in a step unless it is
on a trip during any part of it (as in the ``trips`` availability plugin: home
for the *whole* step); the trip's energy leaves its battery in the first step
away; its departure need (``min_soc``) applies to the energy stored at the end
of the step before.

Schedules come from a trips file (:func:`read_trips`, one row per trip:
``vehicle, depart, arrive, energy_kwh``) or from an availability profile
(:func:`schedule_from_availability`, the rule is documented there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .csv_input import numeric_column, read_csv_table
from .errors import InputError
from .timezones import in_zone, utc_naive

__all__ = [
    "VehicleSchedule",
    "read_trips",
    "schedule_from_availability",
    "trip_profiles",
    "trip_profile_block",
    "vehicle_inputs",
    "TRIP_COLUMNS",
]

#: The columns of a trips file.
TRIP_COLUMNS = ("vehicle", "depart", "arrive", "energy_kwh")
_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class VehicleSchedule:
    """The trips of a fleet's vehicles on the step grid.

    Parameters
    ----------
    ids : tuple of str
        Vehicle labels, one per vehicle.
    steps : int
        Number of steps of the horizon.
    vehicle : numpy.ndarray
        Per trip: index into ``ids``.
    first, last : numpy.ndarray
        Per trip: first and last step away (inclusive; may lie outside
        ``[0, steps)`` for trips under way at the start or end).
    energy : numpy.ndarray
        Per trip: energy taken from the battery in kWh (leaves in step
        ``first``; not counted for trips that left before the first step).
    source : str
        Where the trips came from, for messages.
    rows : tuple of int
        Per trip: the line of the trips file (0 when generated).
    """

    ids: tuple[str, ...]
    steps: int
    vehicle: np.ndarray
    first: np.ndarray
    last: np.ndarray
    energy: np.ndarray
    source: str = ""
    rows: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        """Number of vehicles."""
        return len(self.ids)

    def check_fleet(self, fleet: Any) -> None:
        """Check the schedule against its fleet (vehicle count, steps, trip energy).

        Parameters
        ----------
        fleet : aggregator.Fleet

        Raises
        ------
        InputError
            Naming the fleet, the file and row, and what was expected.
        """
        where = f"fleet {fleet.name!r}: trips ({self.source})" if self.source else f"fleet {fleet.name!r}: trips"
        if self.count != fleet.vehicles:
            raise InputError(
                f"{where} name {self.count} vehicles but vehicles = {fleet.vehicles:g}; expected every vehicle "
                "of the fleet to appear in the trips (and no other)"
            )
        if fleet.availability is not None and fleet.availability.size < self.steps:
            raise InputError(f"{where}: {self.steps} steps but availability has {fleet.availability.size}")
        too_long = np.flatnonzero(self.energy > fleet.battery_kwh * (1 + 1e-12))
        if too_long.size:
            i = int(too_long[0])
            row = f", line {self.rows[i]}" if self.rows and self.rows[i] else f", trip of vehicle {self.ids[self.vehicle[i]]!r}"
            raise InputError(
                f"{where}{row}: energy_kwh = {self.energy[i]:g} is more than the battery holds "
                f"(battery_kwh = {fleet.battery_kwh:g}); expected a trip of at most {fleet.battery_kwh:g} kWh"
            )

    def window(self, start: int, stop: int) -> "VehicleSchedule":
        """The schedule of steps ``start:stop`` (steps renumbered from 0).

        Parameters
        ----------
        start, stop : int

        Returns
        -------
        VehicleSchedule
        """
        import dataclasses

        return dataclasses.replace(self, steps=stop - start, first=self.first - start, last=self.last - start)

    def plugged_share(self) -> np.ndarray:
        """Share of the vehicles plugged in, per step.

        Returns
        -------
        numpy.ndarray
        """
        away = np.zeros(self.steps + 1)
        lo = np.clip(self.first, 0, self.steps)
        hi = np.clip(self.last + 1, 0, self.steps)
        keep = hi > lo
        np.add.at(away, lo[keep], 1.0)
        np.add.at(away, hi[keep], -1.0)
        return 1.0 - np.cumsum(away[:-1]) / max(self.count, 1)

    def vehicle_profiles(self, v: int, steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One vehicle's plugged-in flag, driving energy and departure steps.

        Parameters
        ----------
        v : int
            Vehicle index.
        steps : int, optional
            Number of steps (default: the schedule's).

        Returns
        -------
        tuple of numpy.ndarray
            ``plugged`` (0 or 1), ``driving`` (kWh leaving in each step) and
            ``departs`` (True at the end of the step before a departure).
        """
        n = self.steps if steps is None else steps
        return self._profiles(np.flatnonzero(self.vehicle == v), n)

    def _profiles(self, trips: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return trip_profiles(self.first[trips], self.last[trips], self.energy[trips], n)

    def iter_vehicles(self, steps: int | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """``(index, plugged, driving, departs)`` for every vehicle, one at a time (memory flat in vehicles).

        The profiles are built :data:`PROFILE_BLOCK` vehicles at a time
        (:func:`trip_profile_block`); each yielded array is a row of its block.

        Parameters
        ----------
        steps : int, optional

        Yields
        ------
        tuple
        """
        n = self.steps if steps is None else steps
        for start, block in self._blocks(n):
            for k in range(block[0].shape[0]):
                yield (start + k, block[0][k], block[1][k], block[2][k])

    def _blocks(self, n: int) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """``(first vehicle, trip_profile_block(...))`` of every :data:`PROFILE_BLOCK` vehicles."""
        order = np.argsort(self.vehicle, kind="stable")
        bounds = np.searchsorted(self.vehicle[order], np.arange(self.count + 1))
        for start in range(0, self.count, PROFILE_BLOCK):
            stop = min(start + PROFILE_BLOCK, self.count)
            trips = order[bounds[start] : bounds[stop]]
            yield start, trip_profile_block(
                self.vehicle[trips] - start, self.first[trips], self.last[trips], self.energy[trips], stop - start, n
            )

    def totals(self, steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fleet sums: vehicles plugged in, driving energy (kWh) and departures, per step.

        The same numbers, to the last bit, as summing :meth:`iter_vehicles` in
        vehicle order; computed over all trips at once unless a vehicle has two
        trips in one step (then vehicle by vehicle).

        Parameters
        ----------
        steps : int, optional

        Returns
        -------
        tuple of numpy.ndarray
        """
        n = self.steps if steps is None else steps
        order = np.lexsort((self.first, self.vehicle))  # by vehicle, then departure (stable)
        first, last, vehicle = self.first[order], self.last[order], self.vehicle[order]
        lo, hi = np.clip(first, 0, n), np.clip(last + 1, 0, n)
        away_k = hi > lo  # trips that take the vehicle away in some step, by vehicle and start
        vk, lok, hik = vehicle[away_k], lo[away_k], hi[away_k]
        shared_step = (vk[1:] == vk[:-1]) & (lok[1:] < hik[:-1])
        inside = (first >= 0) & (first < n)
        shared_start = (vehicle[1:] == vehicle[:-1]) & inside[1:] & inside[:-1] & (first[1:] == first[:-1])
        if shared_step.any() or shared_start.any():
            plugged, driving, departs = np.zeros(n), np.zeros(n), np.zeros(n)
            for _, p, d, dep in self.iter_vehicles(n):
                plugged += p
                driving += d
                departs += dep
            return plugged, driving, departs
        # one trip per vehicle and step: a vehicle's sums are its trips', added in vehicle order
        # (as the stable order by vehicle keeps them), which is what adding the vehicles does
        stable = np.argsort(self.vehicle, kind="stable")
        a, e = self.first[stable], self.energy[stable]
        away = np.bincount(lok, minlength=n + 1) - np.bincount(hik, minlength=n + 1)
        plugged = self.count - np.cumsum(away[:n]).astype(float)
        starts = (a >= 0) & (a < n)
        driving = np.bincount(a[starts], weights=e[starts], minlength=n).astype(float)
        leaving = (a >= 1) & (a < n)
        departs = np.bincount(a[leaving] - 1, minlength=n).astype(float)
        return plugged, driving, departs


#: Vehicles whose profiles :meth:`VehicleSchedule.iter_vehicles` builds at once.
PROFILE_BLOCK = 64


def trip_profile_block(
    vehicle: np.ndarray, first: np.ndarray, last: np.ndarray, energy: np.ndarray, count: int, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`trip_profiles` of ``count`` vehicles at once, one row per vehicle.

    The same numbers, to the last bit, as :func:`trip_profiles` of each
    vehicle's trips in the given order (a vehicle's driving energy in a step
    is the sum of its trips' in that order).

    Parameters
    ----------
    vehicle : numpy.ndarray
        Per trip: the row, ``0 <= vehicle < count``.
    first, last, energy : numpy.ndarray
        Per trip, as for :func:`trip_profiles`.
    count, steps : int

    Returns
    -------
    tuple of numpy.ndarray
        ``plugged``, ``driving`` (float, shape ``(count, steps)``) and
        ``departs`` (bool, same shape).

    Examples
    --------
    >>> p, d, dep = trip_profile_block(np.array([1]), np.array([1]), np.array([2]), np.array([4.0]), 2, 4)
    >>> p.tolist(), d[1].tolist(), dep[1].tolist()
    ([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]], [0.0, 4.0, 0.0, 0.0], [True, False, False, False])
    """
    vehicle = np.asarray(vehicle, dtype=np.int64)
    first = np.asarray(first, dtype=np.int64)
    last = np.asarray(last, dtype=np.int64)
    energy = np.asarray(energy, dtype=float)
    width = steps + 1
    lo, hi = np.clip(first, 0, steps), np.clip(last + 1, 0, steps)
    keep = hi > lo
    row = vehicle * width
    away = np.bincount(row[keep] + lo[keep], minlength=count * width)
    away -= np.bincount(row[keep] + hi[keep], minlength=count * width)
    plugged = (np.cumsum(away.reshape(count, width)[:, :steps], axis=1) == 0).astype(float)
    starts = (first >= 0) & (first < steps)
    cells = vehicle[starts] * steps + first[starts]
    driving = np.bincount(cells, weights=energy[starts], minlength=count * steps).reshape(count, steps)
    leaving = (first >= 1) & (first < steps)
    departs = np.zeros(count * steps, dtype=bool)
    departs[vehicle[leaving] * steps + first[leaving] - 1] = True
    return plugged, driving, departs.reshape(count, steps)


def trip_profiles(
    first: np.ndarray, last: np.ndarray, energy: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vehicle's plugged-in flag, driving energy and departure flags from its trips.

    Parameters
    ----------
    first, last : numpy.ndarray
        First and last step away of each trip (inclusive).
    energy : numpy.ndarray
        kWh of each trip, leaving in its first step (if that lies in the horizon).
    steps : int

    Returns
    -------
    tuple of numpy.ndarray
        ``plugged`` (0/1 per step), ``driving`` (kWh per step), ``departs``
        (True at the end of the step before a departure: where the need applies).
    """
    plugged = np.ones(steps)
    driving = np.zeros(steps)
    departs = np.zeros(steps, dtype=bool)
    for a, b, e in zip(np.asarray(first).tolist(), np.asarray(last).tolist(), np.asarray(energy).tolist()):
        plugged[max(a, 0) : max(min(b + 1, steps), 0)] = 0.0
        if 0 <= a < steps:
            driving[a] += e
            if a >= 1:
                departs[a - 1] = True
    return plugged, driving, departs


def _steps_of(depart: pd.Series, arrive: pd.Series, time: pd.DatetimeIndex, step_hours: float) -> tuple[np.ndarray, np.ndarray]:
    t0 = pd.Timestamp(utc_naive(time)[0])  # the trips' stamps are naive, in UTC when time has a zone
    hour = pd.Timedelta(hours=1)
    start = ((depart - t0) / hour).to_numpy(dtype=float) / step_hours
    end = ((arrive - t0) / hour).to_numpy(dtype=float) / step_hours
    first = np.floor(start + _EPS).astype(np.int64)
    last = np.ceil(end - _EPS).astype(np.int64) - 1
    return first, last


def _stamps(frame: pd.DataFrame, path: Path, column: str, zone=None) -> pd.Series:
    """Trip times as naive stamps: in UTC when the prices have a zone (naive cells are its local times)."""
    cells = frame[column].fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(cells, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        line = int(frame.index[bad][0])
        found = repr(cells.loc[line]) if cells.loc[line] else "an empty cell"
        raise InputError(f"{path}, line {line}, column {column!r}: found {found}, expected a time stamp such as 2024-01-01 07:30")
    if zone is not None:
        local = in_zone(pd.DatetimeIndex(parsed), zone, where=str(path), lines=frame.index, column=column)
        return pd.Series(utc_naive(local), index=parsed.index)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed


def read_trips(path: str | Path, time: pd.DatetimeIndex, step_hours: float) -> VehicleSchedule:
    """Read a trips file: one row per trip, columns ``vehicle, depart, arrive, energy_kwh``.

    Times are time stamps as in price files (``2024-01-01 07:30``); ``arrive``
    must be after ``depart``, ``energy_kwh`` >= 0, and the trips of one vehicle
    must not overlap.  Trips wholly outside the horizon are kept for the
    vehicle count but do not act.

    Parameters
    ----------
    path : str or pathlib.Path
    time : pandas.DatetimeIndex
        Start of each step of the horizon.
    step_hours : float

    Returns
    -------
    VehicleSchedule

    Raises
    ------
    InputError
        Naming the file, the line and the column at fault.
    """
    path = Path(path)
    frame = read_csv_table(path)
    missing = [c for c in TRIP_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: no column {missing[0]!r}; expected the columns {', '.join(TRIP_COLUMNS)} "
            f"(the file has {', '.join(map(repr, frame.columns))})"
        )
    _, energy = numeric_column(frame, path, "energy_kwh", what="trip energy")
    negative = np.flatnonzero(energy < 0)
    if negative.size:
        line = int(frame.index[negative[0]])
        raise InputError(f"{path}, line {line}, column 'energy_kwh': {energy[negative[0]]:g}; expected an energy in kWh >= 0")
    vehicles = frame["vehicle"].fillna("").astype(str).str.strip()
    empty = (vehicles == "").to_numpy()
    if empty.any():
        raise InputError(f"{path}, line {int(frame.index[empty][0])}, column 'vehicle': found an empty cell, expected a vehicle id")
    depart = _stamps(frame, path, "depart", time.tz)
    arrive = _stamps(frame, path, "arrive", time.tz)
    backwards = (arrive <= depart).to_numpy()
    if backwards.any():
        line = int(frame.index[backwards][0])
        raise InputError(
            f"{path}, line {line}: arrive {arrive.loc[line]} is not after depart {depart.loc[line]}; "
            "expected a trip that ends after it starts"
        )
    ids = tuple(dict.fromkeys(vehicles.tolist()))
    index = {v: i for i, v in enumerate(ids)}
    vehicle = np.array([index[v] for v in vehicles.tolist()], dtype=np.int64)
    lines = frame.index.to_numpy()
    order = np.lexsort((depart.to_numpy(), vehicle))
    dep_sorted = depart.to_numpy()[order]
    arr_sorted = arrive.to_numpy()[order]
    same = vehicle[order][1:] == vehicle[order][:-1]
    overlap = np.flatnonzero(same & (dep_sorted[1:] < arr_sorted[:-1]))
    if overlap.size:
        k = int(overlap[0])
        a, b = int(lines[order[k]]), int(lines[order[k + 1]])
        raise InputError(
            f"{path}, lines {a} and {b}: two trips of vehicle {ids[vehicle[order[k]]]!r} overlap "
            f"(the second departs at {pd.Timestamp(dep_sorted[k + 1])}, before the first arrives at "
            f"{pd.Timestamp(arr_sorted[k])}); expected one trip at a time per vehicle"
        )
    first, last = _steps_of(depart, arrive, time, step_hours)
    return VehicleSchedule(
        ids=ids,
        steps=len(time),
        vehicle=vehicle,
        first=first,
        last=last,
        energy=np.asarray(energy, dtype=float),
        source=str(path),
        rows=tuple(int(x) for x in lines),
    )


def schedule_from_availability(
    availability: np.ndarray,
    vehicles: int,
    *,
    step_hours: float,
    trip_kwh: float = 0.0,
    kwh_per_hour: float = 0.0,
    max_trip_kwh: float = math.inf,
    where: str = "trips",
) -> VehicleSchedule:
    """Per-vehicle on/off schedules whose plugged-in share reproduces a profile.

    The rule: in step *t* exactly ``h_t = round(vehicles * availability_t)``
    vehicles are plugged in (so the share is reproduced exactly when
    ``vehicles * availability_t`` is a whole number; otherwise to the nearest
    vehicle).  When fewer are needed than are home, the vehicles that have
    been plugged in longest leave first; when more are needed, the vehicles
    that have been away longest come back first (first out, first back, so
    trips are as even as the profile allows).  Vehicles away in the first
    step left before the horizon (their trip energy is not counted).  A trip's
    energy is ``trip_kwh + kwh_per_hour * hours away``, capped at
    ``max_trip_kwh`` (a longer trip charges elsewhere).

    Parameters
    ----------
    availability : numpy.ndarray
        Share plugged in per step, in [0, 1].
    vehicles : int
        Number of vehicles.
    step_hours : float
    trip_kwh : float
        Energy of every trip in kWh.
    kwh_per_hour : float
        Energy per hour away in kWh.
    max_trip_kwh : float
        Cap on a trip's energy in kWh.
    where : str
        For messages.

    Returns
    -------
    VehicleSchedule

    Raises
    ------
    InputError
        A profile that is not a whole number of vehicles by more than half a
        vehicle cannot happen; a negative energy option is rejected.

    Examples
    --------
    >>> s = schedule_from_availability(np.array([1.0, 0.5, 0.5, 1.0]), 2, step_hours=1.0, trip_kwh=3.0)
    >>> s.plugged_share().tolist(), s.energy.tolist()
    ([1.0, 0.5, 0.5, 1.0], [3.0])
    """
    for key, value in (("trip_kwh", trip_kwh), ("kwh_per_hour", kwh_per_hour)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise InputError(f"{where} {key} = {value!r}: expected a number of kWh >= 0")
    n_v = int(vehicles)
    if n_v != vehicles or n_v < 1:
        raise InputError(f"{where}: vehicles = {vehicles!r}; a 'vehicles' fleet needs a whole number of vehicles >= 1")
    home_target = np.rint(np.asarray(availability, dtype=float) * n_v).astype(np.int64)
    n = home_target.size
    first_a, last_a, veh_a = _fifo_trips(np.clip(home_target, 0, n_v), n_v)
    hours = (np.minimum(last_a, n - 1) - np.maximum(first_a, 0) + 1) * step_hours
    energy = np.minimum(trip_kwh + kwh_per_hour * hours, max_trip_kwh)
    energy = np.where(first_a < 0, 0.0, energy)
    return VehicleSchedule(
        ids=tuple(str(v + 1) for v in range(n_v)),
        steps=n,
        vehicle=veh_a,
        first=first_a,
        last=last_a,
        energy=energy.astype(float),
        source="from_availability",
    )


def _fifo_trips(home: np.ndarray, vehicles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trips of :func:`schedule_from_availability`'s rule, without a loop over vehicles.

    Vehicles leave from the front of the queue of those home (plugged in
    longest first) and join the back of the queue of those away; they come
    back from its front and join the back of the home queue.  Together the
    two queues are one ring whose order never changes (home front ... home
    back, away front ... away back): the ``k``-th departure is vehicle
    ``k mod vehicles`` and the ``k``-th return is vehicle ``(h_0 + k) mod
    vehicles``, and a return ends the trip that entered the away queue
    ``k``-th (the vehicles away at the start first, then the departures in
    order).  Trips are listed in the order of their returns, then those still
    away at the end in their queue order (first step -1: left before the
    horizon; last step ``steps``: still away).

    Returns
    -------
    tuple of numpy.ndarray
        ``first``, ``last`` and ``vehicle`` per trip.
    """
    n = home.size
    h0 = int(home[0]) if n else vehicles
    change = np.diff(home)
    steps = np.arange(1, n, dtype=np.int64)
    depart_at = np.repeat(steps, np.maximum(-change, 0))  # step of each departure, in order
    return_at = np.repeat(steps, np.maximum(change, 0))
    # the away queue's entries in order: the vehicles away at the start, then the departures
    entered = np.concatenate([np.full(vehicles - h0, -1, dtype=np.int64), depart_at])
    entered_vehicle = np.concatenate([np.arange(h0, vehicles, dtype=np.int64), np.arange(depart_at.size, dtype=np.int64) % max(vehicles, 1)])
    back = return_at.size
    first = entered
    last = np.concatenate([return_at - 1, np.full(entered.size - back, n, dtype=np.int64)])
    return first, last, entered_vehicle


def vehicle_inputs(inputs: Any) -> dict[str, np.ndarray]:
    """Per-vehicle arrays of the "vehicles" fleets of validated inputs.

    Parameters
    ----------
    inputs : xarray.Dataset
        :attr:`aggregator.Aggregator.inputs` with a ``vehicle`` dimension.

    Returns
    -------
    dict of numpy.ndarray
        ``power_max``, ``driving``, ``soc_floor`` over (time, vehicle);
        ``soc_min``, ``soc_max``, ``soc_initial``, ``fleet`` (index) over vehicle.
    """
    n = inputs.sizes["time"]
    owner = inputs["vehicle_fleet"].to_numpy()
    n_v = owner.size
    battery = inputs["battery_kwh"].to_numpy()[owner]
    charger = inputs["charger_kw"].to_numpy()[owner]
    contract = inputs["contract_limit"].to_numpy()[owner]
    tv = inputs["trip_vehicle"].to_numpy()
    order = np.argsort(tv, kind="stable")  # each vehicle's trips in their order
    block = trip_profile_block(*(inputs[k].to_numpy()[order] for k in ("trip_vehicle", "trip_first", "trip_last", "trip_energy")),
                               n_v, n)
    plugged, driving, floor = (a.T for a in block)
    shares = inputs.attrs.get("vehicle_min_soc", {})
    fleets = list(inputs.indexes["fleet"])
    need = np.array([float(shares.get(fleets[j], 0.0)) for j in owner.tolist()])
    return {
        "power_max": plugged * charger[None, :],
        "driving": driving,
        "soc_floor": floor * (need * battery)[None, :],
        "soc_min": (1 - contract) * battery,
        "soc_max": battery,
        "soc_initial": inputs["initial_soc"].to_numpy()[owner] * battery,
        "fleet": owner,
    }
