"""Coisac metrics sink: the metrics sink with paper 003's SPEB next to the fused position error.

Ports and measurements as :class:`~gr_cfisac.blocks.metrics_sink.metrics_sink` (built with
the coisac stream config, coisac.network.stream_config, and ``with_sensing``): per user the
SINR measured from the samples and eq 3's, per BS the SCNR of its echo, the error of the fused
position (coisac_fusion) and of each BS's target angles. The bounds recorded per block are
paper 003's instead of the cell-free CRB/PEB:

- ``speb`` (m^2): the SPEB of eqs 19-31 in the core's exact form (coisac.speb, ``form="exact"``)
  for the W the precoder sent and tau = ``cfg.tau`` echo samples (the samples every BS's
  MUSIC sees), alpha and the target from the scenario's truth;
- ``speb_eq20`` (m^2): eq 20's form, the bound with a free amplitude per receiver and stream,
  which keeps only the receive-angle information -- what MUSIC + fusion can use.

The ``metrics`` message adds ``speb`` and ``speb_eq20``. :meth:`summary` adds the mean SPEB,
sqrt(mean SPEB) and the ratio of the fused position's RMSE to it, and eq 4's rates
log2(1 + SINR) (the coisac rates carry no pilot pre-log; coisac.network docstring).
"""

from __future__ import annotations

import numpy as np

from ..coisac.network import block_speb, coisac_config
from ..config import SystemConfig
from .metrics_sink import metrics_sink


class coisac_metrics_sink(metrics_sink):  # noqa: N801 - GNU Radio block naming
    """Measured rates and localization error per block with the SPEB of paper 003."""

    message_bounds = ("speb", "speb_eq20")

    def __init__(self, config: SystemConfig, **kwargs) -> None:
        if not kwargs.get("with_sensing", True):
            raise ValueError("coisac_metrics_sink: with_sensing must be True (it reports the SPEB)")
        super().__init__(config, **kwargs)
        self.coisac = coisac_config(self.cfg)

    def sensing_bounds(self, sg, truth: dict, W: np.ndarray) -> dict[str, np.ndarray]:
        """The SPEB (exact and eq 20's form) of each block for the W sent and tau samples."""
        args = (self.coisac, sg, truth["varpi_t"], truth["target_pos"], W, self.cfg.tau)
        return {"speb": block_speb(*args), "speb_eq20": block_speb(*args, form="eq20")}

    def summary(self) -> dict[str, np.ndarray | float]:
        """metrics_sink.summary plus ``speb_mean_m2`` (inf if a block's beams leave the position
        unidentifiable), ``speb_rms_m`` = sqrt(mean SPEB), ``speb_eq20_rms_m``,
        ``rmse_over_speb`` = position_rmse_m / speb_rms_m, and eq 4's per-user ``rate_eq4``,
        ``rate_eq4_formula`` with their per-block sums ``sum_rate_eq4(_formula)``."""
        out = super().summary()
        r = self.results()
        if not r:
            return out
        out["speb_mean_m2"] = float(np.mean(r["speb"]))
        out["speb_rms_m"] = float(np.sqrt(out["speb_mean_m2"]))
        out["speb_eq20_rms_m"] = float(np.sqrt(np.mean(r["speb_eq20"])))
        out["rmse_over_speb"] = out["position_rmse_m"] / out["speb_rms_m"]
        active = r["active"]
        served = np.maximum(active.sum(0), 1)
        for key, sinr in (("rate_eq4", r["sinr"]), ("rate_eq4_formula", r["sinr_formula"])):
            rates = np.where(active, np.log2(1.0 + sinr), 0.0)
            out[key] = rates.sum(0) / served
            out["sum_" + key] = float(rates.sum(1).mean())
        return out

    def summary_line(self) -> str:
        s = self.summary()
        line = super().summary_line()
        if "speb_rms_m" in s:
            line += (
                f"; sqrt(mean SPEB) {s['speb_rms_m']:.3f} m (RMSE / sqrt(SPEB) "
                f"{s['rmse_over_speb']:.2f})"
            )
        return line
