"""`cfisac replay`: scoring a recorded capture reproduces the live run's estimates and fixes,
plain captures from other tools replay given a config with the noise power estimated from the
data, and missing or mismatched metadata is explained."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sigmf
from sigmf import sigmffile

from gnuradio import blocks, gr
from gr_cfisac import echo
from gr_cfisac.arrays import steering
from gr_cfisac.blocks import build_chain
from gr_cfisac.blocks.layout import fix_layout, truth_layout
from gr_cfisac.blocks.sigmf_sink import sigmf_sink
from gr_cfisac.cli import main
from gr_cfisac.config import SystemConfig
from gr_cfisac.geometry import drop
from gr_cfisac.localization import separation
from gr_cfisac.precoding import isac_beamformer, target_beam, zf
from gr_cfisac.replay import noise_power, score_capture
from gr_cfisac.scenario import draw_realizations


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A live run recorded with everything (preset "all"), its fusion fixes and truth."""
    cfg = SystemConfig(MR_shape=(4, 4))  # Table I's 2x2 RAPs cannot identify 3 sources
    path = tmp_path_factory.mktemp("live") / "run"
    tb = gr.top_block()
    ch = build_chain(tb, cfg, seed=5, num_blocks=40, sensing_fraction=0.5)
    NT, NR = cfg.NT, cfg.NR
    sink = sigmf_sink(cfg, str(path), preset="all", max_blocks=16)
    for j in range(NR):
        tb.connect((ch.echo, j), (sink, j))
    tb.connect((ch.scenario, 2 * NT), (sink, NR))
    tb.connect((ch.scenario, 2 * NT + 1), (sink, NR + 1))
    base = NR + 2
    for i in range(NT):
        tb.connect((ch.scenario, i), (sink, base + i))
        tb.connect((ch.scenario, NT + i), (sink, base + NT + i))
        tb.connect((ch.transmitter, i), (sink, base + 2 * NT + i))
        tb.connect((ch.estimator, i), (sink, base + 3 * NT + i))
    fixes = blocks.vector_sink_f(fix_layout(cfg).size)
    truth = blocks.vector_sink_c(truth_layout(cfg).size)
    tb.connect(ch.fusion, fixes)
    tb.connect((ch.scenario, 2 * NT), truth)
    tb.run()
    assert not ch.errors() and sink.recording_error is None
    pos = fix_layout(cfg).field(np.array(fixes.data()).reshape(40, -1), "pos")
    target = truth_layout(cfg).field(np.array(truth.data()).reshape(40, -1), "target_pos")
    return cfg, sink.collection_path, pos, target


def test_replay_scores_estimation_against_truth_and_the_live_estimates(live):
    cfg, capture, _, _ = live
    report = score_capture(capture)
    est = report["estimation"]
    assert report["blocks"] == 40 and report["config_source"] == "capture"
    assert est["estimator"] == "mmse"
    # the rerun MMSE estimates are the live ones (recorded as complex64)
    assert est["live_estimates_max_rel_diff"] <= 1e-6
    # eqs 10-11 predict the empirical NMSE (40 blocks x 8 TAPs x 4 users)
    assert abs(est["nmse_mmse_db"] - est["nmse_mmse_predicted_db"]) < 1.0
    assert est["nmse_mmse_db"] <= est["nmse_ls_db"] + 0.05


def test_replay_reproduces_the_live_fused_positions(live):
    cfg, capture, live_pos, target = live
    sen = score_capture(capture)["sensing"]
    err = np.linalg.norm(live_pos - target, axis=-1)
    found = np.isfinite(err)
    assert sen["association"].startswith("geometry prior")
    assert sen["fused"]["blocks_with_fix"] == pytest.approx(found.mean())
    assert sen["fused"]["rmse_m"] == pytest.approx(np.sqrt(np.mean(err[found] ** 2)), rel=1e-6)
    for rap in sen["per_rap"]:  # the capture's noise is CN(0, 1): the estimate sits near 0 dB
        assert -1.5 < rap["noise_power_db"] < 0.5


def test_cli_prints_the_report_and_writes_json(live, tmp_path, capsys):
    _, capture, _, _ = live
    assert main(["replay", str(capture), "--blocks", "10", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "NMSE MMSE (eq 8)" in out and "fused position" in out and "RAP4: noise" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["blocks"] == 10 and len(report["sensing"]["per_rap"]) == 4


def test_noise_power_is_the_mean_noise_subspace_eigenvalue(rng):
    A = steering(np.array([0.3, -1.2]), np.array([0.5, 0.9]), 2, 3).T  # (6, 2)
    R = A @ np.diag([5.0, 2.0]) @ A.conj().T + 0.37 * np.eye(6)
    assert noise_power(R[None], np.array([2]))[0] == pytest.approx(0.37)


def _plain_rap_capture(cfg, tmp_path, scale: float, blocks: int = 60):
    """RAP1's echoes of the paper scene scaled by ``scale`` (noise power scale^2), written as a
    plain 4-channel cf32_le recording with the sigmf package: no cfisac: fields, no blocks."""
    rng = np.random.default_rng(8)
    real = draw_realizations(cfg, 1, rng)
    users = zf(real.F_hat, cfg.power_budget)
    W = isac_beamformer(
        users, target_beam(real.sensing.aT_t, real.sensing.amp_t), cfg.power_budget, 0.7
    )
    geom = drop(cfg, rng, 1)
    e = echo.synthesize_scene(cfg, geom, W, rng, blocks=blocks)
    y = scale * np.swapaxes(e.y[:, 0], 1, 2).reshape(-1, cfg.MR)  # RAP1, (blocks*tau, MR)
    y.astype(np.complex64).tofile(tmp_path / "plain.sigmf-data")
    handle = sigmffile.SigMFFile(
        data_file=str(tmp_path / "plain.sigmf-data"),
        global_info={
            "core:datatype": "cf32_le",
            "core:num_channels": cfg.MR,
            "core:sample_rate": 20e6,
            "core:version": sigmf.__specification__,
        },
    )
    handle.add_capture(0, metadata={"core:frequency": 3.5e9})
    handle.tofile(str(tmp_path / "plain"))
    return tmp_path / "plain.sigmf-meta", e


def test_plain_capture_replays_with_a_config_and_estimates_its_noise(tmp_path):
    cfg = SystemConfig(MR_shape=(4, 4))  # a 16-antenna RAP resolves the three scatterers
    meta, e = _plain_rap_capture(cfg, tmp_path, scale=10.0)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    # without a config it says exactly what is missing
    with pytest.raises(ValueError, match="no cfisac:config metadata .* Pass --config"):
        score_capture(meta)
    report = score_capture(meta, cfg, n_sources=3)
    assert report["config_source"] == "--config" and report["blocks"] == 60
    rap = report["sensing"]["per_rap"][0]
    assert rap["noise_power_db"] == pytest.approx(20.0, abs=0.5)  # 10^2: not assumed to be 1
    assert "no truth recording" in report["sensing"]["scored"]
    assert "skipped" in report["estimation"]
    # every scatterer is reported as a steady source: the target and both clutter points
    found = np.radians([[s["psi_deg"], s["theta_deg"]] for s in rap["sources"]])
    truth = [(e.psi_t[0, 0], e.theta_t[0, 0])] + list(zip(e.psi_c[0, 0], e.theta_c[0, 0]))
    for (psi, theta), within in zip(truth, (0.3, 1.5, 1.5)):  # the weak clutter wanders more
        d = np.degrees(separation(found[:, 0], found[:, 1], psi, theta))
        assert d.min() < within
        assert rap["sources"][int(d.argmin())]["share"] > 0.4  # steady, not sporadic
    # no fused position: a foreign capture's RAP positions are unknown
    assert "needs every RAP" in report["sensing"]["fused"]["skipped"]
    assert rap["blocks"]["counts"] == {"ok": 60}


def test_plain_capture_target_by_prior_or_clutter_map_and_useless_options_warn(tmp_path, capsys):
    """Issue 10 item 3: --target-deg picks the target among the sources, --clutter-map removes
    the clutter so the strongest remaining peak is the target, --gate-deg without a prior warns."""
    cfg = SystemConfig(MR_shape=(4, 4))
    meta, e = _plain_rap_capture(cfg, tmp_path, scale=1.0, blocks=20)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    psi, theta = np.degrees(e.psi_t[0, 0]), np.degrees(e.theta_t[0, 0])
    base = ["replay", str(meta), "--config", str(tmp_path / "cfg.json"), "--sources", "3"]
    rough = f"{psi + 2:.3f},{theta - 2:.3f}"  # a prior a few degrees off
    assert main([*base, f"--target-deg={rough}", "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    rap = json.loads((tmp_path / "a.json").read_text())["sensing"]["per_rap"][0]
    assert "--target-deg" in out and "fused position: none" in out
    assert "miss_rate" not in rap  # no truth: nothing to score, but the pick is reported
    assert rap["target"]["picked"] == 1.0
    assert abs(rap["target"]["median_psi_deg"] - psi) < 0.3
    assert abs(rap["target"]["median_theta_deg"] - theta) < 0.3
    clutter = tmp_path / "clutter.json"
    pairs = np.degrees(np.stack([e.psi_c[0, 0], e.theta_c[0, 0]], -1)).tolist()
    clutter.write_text(json.dumps({"clutter_deg": pairs}))
    args = ["--clutter-map", str(clutter), "--gate-deg", "5", "--json", str(tmp_path / "c.json")]
    assert main([*base, *args]) == 0
    rap = json.loads((tmp_path / "c.json").read_text())["sensing"]["per_rap"][0]
    assert rap["target"]["picked"] > 0.9  # the strongest peak that is not clutter
    assert abs(rap["target"]["median_psi_deg"] - psi) < 0.5
    captured = capsys.readouterr()
    assert "--gate-deg has no effect" in captured.err
    assert "clutter map applied" in captured.out
    bad = tmp_path / "bad.json"
    bad.write_text('{"clutter_deg": [1, 2, 3]}')
    assert main([*base, "--clutter-map", str(bad)]) == 2
    assert "--clutter-map" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--target-deg", "30"])
    assert "PSI,THETA" in capsys.readouterr().err


def test_cli_explains_missing_and_mismatched_metadata(tmp_path, capsys, live):
    cfg = SystemConfig()
    meta, _ = _plain_rap_capture(cfg, tmp_path, scale=1.0, blocks=4)
    assert main(["replay", str(meta)]) == 2
    err = capsys.readouterr().err
    assert "cfisac replay: error:" in err and "no cfisac:config metadata" in err
    other = tmp_path / "other.json"
    other.write_text(cfg.replace(NC=1).to_json())
    _, capture, _, _ = live
    assert main(["replay", str(capture), "--config", str(other)]) == 2
    assert "NC: 1 given vs 2 recorded" in capsys.readouterr().err
    broken = tmp_path / "plain.sigmf-data"
    broken.write_bytes(broken.read_bytes()[:-4])
    assert main(["replay", str(meta), "--config", str(tmp_path / "missing.json")]) == 2
    assert "--config " + str(tmp_path / "missing.json") in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"K": "four"}')
    assert main(["replay", str(meta), "--config", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: SystemConfig.K" in err and "give a SystemConfig JSON file" in err
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    assert main(["replay", str(meta), "--config", str(tmp_path / "cfg.json")]) == 2
    assert "not a whole number" in capsys.readouterr().err


def test_fuzzed_stream_metadata_never_crashes_the_source_or_replay(tmp_path):
    """What readers act on (cfisac:stream kind, index, items_per_block, layout; array shape;
    item count) damaged in every way the fuzzer knows: the reader, the SigMF source block and
    `cfisac replay` answer with their documented ValueError, never a TypeError."""
    from gr_cfisac.blocks.sigmf_source import sigmf_source
    from gr_cfisac.sigmf_io import SigMFError, read_recording, write_recording

    cfg = SystemConfig()
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2 * cfg.tau, cfg.MR)) + 0j).astype(np.complex64)
    meta = write_recording(
        tmp_path / "rec",
        x,
        blocks=[(0, 0), (cfg.tau, 1)],
        config=cfg,
        stream={"kind": "rap_echo", "index": 0, "items_per_block": cfg.tau, "ap": "rap"},
        array_shape=cfg.MR_shape,
    )
    original = json.loads(meta.read_text())
    junk = [None, True, -1, 0, 2.5, "", "x", [], {}, [1, "a"], {"kind": []}, ["rap_echo"]]
    keys = ["kind", "index", "items_per_block", "layout", "ap"]
    fuzz = np.random.default_rng(8)
    refused = 0
    for _ in range(120):
        doc = json.loads(json.dumps(original))
        glob = doc["global"]
        where = fuzz.integers(3)
        value = junk[fuzz.integers(len(junk))]
        if where == 0:
            glob["cfisac:stream"][keys[fuzz.integers(len(keys))]] = value
        elif where == 1:
            glob["cfisac:array_shape"] = value
        else:
            glob["cfisac:num_items"] = value
        meta.write_text(json.dumps(doc))
        try:
            read_recording(meta, verify_checksum=False)
        except SigMFError:
            refused += 1
            continue
        for run in (
            lambda: sigmf_source(cfg, str(meta), verify_checksum=False),
            lambda: score_capture(meta, cfg, verify_checksum=False),
        ):
            try:
                run()
            except ValueError:
                pass
    assert refused > 40


@pytest.mark.parametrize("geometry", [2.5, {"rap_pos_m": {"a": 1}, "rap_frame": [[1]]}])
def test_corrupt_collection_geometry_is_a_clear_error(live, tmp_path, geometry):
    import shutil

    _, capture, _, _ = live
    for f in capture.parent.glob(capture.name.replace(".sigmf-collection", "") + "*"):
        shutil.copy(f, tmp_path)
    copy = tmp_path / capture.name
    doc = json.loads(copy.read_text())
    doc["collection"]["cfisac:geometry"] = geometry
    copy.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="cfisac:geometry .*corrupt"):
        score_capture(copy, max_blocks=2)
