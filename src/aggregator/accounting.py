"""The money of a dispatch: profit, penalty and objective recomputed from the schedule.

The core never passes on the objective a solver claims.  Every
:class:`~aggregator.Result` takes its ``profit``, ``penalty`` and
``objective`` from :func:`objective_terms`, evaluated on the dispatch the
backend returned; the claim is kept as ``solver_objective`` for diagnosis.

Every sum over the cells is correctly rounded (:func:`aggregator.exact_sum.exact_sum`,
the float :func:`math.fsum` gives), so the figures do not depend on the order
of the cells (in-process or assembled from batches) and match the kernel's own.

The objective is a sum of named terms, each a function of the dispatch and
the inputs with a sign.  A new term of the documented model (a wear cost, a
shortfall penalty, ...) is one more entry of :data:`TERMS`, e.g.::

    TERMS["wear"] = Term(wear_cost, -1.0)   # a cost: subtracted

and appears, by its name, in the dict :func:`objective_terms` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import xarray as xr

from .exact_sum import ExactSum, exact_sum

__all__ = [
    "Term",
    "TERMS",
    "revenue",
    "slack_penalty_cost",
    "wear_cost",
    "shortfall_cost",
    "market_impact_cost",
    "objective_terms",
]


#: Fleets (columns of the (time, fleet) arrays) summed at a time: the temporaries stay in the caches.
_COLUMNS = 32


def _blockwise_sum(cells: Callable[[slice], np.ndarray], fleets: int) -> float:
    """The correctly rounded sum of ``cells(block)`` over consecutive blocks of columns (one exact sum)."""
    total = ExactSum()
    for a in range(0, fleets, _COLUMNS):
        total.add(cells(slice(a, a + _COLUMNS)))
    return total.value()


def _array(solution: xr.Dataset, name: str) -> np.ndarray:
    return np.asarray(solution[name].transpose("time", "fleet").to_numpy(), dtype=float)  # no copy of float64 data


def revenue(solution: xr.Dataset, inputs: xr.Dataset) -> float:
    """Arbitrage revenue in $: ``sum(price / 1000 * (discharge - charge) * dt)``.

    Parameters
    ----------
    solution : xarray.Dataset
        ``charge`` and ``discharge`` (kW) over (time, fleet).
    inputs : xarray.Dataset
        ``price`` ($/MWh) over time; ``attrs["step_hours"]``.

    Returns
    -------
    float
    """
    value = inputs["price"].to_numpy()[:, None] * (float(inputs.attrs["step_hours"]) / 1000.0)
    charge, discharge = _array(solution, "charge"), _array(solution, "discharge")
    return _blockwise_sum(lambda b: value * (discharge[:, b] - charge[:, b]), charge.shape[1])


def slack_penalty_cost(solution: xr.Dataset, inputs: xr.Dataset) -> float:
    """Slack penalty in $: ``slack_penalty * sum(slack_up + slack_down)``.

    Parameters
    ----------
    solution : xarray.Dataset
        ``slack_up`` and ``slack_down`` (kWh) over (time, fleet).
    inputs : xarray.Dataset
        ``attrs["slack_penalty"]`` ($/kWh).

    Returns
    -------
    float
    """
    up, down = _array(solution, "slack_up"), _array(solution, "slack_down")
    return float(inputs.attrs["slack_penalty"]) * _blockwise_sum(lambda b: up[:, b] + down[:, b], up.shape[1])


def wear_cost(solution: xr.Dataset, inputs: xr.Dataset) -> float:
    """Battery wear in $: ``wear_cost * sum(discharge * dt / discharge_efficiency)`` (battery-side kWh).

    Parameters
    ----------
    solution : xarray.Dataset
        ``discharge`` (kW) over (time, fleet).
    inputs : xarray.Dataset
        ``wear_cost`` ($/kWh) and ``discharge_efficiency`` per fleet (no
        ``wear_cost``: no wear); ``attrs["step_hours"]``.

    Returns
    -------
    float
    """
    if "wear_cost" not in inputs or not inputs["wear_cost"].to_numpy().any():  # no rate: no wear (every product 0)
        return 0.0
    rate = inputs["wear_cost"] * (float(inputs.attrs["step_hours"]) / inputs["discharge_efficiency"])
    return exact_sum((rate * solution["discharge"]).to_numpy())


def shortfall_cost(solution: xr.Dataset, inputs: xr.Dataset) -> float:
    """Unmet departure need in $: ``sum(shortfall_penalty * shortfall)``.

    Parameters
    ----------
    solution : xarray.Dataset
        ``shortfall`` (kWh) over (time, fleet), as the Result recomputes it
        from the state of charge (``max(0, soc_floor - soc)``; the vehicles'
        sum for a "vehicles" fleet); none: no need was set.
    inputs : xarray.Dataset
        ``shortfall_penalty`` ($/kWh) per fleet.

    Returns
    -------
    float
    """
    if "shortfall" not in solution or "shortfall_penalty" not in inputs:
        return 0.0
    return exact_sum((inputs["shortfall_penalty"] * solution["shortfall"]).to_numpy())


def market_impact_cost(solution: xr.Dataset, inputs: xr.Dataset) -> float:
    """What moving the price cost a price maker in $: ``sum(price_impact * q^2 * dt)``.

    ``q`` is the net purchase of all fleets (MW); the price faced is
    ``price + price_impact * q`` (:func:`aggregator.price_impact.price_faced`),
    so the price-maker revenue is ``profit`` (the price-taker valuation at the
    given price) minus this amount.

    Parameters
    ----------
    solution : xarray.Dataset
        ``charge`` and ``discharge`` (kW) over (time, fleet).
    inputs : xarray.Dataset
        ``price_impact`` ($/MWh per MW) over time (none: a price taker); ``attrs["step_hours"]``.

    Returns
    -------
    float
    """
    from .price_impact import impact_of, is_price_maker

    if not is_price_maker(inputs):
        return 0.0
    from .price_impact import market_impact

    return market_impact(_array(solution, "charge"), _array(solution, "discharge"),
                         impact_of(inputs), float(inputs.attrs["step_hours"]))


@dataclass(frozen=True)
class Term:
    """A named part of the objective.

    Parameters
    ----------
    value : callable
        ``value(solution, inputs) -> float``, in $.
    sign : float
        ``+1`` for an income, ``-1`` for a cost (reported as a positive amount).
    """

    value: Callable[[xr.Dataset, xr.Dataset], float]
    sign: float


#: The terms of the documented model's objective, by the name they are reported under.
TERMS: dict[str, Term] = {
    "profit": Term(revenue, 1.0),
    "penalty": Term(slack_penalty_cost, -1.0),
    "wear": Term(wear_cost, -1.0),
    "shortfall_cost": Term(shortfall_cost, -1.0),
    "market_impact": Term(market_impact_cost, -1.0),
}


def objective_terms(solution: xr.Dataset, inputs: xr.Dataset) -> dict[str, float]:
    """Each term of the objective and their signed sum, recomputed from a dispatch.

    Parameters
    ----------
    solution : xarray.Dataset
        The dispatch over (time, fleet) (``charge``, ``discharge``, ``soc``,
        ``slack_up``, ``slack_down``).
    inputs : xarray.Dataset
        The validated inputs it was solved for.

    Returns
    -------
    dict of str to float
        One entry per term of :data:`TERMS` (``profit``, ``penalty``, ...) as a
        positive amount for a cost, and ``objective``: the incomes minus the costs.

    Examples
    --------
    One fleet, one hour at 100 $/MWh: selling 10 kW earns 1 $; 2 kWh of slack at 0.5 $/kWh cost 1 $.

    >>> import xarray as xr
    >>> inputs = xr.Dataset({"price": ("time", [100.0])}, attrs={"step_hours": 1.0, "slack_penalty": 0.5})
    >>> cell = lambda x: (("time", "fleet"), [[x]])
    >>> solution = xr.Dataset({"charge": cell(0.0), "discharge": cell(10.0), "soc": cell(0.0),
    ...                        "slack_up": cell(2.0), "slack_down": cell(0.0)})
    >>> objective_terms(solution, inputs)
    {'profit': 1.0, 'penalty': 1.0, 'wear': 0.0, 'shortfall_cost': 0.0, 'market_impact': 0.0, 'objective': 0.0}
    """
    out = {name: float(term.value(solution, inputs)) for name, term in TERMS.items()}
    out["objective"] = math.fsum(TERMS[name].sign * out[name] for name in TERMS)
    return out
