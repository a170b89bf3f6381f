"""Target fusion: the RAPs' MUSIC peaks -> the target's direction at each RAP -> a position.

Ports (per coherence block, one item each):

- in ``angles`` x NR   float32[angles]: the MUSIC peaks of RAP j (music_localizer); a RAP
  whose block is not valid (its ``validity`` field, music.validity) takes no part
- in ``geometry``      complex64[geometry]: the network-known sensing geometry, whose target
  direction at every RAP is the prior that picks the target among the peaks
- out ``fix``          float32[fix]: ``pos`` (3,) metres, the target's ``psi``, ``theta`` (NR,)
  radians at every RAP (NaN where no peak qualified), ``error_radius`` (1,) metres
- message out ``position``: {cb, pos (3,), psi_deg, theta_deg (NR,), error_radius}

Association (localization.associate_target): "prior" (the peak nearest the known target
direction, within ``gate_deg``), "clutter_map" (the strongest peak that is not a direction the
RAP keeps seeing, localization.ClutterMap, learned online, block by block in order though
batched) or "strongest". Everything is batched over the blocks of a work() call. Fusion is the
multistatic least-squares fix of localization.fuse_position, with z fixed at the target height
when ``known_height``.
``num_blocks`` > 0: end after that many blocks (counted after a join, _base.CoherenceBlock).
"""

from __future__ import annotations

import numpy as np
import pmt

from ..config import SystemConfig
from ..geometry import rap_poses
from ..localization import ClutterMap, associate_target, fuse_position, pick
from ..music.validity import Validity
from ._base import CoherenceBlock, Port, check_config
from .layout import angles_layout, fix_layout, geometry_layout
from .messages import encode

ASSOCIATIONS = ("prior", "clutter_map", "strongest")


class fusion(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Association of the target among each RAP's peaks and multistatic position fusion."""

    def __init__(
        self,
        config: SystemConfig,
        n_peaks: int | None = None,
        association: str = "prior",
        gate_deg: float = 10.0,
        known_height: bool = True,
        msg_interval: int = 1,
        max_blocks: int = 64,
        num_blocks: int = 0,
    ) -> None:
        cfg = check_config(config)
        if association not in ASSOCIATIONS:
            raise ValueError(
                f"fusion: association must be one of {ASSOCIATIONS}, got {association!r}"
            )
        if gate_deg <= 0:
            raise ValueError(f"fusion: gate_deg must be > 0, got {gate_deg}")
        self.n_peaks = cfg.NC + 1 if n_peaks in (None, 0) else int(n_peaks)
        self.angles = angles_layout(self.n_peaks)
        self.geometry = geometry_layout(cfg)
        self.fix = fix_layout(cfg)
        inputs = [Port(f"angles{j + 1}", np.float32, self.angles.size, 1) for j in range(cfg.NR)]
        inputs.append(Port("geometry", np.complex64, self.geometry.size, 1))
        outputs = [Port("fix", np.float32, self.fix.size, 1)]
        super().__init__(
            "cfisac_fusion", cfg, inputs, outputs, max_blocks=max_blocks, num_blocks=num_blocks
        )
        self.association = association
        self.gate = np.radians(gate_deg)
        self.height = cfg.target_height_m if known_height else None
        self.rap_pos, self.rap_frame = rap_poses(cfg)
        self.clutter_maps = [ClutterMap() for _ in range(cfg.NR)]
        if int(msg_interval) < 0:
            raise ValueError(f"fusion: msg_interval must be >= 0, got {msg_interval}")
        self.msg_interval = int(msg_interval)
        self.message_port_register_out(pmt.intern("position"))

    def target_angles(self, peaks: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """peaks (b, NR, n, 2), prior (b, NR, 2) -> the target's (psi, theta) (b, NR, 2)."""
        if self.association == "prior":
            idx = associate_target(peaks, prior=prior, gate=self.gate)
        elif self.association == "strongest":
            idx = associate_target(peaks)
        else:  # each RAP's map judges every block as learned from the blocks before it
            idx = np.stack(
                [cmap.associate(peaks[:, j]) for j, cmap in enumerate(self.clutter_maps)], axis=1
            )
        return pick(peaks, idx)

    def process(self, cb, ins, outs) -> None:
        cfg = self.cfg
        NR = cfg.NR
        a = [self.angles.unpack(ins[j][:, 0]) for j in range(NR)]
        peaks = np.stack([np.stack([d["psi"], d["theta"]], -1) for d in a], axis=1)
        valid = np.stack([d["validity"][:, 0] == Validity.OK for d in a], axis=1)  # (b, NR)
        peaks[~valid] = np.nan  # a RAP whose block is not OK has no peaks to associate
        geo = self.geometry.unpack(ins[NR][:, 0])
        prior = np.stack([geo["psi_t"], geo["theta_t"]], axis=-1)  # (b, NR, 2)
        target = self.target_angles(peaks, prior)
        fix = fuse_position(
            self.rap_pos, self.rap_frame, target[..., 0], target[..., 1], height_m=self.height
        )
        emit_fix(self, cb, outs, fix, target)


def emit_fix(block: CoherenceBlock, cb: np.ndarray, outs: list, fix, target: np.ndarray) -> None:
    """A fusion block's fix stream (position, the target angles used, error radius) of blocks
    cb and, every msg_interval blocks, the ``position`` message mirroring it."""
    outs[0][:, 0] = block.fix.pack(
        pos=fix.position,
        psi=target[..., 0],
        theta=target[..., 1],
        error_radius=fix.error_radius[:, None],
    )
    for b in block.message_rows("position", cb):
        block.publish(
            "position",
            encode(
                int(cb[b]),
                pos=fix.position[b],
                psi_deg=np.degrees(target[b, :, 0]),
                theta_deg=np.degrees(target[b, :, 1]),
                error_radius=float(fix.error_radius[b]),
            ),
        )
