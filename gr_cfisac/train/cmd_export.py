"""Export a trained run to ONNX with its model card: cfisac export runs/NAME --out models/NAME.onnx.

Checks the graph with onnx.checker and torch <-> ONNX Runtime parity (relative to ||W||_F).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder with best.pt (runs/NAME)")
    parser.add_argument("--out", type=Path, help="output .onnx (default models/NAME.onnx)")
    parser.add_argument(
        "--traced",
        action="store_true",
        help="write the plain trace of the torch modules instead of the lean graph (slower at "
        "batch 1; for comparison)",
    )


def run(args: argparse.Namespace) -> int:
    from .export import export_run

    out = args.out or Path("models") / (args.run_dir.name + ".onnx")
    card = export_run(args.run_dir, out, lean=not args.traced)
    print(json.dumps({"model": str(out), "sha256": card["sha256"], "form": card["onnx"]["form"],
                      "parity_max_rel_diff": card["onnx"]["parity_max_rel_diff"],
                      "validation": card["validation"]}, indent=2))  # fmt: skip
    return 0
