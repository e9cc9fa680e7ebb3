"""The shared index-array helpers equal their plain-Python definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from geo._arrays import concat_ranges, expand, first_of_runs, grouped, stable_order

ranges = st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 5)), max_size=20)


@given(ranges)
def test_concat_ranges_and_expand(pairs: list[tuple[int, int]]) -> None:
    starts = np.array([s for s, _ in pairs], dtype=np.int64)
    counts = np.array([c for _, c in pairs], dtype=np.int64)
    owner, positions = expand(starts, counts)
    want = [(i, s + k) for i, (s, c) in enumerate(pairs) for k in range(c)]
    assert owner.tolist() == [i for i, _ in want]
    assert positions.tolist() == [p for _, p in want]
    assert concat_ranges(starts, counts).tolist() == [p for _, p in want]
    assert positions.dtype == np.int64


@given(st.lists(st.integers(0, 2**32 - 1), max_size=50), st.integers(0, 3))
def test_stable_order_first_of_runs_and_grouped(keys: list[int], small: int) -> None:
    a = np.array(keys, dtype=np.int64)
    assert stable_order(a).tolist() == sorted(range(len(keys)), key=keys.__getitem__)
    ordered = np.sort(a)
    assert first_of_runs(ordered).tolist() == [
        i == 0 or v != ordered[i - 1] for i, v in enumerate(ordered.tolist())
    ]
    b = a % (small + 1)
    order, ptr = grouped(b, small + 1)
    assert ptr.tolist() == [int((b < g).sum()) for g in range(small + 2)]
    assert b[order].tolist() == sorted(b.tolist())
