"""SigMF recording/replay (gr_cfisac.sigmf_io): round trips, validation, errors, fuzzing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sigmf
from sigmf import sigmffile

from gr_cfisac.arrays import steering
from gr_cfisac.config import SystemConfig
from gr_cfisac.sigmf_io import (
    EXTENSION_VERSION,
    CaptureWriter,
    RecordingWriter,
    SigMFError,
    read_capture,
    read_collection,
    read_recording,
    spatial_element_geometry,
    write_recording,
)

ROOT = Path(__file__).resolve().parents[1]


def _samples(rng: np.random.Generator, n: int, channels: int) -> np.ndarray:
    x = rng.standard_normal((n, channels)) + 1j * rng.standard_normal((n, channels))
    return x.astype(np.complex64)


def _record(tmp_path: Path, rng: np.random.Generator, name: str = "rec", blocks: int = 6):
    cfg = SystemConfig()
    per = 12
    x = _samples(rng, blocks * per + 5, cfg.MR)  # 5 items of an unfinished block at the end
    stream = {"kind": "rap_echo", "ap": "rap", "index": 0, "items_per_block": per}
    with RecordingWriter(
        tmp_path / name, cfg.MR, config=cfg, stream=stream, array_shape=cfg.MR_shape
    ) as w:
        w.write(x[:7])  # several writes of odd sizes
        w.write(x[7:])
        for b in range(blocks + 1):
            w.mark_block(b * per, 100 + b, {"target_m": [1.0, 2.0, 1.5], "snr_db": float(b)})
        w.tag(3, "rx_time", [12, 0.25], "tuple")
        w.tag(per + 1, "burst", "start", "symbol")
    return cfg, x, w.meta_path


def test_round_trip_is_bit_exact_with_tags_and_blocks(tmp_path, rng):
    cfg, x, meta = _record(tmp_path, rng)
    rec = read_recording(meta)
    assert rec.num_channels == cfg.MR and rec.num_items == len(x)
    assert np.array_equal(rec.samples(), x)  # bit-exact
    assert np.array_equal(rec.samples(10, 4), x[10:14])
    assert rec.config == cfg
    assert rec.kind == "rap_echo" and rec.array_shape == cfg.MR_shape
    # cb boundaries: every block keeps its index, start and length; the cut last block is partial
    blocks = rec.blocks(complete_only=False)
    assert [b.cb for b in blocks] == [100 + b for b in range(7)]
    assert [b.start for b in blocks] == [12 * b for b in range(7)]
    assert [b.length for b in blocks] == [12] * 6 + [5]
    assert [b.cb for b in rec.blocks()] == [100 + b for b in range(6)]
    assert blocks[2].truth == {"target_m": [1.0, 2.0, 1.5], "snr_db": 2.0}
    # every tag comes back at its offset with its value
    tags = rec.tags()
    assert (3, "rx_time", [12, 0.25], "tuple") in tags
    assert (13, "burst", "start", "symbol") in tags
    assert [t[0] for t in tags if t[1] == "cb"] == [12 * b for b in range(7)]
    cbs, per_block = rec.block_samples()
    assert cbs.tolist() == [100 + b for b in range(6)]
    assert np.array_equal(per_block.reshape(-1, cfg.MR), x[: 6 * 12])


def test_recordings_pass_the_sigmf_package_validator(tmp_path, rng):
    _, x, meta = _record(tmp_path, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # undeclared extensions would warn
        handle = sigmffile.fromfile(str(meta))  # checks sha512 too
        handle.validate()
    assert handle.get_global_field("core:datatype") == "cf32_le"
    assert handle.get_global_field("core:num_channels") == 4
    assert handle.get_global_field("core:sha512")
    assert np.array_equal(handle.read_samples(0, 5), x[:5])
    declared = {e["name"]: e["version"] for e in handle.get_global_field("core:extensions")}
    assert declared["cfisac"] == EXTENSION_VERSION and "spatial" in declared


def test_spatial_element_geometry_reproduces_the_steering_vector():
    """exp(-j k p.d) over the spatial CRS element points equals eq 2's steering vector."""
    rows, cols, lam = 3, 2, 0.1
    points = np.array([e["point"] for e in spatial_element_geometry(rows, cols, lam)])
    psi, theta = 0.7, 0.4
    u, v = np.sin(theta) * np.cos(psi), np.sin(theta) * np.sin(psi)
    direction = np.array([np.cos(theta), v, u])  # X = normal, Y = e2, Z = e1
    a = np.exp(-1j * 2 * np.pi / lam * points @ direction)
    np.testing.assert_allclose(a, steering(psi, theta, rows, cols), atol=1e-12)


def test_collection_groups_one_recording_per_ap(tmp_path, rng):
    cfg = SystemConfig()
    data = {}
    with CaptureWriter(tmp_path, "run", cfg, geometry={"rap_pos_m": [[1, 2, 10]]}) as cap:
        for j in range(2):
            w = cap.stream(
                f"rap{j}",
                cfg.MR,
                stream={"kind": "rap_echo", "ap": "rap", "index": j, "items_per_block": 4},
                array_shape=cfg.MR_shape,
            )
            data[j] = _samples(rng, 8, cfg.MR)
            w.write(data[j])
            w.mark_block(0, 0)
            w.mark_block(4, 1)
        w = cap.stream("tap0", cfg.MT, stream={"kind": "tap_pilots", "ap": "tap", "index": 0})
        w.write(_samples(rng, 8, cfg.MT))
    coll = read_collection(tmp_path / "run")
    assert coll.config == cfg and coll.geometry == {"rap_pos_m": [[1, 2, 10]]}
    assert [r.stream["index"] for r in coll.by_kind("rap_echo")] == [0, 1]
    for j, rec in enumerate(coll.by_kind("rap_echo")):
        assert np.array_equal(rec.samples(), data[j])
    # a member's metadata opens the whole collection; the sigmf package reads it too
    assert len(read_capture(tmp_path / "run-rap1.sigmf-meta").recordings) == 3
    pkg = sigmffile.fromfile(str(tmp_path / "run.sigmf-collection"))
    assert sorted(pkg.get_stream_names()) == ["run-rap0", "run-rap1", "run-tap0"]
    # editing a member's metadata breaks the collection's hash
    meta = tmp_path / "run-rap0.sigmf-meta"
    meta.write_text(
        meta.read_text().replace('"core:recorder"', '"core:comment": "x",\n"core:recorder"')
    )
    with pytest.raises(SigMFError, match="does not match the collection's hash"):
        read_collection(tmp_path / "run")


def test_plain_sigmf_package_capture_reads_without_extension(tmp_path, rng):
    x = _samples(rng, 64, 4)
    x.tofile(tmp_path / "plain.sigmf-data")
    handle = sigmffile.SigMFFile(
        data_file=str(tmp_path / "plain.sigmf-data"),
        global_info={
            "core:datatype": "cf32_le",
            "core:num_channels": 4,
            "core:sample_rate": 1e6,
            "core:version": sigmf.__specification__,
        },
    )
    handle.add_capture(0, metadata={"core:frequency": 3.5e9})
    handle.tofile(str(tmp_path / "plain"))
    rec = read_recording(tmp_path / "plain.sigmf-meta")
    assert not rec.has_extension and rec.config is None and rec.kind is None
    assert np.array_equal(rec.samples(), x)


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(SigMFError) as info:
        read_recording(path, **kwargs)
    return str(info.value)


def test_each_corruption_gives_one_clear_error(tmp_path, rng):
    cfg, x, meta = _record(tmp_path, rng)
    data = meta.with_name("rec.sigmf-data")
    original_meta, original_data = meta.read_text(), data.read_bytes()

    def restore():
        meta.write_text(original_meta)
        data.write_bytes(original_data)

    assert "core:num_channels is 4 but 16 antennas are expected" in _error(meta, num_channels=16)
    meta.write_text(original_meta.replace('"cf32_le"', '"ci16_le"'))
    assert "core:datatype is 'ci16_le'" in _error(meta)
    restore()
    meta.write_text(original_meta[: len(original_meta) // 2])
    assert "not valid JSON" in _error(meta)
    restore()
    corrupted = bytearray(original_data)
    corrupted[100] ^= 0xFF
    data.write_bytes(bytes(corrupted))
    assert "checksum mismatch" in _error(meta)
    assert read_recording(meta, verify_checksum=False).num_items == len(x)
    restore()
    data.write_bytes(original_data[:-3])
    assert "not a whole number" in _error(meta)
    data.write_bytes(original_data[: 8 * cfg.MR * 40])
    assert "holds 40 items but the metadata says" in _error(meta, verify_checksum=False)
    restore()
    meta.write_text(original_meta.replace('"core:num_channels": 4', '"core:num_channels": 2'))
    assert "is core:num_channels (2) wrong?" in _error(meta)
    restore()
    data.unlink()
    assert "data file rec.sigmf-data is missing" in _error(meta)
    restore()
    meta.write_text(
        original_meta.replace(f'"version": "{EXTENSION_VERSION}"', '"version": "9.0.0"')
    )
    assert "cfisac extension version '9.0.0' is not supported" in _error(meta)
    restore()
    meta.write_text(original_meta.replace('"NT": 8', '"NT": -1'))
    assert "cfisac:config is not a valid SystemConfig" in _error(meta)
    restore()
    meta.write_text(original_meta.replace('"core:sample_start": 0,', '"core:sample_start": -4,', 1))
    assert "not valid SigMF" in _error(meta)
    assert "no such SigMF metadata file" in _error(tmp_path / "missing")


def test_annotations_beyond_the_data_mean_truncation(tmp_path, rng):
    cfg = SystemConfig()
    x = _samples(rng, 20, 2)
    meta = write_recording(tmp_path / "short", x, blocks=[(0, 0), (10, 1)])
    doc = json.loads(meta.read_text())
    del doc["global"]["cfisac:num_items"]
    del doc["global"]["core:sha512"]
    meta.write_text(json.dumps(doc))
    meta.with_name("short.sigmf-data").write_bytes(x[:12].tobytes())
    with pytest.raises(SigMFError, match="beyond the data's 12 items"):
        read_recording(meta)
    assert cfg.MR == 4


def test_unfinished_recording_is_reported_incomplete(tmp_path, rng):
    w = RecordingWriter(tmp_path / "open", 2)
    w.write(_samples(rng, 10, 2))
    with pytest.raises(
        SigMFError,
        match="incomplete/interrupted capture: the recorder never finished.*cfisac salvage",
    ):
        read_recording(tmp_path / "open.sigmf-meta")
    w.close()
    assert read_recording(tmp_path / "open").num_items == 10


def test_killed_writer_process_leaves_a_clearly_incomplete_recording(tmp_path):
    code = (
        "import os, signal, numpy as np\n"
        "from gr_cfisac.sigmf_io import RecordingWriter\n"
        f"w = RecordingWriter({str(tmp_path / 'killed')!r}, 4)\n"
        "w.write(np.ones((1000, 4), np.complex64))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.sigmf-meta").exists()
    with pytest.raises(SigMFError, match="incomplete"):
        read_recording(tmp_path / "killed")


def test_unfinished_capture_is_reported_incomplete_not_missing(tmp_path, rng):
    """A flowgraph killed while recording leaves its members' .partial files and no collection:
    asking for the collection (or the bare capture name) says incomplete, not 'no such file'."""
    cap = CaptureWriter(tmp_path, "run", SystemConfig())
    for j in range(2):
        cap.stream(f"rap_echo{j}", 4).write(_samples(rng, 8, 4))
    for path in (tmp_path / "run.sigmf-collection", tmp_path / "run"):
        with pytest.raises(
            SigMFError,
            match="incomplete/interrupted capture.*run-rap_echo0.sigmf-data.*cfisac salvage",
        ):
            read_capture(path)
    with pytest.raises(SigMFError, match="no such SigMF collection"):
        read_capture(tmp_path / "other.sigmf-collection")
    cap.close()
    capture = read_capture(tmp_path / "run")  # the bare name opens the finished collection
    assert [r.name for r in capture.recordings] == ["run-rap_echo0", "run-rap_echo1"]


def test_full_disk_marks_the_recording_incomplete(tmp_path, rng):
    w = RecordingWriter(tmp_path / "full", 2)
    w.write(_samples(rng, 10, 2))

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, _):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    w._file = FullDisk(w._file)
    with pytest.raises(SigMFError, match="No space left on device.*marked incomplete"):
        w.write(_samples(rng, 10, 2))
    with pytest.raises(SigMFError, match="incomplete \\(write failed after 10 items"):
        read_recording(tmp_path / "full")
    assert not (tmp_path / "full.sigmf-meta").exists()


def test_exception_inside_with_block_does_not_finish_the_recording(tmp_path, rng):
    with pytest.raises(RuntimeError):
        with RecordingWriter(tmp_path / "boom", 1) as w:
            w.write(_samples(rng, 4, 1))
            raise RuntimeError("flowgraph died")
    with pytest.raises(SigMFError, match="RuntimeError: flowgraph died"):
        read_recording(tmp_path / "boom")


def test_writer_refuses_to_overwrite_and_checks_shapes(tmp_path, rng):
    write_recording(tmp_path / "once", _samples(rng, 4, 2))
    with pytest.raises(SigMFError, match="exists"):
        RecordingWriter(tmp_path / "once", 2)
    with pytest.raises(ValueError, match="num_channels"):
        RecordingWriter(tmp_path / "zero", 0)
    w = RecordingWriter(tmp_path / "shape", 2)
    with pytest.raises(ValueError, match=r"must be \(n, 2\)"):
        w.write(np.zeros((3, 3), np.complex64))
    w.close()


# ----------------------------------------------------------------------------- fuzzing


def _mutate(doc, rng: np.random.Generator):
    """One random structural mutation of a JSON document (in place where possible)."""
    junk = [
        None,
        True,
        -1,
        0,
        2**70,
        1.5,
        float("1e308"),
        "",
        "x" * 50,
        [],
        {},
        [1, "a"],
        {"core:sample_start": 3},
        "cf32_le",
        "ci8",
    ]
    containers = []

    def walk(node):
        if isinstance(node, dict):
            containers.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            containers.append(node)
            for v in node:
                walk(v)

    walk(doc)
    target = containers[rng.integers(len(containers))]
    op = rng.integers(4)
    if isinstance(target, dict) and target:
        key = list(target)[rng.integers(len(target))]
        if op == 0:
            del target[key]
        elif op == 1:
            target[key] = junk[rng.integers(len(junk))]
        elif op == 2:
            target[key + "x" if rng.random() < 0.5 else "cfisac:zz"] = target[key]
        else:
            target[key] = [target[key]]
    elif isinstance(target, list) and target:
        i = rng.integers(len(target))
        if op == 0:
            del target[i]
        elif op == 1:
            target[i] = junk[rng.integers(len(junk))]
        else:
            target.insert(i, junk[rng.integers(len(junk))])
    return doc


def test_fuzzed_metadata_only_ever_raises_sigmf_error(tmp_path, rng):
    _, _, meta = _record(tmp_path, rng, blocks=3)
    original = json.loads(meta.read_text())
    fuzz = np.random.default_rng(2024)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        doc = json.loads(json.dumps(original))
        for _ in range(fuzz.integers(1, 4)):
            doc = _mutate(doc, fuzz)
        text = json.dumps(doc)
        if fuzz.random() < 0.15:  # byte-level damage too
            cut = fuzz.integers(len(text))
            text = text[:cut] + chr(fuzz.integers(32, 127)) + text[cut + 1 :]
        meta.write_text(text)
        try:
            read_recording(meta, verify_checksum=False)
            outcomes["ok"] += 1
        except SigMFError:
            outcomes["error"] += 1
    assert outcomes["error"] > 100 and outcomes["ok"] > 10  # both paths were exercised


def test_truncated_data_files_only_ever_raise_sigmf_error(tmp_path, rng):
    _, x, meta = _record(tmp_path, rng, blocks=3)
    data = meta.with_name("rec.sigmf-data")
    original = data.read_bytes()
    fuzz = np.random.default_rng(7)
    for cut in fuzz.integers(0, len(original), size=40):
        data.write_bytes(original[:cut])
        for verify in (True, False):
            with pytest.raises(SigMFError):
                read_recording(meta, verify_checksum=verify)
    data.write_bytes(original)
    assert read_recording(meta).num_items == len(x)


def test_fuzzed_collection_only_ever_raises_sigmf_error(tmp_path, rng):
    with CaptureWriter(tmp_path, "c", SystemConfig()) as cap:
        cap.stream("a", 2).write(_samples(rng, 4, 2))
    path = tmp_path / "c.sigmf-collection"
    original = json.loads(path.read_text())
    fuzz = np.random.default_rng(11)
    for _ in range(100):
        doc = json.loads(json.dumps(original))
        path.write_text(json.dumps(_mutate(doc, fuzz)))
        try:
            read_collection(path)
        except SigMFError:
            pass


def test_sigmf_error_is_a_value_error():
    assert issubclass(SigMFError, ValueError)


def test_long_recordings_are_fully_validated(tmp_path, rng):
    """Many annotations are validated by signature: a bad one deep in the list is still found."""
    blocks = [(b, b) for b in range(300)]
    meta = write_recording(tmp_path / "long", _samples(rng, 300, 1), blocks=blocks)
    original = json.loads(meta.read_text())
    for path, value, why in [
        (("annotations", 250, "core:sample_count"), -1, "outside"),
        (("annotations", 251, "core:label"), 5, "not valid SigMF"),
        (("annotations", 252, "core:sample_start"), 3, "ordering"),
        (("annotations", 253, "core:freq_lower_edge"), 1e13, "outside"),
    ]:
        doc = json.loads(json.dumps(original))
        doc[path[0]][path[1]][path[2]] = value
        meta.write_text(json.dumps(doc))
        with pytest.raises(SigMFError, match=why):
            read_recording(meta, verify_checksum=False)
    meta.write_text(json.dumps(original))
    assert len(read_recording(meta).blocks()) == 300
