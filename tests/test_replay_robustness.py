"""Nothing a radio can send crashes a replay (issue 17): each reproduction of the fuzzing report
as a test, and a bounded run of the replay fuzzer (the long run is `cfisac bench fuzz_replay`)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from gr_cfisac.bench import fuzz_replay as fz
from gr_cfisac.cli import main


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return fz.base_capture(tmp_path_factory.mktemp("base"))


def _copy(base, tmp_path):
    case = tmp_path / "case"
    shutil.copytree(base.parent, case)
    return case / base.name


def _samples(case, name):
    path = next(case.parent.glob(f"*{name}.sigmf-data"))
    return path, np.fromfile(path, np.complex64)


def _replay(collection, tmp_path, capsys, *args):
    out = tmp_path / "r.json"
    code = main(["replay", str(collection), "--json", str(out), *args])
    text = capsys.readouterr()
    report = json.loads(out.read_text()) if code == 0 else None
    assert not fz.NONFINITE.findall(text.out + (out.read_text() if code == 0 else ""))
    return code, report, text


def test_one_nan_sample_skips_its_block_and_scores_the_rest(base, tmp_path, capsys):
    case = _copy(base, tmp_path)
    path, x = _samples(case, "rap_echo1")
    tau = len(x) // (fz.BLOCKS * 6)
    x[3 * tau * 6 + 5] = np.nan  # block 3 of RAP 2
    x.tofile(path)
    fz.reseal(case.parent)
    code, report, text = _replay(case, tmp_path, capsys)
    assert code == 0
    blocks = report["sensing"]["per_rap"][1]["blocks"]
    assert blocks["counts"]["non finite"] == 1 and blocks["skipped_cbs"] == [3]
    assert report["sensing"]["per_rap"][0]["blocks"]["counts"] == {"ok": fz.BLOCKS}
    assert "skipped 1 blocks (non finite 1): cb 3" in text.out


def test_nan_in_the_pilots_skips_the_block_instead_of_minus_infinity_db(base, tmp_path, capsys):
    case = _copy(base, tmp_path)
    path, x = _samples(case, "tap_pilots0")
    x[0] = np.nan
    x.tofile(path)
    fz.reseal(case.parent)
    code, report, _ = _replay(case, tmp_path, capsys)
    est = report["estimation"]
    assert code == 0 and est["blocks"]["skipped_cbs"] == [0]
    assert np.isfinite(est["nmse_mmse_db"]) and np.isfinite(est["nmse_ls_db"])


def test_a_silent_rap_port_is_reported_and_the_json_is_written(base, tmp_path, capsys):
    case = _copy(base, tmp_path)
    path, x = _samples(case, "rap_echo0")
    np.zeros_like(x).tofile(path)
    fz.reseal(case.parent)
    code, report, text = _replay(case, tmp_path, capsys)
    rap = report["sensing"]["per_rap"][0]
    assert code == 0 and rap["blocks"]["counts"]["silent"] == fz.BLOCKS
    assert rap["noise_power_db"] is None and "RAP1: noise n/a dB" in text.out


def test_decreasing_block_indices_are_read_by_index(base, tmp_path, capsys):
    """Block indices annotated in decreasing order (the writer accepted them; np.searchsorted
    on them raised IndexError): each index reads the samples its annotation points at."""
    from gr_cfisac.replay import BlockReader
    from gr_cfisac.sigmf_io import read_recording

    case = _copy(base, tmp_path)
    meta = next(case.parent.glob("*rap_echo0.sigmf-meta"))
    doc = json.loads(meta.read_text())
    marks = [a for a in doc["annotations"] if "cfisac:cb" in a]
    for a, cb in zip(marks, [m["cfisac:cb"] for m in marks][::-1]):
        a["cfisac:cb"] = cb
    meta.write_text(json.dumps(doc))
    fz.reseal(case.parent)
    code, report, _ = _replay(case, tmp_path, capsys)
    assert code == 0 and report["blocks"] == fz.BLOCKS
    rec = read_recording(meta)
    reader = BlockReader.of(rec, rec.stream["items_per_block"])
    tau = rec.stream["items_per_block"]
    assert list(reader.cbs) == list(range(fz.BLOCKS))
    np.testing.assert_array_equal(reader.read(np.array([fz.BLOCKS - 1]))[0], rec.samples()[:tau])


@pytest.mark.parametrize("value", [2**64, -1])
def test_a_block_index_out_of_range_is_one_error_naming_the_file(base, tmp_path, capsys, value):
    case = _copy(base, tmp_path)
    meta = next(case.parent.glob("*rap_echo0.sigmf-meta"))
    doc = json.loads(meta.read_text())
    doc["annotations"][1]["cfisac:cb"] = value
    meta.write_text(json.dumps(doc))
    fz.reseal(case.parent)
    assert main(["replay", str(case)]) == 2
    err = capsys.readouterr().err
    assert "rap_echo0.sigmf-meta" in err and "cfisac:cb" in err and "Traceback" not in err


def test_truth_all_zeros_scores_nothing_without_dividing_by_zero(base, tmp_path, capsys):
    case = _copy(base, tmp_path)
    path, x = _samples(case, "truth0")
    np.zeros_like(x).tofile(path)
    fz.reseal(case.parent)
    code, report, _ = _replay(case, tmp_path, capsys)
    assert code == 0 and "nothing to score" in report["estimation"]["scored"]


def test_replay_fuzzer_quick_run_finds_no_traceback_and_no_nonfinite_result(tmp_path):
    report = fz.fuzz(60, seed=11, folder=tmp_path, flowgraph_cases=12)
    failures = report.pop("failures")
    assert report["replay"]["tracebacks"] == 0 and report["replay"]["nonfinite_reports"] == 0, (
        failures[:3]
    )
    assert report["flowgraph"]["tracebacks"] == 0 and report["flowgraph"]["nonfinite"] == 0
    assert report["flowgraph"]["ran"] == 12  # sample damage never stops the flowgraph
    # both outcomes happen: the fuzzer reaches scoring and the refusals
    assert report["replay"]["exit_0"] > 5 and report["replay"]["exit_2"] > 5


def test_the_fuzzer_detects_what_it_looks_for(tmp_path):
    """Its non-finite detector and traceback capture work (a fuzzer that cannot fail is none)."""
    assert fz.NONFINITE.findall("RMSE nan deg, -inf dB, Infinity, NaN") == [
        "nan",
        "inf",
        "Infinity",
        "NaN",
    ]
    assert not fz.NONFINITE.findall("information, infinite? no: 'inference', nano")
    res = fz.run_replay(tmp_path / "missing.sigmf-collection", tmp_path / "r.json")
    assert res.exit_code == 2 and res.traceback is None
    assert re.search(r"\bnan\b", "x nan y")


def test_an_interrupted_fuzz_run_resumes_to_the_counts_of_an_unbroken_one(tmp_path, monkeypatch):
    """Each case has its own seeded generator and the counts are saved every few cases: a run
    stopped part-way and started again draws the same cases and ends with the same report."""
    whole = fz.fuzz(9, seed=5, folder=tmp_path / "a", flowgraph_cases=3)
    ckpt = tmp_path / "partial.json"
    real = fz.run_flowgraph
    calls = []

    def dies_on_the_second_flowgraph(collection):
        calls.append(collection)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user stops the run
        return real(collection)

    monkeypatch.setattr(fz, "run_flowgraph", dies_on_the_second_flowgraph)
    with pytest.raises(KeyboardInterrupt):
        fz.fuzz(9, seed=5, folder=tmp_path / "b", flowgraph_cases=3, checkpoint=ckpt, every=1)
    saved = json.loads(ckpt.read_text())
    assert saved["done"] == {"replay": 9, "flowgraph": 1}
    monkeypatch.setattr(fz, "run_flowgraph", real)
    resumed = fz.fuzz(9, seed=5, folder=tmp_path / "c", flowgraph_cases=3, checkpoint=ckpt)
    for key in ("replay", "flowgraph", "by_mutation", "done"):
        assert resumed[key] == whole[key], key
