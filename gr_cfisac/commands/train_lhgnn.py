"""``cfisac train --family lhgnn``: paper 003's LHGNN (or --arch homo_gnn / naive_cnn via the
recipe) on the coisac scenario with the loss of eq 51, resumable from runs/NAME."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .train_runs import resume_command, run_folder

SMALL, FULL = "lhgnn_small.yml", "lhgnn_full.yml"


def run_lhgnn(args: argparse.Namespace) -> int:
    from ..train.lhgnn.config import CONFIG_DIR, LHGNNConfig
    from ..train.lhgnn.trainer import Trainer

    if args.resume:
        cfg = LHGNNConfig.from_dict(json.loads((args.resume / "config.json").read_text()))
    else:
        source = args.config or CONFIG_DIR / (FULL if args.full else SMALL)
        cfg = LHGNNConfig.from_yaml(source)
    changes = {k: v for k, v in (("device", args.device), ("name", args.name),
                                 ("seed", args.seed)) if v is not None}  # fmt: skip
    cfg = cfg.replace(**changes) if changes else cfg
    out = run_folder(args, cfg.name)
    trainer = Trainer(cfg, out)
    (Path(out) / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    print(f"cfisac train --family lhgnn {cfg.name} ({cfg.arch}): {trainer.parameters} "
          f"parameters, gamma {trainer.gamma:.3g} m^2 -> {out}; resume with: "
          f"{resume_command(out, family='lhgnn')}", flush=True)  # fmt: skip
    result = trainer.fit(progress=not args.no_progress)
    print(json.dumps(result))
    if args.export:
        from ..train.lhgnn.export import export_trainer

        card = export_trainer(trainer, args.export, result)
        print(f"exported {args.export} (parity {card['onnx']['parity_max_rel_diff']:.1e})")
        print(json.dumps(card["validation"], indent=1))
    return 0
