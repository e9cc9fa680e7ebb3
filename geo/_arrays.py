"""Index-array helpers shared by geo/: ranges, runs and groups of integer keys, vectorized.

Private to geo/ (no stable API); every module that needs one imports it from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
GeomArray = NDArray[np.object_]  # shapely geometries


def concat_ranges(starts: NDArray[np.integer[Any]], counts: NDArray[np.integer[Any]]) -> IntArray:
    """Concatenated ``arange(start, start + count)`` for each pair."""
    offsets = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - offsets, counts)


def expand(
    starts: NDArray[np.integer[Any]], counts: NDArray[np.integer[Any]]
) -> tuple[IntArray, IntArray]:
    """For ranges [starts[i], starts[i] + counts[i]): each element's owner i and its position."""
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return owner, concat_ranges(starts, counts)


def first_of_runs(sorted_keys: NDArray[Any]) -> NDArray[np.bool_]:
    """True where a run of equal keys starts in a sorted array."""
    first = np.ones(sorted_keys.size, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


def stable_order(keys: IntArray) -> IntArray:
    """``argsort(keys, kind="stable")`` for keys in [0, 2**32): numpy radix-sorts 16-bit
    keys, so two passes (low half, then high half) beat one comparison sort of int64."""
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = (keys[order] >> 16).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]


def grouped(keys: IntArray, n_groups: int) -> tuple[IntArray, IntArray]:
    """Stable order grouping ``keys`` (0 <= key < n_groups) and the groups' CSR pointers."""
    return stable_order(keys), np.concatenate(
        [[0], np.cumsum(np.bincount(keys, minlength=n_groups))]
    )
