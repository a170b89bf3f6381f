"""SAO-ISAC of paper 002, section IV (Fig. 9, Algorithm 2): joint communication W and sensing
F beamforming for the monostatic scenario of :mod:`gr_cfisac.mono_isac`, fixed K, N, M.

Layout as :mod:`.ops`: H (B, K, N) rows f_k^T, W (B, K, N) rows w_k^T, F as rows of F^T
(B, N, N: row j is column j of F). Targets enter as s_m = |beta_m| sqrt(N) a(theta_m)
(B, M, N) rows, so ||G_m X||_F^2 = sum_j |s_m^H x_j|^2 (eq 26 is rank one): the sensing SNR of
eq 27 is (sum_k |s_m^H w_k|^2 + sum_j |s_m^H f_j|^2) / sigma_z^2.

Layer t (eqs 32-35): a communication block CB_t (a masked-Transformer layer of :mod:`.model` on
(H^(t-1), W^(t-1)), all users and antennas active) and a sensing block SB_t (the same layer on
(G^(t-1), F^(t-1)), G^(0) = sum_m G_m), then Q ascent steps on the sum rate with the radar
signal as interference (eq 33, W at power P_c) and on the sensing barrier (eq 35, F at power
P_s). P_c = P0 sigmoid(p_t), P_s = P0 - P_c, p_t learned per layer (eq 31's power split).
Start: LMMSE W (eq 5) and the targets' beam projected onto the users' null space.

Barrier (eq 30): lambda_s sum_m b(SNR_m / gamma_s - 1) with b = log above ``BARRIER_EPS`` and
its tangent line below (finite and steep where a target misses its floor, so training starts
from infeasible points; the paper's log is -inf there). Ascent steps follow normalized
gradients (as :func:`.ops.ascent`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import ops
from .model import MaskedTransformerLayer, from_rows, make_masks, rows

BARRIER_EPS = 1e-2


def barrier(slack: torch.Tensor) -> torch.Tensor:
    """log(slack) above BARRIER_EPS, its tangent below (C1, finite)."""
    safe = torch.clamp(slack, min=BARRIER_EPS)
    return torch.where(
        slack >= BARRIER_EPS,
        torch.log(safe),
        math.log(BARRIER_EPS) + (slack - BARRIER_EPS) / BARRIER_EPS,
    )


def barrier_slope(slack: torch.Tensor) -> torch.Tensor:
    return 1.0 / torch.clamp(slack, min=BARRIER_EPS)


def radar_power(H: ops.Complex, F: ops.Complex) -> torch.Tensor:
    """||f_k^H F||^2 (B, K): the sensing signal each user hears (eq 28)."""
    zr, zi = ops.gains(H, F)
    return (zr * zr + zi * zi).sum(-1)


def sensing_snr(S: ops.Complex, W: ops.Complex, F: ops.Complex, radar_noise) -> torch.Tensor:
    """SNR_m^s of eq 27 (B, M) from the target rows S."""
    return (radar_power(S, W) + radar_power(S, F)) / radar_noise


def sum_rate(H, W, F, noise) -> torch.Tensor:
    """Sum rate of (29a) (log2) with the sensing signal as interference: (B,)."""
    return ops.sum_rate(H, W, noise + radar_power(H, F))


def objective(H, S, W, F, noise, radar_noise, gamma, weight) -> torch.Tensor:
    """Eq 30 with the finite barrier: sum rate + lambda_s sum_m b(SNR_m / gamma - 1): (B,)."""
    slack = sensing_snr(S, W, F, radar_noise) / gamma - 1.0
    return sum_rate(H, W, F, noise) + weight * barrier(slack).sum(-1)


def sensing_gradient(S, W, F, radar_noise, gamma) -> ops.Complex:
    """2 d/dF* of sum_m b(SNR_m / gamma - 1) (eq 35): 2 (C o Z)^T S with Z[m, j] = s_m^H f_j
    and C[m, j] = b'(slack_m) / (gamma sigma_z^2)."""
    slack = sensing_snr(S, W, F, radar_noise) / gamma - 1.0
    c = barrier_slope(slack) / (gamma * radar_noise)  # (B, M)
    zr, zi = ops.gains(S, F)  # (B, M, N)
    Ar, Ai = (c[:, :, None] * zr).transpose(-1, -2), (c[:, :, None] * zi).transpose(-1, -2)
    Sr, Si = S
    return 2.0 * (Ar @ Sr - Ai @ Si), 2.0 * (Ar @ Si + Ai @ Sr)


def _step(X: ops.Complex, G: ops.Complex, size: torch.Tensor, power: torch.Tensor) -> ops.Complex:
    Gr, Gi = ops.normalize_power(G)
    Xr, Xi = X[0] + size * torch.sqrt(power) * Gr, X[1] + size * torch.sqrt(power) * Gi
    return scale_to((Xr, Xi), power)


def scale_to(X: ops.Complex, power: torch.Tensor) -> ops.Complex:
    """X at ||X||_F^2 = power (B, 1, 1)."""
    Xr, Xi = ops.normalize_power(X)
    return Xr * torch.sqrt(power), Xi * torch.sqrt(power)


def nullspace_start(H: ops.Complex, S: ops.Complex, iterations: int = 30) -> ops.Complex:
    """F^(0) rows: P_perp A A^H P_perp^H (A the targets' rows), unit norm, P_perp the projector
    onto the users' null space, (H H^H)^{-1} by Newton-Schulz in float64 (K x K)."""
    dtype = H[0].dtype
    Hr, Hi = H[0].double(), H[1].double()
    K = Hr.shape[-2]
    # F_c^H F_c = conj(H) H^T = conj(H H^H): real part Mr, imaginary part -Mi
    Mr = Hr @ Hr.transpose(-1, -2) + Hi @ Hi.transpose(-1, -2)
    Mi = Hr @ Hi.transpose(-1, -2) - Hi @ Hr.transpose(-1, -2)
    block = torch.cat([torch.cat([Mr, -Mi], -1), torch.cat([Mi, Mr], -1)], -2)
    eye = torch.eye(2 * K, dtype=block.dtype, device=block.device)
    scale = (Hr * Hr + Hi * Hi).sum(dim=(-2, -1), keepdim=True)
    inv = ops.spd_inverse(block + 1e-9 * scale * eye, 1e-9 * scale, 1.0001 * scale, iterations)
    Sr, Si = S[0].double(), S[1].double()
    # projection of each target row a^T: a - H^T (conj(H) H^T)^-1 conj(H) a, in rows form
    zr, zi = ops.gains(H=(Hr, Hi), W=(Sr, Si))  # Z[k, m] = f_k^H a_m (conj(H) A^T)
    y = inv @ torch.cat([zr, zi], -2)  # (B, 2K, M)
    yr, yi = y[:, :K], y[:, K:]
    Pr = Sr - (yr.transpose(-1, -2) @ Hr - yi.transpose(-1, -2) @ Hi)
    Pi = Si - (yr.transpose(-1, -2) @ Hi + yi.transpose(-1, -2) @ Hr)
    # F = sum_m p_m p_m^H; its rows (F^T) = sum_m conj(p_m) p_m^T
    Fr = Pr.transpose(-1, -2) @ Pr + Pi.transpose(-1, -2) @ Pi
    Fi = Pr.transpose(-1, -2) @ Pi - Pi.transpose(-1, -2) @ Pr
    Fr, Fi = ops.normalize_power((Fr, Fi))
    return Fr.to(dtype), Fi.to(dtype)


class SAOISAC(nn.Module):
    """SAO-ISAC (module docstring). forward(channel (B, K, 2N), targets (B, M, 2N), noise,
    radar_noise, gamma (B, 1) each) -> (beamformer (B, K, 2N), sensing (B, N, 2N)) rows;
    :meth:`trajectory` every (W^(t), F^(t))."""

    def __init__(
        self, K: int, N: int, layers: int, d_model: int, heads: int, hidden: int,
        q_steps: int = 5, step_size: float = 0.01, comm_share: float = 0.8, power: float = 1.0,
        inverse_iterations: int = 30,
    ) -> None:  # fmt: skip
        super().__init__()
        self.K, self.N, self.power, self.q_steps = K, N, power, q_steps
        self.inverse_iterations = inverse_iterations
        self.comm = nn.ModuleList(
            MaskedTransformerLayer(K, N, d_model, heads, hidden, True) for _ in range(layers)
        )
        self.sense = nn.ModuleList(
            MaskedTransformerLayer(N, N, d_model, heads, hidden, True) for _ in range(layers)
        )
        logit = math.log(comm_share / (1.0 - comm_share))
        self.split = nn.Parameter(torch.full((layers,), logit))
        self.log_step_w = nn.Parameter(torch.full((layers,), math.log(step_size)))
        self.log_step_f = nn.Parameter(torch.full((layers,), math.log(step_size)))

    def powers(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        pc = self.power * torch.sigmoid(self.split[t])
        return pc, self.power - pc

    def start(self, channel, targets, noise):
        B = channel.shape[0]
        ones_k = torch.ones(B, self.K, dtype=channel.dtype, device=channel.device)
        ones_n = torch.ones(B, self.N, dtype=channel.dtype, device=channel.device)
        H, S = from_rows(channel), from_rows(targets)
        masks_c, masks_s = make_masks(ones_k, ones_n), make_masks(ones_n, ones_n)
        W = ops.lmmse(H, ones_k, noise, 1.0, self.inverse_iterations)
        F = nullspace_start(H, S, self.inverse_iterations)
        # G^(0) = sum_m G_m up to the unknown phases of beta: sum_m s_m s_m^H, in rows form
        Gr = S[0].transpose(-1, -2) @ S[0] + S[1].transpose(-1, -2) @ S[1]
        Gi = S[0].transpose(-1, -2) @ S[1] - S[1].transpose(-1, -2) @ S[0]
        G = ops.normalize_power((Gr, Gi), float(self.N))  # token scale like a channel
        pc, ps = self.powers(0)
        return H, S, G, scale_to(W, pc), scale_to(F, ps), (masks_c, masks_s)

    def layer(self, t, H, S, aux_h, aux_g, W, F, masks, noise, radar_noise, gamma, steps):
        """Eqs 32-35 for layer t: -> (H^(t), G^(t), W^(t), F^(t))."""
        pc, ps = self.powers(t)
        aux_h, W0 = self.comm[t](aux_h, W, masks[0])
        aux_g, F0 = self.sense[t](aux_g, F, masks[1])
        W, F = scale_to(W0, pc), scale_to(F0, ps)
        sw, sf = torch.exp(self.log_step_w[t]), torch.exp(self.log_step_f[t])
        for _ in range(steps):  # eq 33: the rate with F^(t-1)'s interference; eq 35: barrier
            W = _step(W, ops.sum_rate_gradient(H, W, noise + radar_power(H, F)), sw, pc)
        for _ in range(steps):
            F = _step(F, sensing_gradient(S, W, F, radar_noise, gamma), sf, ps)
        return aux_h, aux_g, W, F

    def trajectory(self, channel, targets, noise, radar_noise, gamma, steps=None, upto=None):
        steps = self.q_steps if steps is None else steps
        H, S, G, W, F, masks = self.start(channel, targets, noise)
        out, aux_h, aux_g = [(W, F)], H, G
        for t in range(len(self.comm) if upto is None else upto):
            aux_h, aux_g, W, F = self.layer(
                t, H, S, aux_h, aux_g, W, F, masks, noise, radar_noise, gamma, steps
            )
            out.append((W, F))
        return H, S, out

    def forward(self, channel, targets, noise, radar_noise, gamma, steps=None):
        _, _, out = self.trajectory(channel, targets, noise, radar_noise, gamma, steps)
        W, F = out[-1]
        return rows(W), rows(F)
