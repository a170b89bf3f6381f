"""``cfisac train --family teacher-student``: paper 001's decentralized teacher-student
precoders (gr_cfisac.train.decentral) into runs/NAME, resumable; ``--export PREFIX.onnx``
writes one ONNX graph per AP (PREFIX_ap0.onnx, ...) with its card.

Recipes: ``ts_small.yml`` (CPU, the paper's recipe at small sizes) or, with ``--full``,
``ts_full.yml`` (the paper's sizes, a GPU job); ``--config`` another (``ts_pos1_n5.yml``: the
shipped Pos-1 N = 5 set; ``ts_pos2_n*.yml``: the Pos-2 sets; ``ts_cellfree.yml``: the per-TAP
set on the Table-I cell-free network, trained on eq 23a as STCIB), ``--resume RUN_DIR`` a run's
own. ``--device``,
``--seed``, ``--name`` and the optim overrides --lr, --batch-size, --threads, --max-minutes
apply; the STCIB-only flags are refused by name.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path

TS_SMALL, TS_FULL = "ts_small.yml", "ts_full.yml"
#: override flag -> field of the recipe's optim section
TS_OVERRIDES = {"lr": "lr", "batch_size": "batch_size", "threads": "threads",
                "max_minutes": "max_minutes"}  # fmt: skip


def resolve_ts_config(args: argparse.Namespace, stcib_flags: tuple[str, ...] = ()):
    """The TSConfig of ``--family teacher-student`` (module docstring); ValueError naming a
    flag that does not apply."""
    from ..train.decentral.config import TSConfig, config_path

    other = [f"--{f.replace('_', '-')}" for f in stcib_flags
             if f not in TS_OVERRIDES and getattr(args, f, None) is not None]  # fmt: skip
    if other:
        raise ValueError(
            f"{', '.join(other)}: STCIB option(s), not used by --family teacher-student (its "
            f"recipe is {TS_SMALL} / {TS_FULL}; pass --config for another)"
        )
    resume = getattr(args, "resume", None)
    if resume is not None and (args.config is not None or args.full):
        raise ValueError("--resume RUN_DIR takes the run's own config.yml: drop --config/--full")
    if args.config is not None and args.full:
        raise ValueError("--full picks the paper's recipe: drop it or --config")
    if resume is not None:
        source = resume / "config.yml"
        if not source.exists():
            raise FileNotFoundError(f"--resume {resume}: no config.yml there (not a run folder)")
    else:
        source = args.config or config_path(TS_FULL if args.full else TS_SMALL)
    data = TSConfig.load(source).to_dict()
    for flag, field in TS_OVERRIDES.items():
        if getattr(args, flag, None) is not None:
            data["optim"][field] = getattr(args, flag)
    if args.device:
        data["optim"]["device"] = args.device
    if args.seed is not None:
        data["seed"] = args.seed
    if args.name:
        data["name"] = args.name
    return TSConfig.from_dict(data)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_teacher_student(args: argparse.Namespace, stcib_flags: tuple[str, ...] = ()) -> int:
    """Train the three stages (SSNR teacher, SINR teacher, student) and optionally export."""
    from ..train.decentral.cellfree import trainer_for

    cfg = resolve_ts_config(args, stcib_flags)
    out = args.out or args.resume or Path("runs") / cfg.name
    trainer = trainer_for(cfg, out, progress=not args.no_progress)
    again = shlex.join(["cfisac", "train", "--family", "teacher-student", "--resume", str(out)]
                       + (["--export", str(args.export)] if args.export else []))  # fmt: skip
    print(f"cfisac train --family teacher-student {cfg.name}: {cfg.scenario.L} x "
          f"{trainer.parameters // cfg.scenario.L} parameters ({cfg.model.arch} per AP) on "
          f"{cfg.optim.device} -> {out}")  # fmt: skip
    print(f"checkpoint after every epoch: {out / 'last.pt'}; resume with: {again}", flush=True)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        result = trainer.fit()
    except KeyboardInterrupt:
        print(f"\ncfisac train: interrupted in stage {trainer.state['stage']} epoch "
              f"{trainer.state['epoch']}; resume with:\n  {again}", file=sys.stderr, flush=True)  # fmt: skip
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    summary = {
        "stopped": result.stopped,
        "selected_epoch": result.selected_epoch,
        "validation": result.validation,
        "wall_s": round(result.wall_s, 1),
    }
    if not cfg.scenario.cellfree:  # the teachers' references (no teachers on cellfree)
        summary["g_max"] = result.g_max
    print(json.dumps(summary))
    if result.stopped != "done":
        print(f"time budget reached; resume with: {again}", file=sys.stderr)
    if args.export and result.stopped == "done":
        from ..train.decentral.export import export_run

        cards = export_run(out, args.export)
        worst = max(c["onnx"]["parity_max_rel_diff"] for c in cards)
        print(f"exported {', '.join(c['file'] for c in cards)} (parity {worst:.1e})")
    return 0
