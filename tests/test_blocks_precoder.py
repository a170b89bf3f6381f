"""QA of the precoder on a real top block: the core's precoders on the estimates, split per TAP,
power of eq 23d, messages mirroring W, clear errors for unknown algorithms."""

import shutil

import numpy as np
import pytest

from gnuradio import blocks
from gr_cfisac import precoding
from gr_cfisac.blocks import precoder, resolve_precoder
from gr_cfisac.blocks.layout import estimate_layout, pack_geometry, unpack_geometry
from gr_cfisac.blocks.messages import decode
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.channels import split_tap_major
from gr_cfisac.metrics import sinr
from gr_cfisac.models import shipped_models_dir
from gr_cfisac.precoding import registry
from gr_cfisac.scenario import draw_realizations

B = 10


@pytest.fixture
def network(cfg):
    r = draw_realizations(cfg, B, 8)
    h = split_tap_major(r.F_hat, cfg.NT)  # (B, NT, K, MT)
    ports = [estimate_layout(cfg).pack(h_hat=h[:, i])[:, None] for i in range(cfg.NT)]
    geometry = pack_geometry(cfg, r.sensing)
    ports.append(geometry[:, None])
    F_hat = r.F_hat.astype(np.complex64).astype(complex)
    return ports, F_hat, unpack_geometry(cfg, geometry), r


def W_of(cfg, outs):
    return outs[cfg.NT].data[:, 0].reshape(-1, cfg.N, cfg.K + 1)


@pytest.mark.parametrize("algorithm", ["mrt", "zf", "rzf"])
def test_classical_isac_beamformer_equals_the_core(cfg, network, algorithm):
    ports, F_hat, sg, _ = network
    outs = run_block(precoder(cfg, algorithm, sensing_fraction=0.25, msg_interval=0), ports)
    P = cfg.power_budget
    users = getattr(precoding, algorithm)(F_hat, P)
    beam = precoding.nullspace_beam(precoding.target_beam(sg.aT_t, sg.amp_t), F_hat)
    want = precoding.isac_beamformer(users, beam, P, 0.25)
    W = W_of(cfg, outs)
    np.testing.assert_allclose(W, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(np.sum(np.abs(W) ** 2, axis=(1, 2)), P, rtol=1e-5)
    # the per-TAP ports carry the TAP's rows of W
    for i in range(cfg.NT):
        Wi = outs[i].data[:, 0].reshape(B, cfg.MT, cfg.K + 1)
        np.testing.assert_array_equal(Wi, W[:, i * cfg.MT : (i + 1) * cfg.MT])
    for o in outs:
        assert o.cb() == [(b, b) for b in range(B)]


def test_nullspace_sensing_beam_adds_no_interference_at_the_estimates(cfg, network):
    ports, F_hat, *_ = network
    W = W_of(cfg, run_block(precoder(cfg, "zf", sensing_fraction=0.5, msg_interval=0), ports))
    leak = np.abs(np.einsum("bnk,bn->bk", F_hat.conj(), W[..., 0].astype(complex)))
    signal = np.abs(np.einsum("bnk,bnk->bk", F_hat.conj(), W[..., 1:].astype(complex)))
    assert np.all(leak < 1e-4 * signal)


def test_precoder_uses_estimates_not_truth(cfg, network):
    ports, F_hat, _, r = network
    W = W_of(cfg, run_block(precoder(cfg, "zf", sensing_fraction=0.0, msg_interval=0), ports))
    # ZF on the estimates: no interference at the estimates, some at the true channels
    g_hat = np.abs(np.einsum("bnk,bnj->bkj", F_hat.conj(), W[..., 1:].astype(complex)))
    off = ~np.eye(cfg.K, dtype=bool)
    assert np.all(g_hat[:, off] < 1e-4 * g_hat[:, ~off].min())
    assert np.isfinite(sinr(r.F, W.astype(complex))).all()


def test_messages_mirror_W_with_cb_and_shape(cfg, network):
    ports = network[0]
    debug = blocks.message_debug()
    outs = run_block(
        precoder(cfg, "mrt", msg_interval=3),
        ports,
        extra=lambda tb, blk: tb.msg_connect((blk, "beamformer"), (debug, "store")),
    )
    msgs = [decode(debug.get_message(i)) for i in range(debug.num_messages())]
    assert [m["cb"] for m in msgs] == list(range(0, B, 3))
    for m in msgs:
        assert m["W"].shape == (cfg.N, cfg.K + 1) and m["algorithm"] == "mrt"
        np.testing.assert_array_equal(m["W"], W_of(cfg, outs)[m["cb"]])


def test_algorithm_errors_name_the_choices(cfg):
    with pytest.raises(
        ValueError, match="unknown precoder 'magic'.*mrt, onnx, optimize, remote, rzf"
    ):
        resolve_precoder("magic", cfg)
    with pytest.raises(ValueError, match="model /nonexistent.onnx does not exist"):
        resolve_precoder("/nonexistent.onnx", cfg)
    with pytest.raises(ValueError, match="sensing_fraction must be in"):
        resolve_precoder("zf", cfg, sensing_fraction=1.5)
    with pytest.raises(ValueError, match="sensing_beam must be one of"):
        precoder(cfg, "zf", sensing_beam="sideways")


def test_optimizer_regimes_get_their_rate_threshold(cfg, network):
    """P1/P2 need a rate floor: the block passes its threshold to the core's optimizer, and
    refuses at construction (not at its first work()) when it is missing."""
    from gr_cfisac.channels import sensing_gram_averaged
    from gr_cfisac.precoding.optimizer import optimize

    ports, F_hat, sg, _ = network
    two = [p[:2] for p in ports]
    W = W_of(cfg, run_block(precoder(cfg, "optimize", regime="sc", threshold=1.0), two))
    Q_t, Q_c = sensing_gram_averaged(unpack_geometry(cfg, ports[cfg.NT][:2, 0]))
    want = optimize(
        F_hat[:2], Q_t, Q_c, cfg, regime="sc", comm_threshold=1.0, quality="fast", rng=0
    )
    np.testing.assert_allclose(W, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    with pytest.raises(ValueError, match="regime 'sc' needs threshold"):
        precoder(cfg, "optimize", regime="sc")
    with pytest.raises(ValueError, match="regime 'cc' needs threshold.*RAP"):
        precoder(cfg, "optimize", regime="cc")
    with pytest.raises(ValueError, match="regime must be one of"):
        precoder(cfg, "optimize", regime="p4")
    with pytest.raises(ValueError, match="joint regime weighs"):
        precoder(cfg, "optimize", threshold=2.0)


def test_threshold_conditioned_model_gets_the_block_threshold(cfg, network, monkeypatch, tmp_path):
    import gr_cfisac.precoding.onnx as host

    seen = []

    class Conditioned:  # what load_precoder returns for a threshold-conditioned model
        threshold_input, threshold_range = True, (0.5, 5.0)

        def __call__(self, F_hat, sensing=None, threshold=None):
            seen.append(threshold)
            return precoding.isac_beamformer(
                precoding.zf(F_hat, cfg.power_budget), F_hat[..., 0], cfg.power_budget, 0.0
            )

    monkeypatch.setattr(
        host, "load_precoder", lambda path, cfg, threads=1, scenario="cellfree": Conditioned()
    )
    model = tmp_path / "sc_cond.onnx"
    model.write_bytes(b"")
    shutil.copy(shipped_models_dir() / "stcib_cc_cond.json", model.with_suffix(".json"))
    run_block(precoder(cfg, str(model), threshold=2.5, msg_interval=0), network[0])
    assert seen and set(seen) == {2.5}
    with pytest.raises(ValueError, match="threshold-conditioned: set threshold .*0.5..5"):
        precoder(cfg, str(model))
    with pytest.raises(ValueError, match="threshold-conditioned"):
        precoder(cfg, str(model), threshold=9.0)


def test_per_tap_power(cfg, network):
    ports = network[0]
    W = W_of(cfg, run_block(precoder(cfg, "rzf", per_tap=True, msg_interval=0), ports))
    per_tap = np.sum(np.abs(W.reshape(B, cfg.NT, cfg.MT, -1)) ** 2, axis=(2, 3))
    np.testing.assert_allclose(per_tap, cfg.rho, rtol=1e-4)


def free_address() -> str:
    """tcp address whose port and port + 1 (the service's reply port) are both free."""
    import socket

    rng = np.random.default_rng()
    for port in rng.integers(20000, 60000, size=50):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", int(port)))
                b.bind(("127.0.0.1", int(port) + 1))
            return f"tcp://127.0.0.1:{port}"
        except OSError:
            continue
    pytest.skip("no two consecutive free ports")


def test_remote_service_gives_the_same_beams_as_local(cfg, network):
    import threading

    from gr_cfisac.service import PrecoderService

    ports, F_hat, sg, _ = network
    address = free_address()
    stop = threading.Event()
    with PrecoderService("zf", cfg, address) as service:
        server = threading.Thread(target=service.serve, kwargs={"stop": stop}, daemon=True)
        server.start()
        try:
            block = precoder(
                cfg, "remote", remote_address=address, remote_timeout_ms=5000, msg_interval=0
            )
            W = W_of(cfg, run_block(block, ports))
        finally:
            stop.set()
            server.join(5)
    local = W_of(cfg, run_block(precoder(cfg, "zf", msg_interval=0), ports))
    np.testing.assert_allclose(W, local, rtol=1e-4, atol=1e-5 * np.abs(local).max())
    assert block.design.status == "ok"


def test_remote_down_falls_back_and_keeps_streaming(cfg, network):
    ports = network[0]
    block = precoder(
        cfg,
        "remote",
        remote_address=free_address(),
        remote_timeout_ms=50,
        fallback="mrt",
        msg_interval=0,
    )
    W = W_of(cfg, run_block(block, ports))
    local = W_of(cfg, run_block(precoder(cfg, "mrt", msg_interval=0), ports))
    np.testing.assert_allclose(W, local, rtol=1e-5)
    assert block.design.status != "ok"
    with pytest.raises(ValueError, match="needs remote_address"):
        resolve_precoder("remote", cfg)


def shipped_model():
    from pathlib import Path

    models = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.onnx"))
    return models[0] if models else None


@pytest.mark.skipif(shipped_model() is None, reason="no shipped .onnx model yet")
def test_onnx_model_runs_in_the_block_as_in_the_host(cfg, network):
    from gr_cfisac.precoding.onnx import load_precoder

    ports, F_hat, sg, _ = network
    path = str(shipped_model())
    W = W_of(cfg, run_block(precoder(cfg, path, msg_interval=0), ports))
    want = load_precoder(path, cfg)(F_hat, sensing=sg)
    np.testing.assert_allclose(W, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    assert np.sum(np.abs(W) ** 2, axis=(1, 2)).max() <= cfg.power_budget * (1 + 1e-4)


def _own_rows_mrt(spec, cfg):
    """Per-AP toy family: TAP l beams along its own estimates (B, MT, K); a test spy counts calls."""

    def design(ap, r):
        seen.append((ap, r.F_hat.shape))
        W = np.concatenate([np.zeros(r.F_hat.shape[:2] + (1,)), r.F_hat], axis=-1)
        return registry.PrecoderResult(W / np.sqrt(cfg.NT * cfg.K))

    return design


seen: list = []


def test_a_per_ap_family_runs_per_tap_on_its_own_estimates(cfg, network):
    ports, F_hat, *_ = network
    registry.register(
        registry.Family(
            "own_rows_test", None, "toy", placement="per_ap", build_per_ap=_own_rows_mrt
        )
    )
    seen.clear()
    try:
        outs = run_block(precoder(cfg, "own_rows_test", msg_interval=0), ports)
    finally:
        registry._FAMILIES.pop("own_rows_test", None)
    assert {ap for ap, _ in seen} == set(range(cfg.NT))
    assert all(shape[1:] == (cfg.MT, cfg.K) for _, shape in seen)  # never another TAP's rows
    for i in range(cfg.NT):
        Wi = outs[i].data[:, 0].reshape(B, cfg.MT, cfg.K + 1)
        want = F_hat[:, i * cfg.MT : (i + 1) * cfg.MT] / np.sqrt(cfg.NT * cfg.K)
        np.testing.assert_allclose(Wi[..., 1:], want, rtol=1e-5, atol=1e-6)


def test_a_family_with_a_sensing_covariance_is_refused_by_the_flowgraph(cfg):
    fam = registry.Family("covariance_test", lambda spec, c: None, "toy", sensing_form="covariance")
    registry.register(fam)
    try:
        with pytest.raises(ValueError, match="N x N.*covariance.*one sensing beam"):
            precoder(cfg, "covariance_test")
    finally:
        registry._FAMILIES.pop("covariance_test", None)
