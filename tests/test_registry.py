"""The precoder registry: specs, the ISAC layout from every family, masks, refusals, and a
third-party family added through the gr_cfisac.precoders entry-point group."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from gr_cfisac.precoding import isac_beamformer, nullspace_beam, registry, target_beam, zf
from gr_cfisac.precoding.registry import (
    Family,
    PrecoderResult,
    PrecoderSpec,
    Realization,
    make_precoder,
)
from gr_cfisac.scenario import draw_realizations


@pytest.fixture(scope="module")
def real():
    from gr_cfisac.config import SystemConfig

    cfg = SystemConfig()
    return cfg, draw_realizations(cfg, 6, 4)


def test_spec_round_trips_through_json_and_refuses_junk():
    spec = PrecoderSpec("zf", params={"sensing_fraction": 0.3})
    assert PrecoderSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="unknown field"):
        PrecoderSpec.from_dict({"name": "zf", "colour": 1})
    with pytest.raises(ValueError, match="expected"):
        PrecoderSpec.from_json("[1, 2]")


@pytest.mark.parametrize("name", ["mrt", "zf", "rzf", "wmmse"])
def test_every_classical_family_returns_the_isac_layout(real, name):
    cfg, r = real
    res = make_precoder(PrecoderSpec(name), cfg)(Realization(r.F_hat, r.sensing))
    assert res.W.shape == (6, cfg.N, cfg.K + 1)
    assert np.allclose((np.abs(res.W) ** 2).sum(axis=(1, 2)), cfg.power_budget)


def test_zf_family_is_the_core_zf_plus_the_nullspace_sensing_beam(real):
    cfg, r = real
    res = make_precoder(PrecoderSpec("zf", params={"sensing_fraction": 0.3}), cfg)(
        Realization(r.F_hat, r.sensing)
    )
    beam = nullspace_beam(target_beam(r.sensing.aT_t, r.sensing.amp_t), r.F_hat)
    want = isac_beamformer(zf(r.F_hat, cfg.power_budget), beam, cfg.power_budget, 0.3)
    np.testing.assert_allclose(res.W, want, rtol=1e-12, atol=1e-12)


def test_a_mask_precodes_the_active_users_only(real):
    cfg, r = real
    pre = make_precoder(PrecoderSpec("zf"), cfg)
    active = np.ones((6, cfg.K), bool)
    active[:3, 1] = False
    active[5, [0, 3]] = False
    res = pre(Realization(r.F_hat, r.sensing, active))
    assert np.all(res.W[:3, :, 2] == 0) and np.all(res.W[5][:, [1, 4]] == 0)
    # the active users' beams are those of ZF on the active users' channels alone
    sub = make_precoder(PrecoderSpec("zf"), cfg)(
        Realization(r.F_hat[:3][:, :, [0, 2, 3]], registry._take(r.sensing, np.arange(3)))
    )
    np.testing.assert_allclose(res.W[:3][:, :, [0, 1, 3, 4]], sub.W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.W[3:5], pre(Realization(r.F_hat, r.sensing)).W[3:5])


def test_refusals_name_the_field(real):
    cfg, _ = real
    with pytest.raises(ValueError, match="unknown precoder 'magic'.*registered families"):
        make_precoder(PrecoderSpec("magic"), cfg)
    with pytest.raises(ValueError, match="scenario='mu_miso'"):
        make_precoder(PrecoderSpec("zf", scenario="mu_miso"), cfg)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['eta'\]"):
        make_precoder(PrecoderSpec("zf", params={"eta": 0.5}), cfg)
    with pytest.raises(ValueError, match=r"needs parameter\(s\) \['path'\]"):
        make_precoder(PrecoderSpec("onnx"), cfg)
    with pytest.raises(ValueError, match="regime 'sc' needs threshold"):
        make_precoder(PrecoderSpec("optimize", params={"regime": "sc"}), cfg)
    assert registry.spec_for("models/x.onnx") == PrecoderSpec(
        "onnx", params={"path": "models/x.onnx"}
    )


def test_grc_algorithm_options_are_the_registry_families():
    from pathlib import Path

    import yaml

    doc = yaml.safe_load((Path(__file__).parents[1] / "grc/cfisac_precoder.block.yml").read_text())
    algo = next(p for p in doc["parameters"] if p["id"] == "algorithm")
    offered = [o.strip('"') for o in algo["options"]]
    by_path = {n for n, f in registry.families().items() if "path" in f.required}  # onnx, l2o
    assert sorted(offered) == sorted(set(registry.families()) - by_path)


TOY = '''
"""A toy precoder family: equal power on every user's own channel, no sensing beam."""
import numpy as np
from gr_cfisac.precoding.registry import Family, PrecoderResult


def build(spec, cfg):
    def design(r):
        B, N, K = r.F_hat.shape
        W = np.concatenate([np.zeros((B, N, 1)), r.F_hat], axis=-1)
        W *= np.sqrt(spec.params["power"] / (np.abs(W) ** 2).sum(axis=(1, 2), keepdims=True))
        return PrecoderResult(W, {"norm": np.linalg.norm(r.F_hat, axis=(1, 2))})
    return design


FAMILY = Family("toy", build, "matched filter without sensing", {"power": 1.0})
'''


def test_a_third_party_family_is_one_module_and_one_entry_point(real, tmp_path, monkeypatch):
    """A package the registry does not know, installed as a distribution with an entry point in
    gr_cfisac.precoders: the registry, and so the Precoder block, serve it."""
    cfg, r = real
    (tmp_path / "toy_precoder.py").write_text(textwrap.dedent(TOY))
    info = tmp_path / "toy_precoder-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-precoder\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gr_cfisac.precoders]\ntoy = toy_precoder:FAMILY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._load_entry_points.cache_clear()
    try:
        assert "toy" in registry.families()
        res = make_precoder(PrecoderSpec("toy", params={"power": 2.0}), cfg)(
            Realization(r.F_hat, r.sensing)
        )
        assert res.W.shape == (6, cfg.N, cfg.K + 1) and np.all(res.W[..., 0] == 0)
        np.testing.assert_allclose((np.abs(res.W) ** 2).sum(axis=(1, 2)), 2.0)
        assert res.extras["norm"].shape == (6,)
        from gr_cfisac.blocks import resolve_precoder

        assert resolve_precoder("toy", cfg).family.name == "toy"
    finally:
        registry._FAMILIES.pop("toy", None)
        sys.modules.pop("toy_precoder", None)
        registry._load_entry_points.cache_clear()


def test_the_registry_is_numpy_only():
    """Listing and describing families imports no GNU Radio, torch, ZeroMQ or ONNX Runtime:
    families import those only when built."""
    import subprocess

    code = (
        "import sys\nfrom gr_cfisac.precoding import registry\nfams = registry.families()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('gnuradio', 'torch', 'pmt', 'zmq', 'onnxruntime', 'cvxpy')]\nprint(sorted(fams), bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout
    assert "'zf'" in out.stdout


def _local_mrt(spec, cfg):
    """A per-AP toy family: AP l beams along its own estimates only, power split evenly."""

    def design(ap, r):
        B, M, K = r.F_hat.shape
        W = np.concatenate([np.zeros((B, M, 1)), r.F_hat], axis=-1)
        W *= np.sqrt(cfg.power_budget / cfg.NT / (np.abs(W) ** 2).sum(axis=(1, 2), keepdims=True))
        return PrecoderResult(W, {"seen_rows": np.full(B, M)})

    return design


def test_a_per_ap_family_sees_only_its_own_rows_and_stacks_to_the_network_w(real):
    cfg, r = real
    family = Family(
        "local_mrt_test", None, "per-AP MRT", placement="per_ap", build_per_ap=_local_mrt
    )
    registry.register(family)
    try:
        pre = make_precoder(PrecoderSpec("local_mrt_test"), cfg)
        whole = pre(Realization(r.F_hat, r.sensing))
        assert whole.W.shape == (6, cfg.N, cfg.K + 1)
        M = cfg.MT
        for ap in range(cfg.NT):
            rows = slice(ap * M, (ap + 1) * M)
            own = pre.per_ap(ap, Realization(r.F_hat[:, rows], r.sensing))
            np.testing.assert_allclose(whole.W[:, rows], own.W, rtol=0, atol=0)
            # each AP's rows depend on its own CSI only: another AP's estimates change nothing
            other = r.F_hat.copy()
            other[:, (ap + 1) % cfg.NT * M :][:, :M] *= 3.0
            again = pre(Realization(other, r.sensing))
            np.testing.assert_allclose(again.W[:, rows], own.W)
            assert np.all(whole.extras[f"ap{ap}_seen_rows"] == M)
        with pytest.raises(ValueError, match=rf"F_hat must be \(B, M={M}, K\)"):
            pre.per_ap(0, Realization(r.F_hat, r.sensing))
    finally:
        registry._FAMILIES.pop("local_mrt_test", None)


def test_a_central_family_has_no_per_ap_call_and_declarations_are_checked(real):
    cfg, r = real
    with pytest.raises(ValueError, match="centralized"):
        make_precoder(PrecoderSpec("zf"), cfg).per_ap(0, Realization(r.F_hat[:, : cfg.MT]))
    with pytest.raises(ValueError, match="build_per_ap"):
        Family("x", None, "no builder", placement="per_ap")
    with pytest.raises(ValueError, match="sensing_form"):
        Family("x", lambda s, c: None, "bad form", sensing_form="matrix")


def test_optimize_serves_a_mask_and_checks_its_quality_when_built(real):
    cfg, r = real
    active = np.ones((6, cfg.K), bool)
    active[:2, 0] = False
    pre = make_precoder(PrecoderSpec("optimize", params={"quality": "fast"}), cfg)
    res = pre(Realization(r.F_hat, r.sensing, active))
    assert res.W.shape == (6, cfg.N, cfg.K + 1) and np.all(res.W[:2, :, 1] == 0)
    assert np.all(np.abs(res.W[2:, :, 1]) > 0)
    with pytest.raises(ValueError, match="quality must be one of"):
        make_precoder(PrecoderSpec("optimize", params={"quality": "quick"}), cfg)


def test_the_registry_validates_a_learned_familys_card_with_its_schema(real, tmp_path):
    """make_precoder checks NAME.json beside the model against the family's card_schema."""
    import json
    import shutil

    from gr_cfisac.models import shipped_models_dir

    cfg, _ = real
    src = shipped_models_dir() / "stcib_joint.onnx"
    model = tmp_path / "m.onnx"
    shutil.copy(src, model)
    card = json.loads(src.with_suffix(".json").read_text())
    del card["regime"]
    model.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=r"m\.json: field regime is missing"):
        make_precoder(PrecoderSpec("onnx", params={"path": str(model)}), cfg)
    model.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match=r"m\.json is not a regular file"):
        make_precoder(PrecoderSpec("onnx", params={"path": str(model)}), cfg)
