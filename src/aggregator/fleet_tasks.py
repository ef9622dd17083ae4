"""Many fleets as parallel tasks: one task per group of fleets of a standard problem, gathered into one Result.

Fleets of a standard problem (:meth:`Aggregator.is_standard`) share only the
price, so a scenario with several fleets is solved as one task per group of
fleets and the solutions are gathered into one Result.  :func:`solve_fleets`
does this on an executor of :mod:`aggregator.executors`; the sweep runner
submits its scenarios the same way (:func:`submit_problem`), and
:class:`TaskPlan` says how a problem's tasks are gathered.

When the exact ``dp`` backend solves the problem, the inputs are built once,
here, and each task is a batch of fleets as numpy arrays
(:class:`aggregator.fleet_batches.FleetBatch`: at most
:data:`FLEETS_PER_BATCH` fleets, a few tasks per worker); a worker imports
only numpy and the kernel, sends the dispatch back as arrays, and they are
written into the whole problem's arrays as they arrive (nothing per task is
kept), then checked once: the figures recomputed from the dispatch, the
constraints, and the certificate (:meth:`Aggregator.check_certificate`).
Other backends, rolling horizons and "vehicles" fleets solve each group of
fleets (:func:`fleet_groups`: at most :data:`FLEETS_PER_TASK`) as a problem
of its own and gather the Results (:func:`combine_fleet_results`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import xarray as xr

from . import plugins
from .aggregator import Aggregator
from .errors import InputError
from .executors import SerialExecutor, ThreadExecutor, open_executor, thread_executor
from .fleet import Fleet
from .fleet_batches import BatchAssembly, FleetBatch, FleetBatchSolution, solve_fleet_batch
from .formulation import VARIABLES
from .result import Result
from .rolling import ROLLING_ATTRS, window_aggregator, worst_status
from .formats import inputs_hash
from .solvers import SolveOutcome

__all__ = [
    "solve_fleets",
    "combine_fleet_results",
    "submit_problem",
    "task_outcome",
    "assemble_result",
    "fleet_groups",
    "fleet_batches",
    "TaskPlan",
    "Background",
]


def _with_fleets(aggregator: Aggregator, fleets: list[Fleet], standard: bool | None = None) -> Aggregator:
    """A shallow copy of the problem with other fleets (same prices, options and class).

    ``standard`` carries a known answer of :meth:`Aggregator.is_standard` so
    that the copy does not build its model again to find it out.
    """
    other = copy.copy(aggregator)
    other.fleets = list(fleets)
    other._inputs = None
    other._model_changed_by_extensions = None if standard is None else not standard
    return other


def _is_standard(aggregator: Aggregator, cache: dict[Any, bool] | None = None) -> bool:
    """:meth:`Aggregator.is_standard`, asked cheaply, and remembered by the aggregator.

    With model extensions installed, ``is_standard`` builds the model to see
    whether they change it.  That is asked of a short probe (every fleet, the
    first 24 steps) rather than of the whole horizon, and the answer is
    remembered in ``cache`` for problems of the same class, extension options
    and fleet names (the scenarios of one sweep usually share them).
    """
    if aggregator._model_changed_by_extensions is not None or not plugins.extension_hooks():
        return aggregator.is_standard()
    key = (
        type(aggregator),
        json.dumps(aggregator.extensions, sort_keys=True, default=str),
        tuple(f.name for f in aggregator.fleets),
    )
    if cache is None or key not in cache:
        probe = window_aggregator(aggregator, 0, min(aggregator.steps, 24))
        probe._model_changed_by_extensions = None
        standard = probe.is_standard()
        if cache is not None:
            cache[key] = standard
    else:
        standard = cache[key]
    aggregator._model_changed_by_extensions = not standard
    return aggregator.is_standard()


#: Most fleets solved in one task: a task's cost beyond the solve (its inputs, its checked
#: Result) is paid once per group, and a group's solution stays small (50 x 8760 h: 18 MB).
FLEETS_PER_TASK = 50

#: Most fleets in one batch of arrays for the DP kernel (:func:`fleet_batches`): a batch's
#: bounds and its returned dispatch are 250 x 8760 h x 8 floats (about 140 MB) at most.
FLEETS_PER_BATCH = 250

#: Most fleets in one batch on a thread of this process (:class:`aggregator.executors.ThreadExecutor`).
FLEETS_PER_THREAD_BATCH = 25

#: Fewer, larger groups are split until every worker has about this many tasks (balance).
TASKS_PER_WORKER = 4


def fleet_groups(fleets: Sequence[Any], workers: int = 1, most: int = FLEETS_PER_TASK) -> list[list[Any]]:
    """Consecutive groups of fleets, one task each (see :func:`submit_problem`).

    At most ``most`` fleets per group and at least :data:`TASKS_PER_WORKER`
    groups per worker (while there are fleets); the sizes differ by at most
    one, larger groups first, so the layout follows from the number of fleets
    and of groups alone (:func:`combine_fleet_results` relies on it).

    Parameters
    ----------
    fleets : sequence
        The fleets (or their names), in order.
    workers : int
        Worker processes that share the tasks.
    most : int
        Most fleets in a group (:data:`FLEETS_PER_TASK`, or :data:`FLEETS_PER_BATCH` for batches).

    Returns
    -------
    list of list
    """
    n = len(fleets)
    tasks = min(n, max(-(-n // most), TASKS_PER_WORKER * max(1, int(workers))))
    return _split(list(fleets), tasks)


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    """``items`` in ``parts`` consecutive groups, sizes differing by at most one (larger first)."""
    size, extra = divmod(len(items), max(parts, 1))
    out, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        out.append(items[start:stop])
        start = stop
    return out


def _solve_task(template: Aggregator, fleets: list[Fleet] | None, trim: bool) -> Result:
    """Run on a worker: solve the template (or a copy of it with ``fleets``)."""
    problem = template if fleets is None else _with_fleets(template, fleets, standard=template.is_standard())
    result = problem.solve()
    if trim:  # the gatherer rebuilds the inputs; ship only the solution and the facts
        keep = list(VARIABLES) + [v for v in ("window", "shortfall") if v in result.dataset]
        result = Result(result.dataset[keep])
    return result


def combine_fleet_results(
    aggregator: Aggregator, results: Sequence[Result | BaseException], *, wall_seconds: float = math.nan
) -> Result:
    """Gather the results of independent single-fleet solves into the Result of the whole problem.

    Parameters
    ----------
    aggregator : Aggregator
        The whole (standard) problem.
    results : sequence of Result or exception
        One per task, in order: task ``i`` solved the ``i``-th group of
        ``fleet_groups``'s layout of ``aggregator.fleets`` into
        ``len(results)`` groups (one fleet each when there are as many results
        as fleets); an exception stands for a task that failed.
    wall_seconds : float
        Wall time of the whole solve.

    Returns
    -------
    Result
        Objective and bound are the sums of the fleets' (a sum of proven
        bounds is a proven bound), the gap follows from the sums; the status
        is the worst of the fleets'; rolling-horizon amounts are summed.
    """
    groups = _split([f.name for f in aggregator.fleets], len(results))
    problems = []
    for names, result in zip(groups, results):
        which = f"fleet {names[0]!r}" if len(names) == 1 else f"fleets {names[0]!r} to {names[-1]!r}"
        if isinstance(result, BaseException):
            problems.append(f"{which}: {type(result).__name__}: {result}")
        elif not result.has_solution:
            problems.append(f"{which}: {result.status} {result.dataset.attrs.get('message', '')}".strip())
    solved = [r for r in results if isinstance(r, Result)]
    statuses = [r.status for r in solved] + (["error"] * (len(results) - len(solved)))
    solvers = sorted({str(r.dataset.attrs.get("solver", "")) for r in solved} - {""})
    choices = sorted({str(r.dataset.attrs.get("solver_choice", "")) for r in solved} - {""})
    seconds = sum(float(r.dataset.attrs.get("solve_seconds", 0.0)) for r in solved)
    common = dict(solver=", ".join(solvers), solve_seconds=seconds, details={"fleet_tasks": len(results)})
    if problems:
        outcome = SolveOutcome(
            status=worst_status(statuses), termination="fleet tasks", message="; ".join(problems), **common
        )
    else:
        # the fleet-level shortfall of a "vehicles" fleet is its vehicles' sum: keep it (per-vehicle
        # dispatch stays in the fleet tasks' results only)
        parts = [r.dataset[list(VARIABLES)] for r in solved]
        if any("shortfall" in r.dataset for r in solved):
            parts = [
                p.assign(shortfall=r.dataset["shortfall"] if "shortfall" in r.dataset else xr.zeros_like(p["soc"]))
                for p, r in zip(parts, solved)
            ]
        solution = xr.concat(parts, dim="fleet")
        objective = float(sum(r.objective for r in solved))
        bound = float(sum(r.bound for r in solved))
        outcome = SolveOutcome(
            status=worst_status(statuses),
            objective=objective,
            bound=bound,
            solution=solution,
            termination="fleet tasks",
            message="; ".join(m for m in (str(r.dataset.attrs.get("message", "")) for r in solved) if m),
            **common,
        )
    mip_gap = float(aggregator.solver_options.get("mip_gap", 1e-4))
    choice = f"{len(results)} independent fleet tasks; " + "; ".join(choices)
    out = Result.from_outcome(
        aggregator.inputs, outcome, choice=choice, wall_seconds=wall_seconds, mip_gap=mip_gap, name=aggregator.name
    )
    if problems or not solved:
        return out
    if not any("rolling_windows" in r.dataset.attrs for r in solved):
        # the sums are claims too: the combined dispatch's recomputed objective must match them
        aggregator.check_certificate(out, f"the {len(results)} fleet tasks")
    first = solved[0].dataset
    if "window" in first:
        out.dataset["window"] = first["window"]
    attrs = out.dataset.attrs
    for key in ("rolling_window_hours", "rolling_commit_hours", "rolling_windows"):
        if key in first.attrs:
            attrs[key] = first.attrs[key]
    for key in ROLLING_ATTRS:
        if all(key in r.dataset.attrs for r in solved):
            attrs[key] = float(sum(float(r.dataset.attrs[key]) for r in solved))
    if "foresight_loss" in attrs:
        pf = attrs["perfect_foresight_objective"]
        attrs["foresight_loss_share"] = attrs["foresight_loss"] / abs(pf) if pf else 0.0
    return out


def solve_fleets(
    aggregator: Aggregator,
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    solver: str | None = None,
    mip_gap: float | None = None,
    time_limit: float | None = None,
) -> Result:
    """Solve a problem with one task per group of fleets on a Dask cluster, gathered into one Result.

    A standard problem (:meth:`Aggregator.is_standard`) separates into one
    problem per fleet; each group of them (:func:`fleet_groups`) is a task (a worker
    holds one group's problem).
    Other problems are solved as one task.

    Parameters
    ----------
    aggregator : Aggregator
        The problem (with its solver and options; rolling settings apply per fleet).
    client : distributed.Client, optional
        Use this client.
    scheduler : str, optional
        Address (``tcp://host:8786``) or scheduler file (``.json``) of a running cluster.
    workers : int, optional
        Worker processes of the local cluster started otherwise (default: one per
        core); 0 solves in this process without Dask.
    threads_per_worker : int
        Threads per local worker process.
    solver : str, optional
        Backend name or ``"auto"`` instead of the aggregator's.
    mip_gap, time_limit : float, optional
        Instead of the aggregator's solver options (the time limit applies to each task).

    Returns
    -------
    Result
        See :func:`combine_fleet_results`.
    """
    overrides = {k: v for k, v in (("mip_gap", mip_gap), ("time_limit", time_limit)) if v is not None}
    if solver is not None or overrides:
        aggregator = copy.copy(aggregator)
        aggregator.solver = solver or aggregator.solver
        aggregator.solver_options = {**aggregator.solver_options, **overrides}
    local_threads = client is None and scheduler is None and workers != 0 and _batch_choice(aggregator) is not None
    if local_threads:  # the kernel releases the GIL: threads of this process, no cluster of processes
        from .exact_dp import prepare_kernel

        # compiled (or loaded) once, before the threads want it; numba loads it while numpy builds the inputs
        loading = Background(prepare_kernel)
        try:
            aggregator.inputs
        finally:
            loading.wait()
        loading.result()
        executor = thread_executor(workers)
    else:
        executor = open_executor(client=client, scheduler=scheduler, workers=workers, threads_per_worker=threads_per_worker)
    with executor as ex:
        start = time.perf_counter()
        tasks, plan = submit_problem(ex, aggregator, f"solve-{id(aggregator):x}")
        results: list[Any] = [None] * len(tasks)
        index = {id(f): i for i, f in enumerate(tasks)}
        for future in ex.completed():
            results[index[id(future)]] = plan.receive(task_outcome(future))
        return assemble_result(aggregator, results, time.perf_counter() - start, plan)


class Background:
    """A call run on a thread of its own while this thread goes on (numpy and hashlib release the GIL).

    Parameters
    ----------
    fn : callable
    *args
        Its arguments.
    """

    def __init__(self, fn: Any, *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="aggregator-background", daemon=True)
        self._thread.start()

    def _run(self, fn: Any, args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # given to the caller by result()
            self._error = exc

    def wait(self) -> None:
        """Wait until the call has returned or raised."""
        self._thread.join()

    def result(self) -> Any:
        """The call's value (after waiting for it), or its exception raised here.

        Returns
        -------
        object
        """
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(eq=False)
class TaskPlan:
    """How a problem's tasks are gathered into its Result (see :func:`submit_problem`).

    Attributes
    ----------
    kind : str
        ``"whole"`` (one task solves the problem), ``"groups"`` (one Result per
        group of fleets, :func:`combine_fleet_results`), ``"batches"``
        (arrays for the DP kernel, :func:`fleet_batches`) or ``"vehicles"``
        (vehicle chunks on Dask, :mod:`aggregator.vehicle_tasks`).
    choice : str
        For batches: how the backend was chosen.
    assembly : BatchAssembly or None
        For batches: the dispatch so far.
    fleets : list of tuple of (int, int)
        For batches: the positions ``(start, stop)`` of each task's fleets.
    digest : Background or None
        For batches: the inputs' :func:`aggregator.formats.inputs_hash`, computed while the tasks run.
    """

    kind: str
    choice: str = ""
    assembly: BatchAssembly | None = None
    fleets: list[tuple[int, int]] = field(default_factory=list)
    digest: Background | None = None

    def __bool__(self) -> bool:
        """Whether the problem is split into tasks by fleet (``split`` of earlier versions)."""
        return self.kind != "whole"

    def receive(self, outcome: Any) -> Any:
        """What to keep of a finished task's outcome (:func:`task_outcome`).

        A batch's arrays are written into :attr:`assembly` at once and only
        the batch's first fleet is kept; Results and exceptions are kept.

        Parameters
        ----------
        outcome : object
            The task's value or exception.

        Returns
        -------
        object
        """
        if isinstance(outcome, FleetBatchSolution) and self.assembly is not None:
            self.assembly.add(outcome)
            return outcome.start
        return outcome


def submit_problem(ex: Any, aggregator: Aggregator, key: str, cache: dict[Any, bool] | None = None) -> tuple[list[Any], TaskPlan]:
    """Submit a problem: tasks by fleet (:func:`fleet_batches` or :func:`fleet_groups`) when the fleets separate, else one task.

    On Dask, a separable problem with a "vehicles" fleet is submitted as
    vehicle chunks instead (:mod:`aggregator.vehicle_tasks`, plan ``"vehicles"``).

    Parameters
    ----------
    ex : executor
        Of :func:`aggregator.executors.open_executor`.
    aggregator : Aggregator
        The problem.
    key : str
        Prefix of the task names.
    cache : dict, optional
        Remembers :meth:`Aggregator.is_standard` across problems of one sweep.

    Returns
    -------
    tuple of (list of futures, TaskPlan)
        The futures in task order and how to gather them (:func:`assemble_result`).
    """
    standard = _is_standard(aggregator, cache)
    from .price_impact import moves_price

    shared_price = moves_price(getattr(aggregator, "price_impact", None))  # fleets that move one price do not separate
    from .vehicle_tasks import submit_vehicle_tasks, uses_vehicle_tasks

    if not shared_price and uses_vehicle_tasks(ex, aggregator, standard):  # a "vehicles" fleet: its chunks are the tasks
        return submit_vehicle_tasks(ex, aggregator, key), TaskPlan("vehicles")
    if standard and len(aggregator.fleets) > 1 and not shared_price:
        choice = None if isinstance(ex, SerialExecutor) else _batch_choice(aggregator)
        if choice is not None:
            inputs = aggregator.inputs
            # threads share memory: small batches keep them busy to the end and an interrupt waits little
            most = FLEETS_PER_THREAD_BATCH if isinstance(ex, ThreadExecutor) else FLEETS_PER_BATCH
            batches = fleet_batches(inputs, ex.workers, most)
            plan = TaskPlan(
                "batches", choice=choice, assembly=BatchAssembly(inputs.sizes["time"], inputs.sizes["fleet"]),
                fleets=[(b.start, b.start + b.size) for b in batches], digest=Background(inputs_hash, inputs),
            )
            # threads write their fleets' dispatch straight into the whole problem's arrays
            into = (plan.assembly,) if isinstance(ex, ThreadExecutor) else ()
            futures = [ex.submit(solve_fleet_batch, b, *into, key=f"{key}-{i}") for i, b in enumerate(batches)]
            return futures, plan
        template = ex.scatter(_with_fleets(aggregator, aggregator.fleets[:1], standard=True))
        groups = fleet_groups(aggregator.fleets, getattr(ex, "workers", 1))
        futures = [ex.submit(_solve_task, template, group, True, key=f"{key}-{i}") for i, group in enumerate(groups)]
        return futures, TaskPlan("groups")
    whole = _with_fleets(aggregator, aggregator.fleets, standard=standard)
    return [ex.submit(_solve_task, whole, None, False, key=f"{key}-all")], TaskPlan("whole")


def _batch_choice(aggregator: Aggregator) -> str | None:
    """How the builtin ``dp`` backend was chosen, when it solves this problem as batches of arrays.

    Only for a standard problem of several fleets, without rolling horizon,
    "vehicles" fleets or price impact (None otherwise).
    """
    if len(aggregator.fleets) < 2 or getattr(aggregator, "rolling", None) is not None:
        return None
    if getattr(aggregator, "price_impact", None) is not None or any(f.representation == "vehicles" for f in aggregator.fleets):
        return None
    from .dp_backend import DPBackend

    try:
        if not _is_standard(aggregator):
            return None
        backend, choice = aggregator.backend()
    except InputError:  # an unknown or unsuitable backend: the tasks report it as before
        return None
    return choice if type(backend) is DPBackend else None


def fleet_batches(inputs: xr.Dataset, workers: int = 1, most: int = FLEETS_PER_BATCH) -> list[FleetBatch]:
    """The fleets of validated inputs as batches of arrays for the DP kernel (one task each).

    The layout is :func:`fleet_groups`'s with at most ``most`` fleets per
    batch.  The batches hold views of the inputs' arrays (a task sent to
    another process carries a copy of its own fleets' rows only).

    Parameters
    ----------
    inputs : xarray.Dataset
        Of a standard problem without "vehicles" fleets or price impact.
    workers : int
        Workers that share the tasks.
    most : int
        Most fleets per batch.

    Returns
    -------
    list of FleetBatch
    """
    arrays = {name: inputs[name].transpose("time", "fleet").to_numpy() for name in ("power_max", "soc_min", "soc_max")}
    terms = {name: inputs[name].transpose("time", "fleet").to_numpy() for name in ("driving", "soc_floor") if name in inputs}
    scalars = {
        "s_init": inputs["soc_initial"].to_numpy(),
        "eta_in": inputs["charge_efficiency"].to_numpy(),
        "eta_out": inputs["discharge_efficiency"].to_numpy(),
    }
    per_fleet = {name: inputs[name].to_numpy() for name in ("shortfall_penalty", "wear_cost") if name in inputs}
    price = np.ascontiguousarray(inputs["price"].to_numpy(), dtype=float)
    batches, start = [], 0
    for group in fleet_groups(range(inputs.sizes["fleet"]), workers, most):
        stop = start + len(group)

        def rows(array: np.ndarray) -> np.ndarray:
            return np.asarray(array[:, start:stop].T, dtype=float)

        extra: dict[str, Any] = {}
        if terms and any(bool(np.any(terms[name][:, start:stop])) for name in terms):
            extra.update(driving=rows(terms["driving"]), floor=rows(terms["soc_floor"]))
        for name, values in per_fleet.items():
            extra[name] = np.asarray(values[start:stop], dtype=float)
        batches.append(
            FleetBatch(
                start=start,
                price=price,
                dt=float(inputs.attrs["step_hours"]),
                penalty=float(inputs.attrs["slack_penalty"]),
                exclusive=bool(inputs.attrs["exclusive_charging"]),
                pmax=rows(arrays["power_max"]),
                smin=rows(arrays["soc_min"]),
                smax=rows(arrays["soc_max"]),
                **{name: np.asarray(values[start:stop], dtype=float) for name, values in scalars.items()},
                **extra,
            )
        )
        start = stop
    return batches


def task_outcome(future: Any) -> Any:
    """A finished task's value (a Result, a batch's solution), or the exception it raised (a solver crash, a lost worker, ...).

    Parameters
    ----------
    future : future
        Of :func:`submit_problem`.

    Returns
    -------
    object or BaseException
    """
    try:
        return future.result()
    except Exception as exc:  # a failed task (solver crash, killed worker, ...) is recorded
        return exc
    finally:
        with contextlib.suppress(Exception):
            future.release()


def assemble_result(aggregator: Aggregator, results: list[Any], wall: float, split: TaskPlan | bool) -> Result:
    """The Result of a whole problem from its tasks' outcomes.

    Parameters
    ----------
    aggregator : Aggregator
        The whole problem.
    results : list
        What :meth:`TaskPlan.receive` kept of each task's outcome (:func:`task_outcome`), in task order.
    wall : float
        Wall seconds of the whole solve.
    split : TaskPlan or bool
        The plan of :func:`submit_problem` (True: groups of fleets, False: one task).

    Returns
    -------
    Result
    """
    if isinstance(split, TaskPlan) and split.kind == "batches":
        return _batch_result(aggregator, results, wall, split)
    if isinstance(split, TaskPlan) and split.kind == "vehicles":
        from .vehicle_tasks import assemble_vehicle_result

        return assemble_vehicle_result(aggregator, results, wall_seconds=wall)
    if split:
        return combine_fleet_results(aggregator, results, wall_seconds=wall)
    if isinstance(results[0], BaseException):
        return _failed_result(aggregator, results[0], wall)
    return results[0]


def _batch_result(aggregator: Aggregator, results: list[Any], wall: float, plan: TaskPlan) -> Result:
    """The checked Result of a problem solved as batches (see :func:`fleet_batches`)."""
    from . import formulation
    from .dp_backend import dp_outcome

    inputs = aggregator.inputs
    names = inputs.indexes["fleet"]
    problems = [
        f"fleets {names[a]!r} to {names[b - 1]!r}: {type(r).__name__}: {r}"
        for (a, b), r in zip(plan.fleets, results)
        if isinstance(r, BaseException) or r is None
    ]
    assembly = plan.assembly
    assert assembly is not None
    if not problems and not assembly.complete():  # cannot happen: every batch arrived, each wrote its fleets
        problems.append("some fleets' solutions are missing")
    details = {"fleet_tasks": len(results)}
    choice = f"{len(results)} independent fleet tasks; {plan.choice}"
    mip_gap = float(aggregator.solver_options.get("mip_gap", 1e-4))
    if problems:
        outcome = SolveOutcome(status="error", termination="fleet tasks", message="; ".join(problems),
                               solve_seconds=assembly.seconds, details=details)
        return Result.from_outcome(inputs, outcome, choice=choice, wall_seconds=wall, mip_gap=mip_gap,
                                   name=aggregator.name)
    coords = {"time": inputs["time"], "fleet": inputs["fleet"]}
    solution = xr.Dataset({name: (("time", "fleet"), values) for name, values in assembly.arrays.items()}, coords=coords)
    objective, bound = assembly.totals()
    exact, components, seconds = assembly.exact, assembly.components_max, assembly.seconds
    plan.assembly = assembly = None  # the Result holds the arrays from here on
    outcome = dp_outcome(inputs, solution, objective=objective, bound=bound, exact=exact,
                         components_max=components, seconds=seconds, mip_gap=mip_gap, details=details)
    outcome.termination = "fleet tasks"  # as for groups of fleets (a capped value function: see the message)
    charge, discharge = solution["charge"].to_numpy(), solution["discharge"].to_numpy()
    both = any(bool(np.any((charge[:, b] > 0) & (discharge[:, b] > 0))) for b in _column_blocks(charge.shape[1]))
    del solution, charge, discharge
    if both and inputs.attrs["exclusive_charging"] and inputs.attrs["binaries"] != "all":  # as Aggregator.solve
        outcome.solution = formulation.net_out_simultaneous(outcome.solution, inputs)
    digest = plan.digest.result() if plan.digest is not None else None
    result = Result.from_outcome(inputs, outcome, choice=choice, wall_seconds=wall, mip_gap=mip_gap, name=aggregator.name,
                                 inputs_digest=digest)
    aggregator.check_solution(result)
    # the sums are claims too: the combined dispatch's recomputed objective must match them
    aggregator.check_certificate(result, f"the {len(results)} fleet tasks")
    return result


def _column_blocks(n: int, size: int = 128) -> list[slice]:
    """Slices of ``size`` columns covering ``n`` (to keep temporaries small)."""
    return [slice(a, a + size) for a in range(0, n, size)]


def _failed_result(aggregator: Aggregator, error: BaseException, wall: float) -> Result:
    outcome = SolveOutcome(status="error", termination="task failed", message=f"{type(error).__name__}: {error}")
    return Result.from_outcome(aggregator.inputs, outcome, choice="", wall_seconds=wall, name=aggregator.name)
