"""Learned precoders: STCIB (paper section V, with our token decoder), its literal PMA_{K+1}
variant, the target-aware STCIB and the CNN baseline (section VII-A.3).

Every model maps ``channels`` (B, K, 2N) raw I/Q rows of F_hat (eq 24) — and, target-aware,
``sensing`` (B, 1+NC, 2N) — to ``beamformer`` (B, K+1, 2N), row 0 the sensing beam w_0 and row k
user k's w_k, after the power layer (37): exactly the ONNX contract of DESIGN.md.

Deviation from the paper (decoder='tokens', the default): the paper's decoder
rFF(SAB(SAB(PMA_{K+1}(U)))) (eq 34) makes K+1 outputs from learned seeds, so it cannot know which
output belongs to which user — permuting the users leaves its output unchanged. Ours keeps the
encoder ISAB_n(ISAB_n(.)) and the SAB/rFF decoder but runs it on [PMA_1(U); U]: the pooled token
gives the sensing beam and user k's encoded token gives w_k, so the model is permutation
equivariant over users. decoder='pma' builds the literal paper decoder for comparison.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..recipe import ModelConfig
from .layers import (
    ISAB,
    PMA,
    SAB,
    GainEmbedding,
    PowerLambda,
    SpanHead,
    ThresholdEmbedding,
    TokenEmbedding,
    ZeroForcingHead,
)

#: token types of the target-aware input set (learned type embedding)
USER, TARGET, CLUTTER = 0, 1, 2


class STCIB(nn.Module):
    """Set Transformer precoder: embedding (24-26), encoder ISAB_n o ISAB_n (27-28), decoder,
    power layer (37). forward(channels (B, K, 2N)[, sensing (B, 1+NC, 2N)]) -> (B, K+1, 2N)."""

    def __init__(
        self,
        K: int,
        N: int,
        power: float,
        input_scale: float,
        model: ModelConfig,
        NC: int = 0,
        threshold_max: float = 1.0,
    ) -> None:
        super().__init__()
        d, h, f = model.d_model, model.heads, model.ff_hidden
        self.K, self.N, self.NC = K, N, NC
        self.decoder_kind = model.decoder
        self.target_aware = model.target_aware
        self.threshold_input = model.threshold_input
        self.gain_input = model.gain_input
        if self.gain_input:
            self.gain_embedding = GainEmbedding(d)
        if self.threshold_input:
            self.threshold_embedding = ThresholdEmbedding(d, threshold_max)
        self.embed = TokenEmbedding(2 * N, d, f, input_scale, model.input_norm)
        if self.target_aware:
            self.type_embedding = nn.Embedding(3, d)
            types = torch.tensor([USER] * K + [TARGET] + [CLUTTER] * NC)
            self.register_buffer("token_types", types, persistent=False)
        self.encoder = nn.Sequential(ISAB(d, h, f, model.inducing), ISAB(d, h, f, model.inducing))
        seeds = 1 if model.decoder == "tokens" else K + 1
        self.pool = PMA(d, h, f, seeds)
        self.decoder = nn.Sequential(SAB(d, h, f), SAB(d, h, f))
        self.head_kind = model.head
        if model.head == "zf":
            self.head = ZeroForcingHead(d, f, N)
        else:
            self.head = SpanHead(d, f, N, model.head)
        self.power = PowerLambda(power)

    def forward(
        self,
        channels: torch.Tensor,
        sensing: torch.Tensor | None = None,
        threshold: torch.Tensor | None = None,
    ) -> torch.Tensor:
        tokens = self.embed(channels)
        if self.gain_input:
            tokens = tokens + self.gain_embedding(self.embed.scale(channels))
        if self.threshold_input:
            if threshold is None:
                raise ValueError("this threshold-conditioned model needs the 'threshold' input")
            tokens = tokens + self.threshold_embedding(threshold)
        if self.target_aware:
            if sensing is None:
                raise ValueError("this target-aware model needs the 'sensing' input")
            scene = self.embed(sensing)
            if self.gain_input:
                scene = scene + self.gain_embedding(self.embed.scale(sensing))
            tokens = torch.cat([tokens, scene], dim=1)
            tokens = tokens + self.type_embedding(self.token_types)
        encoded = self.encoder(tokens)
        if self.decoder_kind == "tokens":
            decoded = self.decoder(torch.cat([self.pool(encoded), encoded[:, : self.K]], dim=1))
            # the pooled token attends over every token; users' outputs stay with their tokens
            decoded = decoded[:, : self.K + 1]
        else:
            decoded = self.decoder(self.pool(encoded))
        if self.head_kind == "zf":
            scaled = self.embed.scale(channels)
            if self.target_aware:
                users, scene = encoded[:, : self.K], encoded[:, self.K :]
                rows = self.head(decoded, users, scaled, self.embed.scale(sensing), scene)
            else:
                rows = self.head(decoded, encoded, scaled)
        elif self.target_aware:  # the span also covers the target and clutter directions
            rows = self.head(decoded, encoded, torch.cat([channels, sensing], dim=1))
        else:
            rows = self.head(decoded, encoded, channels)
        return self.power(rows)


class CNNPrecoder(nn.Module):
    """CNN baseline of section VII-A.3: the same embedding, an encoder of two same-size
    convolutions over the user axis, a transposed convolution adding one row (K -> K+1), a last
    convolution to 2N features, the power layer. Order-dependent by construction.
    (B, K, 2N) -> (B, K+1, 2N), row 0 the sensing beam."""

    def __init__(self, K: int, N: int, power: float, input_scale: float, model: ModelConfig):
        super().__init__()
        c, k = model.cnn_channels, model.cnn_kernel
        pad = k // 2
        self.embed = TokenEmbedding(2 * N, c, model.ff_hidden, input_scale, model.input_norm)
        self.encoder = nn.Sequential(
            nn.Conv1d(c, c, k, padding=pad), nn.ReLU(), nn.Conv1d(c, c, k, padding=pad), nn.ReLU()
        )
        self.upsample = nn.ConvTranspose1d(c, c, kernel_size=2)  # K -> K+1 rows
        self.head_kind = model.head
        if model.head == "zf":  # the same output head as STCIB's, for a like-for-like comparison
            self.out = nn.Conv1d(c, c, k, padding=pad)
            self.head = ZeroForcingHead(c, model.ff_hidden, N)
        elif model.head == "free":
            self.out = nn.Conv1d(c, 2 * N, k, padding=pad)
        else:
            raise ValueError(f"CNN head must be 'free' or 'zf', got {model.head!r}")
        self.power = PowerLambda(power)

    def forward(
        self,
        channels: torch.Tensor,
        sensing: torch.Tensor | None = None,
        threshold: torch.Tensor | None = None,
    ) -> torch.Tensor:
        users = self.embed(channels)  # (B, K, c)
        x = torch.relu(self.upsample(self.encoder(users.transpose(1, 2))))
        rows = self.out(x).transpose(1, 2)  # (B, K+1, 2N) or (B, K+1, c)
        if self.head_kind == "zf":
            rows = self.head(rows, users, self.embed.scale(channels))
        return self.power(rows)


def build_model(
    model: ModelConfig,
    K: int,
    N: int,
    NC: int,
    power: float,
    input_scale: float,
    threshold_max: float = 1.0,
) -> nn.Module:
    """The model a ModelConfig describes, for K users, N = NT MT antennas and NC clutter sources
    (threshold_max: the top of the threshold range of a threshold-conditioned model)."""
    if model.arch == "cnn":
        return CNNPrecoder(K, N, power, input_scale, model)
    return STCIB(K, N, power, input_scale, model, NC, threshold_max)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def input_scale(rho: float) -> float:
    """Factor applied to the raw I/Q inputs inside the graph: sqrt(rho) (see InputScaling)."""
    return math.sqrt(rho)
