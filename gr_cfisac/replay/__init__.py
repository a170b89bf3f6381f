"""Score a SigMF capture: rerun channel estimation and MUSIC on it and compare with its ground truth.

CAPTURE is a .sigmf-collection written by the CF-ISAC SigMF Sink, one recording's .sigmf-meta
(its collection is opened when it lies beside it), or a plain cf32_le multi-channel capture
made by another tool (antennas as channels, no cfisac: metadata; give --config).

What is scored, from what the capture holds:
- estimation (tap_pilots + stats + truth): NMSE of the MMSE (eq 8) and LS estimates against
  the true channels, next to the MMSE error covariance's prediction (eqs 10-11); with recorded
  live estimates also the largest difference between them and the rerun;
- sensing (rap_echo): per RAP the noise power estimated from the noise-subspace eigenvalues of
  the sample covariance (never assumed to be 1: real radios have their own scale) and the echo
  power above it; MUSIC (eqs 41-42) per block; with truth the localization error of eq 43 at
  every RAP and the fused position error in metres (the target picked among the peaks by the
  network-known direction when the geometry stream is there, else by the true one: "oracle").

Modules: :mod:`.capture` (reading the capture in coherence blocks), :mod:`.scoring` (the
scores), :mod:`.report` (text and JSON); the ``cfisac replay`` command is
:mod:`gr_cfisac.commands.replay`.
"""

from __future__ import annotations

from .capture import CHUNK, BlockReader
from .report import format_report, jsonable_vector
from .scoring import noise_power, score_capture

__all__ = [
    "CHUNK",
    "BlockReader",
    "format_report",
    "jsonable_vector",
    "noise_power",
    "score_capture",
]
