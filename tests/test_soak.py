"""The soak script (issue 17): a short run of the real chain gives a report whose growth is
computed from its RSS samples; the growth arithmetic on known series."""

import json

import numpy as np
import pytest

from gr_cfisac.bench.soak import rss_growth, rss_mb, run_soak


def test_growth_is_measured_after_warm_up():
    t = np.arange(8.0)
    rss = np.array([50.0, 180.0, 100.0, 100.0, 104.0, 110.0, 103.0, 105.0])  # warm-up spike
    g = rss_growth(t, rss, warmup_s=2.0)
    assert g["rss_at_warmup_mb"] == 100.0 and g["rss_max_after_warmup_mb"] == 110.0
    assert g["growth_pct"] == pytest.approx(10.0) and g["end_growth_pct"] == pytest.approx(5.0)
    assert g["samples_after_warmup"] == 6
    line = rss_growth(t, 100.0 + 2.0 * t, warmup_s=0.0)  # 2 MB/s
    assert line["slope_mb_per_h"] == pytest.approx(7200.0)
    with pytest.raises(ValueError, match="1 RSS sample.*run longer"):
        rss_growth(t, rss, warmup_s=7.0)


def test_a_short_soak_reports_rss_samples_and_their_growth(tmp_path):
    assert 10.0 < rss_mb() < 1e5
    report = run_soak(8.0, tmp_path, interval_s=1.0, warmup_s=3.0)
    on_disk = json.loads((tmp_path / "soak.json").read_text())
    assert on_disk["summary"] == pytest.approx(report["summary"])
    samples = on_disk["samples"]
    t = np.array([s["t_s"] for s in samples])
    rss = np.array([s["rss_mb"] for s in samples])
    blocks = np.array([s["blocks"] for s in samples])
    assert len(samples) >= 8 and t[-1] >= 8.0 and np.all(np.diff(t) > 0)
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
