"""The radio-time block grid (gr_cfisac.timing): received samples cut into the grid's whole
coherence blocks, numbered by time, realigned after an overflow with the blocks lost reported."""

import numpy as np
import pytest

from gr_cfisac.timing import BlockAligner, RadioTime, block_start_time, samples_since

RATE, PER = 1000.0, 10


def stream(first: int, n: int) -> np.ndarray:
    """n items whose value is their grid sample index (samples since start), from ``first``."""
    return (first + np.arange(n)).astype(np.complex64)


def at(index: int, start: float = 1.0) -> RadioTime:
    """Radio time of grid sample ``index``."""
    return RadioTime.of(start).plus_samples(index, RATE)


def check_blocks(cb: np.ndarray, blocks: np.ndarray) -> None:
    """Every block k holds grid samples k*PER .. k*PER + PER - 1."""
    want = cb[:, None] * PER + np.arange(PER)
    assert np.array_equal(blocks.real.astype(int), want)


def test_blocks_start_on_the_grid_and_are_numbered_by_time():
    a = BlockAligner(RATE, PER, start=1.0)
    x = stream(-7, 60)  # the radio started 7 samples before the start time
    r = a.push(x, [(0, at(-7))])
    assert r.cb.tolist() == [0, 1, 2, 3, 4]
    check_blocks(r.cb, r.blocks)
    assert a.dropped_early == 7 and a.fill == 3
    # a receiver started later, mid-block 12, numbers its first whole block 13
    b = BlockAligner(RATE, PER, start=1.0)
    r = b.push(stream(124, 30), [(0, at(124))])
    assert r.cb.tolist() == [13, 14]
    check_blocks(r.cb, r.blocks)
    assert r.losses == [] and b.blocks_lost == 0


def test_an_overflow_realigns_and_reports_the_blocks_lost():
    a = BlockAligner(RATE, PER, start=1.0)
    before, gap = stream(0, 57), 23  # samples 57 .. 79 never reach the host
    after = stream(57 + gap, 63)
    r1 = a.push(before, [(0, at(0))])
    r2 = a.push(after, [(0, at(57 + gap))])
    assert r1.cb.tolist() == [0, 1, 2, 3, 4] and r1.losses == []
    # block 5 (50..59) was in progress, 6 and 7 (70..79 minus the gap) cannot be whole
    assert r2.cb.tolist() == [8, 9, 10, 11, 12, 13]
    check_blocks(r2.cb, r2.blocks)
    (loss,) = r2.losses
    assert (loss.first_lost, loss.blocks_lost, loss.samples_lost) == (5, 3, 23)
    assert loss.next_cb == 8 and loss.resumed_at == at(80)
    assert (a.breaks, a.blocks_lost, a.samples_lost) == (1, 3, 23)


def test_a_gap_inside_a_chunk_and_one_on_a_boundary():
    a = BlockAligner(RATE, PER, start=0.0)
    x = np.concatenate([stream(0, 20), stream(40, 35)])  # blocks 2, 3 lost, nothing partial
    r = a.push(x, [(0, at(0, 0.0)), (20, at(40, 0.0))])
    assert r.cb.tolist() == [0, 1, 4, 5, 6]
    check_blocks(r.cb, r.blocks)
    assert [(x.first_lost, x.blocks_lost) for x in r.losses] == [(2, 2)]
    assert r.first_item.tolist() == [0, 10, 20, 30, 40]


def test_the_same_stream_in_any_chunks_gives_the_same_blocks():
    rng = np.random.default_rng(5)
    pieces = [stream(-13, 140), stream(150, 91), stream(241 + 35, 200)]
    tags_at = [-13, 150, 276]
    full = np.concatenate(pieces)
    tag_items = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    whole = BlockAligner(RATE, PER, start=2.5)
    ref = whole.push(full, [(int(i), at(t, 2.5)) for i, t in zip(tag_items, tags_at)])
    chunked = BlockAligner(RATE, PER, start=2.5)
    cbs, blocks, losses, pos = [], [], [], 0
    while pos < len(full):
        n = int(rng.integers(1, 40))
        tags = [
            (int(i - pos), at(t, 2.5)) for i, t in zip(tag_items, tags_at) if pos <= i < pos + n
        ]
        r = chunked.push(full[pos : pos + n], tags)
        cbs.append(r.cb)
        blocks.append(r.blocks.copy())
        losses += r.losses
        pos += n
    assert np.array_equal(np.concatenate(cbs), ref.cb)
    assert np.array_equal(np.concatenate(blocks), ref.blocks)
    assert losses == ref.losses and len(losses) == 2
    check_blocks(ref.cb, ref.blocks)


def test_a_clock_that_goes_back_never_repeats_a_block():
    a = BlockAligner(RATE, PER, start=0.0)
    a.push(stream(0, 50), [(0, at(0, 0.0))])  # blocks 0..4
    r = a.push(stream(20, 60), [(0, at(20, 0.0))])  # the clock went back 30 samples
    assert r.cb.tolist() == [5, 6, 7]
    check_blocks(r.cb, r.blocks)
    (loss,) = r.losses
    assert loss.samples_lost == -30 and loss.blocks_lost == 0


def test_items_before_the_first_time_tag_are_dropped():
    a = BlockAligner(RATE, PER, start=0.0)
    r = a.push(stream(0, 25))
    assert len(r.cb) == 0 and a.dropped_untimed == 25
    r = a.push(stream(33, 30), [(0, at(33, 0.0))])
    assert r.cb.tolist() == [4, 5]
    check_blocks(r.cb, r.blocks)


def test_vector_items_keep_their_shape():
    a = BlockAligner(RATE, PER, start=0.0)
    x = np.arange(40 * 6).reshape(40, 2, 3).astype(np.complex64)
    r = a.push(x, [(0, at(0, 0.0))])
    assert r.blocks.shape == (4, PER, 2, 3)
    assert np.array_equal(r.blocks.reshape(40, 2, 3), x)


def test_grid_times_are_exact_far_from_zero():
    start = RadioTime(1_700_000_000, 0.25)  # a GPS/PC-clock time of day
    rate = 30.72e6
    t = block_start_time(10**9, start, 192, rate)
    assert samples_since(start, t, rate) == 192 * 10**9
    assert samples_since(start, start.plus_samples(7, rate), rate) == 7


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="samp_rate"):
        BlockAligner(0.0, PER)
    with pytest.raises(ValueError, match="items per block"):
        BlockAligner(RATE, 0)
    with pytest.raises(ValueError, match="tag offsets"):
        BlockAligner(RATE, PER).push(stream(0, 5), [(9, RadioTime(0, 0.0))])
