"""``cfisac train --family lhgnn``: paper 003's LHGNN (or --arch homo_gnn / naive_cnn via the
recipe) on the coisac scenario with the loss of eq 51, resumable from runs/NAME."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .train_runs import refuse_foreign_run, resume_command, run_folder

SMALL, FULL = "lhgnn_small.yml", "lhgnn_full.yml"


def run_lhgnn(args: argparse.Namespace) -> int:
    from ..train.lhgnn.config import CONFIG_DIR, LHGNNConfig
    from ..train.lhgnn.trainer import Trainer

    if args.resume:
        if args.config or args.full:
            raise ValueError(
                "--resume RUN_DIR takes the run's own config.json: drop --config/--full"
            )
        cfg = LHGNNConfig.from_yaml(args.resume / "config.json")
    else:
        source = args.config or CONFIG_DIR / (FULL if args.full else SMALL)
        cfg = LHGNNConfig.from_yaml(source)
    changes = {k: v for k, v in (("device", args.device), ("name", args.name),
                                 ("seed", args.seed)) if v is not None}  # fmt: skip
    cfg = cfg.replace(**changes) if changes else cfg
    out = run_folder(args, cfg.name)
    refuse_foreign_run(Path(out), cfg.to_dict(), "lhgnn",
                       lambda p: LHGNNConfig.from_yaml(p).to_dict(), "checkpoint.pt", "config.json")  # fmt: skip
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
