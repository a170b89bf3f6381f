"""The soak script (issue 17): a short run of the real chain gives a report whose growth is
computed from its RSS samples; the growth arithmetic on known series."""

import json

import numpy as np
import pytest

from gr_cfisac.bench.soak import rss_growth, rss_mb, run_soak


def test_growth_is_measured_after_warm_up():
    """Medians of the first and last samples after warm-up: a swing is not growth, a leak is."""
    t = np.arange(10.0)
    rss = np.array([50.0, 180.0, 100.0, 101.0, 99.0, 130.0, 100.0, 110.0, 111.0, 109.0])
    g = rss_growth(t, rss, warmup_s=2.0)  # the spike at t=1 is warm-up
    assert (g["rss_start_mb"], g["rss_end_mb"], g["rss_max_after_warmup_mb"]) == (100, 110, 130)
    assert g["growth_pct"] == pytest.approx(10.0) and g["peak_pct"] == pytest.approx(30.0)
    assert g["samples_after_warmup"] == 8
    line = rss_growth(t, 100.0 + 2.0 * t, warmup_s=0.0)  # a 2 MB/s leak
    assert line["slope_mb_per_h"] == pytest.approx(7200.0)
    assert line["growth_pct"] == pytest.approx((116.0 - 102.0) / 102.0 * 100)
    with pytest.raises(ValueError, match="5 RSS sample.*6 needed"):
        rss_growth(t, rss, warmup_s=5.0)


def test_a_short_soak_reports_rss_samples_and_their_growth(tmp_path):
    assert 10.0 < rss_mb() < 1e5
    report = run_soak(8.0, tmp_path, interval_s=0.5, warmup_s=3.0)
    on_disk = json.loads((tmp_path / "soak.json").read_text())
    assert on_disk["summary"] == pytest.approx(report["summary"])
    samples = on_disk["samples"]
    t = np.array([s["t_s"] for s in samples])
    rss = np.array([s["rss_mb"] for s in samples])
    blocks = np.array([s["blocks"] for s in samples])
    assert len(samples) >= 15 and t[-1] >= 8.0 and np.all(np.diff(t) > 0)
    assert np.all(np.diff(blocks) >= 0) and blocks[-1] > 100  # the chain ran all along
    assert np.all(rss > 10.0)
    s = on_disk["summary"]
    assert s == pytest.approx(
        {
            **rss_growth(t, rss, 3.0),
            "flat": s["growth_pct"] <= 10.0,
            "tolerance_pct": 10.0,
            "blocks": int(blocks[-1]),
            "blocks_per_s": blocks[-1] / t[-1],
        }  # fmt: skip
    )
    assert on_disk["metrics_history_blocks"] == 10_000 and on_disk["warmup_s"] == 3.0
