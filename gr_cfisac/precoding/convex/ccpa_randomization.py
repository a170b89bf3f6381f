"""Rank one for paper 000's ``ccpa`` baseline: Gaussian randomization of the relaxed
covariances. Every Q_k = U L U^H gives draws w_k = U L^(1/2) z, z ~ CN(0, I), plus the
principal-eigenvector candidate; each candidate W is scaled onto the power sphere (23d with
equality: every rate grows with the scale of W). The best exact objective (eq 23a on eqs 20 and
the varpi-averaged 22) among the candidates that meet the regime's floors (23b / 23c, within
FEAS_TOL) is kept, else the least violating candidate. numpy only."""

from __future__ import annotations

import numpy as np

from ... import metrics
from ..problem import pick_best
from .ccpa_scene import Scene, floor_violation

#: bps/Hz by which a returned W may miss a floor and still count as meeting it (solver tolerance)
FEAS_TOL = 1e-5


def randomize(
    scene: Scene, X: np.ndarray, eta: float, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """Gaussian randomization: the principal-eigenvector candidate and ``draws`` draws
    w_k ~ CN(0, X_k), each on the unit power sphere; the best candidate meeting the floors
    (within FEAS_TOL), else the least violating: (V (N, K+1), exact objective, violation)."""
    lam, U = np.linalg.eigh(X)  # (K+1, N), (K+1, N, N)
    root = U * np.sqrt(np.maximum(lam, 0.0))[:, None, :]
    z = rng.standard_normal((draws,) + lam.shape) + 1j * rng.standard_normal((draws,) + lam.shape)
    cols = np.einsum("knm,dkm->dkn", root, z / np.sqrt(2.0))
    principal = root[None, :, :, -1]  # sqrt(lambda_max) u_max per stream
    V = np.moveaxis(np.concatenate([principal, cols]), -1, -2)  # (1 + draws, N, K+1)
    norm = np.sqrt((np.abs(V) ** 2).sum(axis=(-2, -1), keepdims=True))
    V = V / np.maximum(norm, 1e-300)
    H = np.broadcast_to(scene.H, (len(V),) + scene.H.shape)
    sinr = metrics.sinr(H, V)
    scnr = np.einsum("dnk,rnm,dmk->dr", V.conj(), scene.Qt, V).real / (
        np.einsum("dnk,rnm,dmk->dr", V.conj(), scene.Qc, V).real + scene.MR
    )
    obj = metrics.objective(sinr, scnr, eta, scene.kappa)
    viol = floor_violation(scene, sinr, scnr)
    best = int(pick_best(obj[None], np.maximum(viol - FEAS_TOL, 0.0)[None])[0])
    return V[best], float(obj[best]), float(viol[best])
