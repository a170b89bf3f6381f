"""Reproducible per-coherence-block randomness, drawn in batches.

GNU Radio decides how many blocks each ``work()`` call sees, and that varies from run to run.
So that the same seed gives the same output whatever the call sizes, every random quantity of
block ``cb`` comes from chunk ``cb // CHUNK``, drawn in one batched call of the numerical core
with ``numpy.random.default_rng([seed, stream, chunk])``. numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Coherence blocks drawn per batched call (part of what a seed means: do not change lightly).
CHUNK = 32


class ChunkedDraws:
    """Rows ``[cb0, cb0 + n)`` of a per-block random process ``draw(rng, first_cb, n)``.

    ``draw`` returns an array, or a dict of arrays, with the block axis first; it is called
    once per chunk of CHUNK blocks (the most recent chunks are cached).
    """

    def __init__(
        self, seed: int, stream: int, draw: Callable[[np.random.Generator, int, int], Any]
    ) -> None:
        self.seed = int(seed)
        self.stream = int(stream)
        self.draw = draw
        self._cache: dict[int, Any] = {}

    def _chunk(self, index: int) -> Any:
        if index not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(min(self._cache))
            rng = np.random.default_rng([self.seed, self.stream, index])
            self._cache[index] = self.draw(rng, index * CHUNK, CHUNK)
        return self._cache[index]

    def get(self, cb: np.ndarray) -> Any:
        """Rows for the (consecutive or not) block indices ``cb`` (n,)."""
        cb = np.asarray(cb, dtype=np.int64)
        chunks = cb // CHUNK
        pieces = []
        for index in np.unique(chunks):
            rows = cb[chunks == index] - index * CHUNK
            pieces.append((self._chunk(int(index)), rows))
        first = pieces[0][0]
        if isinstance(first, dict):
            return {k: np.concatenate([np.asarray(c[k])[r] for c, r in pieces]) for k in first}
        return np.concatenate([np.asarray(c)[r] for c, r in pieces])
