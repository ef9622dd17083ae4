"""Facts about a problem that need no solver: the least slack it needs, and where.

Each fleet is one storage whose state of charge ``S_t`` must stay within
``[soc_min_t, soc_max_t]`` and can change in one step by at most
``eta_in * power_max_t * dt`` up or ``power_max_t * dt / eta_out`` down.  The
set of states reachable at each step is therefore an interval, and a forward
pass over the steps finds exactly where that interval misses the bounds: there
the model without slack is infeasible, and the model with slack must use at
least the missing energy.  Moving to the nearest bound at each such step is
optimal for the total (a kWh of slack spent early saves at most a kWh later),
so :func:`slack_floor` is the least total slack any solution can use.

These facts serve the warnings before a solve (an initial state of charge that
only slack can reconcile), the explanation of an infeasible model, and the
report of slack use after a solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["slack_floor", "SlackNeed", "slack_needs", "profitable_slack_price"]


def slack_floor(inputs: xr.Dataset) -> xr.Dataset:
    """The least slack energy each fleet must use in each step, from its bounds alone.

    Parameters
    ----------
    inputs : xarray.Dataset
        Validated inputs (:attr:`aggregator.Aggregator.inputs`): ``power_max``,
        ``soc_min``, ``soc_max`` (and ``driving``, if present) over (time, fleet), ``soc_initial``,
        ``charge_efficiency``, ``discharge_efficiency`` over fleet, and the
        ``step_hours`` attribute.

    Returns
    -------
    xarray.Dataset
        ``slack_up`` (energy that must appear: the fleet cannot charge up to its
        minimum) and ``slack_down`` (energy that must vanish: it cannot
        discharge down to its maximum), in kWh over (time, fleet).  Both are
        zero everywhere exactly when the model without slack is feasible.
        The inputs' ``soc_min`` must not exceed ``soc_max`` (validated inputs
        never do).

    Examples
    --------
    A full 10 kWh fleet whose vehicles all leave in the second step, with a
    5 kW charger: it can discharge 5 kWh, the other 5 kWh must vanish as slack.

    >>> from aggregator import Aggregator, Fleet, PriceSignal
    >>> f = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=5, charge_efficiency=1.0,
    ...           discharge_efficiency=1.0, contract_limit=1.0, initial_soc=1.0, availability=[1, 0])
    >>> floor = slack_floor(Aggregator([f], PriceSignal([10.0, 10.0])).inputs)
    >>> floor["slack_down"].values[:, 0].tolist()
    [0.0, 5.0]
    """
    dt = float(inputs.attrs["step_hours"])
    pmax = inputs["power_max"].transpose("time", "fleet").to_numpy()
    smin = inputs["soc_min"].transpose("time", "fleet").to_numpy()
    smax = inputs["soc_max"].transpose("time", "fleet").to_numpy()
    eta_in = inputs["charge_efficiency"].to_numpy()
    eta_out = inputs["discharge_efficiency"].to_numpy()
    driving = inputs["driving"].transpose("time", "fleet").to_numpy() if "driving" in inputs else None
    # The reachable interval [lo, hi] moves to [a, b] = [lo - pmax dt / eta_out, hi + eta_in pmax dt]
    # (less driving) and is clipped to [soc_min_t, soc_max_t].  As a <= b and soc_min <= soc_max,
    # clipping each end on its own gives the same floats as clipping the interval (both ends at
    # soc_max when a > soc_max, at soc_min when b < soc_min): two recursions of in-place ufuncs.
    # ``down`` and ``up`` hold the steps' moves, then a and b, then the slack: no other array of
    # time x fleet is made.
    down = pmax * dt
    down /= eta_out
    up = eta_in * pmax
    up *= dt
    lo = inputs["soc_initial"].to_numpy().astype(float).copy()
    hi = lo.copy()
    for t in range(smin.shape[0]):
        a, b = down[t], up[t]
        np.subtract(lo, a, out=a)
        np.add(hi, b, out=b)
        if driving is not None:
            a -= driving[t]
            b -= driving[t]
        np.maximum(a, smin[t], out=lo)
        np.minimum(lo, smax[t], out=lo)
        np.maximum(b, smin[t], out=hi)
        np.minimum(hi, smax[t], out=hi)
    np.subtract(down, smax, out=down)
    np.maximum(down, 0.0, out=down)
    np.subtract(smin, up, out=up)
    np.maximum(up, 0.0, out=up)
    coords = {"time": inputs["time"], "fleet": inputs["fleet"]}
    return xr.Dataset(
        {
            "slack_up": xr.DataArray(up, dims=("time", "fleet"), coords=coords, attrs={"units": "kWh"}),
            "slack_down": xr.DataArray(down, dims=("time", "fleet"), coords=coords, attrs={"units": "kWh"}),
        }
    )


@dataclass(frozen=True)
class SlackNeed:
    """Where one fleet uses (or needs) slack energy.

    Parameters
    ----------
    fleet : str
    kwh : float
        Total slack energy (up plus down) in kWh.
    steps : int
        Number of steps with slack.
    first_step, worst_step : int
        Index of the first step with slack and of the step with the most.
    first_time, worst_time : pandas.Timestamp
    worst_kwh : float
        Slack in the worst step.
    direction : str
        ``"down"`` (energy vanishes: vehicles leave fuller than the fleet can
        discharge), ``"up"`` (energy appears: the fleet cannot charge to its
        minimum), or ``"both"``.
    """

    fleet: str
    kwh: float
    steps: int
    first_step: int
    first_time: pd.Timestamp
    worst_step: int
    worst_time: pd.Timestamp
    worst_kwh: float
    direction: str

    def sentence(self) -> str:
        """One line for the user.

        Returns
        -------
        str
        """
        what = {
            "down": "energy above the fleet's maximum that it cannot discharge in time",
            "up": "energy below the fleet's minimum that it cannot charge in time",
            "both": "energy outside the fleet's bounds that it cannot charge or discharge in time",
        }[self.direction]
        return (
            f"fleet {self.fleet!r}: {self.kwh:,.1f} kWh in {self.steps} step{'s' if self.steps != 1 else ''} "
            f"({what}); first at step {self.first_step} ({self.first_time}), "
            f"most at step {self.worst_step} ({self.worst_time}, {self.worst_kwh:,.1f} kWh)"
        )


def slack_needs(up: xr.DataArray, down: xr.DataArray, tolerance: float = 1e-6) -> list[SlackNeed]:
    """Summarise slack per fleet (from a solution or from :func:`slack_floor`).

    Parameters
    ----------
    up, down : xarray.DataArray
        Slack energy in kWh over (time, fleet).
    tolerance : float
        Slack at or below this many kWh in a step counts as none (solver noise).

    Returns
    -------
    list of SlackNeed
        One per fleet that uses slack, in fleet order.
    """
    up = up.transpose("time", "fleet")
    down = down.transpose("time", "fleet")
    up_values, down_values = up.to_numpy(), down.to_numpy()
    times = pd.DatetimeIndex(up["time"].to_numpy())
    fleets = up["fleet"].to_numpy()
    needs = []
    # a block of fleets at a time, each fleet's steps made contiguous (a column of (time, fleet) is strided)
    for a in range(0, fleets.size, _FLEET_BLOCK):
        b = slice(a, a + _FLEET_BLOCK)
        rows = np.ascontiguousarray((up_values[:, b] + down_values[:, b]).T)
        ups, downs = (up_values[:, b] > tolerance).any(axis=0), (down_values[:, b] > tolerance).any(axis=0)
        for i in np.flatnonzero((rows > tolerance).any(axis=1)).tolist():
            needs.append(_need(str(fleets[a + i]), rows[i], tolerance, times, bool(ups[i]), bool(downs[i])))
    return needs


#: Fleets summarised at a time by :func:`slack_needs`.
_FLEET_BLOCK = 64


def _need(fleet: str, column: np.ndarray, tolerance: float, times: pd.DatetimeIndex, has_up: bool,
          has_down: bool) -> SlackNeed:
    """One fleet's :class:`SlackNeed` from its total slack per step (some step above ``tolerance``)."""
    used = np.flatnonzero(column > tolerance)
    first, worst = int(used[0]), int(np.argmax(column))
    return SlackNeed(
        fleet=fleet,
        kwh=float(column[used].sum()),
        steps=int(used.size),
        first_step=first,
        first_time=times[first],
        worst_step=worst,
        worst_time=times[worst],
        worst_kwh=float(column[worst]),
        direction="both" if has_up and has_down else "up" if has_up else "down",
    )


def profitable_slack_price(prices: np.ndarray, charge_efficiencies: Sequence[float]) -> float:
    """The most a kWh of slack energy can earn at these prices, in $/kWh.

    A kWh of slack that appears saves buying ``1/eta_in`` kWh (or earns up to
    ``eta_out`` kWh of sales); one that vanishes makes room to charge
    ``1/eta_in`` kWh more at a negative price.  A slack penalty at or below
    this value lets the optimiser create or destroy energy for profit.

    Parameters
    ----------
    prices : numpy.ndarray
        $/MWh.
    charge_efficiencies : sequence of float

    Returns
    -------
    float
    """
    prices = np.asarray(prices, dtype=float)
    if prices.size == 0:
        return 0.0
    return float(np.max(np.abs(prices))) / 1000.0 / float(min(charge_efficiencies))
