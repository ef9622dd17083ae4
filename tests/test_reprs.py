"""What a notebook shows: short reprs of the core objects and the Result's HTML table.

A repr is one screen at most (never the whole DatetimeIndex or an ``object at
0x...``), states the figures a user asks for first, and labels time with its
zone and money with its currency (UTC and $ unless the prices say otherwise).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from aggregator import Aggregator, Fleet, PriceSignal, load_scenario
from aggregator.default_scenario import DEFAULT_SCENARIO
from aggregator.labels import currency, time_zone
from conftest import make_fleet


def test_price_signal_repr_is_one_line_with_its_span_range_and_source():
    p = PriceSignal(np.r_[np.full(8000, 30.0), [-5.0, 80.0]], source="hand")
    text = repr(p)
    assert "\n" not in text and len(text) < 250, text
    assert text.startswith("<PriceSignal 8,002 steps of 1 h, 2024-01-01 00:00 to ")
    assert "UTC" in text and "-5.00 to 80.00 $/MWh" in text and "1 negative" in text and "'hand'" in text
    assert "DatetimeIndex" not in text


def test_fleet_repr_names_the_size_and_the_availability_not_the_profile():
    fleet = Fleet("depot", vehicles=1000, battery_kwh=30, charger_kw=7.2, availability=np.linspace(0.5, 1, 5000))
    text = repr(fleet)
    assert "\n" not in text and len(text) < 300, text
    assert "'depot'" in text and "1,000 vehicles x 30 kWh, 7.2 kW (30,000 kWh, 7,200 kW)" in text
    assert "availability 0.5 to 1 (mean 0.75) over 5,000 steps" in text
    assert "array" not in text


def test_load_scenario_repr_summarises_the_problem(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(DEFAULT_SCENARIO)
    text = repr(load_scenario(path))
    assert "object at 0x" not in text
    lines = text.splitlines()
    assert lines[0].startswith("<Aggregator 'default': 3 fleets, 168 steps of 1 h, 2024-")
    assert "UTC" in lines[0] and "exclusive charging" in lines[0] and "solver 'auto'" in lines[0]
    assert lines[1].lstrip().startswith("prices ")
    assert [line.split("'")[1] for line in lines[2:]] == ["residential", "workplace", "delivery_vans"]


def test_aggregator_repr_stays_short_with_many_fleets():
    fleets = [make_fleet(f"f{i}", availability=[1.0, 1.0]) for i in range(30)]
    text = repr(Aggregator(fleets, PriceSignal([10.0, 100.0])))
    assert len(text.splitlines()) == 2 + 8 + 1 and "and 22 more fleets" in text


def test_result_repr_and_html_state_the_headline_figures():
    # hand-solved: buy 10 kWh at 10 $/MWh, sell them at 100 $/MWh -> 0.90 $
    agg = Aggregator([make_fleet("f", availability=[1, 1])], PriceSignal([10.0, 100.0]), name="hand")
    result = agg.solve(solver="highs")
    text = repr(result)
    assert "\n" not in text
    assert text.startswith("<Result 'hand' optimal: objective 0.90 $ (profit 0.90 $, penalty 0.00 $), bound 0.90 $, gap ")
    assert "1 fleet, 2 steps of 1 h from 2024-01-01 00:00 UTC; solver 'highs" in text
    html = result._repr_html_()
    cells = dict(re.findall(r"<th style='text-align:left'>([^<]+)</th><td>([^<]*)</td>", html))
    assert cells["status"].startswith("optimal")
    assert cells["objective"] == "0.90 $" and cells["profit"] == "0.90 $" and cells["proven bound"] == "0.90 $"
    assert cells["backend"].startswith("highs") and "gap" in cells
    assert "<td>f</td><td>0.90</td><td>10.0</td><td>10.0</td>" in html


def test_labels_read_the_zone_and_currency_the_price_readers_set():
    agg = Aggregator([make_fleet("f", availability=[1, 1])], PriceSignal([10.0, 100.0]))
    result = agg.solve(solver="highs")
    assert (time_zone(result), currency(result)) == ("UTC", "$")
    result.dataset["time"].attrs["timezone"] = "America/Los_Angeles"
    result.dataset.attrs["currency"] = "EUR"
    assert (time_zone(result), currency(result)) == ("America/Los_Angeles", "EUR")
    assert "America/Los_Angeles" in repr(result) and "0.90 EUR" in repr(result)
    assert "profit, EUR" in result._repr_html_()
    aware = pd.date_range("2024-03-30", periods=2, freq="h", tz="Europe/Berlin")
    assert time_zone(aware) == "Europe/Berlin"
