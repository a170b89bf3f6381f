"""Run a precoder as a ZeroMQ service (PMT dicts, as GNU Radio's ZeroMQ message blocks use).

MODEL is an .onnx file (its model card must match the configuration) or a classical precoder
name (mrt, zf, rzf, wmmse). Requests arrive on a PULL socket bound at --address (127.0.0.1
unless told otherwise) and replies leave on a PUSH (or PUB) socket at --reply-address (default:
port + 1). Connect a stock zeromq.push_msg_sink (bind off) to the first and a stock
zeromq.pull_msg_source (bind off) to the second, or use gr_cfisac.service.RemotePrecoder (the
precoder block's remote mode). Ctrl-C stops it and prints what it served.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="an .onnx file, or mrt, zf, rzf, wmmse")
    parser.add_argument(
        "--address", default="tcp://127.0.0.1:5560", help="request (PULL) endpoint to bind"
    )
    parser.add_argument(
        "--reply-address", default=None, help="reply endpoint to bind (default: port + 1)"
    )
    parser.add_argument(
        "--reply-pattern",
        choices=("push", "pub"),
        default="push",
        help="push: one consumer (stock pull_msg_source); pub: many (sub_msg_source)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="SystemConfig JSON (default: Table I)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="rate threshold (bps/Hz) for a threshold-conditioned .onnx model",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help="stop after this many requests (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--report-every",
        type=float,
        default=30.0,
        help="log counters every this many seconds (0: never)",
    )


def run(args: argparse.Namespace) -> int:
    from .config import SystemConfig
    from .service import PrecoderService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = SystemConfig() if args.config is None else SystemConfig.from_json(args.config.read_text())
    service = PrecoderService(
        args.model,
        cfg,
        args.address,
        args.reply_address,
        args.reply_pattern,
        threshold=args.threshold,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"cfisac serve: {service.model.name} for {cfg.summary()}\n"
        f"  requests  PULL {service.address}\n"
        f"  replies   {service.reply_pattern.upper()} {service.reply_address}",
        flush=True,
    )
    try:
        stats = service.serve(
            stop, max_requests=args.max_requests, report_every_s=args.report_every or None
        )
    finally:
        service.close()
    print(f"cfisac serve: stopped; {dict(stats)}", flush=True)
    return 0
