"""Target association: which of a RAP's MUSIC peaks (eqs 41-42) is the target, by a prior
direction, by a clutter map learned block by block (:class:`ClutterMap`), or the strongest.

Angles are radians, peaks (..., n, 2) [psi, theta] strongest first (NaN = no peak); directions
are matched by the angle between them (errors.separation), the measure eq 43's errors are
compared with.
"""

from __future__ import annotations

import numpy as np

from .errors import separation


def associate_target(
    angles: np.ndarray,
    prior: np.ndarray | None = None,
    clutter_map: ClutterMap | None = None,
    gate: float | None = None,
) -> np.ndarray:
    """Index of the target among the MUSIC peaks of each block, -1 where none qualifies.

    angles (..., n, 2) [psi, theta] strongest first (NaN = no peak). With a ``prior``
    (..., 2) direction (e.g. from the initial sensing stage that built G_t), the peak nearest
    to it, within ``gate`` radians if given. With a ``clutter_map``, the strongest peak that is
    not a known clutter direction. With neither, the strongest peak.
    """
    angles = np.asarray(angles, dtype=float)
    if angles.ndim < 2 or angles.shape[-1] != 2:
        raise ValueError(f"angles must be (..., n, 2) [psi, theta], got shape {angles.shape}")
    valid = np.all(np.isfinite(angles), axis=-1)
    if clutter_map is not None:
        valid &= ~clutter_map.is_clutter(angles)
    if prior is not None:
        prior = np.asarray(prior, dtype=float)
        dist = separation(angles[..., 0], angles[..., 1], prior[..., None, 0], prior[..., None, 1])
        if gate is not None:
            valid &= dist <= gate
        score = np.where(valid, dist, np.inf)
        idx = np.argmin(score, axis=-1)
    else:
        idx = np.argmax(valid, axis=-1)  # first valid = strongest
    return np.where(np.any(valid, axis=-1), idx, -1)


def pick(angles: np.ndarray, index: np.ndarray) -> np.ndarray:
    """angles (..., n, 2) at index (...,) -> (..., 2), NaN where index is -1."""
    angles = np.asarray(angles, dtype=float)
    idx = np.maximum(index, 0)[..., None, None]
    out = np.take_along_axis(angles, np.broadcast_to(idx, angles.shape[:-2] + (1, 2)), axis=-2)
    return np.where((np.asarray(index) >= 0)[..., None], out[..., 0, :], np.nan)


def _as_blocks(angles: np.ndarray) -> np.ndarray:
    """Peaks (B, n, 2) of consecutive blocks from (B, n, 2) or one block's (n, 2)."""
    angles = np.asarray(angles, dtype=float)
    if angles.ndim < 2 or angles.shape[-1] != 2:
        raise ValueError(f"angles must be (B, n, 2) [psi, theta] peaks, got shape {angles.shape}")
    return angles.reshape((-1,) + angles.shape[-2:])


class ClutterMap:
    """Directions that keep producing MUSIC peaks, learned block by block at one RAP.

    Static clutter shows up in most blocks; a direction seen in at least ``min_fraction`` of
    the blocks so far (after ``warmup`` blocks) counts as clutter. Learn it while the target is
    absent or moving, or from a calibration run: a target that stays put would be learned too.
    radius: directions closer than this (radians) are the same cell.
    """

    def __init__(self, radius: float = np.radians(3.0), min_fraction: float = 0.5, warmup: int = 5):
        if radius <= 0 or not 0 < min_fraction <= 1 or warmup < 1:
            raise ValueError(
                "ClutterMap: radius must be > 0, min_fraction in (0, 1], warmup >= 1; got "
                f"{radius}, {min_fraction}, {warmup}"
            )
        self.radius, self.min_fraction, self.warmup = radius, min_fraction, warmup
        self.centers = np.zeros((0, 2))  # (psi, theta) of learned cells
        self.hits = np.zeros(0)
        self.blocks = 0

    def update(self, angles: np.ndarray) -> None:
        """Learn from peaks (B, n, 2) (or (n, 2)) of consecutive blocks, in order."""
        self.learn(_as_blocks(angles))

    def associate(self, angles: np.ndarray) -> np.ndarray:
        """Target index among the peaks (B, n, 2) of consecutive blocks, each block judged by
        the map as learned from the blocks before it, then learned from: the strongest peak
        that is not clutter, -1 where none. (B,). The same as, block by block in order,
        ``associate_target(angles[b], clutter_map=self)`` then ``self.update(angles[b])``, with
        the blocks batched (one pass per block that opens a new cell, rare once learned)."""
        angles = _as_blocks(angles)
        before = self.learn(angles)  # (B, C): the cells that were clutter before each block
        valid = np.all(np.isfinite(angles), axis=-1)
        if before.any():
            d = separation(
                angles[..., None, 0], angles[..., None, 1], self.centers[:, 0], self.centers[:, 1]
            )
            valid &= ~np.any((d <= self.radius) & before[:, None, :], axis=-1)
        return np.where(np.any(valid, axis=-1), np.argmax(valid, axis=-1), -1)

    def learn(self, angles: np.ndarray) -> np.ndarray:
        """Learn from the peaks (B, n, 2) of consecutive blocks, in order; -> (B, C) which of
        the C cells (self.centers after learning) counted as clutter before each block.

        Blocks whose peaks all fall in known cells only add hits: a run of them is counted at
        once (cumulative sums). A block with an unknown direction opens cells the next blocks
        see: it is learned alone (:meth:`_learn_block`), and the later blocks' nearest cells
        are updated against the new cells only.
        """
        B = len(angles)
        finite = np.all(np.isfinite(angles), axis=-1)
        # nearest cell (first of equals, as argmin) and its distance for every peak
        best_d = np.full(finite.shape, np.inf)
        best = np.zeros(finite.shape, dtype=int)
        self._nearest(angles, finite, 0, best_d, best)
        masks: list[np.ndarray] = []
        t = 0
        while t < B:
            known = finite[t:] & (best_d[t:] <= self.radius)
            opens = np.flatnonzero(np.any(finite[t:] & ~known, axis=-1))
            run = int(opens[0]) if opens.size else B - t
            if run == 0:  # this block opens cells: learned alone below
                masks.append(self._clutter_cells()[None])
                first_new = len(self.centers)
                self._learn_block(angles[t])
                t += 1
                self._nearest(angles[t:], finite[t:], first_new, best_d[t:], best[t:])
                continue
            hit = np.zeros((run, len(self.centers)), dtype=bool)
            rows, cols = np.nonzero(known[:run])
            hit[rows, best[t:][rows, cols]] = True  # a cell counts once per block
            hits_before = self.hits + np.cumsum(hit, axis=0) - hit
            blocks_before = self.blocks + np.arange(run)
            masks.append(
                (blocks_before >= self.warmup)[:, None]
                & (hits_before >= self.min_fraction * blocks_before[:, None])
            )
            self.hits = self.hits + hit.sum(axis=0)
            self.blocks += run
            t += run
        C = len(self.centers)
        return np.concatenate(
            [np.pad(m, ((0, 0), (0, C - m.shape[1]))) for m in masks] or [np.zeros((0, C), bool)]
        )

    def _nearest(
        self,
        angles: np.ndarray,
        finite: np.ndarray,
        first: int,
        best_d: np.ndarray,
        best: np.ndarray,
    ) -> None:
        """Update the nearest cell (best, best_d, (b, n) views) of the finite peaks with the
        cells from index ``first`` on (a strictly nearer one wins: argmin keeps the first)."""
        cells = self.centers[first:]
        if not len(cells) or not len(angles):
            return
        d = separation(angles[..., None, 0], angles[..., None, 1], cells[:, 0], cells[:, 1])
        d = np.where(finite[..., None], d, np.inf)
        k = np.argmin(d, axis=-1)
        dk = np.take_along_axis(d, k[..., None], axis=-1)[..., 0]
        closer = dk < best_d
        best_d[closer] = dk[closer]
        best[closer] = first + k[closer]

    def _clutter_cells(self) -> np.ndarray:
        """(C,) True for the cells counted as clutter now."""
        if self.blocks < self.warmup:
            return np.zeros(len(self.centers), dtype=bool)
        return self.hits >= self.min_fraction * self.blocks

    def _learn_block(self, block: np.ndarray) -> None:
        """Learn from one block's peaks (n, 2): hits for known cells, new cells for the rest."""
        block = block[np.all(np.isfinite(block), axis=-1)]
        new = block
        if len(self.centers) and len(block):
            # every peak against every learned cell at once; a cell counts once per block
            d = separation(
                block[:, None, 0], block[:, None, 1], self.centers[:, 0], self.centers[:, 1]
            )
            nearest = np.argmin(d, axis=1)
            known = d[np.arange(len(block)), nearest] <= self.radius
            self.hits[np.unique(nearest[known])] += 1
            new = block[~known]
        first_new = len(self.centers)
        for psi, theta in new:  # unknown directions (rare once learned) open new cells
            fresh = self.centers[first_new:]  # cells opened by this block
            if len(fresh) and separation(*fresh.T, psi, theta).min() <= self.radius:
                continue
            self.centers = np.vstack([self.centers, [psi, theta]])
            self.hits = np.append(self.hits, 1.0)
        self.blocks += 1

    @property
    def clutter(self) -> np.ndarray:
        """(C, 2) directions currently counted as clutter."""
        return self.centers[self._clutter_cells()]

    def is_clutter(self, angles: np.ndarray) -> np.ndarray:
        """(..., n, 2) -> (..., n) True where a peak lies within radius of a clutter cell."""
        angles = np.asarray(angles, dtype=float)
        known = self.clutter
        if not len(known):
            return np.zeros(angles.shape[:-1], dtype=bool)
        d = separation(angles[..., None, 0], angles[..., None, 1], known[:, 0], known[:, 1])
        return np.any(d <= self.radius, axis=-1)
