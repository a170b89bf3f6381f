"""Rank-one extraction of paper 003's ``sca_speb`` (problem 32): Gaussian randomization from the
relaxed covariances Q_k = p_k p_k^H (k = 0 the sensing beam p^s, 1..K the users) back to one
beam per stream.

Rank one. Per stream w_k ~ CN(0, Q_k) (``draws``, seeded) plus the principal eigenvectors
(``candidates``); each candidate's BS rows are scaled to that BS's budget (``per_bs_scale``);
the best sum rate among candidates whose SPEB (exact form) is <= gamma is kept. If none meets
it, the best candidate is blended toward the min-SPEB beam p* (``speb_program.min_speb_point``),
p^s = sqrt(1-t) p^s + sqrt(t) p*, users times sqrt(1-t), on the grid BLEND of t, and the
smallest t that meets gamma is kept (met = False only if even t = 1 fails). numpy only;
complex128."""

from __future__ import annotations

import math

import numpy as np

from ...coisac import rates as crates
from .speb_scene import Scene

#: blend grid of the fallback toward the min-SPEB beam
BLEND = np.linspace(0.0, 1.0, 21)[1:]


def per_bs_scale(scene: Scene, W: np.ndarray) -> np.ndarray:
    """Candidates W (D, NL, K+1) with every BS's rows scaled to its budget (silent BSs stay)."""
    used = crates.per_bs_power(W, scene.N)  # (D, N)
    s = np.where(used > 0, np.sqrt(scene.power / np.maximum(used, 1e-300)), 0.0)
    D, NL, S = W.shape
    return (W.reshape(D, scene.N, -1, S) * s[:, :, None, None]).reshape(D, NL, S)


def candidates(X: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """The principal-eigenvector beams and ``draws`` draws w_k ~ CN(0, Q_k): (1+draws, NL, K+1)."""
    lam, U = np.linalg.eigh(X)
    root = U * np.sqrt(np.maximum(lam, 0.0))[:, None, :]
    z = rng.standard_normal((draws,) + lam.shape) + 1j * rng.standard_normal((draws,) + lam.shape)
    cols = np.einsum("knm,dkm->dkn", root, z / math.sqrt(2.0))
    return np.moveaxis(np.concatenate([root[None, :, :, -1], cols]), -1, -2)


def extract(
    scene: Scene, X: np.ndarray, gamma: float, w_min: np.ndarray, draws: int, seed: int
) -> tuple[np.ndarray, float, float, bool]:
    """Rank-one W (NL, K+1) from covariances X (module docstring) -> (W, sum rate, SPEB, met)."""
    W = per_bs_scale(scene, candidates(X, draws, np.random.default_rng(seed)))
    F = np.broadcast_to(scene.F, (len(W),) + scene.F.shape)
    rate = crates.sum_rate(F, W)
    sp = scene.speb(W)
    ok = sp <= gamma
    if ok.any():
        best = int(np.argmax(np.where(ok, rate, -np.inf)))
        return W[best], float(rate[best]), float(sp[best]), True
    Wb = W[int(np.argmax(rate))]
    blends = np.stack([Wb * math.sqrt(1 - t) for t in BLEND])
    blends[:, :, 0] += np.sqrt(BLEND)[:, None] * w_min[None]
    blends = crates.normalize_per_bs(blends, scene.power, scene.N)
    sp = scene.speb(blends)
    ok = sp <= gamma
    i = int(np.argmax(ok)) if ok.any() else int(np.argmin(sp))
    rate_i = float(crates.sum_rate(F[:1], blends[i : i + 1])[0])
    return blends[i], rate_i, float(sp[i]), bool(ok.any())
