"""Per-antenna calibration (gr_cfisac.calibration): a synthetic per-antenna gain, phase and delay
error breaks MUSIC; corrections estimated from a capture of a known direction bring MUSIC's
error in another direction back to the CRB, as on an error-free array; the file round-trips
and bad files are refused with the fix named."""

import json

import numpy as np
import pytest

from gr_cfisac import calibration
from gr_cfisac.arrays import direction_cosines, steering
from gr_cfisac.bounds import stochastic_crb_uv
from gr_cfisac.music import estimate

ROWS, COLS = 2, 2
M = ROWS * COLS
TAU = 192
SNR = 10.0  # source power over unit noise, linear
#: the receive chains' errors: gains with random phases, delays in samples
GAIN_ERR = np.array([1.0, 0.7 * np.exp(2.1j), 1.3 * np.exp(-1.4j), 0.9 * np.exp(0.6j)])
DELAY_ERR = np.array([0.0, 1.0, 2.4, 0.6])


def delayed(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Stream x (M, n) with antenna m delayed by d[m] samples (band-limited, circular)."""
    f = np.fft.fftfreq(x.shape[-1])
    return np.fft.ifft(np.fft.fft(x, axis=-1) * np.exp(-2j * np.pi * f * d[:, None]), axis=-1)


def snapshots(rng, psi_deg, theta_deg, blocks, gain=None, delay=None) -> np.ndarray:
    """Blocks (B, M, TAU) of one white Gaussian source at (psi, theta) plus unit noise, through
    receive chains with ``gain`` and ``delay`` errors."""
    n = blocks * TAU
    s = np.sqrt(SNR / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    a = steering(np.radians(psi_deg), np.radians(theta_deg), ROWS, COLS)
    x = a[:, None] * s[None, :]
    if delay is not None:
        x = delayed(x, delay)
    if gain is not None:
        x = gain[:, None] * x
    x = x + (rng.standard_normal((M, n)) + 1j * rng.standard_normal((M, n))) / np.sqrt(2)
    return x.reshape(M, blocks, TAU).transpose(1, 0, 2)


def correct(Y: np.ndarray, gain, delay) -> np.ndarray:
    """Blocks Y (B, M, TAU) through the Corrector as one stream."""
    B = Y.shape[0]
    c = calibration.Corrector(gain, delay)
    y = c(Y.transpose(0, 2, 1).reshape(B * TAU, M))
    return y.reshape(B, TAU, M).transpose(0, 2, 1)


def uv_rmse(Y: np.ndarray, psi_deg: float, theta_deg: float) -> float:
    """RMS error in (u, v) of MUSIC's one-source estimate over the blocks."""
    res = estimate(Y, ROWS, COLS, n_sources=1, n_peaks=1)
    u, v = direction_cosines(res.angles[:, 0, 0], res.angles[:, 0, 1])
    u0, v0 = direction_cosines(np.radians(psi_deg), np.radians(theta_deg))
    return float(np.sqrt(np.mean((u - u0) ** 2 + (v - v0) ** 2)))


def crb_uv(psi_deg: float, theta_deg: float) -> float:
    u, v = direction_cosines(np.radians([psi_deg]), np.radians([theta_deg]))
    crb = stochastic_crb_uv(u, v, np.array([[SNR]]), ROWS, COLS, TAU)
    return float(np.sqrt(np.trace(crb)))


def test_calibration_from_a_known_direction_restores_music(rng):
    cal_dir, test_dir = (30.0, 40.0), (-70.0, 25.0)
    Y_cal = snapshots(rng, *cal_dir, 40, GAIN_ERR, DELAY_ERR)
    gain, delay = calibration.estimate(Y_cal, *np.radians(cal_dir), ROWS, COLS)
    # the delays come back up to a common offset, the gains up to a common complex factor
    assert np.allclose(delay - delay[0], -(DELAY_ERR - DELAY_ERR[0]), atol=0.1)
    ratio = gain * GAIN_ERR
    assert np.allclose(ratio / ratio[0], 1.0, atol=0.05)

    Y_test = snapshots(rng, *test_dir, 30, GAIN_ERR, DELAY_ERR)
    Y_ideal = snapshots(rng, *test_dir, 30)
    bound = crb_uv(*test_dir)
    broken = uv_rmse(Y_test, *test_dir)
    fixed = uv_rmse(correct(Y_test, gain, delay), *test_dir)
    ideal = uv_rmse(Y_ideal, *test_dir)
    assert broken > 20 * bound, (broken, bound)  # the errors break MUSIC
    assert ideal < 2.0 * bound, (ideal, bound)
    assert fixed < 2.0 * bound, (fixed, bound, ideal)  # back within the error-free level


def test_phase_only_errors_without_delays():
    rng = np.random.default_rng(7)
    phase = np.exp(1j * rng.uniform(-np.pi, np.pi, M))
    Y = snapshots(rng, 10.0, 50.0, 20, phase)
    gain, delay = calibration.estimate(Y, np.radians(10.0), np.radians(50.0), ROWS, COLS)
    assert np.allclose(delay, delay[0], atol=0.1)
    Y_test = snapshots(rng, 120.0, 35.0, 20, phase)
    assert uv_rmse(correct(Y_test, gain, np.zeros(M)), 120.0, 35.0) < 2.0 * crb_uv(120.0, 35.0)


def test_corrector_streams_in_any_chunks_and_integer_delays_are_exact(rng):
    x = (rng.standard_normal((300, M)) + 1j * rng.standard_normal((300, M))).astype(np.complex64)
    gain = np.array([1, 2j, -1, 0.5])
    delay = np.array([0.0, 3.0, 1.0, 0.0])
    whole = calibration.Corrector(gain, delay)(x)
    parts = calibration.Corrector(gain, delay)
    chunked = np.concatenate([parts(x[a:b]) for a, b in [(0, 7), (7, 150), (150, 151), (151, 300)]])
    assert np.allclose(chunked, whole, atol=1e-5)
    lat = calibration.DELAY_HALF_TAPS
    for m in range(M):
        d = lat + int(delay[m])
        assert np.allclose(whole[d:, m], gain[m] * x[: 300 - d, m], atol=1e-5)
    # no delays: no latency, just the gains
    assert np.allclose(calibration.Corrector(gain, np.zeros(M))(x), x * gain, atol=1e-6)


def test_file_round_trip_json_and_npz(tmp_path):
    g = np.exp(1j * np.arange(M))
    cal = calibration.Calibration(
        (ROWS, COLS),
        {2: calibration.RapCalibration(2, g, np.arange(M) * 0.5, {"direction_deg": [1, 2]})},
        {"capture": "cal.sigmf-collection"},
    )
    path = calibration.save(cal, tmp_path / "cal.json")
    back = calibration.load(path, (ROWS, COLS))
    assert np.allclose(back.for_rap(2).gain, g) and np.allclose(
        back.for_rap(2).delay_samples, [0, 0.5, 1, 1.5]
    )
    assert back.for_rap(2).info == {"direction_deg": [1, 2]}
    assert back.info == {"capture": "cal.sigmf-collection"}
    assert back.for_rap(1).is_identity()  # not listed: not corrected
    np.savez(
        tmp_path / "cal.npz",
        gain=np.stack([g, g]),
        delay_samples=np.zeros((2, M)),
        MR_shape=[ROWS, COLS],
    )
    z = calibration.load(tmp_path / "cal.npz")
    assert sorted(z.raps) == [1, 2] and np.allclose(z.for_rap(2).gain, g)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"format": "other"}, "cfisac-calibration"),
        (
            {
                "format": "cfisac-calibration",
                "version": 1,
                "MR_shape": [2, 2],
                "raps": [{"rap": 1, "gain": [[1, 0]] * 3}],
            },
            "4 \\[re, im\\] pairs",
        ),
        (
            {
                "format": "cfisac-calibration",
                "version": 1,
                "MR_shape": [2, 2],
                "raps": [{"rap": 1, "gain": [[1, 0]] * 4, "delay_samples": [0, -1, 0, 0]}],
            },
            ">= 0",
        ),
        (
            {
                "format": "cfisac-calibration",
                "version": 1,
                "MR_shape": [2, 2],
                "raps": [{"rap": 1, "gain": [[0, 0]] * 4}],
            },
            "gain of 0",
        ),
    ],
)
def test_bad_files_are_refused_naming_the_fix(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message) as err:
        calibration.load(path)
    assert "cfisac calibrate" in str(err.value)


def test_a_file_for_other_arrays_is_refused(tmp_path):
    cal = calibration.Calibration((1, 4), {})
    path = calibration.save(cal, tmp_path / "c.json")
    with pytest.raises(ValueError, match="made for \\(1, 4\\)"):
        calibration.load(path, (2, 2))
