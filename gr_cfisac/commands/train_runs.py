"""What every ``cfisac train`` family shares: where a run's recipe comes from (--resume, --config,
the family's small or --full recipe), the override flags that set a recipe field, the run folder,
the command that resumes a run, the refusal of a run folder that holds a checkpoint of another
recipe, and running ``fit()`` so that Ctrl-C and ``kill`` (SIGTERM) both end it with that
command printed. Each family's own file keeps only what is its own (its recipe class, its
header line, its summary, its export).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..recipe_files import differing_fields

T = TypeVar("T")

#: override flags that set a field of a family recipe's optim section (l2o, teacher-student):
#: flag -> (section, field)
OPTIM_OVERRIDES: dict[str, tuple[str, str]] = {
    "lr": ("optim", "lr"),
    "batch_size": ("optim", "batch_size"),
    "threads": ("optim", "threads"),
    "max_minutes": ("optim", "max_minutes"),
}


def resume_command(out: Path, export: Path | None = None, *, family: str | None = None) -> str:
    """The shell command that continues the run in ``out`` (its config and last checkpoint):
    ``cfisac train [--family FAMILY] --resume OUT [--export EXPORT]``, quoted for a shell."""
    cmd = ["cfisac", "train"]
    if family is not None:
        cmd += ["--family", family]
    cmd += ["--resume", str(out)]
    if export is not None:
        cmd += ["--export", str(export)]
    return shlex.join(cmd)


def run_folder(args: argparse.Namespace, name: str) -> Path:
    """The run folder: --out, else the --resume folder, else runs/NAME."""
    return args.out or args.resume or Path("runs") / name


def refuse_flags(
    args: argparse.Namespace,
    flags: Iterable[str],
    allowed: Iterable[str],
    family: str,
    small: str,
    full: str,
) -> None:
    """ValueError naming each of ``flags`` (STCIB override flags) given on the command line that
    ``--family FAMILY`` does not use (those not in ``allowed``)."""
    allowed = set(allowed)
    other = [f"--{f.replace('_', '-')}" for f in flags
             if f not in allowed and getattr(args, f, None) is not None]  # fmt: skip
    if other:
        raise ValueError(
            f"{', '.join(other)}: STCIB option(s), not used by --family {family} (its recipe is "
            f"{small} / {full}; pass --config for another)"
        )


#: recipe fields that say where and how long a run goes, not what it trains: a run folder's
#: checkpoint may be continued with other values of these
HOW_TO_RUN = frozenset({"device", "threads", "max_minutes", "epochs"})


def refuse_foreign_run(
    out: Path, recipe: Mapping[str, Any], family: str, read: Callable[[Path], Mapping[str, Any]],
    checkpoint: str = "last.pt", saved: str = "config.yml",
) -> None:  # fmt: skip
    """ValueError when the run folder ``out`` holds a ``checkpoint`` written for another recipe
    than ``recipe`` (its ``saved`` config, read by ``read``: the family's loader, normalized),
    before anything in the folder is touched: the trainers resume any checkpoint they find, so
    a changed recipe under an old name would go on from the old weights (and an export would
    label them with the new recipe). Fields of HOW_TO_RUN may differ."""
    if not (out / checkpoint).is_file():
        return
    fix = (f"continue that run with `cfisac train --family {family} --resume {out}`, or start "
           f"this one in another folder (--name NEW or --out DIR)")  # fmt: skip
    if not (out / saved).is_file():
        raise ValueError(f"{out} holds a checkpoint ({checkpoint}) but no {saved} to tell its "
                         f"recipe: start this run in another folder (--name NEW or --out DIR)")  # fmt: skip
    theirs = read(out / saved)
    diff = [f for f in differing_fields(recipe, theirs) if f.split(".")[-1] not in HOW_TO_RUN]
    if diff:
        raise ValueError(f"{out} holds a run of another {family} recipe (it differs in "
                         f"{', '.join(diff)}): {fix}")  # fmt: skip


def recipe_source(
    args: argparse.Namespace, small: Path | None = None, full: Path | None = None
) -> Path | None:
    """The recipe file a run starts from: the run's config.yml with --resume, else --config, else
    the family's ``small`` recipe (``full`` with --full).

    Without ``small`` (a family with no --full recipe) --full is not checked here and the result
    is None when neither --resume nor --config is given (the family's built-in recipe).
    ValueError for --resume with --config (or --full), --config with --full;
    FileNotFoundError for a --resume folder without config.yml.
    """
    resume = getattr(args, "resume", None)
    if small is None:
        if resume is not None and args.config is not None:
            raise ValueError("--resume RUN_DIR takes the run's own config.yml: drop --config")
    else:
        if resume is not None and (args.config is not None or args.full):
            raise ValueError(
                "--resume RUN_DIR takes the run's own config.yml: drop --config/--full"
            )
        if args.config is not None and args.full:
            raise ValueError("--full picks the paper's recipe: drop it or --config")
    if resume is not None:
        source = resume / "config.yml"
        if not source.exists():
            raise FileNotFoundError(f"--resume {resume}: no config.yml there (not a run folder)")
        return source
    if args.config is not None or small is None:
        return args.config
    return full if args.full else small


def apply_overrides(
    data: dict[str, Any], args: argparse.Namespace, mapping: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    """Set ``data[section][field]`` from each flag of ``mapping`` (flag -> (section, field))
    given on the command line (not None); returns ``data``."""
    for flag, (section, field) in mapping.items():
        value = getattr(args, flag, None)
        if value is not None:
            data[section][field] = value
    return data


def family_config(
    args: argparse.Namespace,
    cls: Any,
    family: str,
    small: Path,
    full: Path,
    stcib_flags: Iterable[str] = (),
) -> Any:
    """The recipe (an instance of ``cls``, with ``load``, ``to_dict`` and ``from_dict``) of a
    family with a small and a --full recipe (l2o, teacher-student): the STCIB-only flags refused by
    name, the source from :func:`recipe_source`, the optim overrides, --device, --seed, --name."""
    refuse_flags(args, stcib_flags, OPTIM_OVERRIDES, family, small.name, full.name)
    data = cls.load(recipe_source(args, small, full)).to_dict()
    apply_overrides(data, args, OPTIM_OVERRIDES)
    if args.device:
        data["optim"]["device"] = args.device
    if args.seed is not None:
        data["seed"] = args.seed
    if args.name:
        data["name"] = args.name
    return cls.from_dict(data)


def raise_interrupt(signum, frame) -> None:
    """A signal handler that ends the run the way Ctrl-C does."""
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside: ``kill`` (SIGTERM) takes the same path as Ctrl-C (a KeyboardInterrupt); the
    previous handler is put back on leaving. Only the main thread can set a handler: elsewhere
    this does nothing."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_interrupt) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def fit_resumable(fit: Callable[[], T], out: Path, again: str, where: Callable[[], str]) -> T:
    """Print where the checkpoint goes and the command that resumes, then run ``fit()`` with
    SIGTERM as Ctrl-C; when interrupted, print ``cfisac train: interrupted WHERE; resume with:``
    and the command on stderr (``where()`` says how far it got, read at that moment) and re-raise."""
    print(f"checkpoint after every epoch: {out / 'last.pt'}; resume with: {again}", flush=True)
    with sigterm_as_interrupt():
        try:
            return fit()
        except KeyboardInterrupt:
            print(f"\ncfisac train: interrupted {where()}; resume with:\n  {again}",
                  file=sys.stderr, flush=True)  # fmt: skip
            raise
