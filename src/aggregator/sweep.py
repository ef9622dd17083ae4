"""Scenario sweeps and many-fleet scenarios on Dask: run a grid of scenarios resumably.

:func:`sweep` (and ``aggregator sweep``) runs every scenario of a sweep file's
grid (:mod:`aggregator.sweep_spec`) on an executor (:mod:`aggregator.executors`:
a local cluster of processes sized to the machine, an existing cluster, or this
process), one task per fleet where the fleets separate
(:mod:`aggregator.fleet_tasks`), and writes each result into the output folder
as soon as its last task is done (:mod:`aggregator.sweep_store`, which also
holds the resume rules and the combined view :func:`open_sweep`).

Re-running the same sweep into the same folder skips every scenario whose
result file can be trusted (its checksum, its input key and its figures
check out: :func:`aggregator.sweep_store.load_complete`), so an interrupted
sweep (Ctrl-C, SIGTERM, a killed worker, a lost machine) finishes where it
stopped; Ctrl-C and SIGTERM still write the partial summary.

This module also re-exports the public names of those modules, so
``from aggregator.sweep import open_sweep, solve_fleets, read_sweep`` works.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TextIO

import pandas as pd
import xarray as xr

from .aggregator import Aggregator
from .atomic import StorageError
from .errors import InputError
from .executors import open_executor
from .fleet_tasks import TaskPlan, assemble_result, combine_fleet_results, solve_fleets, submit_problem, task_outcome
from .result import Result
from .scenario import scenario_from_dict
from .sweep_progress import SweepProgress
from .sweep_spec import Axis, SweepPoint, SweepSpec, read_sweep, short_value, sweep_from_dict
from .sweep_store import (
    RESULTS_FOLDER,
    SUMMARY_COLUMNS,
    as_sweep_dims,
    input_key,
    load_complete,
    open_sweep,
    output_folder,
    summary_frame,
    summary_rows,
    with_provenance,
    write_manifest,
    write_result,
    write_summary,
)

__all__ = [
    "Axis",
    "SweepPoint",
    "SweepSpec",
    "SweepReport",
    "read_sweep",
    "sweep_from_dict",
    "sweep",
    "check_scenarios",
    "solve_fleets",
    "combine_fleet_results",
    "open_sweep",
    "as_sweep_dims",
    "SUMMARY_COLUMNS",
]


@dataclass
class SweepReport:
    """What a sweep did.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    points : list of SweepPoint
        Every scenario of the grid.
    summary : pandas.DataFrame
        The summary table (also in ``out/summary.csv`` and ``out/summary.parquet``).
    solved : list of str
        Hashes of the scenarios solved by this run.
    skipped : list of str
        Hashes of the scenarios whose complete result was already there.
    failed : dict of str to str
        Hash to the reason, for every scenario without an optimal result
        (an error, or a status other than ``optimal``).
    """

    out: Path
    points: list[SweepPoint]
    summary: pd.DataFrame
    solved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every scenario is solved to optimality, 1 when any failed."""
        return 1 if self.failed else 0

    def dataset(self) -> xr.Dataset:
        """The combined view (see :func:`open_sweep`).

        Returns
        -------
        xarray.Dataset
        """
        return open_sweep(self.out)


def sweep(
    sweep_file: str | Path | SweepSpec,
    out: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Any = None,
    threads_per_worker: int = 1,
    progress: bool | None = None,
    stream: TextIO | None = None,
    check_inputs: bool = True,
) -> SweepReport:
    """Run every scenario of a sweep on Dask, resumably.

    Scenarios whose complete result is already in ``out`` are skipped; each
    other one is built here, solved on the cluster (one task per fleet when the
    fleets separate), and written atomically as soon as its last task is done.
    A scenario that fails (a bad input file, a solver failure, a killed worker)
    is recorded with its error and the others go on.

    Parameters
    ----------
    sweep_file : str, pathlib.Path or SweepSpec
        The sweep file.
    out : str or pathlib.Path, optional
        Output folder (created); default ``<sweep file stem>-results`` in the
        current folder.
    scheduler : str, optional
        Address (``tcp://host:8786``) or scheduler file (``.json``) of a running
        Dask cluster; default: start a local cluster.
    workers : int, optional
        Worker processes of the local cluster (default: one per core); 0 solves
        in this process without Dask.
    client : distributed.Client, optional
        Use this client (and its cluster) instead.
    threads_per_worker : int
        Threads per local worker process.
    progress : bool, optional
        Report progress on ``stream`` (a bar on a terminal, lines otherwise);
        default: on.
    stream : file, optional
        Where progress goes (default: standard error).
    check_inputs : bool
        Build every scenario still to solve before solving any (reading its
        files and checking every key), so that a bad input fails the sweep at
        once (see :func:`check_scenarios`); with ``False`` a scenario with bad
        input is recorded as failed and the others go on.

    Returns
    -------
    SweepReport
        The summary has one row per scenario and fleet: ``scenario`` (hash
        prefix), ``index``, one column per axis key (the swept values),
        ``fleet``, ``status`` (``failed`` when no result was produced),
        ``profit``, ``charged_kwh``, ``discharged_kwh``, ``slack_kwh`` (per
        fleet), ``gap``, ``seconds`` (solver seconds, summed over the fleet
        tasks), ``objective``, ``bound``, ``solver``, ``error``, ``file``, and
        the rolling-horizon amounts when a scenario rolls.

    Raises
    ------
    InputError
        Bad sweep file, output folder or scheduler; with ``check_inputs``, any
        scenario's bad input (before anything is solved).
    """
    spec = sweep_file if isinstance(sweep_file, SweepSpec) else read_sweep(sweep_file)
    points = spec.points()
    if out is None:
        stem = spec.path.stem if spec.path is not None else "sweep"
        out = Path.cwd() / f"{stem}-results"
    out = Path(out)
    report = SweepReport(out=out, points=points, summary=pd.DataFrame())
    ledger = _Ledger(spec, report)
    with output_folder(out):
        todo, distrusted = [], []
        digests: dict[str, str] = {}
        for point in points:
            file = Path(RESULTS_FOLDER) / f"{point.short}.nc"
            ledger.keys[point.hash] = input_key(point, digests)
            done, reason = load_complete(out / file, point, ledger.keys[point.hash])
            if done is None:
                todo.append(point)
                if reason:
                    distrusted.append(f"{file} ({point.label}) is not reused: {reason}; solving it again")
            else:
                ledger.done(point, done, file, resumed=True)
        if check_inputs:
            check_scenarios(todo, spec, total=len(points))
        n_fleets = len(spec.base.get("fleets", []))
        reporter = ledger.reporter = SweepProgress(len(todo), len(todo) * n_fleets, enabled=progress is not False, stream=stream)
        for line in distrusted:
            reporter.note(line)
        if report.skipped:
            reporter.note(f"{len(report.skipped)} of {len(points)} scenarios already done in {out}; {len(todo)} to solve")
        failure: BaseException | None = None
        try:
            if todo:
                with open_executor(
                    client=client, scheduler=scheduler, workers=workers, threads_per_worker=threads_per_worker, note=reporter.note
                ) as ex:
                    _run(todo, ex, ledger)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: say what is kept and how to go on
            failure = exc
            done = len(report.solved) + len(report.skipped)
            raise type(exc)(
                f"{done} of {len(points)} scenarios done; partial summary in {out / 'summary.csv'}; "
                "run the same sweep again to resume"
            ) from None
        except BaseException as exc:  # a storage failure, a bug: the partial summary is still written
            failure = exc
            raise
        finally:
            reporter.close()
            all_rows = [row for p in points for row in ledger.rows.get(p.hash, [])]
            report.summary = summary_frame(all_rows, spec)
            try:
                write_summary(report.summary, out)
                write_manifest(out, spec, points, ledger.states)
            except StorageError:
                if failure is None:
                    raise  # else the first failure is the one to report
    return report


@dataclass
class _Job:
    point: SweepPoint
    aggregator: Aggregator
    split: TaskPlan
    tasks: int
    results: list[Any]
    start: float
    remaining: int


@dataclass
class _Ledger:
    """What a sweep run knows so far, scenario by scenario: summary rows, manifest states, the report."""

    spec: SweepSpec
    report: SweepReport
    reporter: SweepProgress | None = None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def done(self, point: SweepPoint, result: Result, file: Path, *, resumed: bool = False) -> None:
        self.rows[point.hash] = summary_rows(point, self.spec, result, "", str(file))
        self.states[point.hash] = {"status": result.status, "file": str(file)}
        (self.report.skipped if resumed else self.report.solved).append(point.hash)
        bad = result.status != "optimal"
        if bad:
            self.report.failed[point.hash] = f"status {result.status}"
        if self.reporter is not None and not resumed:
            line = f"{result.status}, profit {result.profit:,.2f} $, gap {result.gap:.1e}"
            self.reporter.scenario_finished(point, line, bad)

    def fail(self, point: SweepPoint, error: str) -> None:
        self.rows[point.hash] = summary_rows(point, self.spec, None, error, "")
        self.states[point.hash] = {"status": "failed", "error": error}
        self.report.failed[point.hash] = error
        if self.reporter is not None:
            self.reporter.scenario_finished(point, f"failed: {error}", True)


def check_scenarios(points: Sequence[SweepPoint], spec: SweepSpec, *, total: int | None = None) -> None:
    """Build every scenario (reading its files, checking every key) without solving any.

    Parameters
    ----------
    points : sequence of SweepPoint
        The scenarios to check.
    spec : SweepSpec
        Their sweep.
    total : int, optional
        Number of scenarios of the whole grid, for the message.

    Raises
    ------
    InputError
        When any scenario's input is bad: one message naming the first bad
        scenario (its number in the grid and its axis values) with the key,
        file or row at fault, how many others are bad, and that nothing was
        solved.
    """
    bad: list[tuple[SweepPoint, str]] = []
    for point in points:
        try:
            with warnings.catch_warnings():  # the solve repeats them; say them once
                warnings.simplefilter("ignore")
                _build(point, spec)
        except InputError as exc:
            bad.append((point, " / ".join(str(exc).splitlines())))
    if not bad:
        return
    total = len(points) if total is None else total
    where = spec.path or "the sweep"
    point, first = bad[0]
    text = f"{where}: scenario {point.index + 1} of {total}: {first}"
    if len(bad) > 1:
        others = ", ".join(str(p.index + 1) for p, _ in bad[1:11]) + (", ..." if len(bad) > 11 else "")
        text += f"; {len(bad) - 1} more scenario{'s' if len(bad) > 2 else ''} with bad input ({others})"
    raise InputError(f"{text}; nothing was solved")


def _build(point: SweepPoint, spec: SweepSpec) -> Aggregator:
    aggregator = scenario_from_dict(point.scenario, spec.base_path.parent, source=f"{spec.base_path.name} [{point.label}]")
    aggregator.name = f"{spec.name or spec.base_path.stem} {point.short}"
    return aggregator


def _run(todo: list[SweepPoint], ex: Any, ledger: _Ledger) -> None:
    """Build, submit and gather the scenarios, a few at a time (bounded memory here)."""
    reporter = ledger.reporter
    assert reporter is not None
    n_fleets = len(ledger.spec.base.get("fleets", []))
    standard_cache: dict[Any, bool] = {}
    pending: dict[int, tuple[_Job, int]] = {}
    queue = iter(todo)
    limit = 4 * ex.workers

    def feed() -> None:
        while len(pending) < limit:
            point = next(queue, None)
            if point is None:
                return
            try:
                aggregator = _build(point, ledger.spec)
                futures, split = submit_problem(ex, aggregator, point.short, standard_cache)
            except Exception as exc:  # a bad input file fails this scenario only
                reporter.fleets_finished(n_fleets, n_fleets)
                ledger.fail(point, _message(exc))
                continue
            job = _Job(point, aggregator, split, len(futures), [None] * len(futures), time.perf_counter(), len(futures))
            for i, future in enumerate(futures):
                pending[id(future)] = (job, i)

    feed()
    for future in ex.completed():
        job, i = pending.pop(id(future))
        job.results[i] = job.split.receive(task_outcome(future))
        job.remaining -= 1
        reporter.fleets_finished(1 if job.tasks > 1 else n_fleets, job.tasks)
        if job.remaining == 0:
            _finish(job, ledger)
        feed()


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"


def _finish(job: _Job, ledger: _Ledger) -> None:
    """Gather a scenario's tasks, write its result atomically, record it."""
    point = job.point
    try:
        result = assemble_result(job.aggregator, job.results, time.perf_counter() - job.start, job.split)
        result = with_provenance(result, point, ledger.spec, ledger.keys[point.hash])
        if not result.has_solution:
            ledger.fail(point, f"{result.status}: {result.dataset.attrs.get('message') or result.status}")
            return
        file = Path(RESULTS_FOLDER) / f"{point.short}.nc"
        write_result(result, ledger.report.out / file)
    except StorageError:  # a full or read-only disk fails every scenario after this one: stop
        raise
    except Exception as exc:  # assembling or writing failed: this scenario only
        ledger.fail(point, _message(exc))
    else:
        ledger.done(point, result, file)
    finally:
        job.results = []


def sweep_command(
    sweep_file: str | Path,
    *,
    out: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    check_inputs: bool = True,
) -> int:
    """``aggregator sweep``: run a sweep and print what became of each scenario.

    Parameters
    ----------
    sweep_file : str or pathlib.Path
        The sweep file.
    out : str or pathlib.Path, optional
        Output folder.
    scheduler : str, optional
        A running Dask scheduler.
    workers : int, optional
        Local worker processes (0: in this process).
    quiet : bool
        No progress output.
    check_inputs : bool
        Check every scenario's input before solving any (see :func:`sweep`).

    Returns
    -------
    int
        0 when every scenario is solved to optimality, 1 when any failed
        (they are listed on standard error).

    Raises
    ------
    InputError
        Bad sweep file, output folder or scheduler (exit code 2 on the command line).
    """
    report = sweep(sweep_file, out, scheduler=scheduler, workers=workers, progress=not quiet, check_inputs=check_inputs)
    frame = report.summary
    if not frame.empty:
        keys = ["index", "scenario", *(a.key for a in read_axes(report))]
        totals = frame.groupby(keys, sort=True, dropna=False).agg(
            status=("status", "first"), profit=("profit", lambda v: v.sum(min_count=1)), gap=("gap", "first")
        )
        with pd.option_context("display.max_rows", 60, "display.width", 200, "display.max_colwidth", 40):
            shown = totals.reset_index().rename(columns=lambda c: c if c not in keys[2:] else c)
            for key in keys[2:]:
                shown[key] = shown[key].map(short_value)
            # figures as run's table prints them; a failed scenario has no profit, not 0
            shown["profit"] = shown["profit"].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
            shown["gap"] = shown["gap"].map(lambda v: "" if pd.isna(v) else f"{v:.2e}")
            print(shown.rename(columns={"profit": "profit $"}).to_string(index=False))
    print(
        f"{len(report.points)} scenarios: {len(report.solved)} solved now, {len(report.skipped)} already done, "
        f"{len(report.failed)} failed; results in {report.out}"
    )
    if report.failed:
        by_hash = {p.hash: p for p in report.points}
        print(f"aggregator: {len(report.failed)} of {len(report.points)} scenarios failed:", file=sys.stderr)
        for digest, reason in report.failed.items():
            point = by_hash[digest]
            print(f"  {point.short} ({point.label}): {reason}", file=sys.stderr)
    return report.exit_code


def read_axes(report: SweepReport) -> list[Axis]:
    """The axes of a report's sweep, from its output folder's manifest.

    Parameters
    ----------
    report : SweepReport

    Returns
    -------
    list of Axis
    """
    manifest = json.loads((report.out / "sweep.json").read_text())
    return [Axis(a["key"], tuple(a["values"]), a["dim"]) for a in manifest["axes"]]
