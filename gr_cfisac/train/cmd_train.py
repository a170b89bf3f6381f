"""Train a learned precoder unsupervised (STCIB, its PMA variant, target-aware, CNN) into runs/NAME.

Examples:
  cfisac train --regime joint --eta 0.4
  cfisac train --config gr_cfisac/train/configs/stcib_sc.yml
  cfisac train --config models/stcib_joint.json          # reproduce a shipped model
Interrupted runs resume from runs/NAME/last.pt; --export writes the ONNX model and its card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .config import TrainConfig

#: command-line flag -> (section, field) of TrainConfig
OVERRIDES = {
    "regime": ("loss", "regime"),
    "eta": ("loss", "eta"),
    "comm_threshold": ("loss", "comm_threshold"),
    "sensing_threshold": ("loss", "sensing_threshold"),
    "xi": ("loss", "xi"),
    "varrho": ("loss", "varrho"),
    "margin": ("loss", "margin"),
    "arch": ("model", "arch"),
    "input_norm": ("model", "input_norm"),
    "head": ("model", "head"),
    "decoder": ("model", "decoder"),
    "d_model": ("model", "d_model"),
    "heads": ("model", "heads"),
    "inducing": ("model", "inducing"),
    "ff_hidden": ("model", "ff_hidden"),
    "cnn_channels": ("model", "cnn_channels"),
    "scene": ("data", "scene"),
    "train_size": ("data", "train_size"),
    "val_size": ("data", "val_size"),
    "data_seed": ("data", "seed"),
    "cache_dir": ("data", "cache_dir"),
    "lr": ("optim", "lr"),
    "batch_size": ("optim", "batch_size"),
    "epochs": ("optim", "max_epochs"),
    "patience": ("optim", "patience"),
    "threads": ("optim", "threads"),
    "max_minutes": ("optim", "max_minutes"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML config, run config.yml or model card")
    parser.add_argument("--name", help="model name (default: from the config)")
    parser.add_argument("--seed", type=int, help="model initialization / shuffling seed")
    parser.add_argument("--out", type=Path, help="run folder (default runs/NAME)")
    parser.add_argument(
        "--export",
        type=Path,
        metavar="MODEL.onnx",
        help="export the best model and its card here when done",
    )
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    g = parser.add_argument_group("overrides (section.field of the config)")
    g.add_argument("--regime", choices=["joint", "sc", "cc"])
    for name in (
        "eta",
        "comm_threshold",
        "sensing_threshold",
        "xi",
        "varrho",
        "margin",
        "lr",
        "max_minutes",
    ):
        g.add_argument("--" + name.replace("_", "-"), type=float, dest=name)
    g.add_argument("--arch", choices=["stcib", "cnn"])
    g.add_argument("--decoder", choices=["tokens", "pma"])
    g.add_argument("--input-norm", choices=["token", "set"])
    g.add_argument("--head", choices=["free", "span", "zf"])
    g.add_argument("--target-aware", action="store_true", default=None)
    g.add_argument("--gain-input", action="store_true", default=None)
    g.add_argument("--scene", choices=["paper", "random"])
    g.add_argument("--cache-dir")
    for name in (
        "d_model",
        "heads",
        "inducing",
        "ff_hidden",
        "cnn_channels",
        "train_size",
        "val_size",
        "data_seed",
        "batch_size",
        "epochs",
        "patience",
        "threads",
    ):
        g.add_argument("--" + name.replace("_", "-"), type=int, dest=name)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig from --config (or defaults) with the command-line overrides applied."""
    data = TrainConfig.load(args.config).to_dict() if args.config else TrainConfig().to_dict()
    for flag, (section, field) in OVERRIDES.items():
        value = getattr(args, flag, None)
        if value is not None:
            data[section][field] = value
    if getattr(args, "target_aware", None):
        data["model"]["target_aware"] = True
        data["data"]["scene"] = "random"
    if getattr(args, "gain_input", None):
        data["model"]["gain_input"] = True
    if args.seed is not None:
        data["seed"] = args.seed
    if args.name:
        data["name"] = args.name
    elif not args.config:
        loss = data["loss"]
        suffix = {"joint": f"eta{loss['eta']}", "sc": f"th{loss['comm_threshold']}",
                  "cc": f"th{loss['sensing_threshold']}"}[loss["regime"]]  # fmt: skip
        data["name"] = f"{data['model']['arch']}_{loss['regime']}_{suffix}"
    return TrainConfig.from_dict(data)


def run(args: argparse.Namespace) -> int:
    from .trainer import Trainer

    cfg = resolve_config(args)
    out = args.out or Path("runs") / cfg.name
    trainer = Trainer(cfg, out, progress=not args.no_progress)
    print(f"cfisac train {cfg.name}: {trainer.parameters} parameters -> {out}")
    result = trainer.fit()
    print(json.dumps({"stopped": result.stopped, "epochs": result.epochs,
                      "wall_s": round(result.wall_s, 1), "best": result.best}, indent=2))  # fmt: skip
    if args.export:
        from .export import export_run

        card = export_run(out, args.export)
        print(f"exported {args.export} (parity {card['onnx']['parity_max_rel_diff']:.1e})")
    return 0
