"""slack_floor's two clipped recursions give the interval recursion's floats (issue 14).

The reference below is the forward pass over the reachable interval as the
module describes it (and as it was computed before: both ends moved, the
interval clipped to the bounds, the slack where it misses them).  The fast
version clips each end on its own; the test holds it to the same floats, bit
for bit, with and without driving, at step lengths that round.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from aggregator.diagnostics import slack_floor, slack_needs


def _interval_pass(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    dt = float(ds.attrs["step_hours"])
    pmax, smin, smax = (ds[k].to_numpy() for k in ("power_max", "soc_min", "soc_max"))
    eta_in, eta_out = ds["charge_efficiency"].to_numpy(), ds["discharge_efficiency"].to_numpy()
    driving = ds["driving"].to_numpy() if "driving" in ds else np.zeros_like(smin)
    lo = ds["soc_initial"].to_numpy().astype(float).copy()
    hi = lo.copy()
    up, down = np.zeros_like(smin), np.zeros_like(smin)
    for t in range(smin.shape[0]):
        a = lo - pmax[t] * dt / eta_out - driving[t]
        b = hi + eta_in * pmax[t] * dt - driving[t]
        over, under = a > smax[t], b < smin[t]
        down[t] = np.where(over, a - smax[t], 0.0)
        up[t] = np.where(under, smin[t] - b, 0.0)
        lo = np.where(over, smax[t], np.where(under, smin[t], np.maximum(a, smin[t])))
        hi = np.where(over, smax[t], np.where(under, smin[t], np.minimum(b, smax[t])))
    return up, down


@pytest.mark.parametrize("seed", range(8))
def test_same_floats_as_the_interval_recursion(seed):
    rng = np.random.default_rng(seed)
    steps, fleets = int(rng.integers(1, 400)), int(rng.integers(1, 9))
    smax = rng.uniform(5, 50, (steps, fleets)) * np.where(rng.uniform(size=(steps, 1)) < 0.2, 0.05, 1.0)
    grid = (("time", "fleet"),)
    ds = xr.Dataset(
        {
            "power_max": (*grid, rng.uniform(0, 10, (steps, fleets)) * (rng.uniform(size=(steps, fleets)) > 0.3)),
            "soc_min": (*grid, smax * rng.uniform(0, 1, (steps, fleets))),
            "soc_max": (*grid, smax),
            "charge_efficiency": ("fleet", rng.uniform(0.7, 1, fleets)),
            "discharge_efficiency": ("fleet", rng.uniform(0.7, 1, fleets)),
            "soc_initial": ("fleet", rng.uniform(0, 60, fleets)),
        },
        coords={"time": np.arange(steps), "fleet": [f"f{j}" for j in range(fleets)]},
        attrs={"step_hours": float(rng.choice([0.25, 1.0, 0.7]))},
    )
    if seed % 2:
        ds["driving"] = (*grid, rng.uniform(0, 8, (steps, fleets)) * (rng.uniform(size=(steps, fleets)) > 0.6))
    up, down = _interval_pass(ds)
    assert (up > 0).any() or (down > 0).any() or steps < 5  # the instances do need slack somewhere
    floor = slack_floor(ds)
    assert floor["slack_up"].to_numpy().tobytes() == up.tobytes()
    assert floor["slack_down"].to_numpy().tobytes() == down.tobytes()


def _needs_one_fleet_at_a_time(up: np.ndarray, down: np.ndarray, times, tolerance: float) -> list[tuple]:
    # the summary as it was computed before (issue 14): one strided column of (time, fleet) per fleet
    total = up + down
    out = []
    for j in range(total.shape[1]):
        column = total[:, j]
        used = np.flatnonzero(column > tolerance)
        if used.size:
            has_up, has_down = bool((up[:, j] > tolerance).any()), bool((down[:, j] > tolerance).any())
            out.append((f"f{j}", float(column[used].sum()), int(used.size), int(used[0]), times[int(used[0])],
                        int(np.argmax(column)), float(column[np.argmax(column)]),
                        "both" if has_up and has_down else "up" if has_up else "down"))
    return out


def test_slack_needs_by_blocks_of_fleets_are_the_per_fleet_summaries_bit_for_bit():
    # 150 fleets (three blocks of 64), sparse slack of every scale, some fleets without any, some
    # below the tolerance only: the same fleets, kWh (same additions), steps, first and worst steps.
    rng = np.random.default_rng(4)
    steps, fleets, tolerance = 500, 150, 1e-6
    up = np.where(rng.random((steps, fleets)) < 0.05, rng.lognormal(0, 6, (steps, fleets)), 0.0)
    down = np.where(rng.random((steps, fleets)) < 0.03, rng.lognormal(0, 6, (steps, fleets)), 0.0)
    up[:, 10:20] = down[:, 10:20] = 0.0
    up[:, 30], down[:, 30] = 1e-7, 0.0  # below the tolerance everywhere
    down[:, 40:45] = 0.0  # up only
    up[:, 45:50] = 0.0  # down only
    time = np.datetime64("2030-01-01T00") + np.arange(steps).astype("timedelta64[h]")
    coords = {"time": time, "fleet": [f"f{j}" for j in range(fleets)]}
    found = slack_needs(xr.DataArray(up, dims=("time", "fleet"), coords=coords),
                        xr.DataArray(down, dims=("time", "fleet"), coords=coords), tolerance)
    expected = _needs_one_fleet_at_a_time(up, down, list(map(np.datetime64, time)), tolerance)
    got = [(n.fleet, n.kwh, n.steps, n.first_step, np.datetime64(n.first_time), n.worst_step, n.worst_kwh, n.direction)
           for n in found]
    assert len(got) == len(expected) == fleets - 11
    assert got == expected
    assert {n.direction for n in found} == {"up", "down", "both"}
