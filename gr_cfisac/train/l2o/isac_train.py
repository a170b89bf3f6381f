"""Algorithm 2 of paper 002 (SAO-ISAC training) and its ONNX export, for the monostatic ISAC
scenario (:mod:`gr_cfisac.mono_isac`, fixed K, N, M, SNR and sensing floor gamma_s).

Sliding window over the layers as Algorithm 1 (no (K, N) curriculum), loss minus eq 30 summed
over the window's layers (:func:`.isac.objective`), Adam with cosine lr, channels and targets
drawn fresh every step; run folder with config.yml, last.pt (resumable), log.csv. The ONNX graph
takes ``channel`` (B, K, 2N) rows [Re f_k^T, Im f_k^T], ``targets`` (B, M, 2N) rows
|beta_m| sqrt(N) a(theta_m)^T (I/Q), ``noise``, ``radar_noise`` and ``gamma`` (B, 1) each, and
returns ``beamformer`` (B, K, 2N) rows w_k^T and ``sensing`` (B, N, 2N) rows of F^T; the card
(``"family": "sao_isac"``) is read by ``cfisac bench l2o`` (not a registry precoder: its N x N
sensing F does not fit the (B, N, K+1) layout).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import mono_isac as mi
from ...precoding.cards import CARD_FORMAT
from . import ops
from .isac import SAOISAC, objective, sensing_snr, sum_rate

INPUTS = ("channel", "targets", "noise", "radar_noise", "gamma")
OUTPUTS = ("beamformer", "sensing")


@dataclass(frozen=True)
class IsacConfig:
    """One SAO-ISAC run: scenario, model, sliding window, optimizer (flat; YAML)."""

    name: str = "sao_isac"
    seed: int = 0
    K: int = 4
    N: int = 16
    M: int = 2
    snr_db: float = 20.0
    gamma_s_db: float = 30.0
    layers: int = 4
    d_model: int = 32
    heads: int = 4
    hidden: int = 64
    q_train: int = 5
    q_infer: int = 10
    step_size: float = 0.01
    comm_share: float = 0.8
    barrier_weight: float = 1.0
    split: str = "learned"
    nullspace: bool = False
    window: int = 2
    window_epochs: int = 20
    passes: int = 2
    steps_per_epoch: int = 10
    lr: float = 1e-3
    lr_min: float = 2e-4
    batch_size: int = 128
    threads: int = 1
    device: str = "cpu"
    max_minutes: float = 60.0
    val_size: int = 256
    val_seed: int = 4321

    def __post_init__(self) -> None:
        ints = ("K", "N", "M", "layers", "d_model", "heads", "hidden", "window", "window_epochs",
                "passes", "steps_per_epoch", "batch_size", "threads", "val_size")  # fmt: skip
        for name in ints:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"sao_isac config: {name} must be a positive integer, got {v!r}")
        if self.window > self.layers:
            raise ValueError(f"sao_isac config: window={self.window} exceeds layers={self.layers}")
        if not 0 < self.comm_share < 1:
            raise ValueError("sao_isac config: comm_share must be in (0, 1)")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"sao_isac config: device must be cpu or cuda, got {self.device!r}")

    @property
    def scenario(self) -> mi.MonoIsacConfig:
        return mi.MonoIsacConfig(K=self.K, N=self.N, M=self.M, snr_db=self.snr_db,
                                 gamma_s_db=self.gamma_s_db)  # fmt: skip

    @property
    def total_epochs(self) -> int:
        return self.window_epochs * (self.layers - self.window + self.passes)

    @classmethod
    def load(cls, path: str | Path) -> IsacConfig:
        from ...recipe_files import read_recipe

        data = read_recipe(path, "sao_isac config")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"sao_isac config: unknown key(s) {unknown}")
        return cls(**data)


def inputs(cfg: IsacConfig, size: int, rng) -> tuple[dict[str, np.ndarray], mi.MonoIsacBatch]:
    """The graph's float32 inputs for ``size`` fresh draws (mono_isac.graph_inputs), and the
    draws."""
    b = mi.draw(cfg.scenario, size, rng)
    return mi.graph_inputs(b, cfg.scenario), b


def build_model(cfg: IsacConfig) -> SAOISAC:
    torch.manual_seed(cfg.seed)
    return SAOISAC(cfg.K, cfg.N, cfg.layers, cfg.d_model, cfg.heads, cfg.hidden, cfg.q_train,
                   cfg.step_size, cfg.comm_share,
                   inverse_iterations=ops.inverse_iterations(cfg.K, cfg.snr_db),
                   split=cfg.split, nullspace=cfg.nullspace)  # fmt: skip


def _tensors(feed: dict[str, np.ndarray], device: str) -> list[torch.Tensor]:
    return [torch.from_numpy(feed[n]).to(device) for n in INPUTS]


@torch.no_grad()
def evaluate(model: SAOISAC, feed: dict[str, np.ndarray], steps: int, device: str = "cpu"):
    """Mean sum rate, feasible fraction (every target at its floor, 1e-4) and mean sum rate
    with infeasible blocks counted 0."""
    model.eval()
    t = _tensors(feed, device)
    H, S, out = model.trajectory(*t, steps=steps)
    W, F = out[-1]
    rate = sum_rate(H, W, F, t[2])
    ok = (sensing_snr(S, W, F, t[3]) >= t[4] * (1 - 1e-4)).all(-1)
    model.train()
    return {"sum_rate": float(rate.mean()), "feasible": float(ok.double().mean()),
            "sum_rate_feasible_or_0": float(torch.where(ok, rate, 0.0).mean())}  # fmt: skip


class IsacTrainer:
    """Algorithm 2 (module docstring); resumes from ``out/last.pt``."""

    def __init__(self, cfg: IsacConfig, out: str | Path, progress: bool = True) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        torch.set_num_threads(cfg.threads)
        self.model = build_model(cfg).to(cfg.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.rng = np.random.default_rng(cfg.seed)
        self.state = {"epoch": 0, "step": 0, "wall_s": 0.0}
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.yml").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
        if (self.out / "last.pt").exists():
            s = torch.load(self.out / "last.pt", map_location=cfg.device, weights_only=True)
            self.model.load_state_dict(s["model"])
            self.optimizer.load_state_dict(s["optimizer"])
            self.state.update(s["counters"])
            self.rng.bit_generator.state = s["rng"]

    def lr(self, step: int) -> float:
        total = self.cfg.total_epochs * self.cfg.steps_per_epoch
        c = 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))
        return self.cfg.lr_min + (self.cfg.lr - self.cfg.lr_min) * c

    def step(self, t_s: int) -> float:
        cfg, m = self.cfg, self.model
        feed, _ = inputs(cfg, cfg.batch_size, self.rng)
        channel, targets, noise, rnoise, gamma = _tensors(feed, cfg.device)
        q = cfg.q_train
        with torch.no_grad():
            H, S, G, W, F, masks = m.start(channel, targets, noise, rnoise, gamma)
            ah, ag = H, G
            for t in range(t_s):
                ah, ag, W, F = m.layer(t, H, S, ah, ag, W, F, masks, noise, rnoise, gamma, q)
        total = []
        for t in range(t_s, t_s + cfg.window):
            ah, ag, W, F = m.layer(t, H, S, ah, ag, W, F, masks, noise, rnoise, gamma, q)
            total.append(objective(H, S, W, F, noise, rnoise, gamma, cfg.barrier_weight).mean())
        loss = -torch.stack(total).sum()
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr(self.state["step"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        self.optimizer.step()
        self.state["step"] += 1
        return float(total[-1].detach())

    def fit(self) -> dict[str, Any]:
        from tqdm import tqdm

        cfg = self.cfg
        val, _ = inputs(cfg, cfg.val_size, np.random.default_rng(cfg.val_seed))
        start, wall0 = time.perf_counter(), self.state["wall_s"]
        bar = tqdm(total=cfg.total_epochs, initial=self.state["epoch"], desc=cfg.name,
                   disable=not self.progress)  # fmt: skip
        while self.state["epoch"] < cfg.total_epochs:
            t_s = min(self.state["epoch"] // cfg.window_epochs, cfg.layers - cfg.window)
            value = float(np.mean([self.step(t_s) for _ in range(cfg.steps_per_epoch)]))
            self.state["epoch"] += 1
            self.state["wall_s"] = wall0 + time.perf_counter() - start
            row = {"epoch": self.state["epoch"], "window_start": t_s + 1,
                   "objective": round(value, 4), "elapsed_s": round(self.state["wall_s"], 1)}  # fmt: skip
            log = self.out / "log.csv"
            new = not log.exists()
            with log.open("a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)
            if not self.progress:
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "counters": dict(self.state), "rng": self.rng.bit_generator.state},
                       self.out / "last.tmp")  # fmt: skip
            (self.out / "last.tmp").replace(self.out / "last.pt")
            bar.update(1)
            if self.state["wall_s"] > 60 * cfg.max_minutes:
                break
        bar.close()
        return {"epochs": self.state["epoch"], "wall_s": round(self.state["wall_s"], 1),
                **evaluate(self.model, val, cfg.q_infer, cfg.device)}  # fmt: skip


class _Graph(torch.nn.Module):
    def __init__(self, model: SAOISAC, steps: int) -> None:
        super().__init__()
        self.model, self.steps = model, steps

    def forward(self, channel, targets, noise, radar_noise, gamma):
        return self.model(channel, targets, noise, radar_noise, gamma, self.steps)


def export(cfg: IsacConfig, model: SAOISAC, path: str | Path, result: dict[str, Any]) -> dict:
    """Write the ONNX graph (opset 17) and its card; parity torch vs ONNX Runtime <= 1e-5."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    model = model.float().eval()
    feed, _ = inputs(cfg, 32, np.random.default_rng(7))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Graph(model, cfg.q_infer), tuple(torch.from_numpy(feed[n][:2]) for n in INPUTS),
                          buffer, dynamo=False, opset_version=17, input_names=list(INPUTS),
                          output_names=list(OUTPUTS),
                          dynamic_axes={n: {0: "batch"} for n in INPUTS + OUTPUTS})  # fmt: skip
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proto.SerializeToString())
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)
    with torch.no_grad():
        want = [x.numpy() for x in model(*(torch.from_numpy(feed[n]) for n in INPUTS), cfg.q_infer)]
    parity = max(float((np.abs(g - w).max((1, 2)) / np.linalg.norm(w, axis=(1, 2))).max())
                 for g, w in zip(got, want))  # fmt: skip
    if parity > 1e-5:
        raise ValueError(f"SAO-ISAC ONNX parity {parity:.2e} exceeds 1e-5")
    pc = [float(model.powers(t)[0].detach()) for t in range(cfg.layers)]
    pc = pc if cfg.split == "learned" else None  # closed form: per block, not a parameter
    card = {
        "format": CARD_FORMAT,
        "family": "sao_isac",
        "name": path.stem,
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "scenario": "mono_isac",
        "dimensions": {"K": cfg.K, "N": cfg.N, "M": cfg.M},
        "snr_db": cfg.snr_db,
        "gamma_s_db": cfg.gamma_s_db,
        "architecture": {
            "T": cfg.layers,
            "Q_t": cfg.q_train,
            "Q_i": cfg.q_infer,
            "d_model": cfg.d_model,
            "heads": cfg.heads,
            "hidden": cfg.hidden,
            "comm_power_per_layer": pc,
            "barrier_weight": cfg.barrier_weight,
            "split": cfg.split,
            "nullspace": cfg.nullspace,
            "parameters": sum(p.numel() for p in model.parameters()),
        },  # fmt: skip
        "onnx": {
            "opset": 17,
            "inputs": list(INPUTS),
            "outputs": list(OUTPUTS),
            "parity_max_rel_diff": parity,
        },  # fmt: skip
        "training": {
            "config": dataclasses.asdict(cfg),
            **{k: result[k] for k in ("epochs", "wall_s")},
        },
        "validation": {k: v for k, v in result.items() if k not in ("epochs", "wall_s")},
    }
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    return card
