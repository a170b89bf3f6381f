"""``cfisac export``: a trained run folder to an ONNX model and its JSON card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "export a trained run (runs/NAME) to an ONNX model with its JSON model card"

DESCRIPTION = """\
Write the best weights of a training run as an ONNX model that the Precoder block and
`cfisac serve` load, with its model card (system configuration, regime, architecture, training data,
validation metrics, sha256) beside it as NAME.json. The graph is checked with onnx.checker, and the
ONNX Runtime output is compared with the torch model (parity relative to ||W||_F).

examples:
  cfisac export runs/stcib_joint_eta0.4 --out models/my_joint.onnx
  cfisac export runs/stcib_joint_eta0.4 --traced     # plain trace, for comparison
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        type=Path,
        help="an STCIB/CNN run folder holding best.pt, e.g. runs/NAME (other families: "
        "cfisac train --family F --resume RUN_DIR --export OUT)",
    )
    parser.add_argument(
        "--out", type=Path, help="output .onnx file (default: models/RUN_DIR_NAME.onnx)"
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="write the plain trace of the torch modules instead of the lean graph (slower at "
        "batch 1; for comparison) (default: the lean graph)",
    )


#: top-level recipe fields that tell a family's run folder (config.yml) apart from STCIB's
FAMILY_MARKS = {"l2o": "curriculum", "teacher-student": "schedule", "sao_isac": "window_epochs"}


def family_of_run(run_dir: Path) -> str | None:
    """The ``cfisac train --family`` that wrote ``run_dir`` when it is not STCIB's (None: STCIB's
    or not a run folder): lhgnn keeps checkpoint.pt + config.json, the others config.yml."""
    from ..recipe_files import read_recipe

    if (run_dir / "checkpoint.pt").is_file() and (run_dir / "config.json").is_file():
        return "lhgnn"
    if not (run_dir / "config.yml").is_file():
        return None
    try:
        recipe = read_recipe(run_dir / "config.yml", "run config")
    except ValueError:
        return None  # export_run says what is wrong with the folder
    return next((f for f, mark in FAMILY_MARKS.items() if mark in recipe), None)


def run(args: argparse.Namespace) -> int:
    from ..train.export import export_run

    out = args.out or Path("models") / (args.run_dir.name + ".onnx")
    family = family_of_run(args.run_dir)
    if family is not None:
        raise ValueError(
            f"{args.run_dir} is a {family} run (cfisac export writes STCIB/CNN runs): export it "
            f"with `cfisac train --family {family} --resume {args.run_dir} --export {out}`"
        )
    card = export_run(args.run_dir, out, lean=not args.traced)
    print(json.dumps({"model": str(out), "sha256": card["sha256"], "form": card["onnx"]["form"],
                      "parity_max_rel_diff": card["onnx"]["parity_max_rel_diff"],
                      "validation": card["validation"]}, indent=2))  # fmt: skip
    return 0
