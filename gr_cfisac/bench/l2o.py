"""MT-SAO-lift (paper 002) against the classical precoders on the ``mu_miso`` scenario.

1. Fig. 8 analogue: sum rate vs K = 1..Km at N = round(0.7 Nm) active antennas (the paper's
   N = 28 of Nm = 40; N = 11 of Nm = 16) and 20 dB, for the shipped model (one model, every
   K), WMMSE (converged: relative gain below 1e-6 per iteration), LMMSE (eq 5), ZF (K <= N) and
   MRT, on the same draws, and the ablation "ascent": the model's LMMSE start followed by the
   same normalized-gradient steps (Q_i per layer with the model's learned per-layer step sizes
   from its card) without the Transformer layers. Goals (issue 13): model >= 98 % of WMMSE's sum rate averaged over
   K <= N and >= 95 % over N < K <= Km.
2. Table 2 analogue: batch of 100 at K = Km, N = Nm, 20 dB, wall time per batch of the model
   (ONNX Runtime, one thread) and of WMMSE at its fastest setting within 0.01 % of its converged
   sum rate (the fewest iterations whose mean sum rate reaches 99.99 % of the converged mean,
   timed with that fixed iteration count), and at its default tolerance; ratios in one run.

3. Fig. 7 analogue: sum rate vs N at K = Km, 20 dB, for MT-SAO-lift and MT-SAO (the auxiliary
   variable fixed, models/l2o/l2o_sao_mumiso16.onnx, when shipped) against WMMSE and LMMSE.

4. Fig. 4 analogue: validation sum rate / WMMSE vs the inference ascent steps Q_i for models
   trained with Q_t = 0, 5 (models/l2o/qt/, when shipped) and 10 (the shipped model), as each
   card's ``validation.q_sweep`` records it (measured on the torch model at export; a graph
   fixes its Q_i): at (K, N) = (Km, round(0.7 Nm)), the paper's (40, 28), and the mean over
   the validation stages. bench/l2o_fig4.png. The Q_t models' own graphs (Q_i = 0 and 5)
   join Table 2 as a speed / sum-rate frontier: what fewer in-graph steps buy.
5. Figs. 10-11 analogue (section IV, monostatic ISAC, K = 4, N = 16, M = 2 targets, 20 dB): sum
   rate and feasibility of (29) vs the sensing-SNR floor gamma_s for the baselines (LMMSE +
   null-space sensing with the least sensing power; the convex-concave SDR in cvxpy, when
   installed) and the shipped SAO-ISAC models (models/l2o/sao_isac*.onnx, ONNX Runtime; each
   trained at one gamma_s, its card's, evaluated at every gamma_s through its gamma input).

Writes bench/l2o.json, bench/l2o.png (Figs 8 and Table 2), bench/l2o_fig7.png and
bench/l2o_isac.png. The model is
models/l2o/l2o_mumiso16.onnx (``CFISAC_L2O_MODEL`` picks another).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import mumiso
from ..models import shipped_models_dir
from ..precoding import mrt, wmmse, zf
from ..precoding.l2o import L2OHost
from .common import best_time, write_report

MODEL = "l2o/l2o_mumiso16.onnx"
SAO_MODEL = "l2o/l2o_sao_mumiso16.onnx"
#: shipped SAO-ISAC models: label -> file (the paper's learned split; closed-form split)
SAO_ISAC_MODELS = {"SAO-ISAC (ONNX)": "l2o/sao_isac.onnx",
                   "SAO-ISAC, closed-form split (ONNX)": "l2o/sao_isac_closed.onnx"}  # fmt: skip
SNR_DB = 20.0
#: draws per K (Fig. 8) and timing repeats
SIZES = {True: {"per_k": 16, "repeats": 2}, False: {"per_k": 200, "repeats": 5}}
TABLE_BATCH = 100
METHODS = ("model", "WMMSE", "ascent", "LMMSE", "ZF", "MRT")


def ascent_only(F: np.ndarray, noise: float, steps: int, sizes: list[float]) -> np.ndarray:
    """Ablation: LMMSE (eq 5) then ``steps`` normalized-gradient steps on eq 3 per entry of
    ``sizes`` (one step size per layer), each followed by ||W||_F = 1 (the model's ascent
    without its Transformer layers). F (B, N, K)."""
    W = mumiso.lmmse(F, noise)
    for step in np.repeat(np.asarray(sizes, float), steps):
        G = mumiso.sum_rate_gradient(F, W, noise)
        W = W + step * G / np.maximum(np.linalg.norm(G, axis=(1, 2), keepdims=True), 1e-30)
        W = W / np.linalg.norm(W, axis=(1, 2), keepdims=True)
    return W


def model_path() -> Path:
    return Path(os.environ.get("CFISAC_L2O_MODEL", str(shipped_models_dir() / MODEL)))


def fig8(host: L2OHost, per_k: int) -> dict[str, Any]:
    """Mean sum rate per K and method at N = round(0.7 Nm), SNR_DB."""
    N = max(1, round(0.7 * host.Nm))
    arch = host.card["architecture"]
    sizes = arch.get("step_sizes") or [0.01] * int(arch["T"])
    rows = []
    for K in range(1, host.Km + 1):
        cfg = mumiso.MuMisoConfig(K=K, N=N, Km=host.Km, Nm=host.Nm, snr_db=SNR_DB)
        F = mumiso.draw(cfg, per_k, 1000 + K, contiguous=True).active_channels()
        beams = {
            "model": host.precode(F, None, cfg.noise),
            "WMMSE": wmmse(F, 1.0, cfg.noise),
            "ascent": ascent_only(F, cfg.noise, int(arch["Q_i"]), sizes),
            "LMMSE": mumiso.lmmse(F, cfg.noise),
            "ZF": zf(F, 1.0) if K <= N else None,
            "MRT": mrt(F, 1.0),
        }
        row: dict[str, Any] = {"K": K, "N": N}
        for name, W in beams.items():
            row[name] = None if W is None else float(mumiso.sum_rate(F, W, cfg.noise).mean())
        row["model_vs_wmmse"] = row["model"] / row["WMMSE"]
        rows.append(row)
    under = [r["model_vs_wmmse"] for r in rows if r["K"] <= N]
    over = [r["model_vs_wmmse"] for r in rows if r["K"] > N]
    ablation = {f"ascent_vs_wmmse_{part}": float(np.mean([r["ascent"] / r["WMMSE"] for r in rows
                                                        if (r["K"] <= N) == (part == "K<=N")]))
                for part in ("K<=N", "K>N")} if N < host.Km else {}  # fmt: skip
    return {
        "N": N,
        "snr_db": SNR_DB,
        "draws_per_K": per_k,
        "ascent_steps": int(arch["Q_i"]) * len(sizes),
        "rows": rows,
        "ratio_underloaded": float(np.mean(under)),
        "ratio_overloaded": float(np.mean(over)) if over else None,
        **ablation,
        "goal_underloaded_0.98": bool(np.mean(under) >= 0.98),
        "goal_overloaded_0.95": bool(over and np.mean(over) >= 0.95),
    }


#: Fig. 6's dedicated (DT-SAO-lift) models: K -> file under the shipped models' folder
DEDICATED = {K: f"l2o/dt/l2o_dt_k{K}_n11.onnx" for K in (4, 8, 12, 16)}


#: Fig. 4's models trained with other Q_t: Q_t -> file (the shipped model is Q_t = 10)
QT_MODELS = {q: f"l2o/qt/l2o_qt{q}_mumiso16.onnx" for q in (0, 5)}


def qt_hosts(like: L2OHost | None = None) -> dict[int, L2OHost]:
    """The shipped models trained with other Q_t (Fig. 4), those that exist (and, given
    ``like``, have its Km and Nm: they are compared on its draws)."""
    found = {q: shipped_models_dir() / name for q, name in QT_MODELS.items()}
    hosts = {q: L2OHost(p, threads=1) for q, p in found.items() if p.is_file()}
    if like is None:
        return hosts
    return {q: h for q, h in hosts.items() if (h.Km, h.Nm) == (like.Km, like.Nm)}


def dedicated_hosts() -> dict[int, L2OHost]:
    """The shipped DT-SAO-lift models (one per K at N = 11), those that exist."""
    found = {K: shipped_models_dir() / name for K, name in DEDICATED.items()}
    return {K: L2OHost(p, threads=1) for K, p in found.items() if p.is_file()}


def fig6(host: L2OHost, dedicated: dict[int, L2OHost], per_k: int) -> dict[str, Any]:
    """Fig. 6: one MT-SAO-lift model for every K against dedicated models trained for one
    (K, N) each, at N = round(0.7 Nm), SNR_DB, with WMMSE and LMMSE, on the same draws."""
    N = max(1, round(0.7 * host.Nm))
    rows = []
    for K, dt in sorted(dedicated.items()):
        if dt.Nm != N or dt.Km != K:
            raise ValueError(
                f"dedicated model {dt.path.name} is for ({dt.Km}, {dt.Nm}), not ({K}, {N})"
            )
        cfg = mumiso.MuMisoConfig(K=K, N=N, Km=host.Km, Nm=host.Nm, snr_db=SNR_DB)
        F = mumiso.draw(cfg, per_k, 4000 + K, contiguous=True).active_channels()
        beams = {"MT-SAO-lift": host.precode(F, None, cfg.noise),
                 "DT-SAO-lift": dt.precode(F, None, cfg.noise),
                 "WMMSE": wmmse(F, 1.0, cfg.noise), "LMMSE": mumiso.lmmse(F, cfg.noise)}  # fmt: skip
        row: dict[str, Any] = {"K": K, "N": N}
        for name, W in beams.items():
            row[name] = float(mumiso.sum_rate(F, W, cfg.noise).mean())
        row["mt_vs_dt"] = row["MT-SAO-lift"] / row["DT-SAO-lift"]
        rows.append(row)
    return {"N": N, "snr_db": SNR_DB, "draws_per_K": per_k, "rows": rows}


def fig7(hosts: dict[str, L2OHost], per_n: int) -> dict[str, Any]:
    """Mean sum rate vs N = 2..Nm (every second) at K = Km: each model, WMMSE and LMMSE."""
    first = next(iter(hosts.values()))
    K, rows = first.Km, []
    for N in range(2, first.Nm + 1, 2):
        cfg = mumiso.MuMisoConfig(K=K, N=N, Km=first.Km, Nm=first.Nm, snr_db=SNR_DB)
        F = mumiso.draw(cfg, per_n, 2000 + N, contiguous=True).active_channels()
        row: dict[str, Any] = {"K": K, "N": N}
        beams = {name: h.precode(F, None, cfg.noise) for name, h in hosts.items()}
        beams |= {"WMMSE": wmmse(F, 1.0, cfg.noise), "LMMSE": mumiso.lmmse(F, cfg.noise)}
        for name, W in beams.items():
            row[name] = float(mumiso.sum_rate(F, W, cfg.noise).mean())
        rows.append(row)
    return {"K": K, "snr_db": SNR_DB, "draws_per_N": per_n, "models": list(hosts), "rows": rows}


def fig4(hosts: dict[int, L2OHost]) -> dict[str, Any] | None:
    """Fig. 4: validation sum rate / WMMSE vs Q_i per training Q_t (``hosts``: Q_t -> model),
    from each card's ``validation.q_sweep``: at (Km, round(0.7 Nm)) and over all stages."""
    curves = []
    for q_t, host in sorted(hosts.items()):
        sweep = host.card["validation"].get("q_sweep")
        if not sweep:
            continue
        N = max(1, round(0.7 * host.Nm))
        at = [next((st["ratio"] for st in r["stages"] if (st["K"], st["N"]) == (host.Km, N)),
                   None) for r in sweep]  # fmt: skip
        curves.append({"Q_t": q_t, "model": host.path.name,
                       "Q_i_graph": host.card["architecture"]["Q_i"],
                       "Q_i": [r["Q_i"] for r in sweep], "mean_ratio": [r["ratio"] for r in sweep],
                       "K": host.Km, "N": N, "ratio_at_KN": at, "q_sweep": sweep})  # fmt: skip
    return {"curves": curves} if curves else None


ISAC_GAMMAS_DB = {True: (20.0, 30.0), False: (15.0, 20.0, 25.0, 30.0, 35.0)}
ISAC_DRAWS = {True: 2, False: 12}


def isac(quick: bool) -> dict[str, Any]:
    """Figs. 10-11 analogue: mean sum rate (infeasible blocks count 0) and feasible fraction
    of (29) vs gamma_s for the monostatic ISAC baselines."""
    from .. import mono_isac as mi
    from ..precoding import mono_isac as baselines

    try:
        import cvxpy  # noqa: F401

        sdr = True
    except ImportError:
        sdr = False
    import json

    import onnxruntime as ort

    sessions, trained = {}, {}
    for label, name in SAO_ISAC_MODELS.items():
        path = shipped_models_dir() / name
        if path.exists():
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            sessions[label] = ort.InferenceSession(str(path), opts,
                                                   providers=["CPUExecutionProvider"])  # fmt: skip
            trained[label] = json.loads(path.with_suffix(".json").read_text())["gamma_s_db"]
    rows = []
    for g in ISAC_GAMMAS_DB[quick]:
        cfg = mi.MonoIsacConfig(K=4, N=16, M=2, snr_db=SNR_DB, gamma_s_db=g)
        b = mi.draw(cfg, ISAC_DRAWS[quick], 3000 + int(g))
        methods = {"LMMSE + null space": baselines.lmmse_nullspace(b, cfg)[:2]}
        for label, session in sessions.items():
            out = session.run(["beamformer", "sensing"], mi.graph_inputs(b, cfg))
            methods[label] = mi.from_graph_outputs(*out)
        if sdr:
            methods["SDR (CCP)"] = baselines.ccp_sdr(b, cfg)[:2]
        row: dict[str, Any] = {"gamma_s_db": g}
        for name, (W, F) in methods.items():
            ok = mi.feasible(b, W, F, cfg, rtol=1e-4)
            rate = mi.sum_rate(b.F_c, W, F, cfg.noise)
            row[name] = {"sum_rate": float(np.where(ok, rate, 0.0).mean()),
                         "feasible": float(ok.mean())}  # fmt: skip
        rows.append(row)
    return {"K": 4, "N": 16, "M": 2, "snr_db": SNR_DB, "draws": ISAC_DRAWS[quick],
            "rows": rows, "infeasible_counts_as": 0.0,
            "sao_isac_trained_gamma_s_db": trained}  # fmt: skip


def table2(host: L2OHost, repeats: int, frontier: dict[str, L2OHost] | None = None
           ) -> dict[str, Any]:  # fmt: skip
    """Batch-100 times at Km x Nm: the model vs WMMSE at its fastest 0.01 % setting (batched
    over the 100, the goal's baseline; and one sample at a time, as the paper times it, one
    round); with ``frontier`` (label -> model) each of those models' time, sum rate and
    speed-up too."""
    cfg = mumiso.MuMisoConfig(K=host.Km, N=host.Nm, Km=host.Km, Nm=host.Nm, snr_db=SNR_DB)
    F = mumiso.draw(cfg, TABLE_BATCH, 7, contiguous=True).active_channels()
    _, hist = wmmse(F, 1.0, cfg.noise, iterations=5000, tol=1e-10, return_history=True)
    mean = hist.mean(axis=0)
    converged = float(mean[-1])
    fastest = int(np.argmax(mean >= (1 - 1e-4) * converged))
    t_fast = best_time(lambda: wmmse(F, 1.0, cfg.noise, iterations=fastest, tol=0.0), repeats)
    t_default = best_time(lambda: wmmse(F, 1.0, cfg.noise), repeats)
    t_per_sample = best_time(
        lambda: [wmmse(F[b : b + 1], 1.0, cfg.noise, iterations=fastest, tol=0.0)
                 for b in range(len(F))], 1
    )  # fmt: skip
    W_fast = wmmse(F, 1.0, cfg.noise, iterations=fastest, tol=0.0)
    t_model = best_time(lambda: host.precode(F, None, cfg.noise), repeats)
    W_model = host.precode(F, None, cfg.noise)
    rate = {name: float(mumiso.sum_rate(F, W, cfg.noise).mean())
            for name, W in (("model", W_model), ("wmmse_fastest", W_fast))}  # fmt: skip
    speedup = t_fast / t_model
    rows = []
    for label, other in {"shipped": host, **(frontier or {})}.items():
        if other is host:
            t, r = t_model, rate["model"]
        else:
            t = best_time(lambda h=other: h.precode(F, None, cfg.noise), repeats)
            r = float(mumiso.sum_rate(F, other.precode(F, None, cfg.noise), cfg.noise).mean())
        arch = other.card["architecture"]
        rows.append({"model": label, "file": other.path.name, "Q_t": arch.get("Q_t"),
                     "Q_i": arch["Q_i"], "T": arch["T"], "time_s": t,
                     "sum_rate_vs_wmmse_converged": r / converged,
                     "speedup_vs_wmmse_fastest": t_fast / t,
                     "speedup_vs_wmmse_fastest_per_sample": t_per_sample / t})  # fmt: skip
    return {
        "K": host.Km,
        "N": host.Nm,
        "batch": TABLE_BATCH,
        "snr_db": SNR_DB,
        "wmmse_converged_sum_rate": converged,
        "wmmse_iterations_within_0.01pct": fastest,
        "wmmse_iterations_converged": int(hist.shape[1] - 1),
        "time_s": {
            "model": t_model,
            "wmmse_fastest": t_fast,
            "wmmse_default_tol": t_default,
            "wmmse_fastest_per_sample": t_per_sample,
        },
        "sum_rate": rate,
        "speedup_vs_wmmse_fastest": speedup,
        "speedup_vs_wmmse_fastest_per_sample": t_per_sample / t_model,
        "goal_speedup_200x": bool(speedup >= 200),
        "frontier": rows,
        "note": "model: ONNX Runtime on one thread; WMMSE: numpy (its BLAS threads as set)",
    }


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    path = model_path()
    host = L2OHost(path, threads=1)
    sizes = SIZES[quick]
    report: dict[str, Any] = {
        "model": str(path.name),
        "card": {k: host.card[k] for k in ("scenario", "dimensions", "snr_db_range")},
        "architecture": {k: host.card["architecture"][k] for k in ("arch", "T", "Q_i")},
        "fig8": fig8(host, sizes["per_k"]),
    }
    by_qt = qt_hosts(host)
    report["table2"] = table2(host, sizes["repeats"],
                              {f"Q_t={q}": h for q, h in sorted(by_qt.items())})  # fmt: skip
    hosts = {"MT-SAO-lift": host}
    sao = path.parent / Path(SAO_MODEL).name
    if sao.exists():
        hosts["MT-SAO"] = L2OHost(sao, threads=1)
    report["fig7"] = fig7(hosts, sizes["per_k"])
    dedicated = dedicated_hosts()
    report["fig6"] = fig6(host, dedicated, sizes["per_k"]) if dedicated else None
    report["fig4"] = fig4({**by_qt, host.card["architecture"].get("Q_t"): host})
    report["isac"] = isac(quick)
    f8, t2 = report["fig8"], report["table2"]
    report["summary"] = {
        "model_vs_wmmse_K<=N": round(f8["ratio_underloaded"], 4),
        "model_vs_wmmse_K>N": None
        if f8["ratio_overloaded"] is None
        else round(f8["ratio_overloaded"], 4),
        "ascent_only_vs_wmmse": {
            k[len("ascent_vs_wmmse_") :]: round(v, 4)
            for k, v in f8.items()
            if k.startswith("ascent_vs_wmmse_")
        },
        "speedup_vs_wmmse_fastest": round(t2["speedup_vs_wmmse_fastest"], 1),
        "goals": {
            "K<=N >= 0.98": f8["goal_underloaded_0.98"],
            "K>N >= 0.95": f8["goal_overloaded_0.95"],
            "speedup >= 200": t2["goal_speedup_200x"],
        },
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    from .l2o_plots import plot, plot_fig4, plot_fig7, plot_isac

    out_dir.mkdir(parents=True, exist_ok=True)
    plot(report, out_dir / "l2o.png")
    plot_fig7(report["fig7"], out_dir / "l2o_fig7.png")
    plot_isac(report["isac"], out_dir / "l2o_isac.png")
    report["plots"] = ["l2o.png", "l2o_fig7.png", "l2o_isac.png"]
    if report["fig4"]:
        plot_fig4(report["fig4"], out_dir / "l2o_fig4.png")
        report["plots"].append("l2o_fig4.png")
    write_report(out_dir, "l2o", report)
    return report
