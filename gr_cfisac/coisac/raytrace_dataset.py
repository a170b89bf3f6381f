"""A coisac dataset of B ray-traced realizations (``raytrace`` docstring: scene, solver, cache):
users drawn as the scenario draws them, traced in chunks of ``chunk`` realizations (one solve
each, cached, so a rerun resumes), users without any path redrawn up to ``redraw_tries`` rounds,
realizations still holding one dropped (counted). :class:`RaytracedDataset` stores it as one
``.npz`` and turns it back into ``CoisacBatch``es through a table channel source. numpy only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .channels import GeometricChannels
from .geometry import Placement
from .raytrace import (
    RaytracedChannels,
    RaytraceSettings,
    assemble,
    pad_paths,
    save_npz_atomic,
    widen_paths,
)
from .scenario import CoisacBatch, CoisacConfig, CoisacScenario, draw_users


@dataclass(frozen=True)
class TableChannels:
    """A channel source that returns stored channels F (B, N L, K) for the stored ``users``
    (B, K, 3); any other positions are a ValueError."""

    users: np.ndarray
    F: np.ndarray

    def __call__(self, placement: Placement, rng: np.random.Generator | None = None) -> np.ndarray:
        u = placement.users
        if u.shape != self.users.shape or not np.array_equal(u, self.users):
            raise ValueError(
                "users: a ray-traced dataset only knows its own user positions; realize it "
                "with RaytracedDataset.batch() or trace new positions with RaytracedChannels"
            )
        return self.F


@dataclass(frozen=True)
class RaytracedDataset:
    """B realizations: ``users`` (B, K, 3) m, channels ``F`` (B, N L, K), per link path
    ``counts`` (B, K, N), ``delays`` (B, K, N, P) s (NaN padded), path ``powers`` (B, K, N, P);
    ``redrawn`` user redraws (a user drawn again twice counts twice), ``dropped`` realizations,
    the fraction ``first_reached`` of users with a path at the first draw; the ``cfg`` and
    ``settings`` they came from."""

    cfg: CoisacConfig
    settings: RaytraceSettings
    users: np.ndarray
    F: np.ndarray
    counts: np.ndarray
    delays: np.ndarray
    powers: np.ndarray
    redrawn: int
    dropped: int
    first_reached: float

    @property
    def batch(self) -> int:
        return self.users.shape[0]

    def to_batch(self, rng: np.random.Generator | int | None = None) -> CoisacBatch:
        """The realizations as a CoisacBatch (the configured target, radar reflections)."""
        src = TableChannels(self.users, self.F)
        return CoisacScenario(self.cfg, channel_source=src).realize(self.users, None, rng)

    def save(self, path: Path) -> None:
        """One ``.npz`` (atomic), cfg and settings as JSON inside."""
        meta = {"cfg": self.cfg.to_dict(), "settings": asdict(self.settings),
                "redrawn": self.redrawn, "dropped": self.dropped,
                "first_reached": self.first_reached}  # fmt: skip
        save_npz_atomic(Path(path), users=self.users, F=self.F, counts=self.counts,
                        delays=self.delays, powers=self.powers, meta=json.dumps(meta))  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> RaytracedDataset:
        with np.load(Path(path)) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("users", "F", "counts", "delays", "powers")}
        s = meta["settings"]
        s["offset_m"] = tuple(s["offset_m"])
        return cls(CoisacConfig.from_dict(meta["cfg"]), RaytraceSettings(**s), **arrays,
                   redrawn=meta["redrawn"], dropped=meta["dropped"],
                   first_reached=meta["first_reached"])  # fmt: skip

    def statistics(self, rng: np.random.Generator | int | None = 0) -> dict[str, Any]:
        """Path counts, reach, and channel power per link ||h_kn||^2 / L (dB) against the
        geometric source at the same positions."""
        cfg, c = self.cfg, self.counts
        reached = c > 0
        B, K, N = c.shape
        ray = (np.abs(self.F.reshape(B, N, cfg.L, K)) ** 2).mean(2).transpose(0, 2, 1)
        geo_src = GeometricChannels(cfg.carrier_hz, cfg.scattered_paths, cfg.rician_k_db,
                                    cfg.scatter_radius_m)  # fmt: skip
        Fg = CoisacScenario(cfg, channel_source=geo_src).realize(self.users, None, rng).F
        geo = (np.abs(Fg.reshape(B, N, cfg.L, K)) ** 2).mean(2).transpose(0, 2, 1)
        ratio = 10 * np.log10(ray[reached] / geo[reached])
        ray_db = 10 * np.log10(ray[reached])
        return {
            "realizations": int(B),
            "redrawn_users": int(self.redrawn),
            "dropped_realizations": int(self.dropped),
            "users_reached_first_draw": float(self.first_reached),
            "links_with_paths": float(reached.mean()),
            "links_with_paths_per_bs": reached.mean(axis=(0, 1)).tolist(),
            "paths_per_link_mean": float(c[reached].mean()) if reached.any() else 0.0,
            "paths_per_link_max": int(c.max()),
            "link_gain_db_median": float(np.median(ray_db)) if reached.any() else float("nan"),
            "ray_minus_geometric_db_median": float(np.median(ratio)) if reached.any() else 0.0,
            "ray_minus_geometric_db_iqr": np.percentile(ratio, [25, 75]).tolist()
            if reached.any()
            else [0.0, 0.0],  # fmt: skip
        }


def _trace_users(
    src: RaytracedChannels, cfg: CoisacConfig, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = src.trace(cfg.bs(), users.reshape(-1, 3), cfg.carrier_hz, cfg.Lx, cfg.Ly)
    B, K = users.shape[:2]
    R, N = t.counts.shape
    return (t.h.reshape(B, K, N, cfg.L), t.counts.reshape(B, K, N),
            t.delays.reshape(B, K, N, -1), t.powers.reshape(B, K, N, -1))  # fmt: skip


def trace_chunk(
    src: RaytracedChannels, cfg: CoisacConfig, size: int, rng: np.random.Generator,
    redraw_tries: int,
) -> tuple[dict[str, np.ndarray], int, float]:  # fmt: skip
    """``size`` realizations: arrays as in RaytracedDataset (users, h (B, K, N, L), counts,
    delays, powers), the number of redrawn users, the fraction reached at the first draw."""
    users = draw_users(cfg, size, rng)
    h, counts, delays, powers = _trace_users(src, cfg, users)
    first = float((counts.sum(-1) > 0).mean())
    redrawn = 0
    for _ in range(redraw_tries):
        dead = counts.sum(-1) == 0  # (B, K)
        m = int(dead.sum())
        if m == 0:
            break
        redrawn += m
        fresh = draw_users(cfg, m, rng)[:, :1]  # (m, 1, 3): one user each
        h2, c2, d2, p2 = _trace_users(src, cfg, fresh)
        users[dead] = fresh[:, 0]
        h[dead], counts[dead] = h2[:, 0], c2[:, 0]
        P = max(delays.shape[-1], d2.shape[-1])
        delays, powers = widen_paths(delays, P, np.nan), widen_paths(powers, P, 0.0)
        delays[dead] = widen_paths(d2, P, np.nan)[:, 0]
        powers[dead] = widen_paths(p2, P, 0.0)[:, 0]
    arrays = {"users": users, "h": h, "counts": counts, "delays": delays, "powers": powers}
    return arrays, redrawn, first


def generate(
    cfg: CoisacConfig,
    count: int,
    settings: RaytraceSettings | None = None,
    cache_dir: Path | None = None,
    chunk: int = 100,
    seed: int = 0,
    redraw_tries: int = 10,
    progress: bool = True,
) -> RaytracedDataset:
    """``count`` ray-traced realizations (module docstring); chunk i draws its users from
    ``default_rng([seed, i])``, so the same call hits the cache of an earlier, interrupted one."""
    for name, v, lo in (
        ("count", count, 1),
        ("chunk", chunk, 1),
        ("redraw_tries", redraw_tries, 0),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"generate: {name} must be an integer >= {lo}, got {v!r}")
    src = RaytracedChannels(settings or RaytraceSettings(), cache_dir)
    sizes = [min(chunk, count - i) for i in range(0, count, chunk)]
    parts, redrawn, first = [], 0, []
    bar = _progress(len(sizes), progress)
    for i, size in enumerate(sizes):
        arrays, r, f = trace_chunk(src, cfg, size, np.random.default_rng([seed, i]), redraw_tries)
        parts.append(arrays)
        redrawn += r
        first.append(f * size)
        bar.update(1)
    bar.close()
    cat = {k: np.concatenate([p[k] for p in parts]) for k in ("users", "h", "counts")}
    delays = pad_paths([p["delays"] for p in parts], np.nan)
    powers = pad_paths([p["powers"] for p in parts], 0.0)
    keep = np.all(cat["counts"].sum(-1) > 0, axis=1)
    B = int(keep.sum())
    if B == 0:
        raise ValueError("generate: no realization has a path to every user; check offset_m")
    h = cat["h"][keep]  # (B, K, N, L)
    F = assemble(h.reshape(B * cfg.K, cfg.N, cfg.L), B, cfg.K)
    return RaytracedDataset(cfg, src.settings, cat["users"][keep], F, cat["counts"][keep],
                            delays[keep], powers[keep], redrawn, int(count - B),
                            float(sum(first) / count))  # fmt: skip


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="solve", desc="ray tracing", disable=not enabled)
