"""`cfisac calibrate CAPTURE --direction PSI,THETA`: from a SigMF capture of the RAPs seeing
one source in a known direction, writes the calibration file whose corrections bring MUSIC
back to the CRB in other directions; refuses what it cannot use with the fix named."""

import numpy as np
import pytest
from test_calibration import (
    COLS,
    DELAY_ERR,
    GAIN_ERR,
    ROWS,
    TAU,
    correct,
    crb_uv,
    snapshots,
    uv_rmse,
)

from gr_cfisac import calibration
from gr_cfisac.cli import main
from gr_cfisac.config import SystemConfig
from gr_cfisac.sigmf_io import CaptureWriter

CFG = SystemConfig(NR=2)  # 2x2 RAPs, tau = 192
#: each RAP's receive chains differ
ERRORS = {1: (GAIN_ERR, DELAY_ERR), 2: (np.conj(GAIN_ERR[::-1]), DELAY_ERR[::-1])}


def write_capture(path, rng, direction, blocks=20, kinds=("rap_echo",)):
    with CaptureWriter(path.parent, path.name, CFG) as cap:
        for j in range(CFG.NR):
            gain, delay = ERRORS[j + 1]
            Y = snapshots(rng, *direction, blocks, gain, delay)  # (B, M, TAU)
            for kind in kinds:
                stream = {"kind": kind, "index": j, "items_per_block": TAU}
                w = cap.stream(f"{kind}{j}", CFG.MR, stream=stream, array_shape=CFG.MR_shape)
                w.write(np.transpose(Y, (0, 2, 1)).reshape(-1, CFG.MR).astype(np.complex64))
                for b in range(blocks):
                    w.mark_block(b * TAU, b)
    return cap.path


def test_calibrate_writes_corrections_that_restore_music(tmp_path, rng, capsys):
    assert CFG.tau == TAU and CFG.MR_shape == (ROWS, COLS)
    capture = write_capture(tmp_path / "cal", rng, (30.0, 40.0))
    assert main(["calibrate", str(capture), "--direction", "30,40"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "cal.calibration.json"
    assert f"wrote {path}" in out
    cal = calibration.load(path, CFG.MR_shape)
    assert sorted(cal.raps) == [1, 2]
    assert cal.for_rap(1).info["direction_deg"] == [30.0, 40.0]
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    for row in rows:  # MUSIC's error in the calibration direction: large before, small after
        before, after = float(row[4]), float(row[6])
        assert before > 5.0 and after < 1.0, row
    test_dir = (-70.0, 25.0)
    for j, (gain, delay) in ERRORS.items():
        Y = snapshots(rng, *test_dir, 20, gain, delay)
        r = cal.for_rap(j)
        assert uv_rmse(correct(Y, r.gain, r.delay_samples), *test_dir) < 2.0 * crb_uv(*test_dir)


def test_one_rap_with_its_own_direction_and_output(tmp_path, rng):
    capture = write_capture(tmp_path / "cal", rng, (30.0, 40.0), blocks=8)
    out = tmp_path / "rap2.json"
    args = ["calibrate", str(capture), "--direction", "30,40", "--raps", "2", "-o", str(out)]
    assert main([*args, "--no-delays"]) == 0
    cal = calibration.load(out)
    assert sorted(cal.raps) == [2] and np.all(cal.for_rap(2).delay_samples == 0)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--direction", "30,40", "--direction", "1,2", "--direction", "3,4"], "one per RAP"),
        (["--direction", "30,40", "--raps", "3"], "RAP \\[3\\] not recorded"),
    ],
)
def test_what_cannot_be_used_is_refused(tmp_path, rng, capsys, args, message):
    capture = write_capture(tmp_path / "cal", rng, (30.0, 40.0), blocks=2)
    assert main(["calibrate", str(capture), *args]) == 2
    err = capsys.readouterr().err
    assert "cfisac calibrate: error:" in err
    import re

    assert re.search(message, err), err


def test_a_capture_without_rap_echoes_is_refused(tmp_path, rng, capsys):
    capture = write_capture(tmp_path / "cal", rng, (30.0, 40.0), blocks=1, kinds=("tap_pilots",))
    assert main(["calibrate", str(capture), "--direction", "30,40"]) == 2
    assert "no RAP echo recordings" in capsys.readouterr().err


def test_a_bad_direction_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["calibrate", str(tmp_path / "x"), "--direction", "30"])
    assert "PSI,THETA" in capsys.readouterr().err
