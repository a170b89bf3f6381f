"""Item layouts, the PMT message format and per-block reproducible randomness (no flowgraph)."""

import numpy as np
import pmt
import pytest

from gr_cfisac.blocks import item_size
from gr_cfisac.blocks._chunks import CHUNK, ChunkedDraws
from gr_cfisac.blocks.layout import (
    geometry_layout,
    pack_geometry,
    stats_layout,
    truth_layout,
    unpack_geometry,
)
from gr_cfisac.blocks.messages import decode, encode
from gr_cfisac.layout import Field, Layout, angles_layout
from gr_cfisac.scenario import draw_realizations
from gr_cfisac.sigmf_io import SigMFError, read_recording, write_recording


def test_truth_layout_round_trip_keeps_complex64_precision(cfg, rng):
    layout = truth_layout(cfg)
    n = 3
    F = rng.standard_normal((n, cfg.N, cfg.K)) * 1e-4 + 1j * rng.standard_normal((n, cfg.N, cfg.K))
    fields = {
        f.name: (
            rng.standard_normal((n,) + f.shape)
            if f.real
            else F
            if f.name == "F"
            else rng.standard_normal((n,) + f.shape) + 1j * rng.standard_normal((n,) + f.shape)
        )
        for f in layout.fields
    }
    items = layout.pack(**fields)
    assert items.shape == (n, layout.size) and items.dtype == np.complex64
    back = layout.unpack(items)
    for f in layout.fields:
        assert back[f.name].shape == (n,) + f.shape
        np.testing.assert_allclose(back[f.name], fields[f.name], rtol=2e-7, atol=1e-12)
        assert np.isrealobj(back[f.name]) == f.real


def test_layout_sizes_follow_the_config(cfg):
    assert item_size(cfg, "stats") == cfg.K * cfg.MT + cfg.K * cfg.MT**2
    assert item_size(cfg, "estimate") == cfg.K * cfg.MT
    assert item_size(cfg, "beam") == cfg.MT * (cfg.K + 1)
    assert item_size(cfg, "precoder") == cfg.N * (cfg.K + 1)
    assert item_size(cfg, "angles") == 3 * (cfg.NC + 1) + 2  # + model order, validity
    assert item_size(cfg, "fix") == 3 + 2 * cfg.NR + 1
    small = cfg.replace(K=2, tau_p=2)
    assert item_size(small, "truth") < item_size(cfg, "truth")
    with pytest.raises(ValueError, match="kind must be one of"):
        item_size(cfg, "nonsense")


def test_layout_rejects_wrong_shapes_and_missing_fields(cfg):
    layout = stats_layout(cfg)
    with pytest.raises(ValueError, match="missing fields"):
        layout.pack(mean=np.zeros((1, cfg.K, cfg.MT)))
    with pytest.raises(ValueError, match=r"stats.cov must be"):
        layout.pack(mean=np.zeros((1, cfg.K, cfg.MT)), cov=np.zeros((1, cfg.K, cfg.MT)))


def test_geometry_round_trip_gives_the_same_sensing_geometry(cfg):
    r = draw_realizations(cfg, 2, 5)
    sg = unpack_geometry(cfg, pack_geometry(cfg, r.sensing))
    for name in ("amp_t", "amp_c", "aT_t", "aR_c", "psi_t", "theta_c"):
        np.testing.assert_allclose(getattr(sg, name), getattr(r.sensing, name), rtol=1e-6)
    assert geometry_layout(cfg).size == item_size(cfg, "geometry")


def _items(layout, n, rng):
    shape = (n, layout.size)
    if layout.dtype.kind == "f":
        return rng.standard_normal(shape).astype(layout.dtype)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(layout.dtype)


def test_described_layout_decodes_bit_identically(cfg, rng):
    for layout in (truth_layout(cfg), stats_layout(cfg), angles_layout(3)):
        again = Layout.from_description(layout.name, layout.describe(), layout.dtype)
        items = _items(layout, 4, rng)
        got, want = again.unpack(items), layout.unpack(items)
        for f in layout.fields:
            assert got[f.name].dtype == want[f.name].dtype
            np.testing.assert_array_equal(got[f.name], want[f.name])
    empty = truth_layout(cfg).unpack(np.zeros((0, truth_layout(cfg).size)))
    assert empty["F"].shape == (0, cfg.N, cfg.K)
    with pytest.raises(ValueError, match="'x' appears twice"):
        Layout("bad", [Field("x", (2,)), Field("x", (3,))])
    with pytest.raises(ValueError, match="no field 'nope'"):
        truth_layout(cfg).field(np.zeros((1, truth_layout(cfg).size)), "nope")


def test_sigmf_reader_unpacks_with_the_same_codec(cfg, rng, tmp_path):
    layout = truth_layout(cfg)
    items = _items(layout, 3, rng)
    stream = {"kind": "truth", "items_per_block": 1, "layout": layout.describe()}
    meta = write_recording(tmp_path / "truth", items, stream=stream)
    rec = read_recording(meta)
    got, want = rec.unpack(rec.samples()), layout.unpack(items)
    for f in layout.fields:
        assert got[f.name].dtype == want[f.name].dtype
        np.testing.assert_array_equal(got[f.name], want[f.name])
    with pytest.raises(SigMFError, match=f"covers {layout.size} values, items have 5"):
        rec.unpack(np.zeros((2, 5), np.complex64))
    stream["layout"] = [{"name": "a", "shape": [1]}, {"name": "a", "shape": [2]}]
    bad = read_recording(write_recording(tmp_path / "dup", items[:, :3], stream=stream))
    with pytest.raises(SigMFError, match="stream.layout is unusable.*'a' appears twice"):
        bad.unpack(bad.samples())


def test_messages_survive_serialization_with_shapes():
    W = (np.arange(12).reshape(3, 4) * (1 - 2j)).astype(np.complex64)
    msg = encode(7, W=W, sinr_db=np.array([1.5, 2.5]), algorithm="zf", count=3, error=0.25)
    back = decode(pmt.deserialize_str(pmt.serialize_str(msg)))
    assert back["cb"] == 7 and back["algorithm"] == "zf" and back["count"] == 3
    np.testing.assert_array_equal(back["W"], W)
    np.testing.assert_array_equal(back["sinr_db"], [1.5, 2.5])
    assert back["error"] == 0.25
    with pytest.raises(ValueError, match="PMT dict"):
        decode(pmt.from_long(3))


def test_chunked_draws_do_not_depend_on_how_blocks_are_requested():
    def draw(rng, first, n):
        return {"x": rng.standard_normal((n, 3)), "cb": first + np.arange(n)}

    whole = ChunkedDraws(9, 1, draw).get(np.arange(3 * CHUNK + 5))
    pieces = ChunkedDraws(9, 1, draw)
    parts = [
        pieces.get(np.arange(a, min(a + 7, 3 * CHUNK + 5))) for a in range(0, 3 * CHUNK + 5, 7)
    ]
    np.testing.assert_array_equal(np.concatenate([p["x"] for p in parts]), whole["x"])
    np.testing.assert_array_equal(whole["cb"], np.arange(3 * CHUNK + 5))
    other = ChunkedDraws(9, 2, draw).get(np.arange(4))
    assert not np.allclose(other["x"], whole["x"][:4])  # another stream, other numbers
