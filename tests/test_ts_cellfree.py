"""Issue 12 on the Table-I cell-free network: the per-TAP set (train/decentral/cellfree.py).
TAP t's beams depend on TAP t's estimates only (bit for bit), every TAP transmits its rho, the
training objective is the core's eq 23a, the registry serves the shipped set for cellfree and
refuses a set whose cards disagree (naming the field), and ONNX equals torch within 1e-5."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from gr_cfisac import decentral, evaluation  # noqa: E402
from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.models import shipped_models_dir  # noqa: E402
from gr_cfisac.precoding.registry import PrecoderSpec, Realization, make_precoder  # noqa: E402
from gr_cfisac.scenario import draw_realizations  # noqa: E402
from gr_cfisac.train.decentral.cellfree import (  # noqa: E402
    CellFreeTrainer,
    NetworkRows,
    tap_csi,
    trainer_for,
)
from gr_cfisac.train.decentral.config import TSConfig, config_path  # noqa: E402
from gr_cfisac.train.decentral.export import export_model_set  # noqa: E402
from gr_cfisac.train.decentral.models import ModelSet  # noqa: E402
from gr_cfisac.train.models import input_scale  # noqa: E402

CFG = SystemConfig()
SHIPPED = shipped_models_dir() / "teacher_student" / "ts_cellfree_ap0.onnx"


def small_set() -> ModelSet:
    torch.manual_seed(0)
    return ModelSet(CFG.NT, CFG.MT, CFG.K, "unet", (2, 4), power=CFG.rho,
                    input_scale=input_scale(CFG.rho)).eval()  # fmt: skip


def export(tmp_path: Path) -> tuple[ModelSet, list[dict]]:
    model = small_set()
    real = draw_realizations(CFG, 8, np.random.default_rng(1))
    cards = export_model_set(model, tmp_path / "cf", "cellfree", CFG.to_dict(), {"arch": "unet"},
                             check_csi=tap_csi(real.F_hat, real.sensing.aT_t),
                             extra={"system": CFG.to_dict()})  # fmt: skip
    return model, cards


def registry_set(path: Path, cfg: SystemConfig = CFG):
    return make_precoder(PrecoderSpec("teacher_student", "cellfree", {"path": str(path)}), cfg)


@pytest.fixture(scope="module")
def real():
    return draw_realizations(CFG, 6, np.random.default_rng(7))


def test_tap_t_beams_depend_only_on_tap_t_estimates_bit_for_bit(tmp_path, real):
    model, _ = export(tmp_path)
    pre = registry_set(tmp_path / "cf_ap0.onnx")
    W = pre(Realization(real.F_hat, real.sensing)).W
    assert W.shape == (6, CFG.N, CFG.K + 1)
    MT, t = CFG.MT, 3
    F_other = real.F_hat.copy()
    F_other[:, t * MT : (t + 1) * MT] *= 1.7 * np.exp(0.4j)  # another TAP's estimates change
    W2 = pre(Realization(F_other, real.sensing)).W
    rows = np.r_[0 : t * MT, (t + 1) * MT : CFG.N]
    np.testing.assert_array_equal(W2[:, rows], W[:, rows])  # ONNX, served per TAP
    assert not np.allclose(W2[:, t * MT : (t + 1) * MT], W[:, t * MT : (t + 1) * MT])
    # the torch set too (the training path): TAP t's network never sees another TAP's input
    csi = torch.from_numpy(tap_csi(real.F_hat, real.sensing.aT_t))
    other = csi.clone()
    other[:, t] = torch.randn_like(other[:, t])
    with torch.no_grad():
        a, b = model(csi), model(other)
    keep = [s for s in range(CFG.NT) if s != t]
    assert torch.equal(a[:, keep], b[:, keep])


def test_every_tap_transmits_its_rho(tmp_path, real):
    export(tmp_path)
    W = registry_set(tmp_path / "cf_ap0.onnx")(Realization(real.F_hat, real.sensing)).W
    np.testing.assert_allclose(decentral.per_ap_power(W, CFG.NT), CFG.rho, rtol=1e-5)
    assert (np.abs(W) ** 2).sum((1, 2)) == pytest.approx(CFG.power_budget, rel=1e-5)  # eq 23d


def test_onnx_matches_torch_within_1e_5_relative(tmp_path, real):
    import onnxruntime as ort

    model, cards = export(tmp_path)
    assert max(c["onnx"]["parity_max_rel_diff"] for c in cards) < 1e-5
    csi = tap_csi(real.F_hat, real.sensing.aT_t)
    with torch.no_grad():
        want = model(torch.from_numpy(csi)).numpy()
    for t in range(CFG.NT):
        sess = ort.InferenceSession(str(tmp_path / f"cf_ap{t}.onnx"))
        got = sess.run(["beamformer"], {"csi": csi[:, t]})[0]
        assert np.abs(got - want[:, t]).max() <= 1e-5 * np.abs(want[:, t]).max()


def test_the_registry_refuses_a_set_whose_cards_disagree_naming_the_field(tmp_path):
    export(tmp_path)
    card3 = tmp_path / "cf_ap3.json"
    good = card3.read_text()
    for field, change in (
        ("system", lambda c: c["system"].update(NR=5)),
        ("model_set.M", lambda c: c["model_set"].update(M=8)),
        ("ap", lambda c: c.update(ap=2)),
    ):
        card = json.loads(good)
        change(card)
        card3.write_text(json.dumps(card))
        with pytest.raises(ValueError, match=rf"cf_ap3\.json: field {field}\b"):
            registry_set(tmp_path / "cf_ap0.onnx")
    card3.write_text(good)
    registry_set(tmp_path / "cf_ap0.onnx")
    with pytest.raises(ValueError, match="system.tap_power_dbm"):
        registry_set(tmp_path / "cf_ap0.onnx", SystemConfig(tap_power_dbm=-10.0))
    with pytest.raises(ValueError, match="model_set.N"):
        registry_set(tmp_path / "cf_ap0.onnx", SystemConfig(K=3))


@pytest.mark.skipif(not SHIPPED.is_file(), reason="ts_cellfree set not shipped")
def test_the_shipped_cellfree_set_serves_per_tap_and_centrally(real, tmp_path):
    pre = registry_set(SHIPPED)
    assert pre.family.placement == "per_ap"
    W = pre(Realization(real.F_hat, real.sensing)).W
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert card["scenario"] == "cellfree" and card["ap"] == 0
    assert card["regime"] == {"name": "joint", "eta": 0.4}
    np.testing.assert_allclose(decentral.per_ap_power(W, CFG.NT), CFG.rho, rtol=1e-5)
    MT = CFG.MT
    for t in (0, CFG.NT - 1):
        own = pre.per_ap(t, Realization(real.F_hat[:, t * MT : (t + 1) * MT], real.sensing)).W
        np.testing.assert_array_equal(own, W[:, t * MT : (t + 1) * MT])
    # a copy whose TAP-5 card names another scenario is refused with the field
    for f in SHIPPED.parent.glob("ts_cellfree_ap*"):
        shutil.copy(f, tmp_path / f.name)
    card5 = tmp_path / "ts_cellfree_ap5.json"
    c = json.loads(card5.read_text())
    c["scenario"] = "pos1"
    card5.write_text(json.dumps(c))
    with pytest.raises(ValueError, match="field scenario"):
        registry_set(tmp_path / "ts_cellfree_ap0.onnx")


def tiny_config(tmp_path: Path) -> TSConfig:
    data = TSConfig.load(config_path("ts_cellfree.yml")).to_dict()
    data["data"].update(train_size=12, val_size=6, chunk=6, cache_dir=str(tmp_path / "data"))
    data["model"]["channels"] = [2, 4]
    data["schedule"].update(max_epochs=2, patience=5)
    data["optim"].update(batch_size=6, max_minutes=5)
    return TSConfig.from_dict(data)


def test_training_maximizes_the_cores_eq_23a_and_exports_a_servable_set(tmp_path):
    cfg = tiny_config(tmp_path)
    t = trainer_for(cfg, tmp_path / "run", progress=False)
    assert isinstance(t, CellFreeTrainer)
    r = t.fit()
    assert r.stopped == "done" and len(t.state["history"]["objective"]) == 2
    # the validation objective is the core's eq 23a (eta 0.4, true F, realized G) of the same W
    from gr_cfisac.dataset import iter_realizations

    val = next(iter_realizations(CFG, cfg.data.data_config(), "val", 6))
    model = t.selected_model()
    with torch.no_grad():
        rows = NetworkRows(model)(torch.from_numpy(tap_csi(val.F_hat, val.sensing.aT_t)))
    rows = rows.numpy()
    W = np.swapaxes(rows[..., : CFG.N] + 1j * rows[..., CFG.N :], 1, 2)
    core = evaluation.score(val, W, 0.4)["objective"].mean()
    assert t.evaluate(model, t.val)["objective"] == pytest.approx(core, rel=1e-4)
    assert r.validation["objective"] == max(
        e["val_objective"] for e in t.state["history"]["objective"]
    )
    from gr_cfisac.train.decentral.export import export_run

    cards = export_run(tmp_path / "run", tmp_path / "out" / "cf.onnx")
    assert [c["ap"] for c in cards] == list(range(CFG.NT))
    assert cards[0]["scenario"] == "cellfree" and cards[0]["system"] == CFG.to_dict()
    W2 = registry_set(tmp_path / "out" / "cf_ap0.onnx")(Realization(val.F_hat, val.sensing)).W
    np.testing.assert_allclose(W2, W, rtol=1e-5, atol=1e-5 * np.abs(W).max())


def test_a_cellfree_recipe_names_a_dimension_that_disagrees_with_the_system():
    data = TSConfig.load(config_path("ts_cellfree.yml")).to_dict()
    data["scenario"]["M"] = 16
    with pytest.raises(ValueError, match=r"scenario\.M = 16 .*\(MT\)"):
        TSConfig.from_dict(data)
    data["scenario"].update(M=4, layout="cell-free")
    with pytest.raises(ValueError, match="scenario.layout"):
        TSConfig.from_dict(data)


def test_local_rzf_reference_is_per_tap_local_at_rho(real):
    from gr_cfisac.bench.teacher_student_cellfree import local_rzf

    W = local_rzf(real.F_hat, real.sensing.aT_t, CFG.rho)
    np.testing.assert_allclose(decentral.per_ap_power(W, CFG.NT), CFG.rho, rtol=1e-9)
    F_other = real.F_hat.copy()
    F_other[:, : CFG.MT] *= 3.0  # TAP 0's estimates only
    W2 = local_rzf(F_other, real.sensing.aT_t, CFG.rho)
    np.testing.assert_array_equal(W2[:, CFG.MT :], W[:, CFG.MT :])


@pytest.mark.skipif(not SHIPPED.is_file(), reason="ts_cellfree set not shipped")
def test_the_table_i_bench_section_compares_on_the_same_realizations():
    from gr_cfisac.bench import teacher_student_cellfree as tic
    from gr_cfisac.bench.teacher_student import fronthaul

    out = tic.section(True, fronthaul(CFG)["cellfree"])
    rows = out["rows"]
    assert set(rows) == {tic.DECENTRAL, tic.CENTRAL, tic.OPTIMIZER, tic.ZF, tic.LOCAL}
    assert out["ratio_decentralized_to_centralized"] == pytest.approx(
        rows[tic.DECENTRAL]["objective"] / rows[tic.CENTRAL]["objective"]
    )
    assert rows[tic.DECENTRAL]["realizations"] == rows[tic.CENTRAL]["realizations"] == 100
    assert rows[tic.OPTIMIZER]["realizations"] == out["optimizer_realizations"]
    assert rows[tic.DECENTRAL]["fronthaul_bytes_per_block"]["estimates_up"] == 0
    assert rows[tic.CENTRAL]["fronthaul_bytes_per_block"]["estimates_up"] > 0
    assert rows[tic.DECENTRAL]["max_power_ratio"] == pytest.approx(1.0, rel=1e-5)
    assert len(out["seconds_batch1"]["per_tap"]) == CFG.NT


@pytest.mark.skipif(not SHIPPED.is_file(), reason="ts_cellfree set not shipped")
def test_the_precoder_block_runs_the_shipped_set_per_tap_like_the_central_call():
    pytest.importorskip("gnuradio")
    from gr_cfisac.blocks import precoder
    from gr_cfisac.blocks.layout import estimate_layout, pack_geometry, unpack_geometry
    from gr_cfisac.blocks.qa import run_block
    from gr_cfisac.channels import split_tap_major

    B = 4
    r = draw_realizations(CFG, B, np.random.default_rng(3))
    h = split_tap_major(r.F_hat, CFG.NT)
    geometry = pack_geometry(CFG, r.sensing)
    ports = [estimate_layout(CFG).pack(h_hat=h[:, i])[:, None] for i in range(CFG.NT)]
    outs = run_block(precoder(CFG, str(SHIPPED), msg_interval=0), [*ports, geometry[:, None]])
    W = outs[CFG.NT].data[:, 0].reshape(B, CFG.N, CFG.K + 1)
    sg = unpack_geometry(CFG, geometry)
    F_hat = r.F_hat.astype(np.complex64).astype(complex)
    want = registry_set(SHIPPED)(Realization(F_hat, sg)).W
    np.testing.assert_allclose(W, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    for t in range(CFG.NT):  # each TAP's own port carries its own rows
        Wt = outs[t].data[:, 0].reshape(B, CFG.MT, CFG.K + 1)
        np.testing.assert_array_equal(Wt, W[:, t * CFG.MT : (t + 1) * CFG.MT])
