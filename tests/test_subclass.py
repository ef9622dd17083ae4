"""Aggregator is made to be subclassed: add a constraint with super()."""

from __future__ import annotations

import pytest

from aggregator import Aggregator, PriceSignal
from conftest import make_fleet


class CappedAggregator(Aggregator):
    """Caps the fleets' combined discharge at `cap_kw` in every step."""

    cap_kw = 4.0

    def define_constraints(self, model, inputs):
        super().define_constraints(model, inputs)
        model.add_constraints(model["discharge"].sum("fleet") <= self.cap_kw, name="combined_discharge_cap")


def test_subclass_adds_a_constraint():
    fleets = [make_fleet("a", availability=[1, 1]), make_fleet("b", availability=[1, 1])]
    prices = PriceSignal([10.0, 100.0])
    free = Aggregator(fleets, prices).solve(solver="highs")
    capped = CappedAggregator(fleets, prices).solve(solver="highs")
    # Free: each fleet buys 10 kWh for 0.10 $ and sells them for 1.00 $ -> 1.80 $.
    assert free.profit == pytest.approx(1.8, abs=1e-9)
    # Capped at 4 kW combined discharge: only 4 kWh are sold (0.40 $), so only 4 kWh are bought (0.04 $).
    assert capped.profit == pytest.approx(0.36, abs=1e-9)
    assert float(capped.dataset["discharge"].sum("fleet").max()) <= 4.0 + 1e-7
    assert not CappedAggregator(fleets, prices).is_standard()
    assert Aggregator(fleets, prices).is_standard()


def test_model_is_labeled_over_time_and_fleet():
    fleets = [make_fleet("a", availability=[1, 1])]
    model = Aggregator(fleets, PriceSignal([1.0, 2.0])).build_model()
    assert set(model["charge"].dims) == {"time", "fleet"}
    assert "energy_balance" in model.constraints
    assert model.force_dim_names
