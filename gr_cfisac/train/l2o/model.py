"""The masked Transformer of paper 002 (Fig. 2, eqs 12-24) and the SAO-lift / SAO stacks
(Fig. 1, eqs 6-11).

One layer maps (H^(t-1), W^(t-1)) to (H^(t), W_0^(t)); :func:`~.ops.ascent` then takes Q
gradient steps on the sum rate of the true masked channel (eq 8). Tokens (eq 13): the user-level
sequence S holds each user's channel row and beam row (2Km tokens of width 2Nm, I/Q
concatenated), the antenna-level sequence T each antenna's channel column and beam column (2Nm
tokens of width 2Km). No positional encoding. Attention masks (eqs 16-18) use the finite
:data:`MASK_VALUE` instead of -inf, so a masked token's row (all entries masked) is a finite
softmax instead of NaN; that output is zeroed (it depends on how the implementation rounds
score + MASK_VALUE) and every update is masked before the token norms, so nothing of a masked
user or antenna reaches an active entry.

Deviations from the paper (its eqs 20-21 concatenate the user and antenna streams token by
token, which pairs user j with antenna j and needs Km = Nm): each stream has its own
aggregation MLP that maps a token back to its row (user stream, width 2Nm) or column (antenna
stream, width 2Km) of the complex matrix, and the two views are summed with one residual of the
input (eq 21 adds S and T, i.e. the input twice); channel and beam tokens get a learned type
embedding; the ascent steps move along the normalized gradient G / ||G||_F (``normalized``;
the raw gradient of eq 8 grows like 1 / sigma^2 where interference is nulled, so one step size
overshoots underloaded blocks or crawls on overloaded ones) with a step size learned per layer
(initialized at ``step_size``); the last layer of every residual branch
starts at zero, so an untrained model is LMMSE followed by the ascent steps. The sample mask is
reapplied to H^(t) as well as W^(t).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from . import ops

#: additive attention mask of masked tokens (eqs 17-18 use -inf; see the module docstring)
MASK_VALUE = -1e9


def attention_mask(tokens: torch.Tensor) -> torch.Tensor:
    """M_U / M_A of eqs 16-18 from a token mask (B, L) of 0/1: (B, L, L), MASK_VALUE where
    token i or token j is masked, else 0."""
    both = tokens[:, :, None] * tokens[:, None, :]
    return (1.0 - both) * MASK_VALUE


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention of eqs 14-15 and 19 with an additive mask; the heads'
    outputs are concatenated (eq 20), their aggregation is the caller's MLP. (B, L, d) ->
    (B, L, d)."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be a multiple of heads={heads}")
        self.heads, self.d_head = heads, d_model // heads
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        split = (B, L, self.heads, self.d_head)
        q, k, v = (f(x).reshape(split).transpose(1, 2) for f in (self.q, self.k, self.v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head) + mask[:, None]
        out = torch.softmax(scores, dim=-1) @ v
        return out.transpose(1, 2).reshape(B, L, d)


class Masks(NamedTuple):
    """Every mask of one batch: M_s of eq 12 (B, Km, Nm), the token masks of the user and
    antenna sequences (B, 2Km), (B, 2Nm) and their attention masks M_U, M_A (eq 16)."""

    sample: torch.Tensor
    tokens_u: torch.Tensor
    tokens_a: torch.Tensor
    attention_u: torch.Tensor
    attention_a: torch.Tensor


def make_masks(users: torch.Tensor, antennas: torch.Tensor, groups: int = 2) -> Masks:
    """Masks of eqs 12 and 16-18 from the user (B, Km) and antenna (B, Nm) masks, for
    ``groups`` token groups per sequence (channel and beam; and gradient)."""
    tokens_u = torch.cat([users] * groups, dim=-1)
    tokens_a = torch.cat([antennas] * groups, dim=-1)
    return Masks(ops.sample_mask(users, antennas), tokens_u, tokens_a,
                 attention_mask(tokens_u), attention_mask(tokens_a))  # fmt: skip


def mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """FC - GELU - FC with the last layer at zero (the residual branch starts as identity)."""
    net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class Stream(nn.Module):
    """One token sequence of Fig. 2: FC + token norm embedding, a type embedding (channel or
    beam token), masked MHSA and the aggregation MLP back to the token width.
    (B, 2L, width) tokens, (B, 2L, 2L) mask, (B, 2L) active tokens -> (B, 2L, width), zero
    on masked tokens."""

    def __init__(self, width: int, d_model: int, heads: int, hidden: int, groups: int = 2):
        super().__init__()
        self.embed = nn.Linear(width, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.kind = nn.Parameter(torch.zeros(groups, d_model))
        self.attention = MaskedSelfAttention(d_model, heads)
        self.aggregate = mlp(d_model, hidden, width)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, active: torch.Tensor
    ) -> torch.Tensor:
        size = tokens.shape[1] // self.kind.shape[0]
        kind = torch.repeat_interleave(self.kind, size, dim=0)  # channel, beam (gradient) tokens
        x = self.norm(self.embed(tokens)) + kind
        # a masked token's softmax row is uniform up to the rounding of MASK_VALUE: zero it
        return self.aggregate(self.attention(x, mask)) * active[:, :, None]


def rows(X: ops.Complex) -> torch.Tensor:
    """(Re, Im) (B, Km, Nm) -> user-level tokens (B, Km, 2Nm)."""
    return torch.cat(X, dim=-1)


def columns(X: ops.Complex) -> torch.Tensor:
    """(Re, Im) (B, Km, Nm) -> antenna-level tokens (B, Nm, 2Km)."""
    return torch.cat([X[0].transpose(-1, -2), X[1].transpose(-1, -2)], dim=-1)


def from_rows(x: torch.Tensor) -> ops.Complex:
    n = x.shape[-1] // 2
    return x[..., :n], x[..., n:]


def from_columns(x: torch.Tensor) -> ops.Complex:
    k = x.shape[-1] // 2
    return x[..., :k].transpose(-1, -2), x[..., k:].transpose(-1, -2)


class MaskedTransformerLayer(nn.Module):
    """F_theta_t of eqs 9-10: (H^(t-1), W^(t-1)) -> (H^(t), W_0^(t)), both masked, W_0 at
    power P (before the ascent steps). ``lift`` False (SAO, eq 11): H^(t) is not computed.
    ``gradient`` (beyond the paper): a third token group holds the sum-rate gradient at
    W^(t-1) (normalized to ||G||_F = 1), as learned optimizers take it."""

    def __init__(
        self, Km: int, Nm: int, d_model: int, heads: int, hidden: int, lift: bool,
        gradient: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.Km, self.Nm, self.lift, self.gradient = Km, Nm, lift, gradient
        groups = 3 if gradient else 2
        self.users = Stream(2 * Nm, d_model, heads, hidden, groups)
        self.antennas = Stream(2 * Km, d_model, heads, hidden, groups)
        self.norm_w = nn.LayerNorm(2 * Nm)
        self.out_w = mlp(2 * Nm, hidden, 2 * Nm)
        if lift:
            self.norm_h = nn.LayerNorm(2 * Nm)
            self.out_h = mlp(2 * Nm, hidden, 2 * Nm)

    def forward(
        self, H: ops.Complex, W: ops.Complex, masks: Masks, G: ops.Complex | None = None
    ) -> tuple[ops.Complex, ops.Complex]:
        Km, Nm = self.Km, self.Nm
        sample = masks.sample
        groups = [H, W] + ([G] if self.gradient else [])
        S = torch.cat([rows(X) for X in groups], dim=1)  # eq 13, (B, 2Km, 2Nm)
        T = torch.cat([columns(X) for X in groups], dim=1)  # (B, 2Nm, 2Km)
        ys = self.users(S, masks.attention_u, masks.tokens_u)
        yt = self.antennas(T, masks.attention_a, masks.tokens_a)
        row_mask = torch.cat([sample, sample], dim=-1)  # rows layout (B, Km, 2Nm)
        # eq 21: both views of the update plus the input, per matrix, masked before the token
        # norm so no masked entry enters an active row's statistics
        yw = (rows(W) + ys[:, Km : 2 * Km] + rows(from_columns(yt[:, Nm : 2 * Nm]))) * row_mask
        w = yw + self.out_w(self.norm_w(yw))  # eqs 22-23
        Wr, Wi = from_rows(w)
        W0 = ops.normalize_power((Wr * sample, Wi * sample))  # eq 24 + sample mask + power
        if not self.lift:
            return H, W0
        yh = (rows(H) + ys[:, :Km] + rows(from_columns(yt[:, :Nm]))) * row_mask
        h = yh + self.out_h(self.norm_h(yh))
        Hr, Hi = from_rows(h)
        return (Hr * sample, Hi * sample), W0


class MTSAO(nn.Module):
    """MT-SAO-lift (``lift`` True, eq 10) or MT-SAO (eq 11): LMMSE start (eq 5) on the masked
    channel, T masked Transformer layers each followed by Q ascent steps (eq 8).

    Inputs as the ONNX graph's: ``channel`` (B, Km, 2Nm) rows [Re f_k^T, Im f_k^T],
    ``users`` (B, Km), ``antennas`` (B, Nm) masks (0/1), ``noise`` sigma^2 (B, 1). ``forward``
    returns the final beamformer (B, Km, 2Nm) rows [Re w_k^T, Im w_k^T]; :meth:`trajectory`
    every W^(t). ``steps`` is Q (``None``: the model's ``q_steps``); ``inverse_iterations``
    the Newton-Schulz steps of the LMMSE start (:func:`~.ops.inverse_iterations`);
    ``normalized`` the ascent rule (:func:`~.ops.ascent`)."""

    def __init__(
        self, Km: int, Nm: int, layers: int, d_model: int, heads: int, hidden: int,
        lift: bool = True, q_steps: int = 5, step_size: float = 3e-4, power: float = 1.0,
        inverse_iterations: int = 30, gradient_tokens: bool = False, normalized: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.Km, self.Nm, self.lift, self.power = Km, Nm, lift, power
        self.normalized = normalized
        self.q_steps, self.inverse_iterations = q_steps, inverse_iterations
        self.gradient_tokens = gradient_tokens
        self.layers = nn.ModuleList(
            MaskedTransformerLayer(Km, Nm, d_model, heads, hidden, lift, gradient_tokens)
            for _ in range(layers)
        )
        self.log_step = nn.Parameter(torch.full((layers,), math.log(step_size)))

    def start(self, channel, users, antennas, noise):
        """Masked channel (eq 12), masks (eqs 16-18) and the LMMSE start W^(0) (eq 5)."""
        masks = make_masks(users, antennas, 3 if self.gradient_tokens else 2)
        H = from_rows(channel)
        H = (H[0] * masks.sample, H[1] * masks.sample)
        W = ops.lmmse(H, users, noise, self.power, self.inverse_iterations)
        return H, W, masks

    def layer(self, t: int, H, aux, W, masks, noise, steps: int):
        """Layer t (0-based): eq 10 then eq 8. Returns (H^(t), W^(t))."""
        G = None
        if self.gradient_tokens:
            G = ops.normalize_power(ops.sum_rate_gradient(H, W, noise))
        aux, W0 = self.layers[t](aux, W, masks, G)
        step = torch.exp(self.log_step[t])
        return aux, ops.ascent(H, W0, noise, steps, step, masks.sample, self.power, self.normalized)

    def trajectory(self, channel, users, antennas, noise, steps: int | None = None, upto=None):
        """[W^(0), W^(1), ..., W^(upto)] as (Re, Im) pairs and the masked channel H."""
        steps = self.q_steps if steps is None else steps
        H, W, masks = self.start(channel, users, antennas, noise)
        aux, out = H, [W]
        for t in range(len(self.layers) if upto is None else upto):
            aux, W = self.layer(t, H, aux, W, masks, noise, steps)
            out.append(W)
        return H, out

    def forward(self, channel, users, antennas, noise, steps: int | None = None) -> torch.Tensor:
        _, Ws = self.trajectory(channel, users, antennas, noise, steps)
        return rows(Ws[-1])
