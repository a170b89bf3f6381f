"""MT-SAO-lift in torch (paper 002, eqs 5-24): the closed-form gradient of eq 8 equals autograd,
the torch sum rate and LMMSE equal the numpy core's, masking gives zeros (never NaN) outside the
active users and antennas and makes the output blind to what the masked entries hold."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac import mumiso  # noqa: E402
from gr_cfisac.train.l2o import ops  # noqa: E402
from gr_cfisac.train.l2o.model import MTSAO, attention_mask  # noqa: E402


def inputs(K, N, Km=6, Nm=5, batch=4, seed=0, dtype=torch.float64, snr_db=10.0):
    cfg = mumiso.MuMisoConfig(K=K, N=N, Km=Km, Nm=Nm, snr_db=snr_db)
    b = mumiso.draw(cfg, batch, seed)
    F = b.F.transpose(0, 2, 1)  # (B, Km, Nm): row k = f_k^T
    channel = torch.tensor(np.concatenate([F.real, F.imag], -1), dtype=dtype)
    users = torch.tensor(b.users, dtype=dtype)
    antennas = torch.tensor(b.antennas, dtype=dtype)
    noise = torch.full((batch, 1), cfg.noise, dtype=dtype)
    return b, cfg, channel, users, antennas, noise


def split(channel):
    n = channel.shape[-1] // 2
    return channel[..., :n], channel[..., n:]


def test_closed_form_gradient_equals_autograd():
    b, cfg, channel, users, antennas, noise = inputs(4, 5, seed=1)
    H = split(channel)
    Wr = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    Wi = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    rate = ops.sum_rate(H, (Wr, Wi), noise).sum()
    want = torch.autograd.grad(rate, (Wr, Wi))
    got = ops.sum_rate_gradient(H, (Wr.detach(), Wi.detach()), noise)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_sum_rate_and_lmmse_equal_the_numpy_core():
    b, cfg, channel, users, antennas, noise = inputs(4, 3, seed=2)
    H = split(channel)  # the draw is masked already
    Wr, Wi = ops.lmmse(H, users, noise)
    W = (Wr + 1j * Wi).numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(W, mumiso.lmmse(b.F, cfg.noise), atol=1e-12)
    np.testing.assert_allclose(
        ops.sum_rate(H, (Wr, Wi), noise).numpy(), mumiso.sum_rate(b.F, W, cfg.noise)
    )


def test_attention_mask_is_finite_and_rows_of_masked_tokens_stay_finite():
    tokens = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    M = attention_mask(tokens)
    assert torch.isfinite(M).all() and M[0, 0, 2] == 0 and M[0, 0, 1] < -1e8
    weights = torch.softmax(torch.randn(1, 4, 4) + M, dim=-1)
    assert torch.isfinite(weights).all()  # -inf would give NaN on rows 1 and 3
    assert weights[0, 0, 1] == 0 and weights[0, 2, 3] == 0


@pytest.mark.parametrize(("lift", "gradient"), [(True, False), (False, False), (True, True)])
@pytest.mark.parametrize(("K", "N"), [(1, 1), (3, 5), (6, 2), (6, 5)])
def test_masked_model_output_zero_outside_active_finite_at_power(K, N, lift, gradient):
    torch.manual_seed(0)
    model = MTSAO(6, 5, layers=2, d_model=16, heads=2, hidden=24, lift=lift, q_steps=2,
                  gradient_tokens=gradient).double()  # fmt: skip
    for p in model.parameters():  # untrained zero-initialized branches would hide leaks
        torch.nn.init.normal_(p, std=0.3)
    b, cfg, channel, users, antennas, noise = inputs(K, N, seed=3)
    out = model(channel, users, antennas, noise)
    assert torch.isfinite(out).all()
    W = out[..., :5] + 1j * out[..., 5:]
    active = users[:, :, None].bool() & antennas[:, None, :].bool()
    assert torch.all(W[~active] == 0)
    torch.testing.assert_close((W.abs() ** 2).sum((1, 2)), torch.ones(4, dtype=torch.float64))
    # the masked entries' content does not reach the output (eq 12 before anything else)
    noisy = channel + 5 * torch.randn_like(channel) * (1 - active.double().repeat(1, 1, 2))
    torch.testing.assert_close(model(noisy, users, antennas, noise), out)


def test_untrained_model_is_lmmse_then_ascent_and_sao_keeps_the_channel():
    b, cfg, channel, users, antennas, noise = inputs(5, 4, seed=4)
    model = MTSAO(6, 5, layers=2, d_model=16, heads=2, hidden=24, lift=True, q_steps=3).double()
    H, Ws = model.trajectory(channel, users, antennas, noise)
    step = float(torch.exp(model.log_step[0].detach()))
    want = ops.ascent(H, Ws[0], noise, 3, step, ops.sample_mask(users, antennas), normalized=True)
    for g, w in zip(Ws[1], want):
        torch.testing.assert_close(g, w)
    rates = [ops.sum_rate(H, W, noise).mean().item() for W in Ws]
    assert rates[2] > rates[0]  # the ascent steps help from the LMMSE start
    sao = MTSAO(6, 5, layers=1, d_model=16, heads=2, hidden=24, lift=False).double()
    Hs, W0, masks = sao.start(channel, users, antennas, noise)
    aux, _ = sao.layers[0](Hs, W0, masks)
    assert aux is Hs  # eq 11: the auxiliary variable stays the channel
