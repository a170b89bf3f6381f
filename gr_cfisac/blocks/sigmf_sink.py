"""SigMF sink: records a flowgraph's AP ports and per-block data as one SigMF capture.

Ports (all optional groups, in this order; counts are parameters; per coherence block):

- in ``rap_echo`` x n      complex64[MR], tau items: RAP j's snapshots (echo_channel)
- in ``truth`` (0 or 1)    complex64[truth], 1 item: ground truth (scenario_source)
- in ``geometry`` (0 or 1) complex64[geometry], 1 item: sensing geometry (scenario_source)
- in ``tap_pilots`` x n    complex64[MT], tau_p items: TAP i's received pilots (scenario_source)
- in ``stats`` x n         complex64[stats], 1 item: TAP i's known statistics (scenario_source)
- in ``tap_downlink`` x n  complex64[MT], tau items: TAP i's transmitted snapshots (transmitter)
- in ``estimate`` x n      complex64[estimate], 1 item: TAP i's estimates (pilot_estimator)

In GRC a ``preset`` picks a leading run of these groups (PRESETS) with NR / NT ports each.

Each port becomes one recording ``PATH-<kind><index>`` (an empty PATH records nothing) (antennas or layout values as
interleaved cf32_le channels, gr_cfisac.sigmf_io) and the capture's collection
``PATH.sigmf-collection`` groups them, with the scenario (``cfisac:scenario``, the flowgraph
simulates ``cellfree``), the SystemConfig and the AP geometry. Every ``cb``
tag becomes a block annotation; with the truth port connected, each block annotation carries
the target/clutter/user positions (and, on a RAP's recording, the target's true angles there).
Other stream tags become annotations holding the exact serialized PMT.

With ``num_blocks`` > 0 the sink records that many blocks (counted after a join,
_base.CoherenceBlock) and ends. Every ``work()`` call ends with a checkpoint (samples flushed,
the blocks' annotations appended to each recording's journal, fsynced about once a second), so
a killed flowgraph loses at most the call in progress: ``cfisac salvage CAPTURE`` rebuilds the
rest. The capture is finished (metadata streamed from the journals, validated and atomically
renamed into place) when the flowgraph stops; it is marked ``cfisac:interrupted`` when it
stopped before its planned end: by a signal, by ``tb.stop()`` before the inputs ended, or with
fewer than ``num_blocks`` blocks. SIGINT/SIGTERM finish the capture in any host script
(recording_guard). An error of the sink itself (inputs misaligned or from another
configuration) leaves the capture incomplete; a write error (full disk) is logged, the capture
is marked incomplete and the flowgraph carries on without recording.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pmt

from ..config import SystemConfig
from ..geometry import rap_poses, tap_poses
from ..sigmf_io import CaptureWriter, SigMFError, glob_escape, jsonable
from . import recording_guard
from ._base import CB_KEY, CONFIG_KEY, CoherenceBlock, Port, check_config
from .layout import truth_layout

#: Port groups, in port order (GRC presets record a leading run of them, see PRESETS).
KIND_ORDER = (
    "rap_echo",
    "truth",
    "geometry",
    "tap_pilots",
    "stats",
    "tap_downlink",
    "estimate",
)

#: What the GRC blocks offer: preset -> the port groups recorded or replayed (a prefix of
#: KIND_ORDER, so unused ports are the trailing ones). "replay" is what estimation + MUSIC
#: need to be rerun and scored (cfisac replay).
PRESETS = {
    "rap": ("rap_echo",),
    "rap_truth": ("rap_echo", "truth"),
    "rap_truth_geometry": ("rap_echo", "truth", "geometry"),
    "replay": ("rap_echo", "truth", "geometry", "tap_pilots", "stats"),
    "all": KIND_ORDER,
}


def preset_counts(cfg: SystemConfig, preset: str) -> dict[str, int]:
    """Port counts of a preset: NR RAP ports, NT per TAP kind, one truth/geometry port."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    full = {
        "rap_echo": cfg.NR,
        "truth": 1,
        "geometry": 1,
        "tap_pilots": cfg.NT,
        "stats": cfg.NT,
        "tap_downlink": cfg.NT,
        "estimate": cfg.NT,
    }
    return {k: (full[k] if k in PRESETS[preset] else 0) for k in KIND_ORDER}


@dataclass(frozen=True)
class StreamKind:
    """What one recorded port carries: vector length, items per block, its AP and layout."""

    kind: str
    vlen: int
    per_block: int
    ap: str | None
    array_shape: tuple[int, int] | None
    layout: list[dict[str, Any]] | None


def stream_kind(cfg: SystemConfig, kind: str) -> StreamKind:
    """The port description of a stream kind for a configuration."""
    from . import layout as L

    if kind == "rap_echo":
        return StreamKind(kind, cfg.MR, cfg.tau, "rap", cfg.MR_shape, None)
    if kind == "tap_pilots":
        return StreamKind(kind, cfg.MT, cfg.tau_p, "tap", cfg.MT_shape, None)
    if kind == "tap_downlink":
        return StreamKind(kind, cfg.MT, cfg.tau, "tap", cfg.MT_shape, None)
    layouts = {
        "stats": (L.stats_layout, "tap"),
        "estimate": (L.estimate_layout, "tap"),
        "truth": (L.truth_layout, None),
        "geometry": (L.geometry_layout, None),
    }
    if kind not in layouts:
        raise ValueError(f"stream kind must be one of {KIND_ORDER}, got {kind!r}")
    make, ap = layouts[kind]
    lay = make(cfg)
    return StreamKind(kind, lay.size, 1, ap, None, lay.describe())


def pmt_to_tag(value: pmt.pmt_t) -> tuple[Any, str, str]:
    """(readable JSON value, PMT type name, base64 of the serialized PMT) of a tag value."""
    encoded = base64.b64encode(pmt.serialize_str(value)).decode("ascii")
    try:
        readable = jsonable(pmt.to_python(value))
    except Exception:  # noqa: BLE001 (exotic PMTs: the encoded form is exact anyway)
        readable = pmt.write_string(value)
    for name in (
        "uint64",
        "symbol",
        "bool",
        "integer",
        "real",
        "complex",
        "dict",
        "tuple",
        "pair",
        "vector",
        "uniform_vector",
        "null",
    ):
        if getattr(pmt, f"is_{name}")(value):
            return readable, name, encoded
    return readable, "pmt", encoded


def tag_to_pmt(tag: dict[str, Any]) -> pmt.pmt_t:
    """The PMT of a recorded tag: its exact ``encoded`` form (checked before deserializing,
    see gr_cfisac.service.check_frame), else rebuilt from its JSON value."""
    encoded = tag.get("encoded")
    if isinstance(encoded, str):
        from ..service import MalformedMessage, check_frame

        try:
            frame = base64.b64decode(encoded, validate=True)
            check_frame(frame)
            return pmt.deserialize_str(frame)
        except (ValueError, MalformedMessage, RuntimeError):
            pass  # fall back to the readable value
    value = tag.get("value")
    if tag.get("type") == "symbol" and isinstance(value, str):
        return pmt.intern(value)
    if tag.get("type") == "uint64" and isinstance(value, int):
        return pmt.from_uint64(value)
    try:
        return pmt.to_pmt(value)
    except Exception:  # noqa: BLE001
        return pmt.intern(str(value))


def ap_geometry(cfg: SystemConfig) -> dict[str, Any]:
    """``cfisac:geometry`` of the deterministic AP layout (geometry.tap_poses, rap_poses)."""
    taps, tap_frames = tap_poses(cfg)
    raps, rap_frames = rap_poses(cfg)
    return {
        "tap_pos_m": jsonable(taps),
        "rap_pos_m": jsonable(raps),
        "tap_frame": jsonable(tap_frames),
        "rap_frame": jsonable(rap_frames),
    }


def _existing_capture(path: Path) -> Path | None:
    """The capture's collection, one of its recordings or an unfinished one's journal (left by
    a killed recorder: salvageable), if any exists already."""
    collection = path.with_name(path.name + ".sigmf-collection")
    if collection.exists():
        return collection
    for ext in (".sigmf-meta", ".sigmf-journal"):
        found = sorted(path.parent.glob(glob_escape(path.name) + "-*" + ext))
        if found:
            return found[0]
    return None


class sigmf_sink(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Record AP ports and per-block data of a CF-ISAC flowgraph as a SigMF capture."""

    def __init__(
        self,
        config: SystemConfig,
        path: str,
        rap_echo: int = 0,
        tap_pilots: int = 0,
        tap_downlink: int = 0,
        stats: int = 0,
        estimate: int = 0,
        truth: bool = False,
        geometry: bool = False,
        description: str = "",
        overwrite: bool = False,
        preset: str = "",
        max_blocks: int = 64,
        num_blocks: int = 0,
        scenario: str = "cellfree",
    ) -> None:
        cfg = check_config(config)
        self.scenario = str(scenario)
        counts = {
            "rap_echo": int(rap_echo),
            "tap_pilots": int(tap_pilots),
            "tap_downlink": int(tap_downlink),
            "stats": int(stats),
            "estimate": int(estimate),
            "truth": int(bool(truth)),
            "geometry": int(bool(geometry)),
        }
        if preset:
            counts = preset_counts(cfg, preset)
        limits = {
            "rap_echo": cfg.NR,
            "tap_pilots": cfg.NT,
            "tap_downlink": cfg.NT,
            "stats": cfg.NT,
            "estimate": cfg.NT,
            "truth": 1,
            "geometry": 1,
        }
        for kind, n in counts.items():
            if not 0 <= n <= limits[kind]:
                raise ValueError(f"sigmf_sink: {kind} must be in 0..{limits[kind]}, got {n}")
        if sum(counts.values()) == 0:
            raise ValueError("sigmf_sink: record at least one port (e.g. rap_echo=NR)")
        # an empty path records nothing (GRC: leave the capture empty to switch recording off)
        self.path = Path(path) if str(path or "") else None
        self.description = description
        self.overwrite = bool(overwrite)
        if self.path is not None and not self.overwrite:
            existing = _existing_capture(self.path)
            if existing:
                salvage = (
                    f" (an unfinished capture: `cfisac salvage {self.path}` rebuilds it)"
                    if existing.name.endswith(".sigmf-journal")
                    else ""
                )
                raise ValueError(
                    f"sigmf_sink: {existing} exists{salvage}; choose another capture path or "
                    "set overwrite (GRC: Overwrite = Yes)"
                )
        self.streams: list[tuple[str, int, StreamKind]] = []  # (kind, index, description)
        for kind in KIND_ORDER:
            spec = stream_kind(cfg, kind)
            self.streams += [(kind, j, spec) for j in range(counts[kind])]
        inputs = [Port(f"{k}{j}", np.complex64, s.vlen, s.per_block) for k, j, s in self.streams]
        super().__init__(
            "cfisac_sigmf_sink", cfg, inputs, [], max_blocks=max_blocks, num_blocks=num_blocks
        )
        self._truth_port = next(
            (p for p, (k, _, _) in enumerate(self.streams) if k == "truth"), None
        )
        self._truth = truth_layout(cfg)
        self.capture: CaptureWriter | None = None
        self.writers: list = []
        self.recording_error: str | None = None
        self.collection_path: Path | None = None
        #: Why the capture was marked interrupted (None: it reached its planned end).
        self.interrupted: str | None = None
        # work() vs finishing from a signal handler or atexit (reentrant: a handler may run in
        # the thread that is finishing; _finishing makes that nested call a no-op)
        self._lock = threading.RLock()
        self._finishing = False
        if self.path is not None:
            recording_guard.register(self)  # before start(): a signal may come any time

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        super().start()
        if self.path is None:
            self.logger.info("cfisac_sigmf_sink: no capture path: not recording")
        elif self.capture is None and self.collection_path is None:
            with self._lock:
                try:
                    self.open()
                except (SigMFError, OSError, ValueError) as exc:
                    # an exception here would kill the block's thread and hang the flowgraph
                    self._fail(f"cannot create the capture: {exc}")
        return True

    def open(self) -> None:
        """Create the capture's files (start() does it; call early to inspect the writers)."""
        cfg = self.cfg
        self.capture = CaptureWriter(
            self.path.parent,
            self.path.name,
            cfg,
            geometry=ap_geometry(cfg),
            description=self.description,
            overwrite=self.overwrite,
            scenario=self.scenario,
        )
        for kind, j, spec in self.streams:
            stream = {"kind": kind, "index": j, "items_per_block": spec.per_block}
            if spec.ap:
                stream["ap"] = spec.ap
            if spec.layout:
                stream["layout"] = spec.layout
            self.writers.append(
                self.capture.stream(
                    f"{kind}{j}", spec.vlen, stream=stream, array_shape=spec.array_shape
                )
            )

    def stop(self) -> bool:
        """Finish the capture (GNU Radio calls this when the flowgraph stops), marked
        interrupted if it stopped before its planned end, or, if this block stopped on an
        error (misaligned or mismatched inputs), mark it incomplete."""
        if self.error is not None and self.capture is not None:
            with self._lock:
                self._fail(f"the sink stopped on an error: {self.error}")
        self.finish(self._interruption())
        return True

    def _interruption(self) -> str | None:
        """Why the capture stops before its planned end, or None (inputs ended, N blocks)."""
        if recording_guard.stop_reason():
            return recording_guard.stop_reason()
        if not self.detail().done():  # stop() came while the inputs were still running
            return "the flowgraph was stopped before the sink's inputs ended (tb.stop())"
        if self.num_blocks and self.blocks_done < self.num_blocks:
            return f"inputs ended after {self.blocks_done} of the {self.num_blocks} planned blocks"
        return None

    def finish(self, interrupted: str | None = None) -> Path | None:
        """Finish the capture now (marked ``cfisac:interrupted`` with this reason if given);
        returns the collection path (None if it failed). Safe from any thread."""
        with self._lock:
            if self._finishing:
                return self.collection_path
            self._finishing = True
            try:
                if self.capture is not None and self.recording_error is None:
                    try:
                        self.collection_path = self.capture.close(interrupted)
                        self.interrupted = interrupted
                    except (SigMFError, OSError) as exc:  # e.g. the collection cannot be written
                        self._fail(str(exc))
                self.capture = None
            finally:
                self._finishing = False
        recording_guard.unregister(self)
        return self.collection_path

    def close(self) -> Path | None:
        """Finish the capture now; returns the collection path (None if it failed)."""
        return self.finish(None)

    def _fail(self, why: str) -> None:
        self.recording_error = why
        self.logger.error(f"cfisac_sigmf_sink: recording stopped: {why}")
        if self.capture is not None:
            self.capture.abort(why)
            self.capture = None

    # ------------------------------------------------------------------ work
    def process(self, cb, ins, outs) -> None:
        with self._lock:
            self._record(cb, ins)

    def _record(self, cb, ins) -> None:
        if self.capture is None:
            return  # failed or finished (logged): the flowgraph carries on without recording
        try:
            truth = self._block_truth(ins) if self._truth_port is not None else None
            for p, (kind, j, spec) in enumerate(self.streams):
                w = self.writers[p]
                first = w.items_written
                self._record_tags(p, w, first, len(cb) * spec.per_block)
                w.write(ins[p].reshape(-1, spec.vlen))
                for b, value in enumerate(cb.tolist()):
                    facts = None
                    if truth is not None:
                        facts = dict(truth[b])
                        if kind == "rap_echo":
                            facts["target_psi_deg"] = facts["target_psi_deg"][j]
                            facts["target_theta_deg"] = facts["target_theta_deg"][j]
                        else:
                            facts.pop("target_psi_deg")
                            facts.pop("target_theta_deg")
                    w.mark_block(first + b * spec.per_block, value, facts)
            self.capture.checkpoint()  # these blocks now survive a killed process
        except (SigMFError, OSError) as exc:
            self._fail(str(exc))

    def _block_truth(self, ins: list[np.ndarray]) -> list[dict[str, Any]]:
        """Small per-block ground truth for the annotations, from the truth items."""
        items = ins[self._truth_port][:, 0, :]
        lay = self._truth
        target = lay.field(items, "target_pos")
        clutter = lay.field(items, "clutter_pos")
        users = lay.field(items, "user_pos")
        psi = np.degrees(lay.field(items, "psi_t"))
        theta = np.degrees(lay.field(items, "theta_t"))
        return [
            {
                "target_pos_m": jsonable(target[b]),
                "clutter_pos_m": jsonable(clutter[b]),
                "user_pos_m": jsonable(users[b]),
                "target_psi_deg": jsonable(psi[b]),
                "target_theta_deg": jsonable(theta[b]),
            }
            for b in range(len(items))
        ]

    def _record_tags(self, port: int, writer, first: int, n_items: int) -> None:
        """Every tag but cb and cfisac_config in this call's window, at its recording offset."""
        start = self.nitems_read(port)
        for tag in self.get_tags_in_window(port, 0, n_items):
            if pmt.eq(tag.key, CB_KEY) or pmt.eq(tag.key, CONFIG_KEY):
                continue
            key = (
                pmt.symbol_to_string(tag.key)
                if pmt.is_symbol(tag.key)
                else pmt.write_string(tag.key)
            )
            readable, kind, encoded = pmt_to_tag(tag.value)
            writer.tag(first + int(tag.offset - start), key, readable, kind, encoded)
