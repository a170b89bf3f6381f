"""A batch of complete CF-ISAC realizations: geometry, true channels and the statistics the
network knows, MMSE estimates, sensing geometry and the realized sensing matrices.

This is the one-call entry point for notebooks, benchmarks and training data; blocks use
the same pieces step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .channels import (
    CommChannels,
    SensingGeometry,
    draw_comm_channels,
    draw_rcs,
    sensing_geometry,
    sensing_gram_averaged,
    sensing_matrices,
)
from .config import SystemConfig
from .estimation import estimate_channels
from .geometry import Geometry, drop


@dataclass(frozen=True)
class Realizations:
    """B realizations. F (B, N, K) true, F_hat (B, N, K) estimated; G_t (B, NR, MR, N) and
    G_c (B, NR, NC, MR, N) realized; Q_t, Q_c (B, NR, N, N) the varpi-averaged grams."""

    cfg: SystemConfig
    geom: Geometry
    comm: CommChannels
    F_hat: np.ndarray
    sensing: SensingGeometry
    G_t: np.ndarray
    G_c: np.ndarray
    Q_t: np.ndarray
    Q_c: np.ndarray

    @property
    def F(self) -> np.ndarray:
        return self.comm.F

    @property
    def batch(self) -> int:
        return self.F.shape[0]

    def take(self, index: slice | np.ndarray) -> Realizations:
        """The same network with a subset of the batch: every per-realization array indexed."""
        comm = CommChannels(*(getattr(self.comm, f.name)[index] for f in fields(CommChannels)))
        sensing = SensingGeometry(
            **{f.name: getattr(self.sensing, f.name)[index] for f in fields(SensingGeometry)}
        )
        return Realizations(
            self.cfg, self.geom.take(index), comm, self.F_hat[index], sensing,
            self.G_t[index], self.G_c[index], self.Q_t[index], self.Q_c[index],
        )  # fmt: skip

    @classmethod
    def concatenate(cls, parts: list[Realizations]) -> Realizations:
        """One batch from several of the same network (the inverse of take)."""
        if len(parts) == 1:
            return parts[0]

        def cat(items: list, kind: type) -> Any:
            return kind(**{f.name: np.concatenate([getattr(x, f.name) for x in items])
                           for f in fields(kind)})  # fmt: skip

        arrays = {k: np.concatenate([getattr(p, k) for p in parts])
                  for k in ("F_hat", "G_t", "G_c", "Q_t", "Q_c")}  # fmt: skip
        return cls(
            parts[0].cfg,
            Geometry.concatenate([p.geom for p in parts]),
            cat([p.comm for p in parts], CommChannels),
            sensing=cat([p.sensing for p in parts], SensingGeometry),
            **arrays,
        )


def draw_realizations(
    cfg: SystemConfig,
    batch: int,
    rng: np.random.Generator | int | None = None,
    scene: str = "paper",
    estimator: str = "mmse",
) -> Realizations:
    """Draw ``batch`` independent realizations (same seed, same output)."""
    rng = np.random.default_rng(rng)
    geom = drop(cfg, rng, batch, scene)
    comm = draw_comm_channels(cfg, geom, rng)
    F_hat = estimate_channels(comm, cfg.rho_p, cfg.tau_p, rng, estimator)
    sg = sensing_geometry(cfg, geom)
    varpi_t, varpi_c = draw_rcs(rng, batch, cfg.NR, cfg.NT, cfg.NC)
    G_t, G_c = sensing_matrices(sg, varpi_t, varpi_c)
    Q_t, Q_c = sensing_gram_averaged(sg)
    return Realizations(cfg, geom, comm, F_hat, sg, G_t, G_c, Q_t, Q_c)
