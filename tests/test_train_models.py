"""Models and losses of the training sidecar: power constraint, user permutation equivariance,
the CNN's parameter budget, and the torch rates/losses against the numpy core."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac import evaluation, metrics  # noqa: E402
from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.dataset import pack  # noqa: E402
from gr_cfisac.recipe import LossConfig, ModelConfig, TrainConfig  # noqa: E402
from gr_cfisac.scenario import draw_realizations  # noqa: E402
from gr_cfisac.train import losses  # noqa: E402
from gr_cfisac.train.models import build_model, count_parameters, input_scale  # noqa: E402
from gr_cfisac.train.trainer import forward, to_tensors  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "gr_cfisac" / "train" / "configs"
TINY = dict(d_model=16, heads=2, inducing=3, ff_hidden=24, cnn_channels=16)


@pytest.fixture(scope="module")
def real():
    cfg = SystemConfig()
    return draw_realizations(cfg, 24, np.random.default_rng(5), scene="random")


@pytest.fixture(scope="module")
def batch(real):
    return to_tensors(pack(real))


def _model(cfg, **kw):
    torch.manual_seed(0)
    mc = ModelConfig(**{**TINY, **kw})
    return build_model(mc, cfg.K, cfg.N, cfg.NC, cfg.power_budget, input_scale(cfg.rho)).eval()


VARIANTS = [
    dict(),
    dict(head="span"),
    dict(head="zf"),
    dict(head="zf", target_aware=True),
    dict(decoder="pma"),
    dict(target_aware=True),
    dict(input_norm="set"),
    dict(arch="cnn"),
    dict(arch="cnn", head="zf"),
    dict(head="zf", gain_input=True, target_aware=True),
]


@pytest.mark.parametrize(
    "kw",
    VARIANTS,
    ids=["stcib", "span", "zf", "zf-target", "pma", "target", "setnorm", "cnn", "cnn-zf", "gain"],
)
@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e6])
def test_every_model_meets_the_power_constraint(kw, scale, batch):
    cfg = SystemConfig()
    model = _model(cfg, **kw)
    inputs = {k: v * scale if k in ("channels", "sensing_iq") else v for k, v in batch.items()}
    with torch.no_grad():
        out = forward(model, inputs)
    assert out.shape == (24, cfg.K + 1, 2 * cfg.N)
    assert torch.isfinite(out).all()
    power = (out.double() ** 2).sum(dim=(1, 2))
    assert torch.all(power <= cfg.power_budget * (1 + 1e-5))


EQUIVARIANT = [dict(), dict(target_aware=True), dict(input_norm="set"), dict(head="span"),
               dict(head="zf"), dict(head="zf", target_aware=True),
               dict(head="zf", gain_input=True)]  # fmt: skip


@pytest.mark.parametrize(
    "kw", EQUIVARIANT, ids=["stcib", "target", "setnorm", "span", "zf", "zf-target", "gain"]
)
def test_permuting_users_permutes_user_rows_and_keeps_the_sensing_row(kw, batch):
    cfg = SystemConfig()
    model = _model(cfg, **kw)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = dict(batch, channels=batch["channels"][:, perm])
    with torch.no_grad():
        out, out_p = forward(model, batch), forward(model, permuted)
    scale = out.abs().max()
    torch.testing.assert_close(out_p[:, 0], out[:, 0], atol=1e-4 * scale, rtol=0)
    torch.testing.assert_close(out_p[:, 1:], out[:, 1:][:, perm], atol=1e-4 * scale, rtol=0)


def test_paper_literal_pma_decoder_is_not_user_equivariant(batch):
    """The reason for our decoder: PMA_{K+1}'s outputs ignore the order of the users."""
    cfg = SystemConfig()
    model = _model(cfg, decoder="pma")
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        out = forward(model, batch)
        out_p = forward(model, dict(batch, channels=batch["channels"][:, perm]))
    torch.testing.assert_close(out_p, out, atol=1e-3 * out.abs().max(), rtol=0)
    assert not torch.allclose(out[:, 1:][:, perm], out[:, 1:], atol=1e-3 * out.abs().max())


def test_target_aware_model_uses_and_needs_the_sensing_input(batch):
    cfg = SystemConfig()
    model = _model(cfg, target_aware=True)
    with torch.no_grad():
        a = model(batch["channels"], batch["sensing_iq"])
        b = model(batch["channels"], batch["sensing_iq"].flip(0))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="sensing"):
        model(batch["channels"])


@pytest.mark.parametrize("name", ["cnn_joint", "cnn_zf_joint"])
def test_shipped_cnn_configs_have_a_parameter_count_within_25_percent_of_stcib(name):
    stcib = TrainConfig.load(CONFIGS / "stcib_joint.yml")
    cnn = TrainConfig.load(CONFIGS / f"{name}.yml")
    cfg = stcib.system_config()
    n_st = count_parameters(build_model(stcib.model, cfg.K, cfg.N, cfg.NC, 1.0, 1.0))
    n_cnn = count_parameters(build_model(cnn.model, cfg.K, cfg.N, cfg.NC, 1.0, 1.0))
    assert abs(n_cnn / n_st - 1) <= 0.25, (n_cnn, n_st)


def _rows(W):
    x = np.swapaxes(W, 1, 2)
    return torch.tensor(np.concatenate([x.real, x.imag], -1), dtype=torch.float32)


def test_torch_rates_match_the_numpy_core(real, batch):
    cfg = real.cfg
    rng = np.random.default_rng(0)
    W = rng.standard_normal((24, cfg.N, cfg.K + 1)) + 1j * rng.standard_normal(
        (24, cfg.N, cfg.K + 1)
    )
    W *= np.sqrt(cfg.power_budget / np.sum(np.abs(W) ** 2, axis=(1, 2), keepdims=True))
    Rc, Rs, Rs_avg = (x.double().numpy() for x in losses.rates(batch, _rows(W), cfg.kappa, cfg.MR))
    np.testing.assert_allclose(Rc, metrics.comm_rates(real.F, W, cfg.kappa), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(
        Rs, metrics.sensing_rates(real.G_t, real.G_c, W, cfg.kappa), rtol=2e-4, atol=1e-6
    )
    want_avg = metrics.rate(metrics.scnr_averaged(real.Q_t, real.Q_c, W, cfg.MR), cfg.kappa)
    np.testing.assert_allclose(Rs_avg, want_avg, rtol=2e-4, atol=1e-6)


def test_torch_joint_loss_is_minus_the_numpy_objective(real, batch):
    """One objective (eq 23a on the kappa-rates): the torch training loss of eq 40, the numpy
    metrics.objective and evaluation.score agree on the same W."""
    cfg = real.cfg
    rng = np.random.default_rng(3)
    W = rng.standard_normal((24, cfg.N, cfg.K + 1)) + 1j * rng.standard_normal(
        (24, cfg.N, cfg.K + 1)
    )
    W *= np.sqrt(cfg.power_budget / np.sum(np.abs(W) ** 2, axis=(1, 2), keepdims=True))
    rates = losses.rates(batch, _rows(W), cfg.kappa, cfg.MR)
    torch_loss = float(losses.loss(*rates, LossConfig(regime="joint", eta=0.4)))
    obj = metrics.objective(
        metrics.sinr(real.F, W), metrics.scnr(real.G_t, real.G_c, W), 0.4, cfg.kappa
    )
    assert cfg.kappa < 0.99  # so a kappa-free objective would differ by more than rtol
    assert torch_loss == pytest.approx(-obj.mean(), rel=2e-4)
    np.testing.assert_allclose(evaluation.score(real, W, 0.4)["objective"], obj, rtol=1e-12)


def test_losses_match_eqs_38_to_40_in_the_numpy_core():
    rng = np.random.default_rng(1)
    Rc, Rs, Rs_avg = (
        rng.uniform(0, 6, (50, 4)),
        rng.uniform(0, 1, (50, 4)),
        rng.uniform(0, 1, (50, 4)),
    )
    t = [torch.tensor(x) for x in (Rc, Rs, Rs_avg)]
    joint = LossConfig(regime="joint", eta=0.3)
    assert float(losses.loss(*t, joint)) == pytest.approx(metrics.loss_joint(Rc, Rs, 0.3))
    sc = LossConfig(regime="sc", comm_threshold=3.0, xi=2.0)
    assert float(losses.loss(*t, sc)) == pytest.approx(metrics.loss_sc(Rc, Rs, 3.0, 2.0))
    cc = LossConfig(regime="cc", sensing_threshold=0.5, varrho=4.0)
    assert float(losses.loss(*t, cc)) == pytest.approx(metrics.loss_cc(Rc, Rs_avg, 0.5, 4.0))
    margin = LossConfig(regime="sc", comm_threshold=3.0, xi=2.0, margin=0.5)
    assert float(losses.loss(*t, margin)) == pytest.approx(metrics.loss_sc(Rc, Rs, 3.5, 2.0))


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="loss.regime"):
        TrainConfig.from_dict({"loss": {"regime": "both"}})
    with pytest.raises(ValueError, match="model.d_model"):
        TrainConfig.from_dict({"model": {"d_model": 10, "heads": 4}})
    with pytest.raises(ValueError, match="scene"):
        TrainConfig.from_dict({"model": {"target_aware": True}, "data": {"scene": "paper"}})
    with pytest.raises(ValueError, match="unknown key"):
        TrainConfig.from_dict({"optim": {"learning_rate": 1e-3}})


def test_zero_forcing_basis_matches_numpy_zf_and_projects_out_the_users(real):
    from gr_cfisac.dataset import iq
    from gr_cfisac.precoding import zf
    from gr_cfisac.train.layers import ZeroForcingBasis

    cfg = real.cfg
    rows = torch.tensor(iq(real.F_hat), dtype=torch.float64) * 1e4
    z, project_out = ZeroForcingBasis(cfg.N, delta=1e-9).double()(rows)
    Z = (z[:, : cfg.K, : cfg.N] + 1j * z[:, : cfg.K, cfg.N :]).numpy()  # (B, K, N): row k is z_k
    jZ = (z[:, cfg.K :, : cfg.N] + 1j * z[:, cfg.K :, cfg.N :]).numpy()
    np.testing.assert_allclose(jZ, 1j * Z, atol=1e-12)  # rows K.. are j z_k
    W = zf(real.F_hat, 1.0)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(np.einsum("bkn,bnk->bk", Z.conj(), W)), 1.0, atol=1e-8)
    v = torch.randn(24, 3, 2 * cfg.N, dtype=torch.float64)
    pv = project_out(v)
    P = (pv[..., : cfg.N] + 1j * pv[..., cfg.N :]).numpy()
    V = (v[..., : cfg.N] + 1j * v[..., cfg.N :]).numpy()
    leak = np.abs(np.einsum("bnk,brn->brk", real.F_hat.conj(), P)).max()
    assert leak < 1e-6 * np.abs(np.einsum("bnk,brn->brk", real.F_hat.conj(), V)).max()
    torch.testing.assert_close(project_out(pv), pv)  # a projector


def test_per_sample_thresholds_in_the_loss_match_the_numpy_core():
    rng = np.random.default_rng(2)
    Rc, Rs, Rs_avg = rng.uniform(0, 6, (6, 4)), rng.uniform(0, 1, (6, 4)), rng.uniform(0, 1, (6, 4))
    th = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    t = [torch.tensor(x) for x in (Rc, Rs, Rs_avg)]
    sc = LossConfig(regime="sc", xi=2.0, threshold_range=[0.5, 5.0])
    got = float(losses.loss(*t, sc, torch.tensor(th)[:, None]))
    want = np.mean([metrics.loss_sc(Rc[i : i + 1], Rs[i : i + 1], th[i], 2.0) for i in range(6)])
    assert got == pytest.approx(want)


def test_threshold_conditioned_model_needs_the_threshold_and_stays_equivariant(batch):
    cfg = SystemConfig()
    torch.manual_seed(0)
    mc = ModelConfig(**{**TINY, "head": "zf", "threshold_input": True})
    model = build_model(mc, cfg.K, cfg.N, cfg.NC, cfg.power_budget, input_scale(cfg.rho), 5.0)
    model.eval()
    th = torch.full((24, 1), 2.0)
    with torch.no_grad():
        out = model(batch["channels"], threshold=th)
        assert not torch.allclose(out, model(batch["channels"], threshold=th * 2))
        perm = torch.tensor([3, 2, 0, 1])
        out_p = model(batch["channels"][:, perm], threshold=th)
    tol = 1e-4 * out.abs().max()
    torch.testing.assert_close(out_p[:, 1:], out[:, 1:][:, perm], atol=tol, rtol=0)
    with pytest.raises(ValueError, match="threshold"):
        model(batch["channels"])
    with pytest.raises(ValueError, match="threshold_range"):
        TrainConfig.from_dict({"model": {"threshold_input": True}})
