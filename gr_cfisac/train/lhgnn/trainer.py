"""Unsupervised training of the LHGNN (and its baselines) with the loss of eq 51, resumable:
runs/NAME/checkpoint.pt holds the model, the optimizer, the epoch, gamma and the best state
so far (selected on validation: the highest sum rate with the SPEB constraint met on at least
``satisfaction_target`` of the blocks, else the highest satisfaction)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ...coisac import CoisacBatch, CoisacConfig, CoisacScenario
from ...coisac import raytrace_split as rts
from ...coisac.noise import noisy_csi, perturbed_steering
from ...precoding.lhgnn import node_features
from . import objective as ob
from .config import LHGNNConfig, repo_root
from .model import build_model
from .reference import evaluate, target_beam_baseline

GAMMA_DRAW = 2000  # blocks of the stand-in gamma's mean SPEB
GAMMA_SEED = 314


def scenario_config(cfg: LHGNNConfig) -> CoisacConfig:
    return CoisacConfig(K=cfg.K, power_dbm=cfg.power_dbm, target_spread_m=cfg.target_spread_m)


def stand_in_gamma(scn: CoisacConfig, fraction: float) -> float:
    """gamma (m^2): mean SPEB of ZF users + a target beam with ``fraction`` of every BS's power
    over GAMMA_DRAW seeded blocks (reference.target_beam_baseline)."""
    batch = CoisacScenario(scn).draw(GAMMA_DRAW, rng=GAMMA_SEED)
    return float(np.mean(batch.speb(target_beam_baseline(batch, fraction, "zf"))))


@dataclass
class Dataset:
    """Blocks as tensors: node features, true channels F (B, N L, K) and the echo model."""

    batch: CoisacBatch
    comm: torch.Tensor
    sensing: torch.Tensor
    F: torch.Tensor
    echo: ob.EchoTensors

    @classmethod
    def draw(
        cls, scn: CoisacConfig, size: int, seed: int, device: str,
        csi_snr_db: float | None = None, position_error_m: float = 0.0,
    ) -> Dataset:  # fmt: skip
        """``size`` blocks; the node features from a CSI estimate at ``csi_snr_db`` and a target
        mis-located by ``position_error_m`` (coisac.noise, drawn once, seeded), F and the echo
        model (the loss) clean."""
        return cls.of_batch(CoisacScenario(scn).draw(size, rng=seed), seed, device, csi_snr_db,
                            position_error_m)  # fmt: skip

    @classmethod
    def of_batch(
        cls, batch: CoisacBatch, seed: int, device: str, csi_snr_db: float | None = None,
        position_error_m: float = 0.0,
    ) -> Dataset:  # fmt: skip
        """``batch``'s blocks as tensors (the input noise of :meth:`draw`, seeded by ``seed``)."""
        scn = batch.cfg
        F_hat, a_t = batch.F_hat, batch.sensing.aT_t
        if csi_snr_db is not None or position_error_m > 0:
            rng = np.random.default_rng([seed, 1])
            snr = math.inf if csi_snr_db is None else csi_snr_db
            F_hat = noisy_csi(batch.F, scn.N, snr, rng)
            a_t = perturbed_steering(batch, position_error_m, rng)
        comm, sensing = node_features(F_hat, a_t)
        return cls(batch, torch.as_tensor(comm, device=device),
                   torch.as_tensor(sensing, device=device),
                   torch.as_tensor(batch.F, device=device),
                   ob.EchoTensors.from_model(batch.echo, device))  # fmt: skip


def predict(model: torch.nn.Module, data: Dataset, chunk: int = 500) -> np.ndarray:
    """W (B, N L, K+1) complex128 of the model on every block of ``data``."""
    model.eval()
    with torch.no_grad():
        outs = [model(data.comm[i : i + chunk], data.sensing[i : i + chunk])
                for i in range(0, data.comm.shape[0], chunk)]  # fmt: skip
    model.train()
    return ob.to_complex(torch.cat(outs)).cpu().numpy()


def selection_key(metrics: dict[str, float], target: float) -> tuple[float, float]:
    ok = metrics["speb_satisfied"] >= target
    return (1.0, metrics["sum_rate"]) if ok else (0.0, metrics["speb_satisfied"])


class Trainer:
    """One run into ``out`` (runs/NAME): :meth:`fit` trains, resuming from its checkpoint."""

    def __init__(self, cfg: LHGNNConfig, out: str | Path) -> None:
        self.cfg, self.out = cfg, Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.scn = scenario_config(cfg)
        self.model = build_model(cfg.arch, self.scn.N, cfg.K, self.scn.L, self.scn.power,
                                 list(cfg.dims), cfg.hidden, cfg.head,
                                 (self.scn.Lx, self.scn.Ly)).to(cfg.device)  # fmt: skip
        self.optim = torch.optim.Adam(self.model.parameters(), lr=cfg.lr,
                                      weight_decay=cfg.weight_decay)  # fmt: skip
        self.schedule = ob.Schedule(cfg.rho1_slope, cfg.rho2_slope, cfg.rate_floor)
        self.epoch, self.history, self.best = 0, [], None
        self.gamma = cfg.gamma_m2
        self.raytraced = None  # cfg.dataset: the ray-traced channel source (raytrace_split)
        if cfg.dataset is not None:
            path = rts.resolve(cfg.dataset, repo_root())
            need = cfg.train_size + cfg.val_size
            self.raytraced = rts.load_for(path, self.scn, need)
        ckpt = self.out / "checkpoint.pt"
        if ckpt.is_file():
            self.load(ckpt)
        if self.gamma is None:
            self.gamma = stand_in_gamma(self.scn, cfg.gamma_fraction)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def load(self, path: Path) -> None:
        state = torch.load(path, map_location=self.cfg.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.epoch, self.history = state["epoch"], state["history"]
        self.best, self.gamma = state["best"], state["gamma"]

    def save(self) -> None:
        state = {"model": self.model.state_dict(), "optim": self.optim.state_dict(),
                 "epoch": self.epoch, "history": self.history, "best": self.best,
                 "gamma": self.gamma, "config": self.cfg.to_dict()}  # fmt: skip
        tmp = self.out / "checkpoint.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "checkpoint.pt")

    def step(self, data: Dataset, idx: torch.Tensor, epoch: int) -> dict[str, float]:
        out = self.model(data.comm[idx], data.sensing[idx])
        W = ob.to_complex(out)
        rates = ob.user_rates(data.F[idx], W)
        spebs = ob.speb(data.echo.take(idx), W, self.scn.snapshots)
        loss, parts = ob.loss_eq51(rates, spebs, self.gamma, epoch, self.schedule)
        self.optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optim.step()
        return parts

    def fit(self, progress: bool = True) -> dict[str, Any]:
        cfg, start = self.cfg, time.monotonic()
        train, val = self.datasets()
        gen = torch.Generator().manual_seed(cfg.seed + self.epoch)
        bar = tqdm(range(self.epoch, cfg.epochs), initial=self.epoch, total=cfg.epochs,
                   disable=not progress, desc=cfg.name)  # fmt: skip
        for epoch in bar:
            perm = torch.randperm(cfg.train_size, generator=gen).to(cfg.device)
            for i in range(0, cfg.train_size, cfg.batch_size):
                parts = self.step(train, perm[i : i + cfg.batch_size], epoch + 1)
            metrics = evaluate(val.batch, predict(self.model, val), self.gamma)
            self.epoch = epoch + 1
            self.history.append({"epoch": self.epoch, **parts, **metrics})
            if self.best is None or selection_key(metrics, cfg.satisfaction_target) > \
                    selection_key(self.best["metrics"], cfg.satisfaction_target):  # fmt: skip
                state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                self.best = {"epoch": self.epoch, "metrics": metrics, "state": state}
            bar.set_postfix(rate=f"{metrics['sum_rate']:.2f}",
                            sat=f"{metrics['speb_satisfied']:.2f}")  # fmt: skip
            self.save()
            if (time.monotonic() - start) / 60.0 > cfg.max_minutes:
                break
        (self.out / "history.json").write_text(json.dumps(self.history, indent=1))
        return {"epochs": self.epoch, "gamma_m2": self.gamma, "best": {
            "epoch": self.best["epoch"], "metrics": self.best["metrics"]}}  # fmt: skip

    def datasets(self) -> tuple[Dataset, Dataset]:
        """Training and validation blocks: drawn (geometric) or the ray-traced dataset's
        seeded split (raytrace_split, split seed data_seed)."""
        cfg, noise = self.cfg, (self.cfg.csi_snr_db, self.cfg.position_error_m)
        if self.raytraced is None:
            return (Dataset.draw(self.scn, cfg.train_size, cfg.data_seed, cfg.device, *noise),
                    Dataset.draw(self.scn, cfg.val_size, cfg.val_seed, cfg.device, *noise))  # fmt: skip
        b = self.raytraced_batches()
        return (Dataset.of_batch(b["train"], cfg.data_seed, cfg.device, *noise),
                Dataset.of_batch(b["val"], cfg.val_seed, cfg.device, *noise))  # fmt: skip

    def raytraced_batches(self, test_seed: int = 0) -> dict[str, CoisacBatch]:
        cfg = self.cfg
        rngs = {"train": cfg.data_seed, "val": cfg.val_seed, "test": test_seed}
        return rts.split_batches(self.raytraced, cfg.train_size, cfg.val_size, cfg.data_seed,
                                 rngs)  # fmt: skip

    def best_model(self) -> torch.nn.Module:
        """The model with the selected (best validation) weights, on the CPU, float32."""
        model = build_model(self.cfg.arch, self.scn.N, self.cfg.K, self.scn.L, self.scn.power,
                            list(self.cfg.dims), self.cfg.hidden, self.cfg.head,
                            (self.scn.Lx, self.scn.Ly))  # fmt: skip
        model.load_state_dict(self.best["state"] if self.best else self.model.state_dict())
        return model.float().eval()
