"""Each input file is read once per scenario, whatever columns its fleets take (issue 14).

The seed study's four fleets take four columns of car_profile_multiple.csv;
the 1,000-fleet benchmark takes twelve columns of three files a thousand
times.  Inside :func:`aggregator.csv_input.shared_reads` (around every
scenario build) the first read of a file parses every column, and the others
take their columns from it, with the same tables, values and messages.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aggregator import InputError, csv_input
from aggregator.csv_input import numeric_column, read_csv_table, shared_derived, shared_reads
from aggregator.scenario import load_scenario
from conftest import REPO


@pytest.fixture
def parsed_files(monkeypatch) -> list[str]:
    """The files csv_input parses (a record around the real parser)."""
    names: list[str] = []
    parse = csv_input._read_rows

    def recording(handle, path, *args):
        names.append(Path(path).name)
        return parse(handle, path, *args)

    monkeypatch.setattr(csv_input, "_read_rows", recording)
    return names


def test_the_seed_scenario_parses_its_profile_file_once(seed, parsed_files):
    # Whatever other tests read before (in this process): the cache lives for one scenario build only.
    aggregator = load_scenario(REPO / "examples" / "scenarios" / "seed_case0_multi.toml")
    assert parsed_files.count("car_profile_multiple.csv") == 1, parsed_files  # was 4: once per fleet's column
    table = read_csv_table(seed / "car_profile_multiple.csv")
    for j, fleet in enumerate(aggregator.fleets):
        _, column = numeric_column(table, "car_profile_multiple.csv", f"car_aval{j + 1}")
        assert np.array_equal(fleet.availability, column[: len(fleet.availability)])


def test_every_scenario_build_reads_its_profile_again(seed, parsed_files):
    path = REPO / "examples" / "scenarios" / "seed_case0_multi.toml"
    load_scenario(path)
    load_scenario(path)
    assert parsed_files.count("car_profile_multiple.csv") == 2, parsed_files


def _one_fleet_scenario(tmp_path: Path) -> Path:
    (tmp_path / "prices.csv").write_text("price\n10\n100\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        "[prices]\npath = 'prices.csv'\n[[fleets]]\nname = 'f'\nvehicles = 1\nbattery_kwh = 10\ncharger_kw = 10\n"
        "initial_soc = 0.0\navailability = { model = 'csv', path = 'plug.csv', column = 'share' }\n"
    )
    return scenario


def test_a_changed_profile_is_not_served_from_the_cache(tmp_path):
    # The same inode, size and modification time: only reading the file again can see the change.
    scenario = _one_fleet_scenario(tmp_path)
    plug = tmp_path / "plug.csv"
    plug.write_text("share\n0.25\n0.50\n")
    before = plug.stat()
    assert load_scenario(scenario).fleets[0].availability.tolist() == [0.25, 0.5]
    with open(plug, "r+") as handle:  # rewritten in place
        handle.write("share\n0.75\n0.00\n")
    os.utime(plug, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = plug.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert load_scenario(scenario).fleets[0].availability.tolist() == [0.75, 0.0]


def test_a_derived_value_is_kept_for_the_block_only(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("a\n1\n")
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with shared_reads():
        assert shared_derived(path, "n", compute) == 1 and shared_derived(path, "n", compute) == 1
        assert shared_derived(path, "other", compute) == 2
    assert shared_derived(path, "n", compute) == 3  # outside a block: computed every time


def test_columns_from_the_shared_table_are_the_tables_read_alone(seed):
    path = seed / "CA_Weighted_Price_Case0.csv"
    alone = [read_csv_table(path, columns=["Weighted_Avg_Price", "Date"]), read_csv_table(path, rows=48), read_csv_table(path)]
    with shared_reads():
        shared = [read_csv_table(path, columns=["Weighted_Avg_Price", "Date"]), read_csv_table(path, rows=48), read_csv_table(path)]
    for a, b in zip(alone, shared):
        assert a.equals(b) and list(a.columns) == list(b.columns) and list(a.index) == list(b.index)
        assert a.attrs == b.attrs


def test_a_file_changed_within_the_block_is_read_again(tmp_path, parsed_files):
    path = tmp_path / "profile.csv"
    path.write_text("a,b\n0.5,1\n")
    with shared_reads():
        first = read_csv_table(path, columns=["a"])
        path.write_text("a,b\n0.25,1\n0.5,1\n")  # another size
        second = read_csv_table(path, columns=["b"])
        read_csv_table(path, columns=["a"])
    assert first["a"].tolist() == ["0.5"] and second["b"].tolist() == ["1", "1"]
    assert parsed_files == ["profile.csv", "profile.csv"]


def test_a_bad_file_names_its_problem_at_every_read(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n0.5,1\n0.5,1,2\n")
    with shared_reads():
        for column in ("a", "b"):
            with pytest.raises(InputError, match=r"bad\.csv, line 3: found 3 fields, expected 2"):
                read_csv_table(path, columns=[column])


def test_outside_the_block_nothing_is_kept(tmp_path, parsed_files):
    path = tmp_path / "p.csv"
    path.write_text("a\n1\n")
    read_csv_table(path)
    read_csv_table(path)
    assert parsed_files == ["p.csv", "p.csv"]
