"""Write the radio testbed templates (a maintainer's tool; the .grc files are what users open):

    .venv/bin/python flowgraphs/cfisac_radio_build.py
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_radio_tap.grc
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_radio_rap.grc

TAP side (``cfisac_radio_tap``): one CF-ISAC TAP Side block (scenario, per-TAP MMSE
estimation, precoder, transmitter; the simulation's transmit front end,
grc_parts.front_end_params), CF-ISAC Burst Time (the first item's ``tx_time`` on the radio-time
block grid that starts at ``start_time``) and a CF-ISAC Radio Sink that sends the TAPs ``taps``
through a UHD or SoapySDR radio (``driver``), or, without radios, writes them to a file or a
ZeroMQ PUSH address (``sink``) with the same tags.

RAP side (``cfisac_radio_rap``): a CF-ISAC Radio Source (the RAPs ``raps`` from a radio, or a
GNU Radio metadata file / ZeroMQ address ``source`` carrying the same rx_time tags), CF-ISAC
Time Align (whole coherence blocks of the same grid, numbered by time; overflows realigned and
reported), CF-ISAC Calibration (the file ``calibration``; none when empty), CF-ISAC Scene
Follower (truth and geometry of exactly those blocks, from the TAP side's seed), one CF-ISAC
Head (``num_blocks`` blocks, or ``idle_timeout`` seconds after the stream went quiet), the
CF-ISAC RAP Side (MUSIC per RAP, fusion) with its positions in ``fix_path``, and a SigMF
capture (``capture``) for ``cfisac replay`` / ``cfisac calibrate``. After the run it prints the
fixes and the receiver's timing (blocks aligned, breaks, blocks lost) and writes them as JSON
beside ``fix_path``.

Both print a radio that does not answer as one line naming the device arguments (a snippet
before the blocks are built). The radio parameters (sample rate, carrier, gain, antenna,
channel mapping, device arguments, clock/time sources, how radio time is set) are flowgraph
parameters, listed once in RADIO_PARAMS; docs/testbed.md says how to wire and run them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from grc_parts import (
    CFG,
    NR,
    NT,
    Flowgraph,
    clean_exit,
    config,
    grc_wiring,
    inp,
    out,
    parameters,
    reference_chain,
    tap_side_block,
)

from gr_cfisac.blocks import burst_time, calibrate, head, rap_side, scene_follower, time_align
from gr_cfisac.blocks._base import Port

HERE = Path(__file__).resolve().parent

#: the radio parameters both templates have: (name, type, default, label)
RADIO_PARAMS = [
    ("driver", "str", "uhd", "Radio: uhd, soapy; or file, zeromq (no radio)"),
    ("device_args", "str", "", "Device arguments (e.g. addr=192.168.10.2)"),
    ("samp_rate", "eng_float", "1e6", "Sample rate (S/s)"),
    ("carrier", "eng_float", "3.5e9", "Carrier (Hz)"),
    ("gain", "eng_float", "0", "Gain (dB)"),
    ("antenna", "str", "", "Antenna port ('' = default)"),
    ("channels", "str", "", "Device channel per antenna ('' = 0,1,...)"),
    ("clock_source", "str", "", "Clock source (internal, external, gpsdo)"),
    ("time_source", "str", "", "Time source (external, gpsdo)"),
    ("sync", "str", "pc_clock_next_pps", "Radio time: pc_clock_next_pps, pps, now, none"),
    ("start_time", "eng_float", "0", "Radio time of block 0 (s, same on every host)"),
]


def radio_params(fg: Flowgraph, first_x: int, extra: list[tuple[str, str, str, str]]) -> None:
    """The flowgraph parameters: RADIO_PARAMS then ``extra``, along the top."""
    rows = [*RADIO_PARAMS, *extra]
    parameters(fg, [(n, t, v, label, first_x + 170 * i) for i, (n, t, v, label) in enumerate(rows)])


def radio_block_params() -> dict[str, str]:
    """What a Radio Source / Sink block takes from the flowgraph parameters."""
    return {
        "driver": "driver",
        "device_args": "device_args",
        "samp_rate": "samp_rate",
        "center_freq": "carrier",
        "gain": "gain",
        "antenna": "antenna",
        "channels": "channels",
        "clock_source": "clock_source",
        "time_source": "time_source",
        "sync": "sync",
    }


def one_line_errors(fg: Flowgraph, prog: str) -> None:
    """A radio that does not answer (or another bad parameter) as one line, not a traceback."""
    fg.block(
        "errors",
        "snippet",
        (8, 100),
        section="init_before_blocks",
        priority="0",
        code="from gr_cfisac.blocks.radio_device import one_line_errors\n"
        f"one_line_errors({prog!r})",
    )


def stub(in_ports: list, out_ports: list) -> SimpleNamespace:
    """A reference for a block whose Python cannot be built here (it opens a radio or a
    file): just its named ports, which is all a grc_wiring needs."""
    return SimpleNamespace(in_ports=in_ports, out_ports=out_ports, name=lambda: "stub")


def radio_ports(n: int, prefix: str, vlen: int, per: int, first: int) -> list:
    return [Port(f"{prefix}{i + first}", np.complex64, vlen, per) for i in range(n)]


def tap_template() -> Flowgraph:
    """The TAP side: TAP Side -> Burst Time -> Radio Sink."""
    fg = Flowgraph(
        "cfisac_radio_tap",
        "CF-ISAC radio testbed: TAP side",
        "no_gui",
        "Scenario, per-TAP MMSE estimation, precoder and transmitter; the first burst timed "
        "on the radio-time block grid (tx_time); the TAPs sent through a UHD or SoapySDR "
        "radio, or without radios to a file or ZeroMQ (driver file / zeromq, sink).",
    )
    radio_params(
        fg,
        200,
        [
            ("taps", "str", "", "TAPs this radio sends, 0-based ('' = all)"),
            ("sink", "str", "", "File or ZeroMQ address (driver file / zeromq)"),
            ("num_blocks", "intx", "0", "Coherence blocks (0: forever)"),
            ("seed", "intx", "1", "Seed (the same on every host)"),
            ("algorithm", "str", "zf", "Precoder (name, .onnx or remote)"),
            ("sensing_fraction", "eng_float", "0.5", "Sensing power fraction"),
        ],
    )
    config(fg)
    one_line_errors(fg, "cfisac_radio_tap")
    tap_side_block(fg, (8, 260), user_speed_mps="0.0")
    fg.block(
        "burst",
        "cfisac_burst_time",
        (600, 260),
        config="cfg",
        samp_rate="samp_rate",
        start_time_s="start_time",
        num_ports="0",
    )
    fg.block(
        "radio",
        "cfisac_radio_sink",
        (900, 260),
        config="cfg",
        taps="taps",
        sink="sink",
        tx_scale="0",
        **radio_block_params(),
    )
    tap = reference_chain().tap
    burst = burst_time(CFG, 1e6)
    radio = stub(radio_ports(NT, "tap", CFG.MT, CFG.tau, 0), [])
    w = grc_wiring(fg, {"tap": tap, "burst": burst, "radio": radio})
    w.connect_by_name("tap", "burst")  # tap0 ..
    w.connect_by_name("burst", "radio")
    for k, (name, vlen) in enumerate(
        (
            ("symbols", "cfg.K + 1"),
            ("truth", "cfisac.item_size(cfg, 'truth')"),
            ("W", "cfisac.item_size(cfg, 'precoder')"),
        )
    ):
        fg.block(
            f"{name}_null",
            "blocks_null_sink",
            (600, 900 + 80 * k),
            type="complex",
            vlen=vlen,
            num_inputs="1",
        )
        fg.connect("tap", out(tap, name), f"{name}_null", 0)
    clean_exit(fg, (8, 900))
    return fg


def rap_template() -> Flowgraph:
    """The RAP side: Radio Source -> Time Align -> Calibration -> Head (with the Scene
    Follower's truth and geometry) -> RAP Side -> fixes, and a SigMF capture."""
    fg = Flowgraph(
        "cfisac_radio_rap",
        "CF-ISAC radio testbed: RAP side",
        "no_gui",
        "The RAPs received by a UHD or SoapySDR radio (or without radios from a GNU Radio "
        "metadata file or ZeroMQ with the same rx_time tags), cut into the coherence blocks "
        "of the radio-time grid (overflows realigned and reported), calibrated, localized by "
        "MUSIC per RAP and fusion; fixes to fix_path, a SigMF capture, a summary at the end.",
    )
    radio_params(
        fg,
        200,
        [
            ("raps", "str", "", "RAPs this radio receives, 1-based ('' = all)"),
            ("source", "str", "", "Metadata file or ZeroMQ address (driver file / zeromq)"),
            ("record", "str", "", "Record the radio stream to (metadata file)"),
            ("calibration", "str", "", "Calibration file ('' = none)"),
            ("num_blocks", "intx", "100", "Coherence blocks (0: until the stream ends)"),
            ("seed", "intx", "1", "Seed of the TAP side's scenario"),
            ("fix_path", "str", "radio_fix.f32", "Positions (float32 fix items)"),
            ("capture", "str", "", "Record the aligned blocks (folder/NAME, SigMF)"),
            ("sources", "intx", "0", "MUSIC sources (0: MDL per block)"),
            ("music_threads", "intx", "1", "MUSIC threads (2 pays on 4x4 RAPs)"),
            ("idle_timeout", "eng_float", "10", "End after this many idle seconds (0: never)"),
        ],
    )
    config(fg)
    one_line_errors(fg, "cfisac_radio_rap")
    fg.block(
        "radio",
        "cfisac_radio_source",
        (8, 260),
        config="cfg",
        raps="raps",
        start_time_s="start_time",
        source="source",
        record="record",
        **radio_block_params(),
    )
    fg.block(
        "align",
        "cfisac_time_align",
        (300, 260),
        config="cfg",
        samp_rate="samp_rate",
        start_time_s="start_time",
        num_ports="0",
        max_blocks="64",
    )
    fg.block("cal", "cfisac_calibrate", (550, 260), config="cfg", path="calibration")
    fg.block(
        "scene",
        "cfisac_scene_follower",
        (550, 560),
        config="cfg",
        seed="seed",
        scene='"paper"',
        user_speed_mps="0.0",
        target_speed_mps="0.0",
    )
    # max_blocks: every output of the head is sized for 2 * max_blocks blocks of snapshots (tau
    # items), and its truth items are ~14 kB (32: ~200 MB of truth buffer, 16: ~100 MB); the
    # blocks it hands MUSIC per call are at most max_blocks, and MUSIC's per-call cost is
    # paid per call: 32 gives ~1.5x the blocks/s of 16 on a 4,000-block replay
    fg.block(
        "head",
        "cfisac_head",
        (800, 260),
        config="cfg",
        num_blocks="num_blocks",
        preset="rap_truth_geometry",
        max_blocks="32",
        idle_timeout_s="idle_timeout",
    )
    # ESPRIT starts the refinement where the array resolves the sources (the same peaks as
    # the coarse-to-fine search, searched where untrusted): ~1.2x the blocks/s of "fast";
    # music_threads: threads sharing MUSIC's calls (1.2-1.3x on 4x4 RAPs with two cores)
    fg.block(
        "rap", "cfisac_rap_side", (1100, 260), config="cfg", n_sources="sources",
        method='"esprit"', workers="music_threads",
    )  # fmt: skip
    radio = stub([], radio_ports(NR, "rap", CFG.MR, 1, 1))
    align, cal = time_align(CFG, 1e6), calibrate(CFG)
    scene, hd = scene_follower(CFG), head(CFG, preset="rap_truth_geometry")
    rap = rap_side(CFG, n_sources=0)
    w = grc_wiring(
        fg,
        {"radio": radio, "align": align, "cal": cal, "scene": scene, "head": hd, "rap": rap},
    )
    w.connect_by_name("radio", "align")  # rap1 ..
    w.connect_by_name("align", "cal")
    w.connect(("cal", "rap1"), ("scene", "clock"))
    # the head's ports are named by SigMF stream kind (gr_cfisac.blocks.sigmf_sink.KIND_ORDER)
    head_port = {f"rap{j + 1}": f"rap_echo{j}" for j in range(NR)}
    head_port |= {"truth": "truth0", "geometry": "geometry0"}
    for j in range(NR):
        w.connect(("cal", f"rap{j + 1}"), ("head", head_port[f"rap{j + 1}"]))
    w.connect(("scene", "truth"), ("head", "truth0"))
    w.connect(("scene", "geometry"), ("head", "geometry0"))
    for name in [f"rap{j + 1}" for j in range(NR)] + ["geometry"]:
        w.connect(("head", head_port[name]), ("rap", name))
    fg.block(
        "fix_file",
        "blocks_file_sink",
        (1400, 260),
        type="float",
        vlen="cfisac.item_size(cfg, 'fix')",
        file="fix_path",
        append="False",
        unbuffered="False",
    )
    fg.connect("rap", out(rap, "fix"), "fix_file", 0)
    fg.block(
        "recorder",
        "cfisac_sigmf_sink",
        (1100, 600),
        config="cfg",
        path="capture",
        preset="rap_truth_geometry",
        overwrite="True",
    )
    streams = [head_port[f"rap{j + 1}"] for j in range(NR)] + ["truth0", "geometry0"]
    for port, name in enumerate(streams):
        fg.connect("head", out(hd, name), "recorder", port)
    assert inp(hd, "geometry0") == NR + 1
    fg.block(
        "summary",
        "snippet",
        (1400, 600),
        section="main_after_stop",
        priority="0",
        code="from gr_cfisac.blocks.radio_summary import report_radio_run\nreport_radio_run(self)",
    )
    clean_exit(fg, (8, 900))
    return fg


if __name__ == "__main__":
    tap_template().write(HERE / "cfisac_radio_tap.grc")
    rap_template().write(HERE / "cfisac_radio_rap.grc")
