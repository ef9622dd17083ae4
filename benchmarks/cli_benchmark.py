"""Command-line speed: median wall and CPU time of the CLI commands, against a "before" install.

Runs each command as a whole process (the way a user meets it), several times
after a warm-up, alternating with the same command of a second installation
(``--before``, e.g. a virtual environment of an older checkout) so that both
see the same machine load, and prints the medians and the before/after ratio::

    python benchmarks/cli_benchmark.py --before /path/to/old/.venv/bin/python

Commands: ``--help``, ``solvers``, ``plugins``, ``scenario`` and ``run`` of the
seed study's Case0 / contract 0.8 year (``examples/scenarios/seed_case0_multi.toml``,
which reads ``../shared/data/seed`` beside the repository; the ``run`` row is
skipped when the data are absent).  For ``run`` the table also gives the time
the solve itself took (the ``solve_seconds`` of ``--json``) and the rest, which
is start-up, import, reading, checking and reporting.  CPU is user + system
time of the process and its children (the dp backend solves fleets in worker
processes), from :func:`resource.getrusage`; on a shared machine it is the
steadier figure.  A second table gives what importing the heavy libraries costs
(``python -X importtime``, the cumulative time of the top-level module).

Each command runs as ``python -c`` code that does what the ``aggregator``
console script does (import :func:`aggregator.cli.main`, call it) and then
reports the CPU of its own process, so for ``run`` the table also splits the
CPU between the command's process and its workers: the ``dp`` kernel loads in
a worker process while the command reads its inputs
(:mod:`aggregator.kernel_worker`), and on an idle machine the wall time is
about the longer of the two paths, not their sum.

Targets (issue 14, a 2-core machine): ``--help``, ``solvers``, ``scenario``
<= 0.3 s; ``run`` of the seed year <= 1.5 s end to end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED_SCENARIO = REPO / "examples" / "scenarios" / "seed_case0_multi.toml"
SEED_DATA = REPO.parent / "shared" / "data" / "seed" / "CA_Weighted_Price_Case0.csv"
TARGETS = {"--help": 0.3, "solvers": 0.3, "plugins": 0.3, "scenario": 0.3, "run": 1.5}
IMPORTS = ("numpy", "pandas", "xarray", "linopy", "highspy", "dask.array", "numba", "aggregator.scenario")


#: What the console script does (import the command line, run it), and then the CPU of its own process alone.
PROGRAM = (
    "import resource, sys\n"
    "from aggregator.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "own = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print('OWN_CPU', own.ru_utime + own.ru_stime, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def command(python: str, args: list[str]) -> list[str]:
    """The command line run by ``python`` as the console script runs it, reporting its own process's CPU."""
    return [python, "-c", PROGRAM, *args]


def timed(argv: list[str]) -> tuple[float, float, float, str]:
    """Run once: (wall seconds, CPU seconds of the process and its children, of the process alone, standard output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = [float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("OWN_CPU ")]
    return wall, cpu, own[-1] if own else cpu, done.stdout


def solve_seconds(stdout: str) -> float:
    """The solve's own time from ``run --json``."""
    return float(json.loads(stdout)["solve_seconds"])


def measure(pythons: dict[str, str], args: list[str], runs: int) -> dict[str, dict[str, list[float]]]:
    """Alternate the installations run by run (one warm-up each); every figure of every run."""
    figures: dict[str, dict[str, list[float]]] = {label: {"wall": [], "cpu": [], "own": [], "solve": []} for label in pythons}
    for i in range(runs + 1):
        for label, python in pythons.items():
            wall, cpu, own, stdout = timed(command(python, args))
            if i == 0:
                continue  # warm-up: file caches, .pyc files
            figures[label]["wall"].append(wall)
            figures[label]["cpu"].append(cpu)
            figures[label]["own"].append(own)
            if "--json" in args:
                figures[label]["solve"].append(solve_seconds(stdout))
    return figures


def cpu_seconds(python: str, code: str) -> float:
    """CPU seconds (user + system) of ``python -c code`` as a whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([python, "-c", code], capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_seconds(python: str, module: str, runs: int = 3) -> tuple[float, float] | None:
    """Median cost of importing ``module`` in a fresh interpreter: (importtime's cumulative wall seconds,
    CPU seconds over an empty interpreter); None when it is not installed."""
    found = subprocess.run([python, "-c", f"import importlib.util as u; print(u.find_spec({module.split('.')[0]!r}) is not None)"],
                           capture_output=True, text=True)
    if found.stdout.strip() != "True":
        return None
    walls, cpus = [], []
    for _ in range(runs):
        done = subprocess.run([python, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True)
        rows = [line for line in done.stderr.splitlines() if re.search(rf"\|\s*{re.escape(module)}$", line)]
        if not rows:
            return None
        walls.append(int(rows[-1].split("|")[1]) / 1e6)
        cpus.append(cpu_seconds(python, f"import {module}") - cpu_seconds(python, "pass"))
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="PYTHON", help="the Python of the installation to compare against")
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each command (default 5)")
    parser.add_argument("--run-runs", type=int, default=3, help="counted runs of `run` of the seed year (default 3)")
    parser.add_argument("--skip-run", action="store_true", help="leave out `run` of the seed year")
    args = parser.parse_args(argv)
    pythons = {"after": sys.executable}
    if args.before:
        pythons["before"] = args.before
    commands: list[tuple[str, list[str]]] = [
        ("--help", ["--help"]), ("solvers", ["solvers"]), ("plugins", ["plugins"]), ("scenario", ["scenario"]),
    ]
    if not args.skip_run:
        if SEED_DATA.exists():
            commands.append(("run", ["run", str(SEED_SCENARIO), "--json"]))
        else:
            print(f"(run skipped: the seed data are not at {SEED_DATA.parent})")
    load_start = os.getloadavg()
    print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {load_start[0]:.1f} at the start; "
          f"median of {args.runs} runs ({args.run_runs} of `run`) after one warm-up, installations alternated run by run")
    header = f"{'command':<10} {'target s':>8} {'wall s':>8} {'cpu s':>7}"
    if "before" in pythons:
        header += f" {'before wall':>11} {'before cpu':>10} {'x wall':>7} {'x cpu':>6}"
    print(header + "   met (wall)")
    print("-" * (len(header) + 13))
    for label, cmd_args in commands:
        figures = measure(pythons, cmd_args, args.run_runs if label == "run" else args.runs)
        after = figures["after"]
        wall, cpu = statistics.median(after["wall"]), statistics.median(after["cpu"])
        row = f"{label:<10} {TARGETS[label]:>8.2f} {wall:>8.2f} {cpu:>7.2f}"
        if "before" in pythons:
            before = figures["before"]
            ratio_wall = statistics.median(b / a for b, a in zip(before["wall"], after["wall"]))
            ratio_cpu = statistics.median(b / a for b, a in zip(before["cpu"], after["cpu"]))
            row += (f" {statistics.median(before['wall']):>11.2f} {statistics.median(before['cpu']):>10.2f}"
                    f" {ratio_wall:>7.1f} {ratio_cpu:>6.1f}")
        row += "   " + ("yes" if wall <= TARGETS[label] else "no")
        print(row)
        if after["solve"]:
            solve = statistics.median(after["solve"])
            note = f"{'':<10} of which the solve {solve:.2f} s, the rest {wall - solve:.2f} s wall"
            if "before" in pythons:
                before_solve = statistics.median(figures["before"]["solve"])
                note += f" (before: solve {before_solve:.2f} s, rest {statistics.median(figures['before']['wall']) - before_solve:.2f} s)"
            print(note)
            def split(runs: dict[str, list[float]]) -> str:
                workers = statistics.median(total - own for total, own in zip(runs["cpu"], runs["own"]))
                return f"{statistics.median(runs['own']):.2f} s, its workers {workers:.2f} s"

            note = f"{'':<10} CPU: the command's own process {split(after)}"
            if "before" in pythons:
                note += f" (before: {split(figures['before'])})"
            print(note)
    load_end = os.getloadavg()
    print(f"load average {load_end[0]:.1f} at the end")
    print()
    print(f"{'import':<20} " + " ".join(f"{label + ' wall s':>14} {label + ' cpu s':>13}" for label in pythons)
          + "   (wall: python -X importtime, cumulative; cpu: the process's, over an empty interpreter)")
    for module in IMPORTS:
        cells = []
        for python in pythons.values():
            seconds = import_seconds(python, module)
            cells.append(f"{'absent':>14} {'':>13}" if seconds is None else f"{seconds[0]:>14.3f} {seconds[1]:>13.3f}")
        print(f"{module:<20} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
