"""SAO-ISAC in torch (paper 002, eqs 26-35): rates and sensing SNR equal the numpy core's, the
closed-form gradients of eqs 33 and 35 equal autograd, the null-space start is silent to the
users, the power split holds and the exported graph matches torch."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from gr_cfisac import mono_isac as mi  # noqa: E402
from gr_cfisac.train.l2o import isac, ops  # noqa: E402
from gr_cfisac.train.l2o.isac_train import IsacConfig, IsacTrainer, export, inputs  # noqa: E402


def draws(seed=0):
    cfg = mi.MonoIsacConfig(K=3, N=8, M=2, snr_db=15, gamma_s_db=25)
    b = mi.draw(cfg, 4, seed)
    Hc = b.F_c.transpose(0, 2, 1)
    H = (torch.tensor(Hc.real), torch.tensor(Hc.imag))
    s = mi.steering(b.theta, 8) * (np.abs(b.beta) * math.sqrt(8))[..., None]
    S = (torch.tensor(s.real), torch.tensor(s.imag))
    return cfg, b, H, S


def random_complex(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64),
            torch.randn(shape, generator=g, dtype=torch.float64))  # fmt: skip


def test_rates_and_sensing_snr_equal_the_numpy_core():
    cfg, b, H, S = draws()
    W, F = random_complex((4, 3, 8), 1), random_complex((4, 8, 8), 2)
    Wc = (W[0] + 1j * W[1]).numpy().transpose(0, 2, 1)
    Fc = (F[0] + 1j * F[1]).numpy().transpose(0, 2, 1)  # rows of F^T -> F
    np.testing.assert_allclose(isac.sensing_snr(S, W, F, 0.3).numpy(),
                               mi.sensing_snr(b.G, Wc, Fc, 0.3))  # fmt: skip
    np.testing.assert_allclose(isac.sum_rate(H, W, F, 0.1).numpy(),
                               mi.sum_rate(b.F_c, Wc, Fc, 0.1))  # fmt: skip


def test_gradients_of_eqs_33_and_35_equal_autograd():
    cfg, b, H, S = draws(1)
    W = [x.requires_grad_() for x in random_complex((4, 3, 8), 3)]
    F = [x.requires_grad_() for x in random_complex((4, 8, 8), 4)]
    for x in (*W, *F):
        x.data *= 0.2
    rate = isac.sum_rate(H, W, F, 0.1).sum()
    want = torch.autograd.grad(rate, W)
    got = ops.sum_rate_gradient(H, [x.detach() for x in W], 0.1 + isac.radar_power(H, F).detach())
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    snr = isac.sensing_snr(S, W, F, 0.3)
    gamma = float(snr.detach().median())  # targets above the floor and on the linear extension
    slack = snr / gamma - 1
    assert (slack > isac.BARRIER_EPS).any() and (slack < isac.BARRIER_EPS).any()
    want = torch.autograd.grad(isac.barrier(slack).sum(), F)
    got = isac.sensing_gradient(S, [x.detach() for x in W], [x.detach() for x in F], 0.3, gamma)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_nullspace_start_is_silent_to_the_users():
    cfg, b, H, S = draws(2)
    F = isac.nullspace_start(H, S)
    assert isac.radar_power(H, F).max() < 1e-12
    torch.testing.assert_close(
        (F[0] ** 2 + F[1] ** 2).sum((1, 2)), torch.ones(4, dtype=torch.float64)
    )


def test_trained_model_exports_with_parity_and_keeps_the_power_split(tmp_path):
    cfg = IsacConfig(K=2, N=6, M=1, layers=2, window=1, window_epochs=1, passes=1,
                     steps_per_epoch=2, batch_size=8, val_size=8, d_model=8, heads=2, hidden=8,
                     q_train=2, q_infer=3, snr_db=15, gamma_s_db=25)  # fmt: skip
    trainer = IsacTrainer(cfg, tmp_path / "run", progress=False)
    result = trainer.fit()
    assert 0 <= result["feasible"] <= 1
    card = export(cfg, trainer.model, tmp_path / "m.onnx", result)
    assert card["onnx"]["parity_max_rel_diff"] <= 1e-5 and card["family"] == "sao_isac"
    feed, _ = inputs(cfg, 5, np.random.default_rng(0))
    with torch.no_grad():
        W, F = trainer.model(*(torch.from_numpy(feed[n]) for n in
                               ("channel", "targets", "noise", "radar_noise", "gamma")))  # fmt: skip
    total = (W**2).sum((1, 2)) + (F**2).sum((1, 2))
    torch.testing.assert_close(total, torch.ones(5), rtol=1e-5, atol=1e-5)  # P_c + P_s = P0


def test_closed_form_split_meets_the_floors_and_nullspace_keeps_the_users_silent():
    cfg, b, H, S = draws(3)
    model = isac.SAOISAC(3, 8, layers=2, d_model=8, heads=2, hidden=8, q_steps=2,
                         split="closed_form", nullspace=True).double()  # fmt: skip
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    channel = torch.cat(H, -1)
    targets = torch.cat(S, -1)
    col = torch.ones(4, 1, dtype=torch.float64)
    _, _, out = model.trajectory(channel, targets, col * cfg.noise, col * cfg.radar_noise,
                                 col * cfg.gamma_s)  # fmt: skip
    W, F = out[-1]
    assert isac.radar_power(H, F).max() < 1e-10
    snr = isac.sensing_snr(S, W, F, cfg.radar_noise)
    total = (W[0] ** 2 + W[1] ** 2).sum((1, 2)) + (F[0] ** 2 + F[1] ** 2).sum((1, 2))
    torch.testing.assert_close(total, torch.ones(4, dtype=torch.float64), rtol=1e-5, atol=0)
    sensing_power = (F[0] ** 2 + F[1] ** 2).sum((1, 2))
    met = (snr >= cfg.gamma_s * (1 - 1e-6)).all(-1)
    assert torch.all(met | (sensing_power > 1 - 2e-6))  # floors met, or all power to sensing
