"""Result: the solution and its inputs as one xarray.Dataset, with KPIs and export."""

from __future__ import annotations

import datetime as _dt
import json
import math
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import lazy_dask  # noqa: F401 - before the first variable: xarray then does not import dask.array
from .atomic import atomic_path
from .formats import STEP_COLUMNS, inputs_hash, package_versions
from .formulation import VARIABLES
from .accounting import TERMS, objective_terms
from .timezones import TIMEZONE_ATTR
from .solvers import SolveOutcome, absolute_tolerance, relative_gap

__all__ = ["Result"]

#: Fleets checked at a time by :meth:`Result.violations` (its temporaries: this many columns).
_VIOLATION_BLOCK = 128

_SUMMARY_ATTRS = ("status", "objective", "profit", "penalty", "bound", "gap", "solve_seconds")


def _package_version() -> str:
    try:
        return version("aggregator")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


# ---------------------------------------------------------------------------
# Accounting of the fleet-representation terms (issue 12): battery wear and the
# shortfall of departure needs, kept apart from profit and slack penalty so the
# one accounting function can take them over as they are.
# ---------------------------------------------------------------------------
def _over_time(values: xr.DataArray, how: str = "sum") -> xr.DataArray:
    """``values.sum("time")`` (or ``.max``) as xarray gives it, without xarray's NaN-skipping copy of the values.

    Without NaN the plain reduction adds (or compares) the same numbers in the same order, so the
    answer is the same float; a NaN in its answer means one in the values (or ``inf - inf``), and then
    the NaN-skipping reduction answers, as before.
    """
    plain = getattr(values, how)("time", skipna=False)
    return getattr(values, how)("time") if bool(plain.isnull().any()) else plain


def _fleet_wear(ds: xr.Dataset, dt: float) -> xr.DataArray:
    """Wear cost per fleet in $: ``wear_cost * sum(discharge * dt / discharge_efficiency)``."""
    if "wear_cost" not in ds:
        return xr.DataArray(np.zeros(ds.sizes["fleet"]), dims="fleet", coords={"fleet": ds["fleet"]})
    return _over_time(ds["wear_cost"] * dt / ds["discharge_efficiency"] * ds["discharge"])


def _price_taker_profit(ds: xr.Dataset, dt: float) -> xr.DataArray:
    """The price-taker valuation of a dispatch per step and fleet ($): ``price (discharge - charge) dt / 1000``.

    What a price-taker model would have told the fleet it earns in each step
    (at the given price, not the price it faced); it sums to ``profit``.

    Parameters
    ----------
    ds : xarray.Dataset
        With ``price`` ($/MWh, over time) and ``charge``, ``discharge`` (kW, over time and fleet).
    dt : float
        Step length (h).

    Returns
    -------
    xarray.DataArray
        Over (time, fleet), ``units = "$"``.
    """
    value = (ds["price"] * (dt / 1000.0) * (ds["discharge"] - ds["charge"])).transpose("time", "fleet")
    return value.assign_attrs(units="$")


def _representation_terms(ds: xr.Dataset, inputs: xr.Dataset, solution: xr.Dataset | None) -> None:
    """Put the wear rate, the recomputed shortfall and the per-vehicle dispatch into ``ds``.

    Their cost is counted by :func:`aggregator.accounting.objective_terms`
    (terms ``wear`` and ``shortfall_cost``) from what this puts into ``ds``.

    The shortfall of a fleet without vehicles is recomputed from its state of
    charge, ``max(0, soc_floor - soc)``; a "vehicles" fleet's is the sum of
    its vehicles' (from the solution: the fleet total alone does not show it).
    """
    from .formulation import OPTIONAL_VARIABLES, has_shortfall

    for key in ("driving", "soc_floor"):
        if key in inputs and bool((inputs[key] != 0).any()):
            ds[key] = inputs[key]
    if "wear_cost" in inputs and bool((inputs["wear_cost"] > 0).any()):
        ds["wear_cost"] = inputs["wear_cost"]
    if has_shortfall(inputs):
        ds["shortfall_penalty"] = inputs["shortfall_penalty"]
    if solution is None or not has_shortfall(inputs):
        return
    shortfall = np.maximum(inputs["soc_floor"].to_numpy() - ds["soc"].to_numpy(), 0.0)
    reps = inputs.attrs.get("representations", {})
    if "shortfall" in solution:
        reported = solution["shortfall"].transpose("time", "fleet").to_numpy()
        for j, name in enumerate(inputs.indexes["fleet"]):
            if reps.get(name) == "vehicles":
                shortfall[:, j] = np.maximum(reported[:, j], shortfall[:, j])
    # below rounding of the state of charge (1e-9 relative) there is no shortfall to report
    shortfall[shortfall <= 1e-9 * np.maximum(inputs["soc_floor"].to_numpy(), 1.0)] = 0.0
    ds["shortfall"] = xr.DataArray(shortfall, dims=("time", "fleet"), attrs={"units": "kWh"})
    if "vehicle" in inputs.dims:
        keep_all = inputs.attrs.get("vehicle_results", {})
        fleets = list(inputs.indexes["fleet"])
        owner = inputs["vehicle_fleet"].to_numpy()
        kept = np.array([keep_all.get(fleets[j]) == "all" for j in owner])
        if kept.any():
            for name, unit in OPTIONAL_VARIABLES.items():
                if name.startswith("vehicle_") and name in solution:
                    values = solution[name].transpose("time", "vehicle").to_numpy()[:, kept]
                    ds[name] = xr.DataArray(
                        values, dims=("time", "vehicle"), coords={"vehicle": inputs["vehicle"].values[kept]},
                        attrs={"units": unit},
                    )


class Result:
    """The outcome of a solve: solution, inputs and run facts in one Dataset.

    Parameters
    ----------
    dataset : xarray.Dataset
        Over (time, fleet): ``charge``, ``discharge`` (kW), ``soc``,
        ``slack_up``, ``slack_down`` (kWh), ``price`` ($/MWh),
        ``availability`` (share); run facts in ``attrs`` (status, objective,
        profit, penalty, bound, gap, solver, solve_seconds, ``currency`` (the
        prices' label, empty when unstated), ...).  When the prices have a time
        zone, the ``time`` coordinate holds UTC stamps and the zone is the
        attribute ``timezone`` of the coordinate and of the dataset
        (:func:`aggregator.timezones.local_time` gives the local stamps).

    Notes
    -----
    ``profit`` is the arbitrage revenue ``sum(price/1000 * (discharge - charge) * dt)``
    without the slack penalty; ``objective = profit - penalty - wear -
    shortfall_cost`` (plus any terms a model extension added), all recomputed
    from the dispatch (:mod:`aggregator.accounting`), never taken from the
    solver (its claim is ``attrs["solver_objective"]``); ``gap = (bound -
    objective) / |bound|`` where the bound is proven by the solver (NaN when it
    proves none, or when the core found it below the recomputed objective: then
    ``attrs["solver_bound"]`` is the claim).
    """

    def __init__(self, dataset: xr.Dataset) -> None:
        self.dataset = dataset

    # ------------------------------------------------------------ construction
    @classmethod
    def from_outcome(
        cls,
        inputs: xr.Dataset,
        outcome: SolveOutcome,
        *,
        choice: str = "",
        wall_seconds: float = math.nan,
        mip_gap: float = math.nan,
        name: str = "",
        objective: float | None = None,
        inputs_digest: str | None = None,
    ) -> "Result":
        """Assemble a Result from validated inputs and a backend's outcome.

        Parameters
        ----------
        inputs : xarray.Dataset
            The aggregator's inputs.
        outcome : SolveOutcome
            What the backend returned.
        choice : str
            How the backend was chosen.
        wall_seconds : float
            Wall time of the whole solve call.
        mip_gap : float
            The requested gap.
        name : str
            Scenario label.
        objective : float, optional
            The objective of the dispatch when the model's objective is not the
            documented one (a subclass's ``define_objective`` or an extension
            changed it): the built model's objective evaluated at the solution.
            Default: the sum of :func:`aggregator.accounting.objective_terms`.
        inputs_digest : str, optional
            :func:`aggregator.formats.inputs_hash` of ``inputs`` when the caller
            has it (computed while the fleets were solved); default: computed here.

        Returns
        -------
        Result
            ``profit``, ``penalty`` (and any other term of
            :data:`aggregator.accounting.TERMS`) and ``objective`` recomputed
            from the dispatch, whatever the backend claims; the claim is kept
            as ``attrs["solver_objective"]``.  The gap uses the problem's
            absolute tolerance (:func:`aggregator.solvers.absolute_tolerance`).
        """
        ds = xr.Dataset(coords={"time": inputs["time"], "fleet": inputs["fleet"]})
        shape = (inputs.sizes["time"], inputs.sizes["fleet"])
        for var, unit in VARIABLES.items():
            if outcome.solution is not None:
                data = np.asarray(outcome.solution[var].transpose("time", "fleet").to_numpy(), dtype=float)
            else:
                data = np.full(shape, np.nan)
            ds[var] = xr.DataArray(data, dims=("time", "fleet"), attrs={"units": unit})
        ds["price"] = inputs["price"]
        from .price_impact import impact_of, is_price_maker

        if is_price_maker(inputs):  # a price maker: the price it faced beside the price it was given
            from .price_impact import price_faced

            for var in ("price_impact", "supply_quantity", "supply_shift"):
                if var in inputs:
                    ds[var] = inputs[var]
            faced = price_faced(inputs["price"].to_numpy(), ds["charge"].to_numpy(), ds["discharge"].to_numpy(),
                                impact_of(inputs))
            ds["price_faced"] = xr.DataArray(faced, dims="time", attrs={"units": "$/MWh"})
            ds["price_taker_profit"] = _price_taker_profit(ds, float(inputs.attrs["step_hours"]))
        ds["availability"] = inputs["availability"]
        if not np.array_equal(inputs["availability"].to_numpy(), inputs["power_availability"].to_numpy()):
            ds["power_availability"] = inputs["power_availability"]
        for var in ("soc_min", "soc_max", "power_max", "soc_initial", "charge_efficiency", "discharge_efficiency"):
            ds[var] = inputs[var]
        dt = float(inputs.attrs["step_hours"])
        penalty_rate = float(inputs.attrs["slack_penalty"])
        has = outcome.solution is not None
        # Never the solver's word: every amount is recomputed from the dispatch (the wear and the
        # departure shortfall too: _representation_terms puts the recomputed shortfall into ds).
        _representation_terms(ds, inputs, outcome.solution)
        terms = objective_terms(ds, inputs) if has else {name: math.nan for name in (*TERMS, "objective")}
        if has and objective is not None:
            terms["objective"] = float(objective)
        ds.attrs.update(
            name=name,
            status=outcome.status,
            termination=outcome.termination,
            message=outcome.message,
            **{key: float(value) for key, value in terms.items()},
            solver_objective=float(outcome.objective),
            bound=float(outcome.bound),
            gap=relative_gap(terms["objective"], outcome.bound, absolute_tolerance(inputs)),
            mip_gap=float(mip_gap),
            solver=outcome.solver,
            solver_choice=choice,
            solve_seconds=float(outcome.solve_seconds),
            wall_seconds=float(wall_seconds),
            step_hours=dt,
            slack_penalty=penalty_rate,
            exclusive_charging=int(bool(inputs.attrs["exclusive_charging"])),
            representations=json.dumps(inputs.attrs.get("representations", {}), sort_keys=True),
            price_source=str(inputs.attrs.get("price_source", "")),
            currency=str(inputs.attrs.get("currency", "")),
            **{key: inputs.attrs[key] for key in (TIMEZONE_ATTR,) if key in inputs.attrs},
            aggregator_version=_package_version(),
            versions=json.dumps(package_versions(), sort_keys=True),
            inputs_hash=inputs_hash(inputs) if inputs_digest is None else inputs_digest,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        )
        if "price_faced" in ds:  # the price maker's revenue beside the price taker's valuation (``profit``)
            ds.attrs["price_maker_profit"] = float(terms["profit"]) - float(terms.get("market_impact", 0.0))
        for key, value in outcome.details.items():
            if isinstance(value, (int, float, str)):
                ds.attrs[f"solver_{key}"] = value
        return cls(ds)

    @property
    def wear(self) -> float:
        """Battery wear cost in $ (``wear_cost`` times the energy discharged from the batteries)."""
        return float(self.dataset.attrs.get("wear", 0.0))

    @property
    def shortfall_cost(self) -> float:
        """Cost of unmet departure needs in $ (``shortfall_penalty`` times the shortfall energy)."""
        return float(self.dataset.attrs.get("shortfall_cost", 0.0))

    @property
    def shortfall_kwh(self) -> pd.Series:
        """Departure need not met, per fleet, in kWh (zero without needs)."""
        if "shortfall" not in self.dataset:
            return pd.Series(0.0, index=self.dataset.indexes["fleet"], name="shortfall_kwh")
        return _over_time(self.dataset["shortfall"]).to_series().rename("shortfall_kwh")

    @property
    def fleet_objective(self) -> pd.Series:
        """Objective per fleet in $: profit minus slack penalty, wear, shortfall cost and market impact.

        With a price impact, the market impact of a step, ``beta_t Q_t^2 dt``
        for the total net purchase ``Q_t``, is attributed to the fleets by
        their share of it: ``beta_t Q_t q_{f,t} dt`` (a fleet that trades
        against the total is credited), so the fleets' objectives add up to
        :attr:`objective`.
        """
        ds = self.dataset
        value = self._fleet_profit(ds, self.step_hours) - float(ds.attrs["slack_penalty"]) * _over_time(
            ds["slack_up"] + ds["slack_down"]
        )
        value = value - _fleet_wear(ds, self.step_hours)
        if "shortfall" in ds:
            value = value - _over_time(ds["shortfall_penalty"] * ds["shortfall"])
        if "price_impact" in ds or "supply_shift" in ds:
            from .price_impact import impact_of, impact_shares

            value = value - impact_shares(ds["charge"], ds["discharge"], impact_of(ds), self.step_hours)
        return value.to_series().rename("objective")

    @property
    def aggregation_error(self) -> pd.DataFrame:
        """For each "vehicles" fleet: its objective, its energy aggregate's, their difference ($) and its share.

        Returns
        -------
        pandas.DataFrame
            Columns ``vehicles``, ``aggregate``, ``error``, ``relative``; empty
            without "vehicles" fleets (see :mod:`aggregator.aggregation`).
        """
        ds = self.dataset
        if "aggregation_error" not in ds:
            return pd.DataFrame(columns=["vehicles", "aggregate", "error", "relative"], dtype=float)
        table = pd.DataFrame(
            {
                "vehicles": self.fleet_objective,
                "aggregate": ds["aggregate_objective"].to_series(),
                "error": ds["aggregation_error"].to_series(),
                "relative": ds["aggregation_error_relative"].to_series(),
            }
        )
        return table[table["aggregate"].notna()]

    @property
    def fleet_wear(self) -> pd.Series:
        """Battery wear cost per fleet in $."""
        return _fleet_wear(self.dataset, self.step_hours).to_series().rename("wear")

    @staticmethod
    def _fleet_profit(ds: xr.Dataset, dt: float) -> xr.DataArray:
        value = ds["price"] * (dt / 1000.0)
        return _over_time(value * (ds["discharge"] - ds["charge"]))

    # -------------------------------------------------------------- properties
    @property
    def status(self) -> str:
        """``optimal``, ``feasible``, ``time_limit``, ``infeasible``, ``no_solution`` or ``error``."""
        return str(self.dataset.attrs["status"])

    @property
    def has_solution(self) -> bool:
        """Whether a solution is present."""
        return bool(np.isfinite(self.dataset["charge"].to_numpy()).all())

    @property
    def profit(self) -> float:
        """Arbitrage revenue in $ (without the slack penalty)."""
        return float(self.dataset.attrs["profit"])

    @property
    def market_impact(self) -> float:
        """What moving the price cost in $ (0 for a price taker): ``profit - market_impact`` is the price-maker revenue."""
        return float(self.dataset.attrs.get("market_impact", 0.0))

    @property
    def penalty(self) -> float:
        """Slack penalty in $."""
        return float(self.dataset.attrs["penalty"])

    @property
    def objective(self) -> float:
        """Objective value in $ (profit minus penalty, plus any extension terms)."""
        return float(self.dataset.attrs["objective"])

    @property
    def bound(self) -> float:
        """Proven upper bound of the optimal objective in $ (NaN when not proven)."""
        return float(self.dataset.attrs["bound"])

    @property
    def gap(self) -> float:
        """Certified relative gap ``(bound - objective) / |bound|``."""
        return float(self.dataset.attrs["gap"])

    @property
    def step_hours(self) -> float:
        """Step length in hours."""
        return float(self.dataset.attrs["step_hours"])

    @property
    def fleet_profit(self) -> pd.Series:
        """Profit per fleet in $."""
        return self._fleet_profit(self.dataset, self.step_hours).to_series().rename("profit")

    @property
    def charged_kwh(self) -> pd.Series:
        """Energy bought from the grid per fleet in kWh."""
        return (_over_time(self.dataset["charge"]) * self.step_hours).to_series().rename("charged_kwh")

    @property
    def discharged_kwh(self) -> pd.Series:
        """Energy sold to the grid per fleet in kWh."""
        return (_over_time(self.dataset["discharge"]) * self.step_hours).to_series().rename("discharged_kwh")

    @property
    def slack_kwh(self) -> pd.Series:
        """Slack energy used per fleet in kWh (up plus down)."""
        return _over_time(self.dataset["slack_up"] + self.dataset["slack_down"]).to_series().rename("slack_kwh")

    def fleet_table(self) -> pd.DataFrame:
        """One row per fleet: profit, energy charged and discharged, equivalent full cycles, slack.

        Returns
        -------
        pandas.DataFrame
        """
        discharged = self.discharged_kwh  # once: a sum over every cell
        table = pd.concat([self.fleet_profit, self.charged_kwh, discharged, self.slack_kwh], axis=1)
        capacity = _over_time(self.dataset["soc_max"], "max").to_series()
        table["cycles"] = (discharged / capacity.replace(0, np.nan)).fillna(0.0)
        return table

    def summary(self) -> dict[str, Any]:
        """The run's facts as a JSON-ready dict (the ``--json`` output).

        Returns
        -------
        dict
            ``status``, ``profit``, ``objective``, ``penalty``, ``bound``, ``gap``,
            ``solve_seconds``, ``fleets`` (name -> profit, charged_kwh,
            discharged_kwh, wear, shortfall_kwh), ``slack_kwh``, ``wear`` and
            ``shortfall_cost`` ($), ``shortfall_kwh``, ``aggregation_error``
            (for "vehicles" fleets: vehicles, aggregate, error, relative),
            ``shortfall`` (see :meth:`shortfall_report`), ``solver``; ``message`` when there is
            one; ``mip_gap`` (the requested gap), ``termination`` (the solver's
            word), ``slack`` (fleet -> kwh, penalty, steps, direction,
            first_step, first_time, worst_step, worst_time, worst_kwh, for each
            fleet that uses slack) and ``slack_forced_kwh`` (the least slack the
            bounds force, see :meth:`slack_forced_kwh`).
        """

        def number(x: Any) -> float | None:
            x = float(x)
            return x if math.isfinite(x) else None

        out: dict[str, Any] = {key: self.dataset.attrs[key] for key in _SUMMARY_ATTRS}
        out = {k: (number(v) if k != "status" else v) for k, v in out.items()}
        table = self.fleet_table() if self.has_solution else None
        out["fleets"] = (
            {
                str(name): {
                    "profit": number(row["profit"]),
                    "charged_kwh": number(row["charged_kwh"]),
                    "discharged_kwh": number(row["discharged_kwh"]),
                }
                for name, row in table.iterrows()
            }
            if table is not None
            else {}
        )
        out["slack_kwh"] = number(table["slack_kwh"].sum()) if table is not None else None
        # fleet representation terms (issue 12), reported apart like the penalty
        out["wear"] = number(self.dataset.attrs.get("wear", 0.0))
        out["shortfall_cost"] = number(self.dataset.attrs.get("shortfall_cost", 0.0))
        out["shortfall_kwh"] = number(self.shortfall_kwh.sum()) if self.has_solution else None
        if "price_impact" in self.dataset or "supply_shift" in self.dataset:  # a price maker: profit is the price-taker valuation
            out["market_impact"] = number(self.market_impact)
            out["price_maker_profit"] = number(self.profit - self.market_impact)
        if table is not None:
            wear, short = self.fleet_wear, self.shortfall_kwh
            for name in out["fleets"]:
                out["fleets"][name]["wear"] = number(wear[name])
                out["fleets"][name]["shortfall_kwh"] = number(short[name])
        out["shortfall"] = self.shortfall_report() if self.has_solution else None
        errors = self.aggregation_error
        if not errors.empty:
            out["aggregation_error"] = {
                str(name): {key: number(row[key]) for key in ("vehicles", "aggregate", "error", "relative")}
                for name, row in errors.iterrows()
            }
        out["solver"] = self.dataset.attrs.get("solver", "")
        if self.dataset.attrs.get("message"):
            out["message"] = self.dataset.attrs["message"]
        out["mip_gap"] = number(self.dataset.attrs.get("mip_gap", math.nan))
        out["termination"] = str(self.dataset.attrs.get("termination", ""))
        if self.has_solution:
            rate = float(self.dataset.attrs["slack_penalty"])
            out["slack"] = {
                need.fleet: {
                    "kwh": need.kwh,
                    "penalty": need.kwh * rate,
                    "steps": need.steps,
                    "direction": need.direction,
                    "first_step": need.first_step,
                    "first_time": str(need.first_time),
                    "worst_step": need.worst_step,
                    "worst_time": str(need.worst_time),
                    "worst_kwh": need.worst_kwh,
                }
                for need in self.slack_report()
            }
            out["slack_forced_kwh"] = number(self.slack_forced_kwh())
        else:
            out["slack"] = None
            out["slack_forced_kwh"] = None
        return out

    def shortfall_report(self) -> dict[str, dict[str, Any]]:
        """Where departure needs are not met: per fleet with shortfall, its kWh, cost, steps and worst step.

        Returns
        -------
        dict
            fleet -> ``kwh``, ``cost`` ($), ``steps``, ``first_time``,
            ``worst_time``, ``worst_kwh``; empty without shortfall.
        """
        if "shortfall" not in self.dataset:
            return {}
        ds = self.dataset
        times = ds.indexes["time"]
        out = {}
        for j, name in enumerate(ds.indexes["fleet"]):
            values = ds["shortfall"].transpose("time", "fleet").to_numpy()[:, j]
            steps = np.flatnonzero(values > 0)
            if not steps.size:
                continue
            worst = int(np.argmax(values))
            out[str(name)] = {
                "kwh": float(values.sum()),
                "cost": float(values.sum() * float(ds["shortfall_penalty"].values[j])),
                "steps": int(steps.size),
                "first_time": str(times[int(steps[0])]),
                "worst_time": str(times[worst]),
                "worst_kwh": float(values[worst]),
            }
        return out

    def _slack_tolerance(self) -> float:
        return 1e-6 + 1e-9 * max(1.0, float(np.nanmax(self.dataset["soc_max"].to_numpy(), initial=0.0)))

    def slack_report(self) -> list:
        """Where the solution uses slack energy: one entry per fleet that uses any.

        Returns
        -------
        list of aggregator.diagnostics.SlackNeed
            Total kWh, number of steps, first and worst step (index and time),
            and whether energy appears (``up``), vanishes (``down``) or both;
            empty without slack or without a solution.
        """
        from .diagnostics import slack_needs

        if not self.has_solution:
            return []
        return slack_needs(self.dataset["slack_up"], self.dataset["slack_down"], self._slack_tolerance())

    def slack_forced_kwh(self) -> float:
        """The least slack energy any solution must use, in kWh: what the fleets' bounds force.

        Slack beyond it means the penalty is low enough for slack to pay (see
        :func:`aggregator.diagnostics.slack_floor`).

        Returns
        -------
        float
        """
        from .diagnostics import slack_floor

        floor = slack_floor(self.dataset)
        return float(np.sum(floor["slack_up"].to_numpy() + floor["slack_down"].to_numpy()))

    # -------------------------------------------------------------- checking
    def violations(self) -> dict[str, float]:
        """Largest violation of each model constraint by the solution (0 = satisfied).

        Returns
        -------
        dict of str to float
            ``power`` (kW), ``soc_bounds`` (kWh), ``balance`` (kWh),
            ``exclusive`` (kW, the smaller of charge and discharge in a step
            when charging is exclusive), ``negative`` (most negative variable).
        """
        ds = self.dataset
        dt = self.step_hours

        def values(name: str) -> np.ndarray:
            return ds[name].transpose("time", "fleet").to_numpy()

        charge, discharge, soc = values("charge"), values("discharge"), values("soc")
        up, down = values("slack_up"), values("slack_down")
        pmax, smin, smax = values("power_max"), values("soc_min"), values("soc_max")
        driving = values("driving") if "driving" in ds else None
        eta_in = ds["charge_efficiency"].to_numpy()
        eta_out = ds["discharge_efficiency"].to_numpy()
        initial = ds["soc_initial"].to_numpy()
        exclusive = bool(ds.attrs.get("exclusive_charging"))
        # a "vehicles" fleet may charge some vehicles while discharging others: check each vehicle instead
        reps = json.loads(ds.attrs.get("representations", "{}"))
        single = np.array([reps.get(str(f)) != "vehicles" for f in ds.indexes["fleet"]], dtype=bool)
        out = dict.fromkeys(("power", "soc_bounds", "negative", "balance"), 0.0)
        if exclusive:
            out["exclusive"] = 0.0

        def worst(key: str, value: float) -> None:  # NaN (a missing value) stays: it is not satisfied
            if out[key] == out[key] and not value <= out[key]:
                out[key] = float(value)

        # a block of fleets at a time: the temporaries stay small whatever the number of fleets (maxima: exact)
        for a in range(0, charge.shape[1], _VIOLATION_BLOCK):
            b = slice(a, a + _VIOLATION_BLOCK)
            c, d, s, u, w = charge[:, b], discharge[:, b], soc[:, b], up[:, b], down[:, b]
            worst("power", float(np.max(np.maximum(c, d) - pmax[:, b], initial=0.0)))
            worst("soc_bounds", max(np.max(smin[:, b] - s, initial=0.0), np.max(s - smax[:, b], initial=0.0)))
            worst("negative", float(-min(np.min(c, initial=0.0), np.min(d, initial=0.0), np.min(u, initial=0.0),
                                         np.min(w, initial=0.0), 0.0)))
            previous = np.vstack([initial[None, b], s[:-1]])
            flow = (eta_in[b] * c - d / eta_out[b]) * dt + u - w
            if driving is not None:  # energy driven away (representations "energy" and "vehicles")
                flow = flow - driving[:, b]
            worst("balance", float(np.max(np.abs(s - previous - flow), initial=0.0)))
            if exclusive:
                worst("exclusive", float(np.max(np.minimum(c, d)[:, single[b]], initial=0.0)))
            else:
                worst("power", float(np.max(c + d - pmax[:, b], initial=0.0)))
        if exclusive and "vehicle_charge" in ds:
            both = np.minimum(ds["vehicle_charge"].to_numpy(), ds["vehicle_discharge"].to_numpy())
            worst("exclusive", float(np.max(both, initial=0.0)))
        return out

    # ---------------------------------------------------------------- export
    def _serialisable(self) -> xr.Dataset:
        ds = self.dataset.copy()
        ds.attrs = {k: (int(v) if isinstance(v, bool) else v) for k, v in ds.attrs.items() if v is not None}
        for var in ds.variables.values():
            var.attrs = {k: (int(v) if isinstance(v, bool) else v) for k, v in var.attrs.items()}
        return ds

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the dataset to a netCDF file, atomically.

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        with atomic_path(path) as tmp:
            self._serialisable().to_netcdf(tmp)
        return path

    def to_dataframe(self) -> pd.DataFrame:
        """The (time, fleet) variables as a long table, one row per step and fleet.

        Besides them, the given ``price`` ($/MWh) of the row's step; with a
        price impact also ``price_faced`` ($/MWh, the price the fleets moved
        it to) and ``price_taker_profit`` ($, the row's revenue at the given
        price: what a price taker would have been told; it sums to ``profit``).

        Returns
        -------
        pandas.DataFrame
        """
        names = [v for v in self.dataset.data_vars if set(self.dataset[v].dims) == {"time", "fleet"}]
        frame = self.dataset[names].to_dataframe()
        steps = frame.index.get_level_values("time")
        for name in STEP_COLUMNS:
            if name in self.dataset:
                frame[name] = self.dataset[name].to_series().reindex(steps).to_numpy()
        return frame

    def vehicle_dataframe(self) -> pd.DataFrame:
        """The per-vehicle dispatch as a long table, one row per step and vehicle.

        Present for "vehicles" fleets that keep ``vehicle_results = "all"``:
        columns ``fleet`` and the ``vehicle_*`` variables (``vehicle_charge``,
        ``vehicle_discharge`` in kW, ``vehicle_soc``, ``vehicle_shortfall`` in
        kWh), indexed by (time, vehicle).

        Returns
        -------
        pandas.DataFrame
            Empty (no rows, no columns) when the result keeps no vehicles.
        """
        names = [v for v in self.dataset.data_vars if set(self.dataset[v].dims) == {"time", "vehicle"}]
        if not names:
            return pd.DataFrame()
        frame = self.dataset[names].to_dataframe()
        fleets = sorted(map(str, self.dataset.indexes["fleet"]), key=len, reverse=True)  # labels are "fleet/id"
        owner = {str(v): next((f for f in fleets if str(v).startswith(f + "/")), "") for v in self.dataset.indexes["vehicle"]}
        frame.insert(0, "fleet", [owner[str(v)] for v in frame.index.get_level_values("vehicle")])
        return frame

    @staticmethod
    def vehicle_path(path: str | Path) -> Path:
        """Where :meth:`to_csv` and :meth:`to_parquet` put the per-vehicle table of ``path``.

        ``result.csv`` -> ``result.vehicles.csv``; ``result.parquet`` ->
        ``result.vehicles.parquet``.

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        return path.with_name(f"{path.stem}.vehicles{path.suffix}")

    def to_csv(self, path: str | Path) -> Path:
        """Write the long table of :meth:`to_dataframe` to CSV, atomically.

        When the result keeps per-vehicle dispatch, its long table
        (:meth:`vehicle_dataframe`) goes beside it, to :meth:`vehicle_path`
        (written first, also atomically).

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        vehicles = self.vehicle_dataframe()
        if not vehicles.empty:
            with atomic_path(self.vehicle_path(path)) as tmp:
                vehicles.to_csv(tmp)
        with atomic_path(path) as tmp:
            self.to_dataframe().to_csv(tmp)
        return path

    def to_parquet(self, path: str | Path) -> Path:
        """Write the long table of :meth:`to_dataframe` to Parquet, atomically.

        Units are in each column's field metadata (``units``); run facts,
        provenance (scenario and inputs hashes, package versions, solver, gap)
        and the per-fleet parameters are JSON under the schema metadata key
        ``aggregator`` (see :mod:`aggregator.formats`).  Needs pyarrow.  The
        per-vehicle table, when the result keeps one, goes to
        :meth:`vehicle_path` (and :meth:`from_parquet` reads it back).

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        pathlib.Path
        """
        from .formats import write_parquet

        return write_parquet(self, path)

    @classmethod
    def from_parquet(cls, path: str | Path) -> "Result":
        """Read a result written by :meth:`to_parquet`.

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        Result
        """
        from .formats import read_parquet

        return cls(read_parquet(path))

    @classmethod
    def read(cls, path: str | Path) -> "Result":
        """Read a result file written by :meth:`to_netcdf` (``.nc``) or :meth:`to_parquet` (``.parquet``).

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        Result

        Raises
        ------
        InputError
            Missing file, not a regular file (a folder, FIFO or device), or a
            suffix other than ``.nc`` or ``.parquet``.
        """
        from .errors import InputError

        from .input_files import check_regular

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            return cls.from_parquet(path)
        if suffix != ".nc":
            raise InputError(f"{path}: unknown result format {suffix!r}; expected a .nc or .parquet file")
        check_regular(path, "a result file (.nc)")
        try:
            return cls.from_netcdf(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as a netCDF result ({exc})") from None

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the result came from: scenario and inputs hashes, versions, solver, gap (see :mod:`aggregator.formats`)."""
        from .formats import provenance

        return provenance(self)

    def monthly_profit(self, freq: str = "MS") -> pd.DataFrame:
        """Profit in $ per month (or another pandas period ``freq``) and fleet.

        Parameters
        ----------
        freq : str
            ``"MS"`` months, ``"W"`` weeks, ``"D"`` days.

        Returns
        -------
        pandas.DataFrame
        """
        from .plotting import monthly_profit

        return monthly_profit(self, freq)

    def plot(self, kind: str = "dispatch", **kwargs: Any):
        """Draw the result and return the :class:`matplotlib.figure.Figure`.

        Parameters
        ----------
        kind : {"dispatch", "monthly"}
            ``dispatch``: price, charge/discharge per fleet and state of charge
            against its bounds (:func:`aggregator.plotting.plot_dispatch`;
            keywords ``start``, ``days``, ``fleets``); ``monthly``: profit per
            month stacked by fleet (:func:`aggregator.plotting.plot_monthly_profit`).
        **kwargs
            Passed to the plotting function.

        Returns
        -------
        matplotlib.figure.Figure
            Save it with ``fig.savefig("dispatch.png")``.
        """
        from . import plotting
        from .errors import InputError

        if kind == "dispatch":
            return plotting.plot_dispatch(self, **kwargs)
        if kind == "monthly":
            return plotting.plot_monthly_profit(self, **kwargs)
        raise InputError(f"plot kind {kind!r}: expected one of {', '.join(plotting.PLOT_KINDS)}")

    @classmethod
    def from_netcdf(cls, path: str | Path) -> "Result":
        """Read a result written by :meth:`to_netcdf`.

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        Result
        """
        with xr.open_dataset(path) as ds:
            return cls(ds.load())

    def __repr__(self) -> str:
        from . import labels

        a, ds = self.dataset.attrs, self.dataset
        cur = labels.currency(self)
        name = f" {a['name']!r}" if a.get("name") else ""
        gap = float(a.get("gap", math.nan))
        return (
            f"<Result{name} {a['status']}: objective {labels.money(a['objective'], cur)} "
            f"(profit {labels.money(a['profit'], cur)}, penalty {labels.money(a['penalty'], cur)}), "
            f"bound {labels.money(a['bound'], cur)}, gap {'n/a' if not math.isfinite(gap) else f'{gap:.1e}'}; "
            f"{ds.sizes['fleet']} fleet{'s' if ds.sizes['fleet'] != 1 else ''}, {ds.sizes['time']:,} steps of "
            f"{labels.hours(float(a['step_hours']))} from {ds.indexes['time'][0]:%Y-%m-%d %H:%M} "
            f"{labels.time_zone(self)}; solver {a['solver']!r}>"
        )

    def _repr_html_(self) -> str:
        """The headline figures as an HTML table, for notebooks."""
        from html import escape

        from . import labels

        a, ds = self.dataset.attrs, self.dataset
        cur = labels.currency(self)
        gap = float(a.get("gap", math.nan))
        requested = float(a.get("mip_gap", math.nan))
        head = [
            ("status", a["status"] + (f" ({a['termination']})" if a.get("termination") else "")),
            ("objective", labels.money(a["objective"], cur)),
            ("profit", labels.money(a["profit"], cur)),
            ("slack penalty", labels.money(a["penalty"], cur)),
            ("proven bound", labels.money(a["bound"], cur)),
            ("gap", ("n/a" if not math.isfinite(gap) else f"{gap:.2e}")
             + (f" (requested {requested:.0e})" if math.isfinite(requested) else "")),
            ("backend", f"{a['solver']}" + (f" ({a['solver_choice']})" if a.get("solver_choice") else "")),
            ("solve time", f"{float(a.get('solve_seconds', math.nan)):.2f} s"),
            ("horizon", f"{ds.sizes['time']:,} steps of {labels.hours(float(a['step_hours']))}, "
                        f"{labels.span(ds.indexes['time'], float(a['step_hours']))} {labels.time_zone(self)}"),
        ]
        for key in ("wear", "shortfall_cost"):
            if float(a.get(key, 0.0) or 0.0):
                head.insert(4, (key.replace("_", " "), labels.money(a[key], cur)))
        if a.get("message"):
            head.append(("message", str(a["message"])))
        rows = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in head)
        fleets = ""
        if self.has_solution:
            table = self.fleet_table()
            body = "".join(
                f"<tr><td>{escape(str(name))}</td><td>{row['profit']:,.2f}</td><td>{row['charged_kwh']:,.1f}</td>"
                f"<td>{row['discharged_kwh']:,.1f}</td><td>{row['slack_kwh']:,.1f}</td><td>{row['cycles']:,.1f}</td></tr>"
                for name, row in table.iterrows()
            )
            fleets = (
                f"<table><thead><tr><th>fleet</th><th>profit, {escape(cur)}</th><th>charged, kWh</th>"
                f"<th>discharged, kWh</th><th>slack, kWh</th><th>cycles</th></tr></thead><tbody>{body}</tbody></table>"
            )
        title = escape(f"Result {a['name']!r}" if a.get("name") else "Result")
        return f"<div><strong>{title}</strong><table>{rows}</table>{fleets}</div>"
