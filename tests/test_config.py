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


# ------------------------------------------------------------------ ranges (issue 17)


def _refused(field: str, text: str, **changes):
    """The same refusal at construction and from JSON, naming the field."""
    with pytest.raises(ValueError, match=rf"SystemConfig\.{field}\b.*{text}"):
        SystemConfig(**changes)
    with pytest.raises(ValueError, match=rf"SystemConfig\.{field}\b.*{text}"):
        SystemConfig.from_json(json.dumps({k: v for k, v in changes.items()}))


@pytest.mark.parametrize(
    "field, value",
    [
        ("tap_power_dbm", 1e308),  # OverflowError in rho before the ranges
        ("noise_figure_db", 1e308),  # OverflowError in the noise power
        ("rho_db", 1e5),  # OverflowError in rho
        ("rho_p_db", -1e5),
        ("carrier_hz", 5e-324),  # LinAlgError at run time (infinite wavelength)
        ("area_m", 1e308),  # LinAlgError at run time
        ("pathloss_ref_db", 30.0),
        ("pathloss_exponent", 0.01),
        ("bandwidth_hz", 1e300),
        ("rcs_target_m2", 1e300),
        ("min_distance_m", 1e-300),
        ("user_height_m", -1.0),
    ],
)
def test_physical_parameters_have_ranges(field, value):
    changes = {field: value}
    if field == "rho_p_db":
        changes["rho_db"] = 10.0
    _refused(field, r"outside \[.*\].*set " + field + " within that range", **changes)


@pytest.mark.parametrize(
    "field, value",
    [("NT", True), ("K", False), ("tau_c", True), ("carrier_hz", True), ("rho_db", True),
     ("noise_figure_db", False), ("MT_shape", [True, True]), ("MR_shape", [2, True]),
     ("rician_k_range", [True, 3.0]), ("NT", 8.0), ("carrier_hz", "3.5e9")],
)  # fmt: skip
def test_booleans_and_strings_are_not_numbers(field, value):
    with pytest.raises(ValueError, match=rf"SystemConfig\.{field} must be .*not (a )?boolean"):
        SystemConfig.from_json(json.dumps({field: value}))


@pytest.mark.parametrize(
    "changes, text",
    [
        (
            {"NT": 10**9},
            r"SystemConfig\.NT = 1000000000 is outside \[1, 1024\].*one GNU Radio port",
        ),
        ({"NR": 5000}, r"SystemConfig\.NR .*one GNU Radio port per AP"),
        ({"K": 2000, "tau_p": 2000}, r"SystemConfig\.K .*one GNU Radio port per user"),
        ({"NC": 10**6}, r"SystemConfig\.NC .*\[0, 1024\]"),
        ({"tau_c": 10**9}, r"SystemConfig\.tau_c .*2 x max_blocks whole blocks"),
        ({"MT_shape": [1000, 1000]}, r"SystemConfig\.MT_shape .*\[1, 64\]"),
        ({"NT": 1024, "NR": 1024}, r"sensing matrices G_t, G_c .* per coherence block.*lower"),
        ({"NT": 1024, "K": 1000, "tau_p": 1000, "MT_shape": [8, 8]}, r"correlation matrices"),
    ],
)
def test_counts_are_bounded_with_the_reason(changes, text):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=text):
            SystemConfig.from_json(json.dumps(changes))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # refused from the counts, before any array of that size exists


def test_numbers_are_normalized_and_the_ranges_edges_run():
    """numpy scalars become plain ints/floats (JSON-able); configs at the ranges' corners draw
    finite channels (the ranges keep every derived quantity finite and non-zero)."""
    from gr_cfisac.metrics import scnr, sinr
    from gr_cfisac.precoding import isac_beamformer, mrt
    from gr_cfisac.scenario import draw_realizations

    cfg = SystemConfig(NT=np.int64(4), carrier_hz=np.float32(3.5e9), rho_db=np.float64(7))
    assert type(cfg.NT) is int and type(cfg.carrier_hz) is float
    assert SystemConfig.from_json(cfg.to_json()) == cfg
    far = dict(area_m=1e5, pathloss_exponent=10.0, pathloss_ref_db=-200.0, carrier_hz=1e12,
               tap_power_dbm=-100.0, pilot_power_dbm=-100.0, noise_figure_db=50.0,
               bandwidth_hz=1e11, noise_temperature_k=1e4)  # fmt: skip
    near = dict(area_m=1.0, min_distance_m=1e-3, carrier_hz=1e6, tap_power_dbm=90.0,
                pilot_power_dbm=90.0, noise_figure_db=0.0, bandwidth_hz=1.0,
                noise_temperature_k=1.0, pathloss_ref_db=0.0, pathloss_exponent=1.0,
                rcs_target_m2=1e6, rcs_clutter_m2=1e6, rician_k_range=(1e4, 1e4))  # fmt: skip
    for changes in (far, near, {"rho_db": 200.0, "rho_p_db": -100.0}):
        cfg = SystemConfig(**changes)
        r = draw_realizations(cfg, 2, 0)
        W = isac_beamformer(mrt(r.F_hat, cfg.power_budget), r.F_hat[..., 0], cfg.power_budget, 0.3)
        assert np.all(np.isfinite(sinr(r.F, W))) and np.all(np.isfinite(scnr(r.G_t, r.G_c, W)))


def test_overloaded_systems_stay_legal_and_zf_refuses_them():
    """K > N = NT MT is a studied regime: the config accepts it, ZF (which needs K <= N)
    refuses naming K and N, MRT serves it."""
    from gr_cfisac.precoding import mrt, zf
    from gr_cfisac.scenario import draw_realizations

    cfg = SystemConfig.from_json('{"NT": 1, "MT_shape": [1, 2], "K": 4}')
    assert cfg.K > cfg.N == 2
    r = draw_realizations(cfg, 2, 0)
    with pytest.raises(ValueError, match=r"zf needs at least .* N=2, K=4"):
        zf(r.F_hat, cfg.power_budget)
    assert mrt(r.F_hat, cfg.power_budget).shape == (2, 2, 4)


def test_more_sources_than_rap_antennas_is_refused_by_music_when_built():
    """NC + 1 = 5 scatterers on a 2x2 RAP: a legal config (the comm side works), but the MUSIC
    block refuses it when built, naming the sources and the antennas."""
    from gr_cfisac.blocks import music_localizer

    cfg = SystemConfig.from_json('{"NC": 4, "MR_shape": [2, 2]}')
    with pytest.raises(ValueError, match=r"n_sources=5 but the RAP has only M=4 antennas"):
        music_localizer(cfg)
    assert music_localizer(cfg, n_sources=0).n_sources == 0  # MDL per block is still allowed
