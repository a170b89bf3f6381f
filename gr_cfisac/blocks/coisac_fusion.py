"""Coisac fusion: every BS's MUSIC fix of the target -> one 3D position (paper 003, issue 14).

Ports (per coherence block, one item each; N BSs):

- in ``angles`` x N    float32[angles]: BS n's MUSIC peaks (music_localizer on its own echo);
  a BS whose block is not valid (``validity``, music.validity) takes no part
- in ``geometry``      complex64[geometry]: the network-known target direction at every BS,
  used only with ``association="prior"``
- in ``rap`` x N, optional complex64[L], tau items: every BS's echo snapshots (echo_channel);
  connected, each BS's (u, v) residual is weighted by the angle information its own echo
  carries (coisac.network.angle_information: the measured echo SNR), so a BS whose echo
  cancelled in this block does not drag the fix; unconnected: equal weights
- out ``fix``          float32[fix]: ``pos`` (3,) m, the target's ``psi``, ``theta`` (N,)
  radians at every BS (NaN where no peak qualified), ``error_radius`` (1,) m
- message out ``position``: {cb, pos (3,), psi_deg, theta_deg (N,), error_radius}

The BSs are TAPs and RAPs at once; their poses come from the coisac stream config
(coisac.network.bs_poses: x-z plane UPAs facing the target's side), not from the cell-free
grid the ``fusion`` block assumes. The target's height is unknown (the SPEB bounds the 3D
position), so the fix is the 3D least-squares point of localization.fuse_position. Association: "strongest" (each BS's strongest peak: the coisac echo is one source)
or "prior" (the peak nearest the known direction, within ``gate_deg``; none: the BS is left
out).
"""

from __future__ import annotations

import numpy as np
import pmt

from ..coisac.network import angle_information, bs_poses, coisac_config
from ..config import SystemConfig
from ..localization import associate_target, fuse_position, pick
from ..music.validity import Validity
from ._base import CoherenceBlock, Port, check_config
from .fusion import emit_fix
from .layout import angles_layout, fix_layout, geometry_layout

ASSOCIATIONS = ("strongest", "prior")


class coisac_fusion(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """The BSs' MUSIC angles of the target fused into a 3D position, block by block."""

    def __init__(
        self,
        config: SystemConfig,
        n_peaks: int = 1,
        association: str = "strongest",
        gate_deg: float = 10.0,
        msg_interval: int = 1,
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        if association not in ASSOCIATIONS:
            raise ValueError(
                f"coisac_fusion: association must be one of {ASSOCIATIONS}, got {association!r}"
            )
        if not gate_deg > 0:
            raise ValueError(f"coisac_fusion: gate_deg must be > 0, got {gate_deg}")
        if int(n_peaks) < 1:
            raise ValueError(f"coisac_fusion: n_peaks must be >= 1 (MUSIC's), got {n_peaks}")
        if int(msg_interval) < 0:
            raise ValueError(f"coisac_fusion: msg_interval must be >= 0, got {msg_interval}")
        self.angles = angles_layout(int(n_peaks))
        self.geometry = geometry_layout(cfg)
        self.fix = fix_layout(cfg)
        inputs = [Port(f"angles{j + 1}", np.float32, self.angles.size, 1) for j in range(cfg.NR)]
        inputs.append(Port("geometry", np.complex64, self.geometry.size, 1))
        inputs += [Port(f"rap{j + 1}", np.complex64, cfg.MR, cfg.tau) for j in range(cfg.NR)]
        outputs = [Port("fix", np.float32, self.fix.size, 1)]
        super().__init__(
            "cfisac_coisac_fusion",
            cfg,
            inputs,
            outputs,
            min_inputs=cfg.NR + 1,
            max_blocks=max_blocks,
        )
        self.association = association
        self.gate = np.radians(gate_deg)
        self.bs_pos, self.bs_frame = bs_poses(coisac_config(cfg))
        self.msg_interval = int(msg_interval)
        self.message_port_register_out(pmt.intern("position"))

    def process(self, cb, ins, outs) -> None:
        NR = self.cfg.NR
        a = [self.angles.unpack(ins[j][:, 0]) for j in range(NR)]
        peaks = np.stack([np.stack([d["psi"], d["theta"]], -1) for d in a], axis=1)
        valid = np.stack([d["validity"][:, 0] == Validity.OK for d in a], axis=1)  # (b, N)
        peaks[~valid] = np.nan
        if self.association == "prior":
            geo = self.geometry.unpack(ins[NR][:, 0])
            prior = np.stack([geo["psi_t"], geo["theta_t"]], axis=-1)
            idx = associate_target(peaks, prior=prior, gate=self.gate)
        else:
            idx = associate_target(peaks)
        target = pick(peaks, idx)  # (b, N, 2)
        info = None
        if len(ins) > NR + 1:  # the echoes: weight each BS by what its own echo tells
            Y = np.stack([np.swapaxes(ins[NR + 1 + j], 1, 2) for j in range(NR)], axis=1)
            info = angle_information(Y.astype(np.complex128), *self.cfg.MR_shape)
        fix = fuse_position(self.bs_pos, self.bs_frame, target[..., 0], target[..., 1], info)
        emit_fix(self, cb, outs, fix, target)
