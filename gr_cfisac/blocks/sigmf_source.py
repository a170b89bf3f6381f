"""SigMF source: streams a recorded capture (or one recording) with its tags.

Ports: the groups of :mod:`gr_cfisac.blocks.sigmf_sink` in the same order (``rap_echo``,
``truth``, ``geometry``, ``tap_pilots``, ``stats``, ``tap_downlink``, ``estimate``), each port
streaming one recording of the capture, so the source stands in for the live blocks that fed
the sink (scenario source, echo channel ...) in front of the estimator, MUSIC, fusion, metrics.

Every block is emitted with its recorded ``cb`` tag (renumbered on every pass when looping, so
block indices keep increasing) and the other recorded tags; every output starts with a
``cfisac_config`` tag, so downstream blocks built for another configuration refuse it at start.

- ``config``: the flowgraph's SystemConfig; it must match the capture's (else a ValueError
  naming the fields), or supplies the dimensions of a capture without ``cfisac:`` metadata.
- counts per group: None (Python) takes every recording of that kind in the capture; in GRC a
  ``preset`` as in the sink. Trailing ports may stay unconnected (only the first is required). A recording without ``cfisac:stream`` (made by another tool) is
  taken as ``plain_kind`` (default rap_echo), in file order, cut into blocks of its items per
  block with block indices 0, 1, ...
- ``blocks_per_second``: 0 streams as fast as downstream takes it; > 0 throttles.
- ``loop``: start again at the first block after the last; ``num_blocks`` > 0 stops (or loops)
  after that many blocks of the capture.
"""

from __future__ import annotations

import bisect
import time
from pathlib import Path

import numpy as np
import pmt

from ..config import SystemConfig
from ..sigmf_io import Recording, SigMFError, read_capture
from ._base import CoherenceBlock, Port, check_config, config_difference, config_fields
from .sigmf_sink import KIND_ORDER, preset_counts, stream_kind, tag_to_pmt


class sigmf_source(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Replay a SigMF capture of a CF-ISAC flowgraph, tags included."""

    def __init__(
        self,
        config: SystemConfig | None,
        path: str,
        rap_echo: int | None = None,
        truth: int | None = None,
        geometry: int | None = None,
        tap_pilots: int | None = None,
        stats: int | None = None,
        tap_downlink: int | None = None,
        estimate: int | None = None,
        preset: str = "",
        loop: bool = False,
        blocks_per_second: float = 0.0,
        num_blocks: int = 0,
        plain_kind: str = "rap_echo",
        verify_checksum: bool = True,
        max_blocks: int = 64,
    ) -> None:
        try:
            capture = read_capture(path, verify_checksum=verify_checksum)
        except SigMFError as exc:
            raise ValueError(f"sigmf_source: {exc}") from None
        cfg = self._config(config, capture.config, path)
        if plain_kind not in KIND_ORDER:
            raise ValueError(f"sigmf_source: plain_kind must be one of {KIND_ORDER}")
        by_kind: dict[str, list[Recording]] = {k: [] for k in KIND_ORDER}
        for rec in capture.recordings:
            kind = rec.kind or plain_kind
            if kind in by_kind:
                by_kind[kind].append(rec)
        for kind in by_kind:
            by_kind[kind].sort(key=lambda r: int(r.stream.get("index", 0)))
        asked = dict(
            zip(KIND_ORDER, (rap_echo, truth, geometry, tap_pilots, stats, tap_downlink, estimate))
        )
        if preset:
            asked = preset_counts(cfg, preset)
        self.recordings: list[Recording] = []
        self.kinds: list[tuple[str, int]] = []
        ports = []
        for kind in KIND_ORDER:
            have = by_kind[kind]
            want = len(have) if asked[kind] is None else int(asked[kind])
            if want > len(have):
                raise ValueError(
                    f"sigmf_source: {path} has {len(have)} {kind} recording(s), {want} asked; "
                    f"it holds {self._inventory(capture.recordings, plain_kind)}"
                )
            spec = stream_kind(cfg, kind)
            for j, rec in enumerate(have[:want]):
                if rec.num_channels != spec.vlen:
                    raise ValueError(
                        f"sigmf_source: {rec.meta_path.name} has {rec.num_channels} channels; a "
                        f"{kind} port of this configuration carries {spec.vlen}"
                    )
                self.recordings.append(rec)
                self.kinds.append((kind, j))
                ports.append(Port(f"{kind}{j}", np.complex64, spec.vlen, spec.per_block))
        if not ports:
            raise ValueError(f"sigmf_source: nothing to stream from {path}")
        # trailing groups may be left unconnected (GRC marks them optional); GNU Radio asks
        # for a leading run of connected outputs
        super().__init__(
            "cfisac_sigmf_source", cfg, [], ports, min_outputs=1, max_blocks=max_blocks
        )
        self.capture = capture
        self._starts, cbs = self._block_table(ports, path)
        total = len(cbs)
        if int(num_blocks) > 0:
            total = min(total, int(num_blocks))
        if total == 0:
            raise ValueError(f"sigmf_source: {path} holds no complete coherence block")
        self.total = total
        self.cbs = cbs[:total]
        self.span = int(self.cbs[-1] - self.cbs[0] + 1)
        self.loop = bool(loop)
        if blocks_per_second < 0:
            raise ValueError(
                f"sigmf_source: blocks_per_second must be >= 0, got {blocks_per_second}"
            )
        self.rate = float(blocks_per_second)
        self.position = 0  # blocks emitted so far, over all passes
        self._t0: float | None = None
        self._maps = [rec.samples(mmap=True) for rec in self.recordings]
        self._tags = [self._tag_table(rec) for rec in self.recordings]
        self._idx = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _config(given, recorded: SystemConfig | None, path: str) -> SystemConfig:
        if given is None and recorded is None:
            raise ValueError(
                f"sigmf_source: {path} has no cfisac:config metadata; pass the SystemConfig "
                "it was recorded with"
            )
        if given is None:
            return recorded
        cfg = check_config(given)
        if recorded is not None:
            diff = config_difference(config_fields(cfg), config_fields(recorded))
            if diff:
                raise ValueError(
                    f"sigmf_source: {path} was recorded with another SystemConfig: "
                    f"{'; '.join(d.replace('upstream', 'in the capture') for d in diff)}"
                )
        return cfg

    @staticmethod
    def _inventory(recordings: list[Recording], plain_kind: str) -> str:
        kinds: dict[str, int] = {}
        for r in recordings:
            kinds[r.kind or plain_kind] = kinds.get(r.kind or plain_kind, 0) + 1
        return ", ".join(f"{n} {k}" for k, n in kinds.items()) or "nothing"

    def _block_table(self, ports: list[Port], path: str) -> tuple[list[np.ndarray], np.ndarray]:
        """Per port the first item of every complete block, and the common block indices."""
        starts, common = [], None
        for rec, port in zip(self.recordings, ports):
            blocks = [a for a in rec.blocks() if a.start + port.per_block <= rec.num_items]
            if blocks:
                s = np.array([a.start for a in blocks], dtype=np.int64)
                c = np.array([a.cb for a in blocks], dtype=np.int64)
            else:  # no cb annotations (another tool's capture): consecutive blocks from 0
                c = np.arange(rec.num_items // port.per_block, dtype=np.int64)
                s = c * port.per_block
            if common is None:
                common = c
            n = min(len(common), len(c))
            if np.any(common[:n] != c[:n]):
                raise ValueError(
                    f"sigmf_source: {rec.meta_path.name} has blocks {c[:4].tolist()}... where "
                    f"{self.recordings[0].meta_path.name} has {common[:4].tolist()}...: the "
                    f"recordings of {path} are not aligned"
                )
            common = common[:n]
            starts.append(s)
        return [s[: len(common)] for s in starts], common

    @staticmethod
    def _tag_table(rec: Recording) -> tuple[list[int], list[tuple[pmt.pmt_t, pmt.pmt_t]]]:
        offsets, tags = [], []
        for a in rec.annotations:
            tag = a.tag
            if a.cb is None and isinstance(tag, dict) and isinstance(tag.get("key"), str):
                offsets.append(a.start)
                tags.append((pmt.intern(tag["key"]), tag_to_pmt(tag)))
        return offsets, tags

    # ------------------------------------------------------------------ scheduling
    def blocks_available(self) -> int | None:
        left = None if self.loop else self.total - self.position
        if self.rate <= 0 or left == 0:
            return left
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = int((now - self._t0) * self.rate) + 1 - self.position
        if due <= 0:  # sleep until the next block is due
            time.sleep(max(0.0, self._t0 + self.position / self.rate - now))
            due = 1
        return due if left is None else min(due, left)

    def _read_cb(self, ninputs: int, n: int) -> np.ndarray:
        """The recorded block indices of the next n blocks (renumbered per loop pass)."""
        pos = self.position + np.arange(n, dtype=np.int64)
        self._idx = pos % self.total
        return self.cbs[self._idx] + (pos // self.total) * self.span

    def process(self, cb, ins, outs) -> None:
        idx = self._idx
        for p, out in enumerate(outs):
            per = self.out_ports[p].per_block
            starts = self._starts[p][idx]
            out[:] = self._maps[p][starts[:, None] + np.arange(per)]
            offsets, tags = self._tags[p]
            if not offsets:
                continue
            base = self.nitems_written(p)
            for b, s in enumerate(starts.tolist()):
                lo = bisect.bisect_left(offsets, s)
                hi = bisect.bisect_left(offsets, s + per)
                for t in range(lo, hi):
                    key, value = tags[t]
                    self.add_item_tag(p, base + b * per + offsets[t] - s, key, value)
        self.position += len(cb)

    @property
    def path(self) -> Path | None:
        return self.capture.path
