"""Fusion batched over coherence blocks (issue 16): a batch gives exactly what block-by-block
computation gives — the position fix of each block does not depend on the blocks it is batched
with, and the clutter map's association equals the block-by-block learning it replaces."""

import numpy as np
import pytest

from gr_cfisac.blocks import fusion
from gr_cfisac.blocks.layout import angles_layout, fix_layout, pack_geometry
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.config import SystemConfig
from gr_cfisac.geometry import rap_poses
from gr_cfisac.localization import ClutterMap, fuse_position, separation
from gr_cfisac.music import Validity
from gr_cfisac.scenario import draw_realizations


def noisy_target_angles(cfg, B, seed):
    """Target angles at every RAP with 3 deg errors, a quarter of the RAPs missing, and the
    first blocks grossly wrong (random directions)."""
    rng = np.random.default_rng(seed)
    real = draw_realizations(cfg, B, seed)
    psi = real.sensing.psi_t + rng.normal(0, np.radians(3), (B, cfg.NR))
    theta = real.sensing.theta_t + rng.normal(0, np.radians(3), (B, cfg.NR))
    psi[rng.random(psi.shape) < 0.25] = np.nan
    psi[:4] = rng.uniform(-np.pi, np.pi, (4, cfg.NR))
    return psi, theta, rng


@pytest.mark.parametrize("height", [None, 1.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_batched_fix_is_the_block_by_block_fix(height, weighted):
    cfg = SystemConfig()
    rap_pos, rap_frame = rap_poses(cfg)
    B = 60
    psi, theta, rng = noisy_target_angles(cfg, B, 7)
    info = None
    if weighted:
        info = np.eye(2) * rng.uniform(1e2, 1e4, (B, cfg.NR, 1, 1))
    batch = fuse_position(rap_pos, rap_frame, psi, theta, info, height_m=height)
    for b in range(B):
        one = fuse_position(
            rap_pos, rap_frame, psi[b : b + 1], theta[b : b + 1],
            None if info is None else info[b : b + 1], height_m=height,
        )  # fmt: skip
        for field in ("position", "covariance", "rms_residual", "used"):
            np.testing.assert_array_equal(getattr(batch, field)[b], getattr(one, field)[0])
    assert np.isfinite(batch.position).sum(-1).min() in (0, 3)


def reference_association(cmap: ClutterMap, peaks: np.ndarray) -> list[int]:
    """The block-by-block algorithm the batched map replaces (one block at a time)."""
    out = []
    for block in peaks:
        # associate: the strongest finite peak that is not within radius of a clutter cell
        if cmap.blocks < cmap.warmup:
            clutter = np.zeros((0, 2))
        else:
            clutter = cmap.centers[cmap.hits >= cmap.min_fraction * cmap.blocks]
        valid = np.all(np.isfinite(block), axis=-1)
        if len(clutter):
            d = separation(block[:, None, 0], block[:, None, 1], clutter[:, 0], clutter[:, 1])
            valid &= ~np.any(d <= cmap.radius, axis=-1)
        out.append(int(np.argmax(valid)) if valid.any() else -1)
        # learn: a known cell counts once per block, unknown directions open cells
        found = block[np.all(np.isfinite(block), axis=-1)]
        new = found
        if len(cmap.centers) and len(found):
            d = separation(
                found[:, None, 0], found[:, None, 1], cmap.centers[:, 0], cmap.centers[:, 1]
            )
            nearest = np.argmin(d, axis=1)
            known = d[np.arange(len(found)), nearest] <= cmap.radius
            cmap.hits[np.unique(nearest[known])] += 1
            new = found[~known]
        first = len(cmap.centers)
        for psi, theta in new:
            fresh = cmap.centers[first:]
            if len(fresh) and separation(*fresh.T, psi, theta).min() <= cmap.radius:
                continue
            cmap.centers = np.vstack([cmap.centers, [psi, theta]])
            cmap.hits = np.append(cmap.hits, 1.0)
        cmap.blocks += 1
    return out


def clutter_scene(rng, T, noise_peaks: bool):
    """Two static clutter directions, a wandering target, and (optionally) a random noise peak
    per block, in random order, with missing peaks."""
    a = np.full((T, 4, 2), np.nan)
    a[:, 0] = np.radians([40.0, 30.0]) + rng.normal(0, 0.01, (T, 2))
    a[:, 1] = np.radians([-100.0, 50.0]) + rng.normal(0, 0.01, (T, 2))
    a[:, 2] = np.radians([-45.0, 45.0]) + np.cumsum(rng.normal(0, 0.02, (T, 2)), axis=0)
    if noise_peaks:
        a[:, 3] = np.c_[rng.uniform(-np.pi, np.pi, T), rng.uniform(0, np.pi / 2, T)]
    a[rng.random((T, 4)) < 0.15] = np.nan
    order = rng.permuted(np.tile(np.arange(4), (T, 1)), axis=1)
    return np.take_along_axis(a, order[..., None], axis=1)


@pytest.mark.parametrize("noise_peaks", [False, True])
@pytest.mark.parametrize("min_fraction, warmup", [(0.5, 5), (0.3, 1), (0.8, 20)])
def test_clutter_map_association_is_the_block_by_block_one(noise_peaks, min_fraction, warmup):
    rng = np.random.default_rng(int(noise_peaks) * 10 + warmup)
    peaks = clutter_scene(rng, 250, noise_peaks)
    kw = dict(radius=np.radians(3.0), min_fraction=min_fraction, warmup=warmup)
    ref = ClutterMap(**kw)
    want = reference_association(ref, peaks)
    for chunk in (1, 37, 250):  # how the blocks are batched does not matter
        cmap = ClutterMap(**kw)
        got = np.concatenate(
            [cmap.associate(peaks[s : s + chunk]) for s in range(0, len(peaks), chunk)]
        )
        assert got.tolist() == want
        np.testing.assert_array_equal(cmap.centers, ref.centers)
        np.testing.assert_array_equal(cmap.hits, ref.hits)
        assert cmap.blocks == ref.blocks


def test_fusion_block_with_a_clutter_map_equals_the_block_by_block_core():
    cfg = SystemConfig()
    B, n = 40, cfg.NC + 1
    rng = np.random.default_rng(3)
    real = draw_realizations(cfg, B, 3)
    peaks = np.stack([clutter_scene(rng, B, True)[:, :n] for _ in range(cfg.NR)], axis=1)
    layout = angles_layout(n)
    ports = []
    for j in range(cfg.NR):
        item = layout.pack(
            psi=peaks[:, j, :, 0], theta=peaks[:, j, :, 1], value=np.ones((B, n)),
            n_sources=np.full((B, 1), n), validity=np.full((B, 1), float(Validity.OK)),
        )  # fmt: skip
        ports.append(item[:, None, :].astype(np.float32))
    ports.append(pack_geometry(cfg, real.sensing)[:, None, :])
    blk = fusion(cfg, association="clutter_map", msg_interval=0, max_blocks=7)
    got = fix_layout(cfg).unpack(run_block(blk, ports)[0].data[:, 0])
    rap_pos, rap_frame = rap_poses(cfg)
    peaks32 = peaks.astype(np.float32).astype(float)
    target = np.full((B, cfg.NR, 2), np.nan)
    for j in range(cfg.NR):
        idx = reference_association(ClutterMap(), peaks32[:, j])
        for b, i in enumerate(idx):
            if i >= 0:
                target[b, j] = peaks32[b, j, i]
    want = fuse_position(
        rap_pos, rap_frame, target[..., 0], target[..., 1], height_m=cfg.target_height_m
    )
    np.testing.assert_array_equal(np.isnan(got["psi"]), np.isnan(target[..., 0]))
    np.testing.assert_allclose(got["psi"], target[..., 0], rtol=1e-6)
    np.testing.assert_allclose(got["pos"], want.position, rtol=1e-5, atol=1e-4)
