"""Squared position error bound (SPEB) of paper 003 (eqs 19-31, appendix A) for direct
localization of one target from the echoes that every BS receives from every BS.

Echo model (eq 7 / eq 16): BS n receives y_n(t) = sum_m alpha_{m,n} a(w_n) a(w_m)^H W_m s(t)
+ noise, with W_m BS m's rows of W (DESIGN's layout, W[..., 0] the sensing beam p^s, W[..., k]
user k's p^c_k: the paper's P of eq 12 with the same column order), a(w) the steering vector
of eq 8 (``geometry.steering``) at the paper's angles w_n = (theta_n, beta_n), unit noise.
Unknowns (appendix A): the angles omega = [theta_1..theta_N, beta_1..beta_N] and the N^2
complex reflection coefficients alpha_{m,n} (deterministic nuisance). The symbols are known
with sample covariance (1/tau) sum_t s s^H = I over ``snapshots`` = tau samples (the paper's
E[s s^H] = I taken exactly), so the FIM is tau times that of one snapshot: SPEB ~ 1/tau.

Stacking the K+1 streams, the mean of BS n's echo is the L x (K+1) matrix M_n = a_n c_n^T with
g_m = a_m^H W_m (BS m's beams toward the target) and c_n = sum_m alpha_{m,n} g_m, and
d mu / d alpha_{m,n} = a_n g_m lives in BS n's block. The EFIM of omega (eq 52) is then

    J_e = (2 tau / sigma^2) Re{ sum_n < dM_n / d omega_i, Pi_n^perp dM_n / d omega_j > },

Pi_n^perp X = X - P_{a_n} X Pi_G, P_a = a a^H / L, Pi_G = G^H (G G^H)^+ G the projector on
the span of the rows g_1..g_N (``form="exact"``, the default): the projector on the orthogonal
complement of the nuisance Jacobian d u / d alpha = A~ P" S" of the appendix, computed blockwise
per receiver with a pseudo-inverse (a BS that sends nothing toward the target leaves its
alpha_{m,.} unidentifiable and G rank deficient). It equals 2 Re{(d mu/d eta)^H (d mu/d eta)}
/ sigma^2 Schur-complemented to omega exactly (tests/test_coisac_speb.py checks it by finite
differences).

Eq 20 as printed (``form="eq20"``): Pi^perp_A~ = I - A~ (A~^H A~)^+ A~^H of eq 21 with the
appendix's pseudo-inverse (eq 21's inverse does not exist: A~^H A~ is N^3 L square of rank N)
is blockdiag_n(I - P_{a_n}) and is applied to each stream separately. That is Pi_G = I above:
the appendix's identity X Y (Y^H X^H X Y)^+ Y^H X^H = X (X^H X)^+ X^H needs Y = P" S" of full
row rank, which it is not, so eq 20 is the EFIM of a larger nuisance set (a free complex
amplitude per receiver and stream), keeps only the receive-angle information and gives an
SPEB >= the exact one. Offered for comparison with the paper.

Shape conventions: eq 16's A(theta, beta) is NL x NL, so eq 18's B(alpha) must be
[alpha_1, ..., alpha_N]^T (x) 1_L 1_L^T (NL x NL, block (n, m) = alpha_{m,n} 1 1^T), not
(x) 1_L (NL x N) as printed: we follow eq 16 (and eq 7); eq 13's alpha_n has N entries
alpha_{1,n}..alpha_{N,n}, not K. ``alpha`` arrays here are (B, N, N) with [b, n, m] =
alpha_{m,n} (receiver first, like ``SensingGeometry.amp_t``).

Position (eqs 28-31): J(t) = Q^T J_e Q with Q = d omega / d t, SPEB = tr(J(t)^{-1}) in m^2.
numpy only; complex128 inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import angle_jacobian, paper_angles, steering_derivatives

FORMS = ("exact", "eq20")
#: singular values of G below this fraction of the largest count as zero in Pi_G
RCOND = 1e-10
#: an information matrix whose eigenvalue ratio falls below this is singular (SPEB = inf)
SINGULAR = 1e-12


@dataclass(frozen=True)
class EchoModel:
    """What the SPEB needs for B blocks: steering vectors ``a`` (B, N, L) from every BS toward
    the target and their derivatives ``da_theta``, ``da_beta`` (B, N, L) (eqs 26-27), the
    reflection coefficients ``alpha`` (B, N, N) ([b, n, m] = alpha_{m,n}) and the Jacobian
    ``Q`` (B, 2N, 3) of eqs 29-31."""

    a: np.ndarray
    da_theta: np.ndarray
    da_beta: np.ndarray
    alpha: np.ndarray
    Q: np.ndarray

    @property
    def batch(self) -> int:
        return self.a.shape[0]

    @property
    def N(self) -> int:
        return self.a.shape[1]

    @property
    def L(self) -> int:
        return self.a.shape[2]


def echo_model(
    bs: np.ndarray, target: np.ndarray, alpha: np.ndarray, Lx: int, Ly: int
) -> EchoModel:
    """The echo model of B blocks: bs (N, 3) m, target (B, 3) m, alpha (B, N, N) complex."""
    bs = np.asarray(bs, float)
    target = np.asarray(target, float)
    if bs.ndim != 2 or bs.shape[1] != 3:
        raise ValueError(f"bs must be (N, 3) positions in m, got shape {bs.shape}")
    if target.ndim != 2 or target.shape[1] != 3:
        raise ValueError(f"target must be (B, 3) positions in m, got shape {target.shape}")
    B, N = target.shape[0], bs.shape[0]
    alpha = np.asarray(alpha, complex)
    if alpha.shape != (B, N, N):
        raise ValueError(
            f"alpha must be (B={B}, N={N}, N={N}) reflection coefficients [b, receiver, "
            f"transmitter], got shape {alpha.shape}"
        )
    theta, beta = paper_angles(bs, target)  # (B, N)
    a, d_theta, d_beta = steering_derivatives(theta, beta, Lx, Ly)
    return EchoModel(a, d_theta, d_beta, alpha, angle_jacobian(bs, target))


def check_beams(model: EchoModel, W: np.ndarray) -> np.ndarray:
    """W as complex128 (B, N L, S), or ValueError naming W and the expected shape."""
    W = np.asarray(W)
    B, N, L = model.a.shape
    if W.ndim != 3 or W.shape[:2] != (B, N * L) or W.shape[2] < 1:
        raise ValueError(
            f"W must be (B={B}, N L={N * L}, K+1) beamformers (sensing beam first, BS-major "
            f"rows), got shape {W.shape}"
        )
    return W.astype(complex)


def toward_target(model: EchoModel, W: np.ndarray) -> np.ndarray:
    """g_m = a_m^H W_m: every BS's streams toward the target, (B, N, S)."""
    W = check_beams(model, W)
    B, N, L = model.a.shape
    return np.einsum("bnl,bnls->bns", model.a.conj(), W.reshape(B, N, L, -1))


def echo_mean(model: EchoModel, W: np.ndarray) -> np.ndarray:
    """Noise-free echo per stream (eq 7 with s = e_j): M (B, N, L, S), M_n = a_n c_n^T."""
    g = toward_target(model, W)
    c = np.einsum("bnm,bms->bns", model.alpha, g)
    return model.a[..., None] * c[:, :, None, :]


def angle_derivatives(model: EchoModel, W: np.ndarray) -> np.ndarray:
    """d M / d omega_i (B, 2N, N, L, S), omega = [theta_1..theta_N, beta_1..beta_N]:
    d M_n / d omega_i = delta_{n i} (d a_n) c_n^T + alpha_{i,n} a_n (d a_i)^H W_i."""
    W = check_beams(model, W)
    B, N, L = model.a.shape
    Wb = W.reshape(B, N, L, -1)
    g = np.einsum("bnl,bnls->bns", model.a.conj(), Wb)
    c = np.einsum("bnm,bms->bns", model.alpha, g)
    idx = np.arange(N)
    parts = []
    for da in (model.da_theta, model.da_beta):
        dg = np.einsum("bil,bils->bis", da.conj(), Wb)  # (d a_i)^H W_i: (B, N, S)
        part = np.einsum("bni,bnl,bis->binls", model.alpha, model.a, dg)  # transmit side
        part[:, idx, idx] += da[..., None] * c[:, :, None, :]  # receive side, n = i
        parts.append(part)
    return np.concatenate(parts, axis=1)


def row_projector(g: np.ndarray) -> np.ndarray:
    """Pi_G = G^H (G G^H)^+ G = G^+ G: projector (B, S, S) on the span of the rows of G."""
    return np.linalg.pinv(g, rcond=RCOND) @ g


def angle_efim(
    model: EchoModel, W: np.ndarray, snapshots: int, noise: float = 1.0, form: str = "exact"
) -> np.ndarray:
    """EFIM J_e(omega) of eq 20 / 52 (module docstring for ``form``): (B, 2N, 2N), omega =
    [theta_1..theta_N, beta_1..beta_N], for tau = ``snapshots`` samples and noise sigma^2."""
    snapshots, noise = check_scale(snapshots, noise)
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS} (module docstring), got {form!r}")
    dM = angle_derivatives(model, W)  # (B, 2N, N, L, S)
    full = np.einsum("binls,bjnls->bij", dM.conj(), dM)
    r = np.einsum("bnl,binls->bins", model.a.conj(), dM) / np.sqrt(model.L)  # a_n^H dM / sqrt L
    if form == "exact":
        r = r @ row_projector(toward_target(model, W))[:, None]
    removed = np.einsum("bins,bjns->bij", r.conj(), r)
    return (2.0 * snapshots / noise) * (full - removed).real


def position_fim(
    model: EchoModel, W: np.ndarray, snapshots: int, noise: float = 1.0, form: str = "exact"
) -> np.ndarray:
    """FIM of the target position, eq 28: Q^T J_e Q (B, 3, 3) in 1/m^2."""
    Je = angle_efim(model, W, snapshots, noise, form)
    return np.swapaxes(model.Q, -1, -2) @ Je @ model.Q


def trace_inverse(J: np.ndarray) -> np.ndarray:
    """tr(J^{-1}) of symmetric PSD matrices (..., p, p) by eigenvalues; inf where J is singular
    (smallest eigenvalue below SINGULAR times the largest, or not positive)."""
    J = np.asarray(J, float)
    lam = np.linalg.eigvalsh(0.5 * (J + np.swapaxes(J, -1, -2)))
    ok = (lam[..., 0] > SINGULAR * np.abs(lam[..., -1])) & (lam[..., -1] > 0)
    return np.where(ok, (1.0 / np.where(ok[..., None], lam, 1.0)).sum(-1), np.inf)


def speb(
    model: EchoModel, W: np.ndarray, snapshots: int, noise: float = 1.0, form: str = "exact"
) -> np.ndarray:
    """SPEB of eq 19, tr(J(t)^{-1}) in m^2: model of B blocks, W (B, N L, K+1) -> (B,).
    Scales as 1 / (snapshots * power); inf where the beams leave the position unidentifiable."""
    return trace_inverse(position_fim(model, W, snapshots, noise, form))


def check_scale(snapshots: int, noise: float) -> tuple[int, float]:
    """(tau, sigma^2) validated: tau a positive integer, sigma^2 positive and finite."""
    if isinstance(snapshots, bool) or not isinstance(snapshots, (int, np.integer)):
        raise ValueError(f"snapshots must be a positive integer (tau), got {snapshots!r}")
    if snapshots < 1:
        raise ValueError(f"snapshots must be a positive integer (tau), got {snapshots}")
    if not (np.isfinite(noise) and noise > 0):
        raise ValueError(f"noise must be positive and finite (sigma^2, 1 in normalized units), "
                         f"got {noise}")  # fmt: skip
    return int(snapshots), float(noise)
