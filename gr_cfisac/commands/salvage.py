"""``cfisac salvage``: rebuild a capture whose recorder died (gr_cfisac.sigmf_io.salvage)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "rebuild a capture whose recorder was killed: every whole block written before it"
DESCRIPTION = """\
A recorder killed while recording (kill -9, a crash, a power cut, a stop while finishing)
leaves CAPTURE-*.sigmf-data.partial files and their journals (.sigmf-journal) instead of a
finished capture. `cfisac salvage CAPTURE` turns every coherence block that every recording
holds whole back into valid SigMF recordings and writes the collection, all marked
cfisac:interrupted, and says what was dropped after the last whole block.

CAPTURE is the capture's name (folder/NAME, as given to the SigMF Sink), its
NAME.sigmf-collection, one of its recordings, or a lone recording's NAME. --dry-run reports
what would be kept and touches nothing."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", type=Path, metavar="CAPTURE", help="the capture to rebuild")
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be kept; change nothing"
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the report as JSON"
    )


def run(args: argparse.Namespace) -> int:
    from ..sigmf_io import salvage

    report = salvage(args.capture, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    if args.json is not None:
        doc = {
            "capture": str(report.capture),
            "dry_run": report.dry_run,
            "collection": None if report.collection is None else str(report.collection),
            "recordings": report.members,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0
