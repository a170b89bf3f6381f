"""Scoring a capture against its ground truth: estimation NMSE next to eqs 10-11, and per RAP the
noise power, MUSIC (eqs 41-42) and the localization error of eq 43 (see the package doc)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig
from ..sigmf_io import read_capture
from .capture import BlockReader, config_of, in_chunks, rap_geometry, streams_by_kind
from .report import jsonable_vector


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
    cfg = config_of(capture, config, path)
    streams = streams_by_kind(capture, cfg, plain_kind)
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


def _score_estimation(cfg, readers, cbs, truth, progress) -> dict[str, Any]:
    from ..channels import split_tap_major
    from ..estimation import (
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
    for chunk in in_chunks(cbs, progress, "estimation"):
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


def _score_sensing(cfg, capture, readers, cbs, truth, n_sources, method, gate_deg, progress):
    from .. import music
    from ..localization import associate_target, fuse_position, localization_error, pick

    rap_r = readers["rap_echo"]
    NR = len(rap_r)
    rows, cols = cfg.MR_shape
    n_src = cfg.NC + 1 if n_sources is None else int(n_sources)
    if n_src:
        music.check_sources(n_src, cfg.MR)
    geometry_r = readers.get("geometry", [None])[0]
    noise, signal, errors, positions, pos_err, peaks = [], [], [], [], [], []
    association = "geometry prior" if geometry_r else ("oracle (truth)" if truth else "strongest")
    rap_pos, rap_frame, where = rap_geometry(cfg, capture)
    full_network = NR == cfg.NR
    for chunk in in_chunks(cbs, progress, "MUSIC"):
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
