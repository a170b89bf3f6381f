"""File-layer refusals of issue 17 ("Replay on bad samples"): each damaged capture the fuzzer
found gives ONE SigMFError naming the file and the field, never OSError, OverflowError,
IndexError or numpy text, and quickly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gr_cfisac.config import SystemConfig
from gr_cfisac.sigmf_io import (
    CaptureWriter,
    RecordingWriter,
    SigMFError,
    read_capture,
    read_recording,
    write_recording,
)

BLOCKS, PER = 4, 3


def _capture(tmp_path: Path) -> Path:
    """A two-stream capture with cb blocks carrying truth and a collection geometry."""
    rng = np.random.default_rng(8)
    geometry = {"rap_pos_m": [[1.0, 2.0, 10.0], [3.0, 4.0, 10.0]]}
    with CaptureWriter(tmp_path, "run", SystemConfig(), geometry=geometry) as cap:
        for j in range(2):
            w = cap.stream(f"rap_echo{j}", 2, stream={"kind": "rap_echo", "index": j})
            w.write(rng.standard_normal((BLOCKS * PER, 2)).astype(np.complex64))
            for b in range(BLOCKS):
                w.mark_block(b * PER, b, {"target_pos_m": [1.0, 2.0, 1.5]})
    return tmp_path / "run.sigmf-collection"


def _edit(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _reseal(coll: Path) -> None:
    """Recompute the collection's member hashes (as an editor of the metadata would)."""
    import hashlib

    def fix(doc):
        for s in doc["collection"]["core:streams"]:
            meta = coll.parent / f"{s['name']}.sigmf-meta"
            if meta.exists():
                s["hash"] = hashlib.sha512(meta.read_bytes()).hexdigest()

    _edit(coll, fix)


def test_a_300_character_stream_name_is_a_sigmf_error(tmp_path):
    coll = _capture(tmp_path)
    _edit(coll, lambda d: d["collection"]["core:streams"][1].update(name="x" * 300))
    with pytest.raises(SigMFError, match=r"run.sigmf-collection: core:streams\[1\].name is 300"):
        read_capture(coll)
    for path in (tmp_path / ("y" * 300), tmp_path / ("y" * 300 + ".sigmf-collection")):
        with pytest.raises(SigMFError, match="longer than the 255 bytes"):
            read_capture(path)
    with pytest.raises(SigMFError, match="the name is 300 bytes"):
        RecordingWriter(tmp_path / ("z" * 300), 1)
    with pytest.raises(SigMFError, match="the name is 304 bytes"):
        CaptureWriter(tmp_path, "c" * 200).stream("s" * 103, 1)


@pytest.mark.parametrize("value", [2**64, 2**63, -1])
def test_a_block_index_out_of_range_is_a_sigmf_error_naming_the_field(tmp_path, value):
    coll = _capture(tmp_path)
    meta = tmp_path / "run-rap_echo0.sigmf-meta"
    _edit(meta, lambda d: d["annotations"][2].update({"cfisac:cb": value}))
    _reseal(coll)
    with pytest.raises(SigMFError, match=r"run-rap_echo0.sigmf-meta: .*cfisac:cb=.*2\*\*63"):
        read_capture(coll)


def test_a_400_digit_coordinate_is_a_sigmf_error_naming_the_field(tmp_path):
    coll = _capture(tmp_path)
    meta = tmp_path / "run-rap_echo1.sigmf-meta"
    _edit(meta, lambda d: d["annotations"][1]["cfisac:truth"]["target_pos_m"].__setitem__(0, 0))
    meta.write_text(
        meta.read_text().replace('"target_pos_m": [0,', '"target_pos_m": [' + "9" * 400 + ",")
    )
    _reseal(coll)
    with pytest.raises(SigMFError, match='rap_echo1.sigmf-meta: .*400 digits .*"target_pos_m"'):
        read_capture(coll)
    coll.write_text(coll.read_text().replace("[1.0, 2.0, 10.0]", "[1" + "0" * 400 + ", 2.0, 10.0]"))
    with pytest.raises(SigMFError, match='sigmf-collection: .*401 digits .*"rap_pos_m"'):
        read_capture(coll)


def test_a_stream_listed_twice_is_refused_before_reading_any_member(tmp_path, monkeypatch):
    coll = _capture(tmp_path)
    streams = json.loads(coll.read_text())["collection"]["core:streams"]
    _edit(coll, lambda d: d["collection"]["core:streams"].append(streams[0]))
    with pytest.raises(SigMFError, match=r"core:streams\[2\] lists 'run-rap_echo0' again"):
        read_capture(coll)
    # listed 200 times: refused at once, not re-verified 200 times (the issue measured 14 s)
    _edit(coll, lambda d: d["collection"].update({"core:streams": streams * 200}))
    from gr_cfisac.sigmf_io import collection

    hashed, read = [], []
    monkeypatch.setattr(collection, "sha512_of", lambda p: hashed.append(p) or "x")
    monkeypatch.setattr(collection, "read_recording", lambda *a, **k: read.append(a) or None)
    with pytest.raises(SigMFError, match="again"):
        read_capture(coll)
    assert hashed == [] and read == []  # refused from the list alone


def test_block_indices_must_increase_when_written_and_appear_once_when_read(tmp_path):
    w = RecordingWriter(tmp_path / "dec", 1)
    w.write(np.ones(9, np.complex64))
    w.mark_block(0, 5)
    with pytest.raises(SigMFError, match="block 4 at item 3 marked after block 5 at item 0"):
        w.mark_block(3, 4)
    with pytest.raises(SigMFError, match="block 6 at item 0 marked after block 5 at item 0"):
        w.mark_block(0, 6)
    with pytest.raises(SigMFError, match="2\\*\\*63"):
        w.mark_block(6, 2**64)
    w.mark_block(3, 6)
    w.close()
    meta = tmp_path / "dec.sigmf-meta"
    _edit(meta, lambda d: d["annotations"][1].update({"cfisac:cb": 5}))
    with pytest.raises(SigMFError, match="dec.sigmf-meta: .*cfisac:cb=5, a block index already"):
        read_recording(meta)


def test_a_hundred_thousand_annotations_read_back_whole(tmp_path):
    """The issue measured 18 s and then a crash; every block comes back (speed: bench, not here)."""
    n = 100_000
    blocks = [(b, b) for b in range(n)]
    truth = [{"target_pos_m": [1.0, 2.0, 1.5]}] * n
    meta = write_recording(
        tmp_path / "many", np.ones((n, 1), np.complex64), blocks=blocks, truth=truth
    )
    rec = read_recording(meta)
    assert len(rec.blocks()) == n and rec.blocks()[-1].cb == n - 1
    cbs, samples = rec.block_samples(1)
    assert np.array_equal(cbs, np.arange(n)) and samples.shape == (n, 1, 1)
