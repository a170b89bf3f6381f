"""MUSIC localizer: per RAP, 2D MUSIC angles of every block and a display spectrum (eqs 41-43).

Ports (per coherence block; one group per RAP served, ``num_raps`` of them, independent):

- in ``rap`` x n                complex64[MR], tau items: the RAP's snapshots y_j(t)
- out ``angles`` x n            float32[angles], 1 item: the strongest ``n_peaks`` MUSIC peaks
  (psi, theta radians, spectrum value, model order, validity; layout.angles_layout) from the
  core's estimator (music.estimate): ``method`` "fast" (coarse-to-fine search), "grid" (the
  paper's grid) or "esprit" (2-D unitary ESPRIT starting the same refinement, no search where
  the array resolves the sources: the cheapest at any batch size; at most model-order peaks
  per block, the rest NaN)
- out ``spectrum`` x n, optional float32[n_az n_el], 1 item: eq 42 on a coarse display grid,
  azimuth-major (row = one azimuth), in dB below the block's maximum (a QT GUI raster shows
  it with n_el columns); NaN for a block of bad samples
- message out ``angles``: {cb, psi_deg, theta_deg, value (n, n_peaks), n_sources (n,),
  validity (n,)}

Validity (music.validity): a block whose samples are non-finite, silent or saturated, or whose
model order leaves eq 42 without isolated peaks (more than MR - 2 sources), is marked on its
output item and carries NaN peaks; the block goes on with the next block.

``n_sources``: sources assumed by MUSIC (0: estimated per block by MDL, music.model_order);
default NC + 1 (target and clutter).
``workers`` > 1: a work() call's blocks are shared by that many threads (the block's own and
workers - 1 more), each estimating a contiguous share as music.estimate does (a block's
estimate is its own, up to BLAS rounding; numpy's eigendecompositions and array arithmetic
run without the GIL). Worth it where a block's estimate is heavy (4x4 RAPs: 1.2-1.3x at 256
blocks per call on two cores); on 2x2 RAPs the threads mostly wait for the GIL and it is
slower. Default 1.
``num_blocks`` > 0: end after that many blocks (counted after a join, _base.CoherenceBlock).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import numpy as np
import pmt

from gnuradio import gr

from .. import blas, music
from ..config import SystemConfig
from ._base import CoherenceBlock, Port, check_config
from .layout import angles_layout
from .messages import encode


def display_grid(step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth [-180, 180) and elevation [0, 90] axes (radians) of the display spectrum."""
    if not 0 < step_deg <= 45:
        raise ValueError(f"display_step_deg must be in (0, 45], got {step_deg}")
    az = np.arange(-180.0, 180.0, step_deg)
    el = np.linspace(0.0, 90.0, int(round(90.0 / step_deg)) + 1)
    return np.radians(az), np.radians(el)


def display_size(step_deg: float) -> int:
    """Length of the display spectrum vector for a grid step: n_az * n_el."""
    az, el = display_grid(step_deg)
    return az.size * el.size


class music_localizer(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """2D MUSIC per RAP and block: peak angles (stream + message) and a display spectrum."""

    def __init__(
        self,
        config: SystemConfig,
        n_sources: int | None = None,
        n_peaks: int | None = None,
        method: str = "fast",
        num_raps: int | None = None,
        display_step_deg: float = 4.0,
        msg_interval: int = 1,
        max_blocks: int = 64,
        num_blocks: int = 0,
        workers: int = 1,
    ) -> None:
        cfg = check_config(config)
        if isinstance(workers, bool) or int(workers) != workers or workers < 1:
            raise ValueError(
                f"music_localizer: workers must be an integer >= 1 (threads sharing a work() "
                f"call's blocks; 1: the block's own thread only), got {workers!r}"
            )
        self.workers = int(workers)
        self._pool: ThreadPoolExecutor | None = None
        M = cfg.MR
        self.n_sources = cfg.NC + 1 if n_sources is None else int(n_sources)
        if self.n_sources != 0:
            music.check_sources(self.n_sources, M)
        self.n_peaks = (self.n_sources or cfg.NC + 1) if n_peaks in (None, 0) else int(n_peaks)
        if method not in music.METHODS:
            raise ValueError(
                f"music_localizer: method must be one of {music.METHODS}, got {method!r}"
            )
        n = cfg.NR if num_raps in (None, 0) else int(num_raps)
        if not 1 <= n <= cfg.NR:
            raise ValueError(f"music_localizer: num_raps must be in 1..NR={cfg.NR}, got {num_raps}")
        self.method, self.num_raps = method, n
        rows, cols = cfg.MR_shape
        if self.n_sources and not music.identifiable(self.n_sources, rows, cols):
            gr.logger("cfisac_music_localizer").warn(
                f"n_sources={self.n_sources} is not identifiable on a {rows}x{cols} RAP (2D "
                f"MUSIC needs at most MR - 2 = {M - 2} sources and two rows and columns): every "
                "block will be marked 'not identifiable' with no peaks. Use a larger RAP array "
                "(MR_shape), fewer sources, or n_sources=0 (MDL per block)"
            )
        self.az, self.el = display_grid(display_step_deg)
        self.angles = angles_layout(self.n_peaks)
        inputs = [Port(f"rap{j + 1}", np.complex64, M, cfg.tau) for j in range(n)]
        outputs = [Port(f"angles{j + 1}", np.float32, self.angles.size, 1) for j in range(n)] + [
            Port(f"spectrum{j + 1}", np.float32, self.az.size * self.el.size, 1) for j in range(n)
        ]
        super().__init__(
            "cfisac_music_localizer",
            cfg,
            inputs,
            outputs,
            min_outputs=n,
            max_blocks=max_blocks,
            num_blocks=num_blocks,
        )
        if int(msg_interval) < 0:
            raise ValueError(f"music_localizer: msg_interval must be >= 0, got {msg_interval}")
        self.msg_interval = int(msg_interval)
        self.message_port_register_out(pmt.intern("angles"))
        self.last_spectrum: np.ndarray | None = None  # (n_raps, n_az, n_el), for notebooks

    def process(self, cb, ins, outs) -> None:
        cfg, n = self.cfg, self.num_raps
        rows, cols = cfg.MR_shape
        # (b, n, MR, tau) in one copy of the inputs, still complex64: the core screens the
        # samples as they came and computes its covariances in complex128
        Y = np.empty((len(cb), n, cfg.MR, cfg.tau), dtype=np.complex64)
        for j in range(n):
            Y[:, j] = np.swapaxes(ins[j], 1, 2)
        res = self._estimate(Y)
        for j in range(n):
            outs[j][:, 0] = self.angles.pack(
                psi=res.angles[:, j, :, 0],
                theta=res.angles[:, j, :, 1],
                value=res.value[:, j],
                n_sources=res.n_sources[:, j, None].astype(float),
                validity=res.validity[:, j, None].astype(float),
            )
        if len(outs) > n:  # spectra of the first len(outs) - n RAPs are connected
            spec = self._display(Y, res.n_sources, res.validity)
            self.last_spectrum = spec[-1]
            for j in range(len(outs) - n):
                outs[n + j][:, 0] = spec[:, j].reshape(len(cb), -1)
        for b in self.message_rows("angles", cb):
            self.publish(
                "angles",
                encode(
                    int(cb[b]),
                    psi_deg=np.degrees(res.angles[b, :, :, 0]),
                    theta_deg=np.degrees(res.angles[b, :, :, 1]),
                    value=res.value[b],
                    n_sources=res.n_sources[b].astype(np.int64),
                    validity=res.validity[b].astype(np.int64),
                ),
            )

    def _estimate(self, Y: np.ndarray) -> music.MusicResult:
        """music.estimate of snapshots Y (b, n, MR, tau), shared by ``workers`` threads."""
        rows, cols = self.cfg.MR_shape
        args = (rows, cols, self.n_sources or None, self.n_peaks, self.method)
        shares = min(self.workers, len(Y))
        if shares < 2:
            return music.estimate(Y, *args)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.workers - 1, "cfisac_music", initializer=blas.enter_block_thread
            )
        parts = np.array_split(Y, shares)
        futures = [self._pool.submit(music.estimate, part, *args) for part in parts[1:]]
        res = music.estimate(parts[0], *args)
        results = [res] + [f.result() for f in futures]
        return music.MusicResult(
            **{f.name: np.concatenate([getattr(r, f.name) for r in results]) for f in fields(res)}
        )

    def stop(self) -> bool:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        return True

    def _display(self, Y: np.ndarray, order: np.ndarray, validity: np.ndarray) -> np.ndarray:
        """Eq 42 on the display grid in dB below each spectrum's peak: (b, n, n_az, n_el), for
        snapshots Y whose estimate gave model orders ``order`` and codes ``validity``."""
        rows, cols = self.cfg.MR_shape
        good = ~music.is_bad_input(validity)
        R = music.sample_covariance(Y.astype(complex))
        out = np.full(R.shape[:2] + (self.az.size, self.el.size), np.nan)
        order = np.clip(order, 1, self.cfg.MR - 1)
        for k in np.unique(order[good]):
            sel = good & (order == k)
            out[sel] = music.spectrum(R[sel], rows, cols, int(k), self.az, self.el)
        with np.errstate(invalid="ignore"):
            out = 10 * np.log10(out / out.max(axis=(-2, -1), keepdims=True))
        return out.astype(np.float32)
