"""``cfisac serve``: run a precoder as a ZeroMQ service (PMT dicts, as GNU Radio's ZeroMQ message blocks use).

ALGORITHM is any precoder of the registry: a family name (mrt, zf, rzf, wmmse, optimize, a
plug-in's; not remote) or an .onnx file (its model card must match the configuration), with the
family's parameters as repeated --param name=value. Every reply's W is (B, N, K+1), sensing
beam first. Requests arrive on a ROUTER socket bound at --address (127.0.0.1
unless told otherwise) and each reply goes back to its requester only: use
gr_cfisac.service.RemotePrecoder (the precoder block's remote mode) or any DEALER/REQ socket.
--curve-secret turns on CURVE encryption and authentication (keys from `--keygen DIR`).
--stock-address (loopback only) also takes requests from a stock zeromq.push_msg_sink and
answers them unrouted on PUSH/PUB at port + 1 for a stock pull_msg_source / sub_msg_source.
See docs/service.md. Ctrl-C stops it and prints what it served.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .scenario_option import require_cellfree_network, scenario_name

HELP = "run a precoder as a ZeroMQ service (routed replies, optional CURVE)"
DESCRIPTION = """\
Serve any registry precoder over ZeroMQ: a family (mrt, zf, rzf, wmmse, optimize, a
plug-in's) or an .onnx model, with --param name=value for the family's parameters, e.g.
`cfisac serve optimize --param regime=sc --param threshold=1.0`. Every answer is W (B, N, K+1),
sensing beam first; requests carry the estimates and the sensing geometry. Clients (the Precoder block's remote mode, RemotePrecoder, any DEALER/REQ socket) connect to
--address; each reply goes back to its requester only. Binding beyond loopback needs CURVE:
`cfisac serve --keygen DIR` writes a key pair, --curve-secret/--curve-clients use them.
Stock GNU Radio message blocks can send requests to --stock-address (loopback only).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="ALGORITHM",
        nargs="?",
        help="a precoder family (mrt, zf, rzf, wmmse, optimize, a plug-in's) or an .onnx file",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the family (repeatable; VALUE parsed as JSON where it is, e.g. "
        "--param regime=sc --param threshold=1.0 --param sensing_fraction=0.3)",
    )
    parser.add_argument(
        "--scenario",
        type=scenario_name,
        default="cellfree",
        help="the scenario the precoder serves: cellfree, or a plug-in's scenario on the same "
        "cell-free network (--config) (default: cellfree)",
    )
    parser.add_argument(
        "--address",
        default="tcp://127.0.0.1:5560",
        help="routed request/reply (ROUTER) endpoint to bind",
    )
    parser.add_argument(
        "--curve-secret",
        type=Path,
        default=None,
        metavar="FILE",
        help="the server's .key_secret file: turns on CURVE encryption and authentication",
    )
    parser.add_argument(
        "--curve-clients",
        type=Path,
        default=None,
        metavar="DIR_OR_FILE",
        help="public .key files of the clients to admit (default with CURVE: any client)",
    )
    parser.add_argument(
        "--keygen",
        type=Path,
        default=None,
        metavar="DIR",
        help="write a CURVE key pair NAME.key / NAME.key_secret in DIR and exit",
    )
    parser.add_argument(
        "--key-name", default="server", help="file name of the --keygen pair (default: server)"
    )
    parser.add_argument(
        "--stock-address",
        default=None,
        help="also take requests from stock push_msg_sink blocks here (PULL, loopback only)",
    )
    parser.add_argument(
        "--stock-reply-address",
        default=None,
        help="where replies to stock blocks leave (default: stock port + 1)",
    )
    parser.add_argument(
        "--stock-reply-pattern",
        choices=("push", "pub"),
        default="push",
        help="push: one stock pull_msg_source; pub: stock sub_msg_sources (unrouted either way)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="SystemConfig JSON (default: Table I)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="rate threshold (bps/Hz): the family's threshold parameter (a threshold-conditioned "
        ".onnx model; optimize's sc/cc regimes), as --param threshold=VALUE",
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
    from ..config import SystemConfig
    from ..models import resolve_model
    from ..service import PrecoderService, keygen, parse_params

    if args.keygen is not None:
        public, secret = keygen(args.keygen, args.key_name)
        print(
            f"cfisac serve: wrote {public} (public: give it to the peers) and {secret} "
            "(secret: keep it private)"
        )
        return 0
    if args.model is None:
        raise ValueError(
            "ALGORITHM is required (a precoder family such as zf or optimize, or an .onnx file)"
        )
    require_cellfree_network(args.scenario, "cfisac serve answers requests of")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = SystemConfig() if args.config is None else SystemConfig.from_json(args.config.read_text())
    model = str(resolve_model(args.model)) if args.model.endswith(".onnx") else args.model
    service = PrecoderService(
        model,
        cfg,
        args.address,
        curve_secret=args.curve_secret,
        curve_clients=args.curve_clients,
        stock_address=args.stock_address,
        stock_reply_address=args.stock_reply_address,
        stock_reply_pattern=args.stock_reply_pattern,
        threshold=args.threshold,
        scenario=args.scenario,
        params=parse_params(args.param),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    curve = "off" if service.curve is None else "on"
    lines = [
        f"cfisac serve: {service.model.name} for {cfg.summary()}",
        f"  precoder  {service.model.describe() or service.model.name} -> W (B, N, K+1)",
        f"  requests  ROUTER {service.address} (CURVE {curve}; replies to the requester only)",
    ]
    if service.stock_address is not None:
        lines.append(f"  stock     PULL {service.stock_address}")
        lines.append(
            f"  stock replies {service.stock_reply_pattern.upper()} {service.stock_reply_address}"
        )
    print("\n".join(lines), flush=True)
    for text in service.warnings:
        print(f"cfisac serve: WARNING: {text}", file=sys.stderr, flush=True)
    try:
        stats = service.serve(
            stop, max_requests=args.max_requests, report_every_s=args.report_every or None
        )
    finally:
        service.close()
    print(f"cfisac serve: stopped; {dict(stats)}", flush=True)
    return 0
