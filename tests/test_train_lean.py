"""The lean export form (train/lean.py) computes the same function as the trained modules, for
every STCIB variant, and its ONNX graph is leaner than the plain trace."""

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.recipe import ModelConfig  # noqa: E402
from gr_cfisac.train.export import export_onnx, parity, run_named  # noqa: E402
from gr_cfisac.train.lean import lean_form  # noqa: E402
from gr_cfisac.train.models import build_model, input_scale  # noqa: E402

TINY = dict(d_model=16, heads=2, inducing=4, ff_hidden=32, cnn_channels=16)
VARIANTS = {
    "tokens-zf": dict(head="zf"),
    "tokens-free": dict(head="free"),
    "pma-free": dict(decoder="pma", head="free"),
    "pma-zf": dict(decoder="pma", head="zf"),
    "target-zf": dict(head="zf", target_aware=True),
    "target-free": dict(head="free", target_aware=True),
    "threshold-zf": dict(head="zf", threshold_input=True),
    "threshold-target-zf": dict(head="zf", threshold_input=True, target_aware=True),
    "gain-set-norm": dict(head="zf", gain_input=True, input_norm="set"),
}


def _model(seed: int = 0, **options) -> torch.nn.Module:
    """A tiny random STCIB with every parameter perturbed (biases and LayerNorm shifts nonzero,
    so each folding step of the lean form is exercised)."""
    cfg = SystemConfig()
    torch.manual_seed(seed)
    model = build_model(ModelConfig(**{**TINY, **options}), cfg.K, cfg.N, cfg.NC,
                        cfg.power_budget, input_scale(cfg.rho), threshold_max=5.0)  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model.eval()


def _inputs(model, batch: int = 16, seed: int = 1) -> dict[str, np.ndarray]:
    cfg = SystemConfig()
    rng = np.random.default_rng(seed)
    out = {"channels": (rng.standard_normal((batch, cfg.K, 2 * cfg.N)) * 1e-4).astype(np.float32)}
    if model.target_aware:
        shape = (batch, 1 + cfg.NC, 2 * cfg.N)
        out["sensing"] = (rng.standard_normal(shape) * 3e-5).astype(np.float32)
    if model.threshold_input:
        out["threshold"] = rng.uniform(0.5, 5.0, (batch, 1)).astype(np.float32)
    return out


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b).max(axis=(1, 2)) / np.linalg.norm(b, axis=(1, 2))).max())


@pytest.mark.parametrize("variant", VARIANTS)
def test_lean_form_equals_the_trained_modules(variant):
    model = _model(**VARIANTS[variant])
    lean = lean_form(model)
    assert lean is not None
    inputs = _inputs(model)
    with torch.no_grad():
        want = run_named(model, inputs).numpy()
        got = run_named(lean, inputs).numpy()
    assert _relative(got, want) < 1e-5


def test_lean_form_covers_stcib_only():
    assert lean_form(_model(arch="cnn")) is None
    assert lean_form(_model(head="span")) is None  # falls back to the plain trace


def _compute_nodes(path) -> collections.Counter:
    graph = onnx.load(str(path)).graph
    return collections.Counter(n.op_type for n in graph.node if n.op_type != "Constant")


@pytest.mark.parametrize("variant", ["tokens-zf", "target-zf"])
def test_lean_graph_is_smaller_fused_and_equal_in_onnxruntime(variant, tmp_path):
    model = _model(**VARIANTS[variant])
    inputs = _inputs(model)
    assert export_onnx(model, inputs, tmp_path / "lean.onnx") == "lean"
    assert export_onnx(model, inputs, tmp_path / "traced.onnx", lean=False) == "traced"
    lean, traced = _compute_nodes(tmp_path / "lean.onnx"), _compute_nodes(tmp_path / "traced.onnx")
    assert lean["Attention"] == 2  # the decoder's two SABs as fused attention nodes
    assert sum(lean.values()) < 0.8 * sum(traced.values())
    assert lean["Transpose"] < traced["Transpose"]
    for name in ("lean.onnx", "traced.onnx"):
        assert parity(model, inputs, tmp_path / name) < 1e-4
