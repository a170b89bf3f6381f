"""``cfisac evaluate``: score an ONNX precoder on held-out realizations beside ZF, WMMSE and the
iterative optimizer, all on the same realizations (a table, or JSON with --json)."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from ..config import SystemConfig
from ..evaluation import compare, format_table, summarize
from ..metrics import OBJECTIVE

HELP = "score an ONNX precoder on held-out realizations beside ZF, WMMSE and the optimizer"

DESCRIPTION = """\
Score a learned precoder (an .onnx file with its .json model card beside it) on held-out
realizations: the card's test split, drawn from its data seed and never seen in training. The model
sees only the channel estimates (and the sensing tokens if it is target-aware); rates are measured
on the true channels and the realized sensing matrices. A shipped model is found by its file name
from any folder (stcib_joint.onnx, or models/stcib_joint.onnx as below).

Prints one row per precoder on the same realizations: the model, ZF and WMMSE (communication-only
baselines, no sensing beam) and the iterative optimizer for the model's regime, which is slow and
so runs on the first --optimizer-size realizations only (the table then adds the model's row on
that subset). Columns: joint objective (eq 23a), sum rates, the SC / CC feasibility of Table III at
the model's thresholds, and the time per realization (batched calls). --json prints the same
numbers for machines.

examples:
  cfisac evaluate models/stcib_joint.onnx
  cfisac evaluate models/stcib_sc_cond.onnx --threshold 2 --size 500
  cfisac evaluate models/stcib_joint.onnx --optimizer-size 0 --json
"""

OPTIMIZER_QUALITIES = ("fast", "best")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        type=Path,
        help="ONNX model with its .json card beside it, or a shipped model's file name "
        "(stcib_joint.onnx)",
    )
    parser.add_argument(
        "--size", type=int, default=2000, help="held-out realizations (default: %(default)s)"
    )
    parser.add_argument(
        "--optimizer-size",
        type=int,
        default=100,
        help="realizations the iterative optimizer solves, the first of --size; 0 leaves it out "
        "(default: %(default)s, ~0.06 s each at quality best)",
    )
    parser.add_argument(
        "--optimizer-quality",
        choices=OPTIMIZER_QUALITIES,
        default="best",
        help="optimizer setting, precoding.optimizer.QUALITY (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="ONNX Runtime intra-op threads (default: %(default)s)",
    )
    parser.add_argument(
        "--eta", type=float, help="weight of the joint objective (default: the card's eta)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="rate threshold of an SC/CC model, bps/Hz (default: its training config's)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of the table (default: table)"
    )


def _precoders(host: Any, cfg: SystemConfig, regime: str, eta: float, th: tuple, args) -> dict:
    """name -> callable(Realizations) -> W, the model first."""
    from ..precoding import zf
    from ..precoding.optimizer import optimize
    from ..precoding.wmmse import wmmse

    th_c, th_s = th
    th_input = {"sc": th_c, "cc": th_s}.get(regime) if host.threshold_input else None
    thresholds = {"sc": {"comm_threshold": th_c}, "cc": {"sensing_threshold": th_s}}.get(regime, {})

    def model(r):
        return host(r.F_hat, r.sensing if host.target_aware else None, th_input).astype(complex)

    def optimizer(r):
        return optimize(r.F_hat, r.Q_t, r.Q_c, cfg, regime=regime, eta=eta, rng=0,
                        quality=args.optimizer_quality, **thresholds)  # fmt: skip

    out = {
        "model": model,
        "ZF": lambda r: zf(r.F_hat, cfg.power_budget),
        "WMMSE": lambda r: wmmse(r.F_hat, cfg.power_budget),
    }
    if args.optimizer_size > 0:
        out["optimizer"] = optimizer
    return out


def run(args: argparse.Namespace) -> int:
    from ..models import resolve_model
    from ..precoding.onnx import OnnxPrecoder, load_card
    from ..recipe import TrainConfig
    from ..dataset import iter_realizations

    if args.size < 1 or args.optimizer_size < 0:
        raise ValueError("--size must be >= 1 and --optimizer-size >= 0")
    model = resolve_model(args.model)
    card = load_card(model)
    tcfg = TrainConfig.from_dict(card["training"]["config"])
    cfg = SystemConfig.from_dict(card["system"])
    host = OnnxPrecoder(model, cfg, threads=args.threads, scene=tcfg.data.scene)
    regime = tcfg.loss.regime
    eta = args.eta if args.eta is not None else tcfg.loss.eta
    th_c, th_s = tcfg.loss.comm_threshold, tcfg.loss.sensing_threshold
    if args.threshold is not None:
        if regime == "joint":
            raise ValueError("--threshold applies to SC/CC models only")
        th_c, th_s = (args.threshold, th_s) if regime == "sc" else (th_c, args.threshold)
    n_opt = min(args.optimizer_size, args.size)
    precoders = _precoders(host, cfg, regime, eta, (th_c, th_s), args)
    scored = compare(iter_realizations(cfg, tcfg.data, "test", args.size), precoders, eta,
                     limits={"optimizer": n_opt})  # fmt: skip

    def row(name: str, n: int | None = None) -> dict[str, Any]:
        arrays, seconds = scored[name]
        cut = {k: v[:n] for k, v in arrays.items()} if n else arrays
        return {**summarize(cut, th_c, th_s), "realizations": len(cut["objective"]),
                "seconds_per_realization_batched": seconds}  # fmt: skip

    report = row("model")
    report.update(model=str(model), realizations=args.size, eta=eta, regime=regime,
                  comm_threshold=th_c, sensing_threshold=th_s)  # fmt: skip
    report["objective_definition"] = OBJECTIVE
    report["baselines"] = {name: row(name) for name in precoders if name != "model"}
    if "optimizer" in precoders:
        report["baselines"]["optimizer"].update(quality=args.optimizer_quality, regime=regime)
        report["model_on_optimizer_realizations"] = row("model", n_opt)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    label = f"{card.get('name', model.stem)} (ONNX)"
    rows = {label: report, **report["baselines"]}
    if "optimizer" in precoders and n_opt < args.size:
        rows[f"{label}, first {n_opt}"] = report["model_on_optimizer_realizations"]
    print(format_table(rows, caption(args, tcfg, regime, eta, th_c, th_s, n_opt)))
    return 0


def caption(args, tcfg, regime: str, eta: float, th_c: float, th_s: float, n_opt: int) -> str:
    """What the table's numbers are: realizations, objective, feasibility, the optimizer's subset."""
    goal = {"joint": f"joint P3, eta = {eta:g}", "sc": f"SC P1, vartheta_th = {th_c:g} bps/Hz",
            "cc": f"CC P2, zeta_th = {th_s:g} bps/Hz"}[regime]  # fmt: skip
    lines = [
        f"cfisac evaluate {args.model}: {args.size} held-out realizations (test split, data seed "
        f"{tcfg.data.seed}, {tcfg.data.scene} scene); model regime {goal}.",
        f"Rates (bps/Hz) on the true channels and realized sensing matrices; objective = "
        f"{eta:g} sum Rc + {1 - eta:g} sum Rs (eq 23a, kappa-rates).",
        f"SC feasible: every user's Rc >= {th_c:g}; CC feasible: every RAP's Rs >= {th_s:g} "
        "(Table III). ZF and WMMSE send no sensing beam.",
    ]
    if n_opt:
        lines.append(
            f"The iterative optimizer ({regime}, quality {args.optimizer_quality}) is slow: it "
            f"solves only the first {n_opt} realizations (--optimizer-size)"
            + (", and the last row scores the model on those." if n_opt < args.size else ".")
        )
    return textwrap.fill(" ".join(lines), width=100)
