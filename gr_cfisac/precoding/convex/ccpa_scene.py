"""One realization of paper 000's ``ccpa`` baseline, scaled to unit power, and what the
precoder may know of it as functions of the covariances Q_k = w_k w_k^H (k = 0 the sensing
beam, 1..K the users): gamma_C,k of eq 20 on the estimates f_hat and gamma_S,j of the
varpi-averaged eq 22 (``metrics.scnr_averaged``, grams Q_t, Q_c), with S = sum_k Q_k

    log(1 + gamma_C,k) = log(sum_j f_k^H Q_j f_k + 1) - log(sum_{j != k} f_k^H Q_j f_k + 1),
    log(1 + gamma_S,j) = log(tr(Q_t,j S) + tr(Q_c,j S) + MR) - log(tr(Q_c,j S) + MR),

the objective of eq 23a and the violation of the regime's floors (23b, 23c). For rank-one Q_k
they are the rates of W (SDR is exact there). numpy only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ... import metrics


@dataclass(frozen=True)
class Scene:
    """One realization scaled to unit power: H (N, K) = sqrt(rho NT) f_hat_k, grams Qt, Qc
    (NR, N, N) x rho NT, the RAP noise term MR, the rate factor kappa, and the floors: regime
    (sc: users, cc: RAPs, joint: none) and threshold (bps/Hz)."""

    H: np.ndarray
    Qt: np.ndarray
    Qc: np.ndarray
    MR: float
    kappa: float
    regime: str = "joint"
    threshold: float | None = None

    def inv_gain(self, margin: float = 0.0) -> float:
        """1 / g, g = 2^((th + margin) / kappa) - 1 the linear SINR/SCNR a floor th asks for
        (0 when g overflows: no finite power meets it)."""
        with np.errstate(over="ignore"):
            g = np.expm1((float(self.threshold) + margin) / self.kappa * math.log(2.0))
        return float(1.0 / g)


def floor_violation(scene: Scene, sinr: np.ndarray, scnr: np.ndarray) -> np.ndarray:
    """Worst violation (bps/Hz, >= 0) of the regime's floors (23c for sc, 23b for cc) by linear
    SINR (..., K) and SCNR (..., NR) -> (...); 0 for joint."""
    if scene.regime == "joint":
        return np.zeros(np.shape(sinr)[:-1])
    rates = metrics.rate(sinr if scene.regime == "sc" else scnr, scene.kappa)
    return np.maximum(float(scene.threshold) - rates, 0.0).max(-1)


def rate_terms(scene: Scene, X: np.ndarray) -> tuple[np.ndarray, ...]:
    """Covariances X (..., K+1, N, N) -> totals T (..., K) and interference I (..., K) of eq 20
    (noise 1 included: log(1 + SINR_k) = log T_k - log I_k), target a and clutter c (..., NR) of
    the varpi-averaged eq 22 (log(1 + SCNR_j) = log(a_j + c_j + MR) - log(c_j + MR))."""
    H = scene.H
    K = H.shape[1]
    gains = np.einsum("nk,...jnm,mk->...kj", H.conj(), X, H).real  # f_k^H X_j f_k
    total = gains.sum(-1) + 1.0
    interference = total - gains[..., np.arange(K), np.arange(K) + 1]
    S = X.sum(-3)
    a = np.einsum("rnm,...mn->...r", scene.Qt, S).real
    c = np.einsum("rnm,...mn->...r", scene.Qc, S).real
    return total, interference, a, c


def relaxed_rates(scene: Scene, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear SINR (eq 20) and varpi-averaged SCNR (eq 22) of covariances X (..., K+1, N, N):
    -> ((..., K), (..., NR)). For X_k = w_k w_k^H they are the rates of W (SDR is exact there)."""
    total, interference, a, c = rate_terms(scene, X)
    return total / interference - 1.0, a / (c + scene.MR)


def relaxed_objective(scene: Scene, X: np.ndarray, eta: float) -> np.ndarray:
    """eq 23a (bps/Hz, kappa-rates; ``metrics.objective``) of covariances X (..., K+1, N, N)."""
    sinr, scnr = relaxed_rates(scene, X)
    return metrics.objective(sinr, scnr, eta, scene.kappa)
