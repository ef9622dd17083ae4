"""Every bad input gets exit code 2 and one message naming the file, field or row; never a traceback.

The table :data:`CASES` lists each mistake of issue 7 as the files a user would
write and the command line they would run, with the words the message must
contain (the file, the field or the line and column, what was found, what was
expected).  Starting the command line costs about two seconds of imports, so the
whole table runs through :func:`aggregator.cli.main` in *one* subprocess (a
fresh interpreter, as a user's shell would start, with stderr captured per case
and any escaping exception recorded as a traceback); a handful of cases also run
through the real ``python -m aggregator`` entry point to check that the two agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import REPO, run_cli

# --------------------------------------------------------------------------- inputs

HOURS = 24


def price_csv(n: int = HOURS, *, bad: dict[int, str] | None = None, times: list[str] | None = None) -> str:
    """A price file with a time column; ``bad`` replaces the price cell of data row i (0-based)."""
    import pandas as pd

    stamps = times or [str(t) for t in pd.date_range("2024-01-01", periods=n, freq="h")]
    rows = ["time,price"]
    for i in range(n):
        cell = (bad or {}).get(i, f"{30 + 40 * ((i // 6) % 2) - 50 * (i % 12 == 3):.1f}")
        rows.append(f"{stamps[i]},{cell}")
    return "\n".join(rows) + "\n"


def avail_csv(n: int = HOURS, *, bad: dict[int, str] | None = None, time: bool = False, times=None) -> str:
    """An availability file with two fleets' columns; ``bad`` replaces car_a of data row i."""
    import pandas as pd

    stamps = times or [str(t) for t in pd.date_range("2024-01-01", periods=n, freq="h")]
    rows = ["time,car_a,car_b" if time else "car_a,car_b"]
    for i in range(n):
        a = (bad or {}).get(i, f"{0.9 - 0.5 * (8 <= i % 24 < 17):.2f}")
        rows.append((f"{stamps[i]}," if time else "") + f"{a},0.95")
    return "\n".join(rows) + "\n"


BASE_TOML = """\
name = "bad-input"

[prices]
source = "csv"
path = "prices.csv"
column = "price"

[horizon]
hours = 24
step_hours = 1.0

[solver]
name = "highs"
mip_gap = 1e-4

[model]
slack_penalty = 1000.0
exclusive_charging = true

[[fleets]]
name = "a"
vehicles = 10
battery_kwh = 30
charger_kw = 7.2
charge_efficiency = 0.9
discharge_efficiency = 0.9
contract_limit = 0.8
initial_soc = 0.5
availability = { model = "csv", path = "avail.csv", column = "car_a" }

[[fleets]]
name = "b"
vehicles = 20
battery_kwh = 60
charger_kw = 11
contract_limit = 0.5
initial_soc = 0.5
availability = 0.9
"""


def toml(*edits: tuple[str, str]) -> str:
    """The base scenario with each (old, new) replacement applied once (old must occur)."""
    text = BASE_TOML
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


BINARY = bytes(range(256)) * 8  # NUL bytes and every other byte
XLSX_LIKE = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(200)


@dataclass
class Case:
    """One mistake: the files to write, the arguments, the exit code and the words of the message."""

    id: str
    files: dict[str, str | bytes | None] = field(default_factory=dict)  # None: remove the base file
    args: tuple[str, ...] = ("run", "s.toml")
    code: int = 2
    words: tuple[str, ...] = ()  # every one must occur in stderr (case-insensitive)
    real: bool = False  # also run through `python -m aggregator`


def F(**files) -> dict:  # noqa: N802 - short builder for the table
    return {name.replace("_", "."): value for name, value in files.items()}


def fleet_case(id: str, old: str, new: str, *words: str) -> Case:
    return Case(id, F(s_toml=toml((old, new))), words=("s.toml", "fleet", *words))


def source_case(id: str, prices_table: str, *words: str) -> Case:
    """A case whose [prices] table uses another source (the csv keys replaced by ``prices_table``)."""
    return Case(id, F(s_toml=toml(('source = "csv"\npath = "prices.csv"\ncolumn = "price"', prices_table))), words=("s.toml", *words))


CASES: list[Case] = [
    # ---------------------------------------------------------------- price files
    Case("prices-missing", F(prices_csv=None), words=("prices.csv", "not found")),
    Case("prices-empty", F(prices_csv=""), words=("prices.csv", "empty")),
    Case("prices-blank-lines", F(prices_csv="\n \n\n"), words=("prices.csv", "empty")),
    Case("prices-header-only", F(prices_csv="time,price\n"), words=("prices.csv", "header", "no data rows")),
    Case(
        "prices-missing-column",
        F(s_toml=toml(('column = "price"', 'column = "cost"'))),
        words=("prices.csv", "'cost'", "'time'", "'price'"),
    ),
    Case(
        "prices-non-numeric-cell",
        F(prices_csv=price_csv(bad={4: "abc"})),
        words=("prices.csv", "line 6", "'price'", "'abc'", "expected a number"),
        real=True,
    ),
    Case("prices-empty-cell", F(prices_csv=price_csv(bad={2: ""})), words=("prices.csv", "line 4", "'price'", "empty")),
    Case("prices-nan", F(prices_csv=price_csv(bad={7: "NaN"})), words=("prices.csv", "line 9", "'price'", "nan")),
    Case("prices-inf", F(prices_csv=price_csv(bad={9: "inf"})), words=("prices.csv", "line 11", "'price'", "inf", "finite")),
    Case(
        "prices-duplicate-timestamp",
        F(prices_csv=price_csv(times=["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 01:00"]
                               + [f"2024-01-01 {h:02d}:00" for h in range(3, 24)] + ["2024-01-02 00:00"])),
        words=("prices.csv", "line 4", "'time'", "twice", "unique"),
    ),
    Case(
        "prices-unsorted-timestamps",
        F(prices_csv=price_csv(times=[f"2024-01-01 {h:02d}:00" for h in (0, 1, 3, 2)]
                               + [f"2024-01-01 {h:02d}:00" for h in range(4, 24)])),
        words=("prices.csv", "line 5", "'time'", "earlier", "sorted"),
    ),
    Case(
        "prices-time-gap",
        F(prices_csv=price_csv(times=[f"2024-01-01 {h:02d}:00" for h in range(0, 5)]
                               + [f"2024-01-01 {h:02d}:00" for h in range(6, 24)] + ["2024-01-02 00:00"])),
        words=("prices.csv", "line 7", "'time'", "jumps", "1 h"),
    ),
    Case(
        "prices-unparseable-timestamp",
        F(prices_csv=price_csv(times=[f"2024-01-01 {h:02d}:00" for h in range(0, 5)] + ["yesterday"]
                               + [f"2024-01-01 {h:02d}:00" for h in range(6, 24)])),
        words=("prices.csv", "line 7", "'time'", "'yesterday'", "time"),
    ),
    Case(
        "prices-shorter-than-horizon",
        F(prices_csv=price_csv(12)),
        words=("prices.csv", "12", "24", "horizon"),
    ),
    Case(
        "prices-semicolon-delimiter",
        F(prices_csv=price_csv().replace(",", ";")),
        words=("prices.csv", "semicolon", "comma"),
    ),
    Case(
        "prices-semicolon-decimal-comma",
        F(prices_csv=price_csv().replace(",", ";").replace(".", ",")),
        words=("prices.csv", "semicolon", "comma"),
    ),
    Case("prices-tab-delimiter", F(prices_csv=price_csv().replace(",", "\t")), words=("prices.csv", "tab", "comma")),
    Case(
        "prices-semicolon-rows-under-comma-header",
        F(prices_csv="time,price\n" + "\n".join(f"2024-01-01 {h:02d}:00;{h}" for h in range(24)) + "\n"),
        words=("prices.csv", "line 2", "'price'"),
    ),
    Case(
        "prices-ragged-row",
        F(prices_csv=price_csv().replace("2024-01-01 05:00:00,", "2024-01-01 05:00:00,1,", 1)),
        words=("prices.csv", "line 7"),
    ),
    # A row with more fields than the header would shift every column (pandas takes the first as the index).
    Case(
        "prices-decimal-commas",
        F(prices_csv=price_csv().replace(".", ",")),  # 2024-01-01 00:00:00,30,0
        words=("prices.csv", "line 2", "found 3 fields", "expected 2", "'time', 'price'", "decimal commas", "'30,0'"),
        real=True,
    ),
    Case(
        "prices-trailing-comma",
        F(prices_csv=price_csv().replace(".0\n", ".0,\n")),  # the header has no trailing comma
        words=("prices.csv", "line 2", "found 3 fields", "expected 2", "trailing comma"),
    ),
    Case(
        "prices-quoted-decimal-comma",
        F(prices_csv=price_csv(bad={3: '"40,5"'})),
        words=("prices.csv", "line 5", "'price'", "'40,5'", "decimal comma", "40.5"),
    ),
    Case(
        "prices-row-missing-a-field",
        F(prices_csv=price_csv().replace("2024-01-01 05:00:00,30.0", "2024-01-01 05:00:00", 1)),
        words=("prices.csv", "line 7", "found 1 field", "expected 2"),
    ),
    Case(
        "prices-blank-line-inside",
        F(prices_csv=price_csv().replace("\n2024-01-01 05:00", "\n\n2024-01-01 05:00", 1)),
        words=("prices.csv", "line 7", "empty"),
    ),
    Case("prices-binary", F(prices_csv=BINARY), words=("prices.csv", "binary"), real=True),
    Case("prices-xlsx", F(prices_csv=XLSX_LIKE), words=("prices.csv", "binary")),
    Case("prices-folder", F(s_toml=toml(('path = "prices.csv"', 'path = "."'))), words=("folder", "csv")),
    Case(
        "prices-no-numeric-column",
        F(prices_csv="a,b\nx,y\nz,w\n", s_toml=toml(('column = "price"\n', ""))),
        words=("prices.csv", "'a'", "'b'", "column"),
    ),
    Case(
        "prices-max-below-min",
        F(s_toml=toml(('column = "price"', 'column = "price"\nmin_price = 100\nmax_price = 50'))),
        words=("s.toml", "max_price", "min_price"),
    ),
    Case(
        "prices-range-wrong-type",
        F(s_toml=toml(('column = "price"', 'column = "price"\nmax_price = "high"'))),
        words=("s.toml", "max_price", "'high'", "number"),
    ),
    # ---------------------------------------------------------- availability files
    Case("avail-missing", F(avail_csv=None), words=("avail.csv", "not found")),
    Case("avail-empty", F(avail_csv=""), words=("avail.csv", "empty")),
    Case("avail-header-only", F(avail_csv="car_a,car_b\r\n"), words=("avail.csv", "no data rows")),
    Case(
        "avail-missing-column",
        F(s_toml=toml(('column = "car_a"', 'column = "car_c"'))),
        words=("avail.csv", "'car_c'", "'car_a'", "'car_b'"),
    ),
    Case(
        "avail-non-numeric-cell",
        F(avail_csv=avail_csv(bad={0: "yes"})),
        words=("avail.csv", "line 2", "'car_a'", "'yes'", "number"),
    ),
    Case("avail-nan", F(avail_csv=avail_csv(bad={3: "nan"})), words=("avail.csv", "line 5", "'car_a'", "nan")),
    Case("avail-inf", F(avail_csv=avail_csv(bad={3: "-inf"})), words=("avail.csv", "line 5", "'car_a'", "inf")),
    Case(
        "avail-above-one",
        F(avail_csv=avail_csv(bad={5: "1.5"})),
        words=("avail.csv", "line 7", "'car_a'", "1.5", "[0, 1]"),
        real=True,
    ),
    Case("avail-negative", F(avail_csv=avail_csv(bad={6: "-0.1"})), words=("avail.csv", "line 8", "-0.1", "[0, 1]")),
    Case(
        "avail-percent",
        F(avail_csv=avail_csv().replace("0.90,", "90,").replace("0.40,", "40,")),
        words=("avail.csv", "line 2", "'car_a'", "90", "[0, 1]", "percent"),
    ),
    Case("avail-shorter-than-horizon", F(avail_csv=avail_csv(20)), words=("avail.csv", "20", "24")),
    Case("avail-semicolon", F(avail_csv=avail_csv().replace(",", ";")), words=("avail.csv", "semicolon")),
    Case(  # car_a would silently get car_b's values
        "avail-trailing-comma",
        F(avail_csv=avail_csv().replace("\n", ",\n").replace("car_a,car_b,", "car_a,car_b")),
        words=("avail.csv", "line 2", "found 3 fields", "expected 2", "'car_a', 'car_b'", "trailing comma"),
    ),
    Case(
        "avail-decimal-commas",
        F(avail_csv=avail_csv().replace(".", ",")),  # 0,90,0,95
        words=("avail.csv", "line 2", "found 4 fields", "expected 2", "decimal commas"),
    ),
    Case("avail-binary", F(avail_csv=BINARY), words=("avail.csv", "binary")),
    Case(
        "avail-duplicate-timestamp",
        F(avail_csv=avail_csv(time=True, times=["2024-01-01 00:00"] * 2 + [f"2024-01-01 {h:02d}:00" for h in range(2, 24)] + ["2024-01-02 00:00"])),
        words=("avail.csv", "line 3", "'time'", "twice"),
    ),
    Case(
        "avail-unsorted-timestamps",
        F(avail_csv=avail_csv(time=True, times=[f"2024-01-01 {h:02d}:00" for h in (0, 2, 1)] + [f"2024-01-01 {h:02d}:00" for h in range(3, 24)])),
        words=("avail.csv", "line 4", "'time'", "earlier"),
    ),
    Case(
        "avail-constant-outside",
        F(s_toml=toml(("availability = 0.9", "availability = 1.2"))),
        words=("s.toml", "'b'", "availability", "1.2", "[0, 1]"),
    ),
    Case(
        "avail-unknown-pattern",
        F(s_toml=toml(("availability = 0.9", 'availability = { model = "synthetic", pattern = "nightshift" }'))),
        words=("s.toml", "'b'", "'nightshift'", "residential"),
    ),
    Case(
        "avail-unknown-model",
        F(s_toml=toml(("availability = 0.9", 'availability = { model = "gps" }'))),
        words=("s.toml", "'gps'", "csv", "constant", "synthetic"),
    ),
    Case(
        "avail-unknown-option",
        F(s_toml=toml(('column = "car_a"', 'colum = "car_a"'))),
        words=("s.toml", "'colum'", "did you mean 'column'"),
    ),
    Case(
        "avail-not-a-table",
        F(s_toml=toml(("availability = 0.9", 'availability = "avail.csv"'))),
        words=("s.toml", "'b'", "availability", "table"),
    ),
    # ------------------------------------------------------------ fleet parameters
    fleet_case("fleet-zero-vehicles", "vehicles = 10", "vehicles = 0", "'a'", "vehicles = 0", "> 0"),
    fleet_case("fleet-negative-vehicles", "vehicles = 10", "vehicles = -5", "'a'", "vehicles = -5", "> 0"),
    fleet_case("fleet-zero-battery", "battery_kwh = 30", "battery_kwh = 0", "'a'", "battery_kwh = 0", "> 0"),
    fleet_case("fleet-negative-charger", "charger_kw = 11", "charger_kw = -11", "'b'", "charger_kw = -11", "> 0"),
    fleet_case("fleet-nan-vehicles", "vehicles = 10", "vehicles = nan", "'a'", "vehicles", "> 0"),
    fleet_case("fleet-inf-battery", "battery_kwh = 30", "battery_kwh = inf", "'a'", "battery_kwh", "> 0"),
    fleet_case("fleet-zero-efficiency", "charge_efficiency = 0.9", "charge_efficiency = 0", "'a'", "charge_efficiency", "(0, 1]"),
    fleet_case("fleet-efficiency-above-one", "discharge_efficiency = 0.9", "discharge_efficiency = 1.2", "'a'", "1.2", "(0, 1]"),
    fleet_case("fleet-efficiency-percent", "charge_efficiency = 0.9", "charge_efficiency = 90", "'a'", "90", "(0, 1]"),
    fleet_case("fleet-contract-above-one", "contract_limit = 0.5", "contract_limit = 1.5", "'b'", "contract_limit", "[0, 1]"),
    fleet_case("fleet-contract-negative", "contract_limit = 0.8", "contract_limit = -0.1", "'a'", "contract_limit", "[0, 1]"),
    fleet_case("fleet-initial-soc-above-one", "initial_soc = 0.5", "initial_soc = 1.5", "'a'", "initial_soc", "[0, 1]"),
    fleet_case("fleet-vehicles-string", "vehicles = 10", 'vehicles = "many"', "vehicles", "'many'", "number"),
    fleet_case("fleet-vehicles-bool", "vehicles = 10", "vehicles = true", "vehicles", "number"),
    fleet_case("fleet-missing-field", "vehicles = 10\n", "", "'a'", "vehicles", "missing"),
    fleet_case("fleet-unknown-key", "battery_kwh = 30", "batery_kwh = 30", "'batery_kwh'", "did you mean 'battery_kwh'"),
    fleet_case("fleet-empty-name", 'name = "a"', 'name = ""', "name"),
    fleet_case("fleet-duplicate-name", 'name = "b"', 'name = "a"', "'a'", "already used", "unique"),
    fleet_case("fleet-missing-availability", 'availability = 0.9\n', "", "'b'", "availability", "missing"),
    Case("fleets-missing", F(s_toml=BASE_TOML.split("[[fleets]]")[0]), words=("s.toml", "[[fleets]]", "missing")),
    Case(
        "fleets-not-array",
        F(s_toml=BASE_TOML.split("[[fleets]]")[0].replace('name = "bad-input"', 'name = "bad-input"\nfleets = 3')),
        words=("s.toml", "fleets", "array"),
    ),
    # ---------------------------------------------------------------- scenario files
    Case("scenario-missing", args=("run", "nope.toml"), words=("nope.toml", "not found")),
    Case("scenario-folder", args=("run", "."), words=("folder", "toml")),
    Case("scenario-binary", F(s_toml=BINARY), words=("s.toml", "utf-8")),
    Case(
        "scenario-toml-syntax",
        F(s_toml=toml(("hours = 24", "hours = 24 h"))),
        words=("s.toml", "toml", "line 9"),
        real=True,
    ),
    Case("scenario-toml-unclosed", F(s_toml=toml(('name = "b"', 'name = "b'))), words=("s.toml", "line 32")),
    Case("scenario-unknown-top", F(s_toml=toml(("[horizon]", "[horizons]"))), words=("s.toml", "'horizons'", "did you mean 'horizon'")),
    Case("scenario-unknown-horizon-key", F(s_toml=toml(("hours = 24", "hour = 24"))), words=("s.toml", "[horizon]", "'hour'", "did you mean 'hours'")),
    Case("scenario-unknown-solver-key", F(s_toml=toml(("mip_gap = 1e-4", "mipgap = 1e-4"))), words=("s.toml", "[solver]", "'mipgap'", "did you mean 'mip_gap'")),
    Case("scenario-unknown-model-key", F(s_toml=toml(("slack_penalty = 1000.0", "slack_penality = 1000.0"))), words=("s.toml", "[model]", "did you mean 'slack_penalty'")),
    Case("scenario-unknown-prices-key", F(s_toml=toml(('column = "price"', 'colum = "price"'))), words=("s.toml", "[prices]", "did you mean 'column'")),
    Case("scenario-hours-string", F(s_toml=toml(("hours = 24", 'hours = "24"'))), words=("s.toml", "hours", "'24'", "number")),
    Case("scenario-exclusive-string", F(s_toml=toml(("exclusive_charging = true", 'exclusive_charging = "yes"'))), words=("s.toml", "exclusive_charging", "true or false")),
    Case("scenario-threads-float", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = 1e-4\nthreads = 1.5"))), words=("s.toml", "threads", "integer")),
    Case("scenario-threads-huge", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = 1e-4\nthreads = 100000"))), words=("s.toml", "threads", "100000", "1024")),
    Case("scenario-threads-negative", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = 1e-4\nthreads = -2"))), words=("s.toml", "threads", "-2", "0")),
    Case("scenario-name-number", F(s_toml=toml(('name = "bad-input"', "name = 5"))), words=("s.toml", "name", "string")),
    Case(
        "scenario-horizon-not-table",
        F(s_toml=toml(("[horizon]\nhours = 24\nstep_hours = 1.0\n", ""), ('name = "bad-input"', 'name = "bad-input"\nhorizon = 24'))),
        words=("s.toml", "[horizon]", "table"),
    ),
    Case("scenario-prices-missing", F(s_toml=toml(('[prices]\nsource = "csv"\npath = "prices.csv"\ncolumn = "price"\n', ""))), words=("s.toml", "[prices]", "missing")),
    Case("scenario-hours-zero", F(s_toml=toml(("hours = 24", "hours = 0"))), words=("s.toml", "hours", "> 0")),
    Case("scenario-hours-negative", F(s_toml=toml(("hours = 24", "hours = -24"))), words=("s.toml", "hours", "> 0")),
    Case("scenario-hours-nan", F(s_toml=toml(("hours = 24", "hours = nan"))), words=("s.toml", "hours", "nan")),
    Case("scenario-hours-inf", F(s_toml=toml(("hours = 24", "hours = inf"))), words=("s.toml", "hours", "inf")),
    Case("scenario-hours-fraction", F(s_toml=toml(("hours = 24", "hours = 10.5"))), words=("s.toml", "hours", "10.5", "whole number")),
    Case("scenario-step-zero", F(s_toml=toml(("step_hours = 1.0", "step_hours = 0"))), words=("s.toml", "step_hours", "1 second")),
    Case("scenario-step-tiny", F(s_toml=toml(("step_hours = 1.0", "step_hours = 1e-320"))), words=("s.toml", "step_hours", "1 second")),
    Case("scenario-step-nan", F(s_toml=toml(("step_hours = 1.0", "step_hours = nan"))), words=("s.toml", "step_hours", "nan")),
    Case("scenario-gap-too-big", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = 2"))), words=("s.toml", "mip_gap", "[0, 1)")),
    Case("scenario-gap-nan", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = nan"))), words=("s.toml", "mip_gap", "[0, 1)")),
    Case("scenario-time-limit-negative", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = 1e-4\ntime_limit = -1"))), words=("s.toml", "time_limit", "> 0")),
    Case("scenario-time-limit-nan", F(s_toml=toml(("mip_gap = 1e-4", "mip_gap = 1e-4\ntime_limit = nan"))), words=("s.toml", "time_limit", "> 0")),
    Case("scenario-slack-penalty-zero", F(s_toml=toml(("slack_penalty = 1000.0", "slack_penalty = 0"))), words=("s.toml", "slack_penalty", "> 0")),
    Case("scenario-slack-penalty-nan", F(s_toml=toml(("slack_penalty = 1000.0", "slack_penalty = nan"))), words=("s.toml", "slack_penalty")),
    Case("scenario-unknown-price-source", F(s_toml=toml(('source = "csv"', 'source = "xls"'))), words=("s.toml", "[prices] source", "'xls'", "csv", "constant", "synthetic"), real=True),
    Case("scenario-unknown-solver", F(s_toml=toml(('name = "highs"', 'name = "gurobi"'))), words=("s.toml", "[solver] name", "'gurobi'", "highs")),
    source_case("scenario-constant-price-bad", 'source = "constant"\nprice = "cheap"', "price", "'cheap'", "number"),
    source_case("scenario-constant-hours-string", 'source = "constant"\nprice = 30\nhours = "x"', "hours", "'x'"),
    source_case("scenario-constant-hours-nan", 'source = "constant"\nprice = 30\nhours = nan', "hours", "nan"),
    source_case("scenario-synthetic-negative-seed", 'source = "synthetic"\nseed = -1', "seed", "-1"),
    source_case("scenario-synthetic-bad-start", 'source = "synthetic"\nstart = "soon"', "start", "'soon'", "date"),
    Case(
        "scenario-prices-path-number",
        F(s_toml=toml(('path = "prices.csv"', "path = 5"))),
        words=("s.toml", "path", "5"),
    ),
    Case(
        "scenario-unknown-extension",
        F(s_toml=toml(('name = "bad-input"', 'name = "bad-input"\n[extensions.no_such_extension]\nlimit = 1'))),
        words=("s.toml", "[extensions.no_such_extension]", "extension", "installed"),
    ),
    # ------------------------------------------------------------- command line
    Case("cli-unknown-solver", args=("run", "s.toml", "--solver", "cplex"), words=("'cplex'", "highs")),
    Case("cli-linopy-solver-missing", F(s_toml=toml(('name = "highs"', 'name = "linopy"\nsolver = "no_such_mip"'))), words=("'no_such_mip'", "installed", "highs")),
    Case("cli-hours-negative", args=("run", "s.toml", "--hours", "-3"), words=("--hours", "> 0")),
    Case("cli-hours-too-long", args=("run", "s.toml", "--hours", "48"), words=("48", "24")),
    Case("cli-hours-fraction", args=("run", "s.toml", "--hours", "2.5"), words=("2.5", "whole number")),
    Case("cli-hours-not-a-number", args=("run", "s.toml", "--hours", "ten"), words=("--hours", "'ten'")),
    Case("cli-gap", args=("run", "s.toml", "--mip-gap", "1.5"), words=("--mip-gap", "[0, 1)")),
    Case("cli-time-limit", args=("run", "s.toml", "--time-limit", "0"), words=("--time-limit", "> 0")),
    Case("cli-out-suffix", args=("run", "s.toml", "--out", "r.txt"), words=("r.txt", ".nc", ".csv")),
    Case("cli-out-missing-folder", args=("run", "s.toml", "--out", "missing/r.nc"), words=("missing", "does not exist", "--mkdir"), real=True),
    Case("cli-out-is-folder", F(**{"out.nc/keep": "x"}), args=("run", "s.toml", "--out", "out.nc"), words=("out.nc", "folder")),
    Case("cli-unknown-command", args=("fly",), words=("invalid choice", "'fly'")),
]

#: Mistakes that are not errors: the run solves (exit 0) and one warning says what looks wrong.
WARNINGS: list[Case] = [
    Case(
        "warn-price-above-sanity-range",
        F(prices_csv=price_csv(bad={5: "35000"})),
        code=0,
        words=("warning", "prices.csv", "35,000", "20,000", "max_price"),
    ),
    Case(
        "warn-price-below-sanity-range",
        F(prices_csv=price_csv(bad={5: "-5000"})),
        code=0,
        words=("warning", "prices.csv", "-5,000", "-1,000", "min_price"),
    ),
    Case(
        "warn-price-configured-range",
        F(s_toml=toml(('column = "price"', 'column = "price"\nmax_price = 50'))),
        code=0,
        words=("warning", "prices.csv", "70", "max_price = 50"),
    ),
    Case(
        "warn-initial-soc-above-first-step",
        F(s_toml=toml(("initial_soc = 0.5\navailability = { model", "initial_soc = 1.0\navailability = { model")),
          avail_csv=avail_csv(bad={0: "0.1"})),
        code=0,
        words=("warning", "fleet 'a'", "initial_soc", "above", "maximum", "slack"),
    ),
    Case(
        "warn-initial-soc-below-first-step",
        F(s_toml=toml(("initial_soc = 0.5\navailability = 0.9", "initial_soc = 0.0\navailability = 0.9"),
                      ("charger_kw = 11", "charger_kw = 0.5"))),
        code=0,
        words=("warning", "fleet 'b'", "initial_soc", "below", "minimum", "slack"),
    ),
]

# ------------------------------------------------------------------- the runner

_RUNNER = r"""
import contextlib, io, json, logging, os, sys, traceback, warnings
from aggregator.cli import main

results = []
for case in json.load(open(sys.argv[1])):
    os.chdir(case["cwd"])
    out, err = io.StringIO(), io.StringIO()
    logging.getLogger().handlers.clear()  # basicConfig binds the stream of the first call
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        try:
            code = main(case["args"])
        except SystemExit as exc:  # argparse
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"id": case["id"], "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
json.dump(results, open(sys.argv[2], "w"))
"""


def _materialise(case: Case, folder: Path) -> Path:
    folder.mkdir(parents=True)
    base = {"s.toml": BASE_TOML, "prices.csv": price_csv(), "avail.csv": avail_csv()}
    base.update(case.files)
    for name, content in base.items():
        if content is None:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    """Run every case of the table in one fresh interpreter; id -> code, stdout, stderr."""
    root = tmp_path_factory.mktemp("bad_input")
    spec = []
    for case in CASES + WARNINGS:
        folder = _materialise(case, root / case.id)
        spec.append({"id": case.id, "cwd": str(folder), "args": list(case.args)})
    (root / "cases.json").write_text(json.dumps(spec))
    p = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(root / "cases.json"), str(root / "results.json")],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert p.returncode == 0, p.stderr
    return {r["id"]: r for r in json.loads((root / "results.json").read_text())}


def _check(case: Case, code: int, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert code == case.code, f"exit {code}, expected {case.code}; stderr:\n{stderr}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    low = stderr.lower()
    missing = [w for w in case.words if w.lower() not in low]
    assert not missing, f"message lacks {missing}:\n{stderr}"
    if case.code == 2:
        # One message: one line (argparse prints its usage line first).
        errors = [line for line in lines if "error" in line.lower()]
        assert len(errors) == 1, stderr
        assert len(lines) == 1 or lines[0].startswith("usage:"), stderr
    else:
        assert any(line.startswith("warning:") for line in lines), stderr


@pytest.mark.parametrize("case", CASES + WARNINGS, ids=lambda c: c.id)
def test_message(case: Case, outcomes):
    result = outcomes[case.id]
    _check(case, result["code"], result["stderr"])


def test_case_ids_are_unique():
    ids = [c.id for c in CASES + WARNINGS]
    assert len(ids) == len(set(ids))


REAL = [c for c in CASES if c.real]


def test_real_entry_point_agrees(tmp_path, outcomes):
    """The marked cases through `python -m aggregator`: same exit code and message, no traceback."""

    def run(case: Case):
        folder = _materialise(case, tmp_path / case.id)
        return case, run_cli(*case.args, cwd=folder)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for case, p in pool.map(run, REAL):
            _check(case, p.returncode, p.stderr)
            assert p.stderr == outcomes[case.id]["stderr"]


def test_seed_price_files_keep_loading(seed):
    """The daylight-saving artefact of the study's price files (02:00 skipped, 03:00 twice) is accepted."""
    from aggregator import PriceSignal

    for case in range(3):
        prices = PriceSignal.from_csv(seed / f"CA_Weighted_Price_Case{case}.csv")
        assert len(prices) == 8784
        assert prices.time.is_monotonic_increasing and prices.time.is_unique


# ------------------------------------------------------- plugins that fail on their options

class _Fragile:
    """A price source that trips over its options (ValueError) or over itself (RuntimeError)."""

    from aggregator import PriceSource as _Base

    class Source(_Base):
        name = "fragile"
        options = {"mode": "what to fail with"}

        def load(self, options, *, base_dir, steps, step_hours):
            if options.get("mode") == "bug":
                raise RuntimeError("the plugin's own bug")
            return float("x")  # ValueError: could not convert string to float

    from aggregator import hookimpl as _hookimpl

    @_hookimpl
    def aggregator_register_price_sources(self):
        return [self.Source]


@pytest.mark.parametrize("mode, code, words", [
    ("options", 2, ("[prices]", "price source 'fragile'", "'test-plugin'", "ValueError", "could not convert")),
    ("bug", 1, ("internal error", "RuntimeError", "the plugin's own bug", "-vv")),
])
def test_plugin_failure_is_one_line_naming_the_plugin(tmp_path, capsys, mode, code, words):
    from aggregator import plugins
    from aggregator.cli import main

    plugin = _Fragile()
    plugins.register(plugin, name="test:fragile", distribution="test-plugin")
    try:
        scenario = tmp_path / "s.toml"
        scenario.write_text(toml(('source = "csv"\npath = "prices.csv"\ncolumn = "price"', f'source = "fragile"\nmode = "{mode}"')))
        assert main(["run", str(scenario)]) == code
    finally:
        plugins.unregister(plugin)
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
