"""Binary rasters traced into polygons: a stack of images, one MultiPolygon per image,
vectorized over the whole stack (no per-cell or per-ring Python loop).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import ndimage

from geo._arrays import FloatArray, GeomArray, IntArray, first_of_runs


def polygonize(mask: NDArray[np.bool_], origin: FloatArray, cell: float) -> GeomArray:
    """Trace a stack of binary images (empty border) into one MultiPolygon per image.

    Vectorized over the whole stack: boundary unit edges run with the inside on their left,
    rings are followed by pointer doubling, shells are counter-clockwise and holes belong
    to the 4-connected component of cells on their left. Diagonal-only contacts (saddles)
    are filled first, so rings never touch and the polygons are valid.
    """
    _fill_saddles(mask)
    out = np.empty(len(mask), dtype=object)
    out[...] = shapely.MultiPolygon()
    cross = np.zeros((3, 3, 3), dtype=bool)
    cross[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    labels, _ = ndimage.label(mask, structure=cross)
    start, end, inside, direction = _boundary_edges(mask)
    if len(start) == 0:
        return out
    h1, w1 = mask.shape[1] + 1, mask.shape[2] + 1
    by_start = np.argsort(start)
    nxt = by_start[np.searchsorted(start[by_start], end)]
    ring = _cycle_min(nxt)
    position = _cycle_rank(nxt, ring)
    order = np.lexsort((position, ring))
    ring, direction, start, end = ring[order], direction[order], start[order], end[order]
    ring_starts = first_of_runs(ring)
    first = np.flatnonzero(ring_starts)
    ring_id = np.cumsum(ring_starts) - 1
    last = np.r_[first[1:], len(ring)] - 1
    previous = np.arange(len(ring)) - 1
    previous[first] = last
    corner = direction != direction[previous]
    k, si, sj = np.unravel_index(start, (len(mask), h1, w1))
    _, ei, ej = np.unravel_index(end, (len(mask), h1, w1))
    area2 = np.bincount(ring_id, weights=(sj * ei - ej * si).astype(np.float64))
    component = labels.reshape(-1)[inside[order][first]]
    ring_order = np.lexsort((area2 < 0, component))  # each component: shell, then holes
    coords = origin[k] + np.column_stack([sj, si]) * cell
    rank_of_ring = np.empty_like(ring_order)
    rank_of_ring[ring_order] = np.arange(len(ring_order))
    vertex_order = np.lexsort((np.arange(len(ring)), rank_of_ring[ring_id]))
    vertex_order = vertex_order[corner[vertex_order]]
    rings = shapely.linearrings(coords[vertex_order], indices=rank_of_ring[ring_id][vertex_order])
    comp_sorted = component[ring_order]
    comp_starts = first_of_runs(comp_sorted)
    polygons = shapely.polygons(rings, indices=np.cumsum(comp_starts) - 1)
    image = k[first][ring_order][comp_starts]
    return shapely.multipolygons(polygons, indices=image, out=out)


def _fill_saddles(mask: NDArray[np.bool_]) -> None:
    """Fill one empty cell of every 2×2 block whose in-cells touch only diagonally."""
    while True:
        a, b = mask[:, :-1, :-1], mask[:, :-1, 1:]
        c, d = mask[:, 1:, :-1], mask[:, 1:, 1:]
        main = a & d & ~b & ~c
        anti = b & c & ~a & ~d
        if not (main.any() or anti.any()):
            return
        mask[:, :-1, 1:] |= main
        mask[:, :-1, :-1] |= anti


def _boundary_edges(mask: NDArray[np.bool_]) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Directed unit edges between in and out cells, inside on the left (x = column,
    y = row): start and end vertex ids, the inside cell's flat index, direction 0..3."""
    _, h, w = mask.shape
    above, below = mask[:, 1:, :], mask[:, :-1, :]  # the cells either side of row line i
    right, left = mask[:, :, 1:], mask[:, :, :-1]  # either side of column line j
    parts = []
    for cond, line, start, end, cell, direction in (
        (above & ~below, (1, 0), (0, 0), (0, 1), (0, 0), 0),  # +x
        (below & ~above, (1, 0), (0, 1), (0, 0), (-1, 0), 2),  # -x
        (right & ~left, (0, 1), (1, 0), (0, 0), (0, 0), 3),  # -y
        (left & ~right, (0, 1), (0, 0), (1, 0), (0, -1), 1),  # +y
    ):
        k, i, j = np.nonzero(cond)
        i, j = i + line[0], j + line[1]
        parts.append(
            (
                (k * (h + 1) + i + start[0]) * (w + 1) + j + start[1],
                (k * (h + 1) + i + end[0]) * (w + 1) + j + end[1],
                (k * h + i + cell[0]) * w + j + cell[1],
                np.full(len(k), direction),
            )
        )
    s, e, c, d = (np.concatenate(p) for p in zip(*parts, strict=True))
    return s, e, c, d


def _cycle_min(nxt: IntArray) -> IntArray:
    """Smallest index on each element's cycle of the permutation ``nxt`` (pointer doubling:
    once a doubling step changes nothing, every window already spans its whole cycle)."""
    low, jump = np.arange(len(nxt)), nxt
    while True:
        new = np.minimum(low, low[jump])
        if np.array_equal(new, low):
            return low
        low, jump = new, jump[jump]


def _cycle_rank(nxt: IntArray, head: IntArray) -> IntArray:
    """Steps from each cycle's head (its smallest index) to each element (list ranking)."""
    is_head = head == np.arange(len(nxt))
    tail = is_head[nxt]  # the element just before its head
    succ = np.where(tail, np.arange(len(nxt)), nxt)
    to_tail = (~tail).astype(np.int64)
    while True:
        jump = succ[succ]
        if np.array_equal(jump, succ):
            break
        to_tail, succ = to_tail + to_tail[succ], jump
    return -to_tail  # sorts like the distance from the head
