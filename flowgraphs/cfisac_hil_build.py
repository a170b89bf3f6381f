"""Write the hardware-in-the-loop flowgraph pair (a maintainer's tool; the .grc files are what
users open):

    .venv/bin/python flowgraphs/cfisac_hil_build.py
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_hil_tap.grc
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_hil_rap.grc

TAP side (``cfisac_hil_tap``): the network's transmit side and the simulated air: one CF-ISAC
TAP Side block (scenario, per-TAP MMSE estimation, precoder, transmitter; the simulation's
transmit front end, grc_parts.front_end_params; the precoder runs any algorithm, ``remote``
with ``remote_address`` asks a ``cfisac serve`` precoder service on another host) and the echo
channel. It serves
every RAP's snapshots, the sensing geometry and the ground truth on GNU Radio's own ZeroMQ
PUSH sinks (tags passed: ``cb`` and ``cfisac_config`` cross the link) at
``tcp://HOST:BASE_PORT + k`` (k = 0..NR-1 the RAPs, NR the geometry, NR+1 the truth), and
records what it sent.

RAP side (``cfisac_hil_rap``): what runs on the receive hosts: ZeroMQ PULL sources for the RAP
snapshots, geometry and truth (replace them by radio sources on a real testbed), one CF-ISAC
Head (aligned) through which all of them pass, one CF-ISAC RAP Side block (MUSIC per RAP,
fusion) whose positions go to ``fix_path`` (float32 items, blocks.layout.fix_layout), and a
SigMF capture of what it received for ``cfisac replay``. It stops after ``num_blocks`` coherence blocks, or
``idle_timeout`` seconds after the last block when the TAP side stopped first (GNU Radio's
ZeroMQ sources have no end-of-stream), and then prints what it measured (fix rate, position
error against the recorded truth) and writes it as JSON beside ``fix_path``. MUSIC assumes
``sources`` sources (0: MDL per block; Table I's 2x2 RAPs identify at most 2).

The two sides start in either order. A RAP side started first (or with the TAP side) receives
every stream from block 0. A RAP side started late joins the running streams: each stream
reaches it from a different block (ZeroMQ and GNU Radio buffers hold different amounts of
each, hundreds of blocks apart), some in the middle of a block. The head drops the partial
blocks and the blocks of the streams that are behind, starts every stream at the latest
stream's first block and logs one info line of what it skipped (a stream joined mid-way never
delivers its ``cfisac_config`` tag, so the TAP side's SystemConfig is not compared with the
RAP side's: build both from the same configuration). It then passes ``num_blocks`` aligned
blocks on every stream and ends, so MUSIC, fusion and the capture all get the same
``num_blocks`` blocks, ``fix_path`` holds ``num_blocks`` fixes, and the flowgraph ends (the
ZeroMQ sources once the TAP side has filled their buffers). The limit is in one place on purpose: a GNU Radio
Head per stream would count ``num_blocks`` from where each stream joined, and a limit on MUSIC,
fusion and the capture each from where its own inputs align (MUSIC, fed the RAP streams only,
aligns hundreds of blocks before fusion, which also waits for the geometry stream, and would
stop before fusion starts).
"""

from __future__ import annotations

from pathlib import Path

from grc_parts import (
    CFG,
    NR,
    Flowgraph,
    clean_exit,
    config,
    echo_channel,
    grc_wiring,
    inp,
    out,
    parameters,
    reference_chain,
    tap_side_block,
)

from gr_cfisac.blocks import head as head_block
from gr_cfisac.blocks import rap_side as rap_block

HERE = Path(__file__).resolve().parent
#: the streams crossing the ZeroMQ link, link k on port ``base_port + k``: (name, item length)
LINKS = [(f"rap{j + 1}", "cfg.MR") for j in range(NR)] + [
    ("geometry", "cfisac.item_size(cfg, 'geometry')"),
    ("truth", "cfisac.item_size(cfg, 'truth')"),
]


def _zeromq(fg: Flowgraph, ident: str, block_id: str, at: tuple[int, int], k: int) -> None:
    """A ZeroMQ PUSH sink or PULL source for link ``k`` of LINKS, tags passed."""
    fg.block(
        ident,
        block_id,
        at,
        type="complex",
        vlen=LINKS[k][1],
        address=f"'tcp://%s:%d' % (host, base_port + {k})",
        timeout="100",
        pass_tags="True",
        hwm="-1",
    )


def _recorder(
    fg: Flowgraph,
    at: tuple[int, int],
    raps: list[tuple[str, int]],
    truth: tuple[str, int],
    geometry: tuple[str, int],
) -> None:
    """A SigMF capture to ``capture`` of the RAP snapshots, truth and geometry, each stream
    given as ``(block, output port)``."""
    fg.block(
        "recorder",
        "cfisac_sigmf_sink",
        at,
        config="cfg",
        path="capture",
        preset="rap_truth_geometry",
        overwrite="True",
    )
    for port, (src, src_port) in enumerate([*raps, truth, geometry]):
        fg.connect(src, src_port, "recorder", port)


def tap_side() -> Flowgraph:
    """The TAP side: scenario, transmit front end and echo channel, served over ZeroMQ."""
    fg = Flowgraph(
        "cfisac_hil_tap",
        "CF-ISAC hardware-in-the-loop: TAP side",
        "no_gui",
        "Scenario, per-TAP MMSE estimation, precoder, transmitter and the simulated echo "
        "channel; serves the RAP snapshots, sensing geometry and ground truth over ZeroMQ "
        "PUSH sinks (tags passed) to cfisac_hil_rap.",
    )
    parameters(
        fg,
        [
            ("num_blocks", "intx", "0", "Coherence blocks (0: forever)", 400),
            ("seed", "intx", "1", "Seed", 560),
            ("algorithm", "str", "zf", "Precoder (name, .onnx or remote)", 680),
            ("sensing_fraction", "eng_float", "0.5", "Sensing power fraction", 860),
            ("host", "str", "127.0.0.1", "Bind address", 1040),
            ("base_port", "intx", "5600", "First port", 1200),
            ("capture", "str", "", "Record what is sent (folder/NAME)", 1340),
            ("remote_address", "str", "", "Precoder service (algorithm remote)", 1520),
        ],
    )
    config(fg)
    tap_side_block(fg, (8, 200), user_speed_mps="0.0", remote_address="remote_address")
    echo_channel(fg, (600, 300))
    ref = reference_chain()
    tap, echo = ref.tap, ref.echo
    grc_wiring(fg, {"tap": tap, "echo": echo}).connect_by_name("tap", "echo")  # TAPs, truth
    fg.block(
        "w_null",
        "blocks_null_sink",
        (600, 500),
        type="complex",
        vlen="cfisac.item_size(cfg, 'precoder')",
        num_inputs="1",
    )
    fg.block(
        "symbols_null",
        "blocks_null_sink",
        (600, 560),
        type="complex",
        vlen="cfg.K + 1",
        num_inputs="1",
    )
    fg.connect("tap", out(tap, "W"), "w_null", 0)
    fg.connect("tap", out(tap, "symbols"), "symbols_null", 0)
    raps = [("echo", out(echo, f"rap{j + 1}")) for j in range(NR)]
    truth, geometry = ("tap", out(tap, "truth")), ("tap", out(tap, "geometry"))
    for k, ((name, _), (src, port)) in enumerate(zip(LINKS, [*raps, geometry, truth])):
        _zeromq(fg, f"push_{name}", "zeromq_push_sink", (1500, 200 + 100 * k), k)
        fg.connect(src, port, f"push_{name}", 0)
    _recorder(fg, (1500, 900), raps, truth, geometry)
    clean_exit(fg, (8, 900))
    return fg


def rap_side() -> Flowgraph:
    """The RAP side: ZeroMQ sources, one aligned head, MUSIC per RAP, fusion to a file, and a
    capture."""
    fg = Flowgraph(
        "cfisac_hil_rap",
        "CF-ISAC hardware-in-the-loop: RAP side",
        "no_gui",
        "RAP snapshots, sensing geometry and ground truth from cfisac_hil_tap over ZeroMQ PULL "
        "sources (tags passed), through one CF-ISAC Head (aligned); MUSIC per RAP and fusion "
        "into a position; stops after num_blocks blocks. Start it before or after the TAP side: "
        "started late, it joins the running streams at the latest stream's first whole block "
        "and logs what it skipped.",
    )
    parameters(
        fg,
        [
            ("num_blocks", "intx", "100", "Coherence blocks", 400),
            ("host", "str", "127.0.0.1", "TAP-side host", 560),
            ("base_port", "intx", "5600", "First port", 720),
            ("fix_path", "str", "hil_fix.f32", "Positions (float32 fix items)", 880),
            ("capture", "str", "", "Record what is received (folder/NAME)", 1060),
            (
                "idle_timeout",
                "eng_float",
                "10",
                "End after this many idle seconds (0: never)",
                1240,
            ),
            ("sources", "intx", "0", "MUSIC sources (0: MDL per block)", 1420),
        ],
    )
    config(fg)
    # max_blocks: every output of the head is sized for 2 * max_blocks blocks of snapshots (tau
    # items), and its truth items are ~14 kB (32: ~200 MB of truth buffer, 16: ~100 MB); the
    # blocks it hands MUSIC per call are at most max_blocks, and MUSIC's per-call cost is
    # paid per call: 32 gives ~1.5x the blocks/s of 16 on a 4,000-block replay
    fg.block(
        "head",
        "cfisac_head",
        (300, 200),
        config="cfg",
        num_blocks="num_blocks",
        preset="rap_truth_geometry",
        max_blocks="32",
        idle_timeout_s="idle_timeout",
    )
    # ESPRIT starts the refinement where the array resolves the sources (the same peaks as
    # the coarse-to-fine search, searched where untrusted): ~1.2x the blocks/s of "fast"
    fg.block(
        "rap", "cfisac_rap_side", (600, 200), config="cfg", n_sources="sources", method='"esprit"'
    )
    head = head_block(CFG, preset="rap_truth_geometry")
    rap = rap_block(CFG, n_sources=0)
    # the head's ports are named by SigMF stream kind (gr_cfisac.blocks.sigmf_sink.KIND_ORDER)
    head_port = {f"rap{j + 1}": f"rap_echo{j}" for j in range(NR)}
    head_port |= {"truth": "truth0", "geometry": "geometry0"}
    wiring = grc_wiring(fg, {"head": head, "rap": rap})
    for k, (name, _) in enumerate(LINKS):
        _zeromq(fg, f"pull_{name}", "zeromq_pull_source", (8, 200 + 100 * k), k)
        fg.connect(f"pull_{name}", 0, "head", inp(head, head_port[name]))
    for name in [f"rap{j + 1}" for j in range(NR)] + ["geometry"]:
        wiring.connect(("head", head_port[name]), ("rap", name))
    fg.block(
        "fix_file",
        "blocks_file_sink",
        (900, 200),
        type="float",
        vlen="cfisac.item_size(cfg, 'fix')",
        file="fix_path",
        append="False",
        unbuffered="False",
    )
    fg.connect("rap", out(rap, "fix"), "fix_file", 0)
    raps = [("head", out(head, head_port[f"rap{j + 1}"])) for j in range(NR)]
    _recorder(
        fg,
        (900, 700),
        raps,
        ("head", out(head, head_port["truth"])),
        ("head", out(head, head_port["geometry"])),
    )
    # after the run (num_blocks reached, the TAP side gone quiet, or Ctrl-C): print what was
    # measured and write it as JSON beside the fixes
    fg.block(
        "summary",
        "snippet",
        (1200, 700),
        section="main_after_stop",
        priority="0",
        code="from gr_cfisac.blocks.fix_summary import report_run\nreport_run(self)",
    )
    clean_exit(fg, (8, 900))
    return fg


if __name__ == "__main__":
    tap_side().write(HERE / "cfisac_hil_tap.grc")
    rap_side().write(HERE / "cfisac_hil_rap.grc")
