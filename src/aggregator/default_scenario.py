"""The embedded default scenario of ``aggregator run`` (a module of its own: ``aggregator scenario`` prints it without importing the model)."""

__all__ = ["DEFAULT_SCENARIO"]

#: The scenario text that ``aggregator run`` solves without a SCENARIO and ``aggregator scenario`` prints.
DEFAULT_SCENARIO = """\
# The default scenario of `aggregator run`: one synthetic California-like spring
# week (evening peak, midday solar dip with negative prices) and three fleets.
name = "default"

[prices]
source = "synthetic"
start = "2024-04-15"
seed = 2024

[horizon]
hours = 168
step_hours = 1.0

[solver]
name = "auto"
mip_gap = 1e-4

[model]
slack_penalty = 1000.0
exclusive_charging = true

[[fleets]]
name = "residential"
vehicles = 2000
battery_kwh = 60
charger_kw = 7.2
charge_efficiency = 0.9
discharge_efficiency = 0.9
contract_limit = 0.5
initial_soc = 0.8
availability = { model = "synthetic", pattern = "residential", seed = 1 }

[[fleets]]
name = "workplace"
vehicles = 800
battery_kwh = 60
charger_kw = 11
charge_efficiency = 0.9
discharge_efficiency = 0.9
contract_limit = 0.8
initial_soc = 0.1
availability = { model = "synthetic", pattern = "commercial", seed = 2 }

[[fleets]]
name = "delivery_vans"
vehicles = 300
battery_kwh = 75
charger_kw = 22
charge_efficiency = 0.92
discharge_efficiency = 0.9
contract_limit = 0.4
initial_soc = 0.6
availability = { model = "synthetic", pattern = "mixed", seed = 3 }
"""
