"""The radio testbed templates (flowgraphs/cfisac_radio_tap.grc, cfisac_radio_rap.grc) run
without radios, as CI can: the RAP side reads a GNU Radio metadata file carrying the radio's
rx_time tags (started before the start time, one overflow), aligns its coherence blocks on the
radio-time grid, reports the blocks the overflow lost, applies a calibration that removes a
per-antenna phase error, and localizes the target; the TAP side sends its TAPs over ZeroMQ with
the first burst's tx_time. A radio that does not answer is one line naming the device
arguments. The builder writes the committed .grc files, and GNU Radio Companion opens them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pmt
import pytest
from test_grc_gui import GRC, GRC_PROBE, display, gui_env, run_probe  # noqa: F401 - fixtures

from gnuradio import blocks, gr
from gr_cfisac import calibration
from gr_cfisac.blocks import echo_channel, tap_side
from gr_cfisac.blocks.chain import SEED_OFFSETS
from gr_cfisac.blocks.radio_sink import auto_scale
from gr_cfisac.blocks.time_align import time_from_pmt, time_to_pmt
from gr_cfisac.blocks.wiring import Wiring, port_index
from gr_cfisac.config import SystemConfig
from gr_cfisac.sigmf_io import read_capture
from gr_cfisac.timing import RadioTime

ROOT = Path(__file__).resolve().parents[1]
FLOWGRAPHS = ROOT / "flowgraphs"
CFG = SystemConfig()  # the templates' network (Table I)
BLOCKS, RATE, START = 40, 1e6, 5.0
PRE = 37  # the radio started this many samples before the start time
GAP = (10 * CFG.tau + 50, 13 * CFG.tau + 20)  # grid samples an overflow lost: blocks 10..13
SENT = [cb for cb in range(BLOCKS) if not 10 <= cb <= 13]


def run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FLOWGRAPHS / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def network_streams(num_blocks: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """What the TAP side sends (TAP outputs, NT x (n, MT)) and the RAPs receive (n, NR, MR)
    over the simulated channel, seed 1, 50 % sensing power (the templates' defaults)."""
    tb = gr.top_block()
    tap = tap_side(CFG, seed=1, num_blocks=num_blocks, sensing_fraction=0.5)
    echo = echo_channel(CFG, seed=1 + SEED_OFFSETS["echo"])
    Wiring(tb, {"tap": tap, "echo": echo}).connect_by_name("tap", "echo")
    for name in ("W", "symbols"):
        p = port_index(tap, name, True)
        tb.connect((tap, p), blocks.null_sink(gr.sizeof_gr_complex * tap.out_ports[p].vlen))
    raps, taps = [], []
    for j in range(CFG.NR):
        raps.append(blocks.vector_sink_c(CFG.MR))
        tb.connect((echo, port_index(echo, f"rap{j + 1}", True)), raps[-1])
    for i in range(CFG.NT):
        taps.append(blocks.vector_sink_c(CFG.MT))
        tb.connect((tap, port_index(tap, f"tap{i}", True)), taps[-1])
    tb.run()
    rap = np.stack([np.array(s.data(), np.complex64).reshape(-1, CFG.MR) for s in raps], 1)
    return rap, [np.array(s.data(), np.complex64).reshape(-1, CFG.MT) for s in taps]


def tag(offset: int, key: str, value) -> gr.tag_t:
    t = gr.tag_t()
    t.offset, t.key, t.value = offset, pmt.intern(key), value
    return t


def write_radio_file(path: Path, rap: np.ndarray) -> None:
    """The RAPs' stream as a radio would deliver it, to a GNU Radio metadata file: PRE noise
    samples before the start time, the samples of GAP missing, rx_time on the first item and
    on the first after the gap."""
    n = rap.shape[0]
    rng = np.random.default_rng(0)
    pre = (rng.standard_normal((PRE, CFG.NR * CFG.MR)) + 0j).astype(np.complex64)
    x = np.concatenate([pre, rap.reshape(n, -1)])
    grid = np.arange(-PRE, n)
    keep = (grid < GAP[0]) | (grid >= GAP[1])
    x, grid = x[keep], grid[keep]
    start = RadioTime.of(START)
    after = int(np.argmax(grid >= GAP[1]))
    tags = [
        tag(0, "rx_time", time_to_pmt(start.plus_samples(-PRE, RATE))),
        tag(0, "rx_rate", pmt.from_double(RATE)),
        tag(after, "rx_time", time_to_pmt(start.plus_samples(GAP[1], RATE))),
    ]
    tb = gr.top_block()
    src = blocks.vector_source_c(x.ravel().tolist(), False, x.shape[1], tags)
    sink = blocks.file_meta_sink(
        gr.sizeof_gr_complex * x.shape[1],
        str(path),
        RATE,
        1.0,
        blocks.GR_FILE_FLOAT,
        True,
        1 << 24,
        pmt.make_dict(),
        False,
    )
    tb.connect(src, sink)
    tb.run()
    sink.close()


@pytest.fixture(scope="module")
def phase_error():
    """A per-antenna phase error of every RAP's receive chains (NR, MR)."""
    rng = np.random.default_rng(3)
    return np.exp(1j * rng.uniform(-np.pi, np.pi, (CFG.NR, CFG.MR)))


@pytest.fixture(scope="module")
def radio_file(tmp_path_factory, phase_error):
    """The metadata file of a receiver with phase errors, and a calibration file removing them."""
    tmp = tmp_path_factory.mktemp("radio")
    rap, _ = network_streams(BLOCKS)
    write_radio_file(tmp / "radio.dat", (rap * phase_error[None]).astype(np.complex64))
    raps = {
        j + 1: calibration.RapCalibration(j + 1, 1 / phase_error[j], np.zeros(CFG.MR))
        for j in range(CFG.NR)
    }
    calibration.save(calibration.Calibration(CFG.MR_shape, raps), tmp / "cal.json")
    return tmp


def run_rap(tmp: Path, name: str, *extra: str) -> tuple[dict, str]:
    done = run(
        "cfisac_radio_rap.py",
        "--driver=file",
        f"--source={tmp / 'radio.dat'}",
        f"--samp-rate={RATE}",
        f"--start-time={START}",
        "--num-blocks=0",
        "--idle-timeout=0",
        f"--fix-path={tmp / name}.f32",
        f"--capture={tmp / name}",
        *extra,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((tmp / f"{name}.json").read_text()), done.stdout + done.stderr


def test_rap_template_aligns_reports_the_overflow_calibrates_and_localizes(radio_file):
    summary, out = run_rap(radio_file, "cal", f"--calibration={radio_file / 'cal.json'}")
    timing = summary["timing"]
    # the blocks of the grid: from block 0 (the samples before the start dropped), 10..13 lost
    assert timing["first_cb"] == 0 and timing["blocks_aligned"] == len(SENT)
    assert (timing["breaks"], timing["blocks_lost"]) == (1, 4)
    assert timing["samples_lost"] == GAP[1] - GAP[0]
    assert timing["losses"] == [
        {
            "first_lost": 10,
            "blocks_lost": 4,
            "samples_lost": GAP[1] - GAP[0],
            "resumed_cb": 14,
            "rx_time_s": pytest.approx(START + GAP[1] / RATE),
        }
    ]
    assert "rx_time jumped" in out and "4 coherence blocks lost (10 .. 13)" in out
    assert "1 break(s) in the stream, 4 block(s) lost" in out
    # the capture holds the aligned blocks with their grid indices, truth followed them
    cap = read_capture(radio_file / "cal.sigmf-collection")
    for rec in cap.recordings:
        assert [b.cb for b in rec.blocks()] == SENT, rec.name
    assert summary["blocks"] == len(SENT)
    # calibrated: the target is localized as on an ideal array (Table I, MDL per block)
    assert summary["blocks_with_fix"] >= 0.8, summary
    assert summary["position_median_error_m"] < 4.0, summary


def test_rap_template_shares_music_between_threads_with_the_same_fixes(radio_file, phase_error):
    # its own calibration file (a run named "cal" writes its summary to cal.json)
    raps = {
        j + 1: calibration.RapCalibration(j + 1, 1 / phase_error[j], np.zeros(CFG.MR))
        for j in range(CFG.NR)
    }
    path = calibration.save(
        calibration.Calibration(CFG.MR_shape, raps), radio_file / "threads_cal.json"
    )
    cal = f"--calibration={path}"
    one, _ = run_rap(radio_file, "threads1", cal)
    two, _ = run_rap(radio_file, "threads2", cal, "--music-threads=2")
    fixes = [np.fromfile(radio_file / f"{n}.f32", np.float32) for n in ("threads1", "threads2")]
    assert fixes[0].size == fixes[1].size > 0
    np.testing.assert_allclose(fixes[1], fixes[0], rtol=1e-4, atol=1e-4, equal_nan=True)
    assert two["blocks_with_fix"] == one["blocks_with_fix"]


def test_rap_template_without_calibration_is_broken_by_the_phase_error(radio_file):
    summary, _ = run_rap(radio_file, "raw")
    assert summary["timing"]["blocks_lost"] == 4
    assert summary["blocks_with_fix"] < 0.5, summary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tap_template_sends_its_taps_over_zeromq_with_the_first_bursts_time():
    """TAP 1 and 3 (of Table I's 8) over ZeroMQ: the items are those TAPs' antennas (the TAP
    Side's samples, scaled to the radio's range), the first carries tx_time = start time."""
    from gnuradio import zeromq

    address = f"tcp://127.0.0.1:{free_port()}"
    n_blocks = 6
    proc = subprocess.Popen(
        [
            sys.executable,
            str(FLOWGRAPHS / "cfisac_radio_tap.py"),
            "--driver=zeromq",
            f"--sink={address}",
            "--taps=1,3",
            f"--samp-rate={RATE}",
            f"--start-time={START}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        tb = gr.top_block()
        width = 2 * CFG.MT
        src = zeromq.pull_source(gr.sizeof_gr_complex, width, address, 100, True, -1)
        head = blocks.head(gr.sizeof_gr_complex * width, n_blocks * CFG.tau)
        sink = blocks.vector_sink_c(width)
        tb.connect(src, head, sink)
        tb.start()
        tb.wait()  # ends after n_blocks blocks (a hang here is the failure)
    finally:
        proc.kill()
        out, _ = proc.communicate()
    got = np.array(sink.data(), np.complex64).reshape(-1, width)
    assert len(got) == n_blocks * CFG.tau, out[-3000:]
    _, taps = network_streams(n_blocks)
    want = np.concatenate([taps[1], taps[3]], axis=1)[: len(got)] * auto_scale(CFG)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    rms = np.sqrt(np.mean(np.abs(got) ** 2))
    assert 0.05 < rms < 0.5  # in the DAC's range
    tags = {(int(t.offset), pmt.symbol_to_string(t.key)): t.value for t in sink.tags()}
    assert time_from_pmt(tags[(0, "tx_time")]) == RadioTime.of(START)
    cbs = sorted(k[0] for k in tags if k[1] == "cb")
    assert cbs == [b * CFG.tau for b in range(n_blocks)]


@pytest.mark.parametrize(
    "script, driver, args",
    [
        ("cfisac_radio_rap.py", "uhd", "addr=192.0.2.1"),
        ("cfisac_radio_tap.py", "uhd", "addr=192.0.2.1"),
        ("cfisac_radio_rap.py", "soapy", "driver=uhd,addr=192.0.2.1"),
    ],
)
def test_a_radio_that_does_not_answer_is_one_line_naming_the_device_args(script, driver, args):
    """192.0.2.1 (TEST-NET-1) has no radio: the flowgraph stops at once (bounded: a hang is a
    failure) with one line naming the device arguments, no traceback."""
    done = run(script, f"--driver={driver}", f"--device-args={args}", timeout=60)
    assert done.returncode != 0
    err = done.stderr
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith(f"{script[:-3]}: error: no {driver} radio answers")
    assert f"device_args='{args}'" in lines[0]


def test_builder_writes_the_committed_templates(tmp_path):
    """The .grc files are what cfisac_radio_build.py writes (edit the builder, not the .grc)."""
    code = (
        "import sys; sys.path.insert(0, 'flowgraphs')\n"
        "from pathlib import Path\n"
        "import cfisac_radio_build as b\n"
        f"b.tap_template().write(Path({str(tmp_path)!r}) / 'tap.grc')\n"
        f"b.rap_template().write(Path({str(tmp_path)!r}) / 'rap.grc')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    for side in ("tap", "rap"):
        committed = (FLOWGRAPHS / f"cfisac_radio_{side}.grc").read_text()
        assert (tmp_path / f"{side}.grc").read_text() == committed, side


def test_grc_opens_the_templates_headless(tmp_path, gui_env, display):  # noqa: F811
    """gnuradio-companion loads each template without unknown blocks or errors (under Xvfb)."""
    for side in ("tap", "rap"):
        report, shot = tmp_path / f"{side}.json", tmp_path / f"{side}.png"
        env = dict(gui_env, DISPLAY=display)
        grc_file = FLOWGRAPHS / f"cfisac_radio_{side}.grc"
        out = run_probe(GRC_PROBE, [str(report), str(shot), str(GRC), str(grc_file)], env, 25)
        assert report.exists(), f"GNU Radio Companion did not come up:\n{out[-3000:]}"
        seen = json.loads(report.read_text())
        assert "Error while loading" not in out, out[-3000:]
        assert seen["title"].startswith(grc_file.name), seen["title"]
        assert seen["dummy_blocks"] == [] and seen["errors"] == [], seen
        radio = "cfisac_radio_sink" if side == "tap" else "cfisac_radio_source"
        assert radio in seen["flowgraph_blocks"]


def test_grcc_compiles_the_templates(tmp_path):
    env = dict(os.environ, GRC_BLOCKS_PATH=str(ROOT / "grc"), QT_QPA_PLATFORM="offscreen")
    for side in ("tap", "rap"):
        done = subprocess.run(
            [
                sys.executable,
                "/usr/bin/grcc",
                "-o",
                str(tmp_path),
                str(FLOWGRAPHS / f"cfisac_radio_{side}.grc"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "flow control" not in done.stdout + done.stderr  # the radio blocks pace it
