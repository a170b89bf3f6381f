"""MT-SAO-lift trained on the cell-free scenario's channels (issue 13, flowgraph part): the card
says cellfree with its system, the l2o family serves SystemConfig realizations in the core's
units (||W||_F^2 = power_budget, zero sensing column, inactive users zero) and refuses a running
system that differs from the card's, naming the field."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.precoding.registry import PrecoderSpec, Realization, make_precoder  # noqa: E402
from gr_cfisac.scenario import draw_realizations  # noqa: E402
from gr_cfisac.train.l2o.config import L2OConfig, config_path  # noqa: E402
from gr_cfisac.train.l2o.export import export_run  # noqa: E402
from gr_cfisac.train.l2o.trainer import Trainer  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cf")
    cfg = L2OConfig.load(config_path("l2o_cf_tiny.yml"))
    cfg = cfg.replace("scenario", cache_dir=str(root / "data"))
    fit = Trainer(cfg, root / "run", progress=False).fit(validate_every=100)
    card = export_run(root / "run", root / "cf.onnx", fit)
    assert card["scenario"] == "cellfree" and card["system"]["NT"] == SystemConfig().NT
    return root / "cf.onnx"


def test_cellfree_model_serves_the_core_realizations(model):
    cfg = SystemConfig()
    pre = make_precoder(PrecoderSpec("l2o", "cellfree", {"path": str(model)}), cfg)
    r = draw_realizations(cfg, 6, 3)
    active = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1]] * 2, bool)
    W = pre(Realization(r.F_hat, active=active)).W
    assert W.shape == (6, cfg.N, cfg.K + 1) and np.all(W[..., 0] == 0)
    np.testing.assert_allclose(np.sum(np.abs(W) ** 2, axis=(1, 2)), cfg.power_budget, rtol=1e-4)
    assert np.all(W[:, :, 1:][np.broadcast_to(~active[:, None, :], (6, cfg.N, cfg.K))] == 0)
    from gr_cfisac import metrics

    rates = metrics.comm_rates(r.F, W.astype(complex), cfg.kappa)
    assert np.all(rates[active] > 0.5)  # served users get real rates, on the true channels
    assert np.all(rates[~active] == 0)


def test_cellfree_model_refuses_another_system_or_scenario(model):
    spec = PrecoderSpec("l2o", "cellfree", {"path": str(model)})
    with pytest.raises(ValueError, match="tap_power_dbm"):
        make_precoder(spec, SystemConfig(tap_power_dbm=-10.0))
    with pytest.raises(ValueError, match="scenario"):
        from gr_cfisac import mumiso

        make_precoder(PrecoderSpec("l2o", "mu_miso", {"path": str(model)}), mumiso.MuMisoConfig())
