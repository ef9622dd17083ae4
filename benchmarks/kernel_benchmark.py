"""Benchmark the exact DP's kernel on the seed fleet-years: compiled, the same code interpreted, and the old pure-Python DP.

Usage::

    python benchmarks/kernel_benchmark.py                 # 4 seed fleet-years (Case0, contract 0.8)
    python benchmarks/kernel_benchmark.py --repeat 20     # more timing repetitions
    python benchmarks/kernel_benchmark.py --reference main   # the DP of this git revision to compare with (default)

Every variant runs in a fresh subprocess:

* ``compiled, cold``: numba compiles the kernel into an empty cache directory
  (``NUMBA_CACHE_DIR``): the first-call time is the compile time;
* ``compiled, cached``: a new process with that cache: the first call loads
  the compiled code from disk;
* ``interpreted``: the same code with ``NUMBA_DISABLE_JIT=1`` (plain Python
  over numpy arrays; one fleet-year, it is slow);
* ``reference``: ``src/aggregator/exact_dp.py`` of the git revision
  ``--reference``: the list-based pure-Python DP before the kernel, or an
  earlier compiled kernel (an A/B comparison in one run; its compiled code is
  cached on disk under the temporary directory, keyed by the file's git blob,
  so only its first use compiles).

Per fleet-year: CPU and wall milliseconds (median and minimum of ``--repeat``
solves after the first call), and the objective and bound, which must agree
with the compiled kernel's to 1e-12 relative.  On a shared machine wall times
are inflated by the other processes' load; CPU times much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


def _problems(fleets: int) -> list[dict]:
    sys.path.insert(0, str(BENCH))
    import run  # the seed instances of benchmarks/run.py

    from aggregator.dp_backend import fleet_problems

    return fleet_problems(run.build("case0-0.8", None, False).inputs)[:fleets]


def child(module_path: str | None, fleets: int, repeat: int) -> dict:
    """Run in the subprocess: first-call time, then per-fleet-year times, objectives and bounds."""
    start = time.perf_counter()
    cpu = time.process_time()
    if module_path:
        import importlib.util

        spec = importlib.util.spec_from_file_location("reference_dp", module_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["reference_dp"] = module
        spec.loader.exec_module(module)
    else:
        from aggregator import exact_dp as module
    import_s = time.perf_counter() - start
    problems = _problems(fleets)
    start, cpu = time.perf_counter(), time.process_time()
    first = module.solve_fleet(**problems[0])
    first_wall, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = []
    for p in problems:
        walls, cpus = [], []
        for _ in range(repeat):
            start, cpu = time.perf_counter(), time.process_time()
            sol = module.solve_fleet(**p)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        rows.append(
            dict(wall_ms=1e3 * statistics.median(walls), cpu_ms=1e3 * statistics.median(cpus), cpu_min_ms=1e3 * min(cpus),
                 objective=sol.objective, bound=sol.bound)
        )
    del first
    return dict(import_s=import_s, first_wall_s=first_wall, first_cpu_s=first_cpu, fleets=rows)


def _run_child(env: dict, module_path: str | None, fleets: int, repeat: int) -> dict:
    command = [sys.executable, __file__, "--child", "--fleets", str(fleets), "--repeat", str(repeat)]
    if module_path:
        command += ["--module", module_path]
    out = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _old_module(revision: str, folder: Path) -> tuple[str, bool] | None:
    """``exact_dp.py`` of ``revision`` as a file, and whether it is a compiled kernel; ``None`` if git cannot show it.

    A kernel is written once to a folder of the temporary directory named by
    its git blob and left there (numba keys its disk cache on the file's time
    stamp, so a rewritten file would compile again); the old pure-Python DP to
    ``folder``.
    """
    source = f"{revision}:src/aggregator/exact_dp.py"
    try:
        text = subprocess.run(["git", "-C", str(REPO), "show", source], capture_output=True, text=True, check=True).stdout
        blob = subprocess.run(["git", "-C", str(REPO), "rev-parse", source], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    kernel = "numba" in text
    if kernel:
        folder = Path(tempfile.gettempdir()) / "aggregator-kernel-reference" / blob.strip()
        folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reference_exact_dp.py"
    if not (kernel and path.exists()):
        path.write_text(text)
    return str(path), kernel


def main(argv: list[str] | None = None) -> int:
    """Run the variants, print the table; exit status 0 iff all agree to 1e-12 relative."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, default=4, help="seed fleet-years to time (default 4)")
    parser.add_argument("--repeat", type=int, default=5, help="timed solves per fleet-year (default 5)")
    parser.add_argument("--reference", default="main", help="git revision of the old pure-Python DP (default main)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--module", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.module, args.fleets, args.repeat)))
        return 0
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        cache = {"NUMBA_CACHE_DIR": str(Path(scratch) / "numba-cache")}
        variants = [
            ("compiled, cold", _run_child(cache, None, args.fleets, args.repeat)),
            ("compiled, cached", _run_child(cache, None, args.fleets, args.repeat)),
            ("interpreted (NUMBA_DISABLE_JIT=1)", _run_child({**cache, "NUMBA_DISABLE_JIT": "1"}, None, 1, 1)),
        ]
        old = _old_module(args.reference, Path(scratch))
        if old and old[1]:
            env = {"NUMBA_CACHE_DIR": str(Path(old[0]).parent / "numba-cache")}
            variants.append((f"kernel of {args.reference}, cached", _run_child(env, old[0], args.fleets, args.repeat)))
        elif old:
            variants.append((f"old pure Python ({args.reference})", _run_child({}, old[0], args.fleets, min(args.repeat, 3))))
    base = variants[1][1]["fleets"]
    ok = True
    print(f"exact DP kernel, seed Case0 / contract 0.8, {args.fleets} fleet-years x 8760 h; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; medians (and minima) of {args.repeat} solves per fleet-year, CPU time")
    print(f"{'variant':<36}{'first call s':>13}{'(cpu s)':>9}{'ms/fleet-yr':>13}{'(cpu ms)':>10}{'(min)':>8}{'x compiled':>12}"
          "  objective / bound vs compiled")
    table = []
    for name, data in variants:
        rows = data["fleets"]
        cpu = statistics.mean(r["cpu_ms"] for r in rows)
        cpu_min = statistics.mean(r["cpu_min_ms"] for r in rows)
        wall = statistics.mean(r["wall_ms"] for r in rows)
        ref_cpu = statistics.mean(r["cpu_ms"] for r in base[: len(rows)])
        worst = max(
            max(abs(r["objective"] - b["objective"]), abs(r["bound"] - b["bound"])) / max(abs(b["bound"]), 1.0)
            for r, b in zip(rows, base)
        )
        ok = ok and worst <= 1e-12
        print(
            f"{name:<36}{data['first_wall_s']:>13.2f}{data['first_cpu_s']:>9.2f}{wall:>13.2f}{cpu:>10.2f}{cpu_min:>8.2f}"
            f"{cpu / ref_cpu:>12.1f}  max rel. diff {worst:.1e}"
        )
        table.append(dict(variant=name, **{k: v for k, v in data.items() if k != "fleets"}, wall_ms=wall, cpu_ms=cpu, cpu_min_ms=cpu_min, ratio=cpu / ref_cpu, max_rel_diff=worst))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(dict(load=load, rows=table), indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
