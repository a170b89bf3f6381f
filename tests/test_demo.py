"""`cfisac demo` end to end on a few blocks (with a shipped learned precoder and a capture that
`cfisac replay` scores), its localization table and its figures."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gr_cfisac.demo import localization_stats
from gr_cfisac.music import Validity

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = 12


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run: printed text and its folder (figures in it, captures under cap/)."""
    from gr_cfisac.cli import main

    out = tmp_path_factory.mktemp("demo")
    model = ROOT / "models" / "stcib_joint_fast.onnx"
    argv = ["demo", "--blocks", str(BLOCKS), "--algorithm", str(model), "--out", str(out)]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*argv, "--capture", str(out / "cap")]) == 0
    return buf.getvalue(), out


def test_demo_runs_with_a_learned_precoder(demo):
    text, out = demo
    assert "sum rate" in text
    # its card fixes the Table-I RAP arrays: the 4x4-RAP run says it precodes with zf instead
    assert "4x4-RAP run precodes with zf" in text
    for name in ("music_spectrum.png", "rates.png", "map.png"):
        assert (out / name).stat().st_size > 10_000, name


def _section(text: str, start: str) -> str:
    body = text.split(start, 1)[1]
    return body.split("\nlocalization,", 1)[0]


def test_the_table_labels_miss_rate_and_gated_rmse_and_says_not_identifiable(demo):
    text, _ = demo
    small = _section(text, "localization, Table-I RAPs (2x2")
    big = _section(text, "localization, the same scene with 4x4 RAPs")
    for part in (small, big):
        assert "miss rate" in part and "RMSE found (gated)" in part and "ungated" in part
        assert "not identifiable" in part and "bad input" in part  # validity counts
    # three sources on 2x2 RAPs: every RAP's bound is infinite and said to be, never a number
    rows = [ln for ln in small.splitlines() if ln.startswith("  RAP ")]
    assert len(rows) == 4 and all("inf (scene not identifiable)" in ln for ln in rows)
    assert "PEB inf: not identifiable" in small
    big_rows = [ln for ln in big.splitlines() if ln.startswith("  RAP ") and "%" in ln]
    assert len(big_rows) == 4
    for ln in big_rows:  # finite CRB on 4x4 RAPs, and the valid block count
        assert "inf" not in ln and math.isfinite(float(ln.split()[-1]))
        assert int(ln.split()[2]) == BLOCKS


def test_demo_capture_scores_estimation_and_sensing_in_replay(demo, capsys):
    from gr_cfisac.cli import main

    text, out = demo
    capture = out / "cap" / "demo_rap4x4.sigmf-collection"
    assert f"cfisac replay {capture}" in text
    report_path = out / "replay.json"
    assert main(["replay", str(capture), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["blocks"] == BLOCKS
    assert report["streams"] == {
        "rap_echo": 4,
        "truth": 1,
        "geometry": 1,
        "tap_pilots": 8,
        "stats": 8,
    }
    est = report["estimation"]
    assert math.isfinite(est["nmse_mmse_db"]) and math.isfinite(est["nmse_mmse_predicted_db"])
    assert abs(est["nmse_mmse_db"] - est["nmse_mmse_predicted_db"]) < 1.5  # eqs 10-11
    for rap in report["sensing"]["per_rap"]:
        assert rap["valid_blocks"] == BLOCKS and rap["miss_rate"] is not None
    assert report["sensing"]["fused"]["blocks_with_fix"] > 0.5
    # the Table-I run's capture holds the same streams; MDL scores its sensing
    small = out / "cap" / "demo_rap2x2.sigmf-collection"
    assert main(["replay", str(small), "--sources", "0", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert math.isfinite(report["estimation"]["nmse_mmse_db"])
    assert sum(r["valid_blocks"] for r in report["sensing"]["per_rap"]) > 0
    capsys.readouterr()


def test_localization_stats_count_misses_and_score_them_by_the_nearest_peak():
    nan = np.nan
    # one RAP, 5 blocks: found, missed (peak 20 deg off), no peak, not identifiable, silent
    truth = np.radians([[[10.0, 40.0]]] * 5)
    peaks = np.radians(
        [
            [[[11.0, 40.0], [90.0, 30.0]]],
            [[[-60.0, 20.0], [30.0, 40.0]]],
            [[[nan, nan], [nan, nan]]],
            [[[nan, nan], [nan, nan]]],
            [[[nan, nan], [nan, nan]]],
        ]
    )
    validity = np.array([[0], [0], [0], [Validity.NOT_IDENTIFIABLE], [Validity.SILENT]])
    gated = np.radians([[1.0], [nan], [nan], [nan], [nan]])
    crb = np.radians([[2.0], [4.0], [2.0], [np.inf], [np.inf]])
    (s,) = localization_stats(validity, peaks, truth, truth, gated, crb)
    assert (s["valid"], s["not_identifiable"], s["bad_input"], s["no_peak"]) == (3, 1, 1, 1)
    assert s["miss_rate"] == pytest.approx(2 / 3)
    # ungated: the found block's 1 deg and the missed block's nearest peak, 20 deg off
    assert np.degrees(s["rmse_ungated"]) == pytest.approx(np.sqrt((1 + 400) / 2))
    assert np.degrees(s["rmse_gated"]) == pytest.approx(1.0)
    assert np.degrees(s["crb_rms"]) == pytest.approx(np.sqrt((4 + 16 + 4) / 3))


def _results(K=4, NR=4, n=5):
    rng = np.random.default_rng(0)
    return {
        "cb": np.arange(n),
        "rate": rng.uniform(5, 6, (n, K)),
        "rate_formula": rng.uniform(5, 6, (n, K)),
        "sensing_rate": rng.uniform(0.2, 1, (n, NR)),
        "sensing_rate_formula": rng.uniform(0.2, 1, (n, NR)),
    }


def test_rates_figure_has_one_labelled_bar_per_user_and_rap_per_method():
    import matplotlib.pyplot as plt

    from gr_cfisac.demo_plots import COLOURS, rates_figure

    r = _results()
    fig = rates_figure(r)
    users, raps = fig.axes[:2]
    for ax, n, key in ((users, 4, "rate"), (raps, 4, "sensing_rate")):
        groups = ax.containers
        assert len(groups) == 2  # measured, formula
        for bars, name, values in zip(groups, ("measured", "formula"), (key, key + "_formula")):
            assert len(bars) == n
            assert {tuple(b.get_facecolor()) for b in bars} == {
                tuple(plt.matplotlib.colors.to_rgba(COLOURS[name]))
            }
            np.testing.assert_allclose([b.get_height() for b in bars], r[values].mean(0))
        texts = [t.get_text() for t in ax.texts]
        assert len(texts) == 2 * n and all(float(t) > 0 for t in texts)
    assert [t.get_text() for t in users.get_xticklabels()] == [f"user {k}" for k in range(1, 5)]
    plt.close(fig)


def _map(cov):
    from gr_cfisac.config import SystemConfig
    from gr_cfisac.demo_plots import map_figure
    from gr_cfisac.geometry import ap_positions

    taps, raps = ap_positions(SystemConfig())
    target = np.array([12.0, 0.5, 1.5])
    est = target + np.array([[0.1, -0.05, 0], [np.nan, np.nan, np.nan], [-0.2, 0.1, 0]])
    users = np.array([[5.0, 45, 1.5], [25, 45, 1.5], [15, 20, 1.5], [40, 20, 1.5]])
    clutter = np.array([[-2.0, 6, 1.5], [9.7, 9.7, 1.5]])
    return map_figure(taps, raps, users, target, clutter, est, cov)


def _ellipses(fig):
    from matplotlib.patches import Ellipse

    axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]  # the inset is a child
    return [p for a in axes for p in a.patches if isinstance(p, Ellipse)]


def test_map_figure_shows_the_network_estimates_and_the_peb_ellipse():
    import matplotlib.pyplot as plt

    cov = np.array([[0.01, 0.004], [0.004, 0.02]])
    fig = _map(cov)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for want in ("TAP", "RAP", "user", "clutter", "target (true)", "fused estimate (2 blocks)"):
        assert want in labels
    assert any(lbl.startswith("PEB ellipse") and "0.17 m" in lbl for lbl in labels)
    ellipses = _ellipses(fig)
    assert len(ellipses) == 2  # on the map and in the inset around the target
    e = ellipses[0]
    lam = np.linalg.eigvalsh(cov)
    assert (e.width, e.height) == pytest.approx(tuple(2 * np.sqrt(lam[::-1])))
    major = np.linalg.eigh(cov)[1][:, 1]  # the width lies along the largest variance
    assert np.degrees(np.arctan2(major[1], major[0])) % 180 == pytest.approx(e.angle % 180)
    assert tuple(e.center) == pytest.approx((12.0, 0.5))
    plt.close(fig)
    # not identifiable: no ellipse, no PEB entry
    fig = _map(np.full((2, 2), np.nan))
    assert not _ellipses(fig)
    assert not any("PEB" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)


def test_spectrum_markers_at_psi_180_are_inside_the_axis():
    import matplotlib.pyplot as plt

    from gr_cfisac.demo_plots import spectrum_figure

    rng = np.random.default_rng(1)
    Y = (rng.standard_normal((16, 64)) + 1j * rng.standard_normal((16, 64))) / np.sqrt(2)
    target = (np.pi, np.radians(40.0))  # psi = 180 deg exactly
    clutter = (np.radians([-179.5, 30.0]), np.radians([45.0, 20.0]))
    fig = spectrum_figure(Y, (4, 4), 3, target, clutter)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    xs = np.concatenate([ln.get_xdata() for ln in ax.lines if ln.get_marker() in ("+", "x")])
    assert lo < -180 and hi > 180
    assert np.all((xs > lo + 2) & (xs < hi - 2))  # never on the edge, where it would be cut
    assert 180 in xs and -180 in xs  # psi = 180 is shown on both sides of the seam
    plt.close(fig)
