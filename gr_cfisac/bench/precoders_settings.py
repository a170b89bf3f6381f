"""Settings of the precoder benchmark (bench precoders): the shipped models it compares, the
optimizer's settings, the thresholds of the SC / CC models (Table III) and of the trade-off
curves (Figs 7-8), and how many realizations each part uses (quick / full run)."""

from __future__ import annotations

import os

from ..models import shipped_models_dir
from ..recipe import DataConfig

MODELS = shipped_models_dir()
ETA = 0.4
COMM_THRESHOLD = 3.0  # vartheta_th of the SC model (bps/Hz)
SENSING_THRESHOLD = 0.5  # zeta_th of the CC model (bps/Hz)
SIZE = {True: 100, False: 2000}
#: the optimizer's settings in the line-up: label -> quality ("best" is the quality reference)
OPTIMIZER_SETTINGS = {"optimizer (best)": "best", "optimizer (fast)": "fast"}
#: a setting is as good as "best" when its mean objective is within this fraction of best's
BASELINE_TOLERANCE = 1e-4
OPTIMIZER_SIZE = {True: 8, False: int(os.environ.get("CFISAC_BENCH_OPTIMIZER_SIZE", "200"))}
TIMING_REPEATS = {True: 3, False: 7}
#: trade-off curves (Figs 7-8): thresholds, and realizations per point for the optimizer
SC_THRESHOLDS = (1.0, 2.0, 3.0, 4.0, 5.0)
CC_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
CURVE_SIZE = {True: 6, False: 200}
CURVE_QUALITY = "fast"
#: cache-key tag of the held-out realizations (the shipped cards' data seed, test split)
TEST_SEED = ("test", DataConfig().seed)
#: scenarios this benchmark draws realizations of
SCENARIOS = ("cellfree",)
#: the MU-MISO families first, in this order (the rest of the registry follows)
FAMILY_ORDER = ("wmmse", "rzf", "zf", "mrt")
#: shipped joint models: benchmark label -> model name
JOINT_MODELS = (
    ("STCIB (ONNX)", "stcib_joint"),
    ("STCIB fast (ONNX)", "stcib_joint_fast"),
    ("STCIB-PMA literal (ONNX)", "stcib_pma_joint"),
    ("CNN (ONNX)", "cnn_joint"),
    ("CNN, ZF head (ONNX)", "cnn_zf_joint"),
    ("STCIB target-aware (ONNX)", "stcib_target_joint"),
)
