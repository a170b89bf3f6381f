"""Reading a capture for scoring: its SystemConfig, its streams by kind, the RAP geometry, and
each recording's complete coherence blocks, read in chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import SystemConfig
from ..sigmf_io import Collection, Recording, SigMFError

CHUNK = 256  # coherence blocks per step
#: Scenarios replay can score: the estimation and MUSIC of the cell-free network (STCIB paper).
REPLAY_SCENARIOS = ("cellfree",)


@dataclass
class BlockReader:
    """The complete coherence blocks of one recording: their indices and samples on demand."""

    rec: Recording
    per_block: int
    cbs: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, rec: Recording, per_block: int) -> BlockReader:
        """The recording's whole blocks, sorted by block index (a recorder may annotate them
        in any order); an index outside 0 ... 2**63 - 1 or one listed twice is refused."""
        blocks = [a for a in rec.blocks() if a.start + per_block <= rec.num_items]
        if blocks:
            for a in blocks:
                if not (isinstance(a.cb, int) and 0 <= a.cb < 2**63):
                    raise SigMFError(
                        f"{rec.meta_path}: annotation cfisac:cb = {str(a.cb)[:40]} at sample "
                        f"{a.start} is not a block index in 0 ... 2**63 - 1"
                    )
            cbs = np.array([a.cb for a in blocks], dtype=np.int64)
            starts = np.array([a.start for a in blocks], dtype=np.int64)
            order = np.argsort(cbs, kind="stable")
            cbs, starts = cbs[order], starts[order]
            twice = cbs[1:][cbs[1:] == cbs[:-1]]
            if twice.size:
                raise SigMFError(
                    f"{rec.meta_path}: annotation cfisac:cb = {int(twice[0])} marks two blocks; "
                    "each coherence block index may appear once"
                )
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


def check_scenario(capture: Collection, where: Path) -> str:
    """The capture's scenario (``cfisac:scenario``; cellfree when it names none), or ValueError
    if replay cannot serve it."""
    scenario = capture.scenario
    if scenario not in REPLAY_SCENARIOS:
        raise ValueError(
            f"{where} records scenario {scenario!r} (cfisac:scenario); cfisac replay scores "
            f"scenario(s) {', '.join(map(repr, REPLAY_SCENARIOS))} only (channel estimation and "
            "MUSIC of the cell-free network)"
        )
    return scenario


def config_of(capture: Collection, given: SystemConfig | None, where: Path) -> SystemConfig:
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


def streams_by_kind(
    capture: Collection, cfg: SystemConfig, plain_kind: str
) -> dict[str, list[Recording]]:
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


def rap_geometry(cfg: SystemConfig, capture: Collection) -> tuple[np.ndarray, np.ndarray, str]:
    from ..geometry import rap_poses

    g = capture.geometry
    if g.get("rap_pos_m") and g.get("rap_frame"):
        try:
            pos, frame = np.asarray(g["rap_pos_m"], float), np.asarray(g["rap_frame"], float)
        except (TypeError, ValueError, OverflowError):
            pos = frame = np.zeros(0)
        bad = pos.shape != (cfg.NR, 3) or frame.shape != (cfg.NR, 3, 3)
        if bad or not (np.all(np.isfinite(pos)) and np.all(np.isfinite(frame))):
            raise ValueError(
                f"{capture.path}: cfisac:geometry rap_pos_m / rap_frame must be numbers of shape "
                f"({cfg.NR}, 3) / ({cfg.NR}, 3, 3), finite; the metadata is corrupt"
            )
        return pos, frame, "capture"
    raps, frames = rap_poses(cfg)
    return raps, frames, "config (ap_positions)"


def in_chunks(cbs: np.ndarray, progress: bool, what: str):
    steps = range(0, len(cbs), CHUNK)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=what, unit="chunk", leave=False)
    for s in steps:
        yield cbs[s : s + CHUNK]
