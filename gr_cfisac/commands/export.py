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
    parser.add_argument("run_dir", type=Path, help="run folder holding best.pt, e.g. runs/NAME")
    parser.add_argument(
        "--out", type=Path, help="output .onnx file (default: models/RUN_DIR_NAME.onnx)"
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="write the plain trace of the torch modules instead of the lean graph (slower at "
        "batch 1; for comparison) (default: the lean graph)",
    )


def run(args: argparse.Namespace) -> int:
    from ..train.export import export_run

    out = args.out or Path("models") / (args.run_dir.name + ".onnx")
    card = export_run(args.run_dir, out, lean=not args.traced)
    print(json.dumps({"model": str(out), "sha256": card["sha256"], "form": card["onnx"]["form"],
                      "parity_max_rel_diff": card["onnx"]["parity_max_rel_diff"],
                      "validation": card["validation"]}, indent=2))  # fmt: skip
    return 0
