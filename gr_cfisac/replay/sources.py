"""Every source MUSIC sees at one RAP over a capture, and how steadily it sees it.

A foreign capture has no ground truth and no network geometry: the honest report is the list of
directions that keep producing peaks (target and clutter alike), each with the share of valid
blocks it appears in and its spread, so a user can tell a steady scatterer from noise and pick
the target (``--target-deg``) or mark the clutter (``--clutter-map``). numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import angles_from_uv, canonical_angles, direction_cosines
from ..localization import separation

#: Peaks closer than this are linked into one source (radians).
LINK_RADIUS = np.radians(1.5)
#: Sources seen in fewer valid blocks than this share, or than MIN_BLOCKS blocks, are summed
#: up as sporadic: a direction seen once is not a steady scatterer.
MIN_SHARE = 0.05
MIN_BLOCKS = 3


def source_tracks(
    peaks: np.ndarray, valid: np.ndarray, radius: float = LINK_RADIUS
) -> tuple[list[dict[str, Any]], int]:
    """Group one RAP's peaks over blocks into sources.

    peaks (B, n, 2) [psi, theta] radians (NaN = no peak), valid (B,) blocks whose peaks count.
    Peaks within ``radius`` of each other are linked, and a source is a connected group
    (single linkage: a weak scatterer whose peaks wander over a few degrees stays one source;
    sources that close are not resolved by the array anyway). Returns (sources, sporadic):
    sources seen in >= MIN_SHARE of the valid blocks (and >= MIN_BLOCKS), most steady first, each {psi_deg,
    theta_deg (median direction), share, spread_deg (RMS angle to it), mean_rank (1 =
    strongest peak)}; sporadic = the number of peaks in rarer groups.
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    peaks = np.asarray(peaks, dtype=float)
    valid = np.asarray(valid, dtype=bool)
    n_valid = int(valid.sum())
    block, rank = np.nonzero(valid[:, None] & np.all(np.isfinite(peaks), axis=-1))
    if not n_valid or not block.size:
        return [], 0
    psi, theta = peaks[block, rank, 0], peaks[block, rank, 1]
    u, v = direction_cosines(psi, theta)
    xyz = np.stack([u, v, np.sqrt(np.maximum(0.0, 1 - u**2 - v**2))], axis=-1)
    chord = 2 * np.sin(radius / 2)  # the straight distance of unit vectors `radius` apart
    links = cKDTree(xyz).sparse_distance_matrix(cKDTree(xyz), chord, output_type="coo_matrix")
    _, group = connected_components(links, directed=False)
    sources, sporadic = [], 0
    for g in np.unique(group):
        members = group == g
        seen = np.unique(block[members]).size
        share = seen / n_valid
        if share < MIN_SHARE or seen < MIN_BLOCKS:
            sporadic += int(members.sum())
            continue
        c_psi, c_theta = median_direction(psi[members], theta[members])
        spread = separation(psi[members], theta[members], c_psi, c_theta)
        sources.append(
            {
                "psi_deg": float(np.degrees(c_psi)),
                "theta_deg": float(np.degrees(c_theta)),
                "share": float(share),
                "spread_deg": float(np.degrees(np.sqrt(np.mean(spread**2)))),
                "mean_rank": float(np.mean(rank[members]) + 1),
            }
        )
    sources.sort(key=lambda s: (-s["share"], s["mean_rank"]))
    return sources, sporadic


def median_direction(psi: np.ndarray, theta: np.ndarray) -> tuple[float, float]:
    """Median of directions in direction cosines (u, v), back to canonical (psi, theta)."""
    u, v = direction_cosines(psi, theta)
    p, t = angles_from_uv(np.median(u), np.median(v))
    p, t = canonical_angles(p, t)
    return float(p), float(t)
