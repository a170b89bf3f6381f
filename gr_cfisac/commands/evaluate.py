"""``cfisac evaluate``: score precoders of the registry on held-out realizations, all on the same
realizations (a table, or JSON with --json): an ONNX model beside ZF, WMMSE and the iterative
optimizer by default, or any line-up of registry families and models (--algorithms)."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from ..evaluation import compare, format_table, summarize
from ..metrics import OBJECTIVE
from .scenario_option import add_scenario_argument, require_cellfree_network

HELP = "score precoders (an ONNX model, registry families) on the same held-out realizations"

DESCRIPTION = """\
Score a learned precoder (an .onnx file with its .json model card beside it) on held-out
realizations: the card's test split, drawn from its data seed and never seen in training. The model
sees only the channel estimates (and the sensing tokens if it is target-aware); rates are measured
on the true channels and the realized sensing matrices. A shipped model is found by its file name
from any folder (stcib_joint.onnx, or models/stcib_joint.onnx as below).

Prints one row per precoder on the same realizations: the model, then --algorithms, any
precoders of the registry (families such as zf, wmmse, optimize, a plug-in's, or more .onnx
models), by default ZF and WMMSE (communication-only: --sensing-beam none) and the iterative
optimizer for the model's regime, which is slow and so runs on the first --optimizer-size
realizations only (the table then adds the model's row on that subset). Without a model the
first .onnx of --algorithms sets the realizations and the problem, else the training recipe's
defaults (Table I, paper scene, joint eta 0.4). Columns: joint objective (eq 23a), sum rates,
the SC / CC feasibility of Table III at the model's thresholds, and the time per realization
(batched calls). --json prints the same numbers for machines.

examples:
  cfisac evaluate models/stcib_joint.onnx
  cfisac evaluate models/stcib_sc_cond.onnx --threshold 2 --size 500
  cfisac evaluate models/stcib_joint.onnx --optimizer-size 0 --json
  cfisac evaluate --algorithms zf,wmmse,optimize,models/stcib_joint.onnx
"""

OPTIMIZER_QUALITIES = ("fast", "best")
#: what --algorithms compares by default (the model comes first when one is given)
DEFAULT_ALGORITHMS = "zf,wmmse,optimize"
SENSING_BEAMS = ("none", "nullspace", "target")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        type=Path,
        nargs="?",
        help="ONNX model with its .json card beside it, or a shipped model's file name "
        "(stcib_joint.onnx); its card sets the realizations and the problem",
    )
    parser.add_argument(
        "--algorithms",
        default=DEFAULT_ALGORITHMS,
        help="comma-separated precoders to compare: registry families (cfisac evaluate checks "
        "the names against the registry) or .onnx models (default: %(default)s)",
    )
    add_scenario_argument(parser, "the precoders serve (a model's card must name it)")
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
        "--sensing-beam",
        choices=SENSING_BEAMS,
        default="none",
        help="sensing beam of the MU-MISO families (zf, wmmse, ...): none scores them "
        "communication-only (default: %(default)s)",
    )
    parser.add_argument(
        "--sensing-fraction",
        type=float,
        default=0.1,
        help="power fraction of that sensing beam (default: %(default)s)",
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


def _reference(args: argparse.Namespace, names: list[str]) -> tuple[Path | None, dict | None]:
    """The model whose card sets the realizations and the problem: the positional one, else the
    first .onnx of --algorithms, else none (the recipe's defaults). (path, card)."""
    from ..models import resolve_model
    from ..precoding.onnx import check_scenario, load_card
    from ..precoding.registry import card_family

    given = args.model or next((Path(n) for n in names if n.endswith(".onnx")), None)
    if given is None:
        return None, None
    model = resolve_model(given)
    if card_family(str(model)) != "onnx":  # a registry family's model (its family checks its
        return model, None  # card when it is built): scored on the recipe's problem
    card = load_card(model)
    check_scenario(card, args.scenario, model.name)
    return model, card


def _line_up(args, model: Path | None, names: list[str], context: dict) -> dict[str, Any]:
    """label -> registry spec, the model first; the optimizer only with --optimizer-size > 0."""
    from ..models import resolve_model
    from ..precoding.lineup import entry

    wanted = [str(resolve_model(n)) if n.endswith(".onnx") else n for n in names]
    if model is not None:
        wanted = [str(model)] + [n for n in wanted if Path(n) != model]
    if args.optimizer_size == 0:
        wanted = [n for n in wanted if n != "optimize"]
    out: dict[str, Any] = {}
    for name in wanted:
        e = entry(name, args.scenario, context)
        if e.label in out:
            raise ValueError(f"--algorithms: two precoders are labelled {e.label!r}; rename one")
        out[e.label] = e.spec
    return out


def run(args: argparse.Namespace) -> int:
    from ..dataset import iter_realizations
    from ..precoding.lineup import designer, parse_names
    from ..recipe import TrainConfig

    if args.size < 1 or args.optimizer_size < 0:
        raise ValueError("--size must be >= 1 and --optimizer-size >= 0")
    require_cellfree_network(args.scenario, "cfisac evaluate scores precoders on")
    names = parse_names(args.algorithms)
    model, card = _reference(args, names)
    tcfg = TrainConfig() if card is None else TrainConfig.from_dict(card["training"]["config"])
    cfg = tcfg.system_config()
    regime = tcfg.loss.regime
    eta = args.eta if args.eta is not None else tcfg.loss.eta
    th_c, th_s = tcfg.loss.comm_threshold, tcfg.loss.sensing_threshold
    if args.threshold is not None:
        if regime == "joint":
            raise ValueError("--threshold applies to SC/CC models only")
        th_c, th_s = (args.threshold, th_s) if regime == "sc" else (th_c, args.threshold)
    context = {"regime": regime, "eta": eta, "comm_threshold": th_c, "sensing_threshold": th_s,
               "quality": args.optimizer_quality, "threads": args.threads,
               "sensing_beam": args.sensing_beam, "sensing_fraction": args.sensing_fraction}  # fmt: skip
    specs = _line_up(args, model, names, context)
    precoders = {name: designer(spec, cfg) for name, spec in specs.items()}
    n_opt = min(args.optimizer_size, args.size)
    optimizers = [name for name, spec in specs.items() if spec.name == "optimize"]
    scored = compare(iter_realizations(cfg, tcfg.data, "test", args.size), precoders, eta,
                     limits=dict.fromkeys(optimizers, n_opt))  # fmt: skip

    def row(name: str, n: int | None = None) -> dict[str, Any]:
        arrays, seconds = scored[name]
        cut = {k: v[:n] for k, v in arrays.items()} if n else arrays
        return {**summarize(cut, th_c, th_s), "realizations": len(cut["objective"]),
                "seconds_per_realization_batched": seconds}  # fmt: skip

    first = next(iter(specs)) if model is not None else None
    report: dict[str, Any] = row(first) if first else {}
    report.update(model=None if model is None else str(model), realizations=args.size, eta=eta,
                  regime=regime, comm_threshold=th_c, sensing_threshold=th_s,
                  scenario=args.scenario)  # fmt: skip
    report["objective_definition"] = OBJECTIVE
    report["precoders"] = {name: d.spec.to_dict() for name, d in precoders.items()}
    report["baselines"] = {name: row(name) for name in specs if name != first}
    for name in optimizers:
        report["baselines"][name].update(quality=args.optimizer_quality, regime=regime)
    if optimizers and first:
        report["model_on_optimizer_realizations"] = row(first, n_opt)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    rows = ({first: report} if first else {}) | report["baselines"]
    if optimizers and first and n_opt < args.size:
        rows[f"{first}, first {n_opt}"] = report["model_on_optimizer_realizations"]
    carded = model if card is not None else None  # a family's model is scored on the defaults
    print(
        format_table(rows, caption(args, tcfg, regime, eta, th_c, th_s, n_opt, optimizers, carded))
    )
    return 0


def caption(args, tcfg, regime: str, eta: float, th_c: float, th_s: float, n_opt: int,
            optimizers: list[str], model: Path | None) -> str:  # fmt: skip
    """What the table's numbers are: realizations, objective, feasibility, the optimizer's subset
    (``model``: the model whose card set them, if any)."""
    goal = {"joint": f"joint P3, eta = {eta:g}", "sc": f"SC P1, vartheta_th = {th_c:g} bps/Hz",
            "cc": f"CC P2, zeta_th = {th_s:g} bps/Hz"}[regime]  # fmt: skip
    what = args.model if args.model is not None else f"--algorithms {args.algorithms}"
    beam = (
        "send no sensing beam"
        if args.sensing_beam == "none"
        else f"add a {args.sensing_beam} sensing beam with {args.sensing_fraction:g} of the power"
    )
    lines = [
        f"cfisac evaluate {what}: {args.size} held-out realizations of scenario {args.scenario} "
        f"(test split, data seed {tcfg.data.seed}, {tcfg.data.scene} scene); "
        f"{'regime' if model is None else f'model {model.name} regime'} {goal}.",
        f"Rates (bps/Hz) on the true channels and realized sensing matrices; objective = "
        f"{eta:g} sum Rc + {1 - eta:g} sum Rs (eq 23a, kappa-rates).",
        f"SC feasible: every user's Rc >= {th_c:g}; CC feasible: every RAP's Rs >= {th_s:g} "
        f"(Table III). The MU-MISO families (ZF, WMMSE, ...) {beam}.",
    ]
    if n_opt and optimizers:
        lines.append(
            f"The iterative optimizer ({regime}, quality {args.optimizer_quality}) is slow: it "
            f"solves only the first {n_opt} realizations (--optimizer-size)"
            + (
                ", and the last row scores the model on those."
                if n_opt < args.size and model is not None
                else "."
            )
        )
    return textwrap.fill(" ".join(lines), width=100)
