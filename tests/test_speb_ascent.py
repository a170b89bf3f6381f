"""The SPEB-barrier gradient ascent of problem 32 (precoding/speb_ascent.py)."""

import numpy as np
import pytest

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, per_bs_power, sum_rate
from gr_cfisac.precoding.convex import sca_speb
from gr_cfisac.precoding.registry import PrecoderSpec, make_precoder
from gr_cfisac.precoding.speb_ascent import (
    AscentSettings,
    Problem,
    ascend,
    feasible_start,
    rate_and_gradient,
    speb_and_gradient,
)

MODEL = "models/lhgnn/lhgnn_coisac.onnx"
PAPER_OUTPUT_MODEL = "models/lhgnn/lhgnn_free_coisac.onnx"


@pytest.fixture(scope="module")
def setup():
    cfg = CoisacConfig()
    batch = CoisacScenario(cfg).draw(4, rng=11)
    rng = np.random.default_rng(3)
    shape = batch.F.shape[:2] + (cfg.K + 1,)
    W = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(cfg.power / 32)
    return cfg, batch, W


def directional(fn, W, D, h=1e-6):
    return (fn(W + h * D) - fn(W - h * D)) / (2 * h)


def test_speb_and_rate_match_the_core_and_their_gradients_finite_differences(setup):
    cfg, batch, W = setup
    p = Problem.of_scenes(sca_speb.scenes_of(batch), 10.0)
    speb, g_speb = (x[:, 0] for x in speb_and_gradient(p, W))  # one echo model each
    rate, g_rate = rate_and_gradient(batch.F, W)
    np.testing.assert_allclose(speb, batch.speb(W), rtol=1e-9)
    np.testing.assert_allclose(rate, sum_rate(batch.F, W), rtol=1e-12)
    rng = np.random.default_rng(4)
    D = (rng.standard_normal(W.shape) + 1j * rng.standard_normal(W.shape)) * np.sqrt(cfg.power / 32)
    # d f = 2 Re <grad f / dW*, dW> for a real f of complex W
    for fn, g in ((lambda X: speb_and_gradient(p, X)[0][:, 0], g_speb),
                  (lambda X: rate_and_gradient(batch.F, X)[0], g_rate)):  # fmt: skip
        linear = 2 * np.einsum("bnk,bnk->b", g.conj(), D).real
        np.testing.assert_allclose(directional(fn, W, D), linear, rtol=1e-4)


def test_ascent_stays_feasible_within_budget_and_improves_its_start(setup):
    cfg, batch, W = setup
    scenes = sca_speb.scenes_of(batch)
    only_target = np.zeros_like(W)
    only_target[..., 0] = np.stack([sca_speb.target_beam(s) for s in scenes])
    gamma = 2.0 * np.median(batch.speb(only_target))  # reachable for every block
    p = Problem.of_scenes(scenes, gamma)
    start, reachable = feasible_start(p, W)
    assert reachable.all()
    out = ascend(p, W, AscentSettings(steps=15))
    assert out.met.all() and np.all(out.speb <= gamma)
    np.testing.assert_allclose(out.speb, batch.speb(out.W), rtol=1e-9)
    assert np.all(per_bs_power(out.W, cfg.N) <= cfg.power * (1 + 1e-9))
    assert np.all(out.sum_rate >= sum_rate(batch.F, start) - 1e-9)
    assert out.sum_rate.mean() > sum_rate(batch.F, start).mean() + 1.0


def test_unreachable_gamma_is_reported_not_met(setup):
    cfg, batch, W = setup
    p = Problem.of_scenes(sca_speb.scenes_of(batch), 1e-6)
    out = ascend(p, W, AscentSettings(steps=3))
    assert not out.met.any()


def test_bad_start_and_settings_name_the_field(setup):
    cfg, batch, W = setup
    p = Problem.of_scenes(sca_speb.scenes_of(batch), 10.0)
    with pytest.raises(ValueError, match="W0 must be"):
        ascend(p, W[..., 1:])
    with pytest.raises(ValueError, match="steps"):
        AscentSettings(steps=-1)
    with pytest.raises(ValueError, match="gamma"):
        Problem.of_scenes(sca_speb.scenes_of(batch), -1.0)


def test_lhgnn_family_with_ascent_steps_raises_the_rate_under_its_known_model(setup):
    cfg, batch, _ = setup
    r = batch.realization()
    start = PAPER_OUTPUT_MODEL  # the KKT-output LHGNN leaves 10 steps less to gain
    plain = make_precoder(PrecoderSpec("lhgnn", "coisac", {"path": start}), cfg)(r)
    spec = PrecoderSpec("lhgnn", "coisac", {"path": start, "ascent_steps": 10})
    refined = make_precoder(spec, cfg)(r)
    assert sum_rate(batch.F, refined.W).mean() > sum_rate(batch.F, plain.W).mean() + 1.0
    met = refined.extras["speb_met"] > 0
    assert met.any()
    assert np.all(per_bs_power(refined.W, cfg.N) <= cfg.power * (1 + 1e-5))
    with pytest.raises(ValueError, match="ascent_steps"):
        make_precoder(PrecoderSpec("lhgnn", "coisac", {"path": MODEL, "ascent_steps": -2}), cfg)


def test_phase_draws_are_reciprocal_and_several_echo_models_bound_every_one(setup):
    cfg, batch, W = setup
    from gr_cfisac.precoding.convex.speb_scene import network_scene_draws, reciprocal_phases

    phi = reciprocal_phases((4, cfg.N), 3, np.random.default_rng(0))
    np.testing.assert_array_equal(phi, np.swapaxes(phi, -1, -2))  # alpha_{m,n} = alpha_{n,m}
    draws = network_scene_draws(cfg, batch.realization(), cfg.power, 3, seed=1)
    assert [len(d) for d in draws] == [3] * 4
    only_target = np.zeros_like(W)
    only_target[..., 0] = np.stack([sca_speb.target_beam(d[0]) for d in draws])
    p = Problem.of_scene_draws(draws, 3.0 * float(np.max(batch.speb(only_target))))
    out = ascend(p, W, AscentSettings(steps=5))
    per_model = np.stack([d[k].speb(out.W[i]) for i, d in enumerate(draws) for k in range(3)])
    assert np.all(per_model.reshape(4, 3).max(-1) <= p.gamma)  # every echo model meets gamma
    np.testing.assert_allclose(out.speb, per_model.reshape(4, 3).max(-1), rtol=1e-9)
