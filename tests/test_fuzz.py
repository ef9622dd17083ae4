"""Fuzzing the CSV and TOML loaders on mutated seed files: no uncaught exception.

Each mutation turns a well-formed file (a slice of the study's price and
availability files, with their byte-order marks, bare-CR line endings, quoted
row numbers and the daylight-saving artefact; or a scenario file) into a
damaged one: bytes flipped, inserted or deleted, lines duplicated, swapped or
cut, cells replaced by hostile tokens, the encoding or line endings changed.
Loading it must either succeed with a sane result or raise
:class:`aggregator.errors.InputError`; any other exception is a bug (the
command line would print a traceback).  The random generator is seeded and the
number of cases fixed, so a failure reproduces; each test also stops early at
a time budget so a slow machine cannot hang the suite.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from aggregator import InputError, PriceSignal, load_scenario
from aggregator.availability import CsvAvailability
from aggregator.errors import InputWarning
from aggregator.scenario import DEFAULT_SCENARIO

from conftest import SEED

CASES = 300  # per target; each takes a few milliseconds
BUDGET_SECONDS = 12.0  # per test, a safety net only

HOSTILE_CELLS = [
    "", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "1,5", "0x1A", "abc",
    "１２", "½", '"', '""', "'", "\\", "\x00", "\t", "NA", "null", "None", "True", "--1", "1e", ".", "-", "+",
    "99999999999999999999999999", "-0", "1.5", "-0.5", "1" * 400, "2024-13-45 25:61:00", "٣",
]
SEPARATORS = [b",", b";", b"\t", b"|", b"\r", b"\n", b"\r\n", b'"', b"\x00", b"\xef\xbb\xbf", b"\xff", b"\xfe"]


def _price_corpus() -> list[bytes]:
    """Slices of the study's price files (header + rows), with and without the DST artefact."""
    corpus = []
    if (SEED / "CA_Weighted_Price_Case0.csv").exists():
        for case in range(3):
            lines = (SEED / f"CA_Weighted_Price_Case{case}.csv").read_bytes().splitlines(keepends=True)
            corpus.append(b"".join(lines[:49]))  # two days from the start
            corpus.append(lines[0] + b"".join(lines[1650:1680]))  # 2024-03-10: 02:00 skipped, 03:00 twice
    else:  # the same shape, generated
        rows = [b'"","Date","Month","Day","Hour","Total_hourly_Price_x_load","Year","total_load","Weighted_Avg_Price"\n']
        for h in range(48):
            rows.append(f'"{h + 1}",2024-01-0{1 + h // 24} {h % 24:02d}:00:00,1,1,{h % 24 + 1},1e6,2024,23932,{40 + h % 7}\n'.encode())
        corpus.append(b"".join(rows))
    return corpus


def _availability_corpus() -> list[bytes]:
    """Slices of the study's availability files: BOM and bare CR, CRLF, two and four columns."""
    corpus = []
    names = ["car_profile_multiple.csv", "car_profile_commercial.csv", "car_profile_single.csv"]
    if all((SEED / n).exists() for n in names):
        for name in names:
            raw = (SEED / name).read_bytes()
            sep = b"\r\n" if b"\r\n" in raw[:400] else b"\r"
            corpus.append(sep.join(raw.split(sep)[:49]) + sep)
    else:
        corpus.append(b"\xef\xbb\xbfcar_aval1,car_aval2\r" + b"".join(b"1,0.9\r0.5,0.25\r" for _ in range(24)))
    return corpus


def reorder(lines: list, i: int, rng: random.Random) -> None:
    """Duplicate line i, drop it, or swap it with another, in place."""
    j = rng.randrange(len(lines))
    op = rng.randrange(3)
    if op == 0:
        lines.insert(i, lines[j])
    elif op == 1:
        del lines[i]
    else:
        lines[i], lines[j] = lines[j], lines[i]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random damages to a file."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(12)
        if kind == 0 and data:  # flip bytes
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        elif kind == 1:  # insert separators or special bytes
            i = rng.randint(0, len(data))
            data = data[:i] + rng.choice(SEPARATORS) * rng.randint(1, 3) + data[i:]
        elif kind == 2 and data:  # delete a range
            i = rng.randrange(len(data))
            data = data[:i] + data[i + rng.randint(1, 200):]
        elif kind == 3:  # truncate
            data = data[: rng.randint(0, len(data))]
        elif kind in (4, 5, 6):  # replace a cell by a hostile token
            lines = data.splitlines(keepends=True)
            if len(lines) > 1:
                i = rng.randrange(1, len(lines)) if kind != 6 else 0
                cells = lines[i].split(b",")
                j = rng.randrange(len(cells))
                end = cells[j][len(cells[j].rstrip(b"\r\n")):]
                cells[j] = rng.choice(HOSTILE_CELLS).encode("utf-8") + end
                lines[i] = b",".join(cells)
                data = b"".join(lines)
        elif kind == 7:  # duplicate, drop or swap lines
            lines = data.splitlines(keepends=True)
            if len(lines) > 2:
                reorder(lines, rng.randrange(len(lines)), rng)
                data = b"".join(lines)
        elif kind == 8:  # change the line endings
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", rng.choice([b"\r", b"\n", b"\r\n", b"\n\n"]))
        elif kind == 9:  # another encoding
            try:
                data = data.decode("utf-8-sig").encode(rng.choice(["utf-16", "utf-16-le", "latin-1", "utf-8-sig"]))
            except (UnicodeDecodeError, UnicodeEncodeError):
                data = data[::-1]
        elif kind == 10:  # add or remove a column everywhere
            lines = data.splitlines(keepends=True)
            if rng.random() < 0.5:
                data = b"".join(line.replace(b",", b",x,", 1) for line in lines)
            else:
                data = b"".join(line.replace(b",", b"", 1) for line in lines)
        else:  # random garbage
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))) + data[rng.randint(0, len(data)):]
    return data


def _run(target, corpus: list[bytes], seed: int, tmp_path: Path) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {"ok": 0, "input_error": 0}
    start = time.monotonic()
    for case in range(CASES):
        if time.monotonic() - start > BUDGET_SECONDS:
            break
        original = rng.choice(corpus)
        data = mutate(original, rng)
        path = tmp_path / f"case{case % 8}.csv"
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # numpy overflow and the like: a bug
                warnings.simplefilter("ignore", InputWarning)
                target(path)
        except InputError as exc:
            message = str(exc)
            assert message and "\n" not in message.strip(), f"case {case}: multi-line message {message!r}"
            assert str(path) in message, f"case {case}: the message does not name the file: {message}"
            counts["input_error"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            raise AssertionError(
                f"case {case} (seed {seed}): {type(exc).__name__}: {exc}\nfile bytes: {data[:400]!r}"
            ) from exc
        else:
            counts["ok"] += 1
    return counts


def _load_prices(path: Path) -> None:
    prices = PriceSignal.from_csv(path)
    assert len(prices) >= 1 and np.isfinite(prices.values).all()
    assert prices.time.is_monotonic_increasing and prices.time.is_unique


def _load_availability(path: Path) -> None:
    import pandas as pd

    time_index = pd.date_range("2024-01-01", periods=1, freq="h")
    profile = CsvAvailability().profile({"path": str(path)}, base_dir=path.parent, time=time_index, step_hours=1.0)
    profile = np.asarray(profile)
    assert profile.size >= 1 and np.isfinite(profile).all()
    assert (profile >= 0).all() and (profile <= 1).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_price_csv(seed, tmp_path):
    counts = _run(_load_prices, _price_corpus(), seed, tmp_path)
    assert counts["input_error"] > 0 and counts["ok"] > 0, counts  # the fuzzer reaches both outcomes


@pytest.mark.parametrize("seed", [3, 4])
def test_fuzz_availability_csv(seed, tmp_path):
    counts = _run(_load_availability, _availability_corpus(), seed, tmp_path)
    assert counts["input_error"] > 0 and counts["ok"] > 0, counts


def test_unmutated_corpus_loads(tmp_path):
    """The corpus itself is valid: every damage above starts from a file that loads."""
    for i, data in enumerate(_price_corpus()):
        (tmp_path / f"p{i}.csv").write_bytes(data)
        _load_prices(tmp_path / f"p{i}.csv")
    for i, data in enumerate(_availability_corpus()):
        (tmp_path / f"a{i}.csv").write_bytes(data)
        _load_availability(tmp_path / f"a{i}.csv")


# --------------------------------------------------------------------------- TOML

HOSTILE_VALUES = [
    "0", "-1", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "true", "false", '""', '"x"', '"auto"', "[]",
    "[1, 2]", "{}", "{ model = \"csv\" }", "1979-05-27", "1979-05-27T07:32:00Z", "0.5", "2", "24", "1.5", "9e15",
    "-0.0", "1_000", "0x10", '"1"', '"../"', "\"\"\"multi\nline\"\"\"",
]
KEYS = [
    "name", "vehicles", "battery_kwh", "charger_kw", "charge_efficiency", "discharge_efficiency", "contract_limit",
    "initial_soc", "availability", "hours", "step_hours", "mip_gap", "time_limit", "threads", "slack_penalty",
    "exclusive_charging", "source", "seed", "start", "path", "column", "pattern", "model", "value", "min_price",
    "max_price", "price", "solver", "verbose",
]


def mutate_toml(text: str, rng: random.Random) -> str:
    """One to three damages to a scenario: values, keys, lines, bytes."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines)) if lines else 0
        kind = rng.randrange(8)
        if not lines:
            lines = [rng.choice(KEYS) + " = " + rng.choice(HOSTILE_VALUES)]
        elif kind in (0, 1, 2) and "=" in lines[i]:  # a hostile value
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {rng.choice(HOSTILE_VALUES)}"
        elif kind == 3 and "=" in lines[i]:  # a typo or another key
            key, value = lines[i].split("=", 1)
            key = key.strip()
            new = rng.choice([key[:-1], key + "s", key.upper(), rng.choice(KEYS), key.replace("_", "")]) or "k"
            lines[i] = f"{new} ={value}"
        elif kind == 4:  # duplicate, drop or swap a line
            reorder(lines, i, rng)
        elif kind == 5:  # a new key somewhere
            lines.insert(i, f"{rng.choice(KEYS)} = {rng.choice(HOSTILE_VALUES)}")
        elif kind == 6:  # a table header damaged or moved
            lines.insert(i, rng.choice(["[[fleets]]", "[prices]", "[solver]", "[horizon]", "[model]", "[fleets]", "[x.y]", "[[prices]]", "["]))
        else:  # bytes
            pos = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:pos] + rng.choice(["\x00", '"', "'", "#", "=", "\\", "[", "{", "\u00e9", "\ufeff"]) + lines[i][pos:]
    return "\n".join(lines) + "\n"


def _scenario_corpus(folder: Path) -> list[str]:
    """The default scenario (synthetic inputs) and a seed-like one reading small CSV slices."""
    corpus = [DEFAULT_SCENARIO.replace("hours = 168", "hours = 48")]
    (folder / "prices.csv").write_bytes(_price_corpus()[0])
    (folder / "avail.csv").write_bytes(_availability_corpus()[0])
    corpus.append(
        'name = "seed-like"\n[prices]\nsource = "csv"\npath = "prices.csv"\ncolumn = "Weighted_Avg_Price"\n'
        "[horizon]\nhours = 24\nstep_hours = 1.0\n[solver]\nname = \"auto\"\nmip_gap = 1e-4\n"
        "[model]\nslack_penalty = 1000.0\nexclusive_charging = true\n"
        + "".join(
            f'[[fleets]]\nname = "car_aval{k}"\nvehicles = 1000\nbattery_kwh = 30\ncharger_kw = 7.2\n'
            "charge_efficiency = 0.85\ndischarge_efficiency = 0.78\ncontract_limit = 0.8\ninitial_soc = 1.0\n"
            f'availability = {{ model = "csv", path = "avail.csv", column = "car_aval{k}" }}\n'
            for k in (1, 2)
        )
    )
    return corpus


@pytest.mark.parametrize("seed", [5, 6])
def test_fuzz_scenario_toml(seed, tmp_path):
    """Mutated scenarios load into a valid problem or raise InputError; some of the valid ones are solved."""
    from aggregator.plugins import PluginWarning

    rng = random.Random(seed)
    corpus = _scenario_corpus(tmp_path)
    counts = {"ok": 0, "input_error": 0, "solved": 0}
    start = time.monotonic()
    for case in range(CASES):
        if time.monotonic() - start > BUDGET_SECONDS:
            break
        text = mutate_toml(rng.choice(corpus), rng)
        path = tmp_path / "s.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                warnings.simplefilter("ignore", InputWarning)
                warnings.simplefilter("ignore", PluginWarning)
                agg = load_scenario(path)
                inputs = agg.inputs
                for var in ("power_max", "soc_min", "soc_max", "soc_initial", "price"):
                    assert np.isfinite(inputs[var].to_numpy()).all(), f"case {case}: {var} not finite\n{text}"
                if counts["ok"] % 10 == 0 and agg.steps <= 48:
                    result = agg.solve(time_limit=20, mip_gap=1e-4)  # a mutated gap of 0 is no failure
                    assert result.status == "optimal", (result.status, result.dataset.attrs.get("message"), text)
                    worst = max(result.violations().values())
                    scale = max(1.0, float(inputs["soc_max"].max()), float(inputs["power_max"].max()))
                    assert worst <= 1e-6 * scale, f"case {case}: violation {worst}\n{text}"
                    counts["solved"] += 1
        except InputError:  # its text may hold a line break from the input; the CLI prints it on one line
            counts["input_error"] += 1
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"case {case} (seed {seed}): {type(exc).__name__}: {exc}\nscenario:\n{text}") from exc
        else:
            counts["ok"] += 1
    assert counts["input_error"] > 0 and counts["ok"] > 0, counts
