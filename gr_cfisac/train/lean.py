"""Lean inference form of a trained STCIB for ONNX export: the same function in ~40% fewer nodes.

Training uses the readable blocks of layers.py. At batch 1, ONNX Runtime spends most of its time
dispatching ~270 tiny kernels (~0.5 us each, ~1.5 us per small matmul on this machine), so the
export rewrites every block with algebraically equal, precomputed weights (folded in float64,
stored as float32):

- SAB (eq 36): Q/K/V projections and the attention of all heads (eqs 31-33) as one fused
  com.microsoft::Attention node of ONNX Runtime;
- other MABs: K and V of all heads from one matmul, split into heads by one transpose; the key
  bias is dropped (it adds the same value to every score of a query, which the softmax cancels)
  and the value bias moves into the output bias (softmax rows sum to 1);
- constant queries (inducing points, PMA seeds) are projected once, at export;
- tokens flattened to (B*T, d): every linear layer is one Gemm (ORT fuses bias and ReLU);
- the rFF's output bias moves into the first LayerNorm's shift, so "residual + rFF" is one Gemm
  whose C input is the residual;
- the input scale (InputScaling) moves into the embedding LayerNorm's epsilon (LN(c x, e) =
  LN(x, e / c^2)); unit-norm rows ignore it;
- the ZF head's Re/Im bilinear forms are one matmul under a Re/Im mask, its basis rows are
  interleaved ([z_1, j z_1, z_2, ...]), which only permutes rows of M = S S^T + delta I.

:func:`lean_form` returns the module to export, or None for a model it does not cover (the CNN, the
'span' head: they export as traced); tests check lean == original in torch for every variant.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .layers import MAB, PMA, SAB, RowFF, SetLayerNorm, ZeroForcingHead, times_j

_UNIT_EPS = 1e-20


def _const(t: torch.Tensor) -> torch.Tensor:
    """A detached float32 copy (buffers of the lean form)."""
    return t.detach().to(torch.float32).clone()


def _unit(rows: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm (ReduceL2, Clip, Div)."""
    return rows / torch.linalg.vector_norm(rows, dim=-1, keepdim=True).clamp_min(_UNIT_EPS)


class LeanFF(nn.Module):
    """rFF (eq 26) on flattened tokens: relu(x W1^T + b1) W2^T + b2 as two Gemms.
    ``residual``: add it through the second Gemm's C input (then b2 must already be in it)."""

    def __init__(self, rff: RowFF, shift: torch.Tensor | None = None) -> None:
        super().__init__()
        W1, b1 = rff.inner.weight.double(), rff.inner.bias.double()
        if shift is not None:  # inputs arrive as x + shift: compensate in the first bias
            b1 = b1 - W1 @ shift
        self.register_buffer("w1", _const(W1.T))
        self.register_buffer("b1", _const(b1))
        self.register_buffer("w2", _const(rff.outer.weight.T))
        self.register_buffer("b2", _const(rff.outer.bias))

    def forward(self, x2: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        hidden = torch.relu(torch.addmm(self.b1, x2, self.w1))
        return torch.addmm(self.b2 if residual is None else residual, hidden, self.w2)


class LeanTail(nn.Module):
    """What follows the attention in a MAB (eqs 29-30): J = LN(X + att), then LN(J + rFF(J)),
    with the rFF output bias riding in the first LayerNorm's shift (see LeanFF), so the residual
    and the rFF are one Gemm. forward(X + att, (B*m1, d) or (B, m1, d)) -> (B*m1, d)."""

    def __init__(self, mab: MAB) -> None:
        super().__init__()
        self.d = int(mab.norm1.normalized_shape[0])
        b2 = mab.rff.outer.bias.double()
        self.register_buffer("ln1_w", _const(mab.norm1.weight))
        self.register_buffer("ln1_b", _const(mab.norm1.bias.double() + b2))
        self.register_buffer("ln2_w", _const(mab.norm2.weight))
        self.register_buffer("ln2_b", _const(mab.norm2.bias))
        self.eps1, self.eps2 = mab.norm1.eps, mab.norm2.eps
        self.ff = LeanFF(mab.rff, shift=b2)

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        d = self.d
        j = F.layer_norm(pre, (d,), self.ln1_w, self.ln1_b, self.eps1)
        if j.dim() == 3:
            j = j.reshape(-1, d)
        return F.layer_norm(self.ff(j, residual=j), (d,), self.ln2_w, self.ln2_b, self.eps2)


class LeanMAB(nn.Module):
    """MAB (eqs 29-33), MAB(X, Y) = LN(J + rFF(J)), J = LN(X + MultiHead(X, Y, Y)), folded as in
    the module docstring.

    forward(x2 (B*m1, d) queries or None for the constant ``query``, y2 (B*m2, d) keys, m1, m2)
    -> (B*m1, d).
    """

    def __init__(self, mab: MAB, query: torch.Tensor | None = None) -> None:
        super().__init__()
        att = mab.attention
        h, dh = att.heads, att.d_head
        d = h * dh
        self.heads, self.d = h, d
        s = 1.0 / math.sqrt(dh)
        Wq, bq = att.w_q.weight.double(), att.w_q.bias.double()
        Wk = att.w_k.weight.double()
        Wv, bv = att.w_v.weight.double(), att.w_v.bias.double()
        Wo, bo = att.w_o.weight.double(), att.w_o.bias.double()
        w_q, b_q = Wq.T * s, bq * s
        b_att = bo + Wo @ bv  # the value bias passes the softmax (rows sum to 1)
        self.register_buffer("w_kv", _const(torch.cat([Wk.T, Wv.T], dim=1)))  # (d, 2d)
        self.register_buffer("w_o", _const(Wo.T))
        self.tail = LeanTail(mab)
        self.constant_query = query is not None
        if self.constant_query:
            q = query.reshape(-1, d).double()
            self.m1 = int(q.shape[0])
            q_heads = (q @ w_q + b_q).reshape(self.m1, h, dh).transpose(0, 1)
            self.register_buffer("q", _const(q_heads))  # (h, m1, d_h)
            self.register_buffer("residual", _const(q + b_att))
        else:
            self.register_buffer("w_q", _const(w_q))
            self.register_buffer("b_q", _const(b_q))
            self.register_buffer("b_att", _const(b_att))

    def forward(self, x2: torch.Tensor | None, y2: torch.Tensor, m1: int, m2: int) -> torch.Tensor:
        h, d = self.heads, self.d
        dh = d // h
        # keys and values of every head: (B, 2h, m2, d_h), heads split by one transpose
        kv = (y2 @ self.w_kv).reshape(-1, m2, 2 * h, dh).transpose(1, 2)
        k, v = kv.split(h, dim=1)
        if self.constant_query:
            m1 = self.m1
            q = self.q  # (h, m1, d_h)
        else:
            q = torch.addmm(self.b_q, x2, self.w_q).reshape(-1, m1, h, dh).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(2, 3), dim=-1)  # (B, h, m1, m2)
        heads = (p @ v).transpose(1, 2).reshape(-1, m1, d)  # concat_h(head_h), eq 31
        if self.constant_query:
            return self.tail(heads @ self.w_o + self.residual)
        return self.tail(x2 + torch.addmm(self.b_att, heads.reshape(-1, d), self.w_o))


class LeanISAB(nn.Module):
    """ISAB_n (eq 28) = MAB(X, MAB(I, X)) with the inducing points' queries precomputed."""

    def __init__(self, isab) -> None:
        super().__init__()
        self.inducing = int(isab.inducing.shape[1])
        self.summarize = LeanMAB(isab.summarize, query=isab.inducing)
        self.broadcast = LeanMAB(isab.broadcast)

    def forward(self, x2: torch.Tensor, tokens: int) -> torch.Tensor:
        summary = self.summarize(None, x2, 0, tokens)
        return self.broadcast(x2, summary, tokens, self.inducing)


class FusedSelfAttention(torch.autograd.Function):
    """Multi-head self-attention with its Q/K/V projections (eqs 31-33, before W_O), exported as
    one com.microsoft::Attention node of ONNX Runtime. x (B, T, d), weight (d, 3d) = [W_q^T |
    W_k^T | W_v^T], bias (3d,) -> concat_h(head_h) (B, T, d)."""

    @staticmethod
    def forward(ctx, x, weight, bias, heads: int):  # noqa: ARG004 - torch's signature
        B, T, d3 = x.shape[0], x.shape[1], weight.shape[1]
        d = d3 // 3
        qkv = (x @ weight + bias).reshape(B, T, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, d)

    @staticmethod
    def symbolic(g, x, weight, bias, heads: int):
        return g.op("com.microsoft::Attention", x, weight, bias, num_heads_i=heads).setType(
            x.type()
        )


class LeanSAB(nn.Module):
    """SAB (eq 36) = MAB(X, X): attention as one fused ONNX Runtime node, then W_O, the residual,
    LayerNorm and the rFF as Gemms. (B*T, d) -> (B*T, d)."""

    def __init__(self, sab: SAB) -> None:
        super().__init__()
        mab = sab.mab
        att = mab.attention
        self.heads, self.d = att.heads, att.heads * att.d_head
        qkv = [att.w_q, att.w_k, att.w_v]
        self.register_buffer("w_qkv", _const(torch.cat([m.weight.T for m in qkv], dim=1)))
        self.register_buffer("b_qkv", _const(torch.cat([m.bias for m in qkv])))
        self.register_buffer("w_o", _const(att.w_o.weight.T))
        self.register_buffer("b_o", _const(att.w_o.bias))
        self.tail = LeanTail(mab)

    def forward(self, x2: torch.Tensor, tokens: int) -> torch.Tensor:
        d = self.d
        x3 = x2.reshape(-1, tokens, d)
        heads = FusedSelfAttention.apply(x3, self.w_qkv, self.b_qkv, self.heads).reshape(-1, d)
        return self.tail(x2 + torch.addmm(self.b_o, heads, self.w_o))


class LeanPMA(nn.Module):
    """PMA_q (eq 35) = MAB(P_q, rFF(U)) with the seeds' queries precomputed. -> (B*q, d)."""

    def __init__(self, pma: PMA) -> None:
        super().__init__()
        self.ff = LeanFF(pma.rff)
        self.mab = LeanMAB(pma.mab, query=pma.seeds)

    def forward(self, x2: torch.Tensor, tokens: int) -> torch.Tensor:
        return self.mab(None, self.ff(x2), 0, tokens)


class LeanEmbedding(nn.Module):
    """Eqs 24-26 on flattened rows: raw (B, T, 2N) -> (B*T, d); the input scale sits in the
    LayerNorm epsilon for the per-row norm, a set norm keeps its own module."""

    def __init__(self, embed) -> None:
        super().__init__()
        self.scale = embed.scale.factor
        self.set_norm = isinstance(embed.norm, SetLayerNorm)
        self.norm = embed.norm
        if not self.set_norm:
            self.width = int(embed.norm.normalized_shape[0])
            self.eps = embed.norm.eps / self.scale**2
            self.register_buffer("ln_w", _const(embed.norm.weight))
            self.register_buffer("ln_b", _const(embed.norm.bias))
        self.ff = LeanFF(embed.rff)

    def forward(self, rows3: torch.Tensor) -> torch.Tensor:
        if self.set_norm:
            x = self.norm(rows3 * self.scale)
            return self.ff(x.reshape(-1, int(x.shape[2])))
        x = rows3.reshape(-1, self.width)
        return self.ff(F.layer_norm(x, (self.width,), self.ln_w, self.ln_b, self.eps))


class LeanZeroForcingHead(nn.Module):
    """ZeroForcingHead with interleaved basis rows [z_1, j z_1, z_2, ...] and the Re/Im bilinear
    forms as one matmul under a Re/Im mask. forward(tokens (B*R, d), keys (B*J, d), channels
    (B, K, 2N) raw[, sensing (B, S, 2N) raw]) -> rows (B, R, 2N)."""

    def __init__(self, head: ZeroForcingHead, rows: int, keys: int) -> None:
        super().__init__()
        N = head.N
        self.N, self.rows, self.keys = N, rows, keys
        self.delta = head.basis.delta
        self.ff = LeanFF(head.rff)
        self.register_buffer("ij", _const(torch.cat([torch.eye(2 * N), times_j(N)], dim=1)))
        s = head.scale
        self.register_buffer("wq", _const(head.query.weight.double().T * s))
        self.register_buffer("bq", _const(head.query.bias.double() * s))
        self.register_buffer("wk", _const(head.key.weight.T))
        self.register_buffer("bk", _const(head.key.bias))
        parts = torch.arange(2)
        same = (parts.repeat(rows)[:, None] == parts.repeat(keys)[None, :]).float()
        self.register_buffer("same_part", same)  # (2R, 2J): Re with Re, Im with Im

    def _pairs(self, unit_rows: torch.Tensor) -> torch.Tensor:
        """(B, J, 2N) -> (B, 2J, 2N) rows [x_1, j x_1, x_2, j x_2, ...]."""
        return (unit_rows @ self.ij).reshape(-1, 2 * int(unit_rows.shape[1]), 2 * self.N)

    def forward(self, tokens2, keys2, channels, sensing=None) -> torch.Tensor:
        d, R = int(tokens2.shape[1]), self.rows
        S = self._pairs(_unit(channels))
        K2 = int(S.shape[1])
        St = S.transpose(1, 2)
        M = S @ St + self.delta * torch.eye(K2)
        Z = torch.linalg.inv(M) @ S
        basis = _unit(Z)
        free = self.ff(tokens2).reshape(-1, R, 2 * self.N)
        rows = free - (free @ St) @ Z  # the part no user receives
        if sensing is not None:
            scene = _unit(sensing)
            basis = torch.cat([basis, self._pairs(_unit(scene - (scene @ St) @ Z))], dim=1)
        q = torch.addmm(self.bq, tokens2, self.wq).reshape(-1, 2 * R, d)
        k = torch.addmm(self.bk, keys2, self.wk).reshape(-1, 2 * self.keys, d)
        combined = ((q @ k.transpose(1, 2)) * self.same_part) @ basis  # (B, 2R, 2N)
        return rows + combined.reshape(-1, R, 2, 2 * self.N).sum(dim=2)


class LeanSTCIB(nn.Module):
    """STCIB (models.STCIB) in lean form; forward(channels[, sensing][, threshold]) like it."""

    def __init__(self, model) -> None:
        super().__init__()
        self.K, self.N, self.NC = model.K, model.N, model.NC
        self.target_aware = model.target_aware
        self.threshold_input = model.threshold_input
        self.gain_input = model.gain_input
        self.tokens = self.K + (1 + self.NC if self.target_aware else 0)
        self.decoder_kind = model.decoder_kind
        self.outputs = self.K + 1
        self.embed = LeanEmbedding(model.embed)
        self.scale = model.embed.scale.factor
        if self.gain_input:
            self.gain_embedding = model.gain_embedding
        if self.threshold_input:
            self.threshold_embedding = model.threshold_embedding
        if self.target_aware:
            self.register_buffer("types", _const(model.type_embedding(model.token_types)))
            users = (torch.arange(self.tokens) < self.K).float()[:, None]
            self.register_buffer("user_mask", users)  # thresholds reach the user tokens only
        self.encoder = nn.ModuleList([LeanISAB(m) for m in model.encoder])
        self.pool = LeanPMA(model.pool)
        self.decoder = nn.ModuleList([LeanSAB(m) for m in model.decoder])
        if model.head_kind == "zf":
            self.head = LeanZeroForcingHead(model.head, self.outputs, self.tokens)
        else:
            self.head = LeanFF(model.head)
        self.head_kind = model.head_kind
        self.amplitude = model.power.amplitude

    def _tokens(self, rows3, threshold) -> torch.Tensor:
        x2 = self.embed(rows3)
        if not (self.gain_input or self.threshold_input or self.target_aware):
            return x2
        x3 = x2.reshape(-1, self.tokens, int(x2.shape[1]))
        if self.gain_input:
            x3 = x3 + self.gain_embedding(rows3 * self.scale)
        if self.threshold_input:
            if threshold is None:
                raise ValueError("this threshold-conditioned model needs the 'threshold' input")
            t = self.threshold_embedding(threshold)
            x3 = x3 + (t * self.user_mask if self.target_aware else t)
        if self.target_aware:
            x3 = x3 + self.types
        return x3.reshape(-1, int(x3.shape[2]))

    def forward(self, channels, sensing=None, threshold=None) -> torch.Tensor:
        if self.target_aware:
            if sensing is None:
                raise ValueError("this target-aware model needs the 'sensing' input")
            rows3 = torch.cat([channels, sensing], dim=1)
        else:
            rows3 = channels
        T, K, R = self.tokens, self.K, self.outputs
        x2 = self._tokens(rows3, threshold)
        for isab in self.encoder:
            x2 = isab(x2, T)
        d = int(x2.shape[1])
        if self.decoder_kind == "tokens":
            users = x2.reshape(-1, T, d)
            if T > K:
                users = users[:, :K]
            pooled = self.pool(x2, T).reshape(-1, 1, d)
            y2 = torch.cat([pooled, users], dim=1).reshape(-1, d)
        else:
            y2 = self.pool(x2, T)
        for sab in self.decoder:
            y2 = sab(y2, R)
        if self.head_kind == "zf":
            rows = self.head(y2, x2, channels, sensing if self.target_aware else None)
        else:
            rows = self.head(y2).reshape(-1, R, 2 * self.N)
        norm = torch.linalg.vector_norm(rows, dim=(1, 2), keepdim=True)
        return rows * (self.amplitude / norm.clamp_min(1.0))


def lean_form(model: nn.Module) -> nn.Module | None:
    """The lean export form of a trained model, or None where it has none (CNN, 'span' head)."""
    from .models import STCIB

    if not isinstance(model, STCIB) or model.head_kind not in ("zf", "free"):
        return None
    return LeanSTCIB(model).eval()
