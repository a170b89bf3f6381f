"""Calibration from a SigMF capture (``cfisac calibrate``): every RAP's recorded echoes of one
source in a known direction -> the RAP's corrections (:func:`gr_cfisac.calibration.estimate`),
with MUSIC's one-source error in that direction before and after as the check. numpy only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibration import Calibration, Corrector, RapCalibration, dominance, estimate
from .config import SystemConfig
from .music import estimate as music_estimate
from .sigmf_io import read_capture

#: a capture whose strongest source is less dominant than this (eigenvalue ratio) gets a warning
MIN_DOMINANCE_DB = 10.0


@dataclass(frozen=True)
class RapResult:
    """One RAP's calibration: blocks used, dominance (dB), MUSIC's error (deg) before/after."""

    rap: int
    blocks: int
    dominance_db: float
    error_before_deg: float
    error_after_deg: float


def direction_error_deg(
    psi: np.ndarray, theta: np.ndarray, psi0: float, theta0: float
) -> np.ndarray:
    """Angle (degrees) between directions (psi, theta) and (psi0, theta0), radians in."""

    def unit(p, t):
        return np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1)

    c = np.sum(unit(psi, theta) * unit(psi0, theta0), axis=-1)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def music_error_deg(Y: np.ndarray, rows: int, cols: int, psi0: float, theta0: float) -> float:
    """RMS angle error (deg) of MUSIC's one-source estimate over blocks Y (B, M, tau)."""
    res = music_estimate(Y, rows, cols, n_sources=1, n_peaks=1)
    err = direction_error_deg(res.angles[:, 0, 0], res.angles[:, 0, 1], psi0, theta0)
    err = err[np.isfinite(err)]
    return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")


def corrected(Y: np.ndarray, rap: RapCalibration) -> np.ndarray:
    """Blocks Y (B, M, tau) through a RAP's Corrector, block by block (filters restarted)."""
    out = np.empty_like(Y)
    for b in range(Y.shape[0]):
        c = Corrector(rap.gain, rap.delay_samples)
        out[b] = c(Y[b].T).T
    return out


def calibrate_capture(
    path: str | os.PathLike,
    directions_deg: list[tuple[float, float]],
    raps: list[int] | None = None,
    delays: bool = True,
    config: SystemConfig | None = None,
    max_blocks: int | None = None,
) -> tuple[Calibration, list[RapResult], list[str]]:
    """Corrections for the RAPs recorded in capture ``path`` (rap_echo recordings).

    ``directions_deg``: the source's (psi, theta) in degrees at every RAP calibrated, one for
    all or one per RAP in order; ``raps``: 1-based RAPs to calibrate (default every one
    recorded). Returns the calibration, one :class:`RapResult` per RAP and warnings.
    """
    coll = read_capture(path)
    cfg = config or coll.config
    recs = coll.by_kind("rap_echo")
    if not recs:
        raise ValueError(
            f"{path}: no RAP echo recordings (cfisac:stream kind rap_echo) to calibrate from; "
            "record the RAP side (the radio RAP flowgraph's capture, preset rap)"
        )
    if cfg is None:
        raise ValueError(f"{path}: the capture records no SystemConfig (cfisac:config)")
    rows, cols = cfg.MR_shape
    by_rap = {int(r.stream.get("index", 0)) + 1: r for r in recs}
    chosen = sorted(by_rap) if not raps else list(raps)
    missing = [j for j in chosen if j not in by_rap]
    if missing:
        raise ValueError(f"--raps: RAP {missing} not recorded in {path}; it has {sorted(by_rap)}")
    if len(directions_deg) not in (1, len(chosen)):
        raise ValueError(
            f"--direction: give one direction for every RAP or one per RAP ({len(chosen)}), "
            f"got {len(directions_deg)}"
        )
    dirs = directions_deg * len(chosen) if len(directions_deg) == 1 else directions_deg
    out: dict[int, RapCalibration] = {}
    results, warnings = [], []
    for j, (psi_deg, theta_deg) in zip(chosen, dirs):
        rec = by_rap[j]
        _, blocks = rec.block_samples()
        if max_blocks:
            blocks = blocks[:max_blocks]
        if len(blocks) == 0:
            raise ValueError(f"{path}: RAP {j}'s recording holds no whole coherence block")
        Y = np.transpose(blocks, (0, 2, 1)).astype(np.complex128)  # (B, MR, tau)
        psi, theta = np.radians(psi_deg), np.radians(theta_deg)
        dom = 10 * np.log10(dominance(Y))
        if dom < MIN_DOMINANCE_DB:
            warnings.append(
                f"RAP {j}: the strongest source is only {dom:.1f} dB above the next (eigenvalue "
                f"ratio); calibration assumes one dominant source in the given direction"
            )
        gain, delay = estimate(Y, psi, theta, rows, cols, delays=delays)
        info = {"direction_deg": [float(psi_deg), float(theta_deg)], "blocks": int(len(Y))}
        cal = RapCalibration(j, gain, delay, info)
        before = music_error_deg(Y, rows, cols, psi, theta)
        after = music_error_deg(corrected(Y, cal), rows, cols, psi, theta)
        out[j] = cal
        results.append(RapResult(j, len(Y), float(dom), before, after))
    info = {
        "capture": str(Path(path)),
        "sample_rate_hz": recs[0].sample_rate,
        "created_by": "cfisac calibrate",
    }
    return Calibration((rows, cols), out, info), results, warnings
