"""cfisac bench teacher-student: the fronthaul count (centralized STCIB vs per-TAP models), the
goal ratios' bootstrap interval and, slow, the whole bench on the shipped set."""

import json

import numpy as np
import pytest

from gr_cfisac.bench import BENCHMARKS
from gr_cfisac.bench.teacher_student import fronthaul, ratio_interval
from gr_cfisac.config import SystemConfig
from gr_cfisac.decentral import PosConfig


def test_fronthaul_counts_estimates_up_and_beams_down_only_for_the_centralized_precoder():
    cfg = SystemConfig()
    f = fronthaul(cfg, PosConfig("pos1", L=2, M=16, N=5))
    tau = cfg.tau_c - cfg.tau_p
    cf = f["cellfree"]
    assert cf["centralized"]["estimates_up"] == cfg.NT * cfg.K * cfg.MT * 8
    assert cf["centralized"]["beams_down"] == cfg.NT * cfg.MT * (cfg.K + 1) * 8
    assert cf["decentralized"]["estimates_up"] == cf["decentralized"]["beams_down"] == 0
    assert cf["decentralized"]["symbols_down"] == cf["centralized"]["symbols_down"]
    assert f["pos1"]["centralized"]["estimates_up"] == 2 * 5 * 16 * 8
    assert f["pos1"]["tau"] == tau
    assert BENCHMARKS["teacher-student"] == "gr_cfisac.bench.teacher_student"


@pytest.mark.slow
def test_the_bench_reports_the_goals_on_the_shipped_set(tmp_path):
    pytest.importorskip("cvxpy")
    from gr_cfisac.bench import teacher_student

    report = teacher_student.run(tmp_path, quick=True)
    saved = json.loads((tmp_path / "teacher-student.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(report["summary"]))
    assert (tmp_path / "teacher-student.png").stat().st_size > 10_000
    assert report["goal"]["speedup"] > 100


def test_the_ratio_interval_is_a_paired_bootstrap_of_the_ratio_of_means():
    rng = np.random.default_rng(1)
    theirs = rng.exponential(2.0, 200)
    # paired: a fixed 5 % above the baseline on every realization is 1.05 with no spread at all
    assert ratio_interval(1.05 * theirs, theirs) == pytest.approx([1.05, 1.05])
    mine = rng.exponential(2.0, 200)  # unpaired noise: a wide interval around the point ratio
    lo, hi = ratio_interval(mine, theirs)
    point = mine.mean() / theirs.mean()
    assert lo < point < hi and hi - lo > 0.15
    # the interval narrows as 1/sqrt(n): 4x the realizations, about half the width
    lo4, hi4 = ratio_interval(np.tile(mine, 4), np.tile(theirs, 4))
    assert 0.4 < (hi4 - lo4) / (hi - lo) < 0.6
