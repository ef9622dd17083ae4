"""The PyPSA export: the exported network, solved by PyPSA's own optimiser (HiGHS), has dp's optimum.

Needs the ``pypsa`` extra (``python -m pip install -e ".[pypsa]"``, which
``.ci/run`` installs); without pypsa these tests skip with that reason.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from aggregator import Aggregator, Fleet, PriceSignal, load_scenario
from aggregator.errors import InputError, InputWarning
from conftest import REPO, run_cli

pypsa = pytest.importorskip("pypsa", reason="pypsa is not installed (python -m pip install -e '.[pypsa]')")

from aggregator.pypsa_export import export_pypsa, pypsa_objective, to_pypsa  # noqa: E402


def _solve_pypsa(network) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        status, condition = network.optimize(solver_name="highs", include_objective_constant=False,
                                             log_to_console=False)
    assert (status, condition) == ("ok", "optimal")
    return pypsa_objective(network)


def _same_optimum(agg: Aggregator) -> tuple[float, float]:
    dp = agg.solve(solver="dp")
    assert dp.status == "optimal"
    value = _solve_pypsa(to_pypsa(agg))
    assert value == pytest.approx(dp.objective, rel=1e-6, abs=1e-9), (value, dp.objective)
    return value, dp.objective


def test_hand_case_negative_price_uses_the_shared_charger_limit():
    # One full 10 kWh battery, 10 kW charger, charging efficiency 0.5, discharging 1, prices -100 then
    # 50 $/MWh.  Hour 1 pays for burning energy: buying P_in and selling P_out with the battery full needs
    # P_out >= 0.5 P_in, and the shared chargers P_in + P_out <= 10 kW: P_in = 20/3, P_out = 10/3 earns
    # 0.1 * 10/3 = 1/3 $; hour 2 sells the full 10 kWh for 0.50 $.  Optimum 5/6 $ (separate limits per
    # direction would allow P_in = 10, P_out = 5: 1.00 $; exclusive charging only 0.50 $).
    fleet = Fleet("hand", vehicles=1, battery_kwh=10, charger_kw=10, charge_efficiency=0.5,
                  discharge_efficiency=1.0, contract_limit=1.0, initial_soc=1.0, availability=[1, 1])
    agg = Aggregator([fleet], PriceSignal([-100.0, 50.0]), exclusive_charging=False)
    value, dp = _same_optimum(agg)
    assert dp == pytest.approx(5 / 6, abs=1e-9)
    network = to_pypsa(agg)
    _solve_pypsa(network)
    flows = network.links_t.p0.iloc[0]
    assert flows["hand charge"] * 1000 == pytest.approx(20 / 3, abs=1e-6)
    assert flows["hand discharge"] * 1000 == pytest.approx(10 / 3, abs=1e-6)


def test_hand_case_energy_fleet_with_driving_wear_and_slack():
    # An "energy" fleet of one 10 kWh vehicle, full, lossless, wear 0.05 $/kWh, slack penalty 10 $/kWh.
    # Hour 1 (plugged in, 200 $/MWh): every kWh sold now needs a kWh of slack later, so none is sold.
    # Hour 2 (away) drives 12 kWh: 2 kWh of slack, -20 $.  Hour 3 (-50 $/MWh) charges 10 kWh: +0.50 $;
    # hour 4 (300 $/MWh) sells them: +3.00 $ less 0.50 $ wear.  Optimum -17.00 $.
    fleet = Fleet("ev", vehicles=1, battery_kwh=10, charger_kw=10, charge_efficiency=1.0, discharge_efficiency=1.0,
                  contract_limit=1.0, initial_soc=1.0, availability=[1, 0, 1, 1], representation="energy",
                  driving_kwh=[0, 12, 0, 0], wear_cost=0.05)
    agg = Aggregator([fleet], PriceSignal([200.0, 0.0, -50.0, 300.0]), slack_penalty=10.0,
                     exclusive_charging=False)
    value, dp = _same_optimum(agg)
    assert dp == pytest.approx(-17.0, abs=1e-9)


def test_seed_48_hours_with_negative_prices_match_dp(seed):
    agg = load_scenario(REPO / "examples" / "scenarios" / "seed_case0_multi.toml")
    first = int(np.flatnonzero(agg.prices.values < 0)[0]) - 24  # a window around the first negative prices
    prices = agg.prices.window(first, 48)
    fleets = [f.with_options(**f.window_options(first, first + 48)) for f in agg.fleets]
    window = Aggregator(fleets, prices, exclusive_charging=False)
    assert (window.prices.values < 0).any()
    _same_optimum(window)


def test_seed_first_48_hours_with_exclusive_charging_match_dp(seed):
    # no negative price in the first 48 hours: the export (without binaries) is exact for exclusive charging too
    agg = load_scenario(REPO / "examples" / "scenarios" / "seed_case0_multi.toml")
    window = Aggregator(agg.fleets, agg.prices, hours=48, exclusive_charging=True)
    assert (window.prices.values >= 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        _same_optimum(window)


def test_exclusive_charging_with_negative_prices_warns_it_is_the_relaxation():
    fleet = Fleet("f", vehicles=1, battery_kwh=10, charger_kw=10, availability=[1, 1])
    with pytest.warns(InputWarning, match="exclusive_charging = true and some prices are negative"):
        to_pypsa(Aggregator([fleet], PriceSignal([-100.0, 50.0])))


def test_what_pypsa_cannot_represent_is_refused_by_name():
    fleet = Fleet("need", vehicles=1, battery_kwh=10, charger_kw=10, availability=[1, 1], representation="energy",
                  min_soc=0.5)
    with pytest.raises(InputError, match="fleet 'need': min_soc"):
        to_pypsa(Aggregator([fleet], PriceSignal([10.0, 20.0])))


def test_cli_writes_a_network_pypsa_reads_and_solves(tmp_path, seed):
    out = tmp_path / "net.nc"
    scenario = REPO / "examples" / "scenarios" / "seed_case0_multi.toml"
    p = run_cli("export-pypsa", str(scenario), str(out), "--hours", "48")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"wrote {out}: 4 fleet(s), 48 snapshots of 1 h")
    network = pypsa.Network(str(out))
    assert len(network.stores) == 4 and len(network.snapshots) == 48
    agg = load_scenario(scenario)
    dp = Aggregator(agg.fleets, agg.prices, hours=48).solve(solver="dp")
    assert _solve_pypsa(network) == pytest.approx(dp.objective, rel=1e-6)
    bad = run_cli("export-pypsa", str(scenario), str(tmp_path / "net.csv"))
    assert bad.returncode == 2 and "expected a .nc file" in bad.stderr and "Traceback" not in bad.stderr
