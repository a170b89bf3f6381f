"""Score a SigMF capture: rerun channel estimation and MUSIC on it and compare with its ground truth.

CAPTURE is a .sigmf-collection written by the CF-ISAC SigMF Sink, one recording's .sigmf-meta
(its collection is opened when it lies beside it), or a plain cf32_le multi-channel capture
made by another tool (antennas as channels, no cfisac: metadata; give --config).

What is scored, from what the capture holds:
- estimation (tap_pilots + stats + truth): NMSE of the MMSE (eq 8) and LS estimates against
  the true channels, next to the MMSE error covariance's prediction (eqs 10-11); with recorded
  live estimates also the largest difference between them and the rerun;
- sensing (rap_echo): per RAP the noise power estimated from the noise-subspace eigenvalues of
  the sample covariance (never assumed to be 1: real radios have their own scale) and the echo
  power above it; MUSIC (eqs 41-42) per block; with truth the localization error of eq 43 at
  every RAP and the fused position error in metres (the target picked among the peaks by the
  network-known direction when the geometry stream is there, else by the true one: "oracle").
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import SystemConfig
from .sigmf_io import Collection, Recording, read_capture

CHUNK = 256  # coherence blocks per step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "capture",
        type=Path,
        metavar="CAPTURE",
        help=".sigmf-collection, or a recording's .sigmf-meta",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="SystemConfig JSON, for captures without cfisac:config metadata",
    )
    parser.add_argument(
        "--sources",
        type=int,
        default=None,
        help="sources MUSIC assumes (default NC + 1; 0: MDL per block)",
    )
    parser.add_argument(
        "--method",
        choices=("fast", "grid"),
        default="fast",
        help="MUSIC peak search: coarse-to-fine (default) or the paper's grid",
    )
    parser.add_argument(
        "--gate-deg",
        type=float,
        default=10.0,
        help="a target peak must lie this close to the prior direction (as "
        "the fusion block's default)",
    )
    parser.add_argument("--blocks", type=int, default=None, help="score at most this many blocks")
    parser.add_argument(
        "--plain-kind",
        choices=("rap_echo", "tap_pilots"),
        default="rap_echo",
        help="what recordings without cfisac:stream metadata carry",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the sha512 checks")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")


def run(args: argparse.Namespace) -> int:
    config = None
    if args.config is not None:
        try:
            config = SystemConfig.from_json(args.config.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"--config {args.config}: {getattr(exc, 'strerror', None) or exc}; give a "
                "SystemConfig JSON file (SystemConfig.to_json())"
            ) from None
    report = score_capture(
        args.capture,
        config,
        n_sources=args.sources,
        method=args.method,
        max_blocks=args.blocks,
        plain_kind=args.plain_kind,
        verify_checksum=not args.no_verify,
        progress=True,
    )
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    return 0


# ----------------------------------------------------------------------------- reading blocks


@dataclass
class BlockReader:
    """The complete coherence blocks of one recording: their indices and samples on demand."""

    rec: Recording
    per_block: int
    cbs: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, rec: Recording, per_block: int) -> BlockReader:
        blocks = [a for a in rec.blocks() if a.start + per_block <= rec.num_items]
        if blocks:
            cbs = np.array([a.cb for a in blocks], dtype=np.int64)
            starts = np.array([a.start for a in blocks], dtype=np.int64)
        else:  # no cb annotations: consecutive blocks numbered from 0
            cbs = np.arange(rec.num_items // per_block, dtype=np.int64)
            starts = cbs * per_block
        return cls(rec, per_block, cbs, starts)

    def read(self, cbs: np.ndarray) -> np.ndarray:
        """Samples of the given blocks: (len(cbs), per_block, channels) complex128."""
        index = np.searchsorted(self.cbs, cbs)
        data = self.rec.samples(mmap=True)
        return np.asarray(
            data[self.starts[index][:, None] + np.arange(self.per_block)], dtype=np.complex128
        )


def _config_of(capture: Collection, given: SystemConfig | None, where: Path) -> SystemConfig:
    recorded = capture.config
    if recorded is None and given is None:
        names = ", ".join(r.name for r in capture.recordings)
        raise ValueError(
            f"{where} has no cfisac:config metadata (the SystemConfig it was recorded with: "
            f"array shapes, tau_c, tau_p, K, NC ...), needed to cut its samples into coherence "
            f"blocks and steer MUSIC; recordings: {names}. Pass --config CONFIG.json (a "
            "SystemConfig.to_json() file)"
        )
    if recorded is not None and given is not None:
        mine, theirs = recorded.to_dict(), given.to_dict()
        diff = [
            f"{k}: {theirs[k]!r} given vs {mine[k]!r} recorded"
            for k in mine
            if k != "extra" and mine[k] != theirs.get(k)
        ]
        if diff:
            raise ValueError(
                f"{where} was recorded with another SystemConfig ({'; '.join(diff)}); drop "
                "--config to use the recorded one"
            )
    return recorded if recorded is not None else given


def _streams(capture: Collection, cfg: SystemConfig, plain_kind: str) -> dict[str, list[Recording]]:
    out: dict[str, list[Recording]] = {}
    for rec in capture.recordings:
        out.setdefault(rec.kind or plain_kind, []).append(rec)
    for recs in out.values():
        recs.sort(key=lambda r: int(r.stream.get("index", 0)))
    expected = {"rap_echo": cfg.MR, "tap_pilots": cfg.MT}
    for kind, channels in expected.items():
        for rec in out.get(kind, []):
            if rec.num_channels != channels:
                raise ValueError(
                    f"{rec.meta_path}: {rec.num_channels} channels, but a {kind} recording of "
                    f"this configuration has {channels} (one per antenna); check --config"
                )
    return out


# ----------------------------------------------------------------------------- scoring


def noise_power(R: np.ndarray, n_sources: np.ndarray) -> np.ndarray:
    """Noise power from the noise-subspace eigenvalues: the mean of the M - n smallest
    eigenvalues of each sample covariance R (..., M, M) (n (...,) sources). -> (...,)."""
    eig = np.linalg.eigvalsh(R)  # ascending
    M = R.shape[-1]
    n = np.clip(np.asarray(n_sources), 0, M - 1)
    mask = np.arange(M) < (M - n)[..., None]
    return (eig * mask).sum(-1) / mask.sum(-1)


def score_capture(
    path: str | Path,
    config: SystemConfig | None = None,
    *,
    n_sources: int | None = None,
    method: str = "fast",
    gate_deg: float | None = 10.0,
    max_blocks: int | None = None,
    plain_kind: str = "rap_echo",
    verify_checksum: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Rerun estimation and MUSIC on a capture and score them; returns the report dict."""
    path = Path(path)
    capture = read_capture(path, verify_checksum=verify_checksum)
    cfg = _config_of(capture, config, path)
    streams = _streams(capture, cfg, plain_kind)
    per_block = {"rap_echo": cfg.tau, "tap_pilots": cfg.tau_p, "tap_downlink": cfg.tau}
    readers = {
        kind: [BlockReader.of(r, per_block.get(kind, 1)) for r in recs]
        for kind, recs in streams.items()
    }
    all_readers = [r for rs in readers.values() for r in rs]
    if not all_readers:
        raise ValueError(f"{path}: the capture holds no recording")
    cbs = all_readers[0].cbs
    for r in all_readers[1:]:
        cbs = np.intersect1d(cbs, r.cbs)
    if max_blocks is not None:
        cbs = cbs[: int(max_blocks)]
    if len(cbs) == 0:
        raise ValueError(f"{path}: its recordings share no complete coherence block")
    report: dict[str, Any] = {
        "capture": str(path),
        "config": cfg.summary(),
        "config_source": "capture" if capture.config is not None else "--config",
        "blocks": int(len(cbs)),
        "streams": {k: len(v) for k, v in streams.items()},
    }
    has = {k: bool(v) for k, v in readers.items()}
    truth = readers.get("truth", [None])[0]
    if has.get("tap_pilots"):
        report["estimation"] = _score_estimation(cfg, readers, cbs, truth, progress)
    else:
        report["estimation"] = {"skipped": "the capture has no tap_pilots recordings"}
    if has.get("rap_echo"):
        report["sensing"] = _score_sensing(
            cfg, capture, readers, cbs, truth, n_sources, method, gate_deg, progress
        )
    else:
        report["sensing"] = {"skipped": "the capture has no rap_echo recordings"}
    return report


def _chunks(cbs: np.ndarray, progress: bool, what: str):
    steps = range(0, len(cbs), CHUNK)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=what, unit="chunk", leave=False)
    for s in steps:
        yield cbs[s : s + CHUNK]


def _score_estimation(cfg, readers, cbs, truth, progress) -> dict[str, Any]:
    from .channels import split_tap_major
    from .estimation import (
        ls_estimate,
        mmse_error_covariance,
        mmse_estimate,
        orthogonal_pilots,
        project_pilots,
    )

    pilots_r = readers["tap_pilots"]
    stats_r = readers.get("stats", [])
    est_r = readers.get("estimate", [])
    NT = len(pilots_r)
    if NT != cfg.NT:
        return {"skipped": f"{NT} tap_pilots recordings, the configuration has NT={cfg.NT}"}
    mmse_ok = len(stats_r) == NT
    phi = orthogonal_pilots(cfg.K, cfg.tau_p)
    sums = {"err_mmse": 0.0, "err_ls": 0.0, "power": 0.0, "pred": 0.0, "pred_power": 0.0}
    live_diff = 0.0
    for chunk in _chunks(cbs, progress, "estimation"):
        Y = np.stack([np.swapaxes(r.read(chunk), 1, 2) for r in pilots_r], axis=1)
        y_tilde = project_pilots(Y, phi)  # (b, NT, K, MT), eq 7
        h_ls = ls_estimate(y_tilde, cfg.rho_p, cfg.tau_p)
        h_mmse = None
        if mmse_ok:
            st = [r.rec.unpack(r.read(chunk)[:, 0]) for r in stats_r]
            mean = np.stack([s["mean"] for s in st], axis=1)
            cov = np.stack([s["cov"] for s in st], axis=1)
            h_mmse = mmse_estimate(y_tilde, mean, cov, cfg.rho_p, cfg.tau_p)
            c_eps = mmse_error_covariance(cov, cfg.rho_p, cfg.tau_p)
            sums["pred"] += float(np.trace(c_eps, axis1=-2, axis2=-1).real.sum())
            sums["pred_power"] += float(
                (np.trace(cov, axis1=-2, axis2=-1).real + (np.abs(mean) ** 2).sum(-1)).sum()
            )
            if len(est_r) == NT:  # the live run's estimates, recorded beside
                live = np.stack([r.read(chunk)[:, 0].reshape(-1, cfg.K, cfg.MT) for r in est_r], 1)
                live_diff = max(live_diff, float(np.abs(live - h_mmse).max() / np.abs(live).max()))
        if truth is not None:
            F = truth.rec.unpack(truth.read(chunk)[:, 0])["F"]
            h = split_tap_major(F, cfg.NT)
            sums["power"] += float((np.abs(h) ** 2).sum())
            sums["err_ls"] += float((np.abs(h_ls - h) ** 2).sum())
            if h_mmse is not None:
                sums["err_mmse"] += float((np.abs(h_mmse - h) ** 2).sum())
    out: dict[str, Any] = {"estimator": "mmse" if mmse_ok else "ls (no stats recordings)"}
    if truth is None:
        out["scored"] = "no truth recording: estimates computed, not scored"
        return out
    db = lambda x: 10 * math.log10(x) if x > 0 else float("-inf")  # noqa: E731
    out["nmse_ls_db"] = db(sums["err_ls"] / sums["power"])
    if mmse_ok:
        out["nmse_mmse_db"] = db(sums["err_mmse"] / sums["power"])
        out["nmse_mmse_predicted_db"] = db(sums["pred"] / sums["pred_power"])
    if len(est_r) == NT and mmse_ok:
        out["live_estimates_max_rel_diff"] = live_diff
    return out


def _rap_geometry(cfg: SystemConfig, capture: Collection) -> tuple[np.ndarray, np.ndarray, str]:
    from .geometry import DOWNWARD_FRAME, ap_positions

    g = capture.geometry
    if g.get("rap_pos_m") and g.get("rap_frame"):
        try:
            pos, frame = np.asarray(g["rap_pos_m"], float), np.asarray(g["rap_frame"], float)
        except (TypeError, ValueError):
            pos = frame = np.zeros(0)
        if pos.shape != (cfg.NR, 3) or frame.shape != (cfg.NR, 3, 3):
            raise ValueError(
                f"{capture.path}: cfisac:geometry rap_pos_m / rap_frame must be numbers of shape "
                f"({cfg.NR}, 3) / ({cfg.NR}, 3, 3); the metadata is corrupt"
            )
        return pos, frame, "capture"
    _, raps = ap_positions(cfg)
    return raps, np.broadcast_to(DOWNWARD_FRAME, (cfg.NR, 3, 3)).copy(), "config (ap_positions)"


def _score_sensing(cfg, capture, readers, cbs, truth, n_sources, method, gate_deg, progress):
    from . import music
    from .localization import associate_target, fuse_position, localization_error, pick

    rap_r = readers["rap_echo"]
    NR = len(rap_r)
    rows, cols = cfg.MR_shape
    n_src = cfg.NC + 1 if n_sources is None else int(n_sources)
    if n_src:
        music.check_sources(n_src, cfg.MR)
    geometry_r = readers.get("geometry", [None])[0]
    noise, signal, errors, positions, pos_err, peaks = [], [], [], [], [], []
    association = "geometry prior" if geometry_r else ("oracle (truth)" if truth else "strongest")
    rap_pos, rap_frame, where = _rap_geometry(cfg, capture)
    full_network = NR == cfg.NR
    for chunk in _chunks(cbs, progress, "MUSIC"):
        Y = np.stack([np.swapaxes(r.read(chunk), 1, 2) for r in rap_r], axis=1)  # (b, NR, M, tau)
        res = music.estimate(Y, rows, cols, n_src or None, cfg.NC + 1, method)
        R = music.sample_covariance(Y)
        sigma2 = noise_power(R, res.n_sources)
        noise.append(sigma2)
        signal.append(np.trace(R, axis1=-2, axis2=-1).real / cfg.MR - sigma2)
        peaks.append(res.angles)
        prior = None
        if geometry_r is not None:
            g = geometry_r.rec.unpack(geometry_r.read(chunk)[:, 0])
            prior = np.stack([g["psi_t"], g["theta_t"]], axis=-1)[:, :NR]
        t = truth.rec.unpack(truth.read(chunk)[:, 0]) if truth is not None else None
        if prior is None and t is not None:
            prior = np.stack([t["psi_t"], t["theta_t"]], axis=-1)[:, :NR]
        gate = None if prior is None or gate_deg is None else math.radians(gate_deg)
        index = associate_target(res.angles, prior, gate=gate)
        target = pick(res.angles, index)  # (b, NR, 2)
        if t is not None:
            errors.append(
                localization_error(
                    t["psi_t"][:, :NR], t["theta_t"][:, :NR], target[..., 0], target[..., 1]
                )
            )
        if full_network:
            fix = fuse_position(
                rap_pos, rap_frame, target[..., 0], target[..., 1], height_m=cfg.target_height_m
            )
            positions.append(fix.position)
            if t is not None:
                pos_err.append(np.linalg.norm(fix.position - t["target_pos"], axis=-1))
    noise = np.concatenate(noise)  # (B, NR)
    signal = np.concatenate(signal)
    per_rap = []
    for j in range(NR):
        s2 = float(np.median(noise[:, j]))
        rap = {
            "noise_power": s2,
            "noise_power_db": 10 * math.log10(s2) if s2 > 0 else float("-inf"),
            "echo_to_noise_db": 10 * math.log10(max(float(np.median(signal[:, j])), 1e-30) / s2)
            if s2 > 0
            else None,
        }
        if errors:
            e = np.degrees(np.concatenate(errors)[:, j])
            found = np.isfinite(e)
            rap["target_found"] = float(found.mean())
            rap["rmse_deg"] = float(np.sqrt(np.mean(e[found] ** 2))) if found.any() else None
            rap["median_error_deg"] = float(np.median(e[found])) if found.any() else None
            rap["within_2deg"] = float(np.mean(e[found] <= 2.0)) if found.any() else 0.0
        else:
            a = np.degrees(np.concatenate(peaks)[:, j, 0])
            rap["strongest_peak_median_deg"] = {
                "psi": float(np.nanmedian(a[:, 0])),
                "theta": float(np.nanmedian(a[:, 1])),
            }
        per_rap.append(rap)
    out: dict[str, Any] = {
        "music": {"method": method, "sources": n_src or "MDL"},
        "association": association
        + (f" within {gate_deg:g} deg" if association != "strongest" and gate_deg else ""),
        "rap_geometry": where,
        "per_rap": per_rap,
    }
    if positions:
        P = np.concatenate(positions)
        ok = np.all(np.isfinite(P), axis=-1)
        out["fused"] = {
            "blocks_with_fix": float(ok.mean()),
            "median_position_m": jsonable_vector(np.median(P[ok], axis=0)) if ok.any() else None,
        }
        if pos_err:
            e = np.concatenate(pos_err)
            e = e[np.isfinite(e)]
            out["fused"]["rmse_m"] = float(np.sqrt(np.mean(e**2))) if e.size else None
            out["fused"]["median_error_m"] = float(np.median(e)) if e.size else None
    if truth is None:
        out["scored"] = "no truth recording: estimates only (nothing to compare with)"
    return out


def jsonable_vector(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.ravel(x)]


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


# ----------------------------------------------------------------------------- report


def format_report(report: dict[str, Any]) -> str:
    """The report as text for the terminal."""
    lines = [
        f"capture   {report['capture']}",
        f"network   {report['config']}  (config from the {report['config_source']})",
        f"blocks    {report['blocks']} scored; streams "
        + ", ".join(f"{n} {k}" for k, n in report["streams"].items()),
    ]
    est = report["estimation"]
    lines.append("")
    lines.append("channel estimation")
    if "skipped" in est:
        lines.append(f"  skipped: {est['skipped']}")
    else:
        lines.append(f"  estimator                {est['estimator']}")
        if "scored" in est:
            lines.append(f"  {est['scored']}")
        if "nmse_mmse_db" in est:
            lines.append(
                f"  NMSE MMSE (eq 8)         {est['nmse_mmse_db']:7.2f} dB "
                f"(predicted by eqs 10-11: {est['nmse_mmse_predicted_db']:.2f} dB)"
            )
        if "nmse_ls_db" in est:
            lines.append(f"  NMSE LS                  {est['nmse_ls_db']:7.2f} dB")
        if "live_estimates_max_rel_diff" in est:
            lines.append(
                f"  vs the live estimates    max rel. diff {est['live_estimates_max_rel_diff']:.2e}"
            )
    sen = report["sensing"]
    lines.append("")
    lines.append("sensing")
    if "skipped" in sen:
        lines.append(f"  skipped: {sen['skipped']}")
        return "\n".join(lines)
    lines.append(
        f"  MUSIC {sen['music']['method']}, sources {sen['music']['sources']}; target "
        f"picked by {sen['association']}; RAP positions from the {sen['rap_geometry']}"
    )
    for j, rap in enumerate(sen["per_rap"]):
        text = (
            f"  RAP{j + 1}: noise {rap['noise_power_db']:6.1f} dB (noise-subspace "
            f"eigenvalues), echo {rap['echo_to_noise_db']:6.1f} dB above it"
        )
        if "rmse_deg" in rap:
            rmse = "n/a" if rap["rmse_deg"] is None else f"{rap['rmse_deg']:.2f} deg"
            text += (
                f"; eq-43 RMSE {rmse}, found {100 * rap['target_found']:.0f}%, "
                f"within 2 deg {100 * rap['within_2deg']:.0f}%"
            )
        elif "strongest_peak_median_deg" in rap:
            pk = rap["strongest_peak_median_deg"]
            text += f"; strongest peak (median) psi {pk['psi']:.1f}, theta {pk['theta']:.1f} deg"
        lines.append(text)
    if "fused" in sen:
        f = sen["fused"]
        text = f"  fused position: fix in {100 * f['blocks_with_fix']:.0f}% of blocks"
        if f.get("rmse_m") is not None:
            text += f", RMSE {f['rmse_m']:.2f} m, median error {f['median_error_m']:.2f} m"
        elif f.get("median_position_m") is not None:
            text += (
                ", median position " + ", ".join(f"{v:.1f}" for v in f["median_position_m"]) + " m"
            )
        lines.append(text)
    if "scored" in sen:
        lines.append(f"  {sen['scored']}")
    return "\n".join(lines)
