"""Write the hardware-in-the-loop flowgraph pair (a maintainer's tool; the .grc files are what
users open):

    .venv/bin/python flowgraphs/cfisac_hil_build.py
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_hil_tap.grc
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_hil_rap.grc

TAP side (``cfisac_hil_tap``): the network's transmit side and the simulated air: scenario,
per-TAP MMSE estimation, precoder (any algorithm; ``remote`` with ``remote_address`` asks a
``cfisac serve`` precoder service on another host), transmitter and echo channel. It serves
every RAP's snapshots, the sensing geometry and the ground truth on GNU Radio's own ZeroMQ
PUSH sinks (tags passed: ``cb`` and ``cfisac_config`` cross the link) at
``tcp://HOST:BASE_PORT + k`` (k = 0..NR-1 the RAPs, NR the geometry, NR+1 the truth), and
records what it sent.

RAP side (``cfisac_hil_rap``): what runs on the receive hosts: ZeroMQ PULL sources for the RAP
snapshots (replace them by radio sources on a real testbed), MUSIC per RAP, fusion into a
position written to ``fix_path`` (float32 items, blocks.layout.fix_layout), and a SigMF capture
of what it received for ``cfisac replay``. It stops after ``num_blocks`` coherence blocks.

Start the RAP side first (or both together): the TAP side then waits for it, and every stream
starts at block 0. A RAP side started against a TAP side that is already streaming receives
each stream from a different block (ZeroMQ and GNU Radio buffers hold different amounts of
each); its blocks stop at once with a message saying so: restart both sides.
"""

from __future__ import annotations

from pathlib import Path

from build_grc import CFG, Flowgraph, parameter

HERE = Path(__file__).resolve().parent
NT, NR = CFG.NT, CFG.NR


def _address(k: str) -> str:
    return f"'tcp://%s:%d' % (host, base_port + {k})"


def tap_side() -> Flowgraph:
    fg = Flowgraph(
        "cfisac_hil_tap",
        "CF-ISAC hardware-in-the-loop: TAP side",
        "no_gui",
        "Scenario, per-TAP MMSE estimation, precoder, transmitter and the simulated echo "
        "channel; serves the RAP snapshots, sensing geometry and ground truth over ZeroMQ "
        "PUSH sinks (tags passed) to cfisac_hil_rap.",
    )
    parameter(fg, "num_blocks", "intx", "0", "Coherence blocks (0: forever)", (400, 8))
    parameter(fg, "seed", "intx", "1", "Seed", (560, 8))
    parameter(fg, "algorithm", "str", "zf", "Precoder (name, .onnx or remote)", (680, 8))
    parameter(fg, "sensing_fraction", "eng_float", "0.5", "Sensing power fraction", (860, 8))
    parameter(fg, "host", "str", "127.0.0.1", "Bind address", (1040, 8))
    parameter(fg, "base_port", "intx", "5600", "First port", (1200, 8))
    parameter(fg, "capture", "str", "", "Record what is sent (folder/NAME)", (1340, 8))
    parameter(fg, "remote_address", "str", "", "Precoder service (algorithm remote)", (1520, 8))
    fg.block("cfg", "cfisac_config", (200, 8))
    fg.block(
        "scenario",
        "cfisac_scenario_source",
        (8, 200),
        config="cfg",
        seed="seed",
        num_blocks="num_blocks",
        scene='"paper"',
        user_speed_mps="0.0",
        target_speed_mps="0.0",
    )
    fg.block("estimator", "cfisac_pilot_estimator", (300, 200), config="cfg", method='"mmse"')
    fg.block(
        "precoder",
        "cfisac_precoder",
        (600, 200),
        config="cfg",
        algorithm="algorithm",
        sensing_fraction="sensing_fraction",
        sensing_beam='"nullspace"',
        remote_address="remote_address",
    )
    fg.block("transmitter", "cfisac_transmitter", (900, 200), config="cfg", seed="seed + 1")
    fg.block("echo", "cfisac_echo_channel", (1200, 300), config="cfg", seed="seed + 3")
    fg.block(
        "w_null",
        "blocks_null_sink",
        (900, 500),
        type="complex",
        vlen="cfisac.item_size(cfg, 'precoder')",
        num_inputs="1",
    )
    fg.block(
        "symbols_null",
        "blocks_null_sink",
        (1200, 560),
        type="complex",
        vlen=f"{CFG.K + 1}",
        num_inputs="1",
    )
    truth, geometry = 2 * NT, 2 * NT + 1
    for i in range(NT):
        fg.connect("scenario", i, "estimator", i)
        fg.connect("scenario", NT + i, "estimator", NT + i)
        fg.connect("estimator", i, "precoder", i)
        fg.connect("precoder", i, "transmitter", i)
        fg.connect("transmitter", i, "echo", i)
    fg.connect("scenario", geometry, "precoder", NT)
    fg.connect("precoder", NT, "w_null", 0)
    fg.connect("transmitter", NT, "symbols_null", 0)
    fg.connect("scenario", truth, "echo", NT)
    links = [(f"rap{j + 1}", "echo", j, "cfg.MR") for j in range(NR)]
    links += [
        ("geometry", "scenario", geometry, "cfisac.item_size(cfg, 'geometry')"),
        ("truth", "scenario", truth, "cfisac.item_size(cfg, 'truth')"),
    ]
    for k, (name, src, port, vlen) in enumerate(links):
        fg.block(
            f"push_{name}",
            "zeromq_push_sink",
            (1500, 200 + 100 * k),
            type="complex",
            vlen=vlen,
            address=_address(str(k)),
            timeout="100",
            pass_tags="True",
            hwm="-1",
        )
        fg.connect(src, port, f"push_{name}", 0)
    fg.block(
        "recorder",
        "cfisac_sigmf_sink",
        (1500, 900),
        config="cfg",
        path="capture",
        preset="rap_truth_geometry",
        overwrite="True",
    )
    for j in range(NR):
        fg.connect("echo", j, "recorder", j)
    fg.connect("scenario", truth, "recorder", NR)
    fg.connect("scenario", geometry, "recorder", NR + 1)
    return fg


def rap_side() -> Flowgraph:
    fg = Flowgraph(
        "cfisac_hil_rap",
        "CF-ISAC hardware-in-the-loop: RAP side",
        "no_gui",
        "RAP snapshots, sensing geometry and ground truth from cfisac_hil_tap over ZeroMQ PULL "
        "sources (tags passed); MUSIC per RAP and fusion into a position; stops after "
        "num_blocks blocks. Start it before the TAP side (or restart both).",
    )
    parameter(fg, "num_blocks", "intx", "100", "Coherence blocks", (400, 8))
    parameter(fg, "host", "str", "127.0.0.1", "TAP-side host", (560, 8))
    parameter(fg, "base_port", "intx", "5600", "First port", (720, 8))
    parameter(fg, "fix_path", "str", "hil_fix.f32", "Positions (float32 fix items)", (880, 8))
    parameter(fg, "capture", "str", "", "Record what is received (folder/NAME)", (1060, 8))
    fg.block("cfg", "cfisac_config", (200, 8))
    links = [(f"rap{j + 1}", "cfg.MR", "cfg.tau") for j in range(NR)]
    links += [
        ("geometry", "cfisac.item_size(cfg, 'geometry')", "1"),
        ("truth", "cfisac.item_size(cfg, 'truth')", "1"),
    ]
    for k, (name, vlen, per_block) in enumerate(links):
        fg.block(
            f"pull_{name}",
            "zeromq_pull_source",
            (8, 200 + 100 * k),
            type="complex",
            vlen=vlen,
            address=_address(str(k)),
            timeout="100",
            pass_tags="True",
            hwm="-1",
        )
        fg.block(
            f"head_{name}",
            "blocks_head",
            (300, 200 + 100 * k),
            type="complex",
            vlen=vlen,
            num_items=f"num_blocks * {per_block}",
        )
        fg.connect(f"pull_{name}", 0, f"head_{name}", 0)
    fg.block("music", "cfisac_music_localizer", (600, 200), config="cfg", n_sources=str(CFG.NC + 1))
    fg.block("fusion", "cfisac_fusion", (900, 200), config="cfg", association='"prior"')
    fg.block(
        "fix_file",
        "blocks_file_sink",
        (1200, 200),
        type="float",
        vlen="cfisac.item_size(cfg, 'fix')",
        file="fix_path",
        append="False",
        unbuffered="False",
    )
    fg.block(
        "recorder",
        "cfisac_sigmf_sink",
        (900, 700),
        config="cfg",
        path="capture",
        preset="rap_truth_geometry",
        overwrite="True",
    )
    for j in range(NR):
        fg.connect(f"head_rap{j + 1}", 0, "music", j)
        fg.connect("music", j, "fusion", j)
        fg.connect(f"head_rap{j + 1}", 0, "recorder", j)
    fg.connect("head_geometry", 0, "fusion", NR)
    fg.connect("head_truth", 0, "recorder", NR)
    fg.connect("head_geometry", 0, "recorder", NR + 1)
    fg.connect("fusion", 0, "fix_file", 0)
    return fg


if __name__ == "__main__":
    tap_side().write(HERE / "cfisac_hil_tap.grc")
    rap_side().write(HERE / "cfisac_hil_rap.grc")
