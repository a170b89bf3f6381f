"""The ``cfisac`` command: one sub-command per module of :mod:`gr_cfisac.commands`, each with
``add_arguments`` and ``run``, and the user-facing ``HELP`` (one line) and ``DESCRIPTION`` (a
few lines) that ``--help`` shows (module docstrings are for developers).

Command modules keep heavy imports (torch, gnuradio) inside ``run`` so ``cfisac --help`` stays
fast and works without the optional extras.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command -> module providing add_arguments(parser) and run(args) -> int
COMMANDS: dict[str, str] = {
    "demo": "gr_cfisac.commands.demo",
    "config": "gr_cfisac.commands.config",
    "bench": "gr_cfisac.commands.bench",
    "serve": "gr_cfisac.commands.serve",
    "replay": "gr_cfisac.commands.replay",
    "salvage": "gr_cfisac.commands.salvage",
    "calibrate": "gr_cfisac.commands.calibrate",
    "train": "gr_cfisac.commands.train",
    "export": "gr_cfisac.commands.export",
    "evaluate": "gr_cfisac.commands.evaluate",
    "reproduce": "gr_cfisac.commands.reproduce",
    "coisac-raytrace": "gr_cfisac.commands.coisac_raytrace",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and every option's default shown unless its help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = "default" in text or "%(default)" in text
        if shown or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfisac",
        description="Cell-free ISAC for GNU Radio: simulate, replay captures, serve precoders, "
        "train, evaluate and benchmark. `cfisac COMMAND --help` explains each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=HelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def describe_error(exc: Exception) -> str:
    """The message of an error a command ends with: an OSError from the system as "PATH: what
    went wrong" (not "[Errno 2] ...: 'PATH'"), anything else as it says itself."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"cfisac {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cfisac {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
