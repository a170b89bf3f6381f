"""Which users are active in each coherence block (DESIGN.md, "variable user count").

Users join and leave a cell between coherence blocks; the scenario publishes an active-user
mask per block (a stream item like the other per-block data), the precoder serves only the
active users (an inactive user gets a zero beam) and the metrics leave inactive users out.
This module is the numpy-only part: the schedules a scenario can follow and the grouping of
blocks by mask that batched precoders use.

A schedule maps block indices ``cb`` (n,) to masks (n, K) of bools, the same for any call sizes:

- :func:`all_active` — every user in every block (the default);
- :func:`parse_schedule` — a user-given schedule: a (blocks, K) table of 0/1 (block ``cb`` takes
  row ``cb``, blocks past the table keep its last row), change points ``[[block, mask], ...]``
  (JSON-able; all users are active before the first change point), JSON text of either, or a
  callable ``cb -> (n, K)``;
- :class:`JoinLeave` — a seeded random process: every user independently leaves with
  probability ``leave_prob`` per block while active and rejoins with ``join_prob`` per block
  while inactive (a two-state Markov chain per user, all active at block 0).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

#: cb (n,) -> (n, K) bool masks
Schedule = Callable[[np.ndarray], np.ndarray]

#: blocks drawn per batch by :class:`JoinLeave` (part of what its seed means)
CHUNK = 32


def all_active(K: int) -> Schedule:
    """Every user active in every block."""
    return lambda cb: np.ones((len(np.atleast_1d(cb)), int(K)), bool)


def check_mask(mask: Any, K: int, where: str, name: str = "active_users") -> np.ndarray:
    """One mask (K,) of 0/1 or bools as bools; ValueError naming ``name`` and ``where`` else."""
    arr = np.asarray(mask)
    if arr.ndim != 1 or arr.shape[0] != K:
        raise ValueError(
            f"{name}: the mask {where} has shape {arr.shape}, expected K={K} entries (one 0/1 "
            "per user, user 1 first)"
        )
    if arr.dtype.kind not in "biuf" or not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name}: the mask {where} must hold only 0/1 (or bools), got {mask!r}")
    return arr.astype(bool)


def check_masks(masks: Any, K: int, n: int, name: str = "active_users") -> np.ndarray:
    """Masks (n, K) of 0/1 or bools as bools; ValueError naming ``name`` else."""
    arr = np.asarray(masks)
    if arr.shape != (n, K):
        raise ValueError(f"{name}: masks must be (blocks={n}, K={K}), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf" or not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name}: masks must hold only 0/1 (or bools)")
    return arr.astype(bool)


def _is_change_points(rows: Sequence[Any]) -> bool:
    """[[block, mask], ...] (a pair whose second entry is a sequence) rather than a table."""
    first = rows[0]
    return (
        isinstance(first, (list, tuple))
        and len(first) == 2
        and isinstance(first[1], (list, tuple, np.ndarray))
    )


def _change_points(points: Sequence[Any], K: int, name: str) -> Schedule:
    blocks, masks = [], []
    for i, point in enumerate(points):
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise ValueError(
                f"{name}: change point {i} must be [block, mask], got {point!r} (e.g. "
                "[[10, [1, 1, 0, 1]], [20, [1, 1, 1, 1]]])"
            )
        block, mask = point
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 0:
            raise ValueError(
                f"{name}: change point {i}'s block must be an integer >= 0, got {block!r}"
            )
        if blocks and block <= blocks[-1]:
            raise ValueError(
                f"{name}: change points must be in increasing block order; block {block} "
                f"follows block {blocks[-1]}"
            )
        blocks.append(int(block))
        masks.append(check_mask(mask, K, f"at block {block}", name))
    starts = np.array(blocks, np.int64)
    table = np.concatenate([np.ones((1, K), bool), np.array(masks)])  # row 0: before the first

    def schedule(cb: np.ndarray) -> np.ndarray:
        return table[np.searchsorted(starts, np.asarray(cb, np.int64), side="right")]

    return schedule


def _table(rows: Any, K: int, name: str) -> Schedule:
    arr = np.asarray(rows)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"{name}: a mask table must be (blocks, K={K}) of 0/1, got shape {arr.shape}; or "
            "give change points [[block, mask], ...]"
        )
    if arr.shape[1] != K:
        check_mask(arr[0], K, "of block 0", name)
    table = check_masks(arr, K, arr.shape[0], name)
    last = len(table) - 1
    return lambda cb: table[np.minimum(np.asarray(cb, np.int64), last)]


def _callable(fn: Callable, K: int, name: str) -> Schedule:
    def schedule(cb: np.ndarray) -> np.ndarray:
        cb = np.asarray(cb, np.int64)
        return check_masks(fn(cb), K, len(cb), f"{name} (the callable's masks)")

    return schedule


def parse_schedule(active_users: Any, K: int, name: str = "active_users") -> Schedule:
    """The schedule of ``active_users`` for K users (module docstring: None, a (blocks, K)
    table, change points, their JSON text or a callable); ValueError naming ``name`` and the
    fix for anything else (a mask of the wrong length, values other than 0/1, blocks out of
    order)."""
    K = int(K)
    if active_users is None:
        return all_active(K)
    if callable(active_users):
        return _callable(active_users, K, name)
    if isinstance(active_users, str):
        if not active_users.strip():
            return all_active(K)
        try:
            active_users = json.loads(active_users)
        except ValueError as exc:
            raise ValueError(f"{name}: not valid JSON ({exc}); e.g. [[10, [1, 1, 0, 1]]]") from None
    if isinstance(active_users, np.ndarray):
        return _table(active_users, K, name)
    if not isinstance(active_users, (list, tuple)) or not active_users:
        raise ValueError(
            f"{name}: expected None, a (blocks, K={K}) table of 0/1, change points [[block, "
            f"mask], ...] or a callable cb -> (n, K); got {active_users!r}"
        )
    if _is_change_points(active_users):
        return _change_points(active_users, K, name)
    return _table(active_users, K, name)


def markov_states(u: np.ndarray, start: np.ndarray, leave: float, join: float) -> np.ndarray:
    """States (n, K) of two-state chains from uniforms ``u`` (n, K): row t follows row t-1
    (row -1 is ``start`` (K,)) — an active user stays iff u >= leave, an inactive one joins iff
    u < join. Vectorized: each step either sets a value whatever the state, keeps it or flips
    it, so a state is the last set value (or ``start``) XOR the parity of the flips since."""
    n, K = u.shape
    lo, hi = u < leave, u < join  # leaves if active / joins if inactive
    set_value = ~lo & hi  # 1 whatever the state; (lo & ~hi): 0 whatever the state
    reset = lo != hi
    flip = lo & hi
    t = np.arange(n)[:, None]
    last = np.maximum.accumulate(np.where(reset, t, -1), axis=0)  # (n, K), -1: none yet
    flips = np.cumsum(flip, axis=0)
    cols = np.arange(K)[None, :]
    base = np.where(last >= 0, set_value[np.maximum(last, 0), cols], start[None, :])
    since = flips - np.where(last >= 0, flips[np.maximum(last, 0), cols], 0)
    return base ^ (since % 2 == 1)


class JoinLeave:
    """Seeded random join/leave process (module docstring): ``schedule(cb) -> (n, K)``.

    Blocks come in chunks of CHUNK drawn from ``numpy.random.default_rng([seed, stream,
    chunk])``, so block ``cb``'s mask is the same whatever the call sizes; a chunk starts from
    the previous chunk's last state (computed once and kept)."""

    def __init__(
        self, K: int, leave_prob: float, join_prob: float, seed: int, stream: int = 2
    ) -> None:
        for pname, p in (("user_leave_prob", leave_prob), ("user_join_prob", join_prob)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"{pname} must be a probability per block in [0, 1], got {p}")
        self.K, self.leave, self.join = int(K), float(leave_prob), float(join_prob)
        self.seed, self.stream = int(seed), int(stream)
        self._end: dict[int, np.ndarray] = {-1: np.ones(self.K, bool)}  # chunk -> last state
        self._cache: dict[int, np.ndarray] = {}

    def _chunk(self, index: int) -> np.ndarray:
        if index in self._cache:
            return self._cache[index]
        start = max(c for c in self._end if c < index)
        for c in range(start + 1, index + 1):
            u = np.random.default_rng([self.seed, self.stream, c]).random((CHUNK, self.K))
            if c == 0:
                u[0] = 1.0  # block 0: everyone active (u >= leave keeps an active user)
            states = markov_states(u, self._end[c - 1], self.leave, self.join)
            self._end[c] = states[-1]
            if len(self._cache) >= 4:
                self._cache.pop(min(self._cache))
            self._cache[c] = states
        return self._cache[index]

    def __call__(self, cb: np.ndarray) -> np.ndarray:
        cb = np.asarray(cb, np.int64)
        chunks = cb // CHUNK
        out = np.empty((len(cb), self.K), bool)
        for index in np.unique(chunks):
            sel = chunks == index
            out[sel] = self._chunk(int(index))[cb[sel] - index * CHUNK]
        return out


def mask_groups(active: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(mask (K,), rows) for every distinct mask of ``active`` (B, K): the blocks a batched
    precoder or metric can handle in one call."""
    active = np.asarray(active, bool)
    masks, inverse = np.unique(active, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for g, mask in enumerate(masks):
        yield mask, np.flatnonzero(inverse == g)


def take_blocks(data: Any, rows: np.ndarray) -> Any:
    """The same dataclass (e.g. a SensingGeometry) with only blocks ``rows`` of every field
    (each field has the block axis first)."""
    fields = {f.name: getattr(data, f.name)[rows] for f in dataclasses.fields(data)}
    return type(data)(**fields)
