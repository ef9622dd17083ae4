"""The result of one fleet's exact DP: its schedule and its certificate.

:class:`FleetSolution` is what :func:`aggregator.exact_dp.solve_fleet` returns.
It lives in a module of its own, which imports numpy only, so that code that
receives or inspects solutions (the price-impact layer, a process that only
gathers the results of a worker) does not import numba and load the compiled
kernel.  :mod:`aggregator.exact_dp` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FleetSolution"]


@dataclass(frozen=True, eq=False)
class FleetSolution:
    """Optimal schedule of one fleet and its certificate.

    Attributes
    ----------
    charge, discharge : numpy.ndarray
        ``P_in`` and ``P_out`` per step (kW), length ``T``.
    soc : numpy.ndarray
        State of charge ``S_1 .. S_T`` at the end of each step (kWh).
    slack_up, slack_down : numpy.ndarray
        ``sigma+`` and ``sigma-`` per step (kWh).
    objective : float
        ``profit - penalty - wear - shortfall_cost`` of the returned
        trajectory ($).
    profit : float
        ``sum lambda/1000 (P_out - P_in) dt`` ($).
    penalty : float
        ``M * sum (sigma+ + sigma-)`` ($).
    shortfall : numpy.ndarray
        ``max(0, floor_t - S_t)`` per step (kWh); zeros without a floor.
    shortfall_cost : float
        ``shortfall_penalty * sum shortfall`` ($).
    wear : float
        ``wear_cost * sum P_out dt / eta_out`` ($).
    bound : float
        Upper bound on the optimal objective: DP value plus allowances for
        pruning, merging and rounding (see module docstring).
    components_max : int
        Largest number of concave components of a value function.
    components_mean : float
        Mean number of components over the steps.
    dp_value : float
        ``V_0(s_init)`` as computed by the backward pass.
    allowance : float
        ``bound - dp_value``.
    exact : bool
        ``False`` if the component cap forced a concave relaxation.
    """

    charge: NDArray[np.float64]
    discharge: NDArray[np.float64]
    soc: NDArray[np.float64]
    slack_up: NDArray[np.float64]
    slack_down: NDArray[np.float64]
    objective: float
    profit: float
    penalty: float
    shortfall: NDArray[np.float64]
    shortfall_cost: float
    wear: float
    bound: float
    components_max: int
    components_mean: float
    dp_value: float
    allowance: float
    exact: bool

    @property
    def gap(self) -> float:
        """Certified relative gap ``(bound - objective) / max(|bound|, 1)``."""
        return (self.bound - self.objective) / max(abs(self.bound), 1.0)
