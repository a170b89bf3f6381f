"""The LHGNN of paper 003 (eqs 33-50) and the Section IV-B baselines, as dense batched tensors.

Graph (Z = 1 target): every BS n has K communication-link nodes (n, k) and one sensing-link
node (n, z), held as c (B, N, K, D) and s (B, N, D). The six edge types become index patterns:
BS-CC (eq 34) = same row of c, UE (eq 35) = same column of c, BS-CS (eq 36) = c's row -> s[n],
TGT (eq 39) = other rows of s, BS-SC (eq 40) = s[n] <- c's row; BS-SS (eq 38) has no edges for
Z = 1 and is left out of the mean of eq 48. Attention (eq 47) is the softmax of the scaled dot
products f3(x_i)^T f4(x_j) / l over the neighbours of one edge type, neighbour masks built
from the tensors' own shapes (so the ONNX graph takes any K and N).

Inputs: ``comm`` (B, N, K, 2L) float32 = [Re h_{k,n}, Im h_{k,n}] per link (eq 43) in the
core's raw units, multiplied by ``input_scale`` (sqrt of the per-BS budget) inside; ``sensing``
(B, N, 2L) = [Re a_t, Im a_t] per BS (eq 44: the unit-modulus transmit steering vector toward
the (estimated) target). Output ``beamformer`` (B, K+1, 2 N L): row 0 the sensing beam p^s,
row k user k's p^c_k, each [Re w^T, Im w^T] with BS-major rows, per-BS power of eq 50 applied.

Choices the paper leaves open (stated in the card): f^1..f^4 are single linear layers, Norm is
LayerNorm, a ReLU follows the mean over edge types of eqs 45 / 48, and the head FL_c / FL_s of
U' = 2 linear layers has a ReLU between them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .kkt_head import KKTHead

MASK = -1e4  # additive attention mask for a node's own entry (finite: ONNX-friendly)


def not_self(x: torch.Tensor) -> torch.Tensor:
    """(I, I) float mask, 1 off the diagonal, for the second-to-last axis I of x."""
    idx = torch.ones_like(x[..., 0]).cumsum(-1)  # 1..I along the last axis
    while idx.dim() > 1:
        idx = idx[0]
    return (idx[:, None] != idx[None, :]).to(x.dtype)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, exclude_self: bool) -> torch.Tensor:
    """(1/|N(i)|) sum_{j in N(i)} lambda(i, j) v_j with lambda of eq 47 (softmax of q_i.k_j / l).
    q (..., I, d), k (..., J, d), v (..., J, D); exclude_self: N(i) = {j != i} (I = J)."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1]
    if exclude_self:
        keep = not_self(k)
        scores = scores + (1.0 - keep) * MASK
        count = keep.sum(-1, keepdim=True).clamp(min=1.0)  # |N(i)| = I - 1
        lam = torch.softmax(scores, -1) * keep
        return (lam @ v) / count
    return (torch.softmax(scores, -1) @ v) / k.shape[-2]


class EdgeType(nn.Module):
    """One edge type r of one layer: f^1..f^4 and Norm of eqs 46-47 / 49."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.f1, self.f2 = nn.Linear(d_in, d_out), nn.Linear(d_in, d_out)
        self.f3, self.f4 = nn.Linear(d_in, d_out), nn.Linear(d_in, d_out)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor, nbr: torch.Tensor, exclude_self: bool) -> torch.Tensor:
        """Norm(F_r) of eq 46: x (..., I, d) centre nodes, nbr (..., J, d) their neighbours."""
        agg = attend(self.f3(x), self.f4(nbr), self.f2(nbr), exclude_self)
        return self.norm(self.f1(x) + agg)


class LHGNNLayer(nn.Module):
    """One GNN hidden layer: eq 45 for the communication nodes, eq 48 for the sensing nodes."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.cc, self.ue, self.cs = (EdgeType(d_in, d_out) for _ in range(3))
        self.tgt, self.sc = EdgeType(d_in, d_out), EdgeType(d_in, d_out)

    def forward(self, c: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c (B, N, K, d), s (B, N, d) -> (B, N, K, d'), (B, N, d')."""
        cc = self.cc(c, c, True)  # BS-CC: other users of the same BS
        ue = self.ue(c.transpose(1, 2), c.transpose(1, 2), True).transpose(1, 2)  # UE: other BSs
        cs = self.cs(c, s[:, :, None, :], False)  # BS-CS: the BS's sensing link
        tgt = self.tgt(s, s, True)  # TGT: the other BSs' sensing links
        sc = self.sc(s[:, :, None, :], c, False)[:, :, 0]  # BS-SC: the BS's comm links
        return torch.relu((cc + ue + cs) / 3.0), torch.relu((tgt + sc) / 2.0)


def head(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """FL_c / FL_s: U' = 2 fully connected layers."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def per_bs_normalize(o: torch.Tensor) -> torch.Tensor:
    """Eq 50 in units of sqrt(P_n): o (B, N, K+1, 2L) -> o / max(1, ||o_n||) per BS."""
    norm = torch.sqrt((o * o).sum(dim=(-1, -2), keepdim=True))
    return o / torch.clamp(norm, min=1.0)


def to_beamformer(o: torch.Tensor, output_scale: float) -> torch.Tensor:
    """(B, N, K+1, 2L) link beams -> (B, K+1, 2 N L) rows [Re w^T, Im w^T], BS-major, times
    sqrt(P_n) (eq 50)."""
    B, N, A, L2 = o.shape
    L = L2 // 2
    re = o[..., :L].permute(0, 2, 1, 3).reshape(B, A, N * L)
    im = o[..., L:].permute(0, 2, 1, 3).reshape(B, A, N * L)
    return torch.cat([re, im], -1) * output_scale


#: output layers: "free" = the paper's (the link outputs are the beams), "kkt" = kkt_head's
HEADS = ("free", "kkt")


class PrecoderNet(nn.Module):
    """Common I/O of the three models (module docstring): scaling in, the output ``head``
    (HEADS; ``kkt`` needs the UPA's ``array`` = (Lx, Ly)), eq 50 and layout out."""

    def __init__(
        self, L: int, power: float, head: str = "free", array: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.L, self.power = L, float(power)
        self.scale = math.sqrt(self.power)
        self.kkt = KKTHead(*(array or (L, 1))) if head == "kkt" else None

    def links(self, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, comm: torch.Tensor, sensing: torch.Tensor) -> torch.Tensor:
        c = comm * self.scale
        o = self.links(c, sensing)  # (B, N, K+1, 2L), column 0 sensing
        if self.kkt is not None:
            o = self.kkt(o, c, sensing)
        return to_beamformer(per_bs_normalize(o), self.scale)


class LHGNN(PrecoderNet):
    """Attention-enhanced LHGNN (eqs 43-50): ``dims`` = output widths of the U GNN layers."""

    def __init__(self, L: int, power: float, dims: list[int], hidden: int, **out) -> None:
        super().__init__(L, power, **out)
        widths = [2 * L, *dims]
        self.layers = nn.ModuleList(LHGNNLayer(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head_c, self.head_s = head(widths[-1], hidden, 2 * L), head(widths[-1], hidden, 2 * L)

    def links(self, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            c, s = layer(c, s)
        return torch.cat([self.head_s(s)[:, :, None], self.head_c(c)], 2)


class HomoLayer(nn.Module):
    """Homo GNN layer: one node type, one edge type (same BS or same user/target), attention."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.edge = EdgeType(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, N, A, d): node (n, a) (a = 0 the sensing link) -> (B, N, A, d')."""
        e = self.edge
        q, k, v = e.f3(x), e.f4(x), e.f2(x)
        row = q @ k.transpose(-1, -2)  # (B, N, A, A): same BS
        qt, kt = q.transpose(1, 2), k.transpose(1, 2)
        col = (qt @ kt.transpose(-1, -2)).transpose(1, 2)  # (B, N, A, N'): same user/target
        keep_r, keep_c = not_self(k), not_self(kt)  # (A, A), (N, N)
        keep_c = keep_c[:, None, :]  # (N, 1, N'): node (n, a) keeps n' != n
        scores = torch.cat([row + (1 - keep_r) * MASK, col + (1 - keep_c) * MASK], -1)
        lam = torch.softmax(scores / q.shape[-1], -1)
        A = x.shape[2]
        lam_r = lam[..., :A] * keep_r
        lam_c = lam[..., A:] * keep_c
        agg = lam_r @ v + (lam_c.transpose(1, 2) @ v.transpose(1, 2)).transpose(1, 2)
        count = (keep_r.sum(-1)[None, :] + keep_c.sum(-1)).clamp(min=1.0)  # (N, A)
        return torch.relu(e.norm(e.f1(x) + agg / count[..., None]))


class HomoGNN(PrecoderNet):
    """Homo GNN baseline (Section IV-B): same adjacency and inputs, no node or edge types."""

    def __init__(self, L: int, power: float, dims: list[int], hidden: int, **out) -> None:
        super().__init__(L, power, **out)
        widths = [2 * L, *dims]
        self.layers = nn.ModuleList(HomoLayer(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = head(widths[-1], hidden, 2 * L)

    def links(self, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = torch.cat([s[:, :, None], c], 2)
        for layer in self.layers:
            x = layer(x)
        return self.out(x)


class NaiveCNN(PrecoderNet):
    """Naive CNN baseline (Section IV-B): 3x3 convolutions over the (N, K+1) link grid with the
    2L node features as channels, then fully connected layers to every link's beam (fixed N, K)."""

    def __init__(
        self, L: int, power: float, N: int, K: int, channels: list[int], hidden: int, **out
    ) -> None:
        super().__init__(L, power, **out)
        widths, convs = [2 * L, *channels], []
        for a, b in zip(widths[:-1], widths[1:]):
            convs += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*convs)
        self.N, self.A = N, K + 1
        self.fc = head(widths[-1] * N * (K + 1), hidden, N * (K + 1) * 2 * L)

    def links(self, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = torch.cat([s[:, :, None], c], 2).permute(0, 3, 1, 2)  # (B, 2L, N, A)
        y = self.fc(self.conv(x).flatten(1))
        return y.reshape(-1, self.N, self.A, 2 * self.L)


ARCHS = ("lhgnn", "homo_gnn", "naive_cnn")


def build_model(
    arch: str, N: int, K: int, L: int, power: float, dims: list[int], hidden: int,
    head: str = "free", array: tuple[int, int] | None = None,
):  # fmt: skip
    """One of ARCHS with output ``head`` (HEADS; ``array`` = (Lx, Ly) for kkt); ``dims`` = GNN
    layer widths (CNN: conv channels)."""
    out = {"head": head, "array": array}
    if arch == "lhgnn":
        return LHGNN(L, power, dims, hidden, **out)
    if arch == "homo_gnn":
        return HomoGNN(L, power, dims, hidden, **out)
    if arch == "naive_cnn":
        return NaiveCNN(L, power, N, K, dims, hidden, **out)
    raise ValueError(f"model.arch must be one of {ARCHS}, got {arch!r}")
