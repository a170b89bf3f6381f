"""ONNX export: the DESIGN.md contract, onnx.checker, torch <-> ONNX Runtime parity, the card,
and the contract's properties (power, user equivariance) on the exported graph itself."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.recipe import TrainConfig  # noqa: E402
from gr_cfisac.train.export import PARITY_TOLERANCE, export_run, run_named, sha256  # noqa: E402
from gr_cfisac.train.trainer import Trainer  # noqa: E402

ALL = ["stcib", "target", "cnn", "zf", "zf-target", "sc-cond"]
TINY = Path(__file__).resolve().parents[1] / "gr_cfisac" / "train" / "configs" / "tiny.yml"


def _train_and_export(root: Path, name: str, loss: dict | None = None, **model) -> Path:
    data = TrainConfig.load(TINY).to_dict()
    data["name"] = name
    data["data"]["cache_dir"] = str(root / "data")
    data["optim"]["max_epochs"] = 1
    data["model"].update(model)
    data["loss"].update(loss or {})
    if model.get("target_aware"):
        data["data"]["scene"] = "random"
    cfg = TrainConfig.from_dict(data)
    Trainer(cfg, root / name, progress=False).fit()
    out = root / "models" / f"{name}.onnx"
    export_run(root / name, out)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {
        "stcib": _train_and_export(root, "tiny_stcib"),
        "target": _train_and_export(root, "tiny_target", target_aware=True),
        "cnn": _train_and_export(root, "tiny_cnn", arch="cnn"),
        "zf": _train_and_export(root, "tiny_zf", head="zf"),
        "zf-target": _train_and_export(root, "tiny_zf_target", head="zf", target_aware=True),
        "sc-cond": _train_and_export(
            root,
            "tiny_sc_cond",
            loss={"regime": "sc", "threshold_range": [0.5, 5.0]},
            head="zf",
            threshold_input=True,
        ),
    }


def _inputs(path: Path, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    cfg = SystemConfig()
    rng = np.random.default_rng(seed)
    feeds = {"channels": (rng.standard_normal((batch, cfg.K, 2 * cfg.N)) * 1e-4).astype(np.float32)}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    if "sensing" in names:
        feeds["sensing"] = (rng.standard_normal((batch, 1 + cfg.NC, 2 * cfg.N)) * 3e-5).astype(
            np.float32
        )
    if "threshold" in names:
        feeds["threshold"] = rng.uniform(0.5, 5.0, (batch, 1)).astype(np.float32)
    return feeds


@pytest.mark.parametrize("kind", ALL)
def test_graph_follows_the_contract_and_passes_the_checker(exported, kind):
    cfg = SystemConfig()
    model = onnx.load(str(exported[kind]))
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(str(exported[kind]), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    want = {"target": ["channels", "sensing"], "sc-cond": ["channels", "threshold"]}
    assert names == want.get(kind.replace("zf-", ""), ["channels"])
    assert all(i.type == "tensor(float)" for i in sess.get_inputs())
    assert sess.get_inputs()[0].shape[1:] == [cfg.K, 2 * cfg.N]
    out = sess.get_outputs()
    assert [o.name for o in out] == ["beamformer"] and out[0].shape[1:] == [cfg.K + 1, 2 * cfg.N]
    for batch in (1, 7):  # dynamic batch axis
        got = sess.run(None, _inputs(exported[kind], batch))[0]
        assert got.shape == (batch, cfg.K + 1, 2 * cfg.N) and got.dtype == np.float32


@pytest.mark.parametrize("kind", ALL)
def test_card_records_what_design_md_lists(exported, kind):
    path = exported[kind]
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == sha256(path)
    assert card["system"]["K"] == 4 and card["dimensions"]["N"] == 32
    assert card["rho"] == pytest.approx(SystemConfig().rho)
    if kind == "sc-cond":
        assert card["regime"]["threshold_range"] == [0.5, 5.0]
        assert card["onnx"]["inputs"]["threshold"]["range"] == [0.5, 5.0]
    else:
        assert card["regime"] == {"name": "joint", "eta": 0.4}
    assert card["architecture"]["parameters"] > 0
    assert card["training"]["data"]["train_size"] == 512
    assert {"sum_rc", "sum_rs", "feasible"} <= set(card["validation"])
    assert card["onnx"]["opset"] >= 17
    assert card["onnx"]["parity_max_rel_diff"] <= PARITY_TOLERANCE
    assert card["input_scale"] == pytest.approx(np.sqrt(SystemConfig().rho))
    # STCIB graphs are lean (fused com.microsoft::Attention); the CNN is traced, plain ONNX
    assert card["onnx"]["form"] == ("traced" if kind == "cnn" else "lean")
    assert card["onnx"]["custom_domains"] == ([] if kind == "cnn" else ["com.microsoft"])
    if "target" in kind:
        assert card["scene"]["kind"] == "any"
        assert card["onnx"]["inputs"]["sensing"]["shape"] == ["batch", 3, 64]
    else:
        assert card["scene"]["kind"] == "paper"
        assert np.asarray(card["scene"]["sensing_tokens_iq"]).shape == (3, 64)


@pytest.mark.parametrize("kind", ALL)
def test_torch_and_onnxruntime_agree(exported, kind):
    from gr_cfisac.train.trainer import load_best

    path = exported[kind]
    model, _, _ = load_best(path.parent.parent / path.stem)
    feeds = _inputs(path, 16, seed=3)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    with torch.no_grad():
        want = run_named(model, feeds).numpy()
    rel = np.abs(got - want).max(axis=(1, 2)) / np.linalg.norm(want, axis=(1, 2))
    assert rel.max() <= PARITY_TOLERANCE


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e4])
def test_onnx_output_meets_the_power_constraint(exported, kind, scale):
    feeds = {k: v * np.float32(scale) for k, v in _inputs(exported[kind], 32).items()}
    sess = ort.InferenceSession(str(exported[kind]), providers=["CPUExecutionProvider"])
    out = sess.run(None, feeds)[0].astype(np.float64)
    assert np.all(np.isfinite(out))
    assert np.all(np.sum(out**2, axis=(1, 2)) <= SystemConfig().power_budget * (1 + 1e-5))


@pytest.mark.parametrize("kind", ["stcib", "target", "zf", "zf-target", "sc-cond"])
def test_onnx_model_is_user_permutation_equivariant(exported, kind):
    feeds = _inputs(exported[kind], 8, seed=4)
    perm = [3, 1, 0, 2]
    sess = ort.InferenceSession(str(exported[kind]), providers=["CPUExecutionProvider"])
    out = sess.run(None, feeds)[0]
    out_p = sess.run(None, dict(feeds, channels=feeds["channels"][:, perm]))[0]
    tol = 1e-4 * np.abs(out).max()
    np.testing.assert_allclose(out_p[:, 0], out[:, 0], atol=tol, rtol=0)
    np.testing.assert_allclose(out_p[:, 1:], out[:, 1:][:, perm], atol=tol, rtol=0)


def test_export_refuses_a_wrong_suffix(exported, tmp_path):
    run_dir = exported["stcib"].parent.parent / "tiny_stcib"
    with pytest.raises(ValueError, match=".onnx"):
        export_run(run_dir, tmp_path / "x.pt")


def test_cli_train_export_evaluate_round_trip(tmp_path, capsys):
    from gr_cfisac.cli import main

    out = tmp_path / "m" / "cli_tiny.onnx"
    argv = ["train", "--config", str(TINY), "--name", "cli_tiny", "--epochs", "1",
            "--cache-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
            "--export", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["config"]["optim"]["max_epochs"] == 1
    assert card["training"]["config"]["data"]["cache_dir"] == str(tmp_path / "data")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--size", "40", "--optimizer-size", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["realizations"] == 40
    assert report["max_power_ratio"] <= 1 + 1e-5
    assert 0 < report["sum_rc"] and 0 < report["sum_rs"]
    assert main(["export", str(tmp_path / "missing")]) == 2  # clear error, no traceback
    traced = tmp_path / "m" / "cli_tiny_traced.onnx"
    assert main(["export", str(tmp_path / "run"), "--out", str(traced), "--traced"]) == 0
    assert json.loads(capsys.readouterr().out)["form"] == "traced"
    assert json.loads(traced.with_suffix(".json").read_text())["onnx"]["form"] == "traced"
    assert card["onnx"]["form"] == "lean"


def test_threshold_conditioned_model_uses_its_threshold(exported):
    from gr_cfisac.precoding.onnx import OnnxPrecoder
    from gr_cfisac.scenario import draw_realizations

    cfg = SystemConfig()
    host = OnnxPrecoder(exported["sc-cond"], cfg)
    r = draw_realizations(cfg, 4, 2)
    W1, W4 = host(r.F_hat, threshold=1.0), host(r.F_hat, threshold=4.0)
    assert not np.allclose(W1, W4)
    per_sample = host(r.F_hat, threshold=[1.0, 4.0, 1.0, 4.0])
    tol = 1e-5 * np.abs(W1).max()
    np.testing.assert_allclose(per_sample[0], W1[0], atol=tol, rtol=0)
    np.testing.assert_allclose(per_sample[1], W4[1], atol=tol, rtol=0)
    with pytest.raises(ValueError, match="threshold-conditioned"):
        host(r.F_hat)
    with pytest.raises(ValueError, match="outside the range"):
        host(r.F_hat, threshold=9.0)
    with pytest.raises(ValueError, match="takes no threshold"):
        OnnxPrecoder(exported["zf"], cfg)(r.F_hat, threshold=1.0)


def test_cli_evaluates_a_threshold_conditioned_model(exported, capsys):
    from gr_cfisac.cli import main

    argv = ["evaluate", str(exported["sc-cond"]), "--size", "20", "--threshold", "2",
            "--optimizer-size", "2", "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["comm_threshold"] == 2.0
    optimizer = report["baselines"]["optimizer"]  # solves the model's SC problem at that threshold
    assert (optimizer["regime"], optimizer["realizations"]) == ("sc", 2)
    assert main(["evaluate", str(exported["zf"]), "--size", "20", "--threshold", "2"]) == 2
