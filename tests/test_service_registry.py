"""`cfisac serve` serves any registry precoder (issue 11): a family name or an .onnx path with
its parameters, answering W (B, N, K+1), sensing beam first, from requests that carry the
estimates and the sensing geometry; the remote family is its client. Real ZeroMQ sockets on
127.0.0.1, services in a background thread."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from service_helpers import local, request, scene, take

from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding import registry
from gr_cfisac.precoding.registry import (
    Family,
    PrecoderResult,
    Realization,
    make_precoder,
    spec_for,
)
from gr_cfisac.service import (
    PrecoderService,
    RemotePrecoder,
    decode_message,
    encode_message,
    geometry_fields,
    parse_params,
)

ROOT = Path(__file__).resolve().parents[1]


class Serving:
    """A service of ``algorithm`` on tcp://127.0.0.1:* answering in a background thread."""

    def __init__(self, algorithm, cfg: SystemConfig, **kwargs) -> None:
        self.service = PrecoderService(algorithm, cfg, "tcp://127.0.0.1:*", **kwargs)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.service.serve, kwargs={"stop": self.stop, "poll_ms": 20}
        )

    def __enter__(self) -> PrecoderService:
        self.thread.start()
        return self.service

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        self.service.close()


def close(W: np.ndarray, want: np.ndarray) -> None:
    """Equal up to the wire's complex64 (the service computes on what the wire carried)."""
    assert W.shape == want.shape
    np.testing.assert_allclose(W, want, rtol=0, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("params", [{}, {"regime": "sc", "threshold": 1.0}], ids=["joint", "sc"])
def test_optimize_is_served_and_equals_the_local_registry_precoder(cfg, params):
    F, sg = scene(cfg, 3, seed=4)
    with Serving("optimize", cfg, params=params) as svc:
        with RemotePrecoder(svc.address, cfg, timeout_ms=30_000) as remote:
            W = remote(F, cb=np.arange(3), geometry=sg)
            assert remote.ok, remote.status
            pong = remote.ping()
    want = local("optimize", cfg, F, sg, **params)
    close(W, want)  # bit-close: the same realization, the same optimizer
    assert W.shape == (3, cfg.N, cfg.K + 1) and np.abs(W[..., 0]).max() > 0
    assert pong["model"] == "optimize" and pong["needs"] == "estimates,sensing_geometry"
    assert f'"regime": "{params.get("regime", "joint")}"' in pong["spec"]


def test_zf_is_served_with_its_sensing_beam_and_parameters(cfg):
    F, sg = scene(cfg, 4, seed=2)
    params = {"sensing_fraction": 0.3, "sensing_beam": "target"}
    with Serving("zf", cfg, params=params) as svc:
        with RemotePrecoder(svc.address, cfg, timeout_ms=5000) as remote:
            W = remote(F, geometry=sg)
            one = remote(F[:1], geometry=take(sg, 0))
            assert remote.ok, remote.status
    want = local("zf", cfg, F, sg, **params)
    close(W, want)
    close(one, want[:1])
    # the parameters reached the family: 30 % of the power on a beam toward the target
    sensing = np.sum(np.abs(W[..., 0]) ** 2, axis=1)
    np.testing.assert_allclose(sensing, 0.3 * cfg.power_budget, rtol=1e-5)
    assert np.abs(W - local("zf", cfg, F, sg)).max() > 1e-3 * np.abs(W).max()  # not the default


def test_a_request_without_the_geometry_a_family_needs_is_refused_naming_it(cfg):
    F, sg = scene(cfg, 2)
    with PrecoderService("optimize", cfg, "tcp://127.0.0.1:*") as svc:
        bare = decode_message(svc.handle(encode_message(1, F_hat=F.astype(np.complex64))))
        assert bare["status"] == "error" and "W" not in bare
        assert "precoder optimize needs the sensing geometry" in bare["error"]
        assert "geometry.amp_t" in bare["error"] and "geometry.theta_c" in bare["error"]
        fields = geometry_fields(sg)
        del fields["geometry.aT_c"]
        part = decode_message(svc.handle(encode_message(1, F_hat=F, **fields)))
        assert "incomplete: missing geometry.aT_c" in part["error"]
        assert svc.stats["malformed"] == 2 and svc.stats["ok"] == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda g: g.update({"geometry.amp_t": g["geometry.amp_t"][:1]}),
            "geometry.amp_t has shape (1, 4, 8); this service's configuration needs (2, 4, 8)",
        ),
        (
            lambda g: g.update({"geometry.aT_t": g["geometry.aT_t"].real}),
            "geometry.aT_t must be a complex array (8, 4)",
        ),
        (
            lambda g: g.update({"geometry.amp_c": -g["geometry.amp_c"]}),
            "geometry.amp_c is negative (block 0, 1)",
        ),
        (
            lambda g: g["geometry.psi_c"].__setitem__((1, 0, 0), np.inf),
            "geometry.psi_c contains NaN or inf (block 1)",
        ),
        (
            lambda g: g.update({"geometry.rcs": np.ones(2)}),
            "unknown geometry field(s) ['geometry.rcs']",
        ),
    ],
    ids=["shape", "real_steering", "negative_amplitude", "inf_angle", "unknown"],
)
def test_the_geometry_is_checked_against_the_configuration(cfg, change, message):
    F, sg = scene(cfg, 2)
    fields = geometry_fields(sg)
    change(fields)
    with PrecoderService("zf", cfg, "tcp://127.0.0.1:*") as svc:
        reply = decode_message(
            svc.handle(encode_message(1, F_hat=F.astype(np.complex64), **fields))
        )
    assert reply["status"] == "error" and message in reply["error"], reply["error"]


def test_the_active_mask_travels_and_inactive_users_get_zero_columns(cfg):
    F, sg = scene(cfg, 3, seed=6)
    active = np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 0]])
    with PrecoderService("rzf", cfg, "tcp://127.0.0.1:*") as svc:
        reply = decode_message(svc.handle(request(1, F, sg, active=active)))
        bad = decode_message(svc.handle(request(1, F, sg, active=2 * active)))
    want = make_precoder(spec_for("rzf"), cfg)(Realization(F, sg, active.astype(bool))).W
    close(reply["W"], want)
    assert not reply["W"][0][:, 3].any() and not reply["W"][2][:, [1, 4]].any()
    assert "active has shape (3, 4); needs a 0/1 mask" in bad["error"]


def test_unknown_params_and_remote_are_refused(cfg, capsys):
    with pytest.raises(ValueError, match=r"'zf': unknown parameter\(s\) \['bogus'\]"):
        PrecoderService("zf", cfg, "tcp://127.0.0.1:*", params={"bogus": 1})
    with pytest.raises(ValueError, match="cannot serve 'remote'"):
        PrecoderService("remote", cfg, "tcp://127.0.0.1:*", params={"address": "tcp://x:1"})
    with pytest.raises(ValueError, match="regime must be one of"):
        PrecoderService("optimize", cfg, "tcp://127.0.0.1:*", params={"regime": "fast"})
    from gr_cfisac.cli import main

    assert main(["serve", "zf", "--param", "bogus=1", "--address", "tcp://127.0.0.1:*"]) == 2
    assert "unknown parameter(s) ['bogus']" in capsys.readouterr().err
    assert main(["serve", "remote", "--address", "tcp://127.0.0.1:*"]) == 2
    assert "cannot serve 'remote'" in capsys.readouterr().err
    assert main(["serve", "zf", "--param", "sensing_fraction"]) == 2
    assert "expected name=value" in capsys.readouterr().err


def test_params_are_parsed_as_json_where_they_are():
    got = parse_params(
        ["regime=sc", 'beam="target"', "threshold=1.0", "per_tap=true", "x=null", "n=3", "s=a=b"]
    )
    assert got == {
        "regime": "sc",
        "beam": "target",
        "threshold": 1.0,
        "per_tap": True,
        "x": None,
        "n": 3,
        "s": "a=b",
    }
    with pytest.raises(ValueError, match="--param n given twice"):
        parse_params(["n=1", "n=2"])
    with pytest.raises(ValueError, match="expected name=value"):
        parse_params(["=1"])


def test_a_plug_in_family_is_served(cfg, monkeypatch):
    """A third-party family (here registered through the registry's own lookup, as an entry
    point would be) is served like a built-in one, parameters included."""

    def build(spec, config):
        gain = float(spec.params["gain"])

        def design(r: Realization) -> PrecoderResult:
            B, N, K = r.F_hat.shape
            return PrecoderResult(gain * np.concatenate([r.F_hat[..., :1], r.F_hat], axis=-1))

        return design

    toy = Family("toy", build, "a plug-in: W = gain [f_1, F]", {"gain": 1.0})
    builtin = registry.families
    monkeypatch.setattr(registry, "families", lambda: {**builtin(), "toy": toy})
    F, _ = scene(cfg, 2)
    with Serving("toy", cfg, params={"gain": 2.0}) as svc:
        with RemotePrecoder(svc.address, cfg, timeout_ms=5000) as remote:
            W = remote(F)  # it needs the estimates only: no geometry
            assert remote.ok, remote.status
    close(W, 2.0 * np.concatenate([F[..., :1], F], axis=-1))


def test_the_remote_family_sends_the_geometry_and_falls_back_when_gone(cfg):
    F, sg = scene(cfg, 3, seed=9)
    r = Realization(F, sg, None, np.arange(3))
    with Serving("optimize", cfg, params={"regime": "sc", "threshold": 1.0}) as svc:
        remote = make_precoder(spec_for("remote", address=svc.address, timeout_ms=30_000), cfg)
        W = remote(r).W
        assert remote.status == "ok" and svc.stats["ok"] == 1
    close(W, local("optimize", cfg, F, sg, regime="sc", threshold=1.0))
    remote.design.client.timeout_ms = 300
    gone = remote(r).W  # the service is gone: the local fallback (zf) designs W
    assert remote.status.startswith(("timeout", "unreachable"))
    close(gone, local("zf", cfg, F, sg))
    remote.design.client.close()


def test_the_remote_family_serves_an_active_user_mask(cfg):
    """The registry hands a fixed-K family's design the active users' columns only: they
    travel padded to K users with the mask and come back as those users' columns."""
    F, sg = scene(cfg, 3, seed=9)
    active = np.array([[1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 0]], bool)
    params = {"sensing_fraction": 0.2, "sensing_beam": "target"}
    with Serving("wmmse", cfg, params=params) as svc:
        remote = make_precoder(
            spec_for("remote", address=svc.address, timeout_ms=30_000, fallback="mrt"), cfg
        )
        W = remote(Realization(F, sg, active)).W
        assert remote.status == "ok" and svc.stats["ok"] == 3  # one request per distinct mask
        remote.design.client.close()
    want = make_precoder(spec_for("wmmse", **params), cfg)(Realization(F, sg, active)).W
    close(W, want)
    assert not W[0][:, 2].any() and not W[2][:, [1, 2, 4]].any()


def test_cfisac_serve_runs_optimize_with_params(cfg, tmp_path):
    addr = f"ipc://{tmp_path}/opt"
    command = ["serve", "optimize", "--param", "regime=sc", "--param", "threshold=1.0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gr_cfisac.cli", *command, "--address", addr],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    F, sg = scene(cfg, 2, seed=3)
    try:
        with RemotePrecoder(addr, cfg, timeout_ms=500) as remote:
            deadline = time.monotonic() + 60
            while (pong := remote.ping()) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pong is not None, remote.status
            remote.timeout_ms = 30_000
            W = remote(F, geometry=sg)
            assert remote.ok, remote.status
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert '"regime": "sc"' in pong["spec"] and '"threshold": 1.0' in pong["spec"]
    assert "-> W (B, N, K+1)" in out and "'ok': 1" in out
    close(W, local("optimize", cfg, F, sg, regime="sc", threshold=1.0))
