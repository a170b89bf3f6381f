"""Communication and sensing metrics: SINR (eq 20), SCNR (eq 22), rates (19, 21),
the objective of P1-P3 (eq 23a, on the kappa-rates), the penalized losses (38-40) and
feasibility (Table III).

Noise is unit power at every receiver. W may carry the sensing column (B, N, K+1), with
W[..., 0] = w_0 and W[..., k] = w_k, or user beams only (B, N, K) (MU-MISO precoders).
"""

from __future__ import annotations

import numpy as np


def _check_batch(name: str, x: np.ndarray, ndim: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions (batch first), got shape {x.shape}")
    return x


def _check_same_batch(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray) -> None:
    """Leading (batch) axes must match, or one of them be 1 (broadcast)."""
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(
            f"{a_name} has batch {a.shape[0]} but {b_name} has {b.shape[0]}; pass one "
            "realization's arrays per batch entry (or a batch of 1 to broadcast)"
        )


def _with_sensing_column(W: np.ndarray, K: int) -> np.ndarray:
    """(B, N, K) user beams -> (B, N, K+1) with a zero sensing beam; (B, N, K+1) unchanged."""
    if W.shape[-1] == K + 1:
        return W
    if W.shape[-1] == K:
        return np.concatenate([np.zeros_like(W[..., :1]), W], axis=-1)
    raise ValueError(
        f"W must have K+1={K + 1} columns (sensing beam first) or K={K} user beams, "
        f"got shape {W.shape}"
    )


def sinr(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Linear SINR of eq 20. F: (B, N, K) true channels, W: (B, N, K+1) or (B, N, K) -> (B, K).

    gamma_k = |f_k^H w_k|^2 / (sum_{j != k, j = 0..K} |f_k^H w_j|^2 + 1).
    """
    F = _check_batch("F", F, 3)
    W = _with_sensing_column(_check_batch("W", W, 3), F.shape[-1])
    if F.shape[1] != W.shape[1]:
        raise ValueError(f"F has N={F.shape[1]} rows but W has {W.shape[1]}; they must match")
    _check_same_batch("F", F, "W", W)
    gains = np.abs(np.einsum("bnk,bnj->bkj", F.conj(), W)) ** 2  # (B, K, K+1)
    K = F.shape[-1]
    signal = gains[:, np.arange(K), np.arange(K) + 1]
    return signal / (gains.sum(axis=-1) - signal + 1.0)


def scnr(G_t: np.ndarray, G_c: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Linear SCNR of eq 22 for realized sensing matrices. G_t (B, NR, MR, N),
    G_c (B, NR, NC, MR, N), W (B, N, K+1) or (B, N, K) -> (B, NR).

    gamma_S,j = sum_k tr(G_jt w_k w_k^H G_jt^H) / (sum_c sum_k tr(G_jc w_k w_k^H G_jc^H) + MR).
    Clutter powers add scatterer by scatterer: the cross terms of the coherent sum in eq 18
    vanish on average over the independent RCS fluctuations varpi.
    """
    G_t = _check_batch("G_t", G_t, 4)
    G_c = _check_batch("G_c", G_c, 5)
    W = _check_batch("W", W, 3)
    if G_t.shape[-1] != W.shape[1] or G_c.shape[-1] != W.shape[1]:
        raise ValueError(
            f"G_t/G_c have {G_t.shape[-1]}/{G_c.shape[-1]} columns but W has {W.shape[1]} rows"
        )
    if G_c.shape[1] != G_t.shape[1] or G_c.shape[3] != G_t.shape[2]:
        raise ValueError(
            f"G_t is (B, NR, MR, N) = {G_t.shape} but G_c is {G_c.shape}; G_c must be "
            "(B, NR, NC, MR, N) with the same NR and MR"
        )
    _check_same_batch("G_t", G_t, "G_c", G_c)
    _check_same_batch("G_t", G_t, "W", W)
    MR = G_t.shape[2]
    # the echoes G w_k as batched matrix products (BLAS), not einsum's generic loops
    target = _power(G_t @ W[:, None], axes=(-2, -1))
    clutter = _power(G_c @ W[:, None, None], axes=(-3, -2, -1))
    return target / (clutter + MR)


def _power(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """sum |x|^2 over ``axes``."""
    return (x.real**2 + x.imag**2).sum(axis=axes)


def scnr_averaged(Q_t: np.ndarray, Q_c: np.ndarray, W: np.ndarray, MR: int) -> np.ndarray:
    """varpi-averaged SCNR: eq 22 with E|varpi|^2 = 1 in numerator and denominator.

    Q_t, Q_c (B, NR, N, N) = E[G^H G] (channels.sensing_gram_averaged), W (B, N, K+1) -> (B, NR):
    sum_k w_k^H Q_t w_k / (sum_k w_k^H Q_c w_k + MR). This is what precoders can evaluate.
    """
    W = _check_batch("W", W, 3)
    N = W.shape[1]
    for name, Q in (("Q_t", Q_t), ("Q_c", Q_c)):
        Q = _check_batch(name, Q, 4)
        if Q.shape[-2:] != (N, N) or Q.shape[1] != np.shape(Q_t)[1]:
            raise ValueError(
                f"{name} must be (B, NR, N, N) with N={N} (the rows of W) and the same NR as "
                f"Q_t, got {Q.shape}"
            )
        _check_same_batch(name, Q, "W", W)
    Wc = W.conj()[:, None]  # (B, 1, N, K): sum_k w_k^H Q w_k = sum(conj(W) * (Q W))
    target = (Wc * (np.asarray(Q_t) @ W[:, None])).sum(axis=(-2, -1)).real
    clutter = (Wc * (np.asarray(Q_c) @ W[:, None])).sum(axis=(-2, -1)).real
    return target / (clutter + MR)


def rate(gamma: np.ndarray, kappa: float = 1.0) -> np.ndarray:
    """kappa log2(1 + gamma) (eqs 19, 21)."""
    return kappa * np.log2(1.0 + gamma)


def comm_rates(F: np.ndarray, W: np.ndarray, kappa: float) -> np.ndarray:
    """R_C,k of eq 19: (B, K) in bps/Hz."""
    return rate(sinr(F, W), kappa)


def sensing_rates(G_t: np.ndarray, G_c: np.ndarray, W: np.ndarray, kappa: float) -> np.ndarray:
    """R_S,j of eq 21 for realized G: (B, NR) in bps/Hz."""
    return rate(scnr(G_t, G_c, W), kappa)


#: What ``objective`` returns, for reports (benchmarks, ``cfisac evaluate``) to say which objective.
OBJECTIVE = (
    "eq 23a on the kappa-rates of eqs 19/21: eta sum_k R_C,k + (1 - eta) sum_j R_S,j "
    "(bps/Hz, kappa = (tau_c - tau_p)/tau_c; = -Loss_P3 of eq 40 per realization)"
)


def objective(sinr_c: np.ndarray, scnr_s: np.ndarray, eta: float, kappa: float) -> np.ndarray:
    """The joint objective of eq 23a on the rates of eqs 19/21 (``OBJECTIVE``).
    sinr_c (B, K), scnr_s (B, NR) linear -> (B,):
    eta sum_k kappa log2(1 + gamma_C,k) + (1 - eta) sum_j kappa log2(1 + gamma_S,j).

    The paper prints 23a with log2(1 + gamma) and the kappa in the constraints 23b/23c only, but
    trains on "the negative objective in (23a)" written with the kappa-rates R (eq 40). kappa > 0
    is a constant, so both have the same maximizer; this one is in the bps/Hz of the rates
    reported beside it and equals -loss_joint per realization. eta = 0 is P1's sensing sum (SC),
    eta = 1 P2's communication sum (CC).
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if not 0.0 < kappa <= 1.0:
        raise ValueError(
            f"kappa must be in (0, 1] (kappa = (tau_c - tau_p)/tau_c, SystemConfig.kappa), "
            f"got {kappa}"
        )
    return eta * rate(sinr_c, kappa).sum(-1) + (1 - eta) * rate(scnr_s, kappa).sum(-1)


def loss_sc(Rc: np.ndarray, Rs: np.ndarray, comm_threshold: float, xi: float = 1.0) -> float:
    """Loss of P1, eq 38: -mean[sum_j R_S,j - sum_k xi (min(0, R_C,k - theta_th))^2]."""
    penalty = xi * np.minimum(0.0, Rc - comm_threshold) ** 2
    return float(-np.mean(Rs.sum(-1) - penalty.sum(-1)))


def loss_cc(Rc: np.ndarray, Rs: np.ndarray, sensing_threshold: float, varrho: float = 1.0) -> float:
    """Loss of P2, eq 39: -mean[sum_k R_C,k - sum_j varrho (min(0, R_S,j - zeta_th))^2]."""
    penalty = varrho * np.minimum(0.0, Rs - sensing_threshold) ** 2
    return float(-np.mean(Rc.sum(-1) - penalty.sum(-1)))


def loss_joint(Rc: np.ndarray, Rs: np.ndarray, eta: float) -> float:
    """Loss of P3, eq 40: -mean[eta sum_k R_C,k + (1 - eta) sum_j R_S,j] = -mean(objective)."""
    return float(-np.mean(eta * Rc.sum(-1) + (1 - eta) * Rs.sum(-1)))


def feasibility(rates: np.ndarray, threshold: float, tol: float = 1e-9) -> dict[str, float]:
    """Table III: fraction of realizations meeting every rate >= threshold, and the mean and
    worst violation (bps/Hz) where violation = max over constraints of max(0, threshold - R).
    rates (B, C) -> dict.

    "mean_violation" averages over all realizations (0 where feasible);
    "mean_violation_when_violated" over the infeasible ones only (0 if none), the reading
    Table III's numbers need: there the average exceeds (1 - rate) x worst, which an average
    over all samples cannot.
    """
    violation = np.maximum(0.0, threshold - np.asarray(rates)).max(axis=-1)
    violated = violation > tol
    return {
        "rate": float(np.mean(~violated)),
        "mean_violation": float(np.mean(violation)),
        "mean_violation_when_violated": float(violation[violated].mean())
        if violated.any()
        else 0.0,
        "worst_violation": float(np.max(violation)),
    }


# ---------------------------------------------------------------- measured from samples
def measured_sinr(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SINR from received samples y (..., tau) and the unit-power symbols x (..., tau) sent to
    that user: least-squares gain and unbiased residual power. -> (SINR (...), gain (...))."""
    tau = y.shape[-1]
    g = np.einsum("...t,...t->...", y, x.conj()) / np.einsum("...t,...t->...", x, x.conj()).real
    e = y - g[..., None] * x
    s2 = (np.abs(e) ** 2).sum(-1) / (tau - 1)
    return np.maximum(np.abs(g) ** 2 - s2 / tau, 0.0) / s2, g


def measured_scnr(y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """SCNR from received snapshots y (..., MR, tau) and the target echo in them (same shape):
    ||target||^2 / ||y - target||^2 (clutter plus noise as received)."""
    t = (np.abs(target) ** 2).sum(axis=(-2, -1))
    return t / (np.abs(y - target) ** 2).sum(axis=(-2, -1))


def per_tap_power(W: np.ndarray, NT: int) -> np.ndarray:
    """Transmit power of each TAP, ||W_bar_i||_F^2: W (B, N, K') -> (B, NT)."""
    W = _check_batch("W", W, 3)
    B, N, _ = W.shape
    if N % NT:
        raise ValueError(f"W has N={N} rows, not a multiple of NT={NT}")
    return (np.abs(W.reshape(B, NT, N // NT, -1)) ** 2).sum(axis=(-2, -1))


# Sensing-accuracy bounds live in bounds.py (stochastic CRB of the target angles at a RAP and
# the position-error bound of the fused estimate); re-exported here as DESIGN.md lists them.
from .bounds import position_error_bound, stochastic_crb, stochastic_crb_uv, target_bounds  # noqa: E402

__all__ = [
    "sinr",
    "scnr",
    "scnr_averaged",
    "rate",
    "comm_rates",
    "sensing_rates",
    "objective",
    "OBJECTIVE",
    "loss_sc",
    "loss_cc",
    "loss_joint",
    "feasibility",
    "per_tap_power",
    "stochastic_crb",
    "stochastic_crb_uv",
    "target_bounds",
    "position_error_bound",
]
