"""Evaluate a shipped ONNX precoder on held-out test realizations: cfisac evaluate models/NAME.onnx.

The test split is redrawn from the card's data seed (never seen in training or validation); the
model sees only F_hat (and the sensing tokens if target-aware); rates use the true channels and the
realized G. Prints sum rates, the joint objective, feasibility and the time per realization.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..config import SystemConfig
from ..evaluation import score, summarize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="ONNX model with its .json card beside it")
    parser.add_argument("--size", type=int, default=2000, help="held-out realizations")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--eta", type=float, help="weight of the joint objective (default: card)")
    parser.add_argument(
        "--threshold", type=float, help="rate threshold of an SC/CC model (default: its config's)"
    )


def run(args: argparse.Namespace) -> int:
    from ..precoding.onnx import OnnxPrecoder, load_card
    from .config import TrainConfig
    from .data import iter_realizations

    card = load_card(args.model)
    tcfg = TrainConfig.from_dict(card["training"]["config"])
    cfg = SystemConfig.from_dict(card["system"])
    host = OnnxPrecoder(args.model, cfg, threads=args.threads, scene=tcfg.data.scene)
    eta = args.eta if args.eta is not None else tcfg.loss.eta
    th_c, th_s = tcfg.loss.comm_threshold, tcfg.loss.sensing_threshold
    if args.threshold is not None:
        if tcfg.loss.regime == "joint":
            raise ValueError("--threshold applies to SC/CC models only")
        th_c, th_s = (args.threshold, th_s) if tcfg.loss.regime == "sc" else (th_c, args.threshold)
    th_input = {"sc": th_c, "cc": th_s}.get(tcfg.loss.regime) if host.threshold_input else None
    acc: dict[str, list[np.ndarray]] = {}
    elapsed = 0.0
    for real in iter_realizations(cfg, tcfg.data, "test", args.size):
        sensing = real.sensing if host.target_aware else None
        t0 = time.perf_counter()
        W = host(real.F_hat, sensing, th_input)
        elapsed += time.perf_counter() - t0
        for k, v in score(real, W.astype(complex), eta).items():
            acc.setdefault(k, []).append(v)
    parts = {k: np.concatenate(v) for k, v in acc.items()}
    report = summarize(parts, th_c, th_s)
    report.update(model=str(args.model), realizations=args.size, eta=eta,
                  comm_threshold=th_c, sensing_threshold=th_s,
                  seconds_per_realization_batched=elapsed / args.size)  # fmt: skip
    print(json.dumps(report, indent=2))
    return 0
