"""sca_speb (paper 003's SCA baseline of problem 32): the FIM's affine map in R against
coisac's SPEB, the SCA's monotone relaxed sum rate, constraints met by the returned beams, the
single-user optimum, infeasible gamma reported, the registry family and bad parameters.
Tiny sizes: N = 3 BSs with 2 x 2 arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("cvxpy")

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, per_bs_power, sum_rate  # noqa: E402
from gr_cfisac.precoding.convex import sca_speb as S  # noqa: E402
from gr_cfisac.precoding.registry import PrecoderSpec, make_precoder  # noqa: E402

FAST = {"solver": "CLARABEL", "draws": 30}


def scenes(K: int = 2, B: int = 1, seed: int = 1, **kw):
    cfg = CoisacConfig(Lx=2, Ly=2, K=K, **kw)
    batch = CoisacScenario(cfg).draw(B, rng=seed)
    return cfg, batch, S.scenes_of(batch)


def random_beams(rng, NL: int, S_: int, power: float) -> np.ndarray:
    W = rng.standard_normal((NL, S_)) + 1j * rng.standard_normal((NL, S_))
    return W * math.sqrt(power / NL)


@pytest.mark.parametrize("rank", [1, 2])
def test_fim_affine_map_matches_coisac_speb(rank):
    cfg, batch, (scene,) = scenes()
    C = S.fim_blocks_affine(scene)
    rng = np.random.default_rng(rank)
    for _ in range(3):
        W = random_beams(rng, cfg.antennas, rank, cfg.power)
        R = W @ W.conj().T
        ours = S.speb_of_covariance(C, R)
        assert ours == pytest.approx(float(scene.speb(W)), rel=1e-8)
        # the batch's own SPEB (beams padded with zero streams)
        Wk = np.zeros((1, cfg.antennas, cfg.K + 1), complex)
        Wk[0, :, :rank] = W
        assert ours == pytest.approx(float(batch.speb(Wk)[0]), rel=1e-8)
    # affine: the FIM of a sum of covariances is the sum of the FIMs
    W1, W2 = (random_beams(rng, cfg.antennas, 1, cfg.power) for _ in range(2))
    R1, R2 = W1 @ W1.conj().T, W2 @ W2.conj().T
    J1, J2, J12 = S.full_fim(C, R1), S.full_fim(C, R2), S.full_fim(C, R1 + R2)
    np.testing.assert_allclose(J12, J1 + J2, rtol=1e-9, atol=1e-12 * np.abs(J12).max())
    assert np.linalg.norm(J1 - J2) > 1e-3 * np.linalg.norm(J1)  # two different FIMs


@pytest.fixture(scope="module")
def binding():
    """One SCA run at a gamma that binds: 1.2 x the SPEB of full power on the target beam
    (a single beam meets it; the unconstrained optimum's SPEB is far above, checked below)."""
    cfg, batch, (scene,) = scenes()
    gamma = 1.2 * float(scene.speb(S.target_beam(scene)[:, None]))
    W, extras = S.solve_one(scene, S.Settings(gamma=gamma, **FAST), history=True)
    return cfg, batch, scene, gamma, W, extras


def test_sca_relaxed_sum_rate_never_decreases(binding):
    *_, extras = binding
    hist = np.asarray(extras["history"])
    assert len(hist) >= 2 and extras["iterations"] == len(hist)
    assert np.all(np.diff(hist) >= -1e-5 * abs(hist[-1]))
    assert hist[-1] > hist[0]  # the SCA moved off the all-sensing start


def test_returned_beams_meet_power_and_speb(binding):
    cfg, batch, scene, gamma, W, extras = binding
    assert W.shape == (cfg.antennas, cfg.K + 1)
    assert np.all(per_bs_power(W[None], cfg.N)[0] <= cfg.power * (1 + 1e-9))
    speb = float(batch.speb(W[None])[0])
    assert speb <= gamma and extras["speb_met"] == 1.0 and extras["feasible"] == 1.0
    assert extras["speb"] == pytest.approx(speb, rel=1e-9)
    assert extras["sum_rate"] == pytest.approx(float(sum_rate(batch.F, W[None])[0]), rel=1e-9)
    assert extras["min_speb"] < gamma


def test_relaxed_sum_rate_bounds_the_extracted_one(binding):
    *_, extras = binding
    assert extras["sum_rate"] > 0
    assert extras["relaxed_sum_rate"] >= extras["sum_rate"] - 1e-6


def test_binding_gamma_costs_rate_against_no_constraint(binding):
    cfg, batch, scene, gamma, W, extras = binding
    _, free = S.solve_one(scene, S.Settings(gamma=math.inf, **FAST))
    assert free["relaxed_sum_rate"] >= extras["relaxed_sum_rate"] - 1e-4
    assert free["speb"] > gamma  # so the constraint did bind


def test_single_user_no_sensing_constraint_reaches_the_per_bs_optimum():
    cfg, batch, (scene,) = scenes(K=1, seed=4)
    W, extras = S.solve_one(scene, S.Settings(gamma=math.inf, **FAST))
    # independent optimum: every BS at full power along its own channel (co-phased MRT)
    h = batch.F[0, :, 0].reshape(cfg.N, cfg.L)
    best = math.log2(1 + (np.sqrt(cfg.power) * np.linalg.norm(h, axis=1)).sum() ** 2)
    assert extras["relaxed_sum_rate"] == pytest.approx(best, rel=1e-4)
    assert extras["sum_rate"] == pytest.approx(best, rel=1e-4)
    assert np.linalg.norm(W[:, 0]) ** 2 <= 1e-6 * cfg.power  # no power on the interferer


def test_infeasible_gamma_is_reported_not_violated():
    cfg, batch, (scene,) = scenes()
    on_target = float(scene.speb(S.target_beam(scene)[:, None]))
    gamma = 0.01 * on_target
    W, extras = S.solve_one(scene, S.Settings(gamma=gamma, **FAST))
    assert extras["feasible"] == 0.0 and extras["speb_met"] == 0.0
    assert gamma < extras["min_speb"] <= on_target * (1 + 1e-3)
    assert extras["speb"] > gamma
    assert np.all(per_bs_power(W[None], cfg.N)[0] <= cfg.power * (1 + 1e-9))


def test_triangulation_recovers_the_target_from_the_sensing_angles():
    cfg, batch, _ = scenes(B=5, target_spread_m=25.0)
    t = S.triangulate(cfg.bs(), batch.sensing.psi_t, batch.sensing.theta_t)
    np.testing.assert_allclose(t, batch.target, atol=1e-6)


def test_registry_family_and_mean_speb(tmp_path):
    cfg, batch, (scene,) = scenes()
    gamma = 1.2 * float(scene.speb(S.target_beam(scene)[:, None]))
    spec = PrecoderSpec(
        "sca_speb", "coisac", {"gamma": gamma, "solver": "CLARABEL", "cache_dir": str(tmp_path)}
    )
    res = make_precoder(spec, cfg)(batch.realization())
    assert res.W.shape == (1, cfg.antennas, cfg.K + 1)
    assert set(S.EXTRAS) <= set(res.extras)
    # the family knows |alpha| only: its SPEB constraint holds on that model
    net = S.network_scenes(cfg, batch.realization(), cfg.power)[0]
    assert float(net.speb(res.W[0])) <= gamma
    # with the true alpha (the bench's path) the mean SPEB meets the strict constraint
    mean = S.mean_speb_at_power(batch, cfg.power, gamma, S.Settings(**FAST))
    assert mean <= gamma


@pytest.mark.parametrize(
    "field, value",
    [
        ("gamma", -1.0),
        ("gamma", math.nan),
        ("draws", 0),
        ("max_iters", 0),
        ("tol", 0.0),
        ("solver", "MOSEK"),
    ],  # fmt: skip
)
def test_bad_settings_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        S.Settings(**{field: value})


def test_family_refuses_bad_parameters_and_other_configs():
    from gr_cfisac.config import SystemConfig

    cfg = CoisacConfig(Lx=2, Ly=2, K=2)
    with pytest.raises(ValueError, match="gamma"):
        make_precoder(PrecoderSpec("sca_speb", "coisac", {"gamma": -3.0}), cfg)
    with pytest.raises(ValueError, match="CoisacConfig"):
        make_precoder(PrecoderSpec("sca_speb", "coisac", {}), SystemConfig())
    with pytest.raises(ValueError, match="scenario"):
        make_precoder(PrecoderSpec("sca_speb", "cellfree", {}), cfg)
