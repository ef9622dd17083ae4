"""The ``aggregator`` command line.

Exit codes: 0 solved (optimal: within the requested gap of a proven bound);
1 no proven answer (``feasible``: a solution without a proven gap, written to
``--out`` but not certified; time limit with a solution outside the gap or
without one; infeasible; solver failure) with the reason; 2 bad input or
usage, with one message naming the file, field or row.  A user's mistake never
prints a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import InputError, PluginError, SolveError

__all__ = ["main", "build_parser", "rounded_summary"]

log = logging.getLogger("aggregator")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_OUT_SUFFIXES = (".nc", ".csv", ".parquet")


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
    parser.add_argument("--version", action="version", version=f"aggregator {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="solve a scenario (the embedded default without SCENARIO)")
    run.add_argument("scenario", nargs="?", metavar="SCENARIO", help="scenario file (.toml)")
    run.add_argument(
        "--out", metavar="PATH", help="write the result (.nc netCDF, .parquet or .csv), with units and provenance"
    )
    run.add_argument("--mkdir", action="store_true", help="create the folder of --out if it is missing")
    run.add_argument("--json", action="store_true", help="print one JSON object with the run's facts")
    run.add_argument("--solver", metavar="NAME", help="solver backend (default: the scenario's, else auto)")
    run.add_argument("--hours", type=float, metavar="N", help="solve only the first N hours")
    run.add_argument("--time-limit", type=float, metavar="SECONDS", help="solver time limit")
    run.add_argument("--mip-gap", type=float, metavar="GAP", help="requested relative optimality gap")
    run.add_argument(
        "--workers", type=int, metavar="N", help="solve the fleets as N parallel tasks: threads of this process for the dp kernel's fleet batches, else a local Dask cluster of N processes"
    )
    run.add_argument("--scheduler", metavar="ADDRESS", help="solve the fleets as tasks on this Dask cluster")

    plot = sub.add_parser(
        "plot",
        help="draw a result file: price, charge/discharge and state of charge, or profit per month",
        description="Draw a result file written by aggregator run --out (.nc or .parquet) as a PNG, SVG or PDF image.",
    )
    plot.add_argument("result", metavar="RESULT", help="result file (.nc or .parquet)")
    plot.add_argument(
        "--out", metavar="FILE", help="image to write (.png, .svg, .pdf); default: RESULT with the suffix -KIND.png"
    )
    plot.add_argument(
        "--kind",
        choices=("dispatch", "monthly"),
        default="dispatch",
        help="dispatch: price, charge/discharge stacked by fleet, state of charge against its bounds (default); "
        "monthly: profit per month stacked by fleet (per day for a run of up to a month, per week up to four)",
    )
    plot.add_argument(
        "--dpi", type=float, default=300, metavar="N",
        help="resolution of a PNG in dots per inch (default: 300, for print; 100 is enough for a screen)",
    )
    plot.add_argument("--start", metavar="DATE", help="first day of the dispatch window, e.g. 2024-07-01")
    plot.add_argument(
        "--days", type=float, metavar="N", help="length of the dispatch window in days (default: 7, or all if shorter than 14)"
    )
    plot.add_argument("--fleet", action="append", metavar="NAME", help="show only this fleet (repeat for several)")
    plot.add_argument("--mkdir", action="store_true", help="create the folder of --out if it is missing")

    sweep = sub.add_parser(
        "sweep",
        help="solve every scenario of a sweep file on Dask, resumably",
        description="Solve the grid of a sweep file (a base scenario and [axes] to vary) on a Dask cluster. "
        "Results go to DIR/results/ (one netCDF file per scenario, named by its content hash), "
        "DIR/summary.csv and DIR/summary.parquet; re-running skips the scenarios already done. "
        "Exit codes: 0 every scenario solved to optimality, 1 some failed (listed), 2 bad input.",
    )
    sweep.add_argument("sweep", metavar="SWEEP", help="sweep file (.toml): base = \"scenario.toml\" and [axes]")
    sweep.add_argument("--out", metavar="DIR", help="output folder (default: SWEEP's name + -results, here)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786 or a scheduler file)")
    sweep.add_argument(
        "--workers", type=int, metavar="N", help="worker processes of the local cluster (default: one per core; 0: no Dask)"
    )
    export = sub.add_parser(
        "export-pypsa",
        help="write a scenario's fleets and prices as a PyPSA network (.nc), to use in a system model",
        description="Write the scenario's fleets as PyPSA components (a bus per fleet with a Store for the "
        "batteries, Links for charging and discharging, the price as a generator at the grid bus) to a PyPSA "
        "netCDF file; pypsa.Network(OUT) reads it and network.optimize() solves it. Needs the pypsa extra: "
        "python -m pip install \"aggregator[pypsa]\".",
    )
    export.add_argument("scenario", metavar="SCENARIO", help="scenario file (.toml)")
    export.add_argument("out", metavar="OUT", help="network file to write (.nc)")
    export.add_argument("--hours", type=float, metavar="N", help="export only the first N hours")
    export.add_argument("--mkdir", action="store_true", help="create the folder of OUT if it is missing")
    solvers_cmd = sub.add_parser("solvers", help="list solver backends and whether they are installed")
    solvers_cmd.add_argument(
        "-v", "--verbose", dest="show_solvers", action="store_true",
        help="also list the solvers that the linopy backend finds (this imports linopy)",
    )
    plugins_cmd = sub.add_parser("plugins", help="list every registered plugin with its distribution")
    plugins_cmd.add_argument(
        "-v", "--verbose", dest="show_options", action="store_true",
        help="also list each plugin's options: type, unit, range, default and description",
    )
    sub.add_parser("scenario", help="print the embedded default scenario (a template to edit)")
    sub.add_parser("schema", help="print the JSON Schema of scenario files, with the installed plugins' options")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aggregator")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "(not installed)"


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    if quiet:  # -q: errors only, so no warnings either
        warnings.simplefilter("ignore")


def _load(args: argparse.Namespace):
    from .scenario import DEFAULT_SCENARIO, load_scenario, read_scenario, scenario_from_dict, scenario_hash

    if args.scenario:
        suffix = Path(args.scenario).suffix.lower()
        if suffix in _OUT_SUFFIXES:
            hint = f" (to draw a result file: aggregator plot {args.scenario})" if suffix != ".csv" else (
                " (a price or availability file goes into a scenario: aggregator scenario > my.toml writes one to edit)")
            raise InputError(f"{args.scenario}: expected a .toml scenario, not a {suffix} file{hint}")
        path = Path(args.scenario)
        data = read_scenario(path)  # parsed once (a thousand fleets are a big TOML file)
        args.scenario_hash = scenario_hash(data)
        aggregator = scenario_from_dict(data, path.parent, source=str(path))
        aggregator.name = aggregator.name or path.stem  # as load_scenario names it
        return aggregator
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "default.toml"
        path.write_text(DEFAULT_SCENARIO)
        args.scenario_hash = scenario_hash(read_scenario(path))
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
        rolling=aggregator.rolling,
    )


def _print_summary(result) -> None:
    from .summary import print_summary

    print_summary(result)


def _progress(message: str, *, quiet: bool = False):
    """A spinner with elapsed time on standard error while long work runs (only on a terminal)."""
    import contextlib

    if quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return contextlib.nullcontext()
    try:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    except ImportError:  # pragma: no cover - rich is a dependency
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def spinner():
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
            progress.add_task(message, total=None)
            yield

    return spinner()


def _cmd_plot(args: argparse.Namespace) -> int:
    from .atomic import atomic_path, check_output_folder
    from .result import Result

    source = Path(args.result)
    if args.out is not None:
        out = Path(_non_empty_out(args.out, "an image file such as plot.png"))
    else:
        out = source.with_name(f"{source.stem}-{args.kind}.png")
    formats = (".png", ".svg", ".pdf")
    if out.suffix.lower() not in formats:
        raise InputError(f"--out {out}: unknown image format {out.suffix!r}; expected one of {', '.join(formats)}")
    if args.kind == "monthly" and (args.start or args.days is not None or args.fleet):
        raise InputError("--start, --days and --fleet apply to --kind dispatch only")
    if not 10 <= args.dpi <= 2400:
        raise InputError(f"--dpi {args.dpi:g}: expected dots per inch between 10 and 2400")
    check_output_folder(out, create=args.mkdir)
    result = Result.read(source)
    if args.kind == "dispatch":
        figure = result.plot("dispatch", start=args.start, days=args.days, fleets=args.fleet)
    else:
        figure = result.plot("monthly")
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format=out.suffix.lower().lstrip("."), dpi=args.dpi)
    print(f"wrote {out}")
    return EXIT_OK


def _cmd_export_pypsa(args: argparse.Namespace) -> int:
    from .pypsa_export import export_pypsa

    out = Path(_non_empty_out(args.out, "a network file such as network.nc"))
    aggregator = _load(args)
    if args.hours is not None:
        aggregator = _restrict_hours(aggregator, args.hours)
    export_pypsa(aggregator, out, create_folder=args.mkdir)
    print(
        f"wrote {out}: {len(aggregator.fleets)} fleet(s), {aggregator.steps} snapshots of {aggregator.step_hours:g} h "
        f"(read it with pypsa.Network({str(out)!r}))"
    )
    return EXIT_OK


def _non_empty_out(value: str, expected: str) -> str:
    """``--out`` as given, or an input error when it is blank (``--out ""`` must not mean "write nothing")."""
    if not value.strip():
        raise InputError(f"--out {value!r}: empty; expected {expected}")
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    from . import kernel_worker

    # The dp kernel loads in a worker process while this one imports pandas/xarray and reads the inputs.
    dp_solver = (args.solver or "auto") in ("auto", "dp")
    start = dp_solver and args.workers is None and not args.scheduler and kernel_worker.worthwhile()
    with kernel_worker.kernel_worker(start):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from .atomic import StorageError, check_output_folder

    out = None
    if args.out is not None:
        out = Path(_non_empty_out(args.out, "a result file such as result.nc"))
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
    # The solver's own log goes to standard output, which --json reserves for one JSON object.
    verbose = args.verbose > 1 and not args.json
    task = f"solving {aggregator.steps} steps x {len(aggregator.fleets)} fleets"
    with _progress(task, quiet=args.quiet or args.verbose > 1):
        if args.workers is not None or args.scheduler:
            from .sweep import solve_fleets

            result = solve_fleets(
                aggregator,
                scheduler=args.scheduler,
                workers=args.workers,
                solver=args.solver,
                mip_gap=args.mip_gap,
                time_limit=args.time_limit,
            )
        else:
            result = aggregator.solve(args.solver, mip_gap=args.mip_gap, time_limit=args.time_limit, verbose=verbose)
    result.dataset.attrs["scenario_hash"] = getattr(args, "scenario_hash", "")
    write_error = None
    if out is not None and result.has_solution and result.status in ("optimal", "feasible", "time_limit"):
        suffix = out.suffix.lower()
        try:
            if suffix == ".nc":
                result.to_netcdf(out)
            elif suffix == ".parquet":
                result.to_parquet(out)
            else:
                result.to_csv(out)
            if not args.quiet:  # standard error: standard output is the summary (or --json's one object)
                kind = {".nc": "netCDF", ".parquet": "Parquet", ".csv": "CSV"}[suffix]
                print(f"wrote {out} ({kind}: {result.dataset.sizes['time']} steps x {result.dataset.sizes['fleet']} "
                      f"fleets{', with units and provenance' if suffix != '.csv' else ''})", file=sys.stderr)
        except StorageError as exc:  # the file appears whole or not at all (atomic_path): nothing half-written
            write_error = f"--out {exc}"
        except OSError as exc:
            write_error = f"--out {out}: cannot write the result ({exc.strerror or exc}); any previous file is unchanged"
    elif out is not None:
        log.warning("no result written to %s (status %s); any previous file is unchanged", out, result.status)
    if args.json:
        print(json.dumps(rounded_summary(result.summary())))
    else:
        _print_summary(result)
    if write_error:
        print(f"aggregator: error: {write_error}", file=sys.stderr)
        return EXIT_USAGE
    if result.status == "optimal":
        return EXIT_OK
    print(f"aggregator: {_failure_reason(result, args)}", file=sys.stderr)
    return EXIT_FAILED


#: ``--json`` keys that are ratios (kept to 3 significant digits) and seconds (to the millisecond).
_RATIO_KEYS = frozenset({"gap", "mip_gap", "relative"})
_SECONDS_KEYS = frozenset({"solve_seconds"})


def rounded_summary(value: Any, key: str = "") -> Any:
    """``--json``'s figures without float noise: amounts ($, kWh) to 1e-7, ratios to 3 digits, seconds to 1 ms.

    A penalty of ``6.4e-09`` $ when nothing was penalised prints as ``0.0``;
    amounts keep seven decimals, so sums of them stay within 1e-6 of their
    total.

    Parameters
    ----------
    value : Any
        :meth:`aggregator.Result.summary` (or a part of it).
    key : str
        The key ``value`` is under.

    Returns
    -------
    Any
        The same structure with its floats rounded.
    """
    if isinstance(value, dict):
        return {k: rounded_summary(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded_summary(v, key) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        if key in _RATIO_KEYS:
            return float(f"{value:.3g}") + 0.0
        if key in _SECONDS_KEYS:
            return round(value, 3) + 0.0
        return round(value, 7) + 0.0  # + 0.0: no "-0.0"
    return value


def _failure_reason(result, args: argparse.Namespace) -> str:
    """One line on why a run did not solve: the status, the facts, and what to change."""
    def _fmt(x: float) -> str:
        return "n/a" if not math.isfinite(x) else f"{x:,.2f}"

    a = result.dataset.attrs
    message = a.get("message") or ""
    requested = float(a.get("mip_gap", math.nan))
    seconds = f"{float(a.get('solve_seconds', math.nan)):.1f} s"
    facts = (
        f"profit {_fmt(result.profit)} $, objective {_fmt(result.objective)} $, proven bound {_fmt(result.bound)} $, "
        f"gap {result.gap:.2e}" if math.isfinite(result.gap) else
        f"profit {_fmt(result.profit)} $, objective {_fmt(result.objective)} $, no proven bound"
    )
    at_limit = a.get("termination") == "time_limit"
    if result.status == "time_limit":
        stopped = "stopped at the time limit" if at_limit else "stopped"
        advice = "; raise --time-limit or --mip-gap" if at_limit else "; raise --mip-gap to accept it"
        return (
            f"{stopped} after {seconds} with a solution outside the requested gap: {facts} > requested "
            f"{requested:.1e}{advice}" + (f" ({message})" if message else "")
        )
    if result.status == "feasible":
        return (
            f"a solution without a proven gap within the requested {requested:.1e}: {facts}; the solution is "
            "not certified" + (f" ({message})" if message else "")
        )
    if result.status == "no_solution":
        return (
            f"the solver stopped after {seconds} ({a.get('termination') or 'no reason given'}) without a feasible "
            "solution" + ("; raise --time-limit" if at_limit else "") + (f" ({message})" if message else "")
        )
    if result.status == "infeasible":
        return "the problem is infeasible" + (f": {message}" if message else "")
    if result.status == "error":
        return "the solver failed" + (f": {message}" if message else "")
    return f"status {result.status}" + (f": {message}" if message else "")


def _cmd_solvers(args: argparse.Namespace) -> int:
    from . import plugins

    # The registrations say what to list: no backend module (nor linopy, highspy) is imported.
    backends = sorted(plugins.entries("solver_backends").items(), key=lambda kv: -kv[1].priority)
    width = max([len("backend"), *(len(name) for name, _ in backends)])
    dist_width = max([len("distribution"), *(len(entry.distribution) for _, entry in backends)])
    print(f"{'backend':<{width}} {'state':<14} {'distribution':<{dist_width}} description")
    for name, entry in backends:
        state = "available" if entry.is_available() else "not installed"
        print(f"{name:<{width}} {state:<14} {entry.distribution:<{dist_width}} {entry.description}")
        if name == "linopy" and getattr(args, "show_solvers", False) and entry.is_available():
            import linopy

            print(f"{'':<{width}} solvers linopy finds: {', '.join(sorted(linopy.available_solvers)) or 'none'}")
    return EXIT_OK


def _cmd_plugins(args: argparse.Namespace) -> int:
    from . import plugins

    show_options = getattr(args, "show_options", False)
    if show_options:
        from .options import describe_option  # imports jsonschema
    rows = plugins.listing(with_options=show_options)  # without options no plugin class is imported
    width = max(len(r.name) for r in rows) + 2
    for kind in plugins.iter_kinds():
        print(f"{kind.replace('_', ' ')}:")
        found = [row for row in rows if row.kind == kind]
        if not found:
            print("  (none installed)")
        for row in found:
            state = "" if row.available or row.conflict or row.error else " (not installed)"
            text = f"conflict: {row.conflict}" if row.conflict else f"error: {row.error}" if row.error else row.description
            print(f"  {row.name:<{width}} {row.distribution:<24} {text}{state}")
            if show_options and row.options is not None:
                keys = max((len(k) for k in row.options), default=0) + 2
                for key, option in row.options.items():
                    print(f"      {key:<{keys}} {describe_option(option)}")
                if not row.options:
                    print("      (no options)")
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
    if args.command in ("run", "sweep"):  # many large arrays made and dropped: keep their memory for reuse
        from .allocator import reuse_freed_memory

        reuse_freed_memory()
    with _sigterm_as_interrupt():
        return _dispatch(args)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that work in progress is stopped and recorded the same way."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` while a command runs (in the main thread only)."""
    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    commands = {
        "run": _cmd_run,
        "plot": _cmd_plot,
        "solvers": _cmd_solvers,
        "plugins": _cmd_plugins,
        "scenario": _cmd_scenario,
        "schema": _cmd_schema,
        "sweep": _cmd_sweep,
        "export-pypsa": _cmd_export_pypsa,
    }
    try:
        return commands[args.command](args)
    except InputError as exc:
        # One line whatever the input held (a file name with a line break, a quoted cell, ...).
        print(f"aggregator: error: {' / '.join(str(exc).splitlines())}", file=sys.stderr)
        return EXIT_USAGE
    except SolveError as exc:
        print(f"aggregator: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except PluginError as exc:  # a plugin's bug, named with its distribution: not the user's input
        print(f"aggregator: error: {' / '.join(str(exc).splitlines())}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`aggregator plugins | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (_Terminated): one line, what was kept
        terminated = isinstance(exc, _Terminated)
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        detail = f"; {exc}" if str(exc) else ""
        print(f"aggregator: {what}{detail}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except Exception as exc:  # a bug, ours or a plugin's: one line; the traceback with -vv
        log.debug("internal error", exc_info=True)
        text = " / ".join(f"{type(exc).__name__}: {exc}".splitlines())
        print(f"aggregator: internal error: {text} (a bug, not a mistake in the input; -vv shows the traceback)", file=sys.stderr)
        return EXIT_FAILED


def _cmd_scenario(args: argparse.Namespace) -> int:
    from .default_scenario import DEFAULT_SCENARIO

    sys.stdout.write(DEFAULT_SCENARIO)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from .scenario_schema import scenario_json_schema

    sys.stdout.write(json.dumps(scenario_json_schema(), indent=2) + "\n")
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep_command

    out = None if args.out is None else _non_empty_out(args.out, "an output folder")
    return sweep_command(args.sweep, out=out, scheduler=args.scheduler, workers=args.workers, quiet=args.quiet)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
