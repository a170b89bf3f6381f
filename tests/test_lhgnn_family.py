"""ONNX export of the LHGNN (parity with torch, dynamic batch and K) and the registry family
``lhgnn`` on coisac realizations: layout, per-BS power, refusals naming the field."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, per_bs_power  # noqa: E402
from gr_cfisac.precoding.cards import CardError  # noqa: E402
from gr_cfisac.precoding.lhgnn import LHGNNHost, node_features  # noqa: E402
from gr_cfisac.precoding.registry import (  # noqa: E402
    PrecoderSpec,
    Realization,
    families,
    make_precoder,
)
from gr_cfisac.train.lhgnn.export import export_model, parity  # noqa: E402
from gr_cfisac.train.lhgnn.model import build_model  # noqa: E402

SCN = CoisacConfig()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(1)
    model = build_model("lhgnn", SCN.N, SCN.K, SCN.L, SCN.power, [16, 16], 16)
    path = tmp_path_factory.mktemp("lhgnn") / "tiny.onnx"
    export_model(model, path, SCN, {"arch": "lhgnn"}, 10.0, {"note": "untrained"}, {})
    return model, path


def test_onnx_parity_any_batch_and_fewer_users(exported):
    model, path = exported
    for K, B in ((5, 1), (5, 7), (3, 4)):
        batch = CoisacScenario(CoisacConfig(K=K)).draw(B, rng=K)
        assert parity(model, path, *node_features(batch.F_hat, batch.sensing.aT_t)) <= 1e-5
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["scenario"] == "coisac" and card["dimensions"] == {"N": 3, "L": 16, "K": 5}
    assert card["gamma_m2"] == 10.0 and "not DeepMIMO O1" in card["channel_source"]


def test_family_runs_on_a_coisac_realization(exported):
    _, path = exported
    fam = families()["lhgnn"]
    assert fam.scenarios == ("coisac",) and fam.placement == "central"
    precoder = make_precoder(PrecoderSpec("lhgnn", "coisac", {"path": str(path)}), SCN)
    batch = CoisacScenario(SCN).draw(5, rng=11)
    W = precoder(batch.realization()).W
    assert W.shape == (5, SCN.N * SCN.L, SCN.K + 1)
    assert np.all(per_bs_power(W, SCN.N) <= SCN.power * (1 + 1e-5))
    assert np.all(np.isfinite(batch.speb(W)))
    active = np.ones((5, SCN.K), bool)
    active[:, 1] = False  # an inactive user gets a zero beam
    W2 = precoder(Realization(batch.F_hat, batch.sensing, active)).W
    assert np.all(W2[..., 2] == 0) and np.any(W2[..., 1] != 0)


def test_more_users_than_the_card_is_refused(exported):
    _, path = exported
    with pytest.raises(ValueError, match=r"K=6 users: .* K <= 5 .*dimensions.K"):
        make_precoder(PrecoderSpec("lhgnn", "coisac", {"path": str(path)}), CoisacConfig(K=6))
    host = LHGNNHost(path)
    batch = CoisacScenario(CoisacConfig(K=6)).draw(2, rng=0)
    with pytest.raises(ValueError, match="dimensions.K"):
        host(batch.F_hat, batch.sensing.aT_t)


def test_wrong_shapes_and_config_are_named(exported):
    _, path = exported
    host = LHGNNHost(path)
    batch = CoisacScenario(SCN).draw(2, rng=0)
    with pytest.raises(ValueError, match=r"sensing.aT_t must be \(B, N=3, L=16\)"):
        host(batch.F_hat, batch.sensing.aT_t[:, :2])
    with pytest.raises(ValueError, match="F_hat must be"):
        host(batch.F_hat[:, :40], batch.sensing.aT_t)
    with pytest.raises(ValueError, match="power_dbm=20.0 .*scenario_config.power_dbm"):
        make_precoder(
            PrecoderSpec("lhgnn", "coisac", {"path": str(path)}), CoisacConfig(power_dbm=25.0)
        )
    with pytest.raises(ValueError, match="serves scenario"):
        make_precoder(PrecoderSpec("lhgnn", "cellfree", {"path": str(path)}), SCN)


def test_a_changed_model_file_is_refused(exported, tmp_path):
    _, path = exported
    copy = tmp_path / "tiny.onnx"
    copy.write_bytes(path.read_bytes() + b"\0")
    copy.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(CardError, match="sha256"):
        LHGNNHost(copy)


def test_the_shipped_model_runs_and_its_card_reports_the_test_numbers():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "models/lhgnn/lhgnn_coisac.onnx"
    if not path.is_file():
        pytest.skip("models/lhgnn/lhgnn_coisac.onnx not shipped")
    precoder = make_precoder(PrecoderSpec("lhgnn", "coisac", {"path": str(path)}), SCN)
    batch = CoisacScenario(SCN).draw(20, rng=7)
    W = precoder(batch.realization()).W
    assert np.all(per_bs_power(W, SCN.N) <= SCN.power * (1 + 1e-5))
    card = json.loads(path.with_suffix(".json").read_text())
    assert np.mean(batch.speb(W) <= card["gamma_m2"]) >= 0.8  # trained to meet gamma
    assert {"model", "zf_target_beam", "mrt_target_beam"} <= set(card["validation"])
