"""``cfisac calibrate CAPTURE --direction PSI,THETA``: per-antenna corrections of the RAPs'
receive chains from a capture of one source in a known direction
(:mod:`gr_cfisac.calibration_capture`), written as the calibration file the CF-ISAC
Calibration block reads."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

HELP = "per-antenna gain/delay corrections of the RAPs from a capture of a known direction"
DESCRIPTION = """\
Estimates every RAP's per-antenna complex gain and delay corrections from CAPTURE (a SigMF
capture of the RAP side, e.g. the radio RAP flowgraph's --capture, while one source -- a
beacon, or the target with the clutter far weaker -- illuminates the RAPs from a known
direction) and writes the calibration file the CF-ISAC Calibration block and the radio RAP
flowgraph's --calibration read (format in docs/testbed.md). For each RAP it reports MUSIC's
one-source error in that direction before and after the corrections.

--direction PSI,THETA is in degrees (azimuth; elevation from the array normal), once for every
RAP or once per RAP in order. Delays need a wideband source (the TAP side's Gaussian sensing
stream is one); --no-delays estimates gains only.

Example: cfisac calibrate captures/cal.sigmf-collection --direction 30,40 -o cal.json"""


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


def _raps(text: str) -> list[int]:
    try:
        raps = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RAP numbers like 1,3, got {text!r}") from None
    if any(j < 1 for j in raps):
        raise argparse.ArgumentTypeError(f"RAPs are numbered from 1, got {text!r}")
    return raps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "capture", type=Path, metavar="CAPTURE", help=".sigmf-collection (or folder/NAME)"
    )
    parser.add_argument(
        "--direction",
        type=_direction,
        action="append",
        required=True,
        metavar="PSI,THETA",
        help="the source's direction at the RAPs in degrees: once for all, or once per RAP",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="calibration file to write (default: CAPTURE's NAME.calibration.json beside it)",
    )
    parser.add_argument("--raps", type=_raps, default=None, help="RAPs to calibrate (e.g. 1,3)")
    parser.add_argument("--no-delays", action="store_true", help="estimate gains only")
    parser.add_argument(
        "--blocks", type=int, default=None, help="use at most this many blocks per RAP"
    )


def default_out(capture: Path) -> Path:
    """NAME.calibration.json beside the capture NAME(.sigmf-collection)."""
    name = capture.name
    for ext in (".sigmf-collection", ".sigmf-meta"):
        name = name.removesuffix(ext)
    return capture.with_name(name + ".calibration.json")


def run(args: argparse.Namespace) -> int:
    from ..calibration import save
    from ..calibration_capture import calibrate_capture

    cal, results, warnings = calibrate_capture(
        args.capture,
        args.direction,
        raps=args.raps,
        delays=not args.no_delays,
        max_blocks=args.blocks,
    )
    for w in warnings:
        print(f"cfisac calibrate: warning: {w}", file=sys.stderr)
    out = args.out or default_out(args.capture)
    save(cal, out)
    print(f"{'RAP':>4} {'blocks':>7} {'dominance':>10} {'MUSIC error before':>19} {'after':>8}")
    for r in results:
        print(
            f"{r.rap:>4} {r.blocks:>7} {r.dominance_db:>7.1f} dB {r.error_before_deg:>15.2f} deg "
            f"{r.error_after_deg:>5.2f} deg"
        )
    print(f"wrote {out}")
    return 0
