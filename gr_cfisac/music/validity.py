"""Whether a block's MUSIC result means anything: one validity code per RAP and block.

A block of snapshots gives no meaningful angles when its samples are bad (a NaN from a radio
driver, a silent port, a clipping ADC) or when its scene is not identifiable: eq 42's noise
subspace must have at least two dimensions for a 2D direction, i.e. n_sources <= M - 2, and a
linear array (one row or one column) never resolves (psi, theta), only a cone. With
M - n_sources = 1 the zero set of a(psi, theta)^H e is a whole curve through the sources and the
stochastic CRB (bounds.stochastic_crb) is infinite — e.g. Table I's 2 x 2 RAPs with a target and
two clutter points. Results of such blocks are NaN; consumers read the code, not the numbers.

Codes (``Validity``, stored as a float in stream items, an int in reports):

- 0 ``OK``               identifiable, finite, active input: the peaks are estimates
- 1 ``NOT_IDENTIFIABLE`` model order > M - 2, or a linear array
- 2 ``NON_FINITE``       a NaN or infinite sample in the block
- 3 ``SILENT``           every sample (numerically) zero
- 4 ``SATURATED``        clipped: many I/Q components sit at the block's largest magnitude

Codes >= 2 are "bad input" (:func:`is_bad_input`). numpy only.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Validity(IntEnum):
    OK = 0
    NOT_IDENTIFIABLE = 1
    NON_FINITE = 2
    SILENT = 3
    SATURATED = 4

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


#: A block is clipped when at least this fraction of its I/Q components (and at least
#: SATURATION_MIN_COUNT of them) equal its largest magnitude: continuous noise never ties.
SATURATION_FRACTION = 0.01
SATURATION_MIN_COUNT = 4
#: Mean power per sample at or below this is a silent port (complex64 carries ~1e-45 at best).
SILENT_POWER = 1e-30


def identifiable(n_sources: np.ndarray | int, rows: int, cols: int) -> np.ndarray:
    """True where ``n_sources`` directions are identifiable by 2D MUSIC on a rows x cols URPA:
    rows, cols >= 2 and n_sources <= rows*cols - 2 (zero sources: nothing to identify, valid)."""
    n = np.asarray(n_sources)
    return (n <= rows * cols - 2) & (min(rows, cols) >= 2)


def screen_snapshots(Y: np.ndarray) -> np.ndarray:
    """Input quality of snapshot blocks Y (..., M, tau) -> (...,) int8 Validity (OK, NON_FINITE,
    SILENT or SATURATED); checked in that order, so a block with a NaN is NON_FINITE.

    One pass of |I|, |Q| per block (complex samples are read as their I/Q pairs, no copy): its
    maximum is finite only if every sample is, and the clipping count and the power come from
    the same magnitudes."""
    Y = np.asarray(Y)
    if Y.ndim < 2:
        raise ValueError(f"Y must be (..., M, tau) snapshots, got shape {Y.shape}")
    lead = Y.shape[:-2]
    flat = np.ascontiguousarray(Y).reshape(lead + (-1,))
    parts = flat.view(flat.real.dtype) if np.iscomplexobj(flat) else flat
    code = np.zeros(lead, dtype=np.int8)
    if parts.shape[-1] == 0:
        code[...] = Validity.SILENT
        return code
    mags = np.abs(parts)
    peak = mags.max(axis=-1)
    finite = np.isfinite(peak)
    at_peak = np.count_nonzero(mags >= (peak * (1 - 1e-6))[..., None], axis=-1)
    clipped = (at_peak >= SATURATION_MIN_COUNT) & (at_peak >= SATURATION_FRACTION * parts.shape[-1])
    power = np.einsum("...i,...i->...", mags, mags, dtype=np.float64) / parts.shape[-1] * 2
    code[clipped] = Validity.SATURATED
    code[power <= SILENT_POWER] = Validity.SILENT
    code[~finite] = Validity.NON_FINITE
    return code


def is_bad_input(code: np.ndarray | int) -> np.ndarray:
    """True where a validity code says the samples themselves were bad (codes >= 2)."""
    return np.asarray(code) >= Validity.NON_FINITE


def counts(codes: np.ndarray) -> dict[str, int]:
    """How many blocks carry each code: {"ok": n, "not identifiable": n, ...} (all codes)."""
    codes = np.asarray(codes).astype(int).ravel()
    return {v.label: int(np.sum(codes == v)) for v in Validity}
