"""``cfisac replay CAPTURE``: the command's arguments and its run; the scoring is
:mod:`gr_cfisac.replay` (see its package doc)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..config import SystemConfig
from ..replay.report import format_report, to_json
from ..replay.scoring import ScoreOptions, score_capture

HELP = "score a SigMF capture: channel estimation, MUSIC sources, localization"
DESCRIPTION = """\
Reruns channel estimation and 2D MUSIC on a capture (a .sigmf-collection from the CF-ISAC
SigMF Sink, or any cf32_le multi-antenna recording with --config) and scores them against its
ground truth when it has one. Per RAP it reports the noise power, every source MUSIC sees with
how steadily it sees it, and the target's error (eq 43) with its miss rate; blocks of bad
samples (non-finite, silent, saturated) are skipped and listed. A capture without truth or
geometry can be given a prior target direction (--target-deg) or clutter directions
(--clutter-map). A fused position is reported only where the RAP positions are known.

Example: cfisac replay run.sigmf-collection --json report.json"""


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
        choices=("fast", "grid", "esprit"),
        default="fast",
        help="MUSIC peak search: coarse-to-fine (default), the paper's grid, or ESPRIT-started",
    )
    parser.add_argument(
        "--gate-deg",
        type=float,
        default=None,
        help="a target peak must lie this close to the prior direction (the recorded geometry, "
        "the truth or --target-deg) (default: 10, as the fusion block)",
    )
    parser.add_argument(
        "--target-deg",
        type=_direction,
        action="append",
        default=None,
        metavar="PSI,THETA",
        help="prior target direction in degrees (azimuth, elevation from the array normal): "
        "once for every RAP, or once per RAP in order; overrides a recorded geometry prior",
    )
    parser.add_argument(
        "--clutter-map",
        type=Path,
        default=None,
        metavar="FILE",
        help='JSON {"clutter_deg": [[PSI, THETA], ...]} (every RAP) or [[[PSI, THETA], ...], '
        "...] (one list per RAP): peaks near these directions are never the target",
    )
    parser.add_argument(
        "--clutter-radius-deg",
        type=float,
        default=3.0,
        help="a peak this close to a clutter-map direction is clutter (default: %(default)s)",
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


def _direction(text: str) -> tuple[float, float]:
    try:
        psi, theta = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PSI,THETA in degrees (e.g. 30,45), got {text!r}"
        ) from None
    if not (math.isfinite(psi) and 0 <= theta <= 90):
        raise argparse.ArgumentTypeError(f"theta must be in [0, 90] degrees, got {text!r}")
    return psi, theta


def _clutter_map(path: Path, n_raps: int | None = None) -> np.ndarray:
    """--clutter-map FILE -> (1 or NR, C, 2) degrees."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"--clutter-map {path}: {getattr(exc, 'strerror', None) or exc}; give a JSON file "
            '{"clutter_deg": [[PSI, THETA], ...]}'
        ) from None
    dirs = doc.get("clutter_deg") if isinstance(doc, dict) else doc
    try:
        a = np.asarray(dirs, dtype=float)
    except (TypeError, ValueError):
        a = np.zeros(0)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] != 2 or not np.all(np.isfinite(a)):
        raise ValueError(
            f"--clutter-map {path}: clutter_deg must be [[PSI, THETA], ...] (every RAP) or one "
            "such list per RAP, finite degrees"
        )
    return a


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
    options = ScoreOptions(
        n_sources=args.sources,
        method=args.method,
        gate_deg=10.0 if args.gate_deg is None else args.gate_deg,
        gate_given=args.gate_deg is not None,
        target_deg=None if args.target_deg is None else np.asarray(args.target_deg),
        clutter=None if args.clutter_map is None else _clutter_map(args.clutter_map),
        clutter_radius=args.clutter_radius_deg,
    )
    if options.gate_deg <= 0 or options.clutter_radius <= 0:
        raise ValueError("--gate-deg and --clutter-radius-deg must be > 0 degrees")
    report = score_capture(
        args.capture,
        config,
        max_blocks=args.blocks,
        plain_kind=args.plain_kind,
        verify_checksum=not args.no_verify,
        progress=True,
        options=options,
    )
    if args.json is not None:  # first, whole or not at all: a report is never half-written
        tmp = args.json.with_name(args.json.name + ".partial")
        tmp.write_text(to_json(report))
        tmp.replace(args.json)
    for w in report.get("sensing", {}).get("warnings", []):
        print(f"cfisac replay: warning: {w}", file=sys.stderr)
    print(format_report(report))
    return 0
