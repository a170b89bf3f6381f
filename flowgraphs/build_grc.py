"""Write the .grc flowgraphs of this folder (a maintainer's tool; the .grc files are what users open).

    .venv/bin/python flowgraphs/build_grc.py            # rewrite cfisac_sim.grc, cfisac_sim_qt.grc
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_sim.grc

The wiring follows DESIGN.md: one port per access point, per-block data on streams. Port
numbers are GRC's: ports with a multiplicity expand in place, numbered in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from gr_cfisac.blocks.music_localizer import display_grid
from gr_cfisac.config import SystemConfig

HERE = Path(__file__).resolve().parent
CFG = SystemConfig()  # the flowgraphs' default network (Table I)
#: the QT flowgraph displays the MUSIC spectrum of one coherence block in this many
SPECTRUM_EVERY = 8


class Flowgraph:
    def __init__(self, fg_id: str, title: str, generate: str, description: str) -> None:
        self.options = {
            "parameters": {
                "author": "gr-cfisac",
                "category": "[cfisac]",
                "description": description,
                "generate_options": generate,
                "id": fg_id,
                "output_language": "python",
                "run": "True",
                "run_options": "run",
                "title": title,
                "window_size": "(1280, 900)",
            },
            "states": {"coordinate": [8, 8], "rotation": 0, "state": "enabled"},
        }
        self.blocks: list[dict] = []
        self.connections: list[list[str]] = []
        self._x, self._y = 8, 160

    def block(self, ident: str, block_id: str, at: tuple[int, int] | None = None, **params) -> str:
        if at is None:
            at = (self._x, self._y)
            self._y += 120
        self.blocks.append(
            {
                "name": ident,
                "id": block_id,
                "parameters": {k: str(v) for k, v in params.items()},
                "states": {"coordinate": list(at), "rotation": 0, "state": "enabled"},
            }
        )
        return ident

    def connect(self, src: str, src_port: int | str, dst: str, dst_port: int | str) -> None:
        self.connections.append([src, str(src_port), dst, str(dst_port)])

    def write(self, path: Path) -> None:
        doc = {
            "options": self.options,
            "blocks": self.blocks,
            "connections": self.connections,
            "metadata": {"file_format": 1, "grc_version": "3.10.5.1"},
        }
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=100))


def parameter(fg: Flowgraph, name: str, kind: str, value: str, label: str, at) -> None:
    fg.block(name, "parameter", at, label=label, type=kind, value=value, short_id="", hide="none")


def chain(fg: Flowgraph, num_blocks: str, **music_params: str) -> None:
    """The whole CF-ISAC chain with the cfisac blocks, ids as used by the demo and tests."""
    NT, K, NR = CFG.NT, CFG.K, CFG.NR
    fg.block("cfg", "cfisac_config", (200, 8), MR_shape="(rap_rows, rap_cols)")
    fg.block(
        "scenario",
        "cfisac_scenario_source",
        (8, 200),
        config="cfg",
        seed="seed",
        num_blocks=num_blocks,
        scene='"paper"',
        user_speed_mps="user_speed_mps",
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
    )
    fg.block("transmitter", "cfisac_transmitter", (900, 200), config="cfg", seed="seed + 1")
    fg.block("downlink", "cfisac_downlink_channel", (1200, 120), config="cfg", seed="seed + 2")
    fg.block("echo", "cfisac_echo_channel", (1200, 420), config="cfg", seed="seed + 3")
    fg.block(
        "music",
        "cfisac_music_localizer",
        (1500, 420),
        config="cfg",
        n_sources=str(CFG.NC + 1),
        **music_params,
    )
    fg.block("fusion", "cfisac_fusion", (1800, 420), config="cfg", association='"prior"')
    fg.block(
        "metrics",
        "cfisac_metrics_sink",
        (2100, 200),
        config="cfg",
        with_sensing="True",
        csv_path="csv_path",
        print_interval="print_interval",
    )
    truth, geometry = 2 * NT, 2 * NT + 1
    for i in range(NT):
        fg.connect("scenario", i, "estimator", i)
        fg.connect("scenario", NT + i, "estimator", NT + i)
        fg.connect("estimator", i, "precoder", i)
        fg.connect("precoder", i, "transmitter", i)
        fg.connect("transmitter", i, "downlink", i)
        fg.connect("transmitter", i, "echo", i)
    fg.connect("scenario", geometry, "precoder", NT)
    fg.connect("scenario", truth, "downlink", NT)
    fg.connect("scenario", truth, "echo", NT)
    for k in range(K):
        fg.connect("downlink", k, "metrics", k)
    fg.connect("transmitter", NT, "metrics", K)
    fg.connect("scenario", truth, "metrics", K + 1)
    fg.connect("precoder", NT, "metrics", K + 2)
    fg.connect("scenario", geometry, "metrics", K + 3)
    for j in range(NR):
        fg.connect("echo", j, "music", j)
        fg.connect("echo", j, "metrics", K + 4 + j)
        fg.connect("music", j, "fusion", j)
    fg.connect("scenario", geometry, "fusion", NR)
    fg.connect("fusion", 0, "metrics", K + 4 + NR)


def common_parameters(fg: Flowgraph, num_blocks: str) -> None:
    parameter(fg, "num_blocks", "intx", num_blocks, "Coherence blocks (0: forever)", (400, 8))
    parameter(fg, "seed", "intx", "1", "Seed", (560, 8))
    parameter(fg, "algorithm", "str", "zf", "Precoder (name or .onnx)", (680, 8))
    parameter(fg, "sensing_fraction", "eng_float", "0.3", "Sensing power fraction", (860, 8))
    parameter(fg, "user_speed_mps", "eng_float", "0", "User speed (m/s)", (1040, 8))
    parameter(fg, "csv_path", "str", "", "Metrics CSV", (1200, 8))
    parameter(fg, "print_interval", "intx", "100", "Print every N blocks", (1340, 8))
    parameter(fg, "rap_rows", "intx", "2", "RAP array rows", (1500, 8))
    parameter(fg, "rap_cols", "intx", "2", "RAP array columns", (1640, 8))


def headless() -> Flowgraph:
    fg = Flowgraph(
        "cfisac_sim",
        "CF-ISAC simulation (headless)",
        "no_gui",
        "The whole CF-ISAC chain on the Table-I network: uplink pilots, MMSE estimation, "
        "precoding, downlink, echoes, MUSIC, fusion and metrics; runs num_blocks coherence "
        "blocks and stops.",
    )
    common_parameters(fg, "300")
    chain(fg, "num_blocks")
    return fg


def with_gui() -> Flowgraph:
    fg = Flowgraph(
        "cfisac_sim_qt",
        "CF-ISAC simulation",
        "qt_gui",
        "The CF-ISAC chain with live displays: a user's equalized constellation, the MUSIC "
        "spectrum of RAP 1 and the measured rates over time.",
    )
    common_parameters(fg, "0")
    step = 4.0
    chain(fg, "num_blocks", display_step_deg=str(step))
    K, NR = CFG.K, CFG.NR
    az, el = display_grid(step)
    # one spectrum in SPECTRUM_EVERY blocks is plenty for the eye and spares the GUI thread
    fg.block(
        "spectrum_keep",
        "blocks_keep_one_in_n",
        (1800, 540),
        type="float",
        n=str(SPECTRUM_EVERY),
        vlen=f"cfisac.display_size({step})",
    )
    fg.block(
        "spectrum_stream",
        "blocks_vector_to_stream",
        (1800, 620),
        type="float",
        num_items=f"cfisac.display_size({step})",
        vlen="1",
    )
    fg.block(
        "spectrum_raster",
        "qtgui_time_raster_sink_x",
        (2100, 620),
        type="float",
        name='"MUSIC spectrum, RAP 1 (dB below its peak)"',
        ncols=str(el.size),
        nrows=str(az.size),
        x_label='"elevation (deg)"',
        x_start_value=str(float(np.degrees(el[0]))),
        x_end_value=str(float(np.degrees(el[-1]))),
        y_label='"azimuth (deg)"',
        # the raster draws the first row (azimuth -180) at the top
        y_start_value=str(float(np.degrees(az[-1]))),
        y_end_value=str(float(np.degrees(az[0]))),
        samp_rate="1",
        # the raster draws a row only if update_time has passed since the last one and drops
        # the others: with a period > 0 a spectrum's rows would land on the wrong azimuths
        update_time="0",
        grid="False",
        zmin="-30",
        zmax="0",
        gui_hint="(0, 1, 1, 1)",
        mult="[]",
        offset="[]",
    )
    fg.connect("music", NR, "spectrum_keep", 0)
    fg.connect("spectrum_keep", 0, "spectrum_stream", 0)
    fg.connect("spectrum_stream", 0, "spectrum_raster", 0)
    fg.block(
        "rate_streams",
        "blocks_vector_to_streams",
        (2400, 200),
        type="float",
        num_streams=str(K + NR),
        vlen="1",
    )
    labels = [f"'user {k + 1}'" for k in range(K)] + [f"'RAP {j + 1}'" for j in range(NR)]
    time_params = {f"label{i + 1}": labels[i] for i in range(K + NR)}
    fg.block(
        "rates_plot",
        "qtgui_time_sink_x",
        (2700, 200),
        type="float",
        name='"Measured rates (bps/Hz) per coherence block"',
        nconnections=str(K + NR),
        size="200",
        srate="1",
        autoscale="True",
        ymin="0",
        ymax="10",
        update_time="0.10",
        gui_hint="(1, 0, 1, 2)",
        legend="True",
        entags="False",
        ylabel='"rate (bps/Hz)"',
        **time_params,
    )
    fg.connect("metrics", 0, "rate_streams", 0)
    for i in range(K + NR):
        fg.connect("rate_streams", i, "rates_plot", i)
    fg.block(
        "constellation",
        "qtgui_const_sink_x",
        (2400, 420),
        type="complex",
        name='"User 1, equalized"',
        size="768",
        autoscale="False",
        xmin="-2",
        xmax="2",
        ymin="-2",
        ymax="2",
        nconnections="1",
        update_time="0.10",
        gui_hint="(0, 0, 1, 1)",
    )
    fg.connect("metrics", 1, "constellation", 0)
    return fg


if __name__ == "__main__":
    headless().write(HERE / "cfisac_sim.grc")
    with_gui().write(HERE / "cfisac_sim_qt.grc")
    print("wrote", HERE / "cfisac_sim.grc", HERE / "cfisac_sim_qt.grc")
