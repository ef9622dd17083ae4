"""The exact DP's compiled kernel: one implementation, compiled or interpreted, and its mode interface."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib.metadata import requires
from pathlib import Path

import numpy as np
import pytest

from aggregator.exact_dp import StepModes, solve_fleet, solve_modes, step_mode_arrays

REPO = Path(__file__).resolve().parents[1]
SEED_DIR = REPO.parent / "shared" / "data" / "seed"

# Solves a few instances and prints every figure bit for bit (float.hex), so that
# the compiled run and the NUMBA_DISABLE_JIT=1 run of the same code can be compared.
_SCRIPT = r"""
import json, sys
import numpy as np
import pandas as pd
from aggregator.exact_dp import solve_fleet

def instances(seed_dir):
    price = pd.read_csv(f"{seed_dir}/CA_Weighted_Price_Case0.csv")["Weighted_Avg_Price"].to_numpy(float)[:336]
    avail = pd.read_csv(f"{seed_dir}/car_profile_multiple.csv")["car_aval3"].to_numpy(float)[:336]
    # a two-week slice of a seed fleet (1000 vehicles, 30 kWh, 7.2 kW, contract 0.8)
    yield dict(price=price, dt=1.0, pmax=7.2 * 1000 * avail, smin=0.2 * 30000 * avail, smax=30000 * avail,
               s_init=30000.0, eta_in=0.85, eta_out=0.78, penalty=1000.0)
    rng = np.random.default_rng(7)
    for _ in range(12):
        T = int(rng.integers(2, 40))
        p = dict(price=rng.normal(10, 40, T), dt=1.0, pmax=rng.uniform(0, 10, T) * (rng.random(T) < 0.8),
                 smin=rng.uniform(0, 5, T), s_init=float(rng.uniform(0, 20)), eta_in=0.9, eta_out=0.85,
                 penalty=float(rng.choice([0.05, 100.0])), exclusive=bool(rng.random() < 0.7),
                 driving=rng.uniform(0, 3, T) * (rng.random(T) < 0.3), floor=rng.uniform(0, 15, T) * (rng.random(T) < 0.3),
                 shortfall_penalty=2.0, wear_cost=float(rng.choice([0.0, 0.05])))
        p["smax"] = p["smin"] + rng.uniform(0, 25, T)
        yield p

out = []
for p in instances(sys.argv[1]):
    s = solve_fleet(**p)
    out.append({k: float(getattr(s, k)).hex() for k in ("objective", "bound", "dp_value", "allowance")}
               | {k: [float(v).hex() for v in getattr(s, k)] for k in ("charge", "discharge", "soc", "slack_up", "slack_down")})
print(json.dumps(out))
"""


def _run_script(env: dict[str, str]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(SEED_DIR)], env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not SEED_DIR.exists(), reason="seed data not found")
def test_compiled_and_interpreted_kernel_agree_bit_for_bit():
    compiled = _run_script({})
    interpreted = _run_script({"NUMBA_DISABLE_JIT": "1"})
    assert len(compiled) == 13
    for a, b in zip(compiled, interpreted):
        assert a == b


def test_numba_is_a_core_dependency():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip() == "numba" for d in declared)
    installed = [r for r in (requires("aggregator") or []) if "extra ==" not in r]
    assert any(r.startswith("numba") for r in installed)


def test_price_taker_modes_give_the_same_solution_through_solve_modes():
    rng = np.random.default_rng(3)
    T = 30
    price = rng.normal(5, 30, T)
    pmax = rng.uniform(0, 8, T)
    args = (1.0, pmax, 0.0, 20.0, 5.0, 0.9, 0.8, 50.0)
    direct = solve_fleet(price, *args, wear_cost=0.01)
    modes = step_mode_arrays(price, 1.0, pmax, 0.9, 0.8, True, wear=0.01)
    via = solve_modes(modes, *args)
    assert via.dp_value == direct.dp_value
    assert np.array_equal(via.charge, direct.charge) and np.array_equal(via.soc, direct.soc)
    assert direct.dp_value + via.allowance == direct.bound
    # two modes where burning energy pays more than the wear (Step 3b of the docs:
    # wear < -price / 1000 (1 / eta_in - eta_out)), with exclusive charging
    split = (pmax > 0) & (0.01 < -price / 1000 * (1 / 0.9 - 0.8))
    assert 0 < split.sum() < (price < 0).sum()
    assert modes.mode_start[-1] == T + int(split.sum())


def _modes(mode_start, vert_start, vy, vr, vin, vout, rev_scale) -> StepModes:
    ints = [np.asarray(a, dtype=np.int64) for a in (mode_start, vert_start)]
    return StepModes(*ints, *[np.asarray(a, dtype=float) for a in (vy, vr, vin, vout, rev_scale)])


def test_many_vertex_mode_hand_solved():
    # One step, one concave mode with five vertices (a price maker's revenue curve):
    # y = -4 .. 4 kWh with revenue 0, 3, 4, 3, 0 $ (full discharge .. full charge).
    # From S0 = 10 with 7 <= S1 <= 11 the move y lies in [-3, 1]; the best vertex
    # inside is y = 0 (4 $): idle, objective 4, no slack.
    modes = _modes([0, 1], [0, 5], [-4.0, -2.0, 0.0, 2.0, 4.0], [0.0, 3.0, 4.0, 3.0, 0.0],
                   [0.0, 0.0, 0.0, 2.0, 4.0], [4.0, 2.0, 0.0, 0.0, 0.0], [4.0])
    sol = solve_modes(modes, 1.0, 4.0, 7.0, 11.0, 10.0, 1.0, 1.0, 100.0)
    assert sol.dp_value == pytest.approx(4.0, abs=1e-12)
    assert sol.soc[0] == pytest.approx(10.0) and sol.slack_up[0] == 0.0 and sol.slack_down[0] == 0.0
    # S0 = 16: the move must be y <= -5, beyond the mode: full discharge (y = -4, 0 $)
    # and 1 kWh of slack down at 100 $/kWh: -100 $.
    sol = solve_modes(modes, 1.0, 4.0, 7.0, 11.0, 16.0, 1.0, 1.0, 100.0)
    assert sol.dp_value == pytest.approx(-100.0, abs=1e-9)
    assert sol.discharge[0] == pytest.approx(4.0) and sol.slack_down[0] == pytest.approx(1.0)
    assert sol.dp_value + sol.allowance >= -100.0


def test_mode_layout_is_checked():
    empty_step = _modes([0, 1, 1], [0, 1], np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(2))
    with pytest.raises(ValueError, match="every step at least one mode"):
        solve_modes(empty_step, 1.0, 1.0, 0.0, 1.0, 0.0, 0.9, 0.9, 1.0)
    bad = _modes([0, 1], [0, 2], [1.0, 0.0], np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(1))
    with pytest.raises(ValueError, match="vy must not decrease"):
        solve_modes(bad, 1.0, 1.0, 0.0, 1.0, 0.0, 0.9, 0.9, 1.0)


def _with_step_vertices_by_steps(modes: StepModes, vertices) -> StepModes:
    """The construction before it was vectorised (a Python loop over the steps): the reference."""
    ms, vs = modes.mode_start, modes.vert_start
    n_t = ms.shape[0] - 1
    parts, counts = [], []
    per_step = np.diff(ms)
    rev = modes.rev_scale.copy()
    t = 0
    for t_given, given in enumerate(list(vertices)[:n_t]):
        if given is None:
            continue
        if t_given > t:
            a, b = int(vs[ms[t]]), int(vs[ms[t_given]])
            parts.append((modes.vy[a:b], modes.vr[a:b], modes.vin[a:b], modes.vout[a:b]))
            counts.extend(np.diff(vs[ms[t] : ms[t_given] + 1]).tolist())
        for vy, vr, vin, vout in given:
            parts.append(tuple(np.asarray(x, dtype=np.float64) for x in (vy, vr, vin, vout)))
            counts.append(len(vy))
            rev[t_given] = max(rev[t_given], float(np.max(np.abs(parts[-1][1]))))
        per_step[t_given] = len(given)
        t = t_given + 1
    if t < n_t:
        a = int(vs[ms[t]])
        parts.append((modes.vy[a:], modes.vr[a:], modes.vin[a:], modes.vout[a:]))
        counts.extend(np.diff(vs[ms[t] :]).tolist())
    return StepModes(
        mode_start=np.concatenate([[0], np.cumsum(per_step)]).astype(np.int64),
        vert_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        vy=np.concatenate([p[0] for p in parts]),
        vr=np.concatenate([p[1] for p in parts]),
        vin=np.concatenate([p[2] for p in parts]),
        vout=np.concatenate([p[3] for p in parts]),
        rev_scale=rev,
    )


def _random_vertices(rng: np.random.Generator, n_t: int, share: float) -> list:
    """Per step None or 1-2 concave modes of 1-64 vertices (lists, as price_impact.step_vertices gives)."""
    out: list = []
    for _ in range(n_t):
        if rng.random() >= share:
            out.append(None)
            continue
        step = []
        for _ in range(int(rng.integers(1, 3))):
            n = int(rng.integers(1, 65))
            vy = np.sort(rng.normal(0, 5, n))
            vr = -((vy - rng.normal()) ** 2) + rng.normal(0, 50)
            vin = np.maximum(vy, 0.0)
            vout = np.maximum(-vy, 0.0)
            step.append((vy.tolist(), vr.tolist(), vin.tolist(), vout.tolist()))
        out.append(step)
    return out


@pytest.mark.parametrize("share", [0.0, 0.05, 0.5, 1.0])
def test_with_step_vertices_builds_what_the_step_loop_built(share):
    from aggregator.exact_dp import with_step_vertices

    rng = np.random.default_rng(int(share * 100) + 11)
    for trial in range(6):
        n_t = int(rng.integers(1, 300))
        price = rng.normal(0, 60, n_t)  # negative prices: steps with two modes
        pmax = rng.uniform(0, 8, n_t) * (rng.random(n_t) < 0.9)  # some steps without power: one vertex
        modes = step_mode_arrays(price, 1.0, pmax, 0.9, 0.8, bool(trial % 2), wear=0.01 * (trial % 3),
                                 drive=rng.uniform(0, 2, n_t) * (rng.random(n_t) < 0.2))
        vertices = _random_vertices(rng, n_t, share)
        if trial == 5:
            vertices = vertices[: n_t // 2] + [None] * 3  # shorter than the horizon, and entries beyond it
        got = with_step_vertices(modes, vertices)
        want = _with_step_vertices_by_steps(modes, vertices)
        for name in ("mode_start", "vert_start", "vy", "vr", "vin", "vout", "rev_scale"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (name, trial)
        got.check(n_t)


def test_with_step_vertices_rejects_unequal_vertex_lists():
    from aggregator.exact_dp import with_step_vertices

    modes = step_mode_arrays(np.array([10.0, -5.0]), 1.0, np.array([1.0, 1.0]), 0.9, 0.9, True)
    with pytest.raises(ValueError, match="equally many"):
        with_step_vertices(modes, [[([0.0, 1.0], [0.0, 1.0], [0.0], [0.0, 0.0])], None])
