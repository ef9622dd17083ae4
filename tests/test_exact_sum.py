"""exact_sum is math.fsum's float, computed with numpy (aggregator.exact_sum)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aggregator.exact_sum import exact_sum


def _fsum(values) -> float:
    return math.fsum(np.ravel(np.asarray(values, dtype=float)).tolist())


def _same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize(
    "values",
    [
        [1e100, 1.0, -1e100],  # naive and pairwise sums give 0.0
        [1.0, 2.0**-53, 2.0**-53],  # two half-ulps: the exact sum rounds up
        [1.0, 2.0**-53],  # a tie: round half to even gives 1.0
        [1.0, 2.0**-53, 2.0**-106],  # just above the tie: rounds up
        [5e-324, -5e-324, 5e-324],  # subnormals
        [2.0**-1074] * 3,
        [1.7976931348623157e308, -1e292],  # the largest float
        [0.0, -0.0],
        [-0.0],
        [],
        [0.1] * 10,  # 0.9999999999999999 naively
    ],
)
def test_hand_picked_sums_round_as_fsum(values):
    assert _same(exact_sum(np.array(values, dtype=float)), _fsum(values))


def test_known_exact_answers():
    assert exact_sum([1e100, 1.0, -1e100]) == 1.0
    assert exact_sum([0.1] * 10) == 1.0
    assert exact_sum([1.0, 2.0**-53, 2.0**-53]) == 1.0 + 2.0**-52


@pytest.mark.parametrize("seed", range(6))
def test_random_arrays_of_every_scale_sum_as_fsum(seed):
    rng = np.random.default_rng(seed)
    n = 20_000
    arrays = [
        rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n),  # every exponent at once
        np.ldexp(rng.uniform(-1, 1, n), rng.integers(-1074, 1000, n)),  # subnormals too
        np.concatenate([x := rng.normal(size=n) * 1e6, -x[::-1] * (1 + 1e-16)]),  # near-total cancellation
        rng.choice([0.0, -0.0, 1e-320, 3.0, -3.0, 1e16, -1e16, 1.0000000000000002], n),
        rng.normal(size=(300, 70)).T * 1e5,  # not contiguous
    ]
    for values in arrays:
        assert _same(exact_sum(values), _fsum(values))


def test_more_values_than_one_block():
    # Several passes (blocks of 2**18 values) combine exactly: one value that only survives exactly.
    rng = np.random.default_rng(1)
    values = rng.normal(size=700_000) * 1e8
    values = np.concatenate([values, -values, [1e-9]])
    rng.shuffle(values)
    assert exact_sum(values) == 1e-9 == _fsum(values)


def test_values_that_are_not_finite_are_fsums_answer():
    assert math.isnan(exact_sum([1.0, math.nan]))
    assert exact_sum([1.0, math.inf]) == math.inf
    with pytest.raises(ValueError):
        math.fsum([math.inf, -math.inf])
    with pytest.raises(ValueError):
        exact_sum([math.inf, -math.inf])
