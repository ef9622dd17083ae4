"""The ``aggregator`` command line.

Exit codes: 0 solved (optimal or within the requested gap); 1 no usable
solution (infeasible, time limit without a solution or outside the gap, solver
failure) with the reason; 2 bad input or usage, with one message naming the
file, field or row.  A user's mistake never prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

from .errors import InputError

__all__ = ["main", "build_parser"]

log = logging.getLogger("aggregator")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_OUT_SUFFIXES = (".nc", ".csv")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the command line reference).

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Optimise the charging and vehicle-to-grid discharging of EV fleets against wholesale prices.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="solve a scenario (the embedded default without SCENARIO)")
    run.add_argument("scenario", nargs="?", metavar="SCENARIO", help="scenario file (.toml)")
    run.add_argument("--out", metavar="PATH", help="write the result dataset (.nc netCDF or .csv)")
    run.add_argument("--mkdir", action="store_true", help="create the folder of --out if it is missing")
    run.add_argument("--json", action="store_true", help="print one JSON object with the run's facts")
    run.add_argument("--solver", metavar="NAME", help="solver backend (default: the scenario's, else auto)")
    run.add_argument("--hours", type=float, metavar="N", help="solve only the first N hours")
    run.add_argument("--time-limit", type=float, metavar="SECONDS", help="solver time limit")
    run.add_argument("--mip-gap", type=float, metavar="GAP", help="requested relative optimality gap")

    sub.add_parser("solvers", help="list solver backends and whether they are installed")
    sub.add_parser("plugins", help="list every registered plugin with its distribution")
    sub.add_parser("scenario", help="print the embedded default scenario (a template to edit)")
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"


def _load(args: argparse.Namespace):
    from .scenario import DEFAULT_SCENARIO, load_scenario

    if args.scenario:
        return load_scenario(args.scenario)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "default.toml"
        path.write_text(DEFAULT_SCENARIO)
        return load_scenario(path)


def _restrict_hours(aggregator, hours: float):
    from .aggregator import Aggregator

    if hours <= 0:
        raise InputError(f"--hours {hours:g}: expected a number of hours > 0")
    return Aggregator(
        aggregator.fleets,
        aggregator.prices,
        hours=hours,
        slack_penalty=aggregator.slack_penalty,
        exclusive_charging=aggregator.exclusive_charging,
        extensions=aggregator.extensions,
        solver=aggregator.solver,
        solver_options=aggregator.solver_options,
        name=aggregator.name,
    )


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _print_summary(result) -> None:
    a = result.dataset.attrs
    print(f"scenario   {a.get('name') or '-'}: {result.dataset.sizes['fleet']} fleets x {result.dataset.sizes['time']} steps of {a['step_hours']:g} h")
    print(f"solver     {a['solver']} ({a['solver_choice']}), {a['solve_seconds']:.2f} s")
    print(f"status     {a['status']}" + (f" - {a['message']}" if a.get("message") else ""))
    if not result.has_solution:
        return
    gap = result.gap
    print(f"profit     {_fmt(result.profit)} $   (penalty {_fmt(result.penalty)} $, objective {_fmt(result.objective)} $)")
    print(f"bound      {_fmt(result.bound)} $   gap {gap:.2e}" if math.isfinite(gap) else "bound      not proven by this solver")
    table = result.fleet_table()
    header = f"{'fleet':<16}{'profit $':>16}{'charged kWh':>16}{'discharged kWh':>16}{'cycles':>9}{'slack kWh':>12}"
    print()
    print(header)
    print("-" * len(header))
    for name, row in table.iterrows():
        print(
            f"{str(name):<16}{_fmt(row['profit']):>16}{_fmt(row['charged_kwh'], 0):>16}"
            f"{_fmt(row['discharged_kwh'], 0):>16}{row['cycles']:>9.1f}{_fmt(row['slack_kwh'], 1):>12}"
        )
    total = table.sum()
    print("-" * len(header))
    print(
        f"{'total':<16}{_fmt(total['profit']):>16}{_fmt(total['charged_kwh'], 0):>16}"
        f"{_fmt(total['discharged_kwh'], 0):>16}{'':>9}{_fmt(total['slack_kwh'], 1):>12}"
    )
    if total["slack_kwh"] > 0:
        print(f"\nnote: {total['slack_kwh']:,.1f} kWh of slack energy used, costing {_fmt(result.penalty)} $ of penalty")


def _cmd_run(args: argparse.Namespace) -> int:
    out = None
    if args.out:
        from .atomic import check_output_folder

        out = Path(args.out)
        if out.suffix.lower() not in _OUT_SUFFIXES:
            raise InputError(f"--out {out}: unknown format {out.suffix!r}; expected one of {', '.join(_OUT_SUFFIXES)}")
        check_output_folder(out, create=args.mkdir)
    aggregator = _load(args)
    if args.hours is not None:
        aggregator = _restrict_hours(aggregator, args.hours)
    if args.mip_gap is not None and not 0 <= args.mip_gap < 1:
        raise InputError(f"--mip-gap {args.mip_gap}: expected a relative gap in [0, 1)")
    if args.time_limit is not None and not args.time_limit > 0:
        raise InputError(f"--time-limit {args.time_limit}: expected seconds > 0")
    result = aggregator.solve(args.solver, mip_gap=args.mip_gap, time_limit=args.time_limit, verbose=args.verbose > 1)
    if out is not None and result.has_solution:
        if out.suffix.lower() == ".nc":
            result.to_netcdf(out)
        else:
            result.to_csv(out)
        log.info("wrote %s", out)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        _print_summary(result)
    if result.status == "optimal":
        return EXIT_OK
    reason = {
        "time_limit": f"stopped at the time limit with gap {result.gap:.2e} above the requested {result.dataset.attrs['mip_gap']:.1e}",
        "infeasible": "the problem is infeasible",
        "no_solution": "the solver stopped without a solution",
        "error": "the solver failed",
    }.get(result.status, result.status)
    message = result.dataset.attrs.get("message")
    print(f"aggregator: {reason}" + (f" ({message})" if message else ""), file=sys.stderr)
    return EXIT_FAILED


def _cmd_solvers(args: argparse.Namespace) -> int:
    from . import plugins

    for name, (cls, dist) in sorted(plugins.registry("solver_backends").items(), key=lambda kv: -kv[1][0].priority):
        state = "available" if cls.is_available() else "not installed"
        print(f"{name:<10} {state:<14} {dist:<22} {cls.description}")
        if name == "linopy" and cls.is_available():
            import linopy

            print(f"{'':<10} solvers linopy finds: {', '.join(sorted(linopy.available_solvers)) or 'none'}")
    return EXIT_OK


def _cmd_plugins(args: argparse.Namespace) -> int:
    from . import plugins

    rows = plugins.listing()
    width = max(len(r.name) for r in rows) + 2
    kind = None
    for row in rows:
        if row.kind != kind:
            kind = row.kind
            print(f"{kind.replace('_', ' ')}:")
        state = "" if row.available else " (not installed)"
        print(f"  {row.name:<{width}} {row.distribution:<24} {row.description}{state}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    commands = {"run": _cmd_run, "solvers": _cmd_solvers, "plugins": _cmd_plugins, "scenario": _cmd_scenario}
    try:
        return commands[args.command](args)
    except InputError as exc:
        print(f"aggregator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("aggregator: interrupted", file=sys.stderr)
        return 130


def _cmd_scenario(args: argparse.Namespace) -> int:
    from .scenario import DEFAULT_SCENARIO

    sys.stdout.write(DEFAULT_SCENARIO)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
