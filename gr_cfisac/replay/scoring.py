"""Scoring a capture against its ground truth: estimation NMSE next to eqs 10-11, and per RAP the
noise power, MUSIC (eqs 41-42) and the localization error of eq 43 (see the package doc)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig
from ..sigmf_io import read_capture
from .capture import (
    BlockReader,
    check_scenario,
    config_of,
    in_chunks,
    rap_geometry,
    streams_by_kind,
)
from .report import jsonable_vector

#: Blocks listed by index per kind of skip (the counts are always complete).
MAX_LISTED = 50


@dataclass(frozen=True)
class ScoreOptions:
    """How to score the sensing part: MUSIC's sources and search, and how the target is picked
    among the peaks (gate_deg around a prior; target_deg (1 or NR, 2) a user prior in degrees;
    clutter (NR, C, 2) degrees: directions whose peaks are never the target)."""

    n_sources: int | None = None
    n_peaks: int | None = None
    method: str = "fast"
    gate_deg: float | None = 10.0
    gate_given: bool = False
    target_deg: np.ndarray | None = None
    clutter: np.ndarray | None = None
    clutter_radius: float = 3.0


def noise_power(R: np.ndarray, n_sources: np.ndarray) -> np.ndarray:
    """Noise power from the noise-subspace eigenvalues: the mean of the M - n smallest
    eigenvalues of each sample covariance R (..., M, M) (n (...,) sources). -> (...,)."""
    return _noise_and_echo(np.linalg.eigvalsh(R), n_sources, R.shape[-1])[0]


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
    options: ScoreOptions | None = None,
) -> dict[str, Any]:
    """Rerun estimation and MUSIC on a capture and score them; returns the report dict.

    ``options`` (ScoreOptions) replaces n_sources / method / gate_deg when given. Blocks whose
    samples are non-finite, silent or saturated are skipped and counted per stream with their
    indices; no block crashes the scoring.
    """
    path = Path(path)
    opts = options or ScoreOptions(n_sources=n_sources, method=method, gate_deg=gate_deg)
    capture = read_capture(path, verify_checksum=verify_checksum)
    scenario = check_scenario(capture, path)
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
        "scenario": scenario,
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
        report["sensing"] = _score_sensing(cfg, capture, readers, cbs, truth, opts, progress)
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
    from ..music import Validity

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
    codes = []
    for chunk in in_chunks(cbs, progress, "estimation"):
        raw = [r.read(chunk) for r in pilots_r]
        # a block is scored only when every TAP's pilots (and stats, truth) are usable
        code = np.max(np.stack([_screen(x) for x in raw]), axis=0)
        st = [r.rec.unpack(r.read(chunk)[:, 0]) for r in stats_r] if mmse_ok else []
        F = truth.rec.unpack(truth.read(chunk)[:, 0])["F"] if truth is not None else None
        side = [np.isfinite(s[k]).reshape(len(chunk), -1).all(-1) for s in st for k in s]
        if F is not None:
            side.append(np.isfinite(F).reshape(len(chunk), -1).all(-1))
        side_ok = np.all(side, axis=0) if side else np.ones(len(chunk), bool)
        code = np.where((code == Validity.OK) & ~side_ok, Validity.NON_FINITE, code)
        codes.append(code)
        ok = code == Validity.OK
        if not ok.any():
            continue
        Y = np.stack([np.swapaxes(x[ok], 1, 2) for x in raw], axis=1)
        y_tilde = project_pilots(Y, phi)  # (b, NT, K, MT), eq 7
        h_ls = ls_estimate(y_tilde, cfg.rho_p, cfg.tau_p)
        h_mmse = None
        if mmse_ok:
            mean = np.stack([s["mean"][ok] for s in st], axis=1)
            cov = np.stack([s["cov"][ok] for s in st], axis=1)
            h_mmse = mmse_estimate(y_tilde, mean, cov, cfg.rho_p, cfg.tau_p)
            c_eps = mmse_error_covariance(cov, cfg.rho_p, cfg.tau_p)
            sums["pred"] += float(np.trace(c_eps, axis1=-2, axis2=-1).real.sum())
            sums["pred_power"] += float(
                (np.trace(cov, axis1=-2, axis2=-1).real + (np.abs(mean) ** 2).sum(-1)).sum()
            )
            if len(est_r) == NT:  # the live run's estimates, recorded beside
                live = np.stack(
                    [r.read(chunk[ok])[:, 0].reshape(-1, cfg.K, cfg.MT) for r in est_r], 1
                )
                scale = np.abs(live).max()
                if np.isfinite(scale) and scale > 0:
                    live_diff = max(live_diff, float(np.abs(live - h_mmse).max() / scale))
        if F is not None:
            h = split_tap_major(F[ok], cfg.NT)
            sums["power"] += float((np.abs(h) ** 2).sum())
            sums["err_ls"] += float((np.abs(h_ls - h) ** 2).sum())
            if h_mmse is not None:
                sums["err_mmse"] += float((np.abs(h_mmse - h) ** 2).sum())
    out: dict[str, Any] = {"estimator": "mmse" if mmse_ok else "ls (no stats recordings)"}
    out["blocks"] = bad_blocks(cbs, np.concatenate(codes))
    if truth is None:
        out["scored"] = "no truth recording: estimates computed, not scored"
        return out
    if not sums["power"] > 0 or not math.isfinite(sums["power"]):
        out["scored"] = "the truth recording's channels are all zero or unusable: nothing to score"
        return out
    out["nmse_ls_db"] = _ratio_db(sums["err_ls"], sums["power"])
    if mmse_ok:
        out["nmse_mmse_db"] = _ratio_db(sums["err_mmse"], sums["power"])
        out["nmse_mmse_predicted_db"] = _ratio_db(sums["pred"], sums["pred_power"])
    if len(est_r) == NT and mmse_ok:
        out["live_estimates_max_rel_diff"] = live_diff
    return out


def _ratio_db(num: float, den: float) -> float | None:
    """10 log10(num / den), None where that is not a finite number."""
    if not (den > 0 and num > 0) or not math.isfinite(num / den):
        return None
    return 10 * math.log10(num / den)


def _screen(blocks: np.ndarray) -> np.ndarray:
    """Validity codes (music.validity) of sample blocks (b, per_block, channels) -> (b,)."""
    from ..music import screen_snapshots

    return screen_snapshots(np.swapaxes(blocks, -1, -2))


def bad_blocks(cbs: np.ndarray, codes: np.ndarray) -> dict[str, Any]:
    """Count and list (by coherence-block index) the blocks whose code is not OK."""
    from ..music import Validity
    from ..music.validity import counts

    bad = codes != Validity.OK
    listed = cbs[bad][:MAX_LISTED]
    return {
        "counts": {k: v for k, v in counts(codes).items() if v or k == "ok"},
        "skipped_cbs": [int(c) for c in listed],
        "skipped_cbs_truncated": bool(bad.sum() > MAX_LISTED),
    }


def _score_sensing(cfg, capture, readers, cbs, truth, opts, progress):
    from .. import music
    from ..localization import associate_target, fuse_position, localization_error, pick
    from .sources import source_tracks

    rap_r = readers["rap_echo"]
    NR = len(rap_r)
    rows, cols = cfg.MR_shape
    n_src = cfg.NC + 1 if opts.n_sources is None else int(opts.n_sources)
    if n_src:
        music.check_sources(n_src, cfg.MR)
    geometry_r = readers.get("geometry", [None])[0]
    noise, signal, errors, positions, pos_err, peaks, codes = [], [], [], [], [], [], []
    targets = []
    prior_from, warnings = _prior_source(opts, geometry_r, truth, NR)
    rap_pos, rap_frame, where = rap_geometry(cfg, capture)
    # a fused position needs the real RAP positions: recorded, or the recorded network's own
    fuse = NR == cfg.NR and (where == "capture" or capture.config is not None)
    for chunk in in_chunks(cbs, progress, "MUSIC"):
        Y = np.stack([np.swapaxes(r.read(chunk), 1, 2) for r in rap_r], axis=1)  # (b, NR, M, tau)
        res = music.estimate(Y, rows, cols, n_src or None, opts.n_peaks or cfg.NC + 1, opts.method)
        codes.append(res.validity)
        sigma2, echo = _noise_and_echo(res.eigenvalues, res.n_sources, cfg.MR)
        noise.append(np.where(music.is_bad_input(res.validity), np.nan, sigma2))
        signal.append(echo)
        angles = np.where(res.valid[..., None, None], res.angles, np.nan)
        peaks.append(angles)
        t = truth.rec.unpack(truth.read(chunk)[:, 0]) if truth is not None else None
        prior = _prior(prior_from, opts, geometry_r, chunk, t, NR)
        if opts.clutter is not None:
            angles = _drop_clutter(angles, opts.clutter, opts.clutter_radius)
        gate = None if prior is None or opts.gate_deg is None else math.radians(opts.gate_deg)
        index = associate_target(angles, prior, gate=gate)
        target = pick(angles, index)  # (b, NR, 2)
        targets.append(target)
        if t is not None and _finite_truth(t):
            errors.append(
                localization_error(
                    t["psi_t"][:, :NR], t["theta_t"][:, :NR], target[..., 0], target[..., 1]
                )
            )
        if fuse:
            fix = fuse_position(
                rap_pos, rap_frame, target[..., 0], target[..., 1], height_m=cfg.target_height_m
            )
            positions.append(fix.position)
            if t is not None and np.all(np.isfinite(t["target_pos"])):
                pos_err.append(np.linalg.norm(fix.position - t["target_pos"], axis=-1))
    noise, signal = np.concatenate(noise), np.concatenate(signal)  # (B, NR)
    codes, peaks = np.concatenate(codes), np.concatenate(peaks)
    per_rap = []
    for j in range(NR):
        rap = _rap_summary(noise[:, j], signal[:, j])
        rap["blocks"] = bad_blocks(cbs, codes[:, j])
        rap["sources"], rap["sporadic_peaks"] = source_tracks(
            peaks[:, j], codes[:, j] == music.Validity.OK
        )
        if errors:
            rap.update(_angle_errors(np.degrees(np.concatenate(errors)[:, j]), codes[:, j]))
        elif prior_from != "strongest":
            rap["target"] = _picked(np.concatenate(targets)[:, j], codes[:, j])
        per_rap.append(rap)
    out: dict[str, Any] = {
        "music": {"method": opts.method, "sources": n_src or "MDL"},
        "association": prior_from
        + (f" within {opts.gate_deg:g} deg" if prior_from != "strongest" and opts.gate_deg else "")
        + (" (clutter map applied)" if opts.clutter is not None else ""),
        "rap_geometry": where,
        "per_rap": per_rap,
        "warnings": warnings,
    }
    if positions:
        out["fused"] = _fused_summary(np.concatenate(positions), pos_err)
    else:
        out["fused"] = {
            "skipped": "the RAP positions are not known for this capture (no cfisac:geometry and "
            "no recorded configuration): a fused position would come from the default "
            "config's placement"
            if NR == cfg.NR
            else f"{NR} RAP recording(s) of the configuration's NR={cfg.NR}: a fused position "
            "needs every RAP"
        }
    if truth is None:
        out["scored"] = "no truth recording: estimates only (nothing to compare with)"
    return out


def _prior_source(opts, geometry_r, truth, NR) -> tuple[str, list[str]]:
    """Which prior picks the target, and warnings for options that have no effect."""
    warnings = []
    if opts.clutter is not None and len(opts.clutter) not in (1, NR):
        raise ValueError(
            f"--clutter-map lists clutter for {len(opts.clutter)} RAPs; give one list for every "
            f"RAP or one per RAP ({NR})"
        )
    if opts.target_deg is not None:
        if len(opts.target_deg) not in (1, NR):
            raise ValueError(
                f"--target-deg was given {len(opts.target_deg)} times; give it once (every RAP) "
                f"or once per RAP ({NR})"
            )
        source = "--target-deg"
        if geometry_r is not None:
            warnings.append("--target-deg overrides the capture's recorded geometry prior")
    elif geometry_r is not None:
        source = "geometry prior"
    elif truth is not None:
        source = "oracle (truth)"
    else:
        source = "clutter map" if opts.clutter is not None else "strongest"
    if opts.gate_given and source in ("strongest", "clutter map"):
        warnings.append(
            "--gate-deg has no effect: there is no prior direction to gate around (give "
            "--target-deg PSI,THETA or record the geometry stream)"
        )
    return source, warnings


def _prior(source, opts, geometry_r, chunk, t, NR) -> np.ndarray | None:
    """The prior target direction (b, NR, 2) radians for one chunk of blocks, or None."""
    if source == "--target-deg":
        d = np.radians(np.asarray(opts.target_deg, dtype=float))  # (1 or NR, 2)
        return np.broadcast_to(d, (len(chunk), NR, 2))
    if source == "geometry prior":
        g = geometry_r.rec.unpack(geometry_r.read(chunk)[:, 0])
        return np.stack([g["psi_t"], g["theta_t"]], axis=-1)[:, :NR]
    if source == "oracle (truth)":
        return np.stack([t["psi_t"], t["theta_t"]], axis=-1)[:, :NR]
    return None


def _drop_clutter(angles: np.ndarray, clutter: np.ndarray, radius_deg: float) -> np.ndarray:
    """Peaks (b, NR, n, 2) with those within radius of a clutter direction (NR, C, 2) as NaN."""
    from ..localization import separation

    c = np.radians(clutter)  # (NR, C, 2)
    d = separation(
        angles[..., None, 0], angles[..., None, 1], c[None, :, None, :, 0], c[None, :, None, :, 1]
    )
    near = np.any(d <= math.radians(radius_deg), axis=-1)
    return np.where(near[..., None], np.nan, angles)


def _finite_truth(t: dict) -> bool:
    return bool(np.all(np.isfinite(t["psi_t"])) and np.all(np.isfinite(t["theta_t"])))


def _noise_and_echo(lam: np.ndarray, n_sources: np.ndarray, M: int):
    """Noise power (mean of the M - n smallest eigenvalues) and echo power per antenna above
    it, from ascending eigenvalues (..., M); NaN eigenvalues (bad blocks) give NaN."""
    n = np.clip(np.asarray(n_sources), 0, M - 1)
    mask = np.arange(M) < (M - n)[..., None]
    sigma2 = np.sum(np.where(mask, lam, 0.0), -1) / mask.sum(-1)
    return sigma2, np.sum(lam, -1) / M - sigma2


def _rap_summary(noise: np.ndarray, signal: np.ndarray) -> dict[str, Any]:
    good = np.isfinite(noise) & np.isfinite(signal)
    if not good.any():
        return {"noise_power": None, "noise_power_db": None, "echo_to_noise_db": None}
    s2 = float(np.median(noise[good]))
    echo = float(np.median(signal[good]))
    return {
        "noise_power": s2,
        "noise_power_db": 10 * math.log10(s2) if s2 > 0 else None,
        "echo_to_noise_db": 10 * math.log10(max(echo, 1e-30) / s2) if s2 > 0 else None,
    }


def _angle_errors(e: np.ndarray, codes: np.ndarray) -> dict[str, Any]:
    """Eq-43 errors (deg) of one RAP: ungated over every valid block (a miss counts), and the
    RMSE of the blocks where a target peak was found."""
    from ..music import Validity

    valid = codes == Validity.OK
    found = valid & np.isfinite(e)
    n = int(valid.sum())
    f = e[found]
    return {
        "valid_blocks": n,
        "target_found": float(found.sum() / n) if n else None,
        "miss_rate": float(1 - found.sum() / n) if n else None,
        "rmse_deg": float(np.sqrt(np.mean(f**2))) if f.size else None,
        "median_error_deg": float(np.median(f)) if f.size else None,
        "within_2deg": float(np.mean(f <= 2.0)) if f.size else None,
    }


def _picked(target: np.ndarray, codes: np.ndarray) -> dict[str, Any]:
    """Without truth: how often a target peak was picked (share of valid blocks) and its
    median direction in degrees."""
    from ..music import Validity

    n = int(np.sum(codes == Validity.OK))
    ok = (codes == Validity.OK) & np.all(np.isfinite(target), axis=-1)
    out: dict[str, Any] = {"picked": float(ok.sum() / n) if n else None}
    if ok.any():
        from .sources import median_direction

        p, t = median_direction(target[ok, 0], target[ok, 1])
        out["median_psi_deg"], out["median_theta_deg"] = np.degrees(p), np.degrees(t)
    return out


def _fused_summary(P: np.ndarray, pos_err: list) -> dict[str, Any]:
    ok = np.all(np.isfinite(P), axis=-1)
    out: dict[str, Any] = {
        "blocks_with_fix": float(ok.mean()),
        "median_position_m": jsonable_vector(np.median(P[ok], axis=0)) if ok.any() else None,
    }
    if pos_err:
        e = np.concatenate(pos_err)
        e = e[np.isfinite(e)]
        out["rmse_m"] = float(np.sqrt(np.mean(e**2))) if e.size else None
        out["median_error_m"] = float(np.median(e)) if e.size else None
    return out
