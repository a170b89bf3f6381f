"""Named layers mirroring the STCIB paper's blocks (section V), each usable and testable alone.

Shapes: sets are (B, T, d) float tensors, T tokens of width d. Every set layer here is
permutation equivariant over T (no positional encoding, eq 29-36), except pooling layers whose
outputs come from learned seeds (invariant) — see :class:`PMA`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class InputScaling(nn.Module):
    """Multiply raw inputs by a fixed factor inside the graph.

    The core's channel coefficients are ~1e-5 (pathloss), below LayerNorm's epsilon; the factor
    (sqrt(rho), so the scaled values are per-antenna received SNR amplitudes) lives in the graph and
    in the model card, so the ONNX input stays in the core's raw units (DESIGN.md).
    """

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class RowFF(nn.Module):
    """Row-wise feed-forward rFF (eq 26): the same two-layer ReLU MLP on every token.
    (B, T, d_in) -> (B, T, d_out)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__()
        self.inner = nn.Linear(d_in, d_hidden)
        self.outer = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(torch.relu(self.inner(x)))


class SetLayerNorm(nn.Module):
    """LayerNorm over a whole set (B, T, d): one mean and variance per set, affine per feature.

    Keeps the users' relative channel strengths (a per-token LayerNorm removes each user's gain)
    and stays permutation equivariant. (B, T, d) -> (B, T, d).
    """

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(-2, -1), keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=(-2, -1), keepdim=True)
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias


class TokenEmbedding(nn.Module):
    """Pre-processing of eqs 24-26: scaled I/Q rows -> LayerNorm (25) -> rFF (26).
    (B, T, 2N) raw -> (B, T, d). ``norm`` 'token' normalizes each row (the usual reading of
    eq 25), 'set' the whole set (:class:`SetLayerNorm`)."""

    def __init__(
        self, d_in: int, d_model: int, d_hidden: int, scale: float, norm: str = "token"
    ) -> None:
        super().__init__()
        if norm not in ("token", "set"):
            raise ValueError(f"norm must be 'token' or 'set', got {norm!r}")
        self.scale = InputScaling(scale)
        self.norm = nn.LayerNorm(d_in) if norm == "token" else SetLayerNorm(d_in)
        self.rff = RowFF(d_in, d_hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rff(self.norm(self.scale(x)))


class MultiHead(nn.Module):
    """Multi-head attention of eqs 31-33 with h heads, d_head = d / h and the 1/sqrt(d_head)
    scaling. Q (B or 1, m1, d), K = V (B, m2, d) -> (B, m1, d).

    Set sizes are read as Python ints, so the exported graph reshapes with constants (the batch
    axis as -1) instead of computing shapes at run time; a query without batch (learned inducing
    points or seeds, (1, m1, d)) broadcasts over the batch, so its projection is constant-folded.
    """

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be a multiple of heads={heads}")
        self.heads = heads
        self.d_head = d_model // heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor, tokens: int) -> torch.Tensor:
        return x.reshape(-1, tokens, self.heads, self.d_head).transpose(1, 2)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        m1, m2, d = int(query.shape[1]), int(keys.shape[1]), int(query.shape[2])
        q = self._split(self.w_q(query), m1) * (1.0 / math.sqrt(self.d_head))
        k = self._split(self.w_k(keys), m2)
        v = self._split(self.w_v(keys), m2)
        heads = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v  # (B, h, m1, d_head), eq 33
        return self.w_o(heads.transpose(1, 2).reshape(-1, m1, d))  # concat + W_O, eq 31


class MAB(nn.Module):
    """Multihead attention block, eqs 29-30: J = LN(X + MultiHead(X, Y, Y)), MAB = LN(J + rFF(J)).
    X (B or 1, m1, d), Y (B, m2, d) -> (B, m1, d)."""

    def __init__(self, d_model: int, heads: int, d_hidden: int) -> None:
        super().__init__()
        self.attention = MultiHead(d_model, heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.rff = RowFF(d_model, d_hidden, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        j = self.norm1(x + self.attention(x, y))
        return self.norm2(j + self.rff(j))


class SAB(nn.Module):
    """Set attention block, eq 36: SAB(V) = MAB(V, V). (B, T, d) -> (B, T, d), equivariant."""

    def __init__(self, d_model: int, heads: int, d_hidden: int) -> None:
        super().__init__()
        self.mab = MAB(d_model, heads, d_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mab(x, x)


class ISAB(nn.Module):
    """Induced set attention block, eq 28: ISAB_n(F) = MAB(F, MAB(I, F)) with n learned inducing
    points I. (B, T, d) -> (B, T, d), equivariant, O(T n)."""

    def __init__(self, d_model: int, heads: int, d_hidden: int, inducing: int) -> None:
        super().__init__()
        self.inducing = nn.Parameter(torch.empty(1, inducing, d_model))
        nn.init.xavier_uniform_(self.inducing)
        self.summarize = MAB(d_model, heads, d_hidden)
        self.broadcast = MAB(d_model, heads, d_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.broadcast(x, self.summarize(self.inducing, x))


class PMA(nn.Module):
    """Pooling by multihead attention, eq 35: PMA_q(U) = MAB(P_q, rFF(U)) with q learned seeds.
    (B, T, d) -> (B, q, d), invariant to the order of the T tokens."""

    def __init__(self, d_model: int, heads: int, d_hidden: int, seeds: int) -> None:
        super().__init__()
        self.seeds = nn.Parameter(torch.empty(1, seeds, d_model))
        nn.init.xavier_uniform_(self.seeds)
        self.rff = RowFF(d_model, d_hidden, d_model)
        self.mab = MAB(d_model, heads, d_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mab(self.seeds, self.rff(x))


class ThresholdEmbedding(nn.Module):
    """A rate threshold as an input (beyond the paper): Linear(t / t_max) added to every token,
    so one model serves every threshold. threshold (B, 1) bps/Hz -> (B, 1, d)."""

    def __init__(self, d_model: int, t_max: float) -> None:
        super().__init__()
        self.t_max = float(t_max)
        self.linear = nn.Linear(1, d_model)

    def forward(self, threshold: torch.Tensor) -> torch.Tensor:
        return self.linear(threshold * (1.0 / self.t_max)).unsqueeze(1)


class GainEmbedding(nn.Module):
    """Each token's strength as a feature (beyond the paper): the per-row LayerNorm of eq 25 removes
    a user's channel gain, which power allocation needs (weak users need more power to meet a rate
    threshold). Linear(log10 ||x||^2 / 10) added to the token. scaled rows (B, T, 2N) -> (B, T, d)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1, d_model)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        energy = (rows * rows).sum(-1, keepdim=True)
        return self.linear(torch.log10(energy + 1e-12) * 0.1)


class PowerLambda(nn.Module):
    """The power layer of eq 37: W = Z if ||Z||_F^2 <= rho NT, else sqrt(rho NT) Z / ||Z||_F.

    The network's raw output is first multiplied by sqrt(rho NT) (in the card as output_scale), so
    a raw Frobenius norm of 1 is the full budget. (B, K+1, 2N) -> (B, K+1, 2N); the I/Q rows make
    ||Z||_F of the real tensor equal ||W||_F of the complex beamformer.
    """

    def __init__(self, power: float) -> None:
        super().__init__()
        self.power = float(power)
        self.amplitude = math.sqrt(self.power)

    def forward(self, z_raw: torch.Tensor) -> torch.Tensor:
        norm = torch.sqrt((z_raw * z_raw).sum(dim=(-2, -1), keepdim=True) + 1e-12)
        return z_raw * (self.amplitude / torch.clamp(norm, min=1.0))


class SpanHead(RowFF):
    """Output rows from tokens, optionally in the span of the users' channel estimates.

    'free' (the paper, eq 34's last rFF): row r = rFF(z_r). 'span' (our option): row r =
    rFF(z_r) + sum_j a_rj f_j / ||f_j||, with complex coefficients a_rj = <P z_r, Q e_j> (two
    bilinear forms, for Re and Im) between output token z_r and input j's encoded token e_j. The
    optimal MU-MISO beams lie in the span of the channels (ZF, RZF, WMMSE all do), so the network
    learns (K+1) x J coefficients instead of regressing 2N-dim beams; it stays permutation
    equivariant. Inputs j are the users (and, target-aware, the sensing tokens, so the target
    direction is in the span too). tokens (B, R, d), inputs (B, J, d), rows (B, J, 2N) -> (B, R, 2N).
    """

    def __init__(self, d_model: int, d_hidden: int, N: int, kind: str = "free") -> None:
        super().__init__(d_model, d_hidden, 2 * N)  # the free rFF part (same weights as RowFF)
        if kind not in ("free", "span"):
            raise ValueError(f"head must be 'free' or 'span', got {kind!r}")
        self.kind = kind
        self.N = N
        if kind == "span":
            self.query = nn.Linear(d_model, 2 * d_model)
            self.key = nn.Linear(d_model, 2 * d_model)
            self.scale = 1.0 / math.sqrt(d_model)

    def forward(
        self, tokens: torch.Tensor, users: torch.Tensor, channels: torch.Tensor
    ) -> torch.Tensor:
        rows = super().forward(tokens)
        if self.kind == "free":
            return rows
        d = int(tokens.shape[2])
        q, k = self.query(tokens), self.key(users)
        a_re = (q[..., :d] @ k[..., :d].transpose(1, 2)) * self.scale  # (B, R, K)
        a_im = (q[..., d:] @ k[..., d:].transpose(1, 2)) * self.scale
        unit = channels * torch.rsqrt((channels * channels).sum(-1, keepdim=True) + 1e-12)
        f_re, f_im = unit[..., : self.N], unit[..., self.N :]
        span = torch.cat([a_re @ f_re - a_im @ f_im, a_re @ f_im + a_im @ f_re], dim=-1)
        return rows + span


def _unit_rows(rows: torch.Tensor) -> torch.Tensor:
    """Each I/Q row scaled to unit norm. (..., 2N) -> (..., 2N)."""
    return rows * torch.rsqrt((rows * rows).sum(-1, keepdim=True) + 1e-12)


def times_j(N: int) -> torch.Tensor:
    """The real (2N, 2N) matrix J with [Re x, Im x] J = [Re(j x), Im(j x)] = [-Im x, Re x]."""
    eye = torch.eye(N)
    zero = torch.zeros(N, N)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


class ZeroForcingBasis(nn.Module):
    """Regularized zero-forcing directions and the null-space projector of the users' estimates,
    in the real I/Q form of the rows (no complex tensors in the graph).

    A complex combination sum_k c_k f_k is the real combination of the 2K real rows
    S = [F~; j F~] (unit-norm user rows and the same rows times j), so with
    M = S S^T + delta I (= [[Re G, -Im G], [Im G, Re G]] for the Gram G = F~^H F~; one 2K x 2K
    inverse, exported as com.microsoft::Inverse of ONNX Runtime):
      Z = M^{-1} S      rows z_k (k < K) are the (R)ZF directions, f~_j^H z_k ~ 0 for j != k, and
                        rows K + k are j z_k;
      P v = (v S^T) Z   the projection onto span(F~); v - P v is what no user receives.
    Permutation equivariant over users. forward(rows (B, K, 2N)) -> (Z unit rows (B, 2K, 2N),
    projector callable on (B, R, 2N)).
    """

    def __init__(self, N: int, delta: float = 1e-4) -> None:
        super().__init__()
        self.delta = float(delta)
        self.register_buffer("j", times_j(N), persistent=False)

    def forward(self, rows: torch.Tensor):
        unit = _unit_rows(rows)
        S = torch.cat([unit, unit @ self.j], dim=1)  # (B, 2K, 2N)
        K2 = int(S.shape[1])
        M = S @ S.transpose(1, 2) + self.delta * torch.eye(K2, dtype=rows.dtype)
        Z = torch.linalg.inv(M) @ S

        def project_out(v: torch.Tensor) -> torch.Tensor:
            """(I - P) v for rows v (B, R, 2N): the part no user receives."""
            return v - (v @ S.transpose(1, 2)) @ Z

        return _unit_rows(Z), project_out


class ZeroForcingHead(nn.Module):
    """Output rows = the interference-free part of rFF(z_r) plus a learned combination of the
    users' ZF directions: w_r = P_perp rFF(z_r) + sum_k a_rk z_k (+ sum_c b_rc P_perp s_c, the
    sensing tokens' directions, for target-aware models). Every beam is thereby split into what the
    users receive (only through the ZF directions, weighted by the learned complex a_rk = bilinear
    forms of tokens, as in :class:`SpanHead`) and what they do not; any beam is representable
    (C^N = span(F) + null(F^H)). tokens (B, R, d), users (B, K, d), channels (B, K, 2N) scaled,
    sensing (B, S, 2N) scaled or None, sensing_tokens (B, S, d) or None -> (B, R, 2N).
    """

    def __init__(self, d_model: int, d_hidden: int, N: int) -> None:
        super().__init__()
        self.N = N
        self.rff = RowFF(d_model, d_hidden, 2 * N)
        self.basis = ZeroForcingBasis(N)
        self.query = nn.Linear(d_model, 2 * d_model)
        self.key = nn.Linear(d_model, 2 * d_model)
        self.scale = 1.0 / math.sqrt(d_model)

    def _coefficients(self, tokens: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """[Re a | Im a] (B, R, 2J): a_rj = <P z_r, Q e_j> for Re and Im (two bilinear forms)."""
        d = int(tokens.shape[2])
        q, k = self.query(tokens), self.key(keys)
        a_re = q[..., :d] @ k[..., :d].transpose(1, 2)
        a_im = q[..., d:] @ k[..., d:].transpose(1, 2)
        return torch.cat([a_re, a_im], dim=-1) * self.scale

    def forward(
        self,
        tokens: torch.Tensor,
        users: torch.Tensor,
        channels: torch.Tensor,
        sensing: torch.Tensor | None = None,
        sensing_tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        z, project_out = self.basis(channels)  # rows [z_1..z_K, j z_1..j z_K]
        rows = project_out(self.rff(tokens))
        keys, K = users, int(users.shape[1])
        if sensing is not None:
            keys = torch.cat([users, sensing_tokens], dim=1)
            u = _unit_rows(project_out(_unit_rows(sensing)))  # null-space scene directions
            z = torch.cat([z[:, :K], u, z[:, K:], u @ self.basis.j], dim=1)
        # complex combination: [Re a | Im a] @ [basis; j basis]
        return rows + self._coefficients(tokens, keys) @ z
