"""The differentiable objective of problem 32 (gr_cfisac.train.lhgnn.objective) against the
numpy core: exact-form SPEB and sum rate; the loss of eq 51 and its schedules."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, sum_rate  # noqa: E402
from gr_cfisac.train.lhgnn import objective as ob  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    return CoisacScenario(CoisacConfig(target_spread_m=5.0)).draw(12, rng=3)


def random_beams(batch, seed):
    rng = np.random.default_rng(seed)
    shape = (batch.batch, batch.cfg.antennas, batch.cfg.K + 1)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(
        batch.cfg.power / 12
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_speb_equals_numpy_exact_form(batch, seed):
    W = random_beams(batch, seed)
    want = batch.speb(W)
    got = ob.speb(ob.EchoTensors.from_model(batch.echo), torch.from_numpy(W), batch.cfg.snapshots)
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_torch_speb_has_a_gradient_that_lowers_it(batch):
    W = torch.from_numpy(random_beams(batch, 2)).requires_grad_(True)
    echo = ob.EchoTensors.from_model(batch.echo)
    s = ob.speb(echo, W, batch.cfg.snapshots)
    s.sum().backward()
    step = W - 1e-3 * W.grad * (W.abs().max() / W.grad.abs().max())
    assert torch.all(ob.speb(echo, step.detach(), batch.cfg.snapshots) < s.detach())


def test_rates_equal_numpy(batch):
    W = random_beams(batch, 4)
    got = ob.user_rates(torch.from_numpy(batch.F), torch.from_numpy(W)).sum(-1).numpy()
    np.testing.assert_allclose(got, sum_rate(batch.F, W), rtol=1e-10)


def test_to_complex_is_designs_layout():
    out = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8)
    W = ob.to_complex(out)
    assert W.shape == (2, 4, 3)
    assert W[1, 2, 0] == complex(out[1, 0, 2], out[1, 0, 6])


def test_loss_eq51_terms_and_schedule():
    rates = torch.tensor([[1.0, 0.0], [2.0, 0.04]], dtype=torch.float64)
    spebs = torch.tensor([3.0, 7.0], dtype=torch.float64)
    sched = ob.Schedule()
    assert sched.weights(10) == (8.0, 5.0)
    loss, parts = ob.loss_eq51(rates, spebs, 5.0, 10, sched)
    # -mean sum rate + 8 * mean max(0, SPEB - 5) + 5 * mean sum max(0, 0.05 - R)
    want = -(1.0 + 2.04) / 2 + 8.0 * (0 + 2.0) / 2 + 5.0 * (0.05 + 0.01) / 2
    assert float(loss) == pytest.approx(want)
    assert parts["speb_excess"] == pytest.approx(1.0)
