"""Departure needs that no dispatch can meet: found before solving, reported as a warning.

A need ``S_t >= F_t`` (``min_soc``) is soft: what is missing is bought as
shortfall at ``shortfall_penalty``.  A need above the most energy the
batteries can hold by the end of step ``t`` is therefore not an error (the
model still has a plan), but the user should hear that part of the
shortfall is certain before reading the result.

The most energy reachable without slack follows from charging at full power
whenever plugged in: ``R_t = min(S_max, R_{t-1} + a_t - d_t)`` with ``R_0``
the initial energy, ``a_t = eta_in * P_max,t * dt`` and ``d_t`` the driving
energy.  Unrolled, ``R_t = C_t + min(R_0, min_{k <= t} (S_max - C_k))`` with
``C_t = sum_{k <= t} (a_k - d_k)``, one cumulative sum and one cumulative
minimum.  The recursion ignores the lower bound ``S_min``: where ``R_t``
falls below it, slack lifts the state and the recursion no longer bounds
what is reachable, so only the steps before the first such step are
reported (a conservative report: every need it names is certainly unmet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["UnmetNeeds", "reachable_energy", "unmet_needs"]


@dataclass(frozen=True)
class UnmetNeeds:
    """Needs that cannot be met without slack, of one battery (or one energy aggregate).

    Attributes
    ----------
    steps : int
        Number of steps whose need is certainly not met.
    first : int
        Index of the first such step (-1 when there is none).
    first_kwh : float
        Energy missing at that step (kWh, at least).
    largest_kwh : float
        The largest energy missing at one step (kWh, at least).
    """

    steps: int
    first: int
    first_kwh: float
    largest_kwh: float


def reachable_energy(initial: float, soc_max: float, charge_kwh: ArrayLike, driving: ArrayLike) -> np.ndarray:
    """The most energy a battery can hold at the end of every step, charging at full power when it can.

    Parameters
    ----------
    initial : float
        Stored energy before the first step (kWh).
    soc_max : float
        Upper bound of the stored energy (kWh).
    charge_kwh : array_like
        Most energy the chargers can store in each step, ``eta_in * P_max * dt`` (kWh).
    driving : array_like
        Energy leaving the battery in each step (kWh).

    Returns
    -------
    numpy.ndarray
        ``R_t`` (kWh), ignoring the lower bound (see the module docstring).
    """
    net = np.cumsum(np.asarray(charge_kwh, dtype=float) - np.asarray(driving, dtype=float))
    headroom = np.minimum.accumulate(soc_max - net)
    return net + np.minimum(initial, headroom)


def unmet_needs(
    initial: float,
    soc_min: float,
    soc_max: float,
    charge_kwh: ArrayLike,
    driving: ArrayLike,
    floor: ArrayLike,
) -> UnmetNeeds:
    """The needs of one battery that no dispatch meets without slack.

    Parameters
    ----------
    initial, soc_min, soc_max : float
        Initial energy and the bounds of the stored energy (kWh).
    charge_kwh, driving, floor : array_like
        Per step: most energy the chargers can store, driving energy and the
        need (kWh).

    Returns
    -------
    UnmetNeeds
    """
    floor = np.asarray(floor, dtype=float)
    reach = reachable_energy(initial, soc_max, charge_kwh, driving)
    below = np.flatnonzero(reach < soc_min - 1e-9 * max(1.0, soc_max))
    valid = floor.size if below.size == 0 else int(below[0])
    missing = floor[:valid] - reach[:valid]
    missing[missing <= 1e-9 * max(1.0, soc_max)] = 0.0
    hit = np.flatnonzero(missing > 0)
    if hit.size == 0:
        return UnmetNeeds(0, -1, 0.0, 0.0)
    return UnmetNeeds(int(hit.size), int(hit[0]), float(missing[hit[0]]), float(missing[hit].max()))
