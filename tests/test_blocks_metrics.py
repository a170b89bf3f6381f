"""QA of the metrics sink on a real top block: SINR/SCNR measured from samples agree with
eqs 20/22 on the same realizations, localization errors, CSV, messages, display outputs."""

import csv

import numpy as np
import pytest

from gnuradio import blocks
from gr_cfisac.blocks import metrics_sink
from gr_cfisac.blocks.layout import fix_layout, pack_geometry, precoder_layout, truth_layout
from gr_cfisac.blocks.messages import decode
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.echo import transmit_symbols
from gr_cfisac.metrics import measured_scnr, measured_sinr, scnr, sinr
from gr_cfisac.precoding import isac_beamformer, nullspace_beam, target_beam, zf
from gr_cfisac.scenario import draw_realizations

B = 30


def crandn(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def test_measured_sinr_is_unbiased_for_a_known_channel():
    rng = np.random.default_rng(0)
    tau, n = 192, 4000
    x = transmit_symbols(rng, n, 2, tau, "qpsk")  # (n, 3, tau)
    g = np.array([3.0, 1.0 + 1j, 0.5])  # desired user 1, then interferers
    y = g[1] * x[:, 1] + g[0] * x[:, 0] + g[2] * x[:, 2] + crandn(rng, (n, tau))
    true = abs(g[1]) ** 2 / (abs(g[0]) ** 2 + abs(g[2]) ** 2 + 1)
    est, gain = measured_sinr(y, x[:, 1])
    assert est.mean() == pytest.approx(true, rel=0.01)
    assert np.mean(gain) == pytest.approx(g[1], rel=0.01)


def test_measured_scnr_counts_clutter_and_noise():
    rng = np.random.default_rng(1)
    target = crandn(rng, (200, 4, 192)) * 2.0
    y = target + crandn(rng, (200, 4, 192)) * np.sqrt(3.0)
    assert measured_scnr(y, target).mean() == pytest.approx(4.0 / 3.0, rel=0.01)


@pytest.fixture(scope="module")
def run():
    from gr_cfisac.config import SystemConfig

    cfg = SystemConfig()
    r = draw_realizations(cfg, B, 31)
    beam = nullspace_beam(target_beam(r.sensing.aT_t, r.sensing.amp_t), r.F_hat)
    W = isac_beamformer(zf(r.F_hat, cfg.power_budget), beam, cfg.power_budget, 0.4)
    W = W.astype(np.complex64).astype(complex)
    rng = np.random.default_rng(2)
    x = transmit_symbols(rng, B, cfg.K, cfg.tau)  # (B, K+1, tau)
    y = np.swapaxes(r.F.conj(), 1, 2) @ W @ x + crandn(rng, (B, cfg.K, cfg.tau))
    G = r.G_t + r.G_c.sum(2)
    y_rap = (G.reshape(B, -1, cfg.N) @ W @ x).reshape(B, cfg.NR, cfg.MR, cfg.tau)
    y_rap += crandn(rng, y_rap.shape)
    truth = truth_layout(cfg)
    fields = {f.name: np.zeros((B,) + f.shape) for f in truth.fields}
    fields.update(
        F=r.F,
        G_t=r.G_t,
        G_c=r.G_c,
        target_pos=r.geom.target_pos,
        psi_t=r.sensing.psi_t,
        theta_t=r.sensing.theta_t,
    )
    fields["varpi_t"] = np.ones(fields["varpi_t"].shape, complex)
    fields["varpi_c"] = np.ones(fields["varpi_c"].shape, complex)
    truth_items = truth.pack(**fields)
    offset = np.array([1.0, -2.0, 0.0])
    fix = fix_layout(cfg).pack(
        pos=r.geom.target_pos + offset,
        psi=r.sensing.psi_t + 0.01,
        theta=r.sensing.theta_t,
        error_radius=np.ones((B, 1)),
    )
    ports = [y[:, k, :, None] for k in range(cfg.K)] + [
        np.swapaxes(x, 1, 2),
        truth_items[:, None],
        precoder_layout(cfg).pack(W=W)[:, None],
        pack_geometry(cfg, r.sensing)[:, None],
    ]
    ports += [np.swapaxes(y_rap[:, j], 1, 2) for j in range(cfg.NR)] + [fix[:, None]]
    return cfg, r, W, ports, offset


def test_metrics_agree_with_the_formulas_on_the_same_realizations(run, tmp_path):
    cfg, r, W, ports, offset = run
    debug = blocks.message_debug()
    sink = metrics_sink(cfg, csv_path=str(tmp_path / "m.csv"), print_interval=0, msg_interval=10)
    outs = run_block(
        sink,
        ports,
        n_outputs=2,
        extra=lambda tb, b: tb.msg_connect((b, "metrics"), (debug, "store")),
    )
    res = sink.results()
    np.testing.assert_array_equal(res["cb"], np.arange(B))
    F64 = truth_layout(cfg).field(ports[cfg.K + 1][:, 0], "F")
    np.testing.assert_allclose(res["sinr_formula"], sinr(F64, W), rtol=1e-6)
    # measured from samples: each block within ~sqrt(2/tau) of eq 20, the average much closer
    ratio = res["sinr"] / res["sinr_formula"]
    assert np.all(np.abs(ratio - 1) < 0.6)
    assert abs(ratio.mean() - 1) < 4 * np.sqrt(2 / cfg.tau / ratio.size)
    s_ratio = res["scnr"] / scnr(r.G_t, r.G_c, W)
    assert abs(s_ratio.mean() - 1) < 0.05
    np.testing.assert_allclose(res["position_error"], np.linalg.norm(offset), rtol=1e-5)
    np.testing.assert_allclose(res["angle_error"], 0.01, rtol=1e-3)
    # outputs: rates (users then RAPs) and the display user's equalized symbols
    np.testing.assert_allclose(outs[0].data[:, 0, : cfg.K], res["rate"], rtol=1e-5)
    np.testing.assert_allclose(outs[0].data[:, 0, cfg.K :], res["sensing_rate"], rtol=1e-5)
    x1 = ports[cfg.K][:, :, 1]
    eq = outs[1].data[..., 0]
    assert np.mean(np.abs(eq - x1) ** 2) < 0.2  # ~1/SINR
    # CSV: header and one row per block; messages every 10 blocks
    rows = list(csv.reader(open(tmp_path / "m.csv")))
    assert rows[0][:3] == ["cb", "sinr_1", "sinr_2"] and len(rows) == B + 1
    assert float(rows[5][1]) == pytest.approx(res["sinr"][4, 0], rel=1e-5)
    msgs = [decode(debug.get_message(i)) for i in range(debug.num_messages())]
    assert [m["cb"] for m in msgs] == [0, 10, 20]
    np.testing.assert_allclose(msgs[1]["sinr_db"], 10 * np.log10(res["sinr"][10]), rtol=1e-6)
    s = sink.summary()
    assert s["blocks"] == B and s["position_rmse_m"] == pytest.approx(np.linalg.norm(offset))
    assert "sum rate" in sink.summary_line()


def test_communication_only_sink(run):
    cfg, _, _, ports, _ = run
    sink = metrics_sink(cfg, with_sensing=False, print_interval=0, msg_interval=0)
    run_block(sink, ports[: cfg.K + 3], n_outputs=0)
    res = sink.results()
    assert set(res) == {"cb", "sinr", "sinr_formula", "rate", "rate_formula"} | {
        "active",
        "active_count",
        "sum_rate",
        "sum_rate_formula",
    }
    assert len(res["cb"]) == B and res["active"].all()  # no mask input: everyone active


def test_bad_parameters(cfg):
    with pytest.raises(ValueError, match="display_user must be in 1..K"):
        metrics_sink(cfg, display_user=0)
    with pytest.raises(ValueError, match="csv_path /nonexistent/m.csv: the folder /nonexistent"):
        metrics_sink(cfg, csv_path="/nonexistent/m.csv")


def test_history_is_a_bounded_window_and_the_summary_covers_it(run):
    """A ring buffer of ``history`` blocks: memory fixed however many blocks pass, results and
    summary equal an independent computation over the last ``history`` blocks."""
    cfg, _, _, ports, _ = run
    assert metrics_sink(cfg).history == 10_000  # bounded by default (was 100,000)
    full = metrics_sink(cfg, print_interval=0, msg_interval=0)
    run_block(full, ports, n_outputs=0)
    sizes = []
    for count in (12, B):  # both exceed the window; calls of 4 blocks wrap the ring unevenly
        ring = metrics_sink(cfg, print_interval=0, msg_interval=0, history=7, max_blocks=4)
        run_block(ring, [p[:count] for p in ports], n_outputs=0)
        sizes.append(ring.history_bytes)
    assert sizes[0] == sizes[1] > 0
    everything = full.results()
    window = ring.results()
    np.testing.assert_array_equal(window["cb"], np.arange(B - 7, B))
    for k, v in everything.items():
        np.testing.assert_array_equal(window[k], v[-7:])
    s = ring.summary()
    assert (s["blocks"], s["blocks_total"]) == (7, B)
    np.testing.assert_allclose(s["sinr_db"], 10 * np.log10(everything["sinr"][-7:].mean(0)))
    np.testing.assert_allclose(s["sensing_rate"], everything["sensing_rate"][-7:].mean(0))
    pe = everything["position_error"][-7:]
    assert s["position_rmse_m"] == pytest.approx(np.sqrt(np.mean(pe**2)))
    assert not np.allclose(s["rate"], full.summary()["rate"])  # a window, not the whole run
    assert "over the last 7 of 30 blocks" in ring.summary_line()
    with pytest.raises(ValueError, match="history must be >= 1"):
        metrics_sink(cfg, history=0)


def test_ring_memory_stays_flat_over_many_blocks():
    import tracemalloc

    from gr_cfisac.blocks.metrics_sink import Ring

    ring = Ring(100)
    rows = {"cb": np.arange(7), "sinr": np.ones((7, 4)), "angle_error": np.ones((7, 4))}
    tracemalloc.start()
    try:
        for _ in range(20):
            ring.append(rows)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):  # 35,000 blocks through a 100-block window
            ring.append(rows)
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert ring.count == 5020 * 7 and len(ring.window()["cb"]) == 100
    assert growth < 4096, growth
    ring.append({k: np.repeat(v, 30, axis=0) for k, v in rows.items()})  # larger than the ring
    assert len(ring.window()["cb"]) == 100
