"""The ONNX Runtime host: card checks naming the field, sha256, scene refusal, layout, and the
shipped models (sha256 match their cards, power constraint, user permutation equivariance)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gr_cfisac.channels import sensing_geometry, sensing_tokens
from gr_cfisac.config import SystemConfig
from gr_cfisac.geometry import drop
from gr_cfisac.precoding.onnx import OnnxPrecoder, file_sha256, load_card, load_precoder
from gr_cfisac.scenario import draw_realizations

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "models").glob("*.onnx"))
TINY = ROOT / "gr_cfisac" / "train" / "configs" / "tiny.yml"


def _train_and_export(root: Path, name: str, **model) -> Path:
    pytest.importorskip("torch")
    from gr_cfisac.recipe import TrainConfig
    from gr_cfisac.train.export import export_run
    from gr_cfisac.train.trainer import Trainer

    data = TrainConfig.load(TINY).to_dict()
    data.update(name=name)
    data["data"]["cache_dir"] = str(root / "data")
    data["optim"]["max_epochs"] = 1
    data["model"].update(model)
    if model.get("target_aware"):
        data["data"]["scene"] = "random"
    Trainer(TrainConfig.from_dict(data), root / name, progress=False).fit()
    return (
        export_run(root / name, root / "models" / f"{name}.onnx")
        and root / "models" / f"{name}.onnx"
    )


@pytest.fixture(scope="module")
def paper_model(tmp_path_factory):
    return _train_and_export(tmp_path_factory.mktemp("host"), "host_paper")


@pytest.fixture(scope="module")
def target_model(tmp_path_factory):
    return _train_and_export(tmp_path_factory.mktemp("host"), "host_target", target_aware=True)


@pytest.fixture(scope="module")
def real():
    return draw_realizations(SystemConfig(), 16, np.random.default_rng(11), scene="paper")


def test_host_returns_the_design_layout(paper_model, real):
    cfg = SystemConfig()
    host = OnnxPrecoder(paper_model, cfg)
    W = host(real.F_hat)
    assert W.shape == (16, cfg.N, cfg.K + 1) and W.dtype == np.complex64
    x = np.swapaxes(real.F_hat, 1, 2)
    rows = host.session.run(
        None, {"channels": np.concatenate([x.real, x.imag], -1).astype(np.float32)}
    )[0]
    np.testing.assert_allclose(
        W[:, :, 0], rows[:, 0, : cfg.N] + 1j * rows[:, 0, cfg.N :], rtol=1e-6
    )
    assert np.all(np.sum(np.abs(W) ** 2, axis=(1, 2)) <= cfg.power_budget * (1 + 1e-5))
    assert host(real.F_hat[0]).shape == (1, cfg.N, cfg.K + 1)  # one realization


@pytest.mark.parametrize(
    "change, field",
    [
        ({"tap_power_dbm": -10.0}, "tap_power_dbm"),
        ({"NC": 3}, "NC"),
        ({"MT_shape": (2, 4)}, "MT_shape"),
        ({"rho_db": 10.0}, "rho_db"),
    ],  # fmt: skip
)
def test_card_mismatch_names_the_field(paper_model, change, field):
    with pytest.raises(ValueError, match=rf"system\.{field}"):
        OnnxPrecoder(paper_model, SystemConfig().replace(**change))


def test_changed_model_file_is_refused(paper_model, tmp_path):
    copy = tmp_path / paper_model.name
    shutil.copy(paper_model, copy)
    card = json.loads(paper_model.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    copy.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="sha256"):
        OnnxPrecoder(copy, SystemConfig())


def test_missing_card_and_bad_format(paper_model, tmp_path):
    copy = tmp_path / paper_model.name
    shutil.copy(paper_model, copy)
    with pytest.raises(FileNotFoundError, match="card"):
        OnnxPrecoder(copy, SystemConfig())
    copy.with_suffix(".json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="format"):
        load_card(copy)


def test_paper_faithful_model_refuses_another_scene(paper_model, real):
    cfg = SystemConfig()
    with pytest.raises(ValueError, match="paper-faithful"):
        OnnxPrecoder(paper_model, cfg, scene="random")
    host = OnnxPrecoder(paper_model, cfg, scene="paper")
    W_paper = host(real.F_hat, sensing=real.sensing)  # its own scene: accepted, same output
    np.testing.assert_array_equal(W_paper, host(real.F_hat))
    other = sensing_tokens(sensing_geometry(cfg, drop(cfg, 3, 16, "random")))
    with pytest.raises(ValueError, match="sensing scene"):
        host(real.F_hat, sensing=other)


def test_target_aware_model_needs_and_uses_the_scene(target_model):
    cfg = SystemConfig()
    host = OnnxPrecoder(target_model, cfg, scene="random")
    r = draw_realizations(cfg, 8, 4, scene="random")
    with pytest.raises(ValueError, match="target-aware"):
        host(r.F_hat)
    W = host(r.F_hat, sensing=r.sensing)
    assert W.shape == (8, cfg.N, cfg.K + 1)
    np.testing.assert_array_equal(W, host(r.F_hat, sensing_tokens(r.sensing)))
    moved = sensing_tokens(r.sensing)[::-1].copy()
    assert not np.allclose(host(r.F_hat, moved), W)
    with pytest.raises(ValueError, match="sensing must be complex tokens"):
        host(r.F_hat, np.zeros((8, 2, cfg.N), complex))


def test_bad_estimates_are_refused_clearly(paper_model):
    host = OnnxPrecoder(paper_model, SystemConfig())
    with pytest.raises(ValueError, match="F_hat must be"):
        host(np.zeros((2, 16, 4), complex))
    with pytest.raises(ValueError, match="complex"):
        host(np.zeros((2, 32, 4)))
    with pytest.raises(ValueError, match="threads"):
        OnnxPrecoder(paper_model, SystemConfig(), threads=0)


def test_model_is_loaded_once_per_configuration(paper_model):
    cfg = SystemConfig()
    assert load_precoder(paper_model, cfg) is load_precoder(paper_model, SystemConfig())
    assert load_precoder(paper_model, cfg, threads=2) is not load_precoder(paper_model, cfg)


def test_host_imports_no_torch():
    code = "import sys, gr_cfisac.precoding.onnx; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ shipped models


def test_models_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert {"stcib_joint", "stcib_sc", "stcib_cc", "stcib_target_joint", "cnn_joint"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_model_matches_its_card_and_contract(path):
    cfg = SystemConfig()
    card = load_card(path)
    assert file_sha256(path) == card["sha256"]
    assert card["file"] == path.name
    host = OnnxPrecoder(path, cfg)
    scene = "random" if host.target_aware else "paper"
    r = draw_realizations(cfg, 32, 21, scene=scene)
    sensing = r.sensing if host.target_aware else None
    th = None
    if host.threshold_input:
        th = float(np.mean(card["onnx"]["inputs"]["threshold"]["range"]))
    W = host(r.F_hat, sensing, th)
    assert np.all(
        np.sum(np.abs(W.astype(complex)) ** 2, axis=(1, 2)) <= cfg.power_budget * (1 + 1e-5)
    )
    arch = card["architecture"]
    if arch["arch"] == "stcib" and arch["decoder"] == "tokens":
        perm = [1, 3, 0, 2]
        W_p = host(r.F_hat[:, :, perm], sensing, th)
        tol = 1e-4 * np.abs(W).max()
        np.testing.assert_allclose(W_p[:, :, 0], W[:, :, 0], atol=tol, rtol=0)
        np.testing.assert_allclose(W_p[:, :, 1:], W[:, :, 1:][:, :, perm], atol=tol, rtol=0)


# ------------------------------------------------------------------ broken cards (issue 17)


def _shipped_copy(tmp_path: Path, name: str = "stcib_joint", **edits) -> Path:
    """A shipped model beside an edited copy of its card (edits: top-level field -> value, or
    'section.field' -> value)."""
    src = ROOT / "models" / f"{name}.onnx"
    model = tmp_path / src.name
    shutil.copy(src, model)
    card = json.loads(src.with_suffix(".json").read_text())
    for key, value in edits.items():
        section, _, field = key.partition(".")
        if field:
            card[section][field] = value
        else:
            card[section] = value
    model.with_suffix(".json").write_text(json.dumps(card))
    return model


def test_dimensions_are_compared_with_the_running_configuration(tmp_path):
    """A card for K = 3 (system and dimensions agree) is valid, but not for a K = 4 flowgraph;
    check_card compares the dimensions themselves too (for cards it is handed directly)."""
    from gr_cfisac.precoding.onnx import check_card

    base = json.loads((ROOT / "models" / "stcib_joint.json").read_text())
    model = _shipped_copy(tmp_path, **{"system.K": 3, "dimensions": dict(base["dimensions"], K=3)})
    assert load_card(model)["dimensions"]["K"] == 3
    with pytest.raises(ValueError, match=r"field system\.K = 3 differs from the running"):
        OnnxPrecoder(model, SystemConfig())
    check_card(base, SystemConfig())
    for name in ("NT", "NR", "MT", "MR", "K", "NC", "N"):
        edited = dict(base, dimensions=dict(base["dimensions"], **{name: 99}))
        with pytest.raises(ValueError, match=rf"field dimensions\.{name} = 99 differs"):
            check_card(edited, SystemConfig())


@pytest.mark.parametrize(
    "edits, pattern",
    [
        ({"dimensions.N": 33}, r"field dimensions\.N = 33 contradicts the card's system"),
        ({"dimensions": "garbage"}, r"field dimensions must be of type object"),
        ({"system": "garbage"}, r"field system must be of type object"),
        ({"onnx": None}, r"field onnx must be of type object, got null"),
        ({"scene.sensing_tokens_iq": [[0.0, 1.0]] * 3}, r"field scene\.sensing_tokens_iq has shape \(3, 2\)"),
        ({"scene.sensing_tokens_iq": [[0.0], [1.0, 2.0]]}, r"sensing_tokens_iq has shape ragged"),
    ],
)  # fmt: skip
def test_the_host_refuses_a_broken_card_naming_file_and_field(tmp_path, edits, pattern):
    model = _shipped_copy(tmp_path, **edits)
    with pytest.raises(ValueError, match=pattern) as info:
        OnnxPrecoder(model, SystemConfig())
    assert str(model.with_suffix(".json")) in str(info.value)


def test_a_card_or_model_that_is_a_directory(tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(ROOT / "models" / "stcib_joint.onnx", model)
    (tmp_path / "m.json").mkdir()
    with pytest.raises(ValueError, match=rf"model card {tmp_path / 'm.json'} is a directory"):
        OnnxPrecoder(model, SystemConfig())
    (tmp_path / "d.onnx").mkdir()
    with pytest.raises(ValueError, match=r"d\.onnx is not a file"):
        load_card(tmp_path / "d.onnx")


def test_a_threshold_model_needs_its_range_in_the_card(tmp_path):
    card = json.loads((ROOT / "models" / "stcib_sc_cond.json").read_text())
    inputs = {"channels": card["onnx"]["inputs"]["channels"]}  # threshold entry dropped
    model = _shipped_copy(tmp_path, "stcib_sc_cond", **{"onnx.inputs": inputs})
    with pytest.raises(ValueError, match=r"field onnx\.inputs\.threshold is missing"):
        OnnxPrecoder(model, SystemConfig())
