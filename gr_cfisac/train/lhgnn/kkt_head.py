"""A structured output layer for the LHGNN family (``head: kkt``; ours, not paper 003's, whose
link outputs are the beams themselves): the network outputs the multipliers of problem 32's
stationarity condition and the beams follow from them in closed form.

Stationarity of the Lagrangian of problem 32 (sum rate, per-BS power mu_n, SPEB <= gamma, user
weights lambda_k) gives (sum_j lambda_j h_j h_j^H + D_mu - G) w_k ∝ h_k, where G is the SPEB's
gradient in R = W W^H, which lives on every BS's target subspace T_n = span{a_n, da_n / dtheta,
da_n / dbeta} = span{a_n, i_x a_n, i_z a_n} (eq 8's UPA: the derivatives are the element indices
times a_n). By Woodbury the same beams are

    w_k = A^{-1} (sum_n beta_kn h_kn + T c_k),   w_0 = A^{-1} T c_0,
    A = sum_k lambda_k h_k h_k^H + blockdiag(mu_n I_L)   (positive definite),

with per-link complex beta_kn and c_kn (3 per BS) and positive lambda_k (mean over BSs of the
link outputs' softplus) and mu_n (the sensing link's). The layer reads them from the first 9
entries of each link output (7 of the sensing link's), builds T_n from the sensing input a_n,
and applies A^{-1} with one 2K x 2K inverse (Woodbury on the rank-2K real form), exported as
ONNX Runtime's com.microsoft::Inverse. Real I/Q arithmetic throughout; any K. Eq 50's per-BS
normalization follows, as for the paper's output.
"""

from __future__ import annotations

import torch
from torch import nn

#: link outputs read: lambda (1), beta (2), c (6); the sensing link's: mu (1), c_0 (6) at 3:9
LINK_PARAMS = 9
#: floors that keep A positive definite and the 2K x 2K matrix of Woodbury invertible
LAMBDA_FLOOR, MU_FLOOR = 1e-3, 1e-2


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x), stably, from ops ONNX Runtime has in float64 (its Softplus is float32 only)."""
    return torch.relu(x) + torch.log(1.0 + torch.exp(-x.abs()))


def cmul(xr: torch.Tensor, xi: torch.Tensor, sr: torch.Tensor, si: torch.Tensor):
    """(xr + j xi)(sr + j si) in real parts."""
    return xr * sr - xi * si, xr * si + xi * sr


def combine(cr: torch.Tensor, ci: torch.Tensor, Tr: torch.Tensor, Ti: torch.Tensor):
    """sum_m c_m T_m for complex c (..., Q, 3) and basis T (..., 3, L) -> (..., Q, L)."""
    return cr @ Tr - ci @ Ti, cr @ Ti + ci @ Tr


def stacked(xr: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """Per-BS vectors (B, N, Q, L) -> stacked real vectors (B, Q, 2 N L) = [Re; Im] over BSs."""
    B, N, Q, L = xr.shape

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 1, 3).reshape(B, Q, N * L)

    return torch.cat([flat(xr), flat(xi)], -1)


def diagonal(d: torch.Tensor) -> torch.Tensor:
    """(B, n) -> (B, n, n) diagonal matrices (the identity built from d's shape: any n in ONNX,
    where diag_embed has no export)."""
    idx = torch.ones_like(d[0]).cumsum(0)
    return (idx[:, None] == idx[None, :]).to(d.dtype) * d[:, None, :]


def woodbury_rows(
    X: torch.Tensor, U: torch.Tensor, weights: torch.Tensor, d_inv: torch.Tensor
) -> torch.Tensor:
    """Rows of X A^{-1} for A = U^T diag(weights) U + D, D diagonal positive (Woodbury: one
    r x r inverse for r rows of U). X (B, Q, n), U (B, r, n), weights (B, r) > 0, d_inv
    (B, 1, n) the diagonal of D^{-1} -> (B, Q, n)."""
    XD, UD = X * d_inv, U * d_inv
    M = diagonal(1.0 / weights) + UD @ U.transpose(1, 2)
    return XD - ((XD @ U.transpose(1, 2)) @ torch.linalg.inv(M)) @ UD


class KKTHead(nn.Module):
    """The layer of the module docstring for Lx x Ly UPAs. forward(o (B, N, K+1, 2L) link
    outputs, column 0 the sensing link's; comm (B, N, K, 2L) the scaled channel rows; sensing
    (B, N, 2L) the steering vectors) -> beams (B, N, K+1, 2L), [Re w, Im w] per BS."""

    def __init__(self, Lx: int, Ly: int) -> None:
        super().__init__()
        if 2 * Lx * Ly < LINK_PARAMS:
            raise ValueError(f"head kkt needs 2 L >= {LINK_PARAMS} link outputs, got L = {Lx * Ly}")
        idx = torch.arange(Lx * Ly, dtype=torch.float32)
        ix, iz = idx % Lx, torch.div(idx, Lx, rounding_mode="floor")  # element i_x + Lx i_z
        self.register_buffer("ix", (ix - ix.mean()) / Lx, persistent=False)
        self.register_buffer("iz", (iz - iz.mean()) / Ly, persistent=False)
        self.L = Lx * Ly

    def basis(self, sensing: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """T_n = [a_n, i_x a_n, i_z a_n], unit columns: (B, N, 3, L) real and imaginary parts."""
        L = self.L
        ar, ai = sensing[..., :L], sensing[..., L:]
        Tr = torch.stack([ar, ar * self.ix, ar * self.iz], 2)
        Ti = torch.stack([ai, ai * self.ix, ai * self.iz], 2)
        scale = torch.rsqrt((Tr * Tr + Ti * Ti).sum(-1, keepdim=True) + 1e-12)
        return Tr * scale, Ti * scale

    def forward(self, o: torch.Tensor, comm: torch.Tensor, sensing: torch.Tensor) -> torch.Tensor:
        """In float64 (the inverse of a float32 graph would cost ONNX parity), cast back."""
        dtype = o.dtype
        o, comm, sensing = o.double(), comm.double(), sensing.double()
        return self.beams(o, comm, sensing).to(dtype)

    def beams(self, o: torch.Tensor, comm: torch.Tensor, sensing: torch.Tensor) -> torch.Tensor:
        """w_k = A^{-1} (sum_n beta_kn h_kn + T c_k) and w_0 = A^{-1} T c_0 (module docstring)."""
        B, N, A, _ = o.shape
        L = self.L
        hr, hi = comm[..., :L], comm[..., L:]  # (B, N, K, L)
        Tr, Ti = self.basis(sensing)
        link, sens = o[:, :, 1:], o[:, :, 0]
        lam = softplus(link[..., 0]).mean(1) + LAMBDA_FLOOR  # (B, K)
        mu = softplus(sens[..., 0]) + MU_FLOOR  # (B, N)
        vr, vi = cmul(hr, hi, link[..., 1:2], link[..., 2:3])  # beta_kn h_kn
        tr, ti = combine(link[..., 3:6], link[..., 6:9], Tr, Ti)  # T_n c_kn
        s0r, s0i = combine(sens[..., None, 3:6], sens[..., None, 6:9], Tr, Ti)  # T_n c_0n
        X = stacked(torch.cat([s0r, vr + tr], 2), torch.cat([s0i, vi + ti], 2))  # (B, K+1, 2NL)
        # A = U^T diag(lambda, lambda) U + D (rows of U: r_k = [Re h_k; Im h_k] and j r_k)
        U = torch.cat([stacked(hr, hi), stacked(-hi, hr)], 1)  # (B, 2K, 2NL)
        d_inv = (1.0 / mu)[:, :, None].expand(B, N, L).reshape(B, 1, N * L)
        d_inv = torch.cat([d_inv, d_inv], -1)  # (B, 1, 2NL): D^{-1}
        W = woodbury_rows(X, U, torch.cat([lam, lam], 1), d_inv)  # A^{-1} x
        NL = N * L
        Wr = W[..., :NL].reshape(B, A, N, L).permute(0, 2, 1, 3)
        Wi = W[..., NL:].reshape(B, A, N, L).permute(0, 2, 1, 3)
        return torch.cat([Wr, Wi], -1)
