"""exact_sum is math.fsum's float, computed with numpy (aggregator.exact_sum)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aggregator.exact_sum import ExactSum, exact_sum


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


def _in_parts(values: np.ndarray, columns: int) -> float:
    total = ExactSum()
    for a in range(0, values.shape[1], columns):
        total.add(values[:, a : a + columns])
    return total.value()


@pytest.mark.parametrize("seed", range(4))
def test_a_sum_added_block_by_block_is_the_sum_of_the_whole(seed):
    # Column blocks of a (time, fleet) array, as the accounting adds them: every block's exact sum is
    # kept exactly, so the parts give fsum's float whatever the blocks (a block alone may round otherwise).
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(400, 90)) * 10.0 ** rng.integers(-200, 200, size=(400, 90))
    values[:, 5] = -values[:, 6] * (1 + 1e-16)  # near-total cancellation across two blocks
    for columns in (1, 7, 32, 90, 200):
        assert _same(_in_parts(values, columns), _fsum(values))

def test_parts_are_kept_exactly_not_rounded_one_by_one():
    # Rounding each block's sum first loses the 1.0: (1e100 + 1.0) rounds to 1e100, then - 1e100 = 0.
    values = np.array([[1e100, 1.0, -1e100]])
    assert math.fsum(exact_sum(values[:, a : a + 2]) for a in (0, 2)) == 0.0
    assert _in_parts(values, 2) == 1.0 == _fsum(values)


def test_a_sum_in_parts_keeps_fsums_zeros_and_special_values():
    negative_zeros = np.full((3, 4), -0.0)
    assert _same(_in_parts(negative_zeros, 1), _fsum(negative_zeros))  # -0.0 alone
    mixed = negative_zeros.copy()
    mixed[2, 3] = 0.0
    assert _same(_in_parts(mixed, 1), 0.0)
    assert _same(ExactSum().value(), 0.0)
    with_nan = np.ones((2, 4))
    with_nan[1, 2] = math.nan
    assert math.isnan(_in_parts(with_nan, 2))
    with_inf = np.ones((2, 4))
    with_inf[0, 3] = -math.inf
    assert _in_parts(with_inf, 3) == -math.inf
    both = np.array([[math.inf, 1.0], [2.0, -math.inf]])
    with pytest.raises(ValueError):
        _in_parts(both, 1)
