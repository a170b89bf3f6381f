"""The CF-ISAC Calibration block: applies a calibration file's corrections to every RAP's
stream in a flowgraph as the core's Corrector does (filters restarted at a jump in the block
indices), passes RAPs the file does not list, and refuses a bad file when built."""

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac import calibration
from gr_cfisac.blocks.calibrate import calibrate
from gr_cfisac.config import SystemConfig

CFG = SystemConfig(NT=2, NR=2, MT_shape=(1, 2), MR_shape=(2, 2), K=2, NC=1, tau_c=22, tau_p=2)
TAU, MR = CFG.tau, CFG.MR


def cb_tag(offset: int, cb: int) -> gr.tag_t:
    t = gr.tag_t()
    t.offset, t.key, t.value = offset, pmt.intern("cb"), pmt.from_uint64(cb)
    return t


def test_block_applies_the_files_corrections(tmp_path, rng):
    gain = np.exp(1j * np.array([0.0, 1.0, -2.0, 0.5])) * np.array([1.0, 1.2, 0.8, 1.0])
    delay = np.array([0.0, 2.0, 0.5, 1.0])
    cal = calibration.Calibration(CFG.MR_shape, {2: calibration.RapCalibration(2, gain, delay)})
    path = calibration.save(cal, tmp_path / "cal.json")
    cbs = [0, 1, 2, 3, 7, 8, 9]  # blocks 4..6 lost upstream
    n = len(cbs) * TAU
    x = rng.standard_normal((CFG.NR, n, MR)) + 1j * rng.standard_normal((CFG.NR, n, MR))
    x = x.astype(np.complex64)
    tags = [cb_tag(i * TAU, cb) for i, cb in enumerate(cbs)]
    tb = gr.top_block()
    blk = calibrate(CFG, str(path), max_blocks=2)
    sinks = []
    for j in range(CFG.NR):
        src = blocks.vector_source_c(x[j].ravel().tolist(), False, MR, tags)
        sink = blocks.vector_sink_c(MR)
        tb.connect(src, (blk, j))
        tb.connect((blk, j), sink)
        sinks.append(sink)
    tb.run()
    assert blk.error is None
    out = [np.array(s.data()).reshape(n, MR) for s in sinks]
    assert np.array_equal(out[0], x[0])  # RAP 1 is not in the file
    ref = calibration.Corrector(gain, delay)
    before_jump = ref(x[1, : 4 * TAU])
    ref.reset()  # blocks 4..6 missing: the filters restart at block 7
    want = np.concatenate([before_jump, ref(x[1, 4 * TAU :])])
    assert np.allclose(out[1], want, atol=1e-5)
    assert [
        int(pmt.to_uint64(t.value)) for t in sinks[1].tags() if pmt.symbol_to_string(t.key) == "cb"
    ] == cbs


def test_no_file_passes_everything():
    blk = calibrate(CFG, "")
    assert all(c.filters is None and np.all(c.gain == 1) for c in blk.correctors)


def test_bad_files_are_refused_when_built(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        calibrate(CFG, str(tmp_path / "missing.json"))
    cal = calibration.Calibration((1, 4), {})
    path = calibration.save(cal, tmp_path / "other.json")
    with pytest.raises(ValueError, match="made for \\(1, 4\\)"):
        calibrate(CFG, str(path))
    cal = calibration.Calibration(
        CFG.MR_shape, {5: calibration.RapCalibration(5, np.ones(MR), np.zeros(MR))}
    )
    path = calibration.save(cal, tmp_path / "five.json")
    with pytest.raises(ValueError, match="NR=2"):
        calibrate(CFG, str(path))


def test_grc_ports_match_the_block(platform):
    from gnuradio import cfisac

    fg = platform.make_flow_graph()
    cfg_block = fg.new_block("cfisac_config")
    cfg_block.params["id"].set_value("cfg")
    blk = fg.new_block("cfisac_calibrate")
    blk.params["id"].set_value("blk")
    for _ in range(3):
        fg.rewrite()
    assert blk.is_valid(), blk.get_error_messages()
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": fg.namespace["cfg"]})
    for grc_ports, py_ports in ((blk.sinks, instance.in_ports), (blk.sources, instance.out_ports)):
        assert len(grc_ports) == len(py_ports)
        assert all(int(p.vlen) == q.vlen for p, q in zip(grc_ports, py_ports))
