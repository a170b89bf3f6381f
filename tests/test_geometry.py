import numpy as np
import pytest

from gr_cfisac.arrays import canonical_angles
from gr_cfisac.config import SystemConfig
from gr_cfisac.geometry import PAPER_SCENE_DEG, ap_positions, drop, local_angles, paper_scene


def test_paper_scene_angles_seen_from_rap1(cfg):
    geom = drop(cfg, 0, 2, scene="paper")
    psi, theta, _ = local_angles(geom.rap_pos[:1], geom.rap_frame[:1], geom.target_pos[0])
    assert np.degrees(psi[0]) == pytest.approx(-45.0)
    assert np.degrees(theta[0]) == pytest.approx(45.0)
    psi_c, th_c, _ = local_angles(geom.rap_pos[:1], geom.rap_frame[:1], geom.clutter_pos[0])
    for c, (p_deg, t_deg) in enumerate(PAPER_SCENE_DEG["clutter"]):
        cp, ct = canonical_angles(np.radians(p_deg), np.radians(t_deg))
        assert psi_c[c, 0] == pytest.approx(cp)
        assert th_c[c, 0] == pytest.approx(ct)


def test_drop_is_seeded_and_respects_the_area(cfg):
    a = drop(cfg, 7, 50, scene="random")
    b = drop(cfg, 7, 50, scene="random")
    np.testing.assert_array_equal(a.user_pos, b.user_pos)
    np.testing.assert_array_equal(a.target_pos, b.target_pos)
    assert a.user_pos.shape == (50, cfg.K, 3) and a.clutter_pos.shape == (50, cfg.NC, 3)
    assert np.all((a.user_pos[..., :2] >= 0) & (a.user_pos[..., :2] <= cfg.area_m))
    aps = np.concatenate(ap_positions(cfg))
    d = np.linalg.norm(a.user_pos[..., None, :] - aps, axis=-1)
    assert d.min() >= cfg.min_distance_m


def test_everything_in_front_of_the_downward_arrays(cfg):
    geom = drop(cfg, 3, 20, scene="random")
    _, theta, _ = local_angles(geom.tap_pos, geom.tap_frame, geom.user_pos)
    assert np.all(theta < np.pi / 2)


def test_bad_scene_and_nc_errors(cfg):
    with pytest.raises(ValueError, match="scene"):
        drop(cfg, 0, 1, scene="moon")
    with pytest.raises(ValueError, match="NC == 2"):
        paper_scene(SystemConfig(NC=3))
