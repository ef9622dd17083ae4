"""A plugin that returns bad data is reported as a bug in that plugin (issue 10, item 15).

NaN prices, a short, NaN or out-of-range availability profile, or an object of
the wrong type are not mistakes in the user's options: the message names the
plugin and its distribution and says it is a bug in that plugin (exit code 1,
:class:`aggregator.PluginError`).  A plugin that raises :class:`InputError` on
its options is still the user's mistake (exit code 2).  The plugins are real
classes registered through the plugin manager, as a distribution would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aggregator import AvailabilityModel, InputError, PluginError, PriceSignal, PriceSource, hookimpl, plugins
from aggregator.cli import main
from aggregator.scenario import load_scenario

DISTRIBUTION = "aggregator-badly-behaved"


def _prices(kind: str, steps: int, step_hours: float):
    time = pd.date_range("2024-01-01", periods=steps, freq=pd.Timedelta(hours=step_hours))
    good = np.full(steps, 40.0)
    if kind == "nan":
        return PriceSignal(np.where(np.arange(steps) == 3, np.nan, good), step_hours)
    if kind == "list":
        return good.tolist()
    if kind == "series":
        return pd.Series(good, index=time)
    if kind == "strings":
        return PriceSignal(["cheap"] * steps, step_hours)
    if kind == "step":
        return PriceSignal(np.full(2 * steps, 40.0), step_hours / 2)
    if kind == "none":
        return None
    if kind == "options":
        raise InputError("[prices] mode = 'options': expected one of nan, list, ...")
    return PriceSignal(good, step_hours, time)


def _profile(kind: str, steps: int):
    if kind == "short":
        return np.full(steps - 5, 0.5)
    if kind == "above":
        return np.full(steps, 1.5)
    if kind == "negative":
        return np.r_[np.full(steps - 1, 0.5), -0.2]
    if kind == "nan":
        return np.r_[np.nan, np.full(steps - 1, 0.5)]
    if kind == "none":
        return None
    if kind == "text":
        return "0.5"
    if kind == "matrix":
        return np.full((steps, 2), 0.5)
    if kind == "scalar":
        return 0.5
    if kind == "options":
        raise InputError("availability mode = 'options': expected one of short, above, ...")
    return np.full(steps, 0.5)


class BadPrices(PriceSource):
    """Prices that break the contract in the way ``mode`` says."""

    name = "bad_prices"
    options = {"mode": "how to misbehave"}

    def load(self, options, *, base_dir, steps, step_hours):
        return _prices(options.get("mode", "good"), steps, step_hours)


class BadProfile(AvailabilityModel):
    """A profile that breaks the contract in the way ``mode`` says."""

    name = "bad_profile"
    options = {"mode": "how to misbehave"}

    def profile(self, options, *, base_dir, time, step_hours):
        return _profile(options.get("mode", "good"), len(time))


class BadlyBehaved:
    @hookimpl
    def aggregator_register_price_sources(self):
        return [BadPrices]

    @hookimpl
    def aggregator_register_availability_models(self):
        return [BadProfile]


@pytest.fixture(scope="module", autouse=True)
def registered():
    plugin = BadlyBehaved()
    plugins.register(plugin, name=f"{DISTRIBUTION}:bad", distribution=DISTRIBUTION)
    yield
    plugins.unregister(plugin)


def scenario(folder, prices_mode: str = "good", profile_mode: str = "good"):
    path = folder / "s.toml"
    path.write_text(f"""\
[prices]
source = "bad_prices"
mode = "{prices_mode}"

[horizon]
hours = 24

[solver]
name = "dp"

[[fleets]]
name = "a"
vehicles = 10
battery_kwh = 30
charger_kw = 7.2
initial_soc = 0.2
availability = {{ model = "bad_profile", mode = "{profile_mode}" }}
""")
    return path


def run(path, capsys) -> tuple[int, str]:
    code = main(["run", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return code, err


def test_well_behaved_modes_solve(tmp_path):
    agg = load_scenario(scenario(tmp_path))
    assert agg.steps == 24 and float(agg.fleets[0].availability.max()) == 0.5


@pytest.mark.parametrize("mode, words", [
    ("nan", ("nan", "step 3", "PriceSignal")),
    ("list", ("list", "expected a PriceSignal")),
    ("series", ("Series", "expected a PriceSignal")),
    ("strings", ("not numbers",)),
    ("step", ("0.5-hour steps", "1-hour steps were asked for")),
    ("none", ("NoneType", "expected a PriceSignal")),
])
def test_bad_prices_are_a_bug_in_the_price_source(tmp_path, capsys, mode, words):
    code, err = run(scenario(tmp_path, prices_mode=mode), capsys)
    assert code == 1, err
    for word in ("[prices]", "price source 'bad_prices'", f"distribution '{DISTRIBUTION}'", "bug in that plugin",
                 "not a mistake in your options", *words):
        assert word in err, (word, err)
    with pytest.raises(PluginError) as info:
        load_scenario(scenario(tmp_path, prices_mode=mode))
    assert (info.value.plugin, info.value.distribution) == ("bad_prices", DISTRIBUTION)


@pytest.mark.parametrize("mode, words", [
    ("short", ("19 values", "24 steps")),
    ("above", ("1.5", "step 0", "[0, 1]")),
    ("negative", ("-0.2", "step 23", "[0, 1]")),
    ("nan", ("nan", "step 0")),
    ("none", ("NoneType",)),
    ("text", ("str",)),
    ("matrix", ("shape (24, 2)", "1-D")),
    ("scalar", ("shape ()",)),
])
def test_bad_profiles_are_a_bug_in_the_availability_model(tmp_path, capsys, mode, words):
    code, err = run(scenario(tmp_path, profile_mode=mode), capsys)
    assert code == 1, err
    for word in ("fleets", "'a'", "availability model 'bad_profile'", f"distribution '{DISTRIBUTION}'",
                 "bug in that plugin", *words):
        assert word in err, (word, err)


@pytest.mark.parametrize("prices_mode, profile_mode, word", [
    ("options", "good", "[prices] mode = 'options'"),
    ("good", "options", "availability mode = 'options'"),
])
def test_a_plugin_refusing_the_options_is_the_users_mistake(tmp_path, capsys, prices_mode, profile_mode, word):
    code, err = run(scenario(tmp_path, prices_mode, profile_mode), capsys)
    assert code == 2, err
    assert word in err and "bug" not in err, err
