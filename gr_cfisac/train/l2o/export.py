"""ONNX export of MT-SAO-lift (paper 002) and its model card.

One graph (opset :data:`OPSET`, dynamic batch): inputs ``channel`` (B, Km, 2Nm) float32 rows
[Re f_k^T, Im f_k^T], ``user_mask`` (B, Km) and ``antenna_mask`` (B, Nm) float32 0/1, ``noise``
(B, 1) sigma^2; output ``beamformer`` (B, Km, 2Nm) rows [Re w_k^T, Im w_k^T], zero outside the
active users and antennas, ||W||_F^2 = P = 1. The LMMSE start (a Newton-Schulz inverse, plain
matmuls), the T layers and the Q_i gradient-ascent steps after each are all in the graph.
The card (``NAME.json`` beside the .onnx) follows :data:`gr_cfisac.precoding.l2o.CARD_SCHEMA`.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...precoding.cards import CARD_FORMAT, DIMENSIONS
from ...precoding.l2o import INPUTS, validate_l2o_card
from .config import L2OConfig
from .model import MASK_VALUE, MTSAO
from .trainer import CellFreePool, FitResult, draw_batch, evaluate, load_model, validation_set

#: the graph's inputs as the trainer's batches name them
INPUT_KEYS = ("channel", "users", "antennas", "noise")

OPSET = 17
#: torch <-> ONNX Runtime: max over the batch of max|dW| / ||W||_F (issue 13: <= 1e-5)
PARITY_TOLERANCE = 1e-5

DEVIATIONS = (
    "Each token stream (users: rows of width 2Nm; antennas: columns of width 2Km) has its own "
    "aggregation MLP back to its row / column and the two views are summed with one residual "
    "of the input (the paper's eqs 20-21 pair user j with antenna j and need Km = Nm); channel "
    "and beam tokens get a learned type embedding; the ascent steps (eq 8) follow the normalized "
    "gradient G / ||G||_F (architecture.ascent) with a step size learned per layer; "
    "residual branches start at zero (an untrained model is LMMSE + ascent); the sample mask is "
    "reapplied to H^(t) too; attention masks use a finite value instead of -inf; the LMMSE start "
    "regularizes with sigma^2 (eq 5 prints I_N)."
)


class _Graph(torch.nn.Module):
    """The exported function: the model with Q_i steps, positional inputs."""

    def __init__(self, model: MTSAO, steps: int) -> None:
        super().__init__()
        self.model, self.steps = model, steps

    def forward(self, channel, user_mask, antenna_mask, noise):
        return self.model(channel, user_mask, antenna_mask, noise, self.steps)


def export_onnx(model: MTSAO, path: str | Path, steps: int) -> None:
    """Write the graph with ``steps`` = Q_i ascent steps per layer and check it (onnx.checker)."""
    import onnx

    model = model.float().eval()
    Km, Nm = model.Km, model.Nm
    example = (torch.zeros(2, Km, 2 * Nm), torch.ones(2, Km), torch.ones(2, Nm),
               torch.full((2, 1), 0.01))  # fmt: skip
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            _Graph(model, steps),
            example,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=list(INPUTS),
            output_names=["beamformer"],
            dynamic_axes={**{n: {0: "batch"} for n in INPUTS}, "beamformer": {0: "batch"}},
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "gr-cfisac"
    proto.doc_string = "cfisac MT-SAO-lift precoder (paper 002); see the model card beside it"
    onnx.checker.check_model(proto, full_check=True)
    Path(path).write_bytes(proto.SerializeToString())


def parity_inputs(cfg: L2OConfig, cases: list[tuple[int, int]], size: int = 16, seed: int = 99):
    """Masked draws at every (K, N) of ``cases``, concatenated (cell-free: from the val split)."""
    rng = np.random.default_rng(seed)
    pool = CellFreePool(cfg, "val", 64) if cfg.scenario.kind == "cellfree" else None
    parts = [draw_batch(cfg, K, N, size, rng, pool) for K, N in cases]
    return {k: np.concatenate([p[k] for p in parts]) for k in INPUT_KEYS}


def parity(model: MTSAO, path: str | Path, inputs: dict[str, np.ndarray], steps: int) -> float:
    """max_b max|W_onnx - W_torch| / ||W_torch||_F (onnxruntime vs torch, float32)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = dict(zip(INPUTS, (inputs["channel"], inputs["users"], inputs["antennas"],
                             inputs["noise"])))  # fmt: skip
    got = session.run(["beamformer"], feed)[0]
    with torch.no_grad():
        t = [torch.from_numpy(feed[n]) for n in INPUTS]
        want = model.float().eval()(*t, steps).numpy()
    diff = np.abs(got - want).max(axis=(1, 2))
    return float((diff / np.maximum(np.linalg.norm(want, axis=(1, 2)), 1e-30)).max())


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def parity_cases(Km: int, Nm: int) -> list[tuple[int, int]]:
    """(K, N) pairs the export checks: corners, the middle, over- and underloaded."""
    mid_k, mid_n = max(1, Km // 2), max(1, round(0.7 * Nm))
    return sorted({(1, 1), (1, Nm), (Km, 1), (Km, Nm), (mid_k, mid_n), (Km, mid_n), (mid_k, Nm)})


def model_card(
    cfg: L2OConfig, model: MTSAO, onnx_path: Path, parity_value: float,
    cases: list[tuple[int, int]], training: dict[str, Any], validation: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The card of DESIGN.md for a variable-(K, N) model (format, scenario, dimensions, SNR
    range, architecture with T and Q_i, ONNX I/O, training, validation, sha256)."""
    s, m = cfg.scenario, cfg.model
    Km, Nm = s.Km, s.Nm
    units: dict[str, Any] = {}
    if s.kind == "cellfree":
        sc = s.system_config()
        system = sc.to_dict()
        system.pop("extra", None)
        units = {
            "system": system,
            # the cell-free system's dimensions too (cards.validate_card checks them)
            "dimensions": {"Km": Km, "Nm": Nm, **{d: getattr(sc, d) for d in DIMENSIONS}},
            "units": "cellfree: the family feeds F_hat * sqrt(power_budget) with noise 1 and "
            "scales W back by sqrt(power_budget) (||W||_F^2 = power_budget, eq 23d); trained "
            "with the rates on the true channels; snr_db_range [0, 0] is that unit noise",
        }
    card = {
        "format": CARD_FORMAT,
        "family": "l2o",
        "name": onnx_path.stem,
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "scenario": s.kind,
        "dimensions": {"Km": Km, "Nm": Nm},
        "power": 1.0,
        "power_constraint": "total: ||W||_F^2 = P = 1 (paper 002, eq 4), applied in the graph",
        "snr_db_range": list(s.snr_db) if s.kind == "mu_miso" else [0.0, 0.0],
        "architecture": {
            "arch": m.arch,
            "T": m.layers,
            "Q_t": m.q_train,
            "Q_i": m.q_infer,
            "ascent": m.ascent,
            "gradient_tokens": m.gradient_tokens,
            "d_model": m.d_model,
            "heads": m.heads,
            "hidden": m.hidden,
            "step_sizes": [float(v) for v in torch.exp(model.log_step.detach())],
            "mask_value": MASK_VALUE,
            "inverse_iterations": model.inverse_iterations,
            "parameters": sum(p.numel() for p in model.parameters()),
            "note": DEVIATIONS,
        },
        "onnx": {
            "opset": OPSET,
            "inputs": {
                "channel": {"dtype": "float32", "shape": ["batch", Km, 2 * Nm]},
                "user_mask": {"dtype": "float32", "shape": ["batch", Km], "range": [0, 1]},
                "antenna_mask": {"dtype": "float32", "shape": ["batch", Nm], "range": [0, 1]},
                "noise": {"dtype": "float32", "shape": ["batch", 1]},
            },
            "outputs": {"beamformer": {"dtype": "float32", "shape": ["batch", Km, 2 * Nm]}},
            "parity_max_rel_diff": parity_value,
            "parity_cases": [list(c) for c in cases],
        },
        "training": training,
        "validation": validation,
    }
    return {**card, **units}


#: inference ascent steps Q_i the card's validation.q_sweep reports (Fig. 4's Q_i axis)
Q_SWEEP = (0, 5, 10, 25, 50)


def inference_steps_sweep(cfg: L2OConfig, model: MTSAO, steps: tuple[int, ...]) -> list[dict]:
    """Validation sum rate / WMMSE per stage for each Q_i (the torch model; the graph has its
    Q_i fixed): Fig. 4's inference axis, for the one Q_t the model was trained with."""
    val = validation_set(cfg)
    out = []
    for q in steps:
        report = evaluate(model.float(), val, q)
        out.append({"Q_i": q, "ratio": report["ratio"],
                    "stages": [{k: r[k] for k in ("K", "N", "ratio")} for r in report["stages"]]})  # fmt: skip
    return out


def export_run(
    run: str | Path, onnx_path: str | Path, fit: FitResult | None = None,
    q_sweep: tuple[int, ...] = Q_SWEEP,
) -> dict:  # fmt: skip
    """Export a run folder's model (last.pt) to ``onnx_path`` with its card beside it; refuses
    (ValueError) a parity above PARITY_TOLERANCE. Returns the card."""
    run, onnx_path = Path(run), Path(onnx_path)
    cfg, model = load_model(run)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model, onnx_path, cfg.model.q_infer)
    # a dedicated model (one curriculum stage, Fig. 6's DT-SAO-lift) is checked where it is
    # meant to run; a masked model at every corner of its (K, N) range
    single = len(cfg.stages) == 1
    cases = cfg.stages if single else parity_cases(cfg.scenario.Km, cfg.scenario.Nm)
    value = parity(model, onnx_path, parity_inputs(cfg, cases), cfg.model.q_infer)
    if value > PARITY_TOLERANCE:
        raise ValueError(
            f"ONNX parity {value:.2e} exceeds {PARITY_TOLERANCE:.0e}: the graph does not compute "
            "what the torch model does"
        )
    log = run / "log.csv"
    training = {
        "config": cfg.to_dict(),
        "algorithm": "paper 002 Algorithm 1: curriculum over (K, N), random masking, sample "
        "replay, sliding window (eq 25), cumulative sum-rate loss (eq 7), cosine lr",
        "epochs": cfg.total_epochs if fit is None else fit.epochs,
        "log_rows": max(0, len(log.read_text().splitlines()) - 1) if log.exists() else 0,
    }
    if fit is not None:
        training.update({"stopped": fit.stopped, "wall_s": round(fit.wall_s, 1)})
    validation = {} if fit is None else {"q_steps": cfg.model.q_infer, **fit.validation}
    if q_sweep:
        validation["q_sweep"] = inference_steps_sweep(cfg, model, q_sweep)
    card = model_card(cfg, model, onnx_path, value, cases, training, validation)
    validate_l2o_card(card, onnx_path.with_suffix(".json"))
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    return card
