"""The per-AP networks of paper 001 (section 6, Table 1) and the set of L of them.

Every network sees only its own AP's CSI H_l = [h_l1 .. h_lN, a(theta_l)] (eq 14) as ``csi``
float32 (B, N+1, 2M): row n = [Re(h_ln^T), Im(h_ln^T)], the target's steering row last (the
paper's order). It returns AP l's beams as ``beamformer`` float32 (B, N+1, 2M) in DESIGN's
order, row 0 the sensing beam then the users, scaled to the AP's power P_l (eqs 17-18:
sqrt(P_l) times the output over its Frobenius norm). The user rows of ``csi`` are multiplied by
``input_scale`` inside (cell-free estimates are ~1e-5; pos1/pos2 use 1).

Architectures (Table 1 for M = 16, N = 5; adapted where they do not fit, as stated):
- ``cnn1d``: eq 13's vector (all real parts, then all imaginary parts) through three valid 1D
  convolutions (widths 2, 4, 8, filter 11, each with batch norm and LeakyReLU), two fully
  connected layers (90, 90, LeakyReLU) and a linear output layer of 2 M (N+1) (eq 15; Table 1
  has no output layer of that size, so we add one). The filter shrinks so three convolutions fit
  the input length (2 M (N+1) - 3 (f - 1) >= 1).
- ``cae``: a convolutional autoencoder on the 2-channel (N+1) x M image (eq 14): encoder widths
  16, 32, 64, 128 with filters (3,5), (2,5), (1,3), (1,3) and no padding, a mirrored
  transposed-convolution decoder whose every layer also gets the encoder's feature map of its
  size (concatenated skips: decoder inputs 128, 128, 64, 32 wide, Table 1 lists 32..256), and a
  filter dimension larger than the map it slides over shrinks to fit.
- ``unet``: the modified U-Net (no pooling, LeakyReLU, same padding): per level two f x f
  convolutions (widths 16, 32, 64, 128), a bottleneck of the last width, a decoder whose levels
  take the upsampled map concatenated with the encoder's (32, 64, 128, 256 wide: Table 1's
  decoder channels) and a 1 x 1 output convolution to 2 channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import check_head_and_input
from .kkt_head import LocalKKTHead

SLOPE = 0.01  # LeakyReLU's default negative slope


def act() -> nn.Module:
    return nn.LeakyReLU(SLOPE)


class CNN1D(nn.Module):
    """Eq 13 / eq 15 network (module docstring)."""

    def __init__(self, M: int, N: int, channels=(2, 4, 8), hidden=(90, 90), kernel: int = 11):
        super().__init__()
        length = 2 * M * (N + 1)
        f = max(1, min(kernel, (length - 1) // len(channels) + 1))
        layers: list[nn.Module] = []
        width = 1
        for c in channels:
            layers += [nn.Conv1d(width, c, f), nn.BatchNorm1d(c), act()]
            width, length = c, length - (f - 1)
        self.conv = nn.Sequential(*layers)
        fc: list[nn.Module] = []
        size = width * length
        for h in hidden:
            fc += [nn.Linear(size, h), act()]
            size = h
        fc.append(nn.Linear(size, 2 * M * (N + 1)))
        self.fc = nn.Sequential(*fc)
        self.M, self.N, self.filter = M, N, f

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N+1, 2M) -> (B, N+1, 2M)
        B, Q, M2 = x.shape
        M = M2 // 2
        vec = torch.cat([x[..., :M].reshape(B, -1), x[..., M:].reshape(B, -1)], -1)  # eq 13
        out = self.fc(self.conv(vec[:, None, :]).flatten(1))  # eq 15: [omega_r; omega_i]
        re, im = out[:, : Q * M].reshape(B, Q, M), out[:, Q * M :].reshape(B, Q, M)
        return torch.cat([re, im], -1)


def to_image(x: torch.Tensor) -> torch.Tensor:
    """(B, N+1, 2M) rows -> the 2-channel (B, 2, N+1, M) image of eq 14."""
    M = x.shape[-1] // 2
    return torch.stack([x[..., :M], x[..., M:]], 1)


def from_image(y: torch.Tensor) -> torch.Tensor:
    """(B, 2, N+1, M) -> (B, N+1, 2M) rows (eq 16)."""
    return torch.cat([y[:, 0], y[:, 1]], -1)


#: Table 1's CAE filters, encoder order
CAE_FILTERS = ((3, 5), (2, 5), (1, 3), (1, 3))


class CAE(nn.Module):
    """Convolutional autoencoder with skips (module docstring)."""

    def __init__(self, M: int, N: int, channels=(16, 32, 64, 128)):
        super().__init__()
        size = [N + 1, M]
        sizes, kernels = [tuple(size)], []
        for i in range(len(channels)):
            k = tuple(min(k, s) for k, s in zip(CAE_FILTERS[min(i, 3)], size))
            size = [s - k_ + 1 for s, k_ in zip(size, k)]
            kernels.append(k)
            sizes.append(tuple(size))
        widths = (2, *channels)
        self.enc = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], kernels[i]) for i in range(len(channels))
        )
        dec = []
        for i in reversed(range(len(channels))):
            inp = widths[i + 1] * (1 if i == len(channels) - 1 else 2)
            dec.append(nn.ConvTranspose2d(inp, widths[i], kernels[i]))
        self.dec = nn.ModuleList(dec)
        self.kernels = kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = to_image(x)
        skips = []
        for conv in self.enc:
            h = act()(conv(h))
            skips.append(h)
        n = len(self.dec)
        for j, deconv in enumerate(self.dec):
            if j:
                h = torch.cat([h, skips[n - 1 - j]], 1)
            h = deconv(h)
            if j < n - 1:
                h = act()(h)
        return from_image(h)


def double_conv(cin: int, cout: int, k: int) -> nn.Sequential:
    pad = k // 2
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad), act(),
                         nn.Conv2d(cout, cout, k, padding=pad), act())  # fmt: skip


class UNet(nn.Module):
    """The modified U-Net (module docstring); any (N+1) x M image (same padding, odd kernel)."""

    def __init__(self, M: int, N: int, channels=(16, 32, 64, 128), kernel: int = 3):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"unet: kernel must be odd (same padding), got {kernel}")
        widths = (2, *channels)
        self.enc = nn.ModuleList(
            double_conv(widths[i], widths[i + 1], kernel) for i in range(len(channels))
        )
        self.bottleneck = double_conv(channels[-1], channels[-1], kernel)
        self.dec = nn.ModuleList(
            double_conv(2 * channels[i], channels[i - 1] if i else channels[0], kernel)
            for i in reversed(range(len(channels)))
        )
        self.out = nn.Conv2d(channels[0], 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = to_image(x)
        skips = []
        for block in self.enc:
            h = block(h)
            skips.append(h)
        h = self.bottleneck(h)
        for block, skip in zip(self.dec, reversed(skips)):
            h = block(torch.cat([h, skip], 1))
        return from_image(self.out(h))


def make_net(arch: str, M: int, N: int, channels, hidden=(90, 90), kernel: int = 3) -> nn.Module:
    """One AP's raw network of ``arch`` (cnn1d, cae, unet): (B, N+1, 2M) -> (B, N+1, 2M)."""
    if arch == "cnn1d":
        return CNN1D(M, N, tuple(channels), tuple(hidden))
    if arch == "cae":
        return CAE(M, N, tuple(channels))
    if arch == "unet":
        return UNet(M, N, tuple(channels), kernel)
    raise ValueError(f"arch must be cnn1d, cae or unet, got {arch!r}")


def gram_rows(x: torch.Tensor) -> torch.Tensor:
    """(B, N+1, 2M) CSI rows x_i -> (B, N+1, 2(N+1)) rows of their Gram matrix G = X X^H / M
    (G_ij = x_i^T conj(x_j) / M), [Re G, Im G]: every channel's and the steering vector's gains
    and mutual correlations, which 3x3 convolutions over the M antennas cannot form."""
    M = x.shape[-1] // 2
    xr, xi = x[..., :M], x[..., M:]
    gr = (xr @ xr.transpose(1, 2) + xi @ xi.transpose(1, 2)) / M
    gi = (xi @ xr.transpose(1, 2) - xr @ xi.transpose(1, 2)) / M
    return torch.cat([gr, gi], -1)


class PerAP(nn.Module):
    """One AP's precoder: scale the user rows by ``input_scale``, (``gram``: their Gram rows,
    gram_rows), the raw network, then either move the sensing row first (DESIGN's layout;
    ``head`` None: the paper's output) or read the beams from the structured layer ``head``
    (kkt_head.LocalKKTHead), and normalize to sqrt(power) (eqs 17-18)."""

    def __init__(self, net: nn.Module, power: float = 1.0, input_scale: float = 1.0,
                 head: nn.Module | None = None, gram: bool = False):  # fmt: skip
        super().__init__()
        self.net, self.head, self.gram = net, head, gram
        self.register_buffer("power_sqrt", torch.tensor(math.sqrt(power), dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(float(input_scale), dtype=torch.float32))

    def forward(self, csi: torch.Tensor) -> torch.Tensor:
        users = csi[:, :-1] * self.scale
        x = torch.cat([users, csi[:, -1:]], 1)
        raw = self.net(gram_rows(x) if self.gram else x)
        if self.head is None:
            raw = torch.cat([raw[:, -1:], raw[:, :-1]], 1)  # paper's sensing-last -> first
        else:
            raw = self.head(raw, users, csi[:, -1:])
        norm = torch.sqrt((raw * raw).sum(dim=(1, 2), keepdim=True) + 1e-20)
        return raw * (self.power_sqrt / norm)


def make_head(head: str, M: int) -> nn.Module | None:
    """The output layer ``head`` (config.HEADS, checked by check_head_and_input)."""
    return LocalKKTHead(M) if head == "kkt" else None


class ModelSet(nn.Module):
    """L per-AP precoders; ``forward(csi (B, L, N+1, 2M)) -> (B, L, N+1, 2M)``: network l sees
    only csi[:, l]. Cooperation happens only through the training loss."""

    def __init__(self, L: int, M: int, N: int, arch: str, channels, hidden=(90, 90),
                 kernel: int = 3, power: float = 1.0, input_scale: float = 1.0,
                 head: str = "free", input: str = "csi"):  # fmt: skip
        super().__init__()
        check_head_and_input(head, input)
        width = N + 1 if input == "gram" else M  # the image's columns

        def one_ap() -> PerAP:
            net = make_net(arch, width, N, channels, hidden, kernel)
            return PerAP(net, power, input_scale, make_head(head, M), input == "gram")

        self.aps = nn.ModuleList(one_ap() for _ in range(L))
        self.L, self.M, self.N = L, M, N

    def forward(self, csi: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(csi[:, l]) for l, net in enumerate(self.aps)], 1)


def beams(out: torch.Tensor) -> torch.Tensor:
    """(B, L, N+1, 2M) outputs -> complex W (B, L M, N+1), AP-major rows, sensing first."""
    B, L, Q, M2 = out.shape
    M = M2 // 2
    W = torch.complex(out[..., :M], out[..., M:])  # (B, L, Q, M)
    return W.permute(0, 1, 3, 2).reshape(B, L * M, Q)
