"""Metrics sink: joins ground truth and estimates per block and measures what the chain achieved.

Ports (per coherence block):

- in ``user`` x K         complex64, tau items: what user k received (downlink_channel)
- in ``symbols``          complex64[K+1], tau items: x(t) as sent (transmitter)
- in ``truth``            complex64[truth], 1 item: true F, realized G, positions (scenario)
- in ``W``                complex64[N (K+1)], 1 item: the beamformer used (precoder)
- with ``with_sensing``:
  - in ``geometry``       complex64[geometry], 1 item: sensing geometry (for the CRB)
  - in ``rap`` x NR       complex64[MR], tau items: what RAP j received (echo_channel)
  - in ``fix``            float32[fix], 1 item: the fused target position and angles (fusion)
- in ``active``, optional float32[K], 1 item: the active-user mask (scenario source);
  unconnected: every user is active
- out ``rates``, optional float32[K + NR], 1 item: measured communication rates then sensing
  rates (bps/Hz), for QT GUI time sinks
- out ``equalized``, optional complex64, tau items: user ``display_user``'s symbols divided by
  the measured gain (for a constellation display)
- message out ``metrics``: {cb, active (K,) 0/1, active_count, sinr_db, rate, sum_rate,
  scnr_db, sensing_rate, position_error_m, angle_error_deg} every ``msg_interval`` blocks

Inactive users (mask 0) have no metrics: their SINR and rate are recorded as 0 (never NaN) and
left out of every mean — a user's mean rate and SINR are over the blocks it was active in (0,
i.e. -inf dB, if it never was), the sum rate of a block sums its active users.

Measured, per block, from the samples (not from the formulas):
- SINR_k: least-squares gain g = <y_k, x_k> / tau, residual e = y_k - g x_k, SINR = (|g|^2 -
  s2 / tau) / s2 with s2 = ||e||^2 / (tau - 1) (unbiased for unit-power symbols);
- SCNR_j: the target's echo T = G_jt W x(t) from the truth, SCNR = ||T||^2 / ||y_j - T||^2
  (clutter plus noise as received);
- localization: position error (m) of the fused fix and eq 43's angle error at every RAP, next
  to the CRB (bounds.target_bounds) and the position-error bound of the block.
The formulas (metrics.sinr eq 20, metrics.scnr eq 22) are recorded beside them for the same
realizations. A running summary is printed every ``print_interval`` blocks, every block's row
goes to ``csv_path`` (if given), and :meth:`results` / :meth:`summary` give them to Python.

Memory is bounded: the per-block rows live in a ring buffer of the last ``history`` blocks
(default 10,000, ~3 MB on Table I), preallocated on the first call, so a run of any length holds
the same memory. :meth:`results`, :meth:`summary` and the printed line cover that window (the
line says "last N of M blocks" once blocks were dropped); the CSV keeps every block.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pmt

from ..bounds import position_error_bound, target_bounds
from ..config import SystemConfig
from ..echo import scatterer_gains, source_covariance
from ..geometry import rap_poses
from ..localization import localization_error
from ..metrics import measured_scnr, measured_sinr, rate, scnr, sinr
from ._base import CoherenceBlock, Port, check_config
from .layout import fix_layout, geometry_layout, precoder_layout, truth_layout, unpack_geometry
from .messages import encode


def _db(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(x)


class Ring:
    """The last ``size`` per-block rows of named arrays, preallocated on the first append."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = 0  # rows ever appended
        self._buf: dict[str, np.ndarray] = {}

    def append(self, rows: dict[str, np.ndarray]) -> None:
        n = len(rows["cb"])
        if not self._buf:
            self._buf = {k: np.empty((self.size,) + v.shape[1:], v.dtype) for k, v in rows.items()}
        keep = min(n, self.size)  # only the newest rows of an oversized append can stay
        idx = (self.count + n - keep + np.arange(keep)) % self.size
        for k, buf in self._buf.items():
            buf[idx] = rows[k][n - keep :]
        self.count += n

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._buf.values())

    def window(self) -> dict[str, np.ndarray]:
        """The kept rows, oldest first (copies)."""
        if self.count <= self.size:
            return {k: b[: self.count].copy() for k, b in self._buf.items()}
        start = self.count % self.size
        return {k: np.concatenate([b[start:], b[:start]]) for k, b in self._buf.items()}


class metrics_sink(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Measured per-user SINR/rate, per-RAP SCNR/sensing rate and localization error per block."""

    #: fields of :meth:`sensing_bounds` that the ``metrics`` message also carries
    message_bounds: tuple[str, ...] = ()

    def __init__(
        self,
        config: SystemConfig,
        with_sensing: bool = True,
        csv_path: str = "",
        print_interval: int = 100,
        display_user: int = 1,
        msg_interval: int = 1,
        history: int = 10_000,
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        if not 1 <= int(display_user) <= cfg.K:
            raise ValueError(
                f"metrics_sink: display_user must be in 1..K={cfg.K}, got {display_user}"
            )
        for name, value in (("print_interval", print_interval), ("msg_interval", msg_interval)):
            if int(value) < 0:
                raise ValueError(f"metrics_sink: {name} must be >= 0 (0: off), got {value}")
        if isinstance(history, bool) or int(history) < 1:
            raise ValueError(
                f"metrics_sink: history must be >= 1 blocks (the summary window), got {history!r}"
            )
        self.truth = truth_layout(cfg)
        self.whole = precoder_layout(cfg)
        self.geometry = geometry_layout(cfg)
        self.fix = fix_layout(cfg)
        self.with_sensing = bool(with_sensing)
        inputs = [Port(f"user{k + 1}", np.complex64, 1, cfg.tau) for k in range(cfg.K)] + [
            Port("symbols", np.complex64, cfg.K + 1, cfg.tau),
            Port("truth", np.complex64, self.truth.size, 1),
            Port("W", np.complex64, self.whole.size, 1),
        ]
        if self.with_sensing:
            inputs += [Port("geometry", np.complex64, self.geometry.size, 1)]
            inputs += [Port(f"rap{j + 1}", np.complex64, cfg.MR, cfg.tau) for j in range(cfg.NR)]
            inputs += [Port("fix", np.float32, self.fix.size, 1)]
        inputs += [Port("active", np.float32, cfg.K, 1)]
        outputs = [
            Port("rates", np.float32, cfg.K + cfg.NR, 1),
            Port("equalized", np.complex64, 1, cfg.tau),
        ]
        super().__init__(
            "cfisac_metrics_sink",
            cfg,
            inputs,
            outputs,
            min_inputs=len(inputs) - 1,
            min_outputs=0,
            max_blocks=max_blocks,
        )
        self.display_user = int(display_user)
        self.print_interval = int(print_interval)
        self.msg_interval = int(msg_interval)
        self.csv_path = Path(csv_path) if csv_path else None
        if self.csv_path is not None and not self.csv_path.parent.is_dir():
            raise ValueError(
                f"metrics_sink: csv_path {csv_path}: the folder {self.csv_path.parent} does not "
                "exist; create it or choose another path (empty: no CSV)"
            )
        self._csv = None
        self._ring = Ring(int(history))
        self._last_print = 0
        self.rap_pos, self.rap_frame = rap_poses(cfg)
        self.message_port_register_out(pmt.intern("metrics"))

    # ------------------------------------------------------------------ GNU Radio
    def stop(self) -> bool:
        if self._csv is not None:
            self._csv[0].close()
            self._csv = None
        if self.print_interval and self.blocks_done > self._last_print:
            print(self.summary_line(), flush=True)
        return True

    def process(self, cb, ins, outs) -> None:
        cfg = self.cfg
        K, NR, n = cfg.K, cfg.NR, len(cb)
        y = np.stack([ins[k][:, :, 0] for k in range(K)], axis=1).astype(np.complex128)
        x = np.swapaxes(ins[K][:], 1, 2).astype(np.complex128)  # (n, K+1, tau)
        truth = self.truth.unpack(ins[K + 1][:, 0])
        W = self.whole.unpack(ins[K + 2][:, 0])["W"]
        if len(ins) == len(self.in_ports):
            active = ins[-1][:, 0] > 0.5
        else:
            active = np.ones((n, K), bool)
        rec: dict[str, np.ndarray] = {"cb": cb.copy()}
        sinr_meas, gain = measured_sinr(y, x[:, 1:])
        # an inactive user has no metrics: 0, never NaN, and left out of the means
        rec["sinr"] = np.where(active, sinr_meas, 0.0)
        rec["sinr_formula"] = np.where(active, sinr(truth["F"], W), 0.0)
        rec["rate"] = rate(rec["sinr"], cfg.kappa)
        rec["rate_formula"] = rate(rec["sinr_formula"], cfg.kappa)
        if self.with_sensing:
            rec.update(self._sensing(ins, truth, W, x))
        rec["active"] = active
        rec["active_count"] = active.sum(1)
        rec["sum_rate"] = rec["rate"].sum(1)
        rec["sum_rate_formula"] = rec["rate_formula"].sum(1)
        self._record(rec)
        if outs:
            srate = rec.get("sensing_rate", np.full((n, NR), np.nan))
            outs[0][:, 0] = np.concatenate([rec["rate"], srate], axis=1)
        if len(outs) > 1:
            u = self.display_user - 1
            outs[1][:, :, 0] = y[:, u] / np.where(gain[:, u] == 0, 1, gain[:, u])[:, None]
        for j in self.message_rows("metrics", cb):
            self.publish("metrics", self._message(rec, j))

    def _sensing(self, ins, truth, W, x) -> dict[str, np.ndarray]:
        cfg = self.cfg
        K, NR = cfg.K, cfg.NR
        sg = unpack_geometry(cfg, ins[K + 3][:, 0])
        y = np.stack([np.swapaxes(ins[K + 4 + j], 1, 2) for j in range(NR)], axis=1)
        fix = self.fix.unpack(ins[K + 4 + NR][:, 0])
        n = len(W)
        echo_t = (truth["G_t"].reshape(n, NR * cfg.MR, cfg.N) @ W @ x).reshape(y.shape)
        out = {
            "scnr": measured_scnr(y.astype(np.complex128), echo_t),
            "scnr_formula": scnr(truth["G_t"], truth["G_c"], W),
        }
        out["sensing_rate"] = rate(out["scnr"], cfg.kappa)
        out["sensing_rate_formula"] = rate(out["scnr_formula"], cfg.kappa)
        out["position_error"] = np.linalg.norm(fix["pos"] - truth["target_pos"], axis=-1)
        out["angle_error"] = localization_error(
            truth["psi_t"], truth["theta_t"], fix["psi"], fix["theta"]
        )
        out.update(self.sensing_bounds(sg, truth, W))
        return out

    def sensing_bounds(self, sg, truth: dict, W: np.ndarray) -> dict[str, np.ndarray]:
        """Per-block bounds recorded next to the measured errors: the cell-free angle CRB per
        RAP (``angle_crb``) and the PEB (``peb``, known height). A sink for another scenario
        overrides this (e.g. coisac_metrics_sink: the SPEB of paper 003)."""
        cfg = self.cfg
        P = source_covariance(*scatterer_gains(sg, W, truth["varpi_t"], truth["varpi_c"]))
        with np.errstate(all="ignore"):  # an unidentifiable geometry has an infinite bound
            bounds = target_bounds(sg, P, *cfg.MR_shape, cfg.tau)
            peb = position_error_bound(
                self.rap_pos, self.rap_frame, truth["target_pos"], bounds.info_uv, known_height=True
            )[0]
        return {"angle_crb": bounds.angle_rmse_bound, "peb": peb}

    # ------------------------------------------------------------------ bookkeeping
    def _record(self, rec: dict[str, np.ndarray]) -> None:
        self._ring.append(rec)
        if self.csv_path is not None:
            self._write_csv(rec)
        if (
            self.print_interval
            and self.blocks_done + len(rec["cb"]) - self._last_print >= self.print_interval
        ):
            self._last_print = self.blocks_done + len(rec["cb"])
            print(self.summary_line(), flush=True)

    def _write_csv(self, rec: dict[str, np.ndarray]) -> None:
        cols = [(k, v) for k, v in rec.items() if k != "cb"]
        if self._csv is None:
            f = open(self.csv_path, "w", newline="")  # noqa: SIM115 - closed in stop()
            header = ["cb"] + [
                f"{k}_{i + 1}" if v.ndim > 1 else k
                for k, v in cols
                for i in range(max(1, v.shape[-1] if v.ndim > 1 else 1))
            ]
            writer = csv.writer(f)
            writer.writerow(header)
            self._csv = (f, writer)
        f, writer = self._csv
        table = np.column_stack([rec["cb"]] + [v.reshape(len(rec["cb"]), -1) for _, v in cols])
        writer.writerows([[int(r[0])] + [f"{v:.6g}" for v in r[1:]] for r in table])
        f.flush()

    def _message(self, rec: dict[str, np.ndarray], j: int):
        fields = {
            "active": rec["active"][j].astype(np.int64),
            "active_count": int(rec["active_count"][j]),
            "sinr_db": _db(rec["sinr"][j]),
            "rate": rec["rate"][j],
            "sum_rate": float(rec["sum_rate"][j]),
        }
        if "scnr" in rec:
            fields.update(
                scnr_db=_db(rec["scnr"][j]),
                sensing_rate=rec["sensing_rate"][j],
                position_error_m=float(rec["position_error"][j]),
                angle_error_deg=np.degrees(rec["angle_error"][j]),
            )
            fields.update({k: rec[k][j] for k in self.message_bounds})
        return encode(int(rec["cb"][j]), **fields)

    @property
    def history(self) -> int:
        """Blocks kept for :meth:`results` and :meth:`summary` (the ring buffer's size)."""
        return self._ring.size

    @property
    def history_bytes(self) -> int:
        """Bytes the summary window holds (fixed once the first block is recorded)."""
        return self._ring.nbytes

    def results(self) -> dict[str, np.ndarray]:
        """The last ``history`` recorded blocks, oldest first: name -> (blocks, ...) arrays,
        linear units, angles in radians. Keys: cb, active (blocks, K) bool, active_count,
        sinr, sinr_formula, rate, rate_formula (0 for inactive users), sum_rate,
        sum_rate_formula (over the active users) and,
        with sensing, scnr, scnr_formula, sensing_rate, sensing_rate_formula, position_error,
        angle_error, angle_crb, peb."""
        return self._ring.window()

    def summary(self) -> dict[str, np.ndarray | float]:
        """Averages over the window of :meth:`results` (the last ``history`` blocks): mean
        SINR/SCNR (dB of the linear mean), mean rates, RMS position and angle errors (misses
        excluded) with the RMS bounds. ``blocks``: blocks in the window; ``blocks_total``: every
        block recorded. Per-user means (sinr, rate) are over the blocks the user was active in
        (0 if none); ``sum_rate`` / ``sum_rate_formula``: the mean per-block sum over the
        active users; ``active_count_mean``; ``active_fraction`` (K,): share of blocks each
        user was active in."""
        r = self.results()
        if not r:
            return {"blocks": 0, "blocks_total": 0}
        out: dict[str, np.ndarray | float] = {
            "blocks": len(r["cb"]),
            "blocks_total": self._ring.count,
        }
        active = r["active"]
        served = np.maximum(active.sum(0), 1)  # a never-active user's mean: 0 (no metrics)
        for k in ("sinr", "sinr_formula"):
            out[k + "_db"] = _db(np.where(active, r[k], 0.0).sum(0) / served)
        for k in ("rate", "rate_formula"):
            out[k] = np.where(active, r[k], 0.0).sum(0) / served
        for k in ("scnr", "scnr_formula"):
            if k in r:
                out[k + "_db"] = _db(r[k].mean(0))
        for k in ("sum_rate", "sum_rate_formula", "sensing_rate", "sensing_rate_formula"):
            if k in r:
                out[k] = r[k].mean(0)
        out["active_count_mean"] = float(r["active_count"].mean())
        out["active_fraction"] = active.mean(0)
        if "position_error" in r:
            pe = r["position_error"]
            ok = np.isfinite(pe)
            out["position_rmse_m"] = float(np.sqrt(np.mean(pe[ok] ** 2))) if ok.any() else np.nan
            out["position_miss_rate"] = float(1 - ok.mean())
            if "peb" in r:
                out["peb_rms_m"] = float(np.sqrt(np.mean(r["peb"] ** 2)))
            ae = r["angle_error"]
            out["angle_rmse"] = np.array(
                [
                    np.sqrt(np.nanmean(ae[:, j] ** 2)) if np.isfinite(ae[:, j]).any() else np.nan
                    for j in range(ae.shape[1])
                ]
            )
            if "angle_crb" in r:
                out["angle_crb_rms"] = np.sqrt(np.mean(r["angle_crb"] ** 2, axis=0))
        return out

    def summary_line(self) -> str:
        s = self.summary()
        if not s.get("blocks"):
            return "cfisac metrics: no blocks yet"
        fmt = " ".join
        window = (
            f"{s['blocks']}"
            if s["blocks"] == s["blocks_total"]
            else (f"the last {s['blocks']} of {s['blocks_total']}")
        )
        line = (
            f"cfisac metrics over {window} blocks: SINR dB measured "
            f"[{fmt(f'{v:.1f}' for v in s['sinr_db'])}] formula "
            f"[{fmt(f'{v:.1f}' for v in s['sinr_formula_db'])}], sum rate "
            f"{s['sum_rate']:.2f} bps/Hz"
        )
        if s["active_count_mean"] < self.cfg.K:
            line += f" (on average {s['active_count_mean']:.2f} of {self.cfg.K} users active)"
        if "sensing_rate" in s:
            line += (
                f"; sensing rate [{fmt(f'{v:.3f}' for v in s['sensing_rate'])}] bps/Hz; position "
                f"RMSE {s['position_rmse_m']:.3f} m"
            )
            if "peb_rms_m" in s:
                line += f" (PEB {s['peb_rms_m']:.3f} m)"
        return line
