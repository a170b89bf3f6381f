"""cfisac replay CAPTURE: the command's arguments and its run (see the package doc)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import SystemConfig
from .report import _json_default, format_report
from .scoring import score_capture


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "capture",
        type=Path,
        metavar="CAPTURE",
        help=".sigmf-collection, or a recording's .sigmf-meta",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="SystemConfig JSON, for captures without cfisac:config metadata",
    )
    parser.add_argument(
        "--sources",
        type=int,
        default=None,
        help="sources MUSIC assumes (default NC + 1; 0: MDL per block)",
    )
    parser.add_argument(
        "--method",
        choices=("fast", "grid"),
        default="fast",
        help="MUSIC peak search: coarse-to-fine (default) or the paper's grid",
    )
    parser.add_argument(
        "--gate-deg",
        type=float,
        default=10.0,
        help="a target peak must lie this close to the prior direction (as "
        "the fusion block's default)",
    )
    parser.add_argument("--blocks", type=int, default=None, help="score at most this many blocks")
    parser.add_argument(
        "--plain-kind",
        choices=("rap_echo", "tap_pilots"),
        default="rap_echo",
        help="what recordings without cfisac:stream metadata carry",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the sha512 checks")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")


def run(args: argparse.Namespace) -> int:
    config = None
    if args.config is not None:
        try:
            config = SystemConfig.from_json(args.config.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"--config {args.config}: {getattr(exc, 'strerror', None) or exc}; give a "
                "SystemConfig JSON file (SystemConfig.to_json())"
            ) from None
    report = score_capture(
        args.capture,
        config,
        n_sources=args.sources,
        method=args.method,
        max_blocks=args.blocks,
        plain_kind=args.plain_kind,
        verify_checksum=not args.no_verify,
        progress=True,
    )
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    return 0
