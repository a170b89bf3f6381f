"""ONNX export of a trained precoder with its model card (DESIGN.md, ONNX contract).

Inputs ``channels`` float32 (B, K, 2N) — and for target-aware models ``sensing`` float32
(B, 1+NC, 2N) — in the core's raw units; output ``beamformer`` float32 (B, K+1, 2N), row 0 the
sensing beam, power layer (37) inside the graph; the batch axis is dynamic. The export is checked
with ``onnx.checker`` and compared with torch on the same inputs (parity relative to ||W||_F).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..channels import sensing_geometry, sensing_tokens
from ..config import SystemConfig
from ..dataset import iq, iq_rows, load_split
from ..geometry import drop, paper_scene
from ..precoding.cards import DEFAULT_SCENARIO
from ..recipe import TrainConfig
from .layers import ZeroForcingBasis
from .lean import LeanSTCIB, lean_form
from .models import count_parameters, input_scale

OPSET = 17
CARD_FORMAT = "cfisac-model-card/1"
PARITY_TOLERANCE = 1e-4

DECODER_NOTE = (
    "Decoder deviation from the paper (eq 34): rFF(SAB(SAB([PMA_1(U); U]))) — the sensing beam "
    "comes from the pooled token, user k's beam from user k's encoded token — instead of "
    "rFF(SAB(SAB(PMA_{K+1}(U)))), whose K+1 learned seeds cannot tell which output belongs to "
    "which user. Permutation equivariant over users."
)


HEAD_NOTES = {
    "free": "Output rows from the paper's final rFF (eq 34): 2N-dim beams regressed freely.",
    "span": "Deviation: output rows = rFF part + learned complex combination of the unit-norm "
    "inputs (layers.SpanHead).",
    "zf": "Deviation: output rows = null-space projection of the rFF part + learned complex "
    "combination of the users' regularized-ZF directions (layers.ZeroForcingHead; one 2K x 2K "
    "inverse in the graph, com.microsoft::Inverse of ONNX Runtime). Beyond the paper: it makes "
    "interference nulling exact instead of learned.",
}


FORM_NOTES = {
    "lean": "Exported from train/lean.py: the trained weights folded into an algebraically equal "
    "graph with about half the nodes (fused self-attention, Gemm layers, precomputed constant "
    "queries) for batch-1 latency; parity is measured against the trained torch modules.",
    "traced": "Exported by tracing the trained torch modules as written (layers.py).",
}


def custom_domains(path: str | Path) -> list[str]:
    """Operator domains of a graph other than the default ONNX one (e.g. com.microsoft)."""
    import onnx

    return sorted(
        {n.domain for n in onnx.load(str(path)).graph.node if n.domain not in ("", "ai.onnx")}
    )


def paper_sensing_tokens(sc: SystemConfig) -> np.ndarray:
    """Sensing tokens (1, 1+NC, N) of the paper's fixed scene (what paper-faithful models assume)."""
    return sensing_tokens(sensing_geometry(sc, drop(sc, 0, 1, "paper")))


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _OnnxWrapper(torch.nn.Module):
    """Fixes the positional signature the exporter sees (channels[, sensing][, threshold])."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return run_named(self.model, dict(zip(self.names, inputs)))


def run_named(model: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
    """Call a model with named graph inputs (channels, sensing, threshold)."""
    t = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(v) for k, v in inputs.items()}
    return model(t["channels"], sensing=t.get("sensing"), threshold=t.get("threshold"))


def example_inputs(cfg: TrainConfig, size: int = 64) -> dict[str, np.ndarray]:
    """Validation inputs for tracing and parity: {'channels'[, 'sensing']} float32."""
    sc = cfg.system_config()
    val = load_split(sc, cfg.data, "val", min(size, cfg.data.val_size), progress=False)
    out = {"channels": iq(val["F_hat"])}
    if cfg.model.target_aware:
        out["sensing"] = iq_rows(val["sensing"])
    if cfg.model.threshold_input:
        lo, hi = cfg.loss.threshold_range
        out["threshold"] = np.linspace(lo, hi, len(out["channels"]), dtype=np.float32)[:, None]
    return out


def _inverse_symbolic(g, x):
    """torch.linalg.inv -> com.microsoft::Inverse (ONNX Runtime's batched matrix inverse)."""
    return g.op("com.microsoft::Inverse", x).setType(x.type())


def register_inverse_export() -> None:
    """Export torch.linalg.inv as com.microsoft::Inverse (pass custom_opsets={"com.microsoft": 1}
    to torch.onnx.export)."""
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("aten::linalg_inv", _inverse_symbolic, OPSET)


def _export(model: torch.nn.Module, args: tuple, buffer: io.BytesIO, names: list[str]) -> None:
    register_inverse_export()
    uses_contrib = isinstance(model, LeanSTCIB) or any(
        isinstance(m, ZeroForcingBasis) for m in model.modules()
    )
    torch.onnx.export(
        _OnnxWrapper(model, names).eval(),
        args,
        buffer,
        dynamo=False,
        opset_version=OPSET,
        input_names=names,
        output_names=["beamformer"],
        dynamic_axes={**{n: {0: "batch"} for n in names}, "beamformer": {0: "batch"}},
        do_constant_folding=True,
        custom_opsets={"com.microsoft": 1} if uses_contrib else None,
    )


def export_onnx(
    model: torch.nn.Module, inputs: dict[str, np.ndarray], path: str | Path, lean: bool = True
) -> str:
    """Write the ONNX graph (opset OPSET, dynamic batch), check it with onnx.checker and return
    its form: 'lean' (lean.lean_form: the same function in about half the nodes, for batch-1
    latency) where the model has one and ``lean`` is set, else 'traced' (the modules as written)."""
    import onnx

    form = lean_form(model) if lean else None
    if form is not None:
        model = form
    names = list(inputs)
    args = tuple(torch.from_numpy(inputs[n][:2]) for n in names)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # legacy (TorchScript) exporter on purpose: no onnxscript dependency, a lean graph; the set
        # sizes are read as ints on purpose (constant reshapes, see layers.MultiHead)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        _export(model, args, buffer, names)
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "gr-cfisac"
    proto.doc_string = "cfisac learned precoder; see the model card (.json) beside this file"
    onnx.checker.check_model(proto, full_check=True)
    Path(path).write_bytes(proto.SerializeToString())
    return "traced" if form is None else "lean"


def parity(model: torch.nn.Module, inputs: dict[str, np.ndarray], path: str | Path) -> float:
    """max_b max|W_onnx - W_torch| / ||W_torch||_F over a batch (onnxruntime vs torch)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["beamformer"], inputs)[0]
    with torch.no_grad():
        want = run_named(model, inputs).numpy()
    diff = np.abs(got - want).max(axis=(1, 2))
    return float((diff / np.linalg.norm(want, axis=(1, 2))).max())


def model_card(
    cfg: TrainConfig,
    model: torch.nn.Module,
    record: dict[str, Any],
    onnx_path: Path,
    parity_value: float,
    log_summary: dict[str, Any],
    form: str = "traced",
) -> dict[str, Any]:
    """The model card of DESIGN.md: system, regime, architecture, data, metrics, I/O, sha256."""
    sc = cfg.system_config()
    system = sc.to_dict()
    system.pop("extra", None)
    d2 = 2 * sc.N
    inputs = {"channels": {"dtype": "float32", "shape": ["batch", sc.K, d2]}}
    if cfg.model.target_aware:
        inputs["sensing"] = {"dtype": "float32", "shape": ["batch", 1 + sc.NC, d2]}
        scene: dict[str, Any] = {"kind": "any", "note": "target-aware: the scene is an input"}
    else:
        scene = {"kind": cfg.data.scene}
        if cfg.data.scene == "paper":
            target, clutter = paper_scene(sc)
            scene.update(
                target_pos=target.tolist(),
                clutter_pos=clutter.tolist(),
                sensing_tokens_iq=iq_rows(paper_sensing_tokens(sc))[0].tolist(),
                note="paper-faithful: trained for this fixed sensing scene only",
            )
    if cfg.model.threshold_input:
        inputs["threshold"] = {"dtype": "float32", "shape": ["batch", 1],
                               "range": [float(x) for x in cfg.loss.threshold_range]}  # fmt: skip
    loss = cfg.loss
    regime: dict[str, Any] = {"name": loss.regime}
    if loss.threshold_range is not None:
        regime["threshold_range"] = [float(x) for x in loss.threshold_range]
    if loss.regime == "joint":
        regime["eta"] = loss.eta
    elif loss.regime == "sc":
        regime.update(comm_threshold=loss.comm_threshold, xi=loss.xi, margin=loss.margin)
    else:
        regime.update(sensing_threshold=loss.sensing_threshold, varrho=loss.varrho,
                      margin=loss.margin)  # fmt: skip
    arch = dict(vars(cfg.model))
    arch["parameters"] = count_parameters(model)
    if cfg.model.arch == "stcib":
        arch["note"] = DECODER_NOTE if cfg.model.decoder == "tokens" else (
            "Paper-literal decoder rFF(SAB(SAB(PMA_{K+1}(U)))) (eq 34): NOT permutation "
            "equivariant over users (output rows come from learned seeds).")  # fmt: skip
    arch["head_note"] = HEAD_NOTES[cfg.model.head]
    return {
        "format": CARD_FORMAT,
        "name": cfg.name,
        "scenario": recipe_scenario(cfg),
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "system": system,
        "dimensions": {
            "NT": sc.NT,
            "NR": sc.NR,
            "MT": sc.MT,
            "MR": sc.MR,
            "K": sc.K,
            "NC": sc.NC,
            "N": sc.N,
        },  # fmt: skip
        "rho": sc.rho,
        "power_budget": sc.power_budget,
        "power_constraint": "total: ||W||_F^2 <= rho * NT (eq 23d), applied in the graph (eq 37)",
        "input_scale": input_scale(sc.rho),
        "input_scale_note": "inputs are multiplied by input_scale (sqrt(rho)) inside the graph",
        "regime": regime,
        "architecture": arch,
        "scene": scene,
        "onnx": {
            "opset": OPSET,
            "inputs": inputs,
            "outputs": {"beamformer": {"dtype": "float32", "shape": ["batch", sc.K + 1, d2]}},
            "layout": "row k = [Re(w_k^T), Im(w_k^T)], row 0 the sensing beam w_0; TAP-major",
            "parity_max_rel_diff": parity_value,
            "form": form,
            "form_note": FORM_NOTES[form],
            "custom_domains": custom_domains(onnx_path),
        },
        "training": {
            "config": cfg.to_dict(),
            "data": {
                "train_size": cfg.data.train_size,
                "val_size": cfg.data.val_size,
                "seed": cfg.data.seed,
                "scene": cfg.data.scene,
                "estimator": cfg.data.estimator,
            },  # fmt: skip
            "best_epoch": int(record["epoch"]),
            **log_summary,
            "torch": torch.__version__,
            "machine": platform.machine(),
            "loss_channels": "true F for SINR; realized G for the sensing objective; "
            "varpi-averaged SCNR for the CC sensing constraint (see gr_cfisac/train/losses.py)",
        },
        "validation": {k: float(v) for k, v in record["metrics"].items()},
        "reproduce": f"cfisac train --config models/{cfg.name}.json --out runs/{cfg.name} "
        f"&& cfisac export runs/{cfg.name} --out models/{cfg.name}.onnx",
    }


def recipe_scenario(cfg: TrainConfig) -> str:
    """The scenario a recipe trains for (its ``scenario`` field; recipes without one train the
    cell-free scenario, the only one the STCIB/CNN recipes know)."""
    return str(getattr(cfg, "scenario", None) or DEFAULT_SCENARIO)


def log_summary(run_dir: Path) -> dict[str, Any]:
    """Epochs and wall time from a run's log.csv."""
    import csv

    path = run_dir / "log.csv"
    if not path.exists():
        return {}
    rows = list(csv.DictReader(path.open()))
    if not rows:
        return {}
    return {"epochs_run": int(rows[-1]["epoch"]), "train_wall_s": float(rows[-1]["elapsed_s"])}


def export_run(run_dir: str | Path, out_path: str | Path, lean: bool = True) -> dict[str, Any]:
    """Export the best model of a run to ``out_path`` (.onnx) and its card (.json); returns it.
    ``lean=False`` writes the plain trace of the torch modules (see export_onnx)."""
    from .trainer import load_best

    run_dir = Path(run_dir)
    out_path = Path(out_path)
    if out_path.suffix != ".onnx":
        raise ValueError(f"--out must end in .onnx, got {out_path}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model, cfg, record = load_best(run_dir)
    inputs = example_inputs(cfg)
    form = export_onnx(model, inputs, out_path, lean=lean)
    value = parity(model, inputs, out_path)
    if value > PARITY_TOLERANCE:
        raise ValueError(
            f"ONNX parity failed: max |W_onnx - W_torch| / ||W|| = {value:.2e} > "
            f"{PARITY_TOLERANCE:.0e}"
        )
    card = model_card(cfg, model, record, out_path, value, log_summary(run_dir), form)
    out_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card
