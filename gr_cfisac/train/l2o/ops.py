"""Masked MU-MISO operations of paper 002 in torch, complex numbers as (real, imag) pairs (the
ONNX graph has no complex type).

Layout (the paper's): H (B, Km, Nm) with row k = user k's channel f_k^T, W (B, Km, Nm) with row
j = beam w_j^T; user k receives z_kj = f_k^H w_j = sum_n conj(H[k, n]) W[j, n] from beam j.
Masks: ``users`` (B, Km), ``antennas`` (B, Nm) float 0/1; the sample mask of eq 12 is their
outer product. Every function is batched and exportable (matmul and elementwise ops only).
"""

from __future__ import annotations

import math

import torch

Complex = tuple[torch.Tensor, torch.Tensor]
#: guards divisions by a norm of masked (all-zero) rows
EPS = 1e-12
_LOG2 = math.log(2.0)


def sample_mask(users: torch.Tensor, antennas: torch.Tensor) -> torch.Tensor:
    """M_s of eq 12: (B, Km), (B, Nm) -> (B, Km, Nm), 1 where user and antenna are active."""
    return users[:, :, None] * antennas[:, None, :]


def gains(H: Complex, W: Complex) -> Complex:
    """Z = conj(H) W^T: Z[k, j] = f_k^H w_j, (B, Km, Km)."""
    Hr, Hi = H
    Wr, Wi = W
    Wrt, Wit = Wr.transpose(-1, -2), Wi.transpose(-1, -2)
    return Hr @ Wrt + Hi @ Wit, Hr @ Wit - Hi @ Wrt


def _terms(H: Complex, W: Complex, noise: torch.Tensor):
    zr, zi = gains(H, W)
    P = zr * zr + zi * zi
    eye = torch.eye(P.shape[-1], dtype=P.dtype, device=P.device)
    I = (P * (1.0 - eye)).sum(-1) + noise  # summed directly: T - |z_kk|^2 cancels in float32
    T = I + torch.diagonal(P, dim1=-2, dim2=-1)
    return zr, zi, T, I


def sum_rate(H: Complex, W: Complex, noise: torch.Tensor) -> torch.Tensor:
    """Eq 3 in bps/Hz: (B,). ``noise`` sigma^2 (B, 1). Masked users (zero rows of H) add 0."""
    _, _, T, I = _terms(H, W, noise)
    return ((torch.log(T) - torch.log(I)) / _LOG2).sum(-1)


def sum_rate_gradient(H: Complex, W: Complex, noise: torch.Tensor) -> Complex:
    """Closed-form 2 dR/dW* of eq 3 (= (dR/dRe W, dR/dIm W)): G = (2 / ln 2) (C o Z)^T H with
    C[k, j] = 1 / T_k - [k != j] / I_k (T_k total received power + sigma^2, I_k interference +
    sigma^2). Zero on masked rows and columns when H and W are masked."""
    zr, zi, T, I = _terms(H, W, noise)
    eye = torch.eye(zr.shape[-1], dtype=zr.dtype, device=zr.device)
    C = (1.0 / T)[:, :, None] - (1.0 - eye) * (1.0 / I)[:, :, None]
    Ar, Ai = (C * zr).transpose(-1, -2), (C * zi).transpose(-1, -2)
    Hr, Hi = H
    scale = 2.0 / _LOG2
    return scale * (Ar @ Hr - Ai @ Hi), scale * (Ar @ Hi + Ai @ Hr)


def normalize_power(W: Complex, power: float = 1.0) -> Complex:
    """W scaled to ||W||_F^2 = power (eq 8's second line)."""
    Wr, Wi = W
    norm2 = (Wr * Wr + Wi * Wi).sum(dim=(-2, -1), keepdim=True)
    scale = math.sqrt(power) * torch.rsqrt(norm2 + EPS)
    return Wr * scale, Wi * scale


def ascent(
    H: Complex, W: Complex, noise: torch.Tensor, steps: int, step_size: float, mask: torch.Tensor,
    power: float = 1.0, normalized: bool = False,
) -> Complex:  # fmt: skip
    """G_Q of eq 8: ``steps`` gradient-ascent steps on the sum rate of the masked channel H, each
    followed by the power normalization; the sample mask keeps inactive entries at zero.
    ``normalized``: each step moves by ``step_size`` sqrt(P) along G / ||G||_F instead of
    ``step_size`` G (the raw gradient grows like 1 / sigma^2 where interference is nulled, so a
    raw step that suits an overloaded K overshoots an underloaded one)."""
    Wr, Wi = W
    for _ in range(steps):
        Gr, Gi = sum_rate_gradient(H, (Wr, Wi), noise)
        if normalized:
            Gr, Gi = normalize_power((Gr, Gi), power)
        Wr, Wi = normalize_power(
            ((Wr + step_size * Gr) * mask, (Wi + step_size * Gi) * mask), power
        )
    return Wr, Wi


def inverse_iterations(size: int, snr_db_max: float, tol: float = 1e-9) -> int:
    """Newton-Schulz iterations that invert sigma^2 I + (P / K) H H^H to ``tol`` for any masked
    channel of ``size`` antennas at SNR up to ``snr_db_max`` (condition number at most
    kappa = 1 + size SNR, given ||H||_F^2 <= K size for CN(0, 1) entries up to ~3x)."""
    kappa = 1.0 + 3.0 * size * 10.0 ** (snr_db_max / 10.0)
    return int(math.ceil(math.log2(kappa * math.log(1.0 / tol) / 2.0))) + 1


def spd_inverse(A: torch.Tensor, low: torch.Tensor, high: torch.Tensor, iterations: int):
    """Inverse of symmetric positive definite A (B, n, n) with eigenvalues in [low, high]
    (B, 1, 1) by Newton-Schulz, X <- X (2I - A X) from X = 2 I / (low + high): the error
    I - A X squares every step. Plain matmuls, so torch and ONNX Runtime follow the same
    arithmetic (a LAPACK inverse and ONNX Runtime's differ by ~kappa * 1e-7 in float32)."""
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    X = eye * (2.0 / (low + high))
    for _ in range(iterations):
        X = X @ (2.0 * eye - A @ X)
    return X


def lmmse(
    H: Complex, users: torch.Tensor, noise: torch.Tensor, power: float = 1.0,
    iterations: int = 30,
) -> Complex:  # fmt: skip
    """LMMSE initialization of eq 5 on the masked channel H (B, Km, Nm): rows
    w_k = sqrt(P / K) x_k / ||x_k||, X = (sigma^2 I + (P / K) H H^H)^{-1} H, K the active users
    (eq 5 prints I_N: sigma^2 = 1; the numpy twin is :func:`gr_cfisac.mumiso.lmmse`). The complex
    Km x Km inverse is the real 2Km x 2Km block inverse [[Ar, -Ai], [Ai, Ar]]^-1, by
    :func:`spd_inverse` (eigenvalues within [sigma^2, sigma^2 + (P / K) ||H||_F^2]) with
    ``iterations`` from :func:`inverse_iterations`, in float64 (also in the ONNX graph: with a
    condition number up to 1 + Nm SNR a float32 inverse is only good to ~1e-4, and torch and
    ONNX Runtime would round differently). Masked users' rows are zero."""
    dtype = H[0].dtype
    Hr, Hi = H[0].double(), H[1].double()
    users, noise = users.double(), noise.double()
    Km = Hr.shape[-2]
    k = users.sum(-1).clamp(min=1.0)[:, None, None]  # (B, 1, 1)
    c = power / k
    Mr = Hr @ Hr.transpose(-1, -2) + Hi @ Hi.transpose(-1, -2)  # H H^H
    Mi = Hi @ Hr.transpose(-1, -2) - Hr @ Hi.transpose(-1, -2)
    eye = torch.eye(Km, dtype=Hr.dtype, device=Hr.device)
    sigma2 = noise[:, :, None]
    Ar = sigma2 * eye + c * Mr
    Ai = c * Mi
    block = torch.cat([torch.cat([Ar, -Ai], -1), torch.cat([Ai, Ar], -1)], -2)
    high = sigma2 + c * (Hr * Hr + Hi * Hi).sum(dim=(-2, -1), keepdim=True)
    X = spd_inverse(block, sigma2, high, iterations) @ torch.cat([Hr, Hi], -2)
    Xr, Xi = X[:, :Km], X[:, Km:]
    norm = torch.sqrt((Xr * Xr + Xi * Xi).sum(-1, keepdim=True) + EPS)
    scale = torch.sqrt(c) / norm * users[:, :, None]
    return (Xr * scale).to(dtype), (Xi * scale).to(dtype)
