"""``cfisac train``: train a learned precoder unsupervised into runs/NAME (resumable).

Without ``--config`` the run starts from the recipe of the shipped ``models/stcib_joint`` model
(``gr_cfisac/train/configs/stcib_joint.yml``, read at start-up so it is written in one place);
every override flag replaces one field of that recipe, and its help shows the recipe's value.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .train_runs import (
    OPTIM_OVERRIDES,
    apply_overrides,
    family_config,
    fit_resumable,
    recipe_source,
    refuse_foreign_run,
    resume_command,
    run_folder,
)

if TYPE_CHECKING:
    from ..recipe import TrainConfig

HELP = "train a learned precoder (STCIB, CNN, MT-SAO-lift) unsupervised; export it to ONNX"

#: the recipe `cfisac train` starts from without --config (the shipped stcib_joint model's),
#: one of gr_cfisac/train/configs/
DEFAULT_CONFIG_NAME = "stcib_joint.yml"

DESCRIPTION = f"""\
Generate Monte-Carlo channel realizations from the core, train a learned precoder without labels
(losses 38-40 of the STCIB paper) and, with --export, write the ONNX model and its JSON card.

Without --config the run starts from the recipe of the shipped models/stcib_joint.onnx
({DEFAULT_CONFIG_NAME}: STCIB, zero-forcing output head, 64-wide tokens, 50000 training
realizations, 30 epochs), so `cfisac train --regime joint --eta 0.4` reproduces it; each override
below replaces one field and its "(default: ...)" is that recipe's value.

Checkpoints go to runs/NAME/last.pt after every epoch; an interrupted run (Ctrl-C, kill) prints
the command that resumes it: cfisac train --resume runs/NAME.

examples:
  cfisac train --regime joint --eta 0.4 --export models/my_joint.onnx
  cfisac train --config gr_cfisac/train/configs/stcib_sc.yml
  cfisac train --config models/stcib_joint.json      # reproduce a shipped model from its card
  cfisac train --resume runs/stcib_joint_eta0.4        # continue an interrupted run
  cfisac train --family l2o --export models/l2o_mumiso16.onnx      # paper 002, Km = Nm = 16
  cfisac train --family l2o --full --device cuda                   # the paper's Km = Nm = 40
"""

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
    "target_aware": ("model", "target_aware"),
    "gain_input": ("model", "gain_input"),
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

#: override flag -> (type or choices, what it sets)
_FLAGS: dict[str, tuple[Any, str]] = {
    "regime": (
        ["joint", "sc", "cc"],
        "design problem: joint P3 (eq 40), SC P1 (eq 38), CC P2 (eq 39)",
    ),
    "eta": (float, "weight of the communication sum rate in the joint objective (eq 23a)"),
    "comm_threshold": (float, "SC: every user's rate threshold vartheta_th, bps/Hz"),
    "sensing_threshold": (float, "CC: every RAP's sensing-rate threshold zeta_th, bps/Hz"),
    "xi": (float, "SC penalty weight (eq 38)"),
    "varrho": (float, "CC penalty weight (eq 39)"),
    "margin": (float, "bps/Hz added to the threshold inside the SC/CC penalty"),
    "arch": (["stcib", "cnn"], "network: STCIB Set Transformer or the CNN baseline"),
    "decoder": (["tokens", "pma"], "STCIB decoder: user tokens (ours) or the paper's PMA_{K+1}"),
    "input_norm": (["token", "set"], "LayerNorm per token (eq 25) or over the whole set"),
    "head": (
        ["free", "span", "zf"],
        "output head: free rFF (paper), span of the estimates, or "
        "zero-forcing directions + free part (shipped models)",
    ),  # fmt: skip
    "target_aware": (bool, "add the target/clutter as sensing tokens (trains on random scenes)"),
    "gain_input": (bool, "add each token's log-energy as an input"),
    "scene": (["paper", "random"], "sensing scene: the paper's fixed one or a moving target"),
    "d_model": (int, "STCIB token width d"),
    "heads": (int, "attention heads h"),
    "inducing": (int, "ISAB inducing points n (eq 28)"),
    "ff_hidden": (int, "rFF hidden width"),
    "cnn_channels": (int, "CNN channels"),
    "train_size": (int, "training realizations"),
    "val_size": (int, "validation realizations"),
    "data_seed": (int, "seed of the Monte-Carlo data"),
    "cache_dir": (str, "folder of the cached data chunks"),
    "lr": (float, "Adam learning rate (cosine-annealed)"),
    "batch_size": (int, "mini-batch size"),
    "epochs": (int, "number of epochs (early stopping may end sooner)"),
    "patience": (int, "early-stopping patience, epochs"),
    "threads": (int, "torch CPU threads"),
    "max_minutes": (float, "safety time budget of the whole run, minutes"),
}


def default_config_path() -> Path:
    """The recipe file ``cfisac train`` starts from without --config (``DEFAULT_CONFIG_NAME``)."""
    return Path(str(resources.files("gr_cfisac.train") / "configs" / DEFAULT_CONFIG_NAME))


def default_config() -> TrainConfig:
    """The recipe ``cfisac train`` starts from without --config."""
    from ..recipe import TrainConfig

    return TrainConfig.load(default_config_path())


#: families `cfisac train` trains: the STCIB/CNN precoders and MT-SAO-lift (paper 002)
FAMILIES = ("stcib", "l2o", "sao_isac", "teacher-student", "lhgnn")
#: override flags that also set a field of the l2o recipe's optim section: flag -> (section, field)
L2O_OVERRIDES = OPTIM_OVERRIDES
L2O_SMALL, L2O_FULL = "l2o_small.yml", "l2o_full.yml"
SAO_ISAC = "sao_isac_small.yml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--family",
        choices=FAMILIES,
        default="stcib",
        help="stcib: the STCIB/CNN ISAC precoders (cell-free, default); l2o: the MT-SAO-lift "
        f"learned optimizer of paper 002 (mu_miso, any K <= Km, N <= Nm; recipe {L2O_SMALL}, "
        f"--full {L2O_FULL}); sao_isac: paper 002's monostatic ISAC model ({SAO_ISAC}); "
        "teacher-student: paper 001's per-AP models (ts_small.yml, --full ts_full.yml); "
        "lhgnn: paper 003's LHGNN on coisac (lhgnn_small.yml, --full lhgnn_full.yml)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"l2o: the paper's Km = Nm = 40 recipe ({L2O_FULL}; a GPU job) instead of {L2O_SMALL}",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        help="l2o: torch device (default: the recipe's; --full assumes cuda)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="YAML config, a run's config.yml or a model card .json to start from "
        f"(default: {DEFAULT_CONFIG_NAME}, the shipped stcib_joint recipe)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last.pt with its config.yml "
        "(same as --config RUN_DIR/config.yml --out RUN_DIR)",
    )
    parser.add_argument(
        "--name",
        help="model name (default: ARCH_REGIME_etaETA or ARCH_REGIME_thTHRESHOLD, e.g. "
        "stcib_joint_eta0.4; with --config or --resume, the config's name)",
    )
    parser.add_argument(
        "--seed", type=int, help="model initialization / shuffling seed (default: the config's)"
    )
    parser.add_argument("--out", type=Path, help="run folder (default: runs/NAME)")
    parser.add_argument(
        "--export",
        type=Path,
        metavar="MODEL.onnx",
        help="export the best model and its card here when done (default: no export)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars; one line per epoch is printed either way",
    )
    recipe = default_config().to_dict()
    g = parser.add_argument_group(
        "overrides",
        f"each replaces one field of the config; the defaults shown are {DEFAULT_CONFIG_NAME}'s "
        "(with --config or --resume, that file's values are the defaults)",
    )
    for flag, (kind, text) in _FLAGS.items():
        section, field = OVERRIDES[flag]
        help_text = f"{text} (default: {recipe[section][field]})"
        option = "--" + flag.replace("_", "-")
        if kind is bool:
            g.add_argument(option, action="store_true", default=None, help=help_text)
        elif isinstance(kind, list):
            g.add_argument(option, choices=kind, help=help_text)
        else:
            g.add_argument(option, type=kind, dest=flag, help=help_text)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig from --resume, --config or the default recipe, with the overrides applied."""
    from ..recipe import TrainConfig

    source = recipe_source(args)
    data = apply_overrides((TrainConfig.load(source) if source else default_config()).to_dict(),
                           args, OVERRIDES)  # fmt: skip
    if getattr(args, "target_aware", None):
        data["data"]["scene"] = "random"
    if args.seed is not None:
        data["seed"] = args.seed
    if args.name:
        data["name"] = args.name
    elif source is None:
        loss = data["loss"]
        suffix = {"joint": f"eta{loss['eta']}", "sc": f"th{loss['comm_threshold']}",
                  "cc": f"th{loss['sensing_threshold']}"}[loss["regime"]]  # fmt: skip
        data["name"] = f"{data['model']['arch']}_{loss['regime']}_{suffix}"
    return TrainConfig.from_dict(data)


def resolve_l2o_config(args: argparse.Namespace):
    """The L2OConfig of ``--family l2o``: --resume, --config or the small/--full recipe, with
    --device, --seed, --name and the shared optim overrides applied; STCIB-only flags refused."""
    from ..train.l2o.config import L2OConfig, config_path

    small, full = config_path(L2O_SMALL), config_path(L2O_FULL)
    return family_config(args, L2OConfig, "l2o", small, full, OVERRIDES)


def run_l2o(args: argparse.Namespace) -> int:
    """``cfisac train --family l2o``: Algorithm 1 of paper 002 into runs/NAME (resumable)."""
    from ..train.l2o.config import L2OConfig
    from ..train.l2o.trainer import Trainer

    cfg = resolve_l2o_config(args)
    out = run_folder(args, cfg.name)
    refuse_foreign_run(Path(out), cfg.to_dict(), "l2o", lambda p: L2OConfig.load(p).to_dict())
    trainer = Trainer(cfg, out, progress=not args.no_progress)
    again = resume_command(out, args.export, family="l2o")
    print(f"cfisac train --family l2o {cfg.name}: {trainer.parameters} parameters, "
          f"{cfg.total_epochs} epochs on {cfg.optim.device} -> {out}")  # fmt: skip
    result = fit_resumable(trainer.fit, out, again,
                           lambda: f"after {trainer.state['epoch']} of {cfg.total_epochs} epochs")  # fmt: skip
    print(json.dumps({"stopped": result.stopped, "epochs": result.epochs,
                      "wall_s": round(result.wall_s, 1),
                      "validation_ratio_to_wmmse": round(result.validation["ratio"], 4)}))  # fmt: skip
    if args.export:
        from ..train.l2o.export import export_run

        card = export_run(out, args.export, result)
        print(f"exported {args.export} (parity {card['onnx']['parity_max_rel_diff']:.1e})")
    return 0


def run_sao_isac(args: argparse.Namespace) -> int:
    """``cfisac train --family sao_isac``: Algorithm 2 of paper 002 into runs/NAME."""
    from ..train.l2o.config import config_path
    from ..train.l2o.isac_train import IsacConfig, IsacTrainer, export

    source = args.resume / "config.yml" if args.resume else args.config or config_path(SAO_ISAC)
    cfg = IsacConfig.load(source)
    out = run_folder(args, cfg.name)
    refuse_foreign_run(Path(out), dataclasses.asdict(cfg), "sao_isac",
                       lambda p: dataclasses.asdict(IsacConfig.load(p)))  # fmt: skip
    trainer = IsacTrainer(cfg, out, progress=not args.no_progress)
    print(f"cfisac train --family sao_isac {cfg.name}: {cfg.total_epochs} epochs -> {out}")
    result = trainer.fit()
    print(json.dumps(result))
    if args.export:
        card = export(cfg, trainer.model, args.export, result)
        print(f"exported {args.export} (parity {card['onnx']['parity_max_rel_diff']:.1e})")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..train.trainer import Trainer

    if getattr(args, "family", "stcib") == "l2o":
        return run_l2o(args)
    if getattr(args, "family", "stcib") == "sao_isac":
        return run_sao_isac(args)
    if getattr(args, "family", "stcib") == "lhgnn":
        from .train_lhgnn import run_lhgnn

        return run_lhgnn(args)
    if getattr(args, "family", "stcib") == "teacher-student":
        from .train_ts import run_teacher_student

        return run_teacher_student(args, tuple(OVERRIDES))
    if getattr(args, "full", False) or getattr(args, "device", None):
        raise ValueError("--full and --device are options of --family l2o")
    cfg = resolve_config(args)
    out = run_folder(args, cfg.name)
    trainer = Trainer(cfg, out, progress=not args.no_progress)
    again = resume_command(out, args.export)
    print(f"cfisac train {cfg.name}: {trainer.parameters} parameters -> {out}")

    def where() -> str:
        done = trainer.state["epoch"]
        saved = (f"checkpoint {out / 'last.pt'} holds epoch {done}" if done
                 else "no epoch finished yet, the generated data are cached")  # fmt: skip
        return f"after {done} of {cfg.optim.max_epochs} epochs ({saved})"

    result = fit_resumable(trainer.fit, out, again, where)
    print(json.dumps({"stopped": result.stopped, "epochs": result.epochs,
                      "wall_s": round(result.wall_s, 1), "best": result.best}, indent=2))  # fmt: skip
    if args.export:
        from ..train.export import export_run

        card = export_run(out, args.export)
        print(f"exported {args.export} (parity {card['onnx']['parity_max_rel_diff']:.1e})")
    return 0
