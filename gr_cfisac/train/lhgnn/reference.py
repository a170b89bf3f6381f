"""Classical reference beams for the coisac scenario (numpy only): ZF or MRT user beams plus a
target beam per BS with a fraction of every BS's power, scaled to meet eq 32b. Used for the
stand-in SPEB threshold gamma (until the SCA optimizer of precoding/convex/ sets it, as the
paper does) and as the validation baseline at the same SPEB."""

from __future__ import annotations

import numpy as np

from ...coisac import CoisacBatch, per_bs_power, sum_rate
from ...precoding import mrt, zf

USERS = ("zf", "mrt")


def target_beam_baseline(batch: CoisacBatch, fraction: float, users: str = "zf") -> np.ndarray:
    """W (B, N L, K+1): column 0 = sqrt(fraction P_n / L) a_n on every BS n (toward the
    target), user columns = ``users`` beams scaled so that the fullest BS spends
    (1 - fraction) P_n on them (the ZF / MRT directions are kept)."""
    if users not in USERS:
        raise ValueError(f"users must be one of {USERS}, got {users!r}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    cfg, P = batch.cfg, batch.cfg.power
    B, N, L = batch.batch, cfg.N, cfg.L
    U = (zf if users == "zf" else mrt)(batch.F, 1.0)
    U = U * np.sqrt((1.0 - fraction) * P / per_bs_power(U, N).max(-1))[:, None, None]
    a = batch.sensing.aT_t.reshape(B, N * L)
    beam = np.sqrt(fraction * P / L) * a
    return np.concatenate([beam[..., None], U], -1)


def fraction_for_speb(batch: CoisacBatch, gamma: float, users: str = "zf") -> float:
    """The smallest target-beam fraction whose mean SPEB over ``batch`` is <= gamma (bisection;
    1.0 if even all power on the target misses it)."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if np.mean(batch.speb(target_beam_baseline(batch, mid, users))) <= gamma:
            hi = mid
        else:
            lo = mid
    return hi


def evaluate(batch: CoisacBatch, W: np.ndarray, gamma: float) -> dict[str, float]:
    """Validation numbers of beams W on ``batch``: mean sum rate (bps/Hz), mean and median
    SPEB (m^2), the share of blocks with SPEB <= gamma, the largest per-BS power / P_n."""
    s = batch.speb(W)
    return {
        "sum_rate": float(np.mean(sum_rate(batch.F, W))),
        "speb_mean_m2": float(np.mean(s)),
        "speb_median_m2": float(np.median(s)),
        "speb_satisfied": float(np.mean(s <= gamma * (1 + 1e-6))),
        "max_power_ratio": float(per_bs_power(W, batch.cfg.N).max() / batch.cfg.power),
    }


def fraction_for_satisfaction(
    batch: CoisacBatch, gamma: float, share: float, users: str = "zf"
) -> float:
    """The smallest target-beam fraction with SPEB <= gamma on at least ``share`` of the blocks
    (bisection; 1.0 if even all power on the target misses it)."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if np.mean(batch.speb(target_beam_baseline(batch, mid, users)) <= gamma) >= share:
            hi = mid
        else:
            lo = mid
    return hi
