"""MT-SAO-lift export and the registry family ``l2o``: one ONNX graph (masks in, masked beamformer
out, ascent steps inside) matches torch to 1e-5 on every (K, N) tried, its card validates, and
the family serves any K <= Km with DESIGN's layout and refuses what does not fit, by name."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from gr_cfisac import mumiso  # noqa: E402
from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.precoding.cards import CardError  # noqa: E402
from gr_cfisac.precoding.l2o import L2OHost, read_l2o_card  # noqa: E402
from gr_cfisac.precoding.registry import PrecoderSpec, Realization, make_precoder  # noqa: E402
from gr_cfisac.train.l2o.config import L2OConfig, config_path  # noqa: E402
from gr_cfisac.train.l2o.export import PARITY_TOLERANCE, export_run  # noqa: E402
from gr_cfisac.train.l2o.trainer import Trainer, channel_rows, load_model  # noqa: E402

Km, Nm = 6, 5


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("l2o")
    cfg = L2OConfig.load(config_path("l2o_tiny.yml")).replace("curriculum", passes=1)
    fit = Trainer(cfg, root / "run", progress=False).fit(validate_every=100)
    export_run(root / "run", root / "tiny.onnx", fit)
    return root / "tiny.onnx"


def feed(b: mumiso.MuMisoBatch, noise: float) -> dict[str, np.ndarray]:
    return {
        "channel": channel_rows(b.F),
        "user_mask": b.users.astype(np.float32),
        "antenna_mask": b.antennas.astype(np.float32),
        "noise": np.full((b.batch, 1), noise, np.float32),
    }


@pytest.mark.parametrize(("K", "N"), [(1, 1), (2, 5), (6, 2), (4, 4), (6, 5)])
def test_onnx_matches_torch_on_every_active_size(exported, K, N):
    cfg, model = load_model(exported.parent / "run")
    b = mumiso.draw(mumiso.MuMisoConfig(K=K, N=N, Km=Km, Nm=Nm, snr_db=15), 7, K * 10 + N)
    x = feed(b, 10**-1.5)
    got = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"]).run(None, x)[0]
    with torch.no_grad():
        want = model(*(torch.from_numpy(v) for v in x.values()), cfg.model.q_infer).numpy()
    rel = np.abs(got - want).max(axis=(1, 2)) / np.linalg.norm(want, axis=(1, 2))
    assert rel.max() <= PARITY_TOLERANCE
    W = got[..., :Nm] + 1j * got[..., Nm:]  # (B, Km, Nm): zero outside the masks, power 1
    assert np.all(W[~(b.users[:, :, None] & b.antennas[:, None, :])] == 0)
    np.testing.assert_allclose(np.linalg.norm(W, axis=(1, 2)), 1.0, rtol=1e-5)


def test_card_states_the_model_and_validates(exported):
    card = read_l2o_card(exported.with_suffix(".json"))
    assert card["scenario"] == "mu_miso" and card["dimensions"] == {"Km": Km, "Nm": Nm}
    assert card["architecture"]["T"] == 3 and card["architecture"]["Q_i"] == 4
    assert card["snr_db_range"] == [10.0, 20.0]
    assert card["onnx"]["parity_max_rel_diff"] <= PARITY_TOLERANCE
    assert set(card["onnx"]["inputs"]) == {"channel", "user_mask", "antenna_mask", "noise"}
    assert card["validation"]["stages"] and card["training"]["config"]["name"] == "l2o_tiny"
    sweep = card["validation"]["q_sweep"]  # Fig. 4's Q_i axis, measured at export
    assert [r["Q_i"] for r in sweep] == [0, 5, 10, 25, 50]
    assert all(0 < r["ratio"] <= 1.01 for r in sweep)


def test_family_serves_any_k_with_the_isac_layout(exported):
    cfg = mumiso.MuMisoConfig(K=4, N=3, Km=Km, Nm=Nm, snr_db=15)
    pre = make_precoder(PrecoderSpec("l2o", "mu_miso", {"path": str(exported)}), cfg)
    F = mumiso.draw(cfg, 5, 1, contiguous=True).active_channels()  # (5, 3, 4)
    active = np.array([[1, 1, 1, 1], [1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0], [1, 1, 1, 1]], bool)
    W = pre(Realization(F, active=active)).W
    assert W.shape == (5, 3, 5)
    assert np.all(W[..., 0] == 0)  # no sensing beam in mu_miso
    assert np.all(W[:, :, 1:][np.broadcast_to(~active[:, None, :], (5, 3, 4))] == 0)
    np.testing.assert_allclose(np.linalg.norm(W, axis=(1, 2)), 1.0, rtol=1e-5)
    # the same as the graph on the padded inputs, and better than nothing: positive rates
    host = L2OHost(exported)
    np.testing.assert_allclose(W[..., 1:], host.precode(F, active, cfg.noise), atol=1e-7)
    assert np.all(mumiso.sum_rate(F, W[..., 1:] * active[:, None, :], cfg.noise) > 0)
    # fewer users than the config: any K <= Km at run time
    assert pre(Realization(F[:, :, :2])).W.shape == (5, 3, 3)


def test_family_refuses_what_does_not_fit_by_name(exported):
    spec = PrecoderSpec("l2o", "mu_miso", {"path": str(exported)})
    with pytest.raises(ValueError, match="K=7"):
        make_precoder(spec, mumiso.MuMisoConfig(K=7, N=3, Km=8, Nm=5))
    with pytest.raises(ValueError, match="N=6"):
        make_precoder(spec, mumiso.MuMisoConfig(K=3, N=6, Km=6, Nm=6))
    with pytest.raises(ValueError, match="snr_db"):
        make_precoder(spec, mumiso.MuMisoConfig(K=3, N=3, Km=6, Nm=5, snr_db=30))
    with pytest.raises(ValueError, match="scenario"):
        make_precoder(PrecoderSpec("l2o", "cellfree", {"path": str(exported)}), SystemConfig())
    pre = make_precoder(spec, mumiso.MuMisoConfig(K=3, N=3, Km=6, Nm=5, snr_db=15))
    F = np.ones((2, 3, 3), complex)
    with pytest.raises(ValueError, match="K=7"):
        pre(Realization(np.ones((2, 3, 7), complex)))
    with pytest.raises(ValueError, match="N=6"):
        pre(Realization(np.ones((2, 6, 3), complex)))
    with pytest.raises(ValueError, match="active mask must be"):
        pre(Realization(F, active=np.ones((2, 4), bool)))
    F[1, :, 2] = 0  # user 2 of block 1 has no channel but is marked active
    with pytest.raises(ValueError, match="users mask disagrees with the channel"):
        pre(Realization(F, active=np.ones((2, 3), bool)))


def test_a_changed_model_or_broken_card_is_refused(exported, tmp_path):
    onnx_copy = tmp_path / "m.onnx"
    shutil.copy(exported, onnx_copy)
    card = json.loads(exported.with_suffix(".json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    with pytest.raises(CardError, match="sha256"):
        L2OHost(onnx_copy)
    del card["snr_db_range"]
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(CardError, match="snr_db_range"):
        L2OHost(onnx_copy)


def test_bench_fig8_and_table2_on_the_exported_model(exported, tmp_path, monkeypatch):
    from gr_cfisac.bench import BENCHMARKS, l2o_plots
    from gr_cfisac.bench import l2o as bench

    assert BENCHMARKS["l2o"] == "gr_cfisac.bench.l2o"
    host = L2OHost(exported)
    f8 = bench.fig8(host, 3)
    assert [r["K"] for r in f8["rows"]] == list(range(1, Km + 1)) and f8["N"] == 4
    for r in f8["rows"]:  # WMMSE is the reference: nothing classical beats it by much
        assert r["WMMSE"] >= 0.99 * max(r["LMMSE"], r["MRT"])
        assert (r["ZF"] is None) == (r["K"] > f8["N"])
    monkeypatch.setattr(bench, "TABLE_BATCH", 10)
    t2 = bench.table2(host, 1, {"again": L2OHost(exported)})
    assert t2["batch"] == 10
    # the frontier: the shipped model's row is the headline's; the same graph again rates alike
    shipped, again = t2["frontier"]
    assert shipped["time_s"] == t2["time_s"]["model"] and again["model"] == "again"
    assert again["sum_rate_vs_wmmse_converged"] == pytest.approx(
        t2["sum_rate"]["model"] / t2["wmmse_converged_sum_rate"]
    )
    assert t2["sum_rate"]["wmmse_fastest"] >= (1 - 1e-4) * t2["wmmse_converged_sum_rate"] - 1e-9
    assert t2["speedup_vs_wmmse_fastest"] == pytest.approx(
        t2["time_s"]["wmmse_fastest"] / t2["time_s"]["model"]
    )
    assert t2["speedup_vs_wmmse_fastest_per_sample"] == pytest.approx(
        t2["time_s"]["wmmse_fastest_per_sample"] / t2["time_s"]["model"]
    )
    l2o_plots.plot({"fig8": f8, "table2": t2}, tmp_path / "l2o.png")
    assert (tmp_path / "l2o.png").stat().st_size > 10_000
    f7 = bench.fig7({"MT-SAO-lift": host}, 2)
    assert [r["N"] for r in f7["rows"]] == [2, 4] and all(r["K"] == Km for r in f7["rows"])
    l2o_plots.plot_fig7(f7, tmp_path / "fig7.png")
    assert (tmp_path / "fig7.png").stat().st_size > 5_000
    f4 = bench.fig4({2: host})
    (curve,) = f4["curves"]
    sweep = host.card["validation"]["q_sweep"]
    assert curve["Q_i"] == [r["Q_i"] for r in sweep] and curve["Q_t"] == 2
    # the (Km, round(0.7 Nm)) stage's ratios where the validation has that stage, else None
    stage = [[st["ratio"] for st in r["stages"] if (st["K"], st["N"]) == (Km, curve["N"])]
             for r in sweep]  # fmt: skip
    assert curve["ratio_at_KN"] == [x[0] if x else None for x in stage]
    l2o_plots.plot_fig4(f4, tmp_path / "fig4.png")
    assert (tmp_path / "fig4.png").stat().st_size > 5_000


def test_a_model_path_is_routed_to_the_family_its_card_names(exported):
    from gr_cfisac.precoding.registry import spec_for

    spec = spec_for(str(exported), "mu_miso")
    assert spec.name == "l2o" and spec.params == {"path": str(exported)}
    assert spec_for("models/stcib_joint.onnx").name == "onnx"
