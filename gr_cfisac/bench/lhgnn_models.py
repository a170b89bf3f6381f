"""The lhgnn bench's learned models (models/lhgnn/, ONNX Runtime, one thread): which are shipped,
their scenario and card power, their beams (rescaled to another power) and the per-block
metrics every row of the bench is made of. numpy + onnxruntime."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..coisac import CoisacBatch, CoisacConfig, sum_rate
from ..models import shipped_models_dir
from ..precoding.lhgnn import LHGNNHost

#: label -> shipped model (LHGNN first: the ordering goal compares it to the others)
#: the LHGNN with the paper's output (its link outputs are the beams; the others: the KKT layer)
PAPER_OUTPUT = "LHGNN, paper's output"
MODELS = {
    "LHGNN": "lhgnn/lhgnn_coisac.onnx",
    "Homo GNN": "lhgnn/homo_gnn_coisac.onnx",
    "naive CNN": "lhgnn/cnn_coisac.onnx",
    PAPER_OUTPUT: "lhgnn/lhgnn_free_coisac.onnx",
}
#: the LHGNN trained on noisy inputs (lhgnn_noisy_small.yml), in the robustness sweeps only
NOISY = {"LHGNN, noisy-trained": "lhgnn/lhgnn_noisy_coisac.onnx"}
SCA = "SCA"
RESCALED = " (P0 model, rescaled)"
TEST_SEED, NOISE_SEED = 3003, 3004


def model_paths(folder: Path | None = None, noisy: bool = False) -> dict[str, Path]:
    """The shipped models that exist, label -> path (``folder``: the models folder; ``noisy``
    adds the noisy-trained LHGNN)."""
    root = Path(folder) if folder is not None else shipped_models_dir()
    paths = {label: root / rel for label, rel in (MODELS | (NOISY if noisy else {})).items()}
    return {label: p for label, p in paths.items() if p.is_file()}


def load_hosts(folder: Path | None = None, noisy: bool = False) -> dict[str, LHGNNHost]:
    """ONNX Runtime hosts (one thread) of the shipped models, label -> host."""
    return {label: LHGNNHost(p, threads=1) for label, p in model_paths(folder, noisy).items()}


def card_power_dbm(host: LHGNNHost) -> float:
    return float(host.card["power_dbm"])


def scenario_of(hosts: dict[str, LHGNNHost]) -> CoisacConfig:
    """The scenario the models were trained on (the first card's), else the default."""
    for host in hosts.values():
        return CoisacConfig.from_dict(host.card["scenario_config"])
    return CoisacConfig()


def beams(
    host: LHGNNHost, F_hat: np.ndarray, a_t: np.ndarray, power: float | None = None
) -> np.ndarray:
    """W (B, N L, K+1) of a model on estimates F_hat and steering a_t; ``power`` (normalized
    per-BS budget) rescales its P0 beams by sqrt(power / P0) (None: as trained)."""
    W = host(F_hat, a_t).astype(complex)
    return W if power is None else W * math.sqrt(power / float(host.card["power"]))


def block_metrics(batch: CoisacBatch, W: np.ndarray) -> dict[str, np.ndarray]:
    """Per block: sum rate (bps/Hz, true F) and exact SPEB (m^2, true echo model)."""
    return {"rate": sum_rate(batch.F, W), "speb": batch.speb(W)}


def summary(
    m: dict[str, np.ndarray], gamma: float, idx: slice | np.ndarray = slice(None)
) -> dict[str, float]:
    """Means over blocks ``idx`` (a slice or a mask): sum rate, SPEB and the share with
    SPEB <= gamma."""
    rate, speb = m["rate"][idx], m["speb"][idx]
    return {"sum_rate": float(np.mean(rate)), "speb_m2": float(np.mean(speb)),
            "speb_satisfied": float(np.mean(speb <= gamma * (1 + 1e-6))),
            "realizations": int(rate.size)}  # fmt: skip
