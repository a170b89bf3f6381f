"""QA of the MUSIC localizer and the target fusion on real top blocks: the sensing core's angles
on the same snapshots, the display spectrum of eq 42, target association and the position fix."""

import numpy as np
import pytest

from gnuradio import blocks
from gr_cfisac import music
from gr_cfisac.blocks import display_size, fusion, music_localizer
from gr_cfisac.blocks.layout import angles_layout, fix_layout, pack_geometry
from gr_cfisac.blocks.messages import decode
from gr_cfisac.blocks.music_localizer import display_grid
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.echo import synthesize
from gr_cfisac.precoding import isac_beamformer, nullspace_beam, target_beam, zf
from gr_cfisac.scenario import draw_realizations

B = 8


@pytest.fixture(scope="module")
def scene():
    from gr_cfisac.config import SystemConfig

    cfg = SystemConfig(MR_shape=(4, 4))  # 2x2 RAPs cannot identify target + 2 clutter points
    r = draw_realizations(cfg, B, 21)
    beam = nullspace_beam(target_beam(r.sensing.aT_t, r.sensing.amp_t), r.F_hat)
    W = isac_beamformer(zf(r.F_hat, cfg.power_budget), beam, cfg.power_budget, 0.6)
    echo = synthesize(r.sensing, W, cfg.tau, 5)
    Y = echo.y.astype(np.complex64)  # (B, NR, MR, tau) as the stream carries it
    ports = [np.swapaxes(Y[:, j], 1, 2) for j in range(cfg.NR)]
    return cfg, r, Y.astype(complex), ports


def test_music_angles_equal_the_core_on_the_same_snapshots(scene):
    cfg, _, Y, ports = scene
    debug = blocks.message_debug()
    blk = music_localizer(cfg, msg_interval=1)
    outs = run_block(
        blk,
        ports,
        n_outputs=cfg.NR,
        extra=lambda tb, b: tb.msg_connect((b, "angles"), (debug, "store")),
    )
    want = music.estimate(Y, *cfg.MR_shape, n_sources=cfg.NC + 1, n_peaks=cfg.NC + 1)
    layout = angles_layout(cfg.NC + 1)
    for j in range(cfg.NR):
        got = layout.unpack(outs[j].data[:, 0])
        np.testing.assert_allclose(got["psi"], want.angles[:, j, :, 0], atol=2e-6)
        np.testing.assert_allclose(got["theta"], want.angles[:, j, :, 1], atol=2e-6)
        value = want.value[:, j]  # float32 carries values beyond its range as inf
        np.testing.assert_allclose(got["value"], np.where(value > 3.4e38, np.inf, value), rtol=1e-5)
        assert np.all(got["n_sources"] == cfg.NC + 1)
        assert np.all(got["validity"] == music.Validity.OK) and np.all(np.isfinite(got["psi"]))
        assert outs[j].cb() == [(b, b) for b in range(B)]
    msgs = [decode(debug.get_message(i)) for i in range(debug.num_messages())]
    assert [m["cb"] for m in msgs] == list(range(B))
    np.testing.assert_allclose(msgs[2]["psi_deg"], np.degrees(want.angles[2, :, :, 0]), atol=1e-4)


def test_model_order_mode_uses_mdl_per_block(scene):
    cfg, _, Y, ports = scene
    outs = run_block(
        music_localizer(cfg, n_sources=0, n_peaks=3, msg_interval=0), ports, n_outputs=cfg.NR
    )
    want = music.estimate(Y, *cfg.MR_shape, n_sources=None, n_peaks=3)
    got = angles_layout(3).unpack(outs[0].data[:, 0])
    np.testing.assert_array_equal(got["n_sources"][:, 0], want.n_sources[:, 0])


def test_display_spectrum_is_eq42_in_db(scene):
    cfg, _, Y, ports = scene
    step = 10.0
    outs = run_block(music_localizer(cfg, display_step_deg=step, msg_interval=0), ports)
    assert len(outs) == 2 * cfg.NR
    az, el = display_grid(step)
    assert outs[cfg.NR].data.shape[-1] == display_size(step) == az.size * el.size
    R = music.sample_covariance(Y[:, 1])
    spec = music.spectrum(R, *cfg.MR_shape, cfg.NC + 1, az, el)
    want = 10 * np.log10(spec / spec.max(axis=(-2, -1), keepdims=True))
    got = outs[cfg.NR + 1].data[:, 0].reshape(B, az.size, el.size)
    np.testing.assert_allclose(got, want, atol=1e-3)


def fix_of(cfg, outs):
    return fix_layout(cfg).unpack(outs[0].data[:, 0])


def peaks_ports(cfg, psi, theta, validity=None):
    layout = angles_layout(psi.shape[-1])
    validity = np.zeros(psi.shape[:2]) if validity is None else validity
    return [
        layout.pack(
            psi=psi[:, j],
            theta=theta[:, j],
            value=np.ones_like(psi[:, j]),
            n_sources=np.full((len(psi), 1), psi.shape[-1]),
            validity=validity[:, j, None],
        )[:, None]
        for j in range(cfg.NR)
    ]


def test_fusion_finds_the_target_among_clutter_peaks(scene):
    cfg, r, _, _ = scene
    sg = r.sensing
    # clutter peaks first (stronger), the target last: association by the known direction
    psi = np.concatenate([sg.psi_c, sg.psi_t[..., None]], -1)
    theta = np.concatenate([sg.theta_c, sg.theta_t[..., None]], -1)
    geometry = pack_geometry(cfg, sg)[:, None]
    fix = fix_of(
        cfg, run_block(fusion(cfg, msg_interval=0), peaks_ports(cfg, psi, theta) + [geometry])
    )
    np.testing.assert_allclose(fix["pos"], r.geom.target_pos, atol=1e-3)
    np.testing.assert_allclose(fix["psi"], sg.psi_t, atol=1e-5)
    # "strongest" takes the first peak: a clutter direction, so the fix is elsewhere
    fix = fix_of(
        cfg,
        run_block(
            fusion(cfg, association="strongest", msg_interval=0),
            peaks_ports(cfg, psi, theta) + [geometry],
        ),
    )
    np.testing.assert_allclose(fix["psi"], sg.psi_c[..., 0], atol=1e-5)


def test_fusion_position_messages_mirror_the_fix_stream(scene):
    cfg, r, _, _ = scene
    sg = r.sensing
    psi = np.concatenate([sg.psi_c, sg.psi_t[..., None]], -1)
    theta = np.concatenate([sg.theta_c, sg.theta_t[..., None]], -1)
    debug = blocks.message_debug()
    outs = run_block(
        fusion(cfg, msg_interval=3, max_blocks=2),
        peaks_ports(cfg, psi, theta) + [pack_geometry(cfg, sg)[:, None]],
        extra=lambda tb, b: tb.msg_connect((b, "position"), (debug, "store")),
    )
    fix = fix_of(cfg, outs)
    msgs = [decode(debug.get_message(i)) for i in range(debug.num_messages())]
    assert [m["cb"] for m in msgs] == list(range(0, B, 3))  # every 3rd block, in order
    for m in msgs:
        b = m["cb"]
        np.testing.assert_allclose(m["pos"], fix["pos"][b], atol=1e-4)
        np.testing.assert_allclose(m["psi_deg"], np.degrees(fix["psi"][b]), atol=1e-3)
        assert m["error_radius"] == pytest.approx(fix["error_radius"][b, 0], rel=1e-5, abs=1e-6)
    assert outs[0].cb() == [(b, b) for b in range(B)]


def test_fusion_marks_misses_when_no_peak_is_near_the_target(scene):
    cfg, r, _, _ = scene
    sg = r.sensing
    psi, theta = sg.psi_c.copy(), sg.theta_c.copy()  # only clutter peaks at every RAP
    geometry = pack_geometry(cfg, sg)[:, None]
    fix = fix_of(
        cfg,
        run_block(
            fusion(cfg, n_peaks=cfg.NC, gate_deg=1.0, msg_interval=0),
            peaks_ports(cfg, psi, theta) + [geometry],
        ),
    )
    assert np.all(np.isnan(fix["pos"])) and np.all(np.isnan(fix["psi"]))


def test_fusion_leaves_out_raps_whose_block_is_not_valid(scene):
    """A RAP marked invalid takes no part even if its item holds numbers: the fix of the other
    RAPs, and NaN for its angles."""
    cfg, r, _, _ = scene
    sg = r.sensing
    psi = np.concatenate([sg.psi_c, sg.psi_t[..., None]], -1)
    theta = np.concatenate([sg.theta_c, sg.theta_t[..., None]], -1)
    validity = np.zeros((B, cfg.NR))
    validity[:, 1] = music.Validity.NOT_IDENTIFIABLE
    validity[3, 2] = music.Validity.SATURATED
    geometry = pack_geometry(cfg, sg)[:, None]
    fix = fix_of(
        cfg,
        run_block(fusion(cfg, msg_interval=0), peaks_ports(cfg, psi, theta, validity) + [geometry]),
    )
    assert np.all(np.isnan(fix["psi"][:, 1])) and np.isnan(fix["psi"][3, 2])
    np.testing.assert_allclose(fix["psi"][:, 0], sg.psi_t[:, 0], atol=1e-5)
    np.testing.assert_allclose(fix["pos"], r.geom.target_pos, atol=1e-3)  # 3 RAPs still fix it


def test_music_marks_bad_blocks_and_carries_on(scene):
    """NaN, silent and clipped samples (what a radio can send) are marked on the output item with
    NaN peaks; the block neither stops nor lets them touch the good blocks around them."""
    cfg, _, Y, ports = scene
    ports = [p.copy() for p in ports]
    ports[0][1, 5, 2] = np.nan  # block 1 of RAP 1: one NaN sample
    ports[1][2] = 0  # block 2 of RAP 2: silent
    peak = np.abs(ports[2][4].real).max() / 4  # block 4 of RAP 3: an ADC that clips
    ports[2][4] = np.clip(ports[2][4].real, -peak, peak) + 1j * np.clip(
        ports[2][4].imag, -peak, peak
    )
    blk = music_localizer(cfg, msg_interval=0, display_step_deg=10.0)
    outs = run_block(blk, ports)
    layout = angles_layout(cfg.NC + 1)
    got = [layout.unpack(outs[j].data[:, 0]) for j in range(cfg.NR)]
    bad = {(0, 1): music.Validity.NON_FINITE, (1, 2): music.Validity.SILENT}
    bad[(2, 4)] = music.Validity.SATURATED
    want = music.estimate(Y, *cfg.MR_shape, n_sources=cfg.NC + 1, n_peaks=cfg.NC + 1)
    for j in range(cfg.NR):
        assert outs[j].cb() == [(b, b) for b in range(B)]
        for b in range(B):
            code = bad.get((j, b), music.Validity.OK)
            assert got[j]["validity"][b, 0] == code
            if code == music.Validity.OK:
                np.testing.assert_allclose(got[j]["psi"][b], want.angles[b, j, :, 0], atol=2e-6)
            else:
                assert np.all(np.isnan(got[j]["psi"][b])) and np.all(np.isnan(got[j]["value"][b]))
    spec = outs[cfg.NR].data[:, 0]
    assert np.all(np.isnan(spec[1])) and np.all(np.isfinite(spec[0]))


def test_table_one_raps_are_marked_not_identifiable(cfg, rng):
    """Table I's 2x2 RAP with target + 2 clutter points: M - 3 = 1 noise dimension, no isolated
    peaks, infinite CRB: every block says so (and MDL-chosen lower orders are searched)."""
    Y = (rng.standard_normal((4, 4, 60)) + 1j * rng.standard_normal((4, 4, 60))).astype(
        np.complex64
    )
    ports = [np.swapaxes(Y, 1, 2)] * cfg.NR
    outs = run_block(music_localizer(cfg, msg_interval=0), ports, n_outputs=cfg.NR)
    got = angles_layout(cfg.NC + 1).unpack(outs[0].data[:, 0])
    assert np.all(got["validity"] == music.Validity.NOT_IDENTIFIABLE)
    assert np.all(np.isnan(got["psi"])) and np.all(got["n_sources"] == 3)
    assert music.identifiable(2, 2, 2) and not music.identifiable(3, 2, 2)
    assert not music.identifiable(1, 1, 4)  # a linear array sees a cone, not a direction


def test_bad_parameters(cfg):
    with pytest.raises(ValueError, match="MUSIC resolves at most"):
        music_localizer(cfg, n_sources=cfg.MR)
    with pytest.raises(ValueError, match="association must be one of"):
        fusion(cfg, association="vote")
    with pytest.raises(ValueError, match="display_step_deg"):
        music_localizer(cfg, display_step_deg=0)
