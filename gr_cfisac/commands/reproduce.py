"""``cfisac reproduce``: the papers' headline figures and tables (:mod:`gr_cfisac.reproduce`)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "reproduce the papers' headline figures and tables (CSV + PNG + a Markdown report)"
DESCRIPTION = """\
Runs the named paper's headline experiments (stcib, teacher-student, l2o, lhgnn, or all) at a
size that fits a 2-core laptop in at most 30 minutes per paper, or at the papers' sizes with
--full, and writes one CSV and one PNG per figure or table under OUT/PAPER/ and OUT/REPORT.md:
our numbers beside the paper's, the trend each figure shows and whether ours shows it, and every
deviation. It evaluates the shipped models (training is `cfisac train`'s job). Points run on a
local Dask cluster (one process per core) unless --scheduler names another: "sync" runs in this
process, tcp://HOST:PORT an existing Dask cluster. Interrupted runs resume: finished points and
figures are kept under OUT/cache (remove it to start afresh)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..reproduce import PAPERS

    parser.add_argument(
        "papers", nargs="+", metavar="PAPER", help=f"all, or any of {', '.join(PAPERS)}"
    )
    parser.add_argument("--full", action="store_true", help="the papers' sizes (hours)")
    parser.add_argument("--out", type=Path, default=Path("reproduce"), help="output folder")
    parser.add_argument(
        "--scheduler",
        default="local",
        help='where points run: "local" (a Dask cluster on this machine), "sync" (in this '
        'process) or "tcp://HOST:PORT" (an existing Dask scheduler)',
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes of the local cluster (default: cores)"
    )


def run(args: argparse.Namespace) -> int:
    from ..reproduce import PAPERS, Run, reproduce

    unknown = [p for p in args.papers if p != "all" and p not in PAPERS]
    if unknown:
        raise SystemExit(
            f"cfisac reproduce: unknown paper(s) {', '.join(unknown)}; choose all or any of "
            f"{', '.join(PAPERS)}"
        )
    if args.workers is not None and args.workers < 1:
        raise SystemExit(f"cfisac reproduce: --workers must be >= 1, got {args.workers}")
    cache = args.out / "cache" / "points"
    run_ = Run(args.scheduler, args.workers, cache, progress=True)
    path = reproduce(args.papers, args.out, args.full, run_)
    print(f"report: {path}")
    return 0
