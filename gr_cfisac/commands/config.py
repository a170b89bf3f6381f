"""``cfisac config``: write a SystemConfig to edit (``template``) or check and explain one (``show``).

Every command that takes ``--config`` reads the JSON these write (SystemConfig.to_json()).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..config import SystemConfig

HELP = "write a configuration to edit, or check and explain one"
DESCRIPTION = """\
cfisac config template [PATH]   write the Table-I configuration as JSON (every field, to edit)
cfisac config show [PATH]       check a configuration and print it with what follows from it
                                (antennas, the link budget's rho, the power budget, tau)

Commands that take --config (replay, serve, evaluate ...) read these files. Fields left out of
a file keep their Table-I defaults."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("template", "show"), help="what to do")
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        help="template: where to write (default: print it); show: the file to check "
        "(default: the Table-I configuration)",
    )
    parser.add_argument("--force", action="store_true", help="template: overwrite PATH")


def run(args: argparse.Namespace) -> int:
    if args.action == "template":
        text = SystemConfig().to_json(indent=2) + "\n"
        if args.path is None:
            print(text, end="")
            return 0
        if args.path.exists() and not args.force:
            raise ValueError(f"{args.path} exists; pass --force to overwrite it")
        tmp = args.path.with_name(args.path.name + ".partial")
        tmp.write_text(text)
        tmp.replace(args.path)
        print(f"wrote {args.path}: edit it, then pass it as --config {args.path}")
        return 0
    cfg = SystemConfig() if args.path is None else _read(args.path)
    print(explain(cfg))
    return 0


def _read(path: Path) -> SystemConfig:
    try:
        return SystemConfig.from_json(path.read_text())
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def explain(cfg: SystemConfig) -> str:
    """The configuration as a few lines a researcher can check against Table I."""
    rows, cols = cfg.MR_shape
    sensing = cfg.NC + 1
    ident = "yes" if sensing <= cfg.MR - 2 and min(rows, cols) >= 2 else "no (needs MR - 2)"
    db = lambda x: f"{10 * math.log10(x):.1f} dB"  # noqa: E731
    return "\n".join(
        [
            cfg.to_json(indent=2),
            "",
            f"network    {cfg.summary()}",
            f"antennas   N = NT*MT = {cfg.N} transmit, MR = {cfg.MR} per RAP",
            f"time       tau_c = {cfg.tau_c}: tau_p = {cfg.tau_p} pilots + tau = {cfg.tau} "
            "downlink symbols per coherence block",
            f"power      rho = {db(cfg.rho)} per TAP (unit noise), budget rho*NT = "
            f"{db(cfg.power_budget)}",
            f"MUSIC      target + {cfg.NC} clutter = {sensing} sources on {rows}x{cols} RAPs: "
            f"identifiable {ident}",
        ]
    )
