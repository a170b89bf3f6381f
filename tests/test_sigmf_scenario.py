"""``cfisac:scenario`` in SigMF captures (issue 11): every recording and collection carries the
scenario recorded, it round-trips (salvage included), a foreign capture reads as cellfree, and
replay refuses a scenario it cannot score, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sigmf
from sigmf import sigmffile

from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding import registry
from gr_cfisac.replay.scoring import score_capture
from gr_cfisac.sigmf_io import (
    DEFAULT_SCENARIO,
    SCENARIO,
    CaptureWriter,
    RecordingWriter,
    SigMFError,
    read_capture,
    read_recording,
    salvage,
)


def _capture(tmp_path: Path, scenario: str | None, name: str = "run", close: bool = True):
    cfg = SystemConfig()
    kwargs = {} if scenario is None else {"scenario": scenario}
    cap = CaptureWriter(tmp_path, name, cfg, **kwargs)
    stream = {"kind": "rap_echo", "ap": "rap", "index": 0, "items_per_block": cfg.tau}
    w = cap.stream("rap_echo0", cfg.MR, stream=stream, array_shape=cfg.MR_shape)
    x = np.random.default_rng(0).standard_normal((2 * cfg.tau, cfg.MR)).astype(np.complex64)
    w.write(x)
    w.mark_block(0, 0)
    w.mark_block(cfg.tau, 1)
    w.checkpoint(sync=True)
    if close:
        cap.close()
    return cap


def _global(meta: Path) -> dict:
    return json.loads(meta.read_text())["global"]


def test_every_capture_records_its_scenario_and_reads_it_back(tmp_path):
    _capture(tmp_path, None)
    meta = tmp_path / "run-rap_echo0.sigmf-meta"
    assert _global(meta)[SCENARIO] == "cellfree"  # written even when not asked for
    assert DEFAULT_SCENARIO == registry.PrecoderSpec("x").scenario
    coll = json.loads((tmp_path / "run.sigmf-collection").read_text())["collection"]
    assert coll[SCENARIO] == "cellfree"
    _capture(tmp_path, "mu_miso", "other")
    cap = read_capture(tmp_path / "other")
    assert cap.scenario == "mu_miso" and cap.recordings[0].scenario == "mu_miso"
    assert sigmffile.fromfile(str(tmp_path / "other-rap_echo0.sigmf-meta")).validate() is None


def test_a_salvaged_capture_keeps_its_scenario(tmp_path):
    cap = _capture(tmp_path, "pos1", close=False)
    cap.writers["rap_echo0"]._file.flush()  # a killed recorder: journals and .partial remain
    salvage(tmp_path / "run")
    assert read_capture(tmp_path / "run").scenario == "pos1"
    coll = json.loads((tmp_path / "run.sigmf-collection").read_text())["collection"]
    assert (
        coll[SCENARIO] == "pos1"
        and _global(tmp_path / "run-rap_echo0.sigmf-meta")[SCENARIO] == "pos1"
    )


def test_a_foreign_capture_reads_as_cellfree(tmp_path):
    x = np.zeros((8, 4), np.complex64)
    x.tofile(tmp_path / "plain.sigmf-data")
    handle = sigmffile.SigMFFile(
        data_file=str(tmp_path / "plain.sigmf-data"),
        global_info={
            "core:datatype": "cf32_le",
            "core:num_channels": 4,
            "core:version": sigmf.__specification__,
        },  # fmt: skip
    )
    handle.tofile(str(tmp_path / "plain"))
    assert read_recording(tmp_path / "plain.sigmf-meta").scenario == "cellfree"
    assert read_capture(tmp_path / "plain.sigmf-meta").scenario == "cellfree"


def test_a_bad_scenario_is_refused_writing_and_reading(tmp_path):
    with pytest.raises(ValueError, match="RecordingWriter: scenario must be a scenario name"):
        RecordingWriter(tmp_path / "r", 1, scenario="")
    _capture(tmp_path, None)
    meta = tmp_path / "run-rap_echo0.sigmf-meta"
    meta.write_text(
        meta.read_text().replace('"cfisac:scenario": "cellfree"', '"cfisac:scenario": 7')
    )
    with pytest.raises(SigMFError, match="cfisac:scenario must be a scenario name"):
        read_recording(meta)


def test_replay_refuses_a_scenario_it_cannot_score(tmp_path):
    _capture(tmp_path, "mu_miso")
    with pytest.raises(ValueError, match=r"records scenario 'mu_miso' \(cfisac:scenario\); cfisac "
                       r"replay scores scenario\(s\) 'cellfree' only"):  # fmt: skip
        score_capture(tmp_path / "run")
    _capture(tmp_path, "cellfree", "ok")
    assert score_capture(tmp_path / "ok", n_sources=1)["scenario"] == "cellfree"
