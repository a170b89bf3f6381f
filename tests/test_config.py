import json

import numpy as np
import pytest

from gr_cfisac.config import SystemConfig


def test_table_one_defaults(cfg):
    assert (cfg.NT, cfg.NR, cfg.MT, cfg.MR, cfg.K, cfg.NC) == (8, 4, 4, 4, 4, 2)
    assert (cfg.tau_c, cfg.tau_p, cfg.tau) == (196, 4, 192)
    assert cfg.kappa == pytest.approx(192 / 196)
    assert cfg.N == 32


def test_rho_derived_from_link_budget(cfg):
    # rho = P_TAP / (k T B NF): -12 dBm over -174 + 73 + 9 = -92 dBm of noise -> 80 dB
    noise_dbm = 10 * np.log10(1.380649e-23 * 290 * 20e6 * 1e3) + 9
    assert 10 * np.log10(cfg.rho) == pytest.approx(-12 - noise_dbm, abs=1e-9)
    assert 10 * np.log10(cfg.rho_p) == pytest.approx(0 - noise_dbm, abs=1e-9)
    assert cfg.power_budget == pytest.approx(cfg.rho * cfg.NT)


def test_pathloss_and_reflection_closed_forms(cfg):
    assert 10 * np.log10(cfg.pathloss_gain(10.0)) == pytest.approx(-40 - 30)
    lam = 299_792_458.0 / 3.5e9
    amp = cfg.reflection_gain(10.0, 20.0, 2.0)
    assert amp**2 == pytest.approx(lam**2 * 2.0 / ((4 * np.pi) ** 3 * 100 * 400))


def test_normalized_override():
    cfg = SystemConfig(rho_db=10.0)
    assert cfg.rho == pytest.approx(10.0)
    assert cfg.rho_p == pytest.approx(10.0)
    assert np.all(cfg.pathloss_gain(np.array([3.0, 70.0])) == 1.0)
    assert cfg.reflection_gain(5.0, 9.0, 4.0) == pytest.approx(2.0)


def test_json_round_trip():
    cfg = SystemConfig(K=3, MT_shape=(4, 2), rician_k_range=(2, 5), rho_db=7.0)
    back = SystemConfig.from_json(cfg.to_json())
    assert back == cfg
    assert json.loads(cfg.to_json())["MT_shape"] == [4, 2]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"NT": 0}, "NT"),
        ({"K": -1}, "K"),
        ({"tau_p": 3}, "tau_p"),
        ({"tau_c": 4}, "tau_c"),
        ({"MT_shape": (0, 2)}, "MT_shape"),
        ({"carrier_hz": -1.0}, "carrier_hz"),
        ({"rician_k_range": (3, 1)}, "rician_k_range"),
        ({"correlation": "foo"}, "correlation"),
        ({"NC": -2}, "NC"),
        ({"MT_shape": 4}, "MT_shape"),
        ({"MR_shape": "22"}, "MR_shape"),
        ({"MT_shape": (2.5, 2)}, "MT_shape"),
        ({"rician_k_range": (1.0,)}, "rician_k_range"),
        ({"rho_db": float("nan")}, "rho_db"),
        ({"tap_power_dbm": float("inf")}, "tap_power_dbm"),
    ],
)
def test_invalid_values_raise_clear_errors(changes, field):
    with pytest.raises(ValueError, match=field):
        SystemConfig(**changes)


def test_from_json_rejects_unknown_fields_and_bad_json():
    with pytest.raises(ValueError, match="unknown field"):
        SystemConfig.from_dict({"NT": 8, "bogus": 1})
    with pytest.raises(ValueError, match="not valid JSON"):
        SystemConfig.from_json("{nope")


def test_shapes_from_json_lists_and_numpy_integers():
    cfg = SystemConfig.from_json('{"MT_shape": [4, 2], "MR_shape": [3, 3]}')
    assert cfg.MT_shape == (4, 2) and cfg.MR_shape == (3, 3) and cfg.MT == 8
    assert SystemConfig(MT_shape=np.array([2, 3])).MT_shape == (2, 3)


def test_defaults_land_in_the_papers_regime(cfg):
    """The documented choice of physical defaults: with ZF or MRT on the paper scene, per-user
    SINR roughly 0-20 dB and per-RAP SCNR roughly -10-10 dB (a few bps/Hz per user, a few
    tenths of a bps/Hz per RAP), on the true channels and realized G."""
    from gr_cfisac.metrics import rate, scnr, sinr
    from gr_cfisac.precoding import mrt, zf
    from gr_cfisac.scenario import draw_realizations

    r = draw_realizations(cfg, 300, 0)
    for precoder, sinr_db in ((zf, (15.0, 22.0)), (mrt, (5.0, 15.0))):
        W = precoder(r.F_hat, cfg.power_budget)
        g = 10 * np.log10(np.median(sinr(r.F, W)))
        s = 10 * np.log10(np.median(scnr(r.G_t, r.G_c, W)))
        assert sinr_db[0] < g < sinr_db[1], (precoder.__name__, g)
        assert -14.0 < s < 0.0, (precoder.__name__, s)
        assert 1.0 < rate(sinr(r.F, W), cfg.kappa).mean() < 8.0
        assert 0.05 < rate(scnr(r.G_t, r.G_c, W), cfg.kappa).mean() < 1.0
