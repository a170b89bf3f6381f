"""Calibration: per-antenna complex gain and delay corrections applied to every RAP's snapshots
before MUSIC (:mod:`gr_cfisac.calibration` has the model, the file and the estimation).

Ports (per coherence block):

- in  ``rap1`` .. ``rapNR``  complex64[MR], tau items: RAP j's snapshots as received
- out ``rap1`` .. ``rapNR``  complex64[MR], tau items: corrected, ``y_m = gain_m x_m`` delayed
  by ``delay_m`` samples (the file's corrections for that RAP; a RAP it does not list passes
  unchanged). With any non-zero delay the RAP's samples come DELAY_HALF_TAPS (8) samples late
  within the block grid (every antenna alike: MUSIC does not see it); the filters restart at a
  jump in the block indices (blocks lost upstream).

``path`` empty: no correction (the block passes its inputs, so a flowgraph keeps it in place
until a calibration file exists). The file is read when the block is built: a missing or bad
file, or one made for other arrays, is refused then with a message naming the fix.
"""

from __future__ import annotations

import numpy as np

from ..calibration import Calibration, Corrector, load
from ..config import SystemConfig
from ._base import CoherenceBlock, Port, check_config


class calibrate(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Per-antenna gain and delay corrections of every RAP, from a calibration file.

    Args:
        config: the flowgraph's SystemConfig.
        path: calibration file (.json from ``cfisac calibrate``, or .npz); "" for none.
        max_blocks: coherence blocks per work() call at most.
    """

    def __init__(self, config: SystemConfig, path: str = "", max_blocks: int = 64) -> None:
        cfg = check_config(config)
        self.path = str(path or "")
        self.calibration = (
            load(self.path, cfg.MR_shape) if self.path else Calibration(cfg.MR_shape, {})
        )
        extra = sorted(j for j in self.calibration.raps if j > cfg.NR)
        if extra:
            raise ValueError(
                f"calibrate: {self.path} corrects RAP {extra}, the network has NR={cfg.NR}; "
                "use the file made for this network"
            )
        ports = [Port(f"rap{j + 1}", np.complex64, cfg.MR, cfg.tau) for j in range(cfg.NR)]
        super().__init__("cfisac_calibrate", cfg, ports, ports, max_blocks=max_blocks)
        self.correctors = [
            Corrector(
                self.calibration.for_rap(j + 1).gain, self.calibration.for_rap(j + 1).delay_samples
            )
            for j in range(cfg.NR)
        ]
        self._last_cb: int | None = None

    def process(self, cb, ins, outs) -> None:
        n, tau, MR = ins[0].shape if ins else (0, 0, 0)
        # runs of consecutive block indices: the delay filters restart after a jump
        breaks = np.flatnonzero(np.diff(cb) != 1) + 1
        first_jump = self._last_cb is not None and int(cb[0]) != self._last_cb + 1
        starts = [0, *breaks.tolist()]
        ends = [*breaks.tolist(), n]
        for x, y, corr in zip(ins, outs, self.correctors):
            for k, (a, b) in enumerate(zip(starts, ends)):
                if k > 0 or first_jump:
                    corr.reset()
                y[a:b] = corr(x[a:b].reshape(-1, MR)).reshape(b - a, tau, MR)
        self._last_cb = int(cb[-1])
