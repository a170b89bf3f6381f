"""Ray-traced coisac channels (gr_cfisac.coisac.raytrace, raytrace_dataset): the conversions from
a CIR to F on synthetic CIRs built from the geometric steering vectors (no sionna needed), the
cache, the dataset's redraw/drop rules with a stand-in solver; with sionna-rt installed, a
LoS-only check against the geometric source and one small generated batch."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from gr_cfisac.coisac import CoisacConfig, CoisacScenario
from gr_cfisac.coisac import raytrace as rt
from gr_cfisac.coisac.channels import geometric_channels
from gr_cfisac.coisac.geometry import Placement, paper_angles, steering
from gr_cfisac.coisac.raytrace_dataset import RaytracedDataset, TableChannels, generate

LAM = 299_792_458.0 / 28e9


def sionna_like_offsets(Lx: int, Ly: int, lam: float) -> np.ndarray:
    """Element offsets (L, 3) in scene axes of Sionna's PlanarArray (local y-z plane, columns
    along +y, rows from top to bottom, index row + rows col) turned by yaw 90 deg."""
    d = lam / 2
    index = np.arange(Lx * Ly)
    rows, cols = index % Ly, index // Ly  # index = row + Ly col
    local = np.stack([0 * rows, (cols - (Lx - 1) / 2) * d, ((Ly - 1) / 2 - rows) * d], -1)
    return rt.rotate_yaw(local, rt.ARRAY_YAW_RAD)


def synthetic_cir(placement: Placement, sionna_offsets: np.ndarray, extra_paths: int = 2):
    """A CIR (R, 1, N, L, P, 1) in the ray tracer's element order whose valid path 0 is the
    geometric LoS and whose invalid padding holds garbage, with valid (R, N, P)."""
    p = placement
    dist = np.linalg.norm(p.users[:, :, None] - p.bs, axis=-1).reshape(-1, p.N)  # (R, N)
    th, be = paper_angles(p.bs, p.users.reshape(-1, 3))
    a_design = steering(th, be, p.Lx, p.Ly)  # (R, N, L) element i_x + Lx i_z
    perm = rt.element_order(sionna_offsets, p.wavelength_m / 2, p.Lx, p.Ly)
    a_sionna = np.empty_like(a_design)
    a_sionna[..., perm] = a_design  # ray tracer's antenna perm[i] is DESIGN's element i
    amp = p.wavelength_m / (4 * np.pi * dist)
    los = (amp * np.exp(-2j * np.pi * dist / p.wavelength_m))[..., None] * a_sionna
    R, N, L = los.shape
    a = np.full((R, 1, N, L, 1 + extra_paths, 1), 7.0 + 3.0j)  # garbage in invalid paths
    a[:, 0, :, :, 0, 0] = los
    valid = np.zeros((R, N, 1 + extra_paths), bool)
    valid[..., 0] = True
    return a, valid, perm, amp


@pytest.fixture
def placement() -> Placement:
    cfg = CoisacConfig(K=3, Lx=3, Ly=2)  # non-square: a wrong element order cannot pass
    users = np.array([[[250.0, 400.0, 1.5], [280.0, 470.0, 1.5], [230.0, 450.0, 1.5]]] * 2)
    users[1, :, 0] += 5.0
    return Placement(cfg.bs(), users, np.tile(cfg.target, (2, 1)), LAM, cfg.Lx, cfg.Ly)


def test_los_cir_converts_to_the_geometric_los_channel(placement):
    a, valid, perm, amp = synthetic_cir(placement, sionna_like_offsets(3, 2, LAM))
    F = rt.assemble(rt.narrowband(a, valid, perm), placement.batch, placement.K)
    Fg = geometric_channels(placement, np.random.default_rng(0), 28e9, scattered_paths=0)
    # the geometric source uses UMi pathloss; equal up to the per-link amplitude only
    B, N, L, K = 2, 3, 6, 3
    umi = np.abs(Fg.reshape(B, N, L, K))[:, :, 0, :]  # (B, N, K)
    scale = amp.reshape(B, K, N).transpose(0, 2, 1) / umi
    expected = (Fg.reshape(B, N, L, K) * scale[:, :, None, :]).reshape(B, N * L, K)
    np.testing.assert_allclose(F, expected, rtol=1e-12, atol=0)


def test_wrong_element_order_is_detected(placement):
    a, valid, perm, _ = synthetic_cir(placement, sionna_like_offsets(3, 2, LAM))
    good = rt.narrowband(a, valid, perm)
    bad = rt.narrowband(a, valid, np.arange(perm.size))
    assert not np.allclose(good, bad)
    assert sorted(perm) == list(range(6)) and not np.array_equal(perm, np.arange(6))


def test_narrowband_sums_valid_paths_only():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 1, 2, 6, 5, 1)) + 1j * rng.standard_normal((4, 1, 2, 6, 5, 1))
    valid = rng.random((4, 2, 5)) < 0.5
    h = rt.narrowband(a, valid, np.arange(6))
    expected = (a[:, 0, :, :, :, 0] * valid[:, :, None, :]).sum(-1)
    np.testing.assert_allclose(h, expected, rtol=1e-13)
    with pytest.raises(ValueError, match="narrowband"):
        rt.narrowband(a[:, :, 0], valid, np.arange(6))


def test_element_order_rejects_arrays_that_are_not_an_xz_grid():
    off = sionna_like_offsets(4, 4, LAM)
    perm = rt.element_order(off, LAM / 2, 4, 4)
    # DESIGN's index i_x + Lx i_z: element 1 is one step along +x, element 4 one step up
    step = off[perm[1]] - off[perm[0]], off[perm[4]] - off[perm[0]]
    np.testing.assert_allclose(step[0], [LAM / 2, 0, 0], atol=1e-12)
    np.testing.assert_allclose(step[1], [0, 0, LAM / 2], atol=1e-12)
    with pytest.raises(ValueError, match="x-z plane"):
        rt.element_order(rt.rotate_yaw(off, 0.3), LAM / 2, 4, 4)
    with pytest.raises(ValueError, match="grid"):
        rt.element_order(off, LAM, 4, 4)


def test_pad_paths_pads_to_the_longest_and_keeps_the_data():
    x = np.arange(6.0).reshape(3, 2)
    y = np.arange(8.0).reshape(2, 4)
    out = rt.pad_paths([x, y], np.nan)
    assert out.shape == (5, 4)
    np.testing.assert_array_equal(out[:3, :2], x)
    assert np.isnan(out[:3, 2:]).all()
    np.testing.assert_array_equal(out[3:], y)
    with pytest.raises(ValueError, match="paths"):
        rt.widen_paths(y, 2, 0.0)


def test_assemble_layout_is_bs_major():
    h = np.arange(2 * 3 * 3 * 4).reshape(6, 3, 4).astype(complex)  # R = B K = 2 x 3
    F = rt.assemble(h, 2, 3)
    assert F.shape == (2, 12, 3)
    # F[b, n L + l, k] = h[b K + k, n, l]
    assert F[1, 2 * 4 + 3, 2] == h[1 * 3 + 2, 2, 3]
    with pytest.raises(ValueError, match="receivers"):
        rt.assemble(h, 3, 3)


def test_missing_extra_names_the_setup_target(monkeypatch):
    monkeypatch.setitem(sys.modules, "sionna", None)
    monkeypatch.setitem(sys.modules, "sionna.rt", None)
    with pytest.raises(rt.RaytraceUnavailable, match="make setup-raytrace"):
        rt.require_sionna()
    src = rt.RaytracedChannels(rt.RaytraceSettings())
    cfg = CoisacConfig()
    with pytest.raises(ImportError, match="make setup-raytrace"):
        CoisacScenario(cfg, channel_source=src).draw(1, 0)


def test_settings_need_a_stated_offset_for_other_scenes():
    assert rt.RaytraceSettings().offset_m == (262.0, 440.0, 0.0)
    with pytest.raises(ValueError, match="offset_m"):
        rt.RaytraceSettings(scene="munich")
    assert rt.RaytraceSettings(scene="munich", offset_m=(0, 0, 0)).offset_m == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="max_depth"):
        rt.RaytraceSettings(max_depth=-1)


def fake_solver(calls: list, x_max: float = 262.0):
    """A stand-in for solve_paths: the geometric LoS, but no path at all for x > x_max m."""

    def solve(settings, bs, points, carrier_hz, Lx, Ly):
        calls.append(len(points))
        lam = 299_792_458.0 / carrier_hz
        pl = Placement(np.asarray(bs), points[:, None], points, lam, Lx, Ly)
        h = geometric_channels(pl, np.random.default_rng(0), carrier_hz, 0)  # (R, N L, 1)
        h = h[..., 0].reshape(len(points), len(bs), Lx * Ly)
        dead = points[:, 0] > x_max
        h[dead] = 0
        counts = np.where(dead[:, None], 0, 1 + np.arange(len(bs)))  # 1..N paths per link
        P = len(bs)
        delays = np.where(np.arange(P) < counts[..., None], 1e-7, np.nan)
        powers = np.where(np.arange(P) < counts[..., None], 1e-9, 0.0)
        return rt.Trace(h, counts, delays, powers)

    return solve


def test_cache_answers_without_solving(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(rt, "solve_paths", fake_solver(calls))
    cfg = CoisacConfig()
    users = np.array([[[240.0, 420.0, 1.5]] * cfg.K])
    first = CoisacScenario(cfg, channel_source=rt.RaytracedChannels(cache_dir=tmp_path))
    F1 = first.realize(users).F
    assert calls == [cfg.K] and len(list(tmp_path.glob("*.npz"))) == 1
    assert not list(tmp_path.glob("*.tmp"))
    F2 = (
        CoisacScenario(cfg, channel_source=rt.RaytracedChannels(cache_dir=tmp_path))
        .realize(users)
        .F
    )
    assert calls == [cfg.K]  # served from disk
    np.testing.assert_array_equal(F1, F2)
    moved = users + [1.0, 0.0, 0.0]
    CoisacScenario(cfg, channel_source=rt.RaytracedChannels(cache_dir=tmp_path)).realize(moved)
    deeper = rt.RaytracedChannels(rt.RaytraceSettings(max_depth=3), cache_dir=tmp_path)
    CoisacScenario(cfg, channel_source=deeper).realize(users)
    assert len(calls) == 3  # new positions and new settings are new keys


def test_generate_redraws_pathless_users_and_resumes(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(rt, "solve_paths", fake_solver(calls))
    cfg = CoisacConfig()
    ds = generate(cfg, 7, cache_dir=tmp_path, chunk=4, seed=3, progress=False)
    assert ds.F.shape == (7, cfg.antennas, cfg.K) and ds.dropped == 0 and ds.redrawn > 0
    assert np.all(ds.users[..., 0] <= 262.0) and np.all(ds.counts > 0)
    assert 0.0 < ds.first_reached < 1.0
    assert ds.delays.shape == (7, cfg.K, cfg.N, cfg.N)
    n = len(calls)
    again = generate(cfg, 7, cache_dir=tmp_path, chunk=4, seed=3, progress=False)
    assert len(calls) == n  # every solve came from the cache
    np.testing.assert_array_equal(again.F, ds.F)
    monkeypatch.setattr(rt, "solve_paths", fake_solver(calls, x_max=290.0))
    strict = generate(cfg, 7, chunk=4, seed=3, redraw_tries=0, progress=False)
    assert strict.dropped > 0 and strict.batch == 7 - strict.dropped and strict.redrawn == 0
    assert np.all(strict.users[..., 0] <= 290.0)


def test_dataset_roundtrip_and_batch(monkeypatch, tmp_path):
    monkeypatch.setattr(rt, "solve_paths", fake_solver([]))
    cfg = CoisacConfig()
    ds = generate(cfg, 3, chunk=3, seed=0, progress=False)
    ds.save(tmp_path / "d.npz")
    back = RaytracedDataset.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.F, ds.F)
    assert back.settings == ds.settings and back.cfg == ds.cfg
    batch = back.to_batch(0)
    np.testing.assert_array_equal(batch.F, ds.F)
    stats = back.statistics()
    assert stats["links_with_paths"] == 1.0 and stats["paths_per_link_max"] == cfg.N
    # the stand-in's channel is the geometric LoS: FSPL-free UMi amplitude, so the power
    # ratio against the geometric source (LoS + scatter, K = 9 dB) is near 0 dB
    assert abs(stats["ray_minus_geometric_db_median"]) < 3.0
    with pytest.raises(ValueError, match="user positions"):
        TableChannels(ds.users, ds.F)(
            Placement(cfg.bs(), ds.users + 1, ds.users[:, 0], LAM, 4, 4), None
        )


# --- with sionna-rt (the optional extra) ---------------------------------------------------------


def sionna_or_skip():
    pytest.importorskip("sionna.rt", reason="the [raytrace] extra: make setup-raytrace")


def test_sionna_los_matches_the_geometric_steering_vector():
    sionna_or_skip()
    cfg = CoisacConfig(K=2, scattered_paths=0)
    users = np.array([[[250.0, 385.0, 1.5], [280.0, 490.0, 1.5]]])  # open ground, LoS
    src = rt.RaytracedChannels(rt.RaytraceSettings(max_depth=0, samples_per_src=10_000))
    Fr = CoisacScenario(cfg, channel_source=src).realize(users).F[0]
    Fg = CoisacScenario(cfg).realize(users).F[0]
    checked = 0
    for k in range(cfg.K):
        for n in range(cfg.N):
            r, g = (F[n * cfg.L : (n + 1) * cfg.L, k] for F in (Fr, Fg))
            if not np.any(r):
                continue  # blocked by a building at depth 0
            checked += 1
            rel = r * np.conj(g) / np.abs(r * g)  # phase pattern up to a common phase
            assert np.max(np.abs(rel - rel[0])) < 0.02  # float32 CIR
            # with the array centred as stated, even the common phase exp(-j 2 pi d / lambda)
            # agrees (float32 delays of ~5000 cycles: ~3 mrad)
            assert abs(np.angle(rel[0])) < 0.05
            d = np.linalg.norm(users[0, k] - cfg.bs()[n])
            fspl = (cfg.wavelength_m / (4 * math.pi * d)) ** 2
            assert abs(10 * math.log10(np.mean(np.abs(r) ** 2) / fspl)) < 0.05  # dB
    assert checked >= 3  # b1 and b2 see user 0, b2 and b3 see user 1


def test_sionna_small_generated_batch(tmp_path):
    sionna_or_skip()
    cfg = CoisacConfig()
    settings = rt.RaytraceSettings(samples_per_src=10_000)
    ds = generate(cfg, 3, settings, tmp_path, chunk=3, seed=0, progress=False)
    assert ds.F.shape == (ds.batch, cfg.antennas, cfg.K) and ds.batch + ds.dropped == 3
    assert ds.batch >= 1 and np.all(np.isfinite(ds.F))
    assert np.all(ds.counts.sum(-1) > 0)  # every kept user has a path
    power = (np.abs(ds.F) ** 2).sum(1)  # (B, K)
    assert np.all(power > 0) and np.all(
        power < 1e-4
    )  # passive: below 48 elements' free-space gain at 1 m


def test_command_writes_dataset_and_stats(monkeypatch, tmp_path, capsys):
    from gr_cfisac.cli import main

    monkeypatch.setattr(rt, "solve_paths", fake_solver([]))
    out = tmp_path / "rt"
    assert main(["coisac-raytrace", "--count", "3", "--chunk", "2", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    ds = RaytracedDataset.load(out / "dataset.npz")
    assert ds.batch == 3 and (out / "stats.json").exists() and list((out / "cache").glob("*.npz"))
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "sionna", None)
    monkeypatch.setitem(sys.modules, "sionna.rt", None)
    capsys.readouterr()
    assert main(["coisac-raytrace", "--count", "1", "--out", str(tmp_path / "x")]) == 2
    assert "make setup-raytrace" in capsys.readouterr().err


def test_old_llvm_only_is_reported_before_dr_jit_can_abort(tmp_path, monkeypatch):
    monkeypatch.delenv("DRJIT_LIBLLVM_PATH", raising=False)
    for name in ("libLLVM-14.so.1", "libLLVM-15.so"):
        (tmp_path / name).touch()
    pattern = (str(tmp_path / "libLLVM*.so*"),)
    assert rt.old_llvm_only(pattern) == ["libLLVM-14.so.1", "libLLVM-15.so"]
    (tmp_path / "libLLVM.so.19.1").touch()
    assert rt.old_llvm_only(pattern) == []
    assert rt.old_llvm_only((str(tmp_path / "none*"),)) == []  # other layouts: left to Dr.Jit
