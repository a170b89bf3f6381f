"""ONNX export of the LHGNN family (opset :data:`OPSET`, dynamic batch; the GNNs also take any
K) with its model card (gr_cfisac.precoding.lhgnn.CARD_SCHEMA). The export refuses a graph
whose output differs from torch by more than PARITY_TOLERANCE (max |dW| / ||W||_F per block)."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...coisac import CoisacConfig, CoisacScenario
from ...precoding.cards import CARD_FORMAT, validate_card
from ...precoding.lhgnn import CARD_SCHEMA, INPUTS, node_features

OPSET = 17
PARITY_TOLERANCE = 1e-5
CHANNEL_SOURCE = (
    "geometric (not DeepMIMO O1): LoS + 2 single-bounce scattered paths, Rician K = 9 dB, "
    "3GPP TR 38.901 UMi-Street Canyon LoS pathloss, 28 GHz, 100 MHz, NF 9 dB "
    "(gr_cfisac.coisac.channels; docs/coisac.md)"
)
CHOICES = (
    "f^1..f^4 of eqs 46-47 are single linear layers, Norm is LayerNorm, a ReLU follows eq "
    "45/48's mean over edge types; BS-SS edges (eq 38) do not exist for Z = 1 and are left out "
    "of eq 48's mean; eq 46's 1/|N| is kept as printed on top of the softmax of eq 47; node "
    "features: eq 43 (Re/Im of h_{k,n}, times sqrt(P_n) inside the graph) and eq 44 (Re/Im of "
    "the unit-modulus transmit steering vector a_t toward the target, sensing.aT_t); eq 50 per "
    "BS (under-budget BSs are left alone)"
)

#: the output layers (model.HEADS): what turns the link outputs into beams before eq 50
HEAD_NOTES = {
    "free": "the paper's: each link output is its beam (eq 50 per BS on them)",
    "kkt": "ours, not the paper's (gr_cfisac.train.lhgnn.kkt_head): the link outputs are the "
    "multipliers of problem 32's stationarity condition, w_k = A^-1 (sum_n beta_kn h_kn + T c_k), "
    "w_0 = A^-1 T c_0, A = sum_k lambda_k h_k h_k^H + blockdiag(mu_n I), T_n = span{a_n, i_x a_n, "
    "i_z a_n} (the SPEB gradient's subspace), one 2K x 2K inverse (com.microsoft::Inverse); "
    "eq 50 per BS after it",
}

#: the baselines' notes (Section IV-B; the same node features and eq 50 as the LHGNN)
BASELINE_CHOICES = {
    "homo_gnn": "Homo GNN (Section IV-B): one node type (every BS-user and BS-target link), one "
    "edge type (same BS or same user/target), attention of eq 47 over the union, LayerNorm, "
    "ReLU; node features eq 43-44 and eq 50 per BS as the LHGNN",
    "naive_cnn": "naive CNN (Section IV-B): 3x3 convolutions over the (N, K+1) link grid with "
    "the 2L node features as channels (dims = channels), ReLU, then 2 fully connected layers "
    "to every link's beam (fixed N and K); eq 50 per BS as the LHGNN",
}


def export_onnx(model: torch.nn.Module, path: str | Path, N: int, K: int, L: int) -> None:
    """Write the graph (inputs comm, sensing; output beamformer) and check it."""
    import onnx

    model = model.float().eval()
    example = (torch.randn(2, N, K, 2 * L) * 1e-5, torch.randn(2, N, 2 * L))
    dyn_k = not hasattr(model, "fc")  # the CNN's fully connected layers fix K
    axes = {"comm": {0: "batch", **({2: "K"} if dyn_k else {})}, "sensing": {0: "batch"},
            "beamformer": {0: "batch", **({1: "K+1"} if dyn_k else {})}}  # fmt: skip
    buffer = io.BytesIO()
    contrib = getattr(model, "kkt", None) is not None  # its 2K x 2K inverse
    if contrib:
        from ..export import register_inverse_export

        register_inverse_export()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buffer, dynamo=False, opset_version=OPSET,
                          input_names=list(INPUTS), output_names=["beamformer"],
                          dynamic_axes=axes, do_constant_folding=True,
                          custom_opsets={"com.microsoft": 1} if contrib else None)  # fmt: skip
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "gr-cfisac"
    proto.doc_string = "cfisac LHGNN precoder (paper 003); see the model card beside it"
    onnx.checker.check_model(proto, full_check=True)
    Path(path).write_bytes(proto.SerializeToString())


def parity(
    model: torch.nn.Module, path: str | Path, comm: np.ndarray, sensing: np.ndarray
) -> float:
    """max over blocks of max|W_onnx - W_torch| / ||W_torch||_F."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["beamformer"], {"comm": comm, "sensing": sensing})[0]
    with torch.no_grad():
        want = model.float().eval()(torch.from_numpy(comm), torch.from_numpy(sensing)).numpy()
    diff = np.abs(got - want).max(axis=(1, 2))
    return float((diff / np.maximum(np.linalg.norm(want, axis=(1, 2)), 1e-30)).max())


def parity_inputs(scn: CoisacConfig, size: int = 32, seed: int = 99) -> tuple[np.ndarray, ...]:
    batch = CoisacScenario(scn).draw(size, rng=seed)
    return node_features(batch.F_hat, batch.sensing.aT_t)


def model_card(
    onnx_path: Path, scn: CoisacConfig, arch: dict[str, Any], gamma: float, parity_value: float,
    training: dict[str, Any], validation: dict[str, Any], channel_source: str = CHANNEL_SOURCE,
) -> dict[str, Any]:  # fmt: skip
    """The lhgnn card: scenario coisac, its CoisacConfig (scenario_config), dimensions, power, gamma, channel source,
    architecture, ONNX I/O, training and validation."""
    N, K, L = scn.N, scn.K, scn.L
    k = "K" if arch["arch"] != "naive_cnn" else K
    return {
        "format": CARD_FORMAT,
        "family": "lhgnn",
        "name": onnx_path.stem,
        "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "scenario": "coisac",
        "scenario_config": scn.to_dict(),  # not "system": that is a cell-free SystemConfig
        "dimensions": {"N": N, "L": L, "K": K},
        "power_dbm": scn.power_dbm,
        "power": scn.power,
        "power_constraint": "per BS (eq 32b), eq 50 in the graph: ||W_n||_F^2 <= P_n",
        "gamma_m2": gamma,
        "snapshots": scn.snapshots,
        "channel_source": channel_source,
        "architecture": {
            **arch,
            "note": BASELINE_CHOICES.get(arch["arch"], CHOICES),
            "head_note": HEAD_NOTES[arch.get("head", "free")],
        },  # fmt: skip
        "onnx": {
            "opset": OPSET,
            "input_scale": float(np.sqrt(scn.power)),
            "inputs": {
                "comm": {"dtype": "float32", "shape": ["batch", N, k, 2 * L]},
                "sensing": {"dtype": "float32", "shape": ["batch", N, 2 * L]},
            },
            "outputs": {
                "beamformer": {
                    "dtype": "float32",
                    "shape": ["batch", "K+1" if k == "K" else K + 1, 2 * N * L],
                }
            },  # fmt: skip
            "parity_max_rel_diff": parity_value,
        },
        "training": training,
        "validation": validation,
    }


def export_model(
    model: torch.nn.Module, onnx_path: str | Path, scn: CoisacConfig, arch: dict[str, Any],
    gamma: float, training: dict[str, Any], validation: dict[str, Any],
    channel_source: str = CHANNEL_SOURCE,
) -> dict[str, Any]:  # fmt: skip
    """Export, check parity (ValueError above PARITY_TOLERANCE), write the card; return it."""
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(model, onnx_path, scn.N, scn.K, scn.L)
    value = parity(model, onnx_path, *parity_inputs(scn))
    if value > PARITY_TOLERANCE:
        raise ValueError(f"ONNX parity {value:.2e} exceeds {PARITY_TOLERANCE:.0e}: the graph "
                         "does not compute what the torch model does")  # fmt: skip
    card = model_card(onnx_path, scn, arch, gamma, value, training, validation, channel_source)
    validate_card(card, onnx_path.with_suffix(".json"), CARD_SCHEMA)
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    return card


TEST_SIZE, TEST_SEED = 1000, 4242


def test_report(
    model: torch.nn.Module, scn: CoisacConfig, gamma: float, data: Any = None
) -> dict[str, Any]:
    """Held-out numbers (TEST_SIZE blocks, seed TEST_SEED, or ``data``: a ray-traced test split;
    not used in training or selection):
    the model, and ZF / MRT user beams + a target beam with the power fraction whose mean SPEB
    meets gamma (reference.fraction_for_speb) at the same threshold, and ZF + target beam with
    the fraction that meets gamma on as many blocks as the model does."""
    from .reference import (
        evaluate,
        fraction_for_satisfaction,
        fraction_for_speb,
        target_beam_baseline,
    )
    from .trainer import Dataset, predict

    data = Dataset.draw(scn, TEST_SIZE, TEST_SEED, "cpu") if data is None else data
    report: dict[str, Any] = {"blocks": data.batch.batch, "seed": TEST_SEED, "gamma_m2": gamma,
                              "model": evaluate(data.batch, predict(model, data), gamma)}  # fmt: skip
    for users in ("zf", "mrt"):
        frac = fraction_for_speb(data.batch, gamma, users)
        W = target_beam_baseline(data.batch, frac, users)
        report[f"{users}_target_beam"] = {"fraction": frac, **evaluate(data.batch, W, gamma)}
    share = report["model"]["speb_satisfied"]  # the baseline at the model's satisfaction rate
    frac = fraction_for_satisfaction(data.batch, gamma, share, "zf")
    W = target_beam_baseline(data.batch, frac, "zf")
    report["zf_target_beam_same_satisfaction"] = {
        "fraction": frac,
        **evaluate(data.batch, W, gamma),
    }
    zf = report["zf_target_beam"]["sum_rate"]
    report["rate_vs_zf_target_beam"] = report["model"]["sum_rate"] / zf if zf > 0 else None
    return report


def export_trainer(trainer: Any, onnx_path: str | Path, fit: dict[str, Any]) -> dict[str, Any]:
    """Export a Trainer's selected model with its card (training recipe, test report)."""
    cfg, scn = trainer.cfg, trainer.scn
    model = trainer.best_model()
    arch = {"arch": cfg.arch, "head": cfg.head, "dims": list(cfg.dims), "hidden": cfg.hidden,
            "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
    training = {
        "config": cfg.to_dict(),
        "loss": "eq 51: -sum rate + rho_1 max(0, SPEB - gamma) + rho_2 sum_k max(0, r - R_k), "
        f"rho_1 = {cfg.rho1_slope} epoch, rho_2 = {cfg.rho2_slope} epoch, r = {cfg.rate_floor}",
        "gamma_source": "config gamma_m2" if cfg.gamma_m2 is not None else
        f"stand-in: mean SPEB of ZF users + a target beam with {cfg.gamma_fraction} of every "
        "BS's power (2000 blocks, seed 314), until the SCA optimizer's mean SPEB replaces it",
        "epochs": fit.get("epochs"),
        "selected": fit.get("best"),
        "data": f"{cfg.train_size} training / {cfg.val_size} validation blocks, seeds "
        f"{cfg.data_seed} / {cfg.val_seed}",
    }  # fmt: skip
    source, test = CHANNEL_SOURCE, None
    if getattr(trainer, "raytraced", None) is not None:  # the ray-traced test split
        from ...coisac.raytrace_split import describe
        from .trainer import Dataset

        source = describe(trainer.raytraced, cfg.dataset, cfg.train_size, cfg.val_size,
                          cfg.data_seed)  # fmt: skip
        test = Dataset.of_batch(trainer.raytraced_batches(TEST_SEED)["test"], TEST_SEED, "cpu")
        training["data"] += f" (the ray-traced dataset's split, seed {cfg.data_seed})"
    validation = test_report(model, scn, trainer.gamma, test)
    if test is not None:
        validation["test_set"] = "the ray-traced dataset's test split"
    return export_model(model, onnx_path, scn, arch, trainer.gamma, training, validation, source)
