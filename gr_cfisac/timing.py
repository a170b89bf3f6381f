"""Coherence blocks on the radio's clock: the block grid a radio testbed shares, the TAP side's
first-burst time and the RAP side's alignment of received samples to the grid (issue 18).

Every host of a testbed uses the same grid (docs/testbed.md): coherence block ``k`` occupies
samples ``[k * per, (k + 1) * per)`` counted from radio time ``start`` at sample rate ``fs``, so
it starts at radio time

    t_k = start + k * per / fs                                   (per = tau items per block)

and a sample received at radio time t belongs to block ``floor((t - start) * fs / per)``. The TAP
side stamps its first item with ``tx_time = t_k`` of that item's block (UHD's ``tx_time`` tag);
the RAP side reads the receiver's ``rx_time`` tags (UHD: on the first item and after every
overflow), keeps only whole blocks of the grid and numbers them by time, so the ``cb`` index of a
received block is the index the TAP side sent in it, whenever either side started.

Radio time is UHD's pair (whole seconds, fractional seconds) — :class:`RadioTime` — because a
float of seconds since 1970 resolves only ~0.2 us. numpy only (numerical-core rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, order=True)
class RadioTime:
    """A radio time as UHD's time_spec: ``secs`` whole seconds + ``frac`` in [0, 1)."""

    secs: int
    frac: float

    @classmethod
    def of(cls, seconds: float | RadioTime | tuple[int, float]) -> RadioTime:
        """From seconds (a float), a (secs, frac) pair or a RadioTime, normalized."""
        if isinstance(seconds, RadioTime):
            return seconds
        if isinstance(seconds, tuple):
            secs, frac = seconds
        else:
            secs, frac = 0, float(seconds)
        if not math.isfinite(frac):
            raise ValueError(f"RadioTime: time must be finite, got {seconds!r}")
        whole = math.floor(frac)
        return cls(int(secs) + whole, float(frac - whole))

    def seconds(self) -> float:
        """As a float of seconds (loses precision past ~1e7 s: display only)."""
        return self.secs + self.frac

    def plus_samples(self, n: int, rate_hz: float) -> RadioTime:
        """This time plus ``n`` samples at ``rate_hz``."""
        whole, rest = divmod(int(n), int(rate_hz)) if float(rate_hz).is_integer() else (0, n)
        step = rest / rate_hz
        return RadioTime.of((self.secs + int(whole), self.frac + step))


def check_rate(rate_hz: float) -> float:
    """A sample rate in Hz, checked (> 0, finite)."""
    rate = float(rate_hz)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"samp_rate must be a positive number of samples/s, got {rate_hz!r}")
    return rate


def samples_since(start: RadioTime, t: RadioTime, rate_hz: float) -> int:
    """Samples from ``start`` to ``t`` at ``rate_hz``, rounded to the nearest sample (exact for
    whole-second differences at an integer rate; the fractions add < 1e-6 sample)."""
    return int(round((t.secs - start.secs) * rate_hz + (t.frac - start.frac) * rate_hz))


def block_start_time(cb: int, start: RadioTime, per: int, rate_hz: float) -> RadioTime:
    """t_k of the grid: radio time of the first sample of coherence block ``cb``."""
    return start.plus_samples(int(cb) * int(per), rate_hz)


@dataclass(frozen=True)
class Loss:
    """A break in the received stream (an overflow: the radio's clock jumped past samples the
    host never got, or any ``rx_time`` that disagrees with the sample count), reported with the
    first whole block after it: blocks ``first_lost .. first_lost + blocks_lost - 1`` of the
    grid were not delivered; ``samples_lost`` is the jump (negative: the clock went back)."""

    first_lost: int
    blocks_lost: int
    samples_lost: int
    resumed_at: RadioTime
    next_cb: int


@dataclass
class Aligned:
    """What one :meth:`BlockAligner.push` completed: ``cb`` (B,) block indices (increasing),
    ``blocks`` (B, per, *item) samples (may be views of the chunk pushed: copy them before
    pushing the next), and the breaks reported with them."""

    cb: np.ndarray
    blocks: np.ndarray
    losses: list[Loss] = field(default_factory=list)
    #: item index (in the chunk) of each block's first sample, for passing tags
    first_item: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class BlockAligner:
    """Cuts a received stream into the grid's whole coherence blocks, numbered by time.

    ``push(samples, tags)`` takes the next chunk of the stream (items along axis 0, any item
    shape, e.g. (n, NR, MR)) and the ``rx_time`` tags in it as ``(item index in the chunk,
    RadioTime)``; it returns the blocks completed. Items before the first tag (time unknown)
    and before ``start`` are dropped, then the first partial block; a tag whose time disagrees
    with the samples counted since the previous one (an overflow) drops the block in progress,
    realigns on the grid at the tag and reports the blocks lost (:class:`Loss`) with the next
    block. Block indices only increase: after the clock went back, blocks up to the last one
    delivered are dropped. The rate is the grid's: a receiver at another rate is refused by the
    caller (its ``rx_rate`` tag).
    """

    def __init__(
        self, rate_hz: float, per: int, start: float | RadioTime | tuple[int, float] = 0.0
    ) -> None:
        self.rate = check_rate(rate_hz)
        if int(per) < 1:
            raise ValueError(f"BlockAligner: items per block must be >= 1, got {per}")
        self.per = int(per)
        self.start = RadioTime.of(start)
        #: grid sample index (samples since start) of the next item pushed; None: unknown
        self.position: int | None = None
        self.last_cb: int | None = None  # last block delivered
        self._partial: list[np.ndarray] = []  # samples of the block in progress
        self._partial_cb: int | None = None
        self._fill = 0
        self._break: list[tuple[int, RadioTime]] = []  # jumps not yet reported
        self._broken_first: int | None = None  # first block a break may have cost
        # counters (what the GNU Radio block reports)
        self.items_in = 0
        self.dropped_untimed = 0  # before the first rx_time tag
        self.dropped_early = 0  # before start or the first block boundary after a (re)alignment
        self.blocks_out = 0
        self.blocks_lost = 0
        self.breaks = 0
        self.samples_lost = 0

    @property
    def fill(self) -> int:
        """Items of the block in progress (0 .. per - 1)."""
        return self._fill

    def push(self, samples: np.ndarray, tags: list[tuple[int, RadioTime]] = ()) -> Aligned:
        """The whole blocks completed by the next chunk of the stream (see the class)."""
        samples = np.asarray(samples)
        n = samples.shape[0]
        self.items_in += n
        cuts = sorted((int(i), RadioTime.of(t)) for i, t in tags)
        if any(not 0 <= i < max(n, 1) for i, _ in cuts):
            raise ValueError(f"BlockAligner.push: tag offsets must be in [0, {n}), got {cuts}")
        out_cb: list[np.ndarray] = []
        out_blocks: list[np.ndarray] = []
        out_first: list[np.ndarray] = []
        losses: list[Loss] = []
        bounds = [i for i, _ in cuts] + [n]
        if not cuts or cuts[0][0] > 0:
            bounds = [0, *bounds]
            times: list[RadioTime | None] = [None] + [t for _, t in cuts]
        else:
            times = [t for _, t in cuts]
        for (a, b), t in zip(zip(bounds[:-1], bounds[1:]), times):
            if t is not None:
                self._retime(t)
            self._segment(samples, a, b, out_cb, out_blocks, out_first, losses)
        if out_cb:
            cb = np.concatenate(out_cb)
            blocks = np.concatenate(out_blocks)
            first = np.concatenate(out_first)
        else:
            cb = np.zeros(0, dtype=np.int64)
            blocks = np.zeros((0, self.per, *samples.shape[1:]), dtype=samples.dtype)
            first = np.zeros(0, dtype=np.int64)
        return Aligned(cb, blocks, losses, first)

    # ------------------------------------------------------------------ internals
    def _retime(self, t: RadioTime) -> None:
        """An rx_time tag: the grid position of the item it marks."""
        at = samples_since(self.start, t, self.rate)
        if self.position is None:
            self.position = at
            return
        jump = at - self.position
        if jump == 0:
            return
        # a break: the block in progress cannot complete
        self.breaks += 1
        self.samples_lost += jump
        self._break.append((jump, t))
        if self._broken_first is None:
            self._broken_first = self._partial_cb
        self._drop_partial()
        self.position = at

    def _drop_partial(self) -> None:
        self._partial, self._partial_cb, self._fill = [], None, 0

    def _segment(self, samples, a, b, out_cb, out_blocks, out_first, losses) -> None:
        """Items [a, b) of the chunk, contiguous in time from self.position."""
        if self.position is None:
            self.dropped_untimed += b - a
            return
        i, pos, per = a, self.position, self.per
        self.position = pos + (b - a)
        if pos < 0:  # before start
            skip = min(b - i, -pos)
            self.dropped_early += skip
            i, pos = i + skip, pos + skip
        if i < b and self._partial_cb is not None:  # continue the block in progress
            take = min(per - self._fill, b - i)
            self._partial.append(np.array(samples[i : i + take]))
            self._fill += take
            i, pos = i + take, pos + take
            if self._fill == per:
                start_item = i - per  # may be negative: began in an earlier chunk
                self._emit(
                    self._partial_cb,
                    np.concatenate(self._partial)[None],
                    np.array([start_item]),
                    out_cb,
                    out_blocks,
                    out_first,
                    losses,
                )
                self._drop_partial()
        if i < b and pos % per:  # skip to the next block boundary
            skip = min(b - i, (-pos) % per)
            self.dropped_early += skip
            i, pos = i + skip, pos + skip
        if i >= b:
            return
        k = (b - i) // per
        if k:
            cbs = pos // per + np.arange(k, dtype=np.int64)
            whole = samples[i : i + k * per].reshape(k, per, *samples.shape[1:])
            first = i + per * np.arange(k, dtype=np.int64)
            self._emit_many(cbs, whole, first, out_cb, out_blocks, out_first, losses)
            i, pos = i + k * per, pos + k * per
        if i < b:
            self._partial = [np.array(samples[i:b])]  # a copy: the chunk's buffer is reused
            self._partial_cb = pos // per
            self._fill = b - i

    def _emit(self, cb, block, first, out_cb, out_blocks, out_first, losses) -> None:
        self._emit_many(
            np.array([cb], dtype=np.int64), block, first, out_cb, out_blocks, out_first, losses
        )

    def _emit_many(self, cbs, blocks, first, out_cb, out_blocks, out_first, losses) -> None:
        if self.last_cb is not None:  # only increasing indices (the clock may have gone back)
            keep = cbs > self.last_cb
            if not keep.all():
                self.dropped_early += int((~keep).sum()) * self.per
                cbs, blocks, first = cbs[keep], blocks[keep], first[keep]
        if not len(cbs):
            return
        if self._break:
            nxt = int(cbs[0])
            if self.last_cb is not None:
                lost_from = self.last_cb + 1
            else:
                lost_from = nxt if self._broken_first is None else self._broken_first
            lost = max(0, nxt - lost_from)
            jump = sum(j for j, _ in self._break)
            losses.append(Loss(lost_from, lost, jump, self._break[-1][1], nxt))
            self.blocks_lost += lost
            self._break, self._broken_first = [], None
        out_cb.append(cbs)
        out_blocks.append(blocks)
        out_first.append(first)
        self.last_cb = int(cbs[-1])
        self.blocks_out += len(cbs)
