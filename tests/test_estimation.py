import numpy as np
import pytest

from gr_cfisac.channels import correlation_matrix, crandn, split_tap_major
from gr_cfisac.config import SystemConfig
from gr_cfisac.estimation import (
    estimate_channels,
    ls_estimate,
    mmse_error_covariance,
    mmse_estimate,
    orthogonal_pilots,
    project_pilots,
    received_pilots,
)
from gr_cfisac.scenario import draw_realizations


def test_pilots_are_orthonormal():
    phi = orthogonal_pilots(4, 7)
    np.testing.assert_allclose(phi @ phi.conj().T, np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match="tau_p"):
        orthogonal_pilots(5, 4)


def _draws(n, rng, mt=4, e=0.7, k=1.5, rho_p_tau=3.0):
    R = correlation_matrix(2, mt // 2)
    C = e * R
    c = np.sqrt(k * e) * np.exp(1j * np.arange(mt))
    L = np.linalg.cholesky(C)
    h = c + crandn(rng, (n, mt)) @ L.T
    return h, c, C


def test_projected_pilots_follow_eq7(rng):
    """y~_ik = sqrt(rho_p tau_p) h_ik + n~ with n~ ~ CN(0, I), whatever the other users send."""
    n, K, tau_p, rho_p = 20000, 3, 5, 2.0
    H = crandn(rng, (n, 1, K, 4))
    pilots = orthogonal_pilots(K, tau_p)
    y = project_pilots(received_pilots(H, pilots, rho_p, rng), pilots)
    noise = y - np.sqrt(rho_p * tau_p) * H
    cov = np.einsum("bikm,bikn->kmn", noise, noise.conj()) / n
    for k in range(K):
        np.testing.assert_allclose(cov[k], np.eye(4), atol=0.05)


@pytest.mark.parametrize("rho_p_tau", [0.3, 3.0, 30.0])
def test_mmse_error_covariance_matches_eq11(rho_p_tau, rng):
    """Over 20k draws the empirical error covariance is C_h - C_hhat (eqs 9-11) to a few percent."""
    n = 20000
    h, c, C = _draws(n, rng)
    y = np.sqrt(rho_p_tau) * h + crandn(rng, h.shape)
    h_hat = mmse_estimate(
        y, np.broadcast_to(c, h.shape), np.broadcast_to(C, (n, 4, 4)), rho_p_tau, 1
    )
    err = h - h_hat
    emp = np.einsum("bm,bn->mn", err, err.conj()) / n
    theory = mmse_error_covariance(C, rho_p_tau, 1)
    assert np.linalg.norm(emp - theory) / np.linalg.norm(theory) < 0.04
    # orthogonality principle: the error is uncorrelated with the estimate
    cross = np.einsum("bm,bn->mn", err, (h_hat - c).conj()) / n
    assert np.linalg.norm(cross) < 0.05 * np.linalg.norm(theory) + 3 / np.sqrt(n)
    # LS is unbiased but worse
    ls_err = h - ls_estimate(y, rho_p_tau, 1)
    assert np.mean(np.abs(ls_err) ** 2) > np.mean(np.abs(err) ** 2)


def test_estimation_error_falls_with_tau_p_and_not_with_k():
    """Fig. 6: longer pilots, smaller error. With orthogonal unit-norm pilots (eq 7) the error
    does not depend on K: our model does not share pilot energy among users."""
    errs = []
    for tau_p in (4, 8, 16, 32):
        cfg = SystemConfig(tau_p=tau_p, pilot_power_dbm=-20.0)
        r = draw_realizations(cfg, 400, 3)
        errs.append(np.mean(np.linalg.norm(r.F - r.F_hat, axis=1)))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    per_k = []
    for K in (2, 4, 8):
        cfg = SystemConfig(K=K, tau_p=8, pilot_power_dbm=-20.0)
        r = draw_realizations(cfg, 600, 4)
        per_k.append(
            np.mean(np.linalg.norm(r.F - r.F_hat, axis=1) ** 2 / np.linalg.norm(r.F, axis=1) ** 2)
        )
    assert max(per_k) / min(per_k) < 1.15, per_k


def test_estimate_channels_methods_and_errors(cfg):
    r = draw_realizations(cfg, 200, 5)
    r_ls = draw_realizations(cfg, 200, 5, estimator="ls")
    np.testing.assert_array_equal(r.F, r_ls.F)
    mse = lambda x: np.mean(np.abs(r.F - x) ** 2)  # noqa: E731
    assert mse(r.F_hat) < mse(r_ls.F_hat)
    with pytest.raises(ValueError, match="method"):
        estimate_channels(r.comm, cfg.rho_p, cfg.tau_p, 0, method="magic")


def test_pilot_chain_error_covariance_matches_eq11_for_every_user(cfg):
    """The whole chain (eq 6 pilots of all K users at once, eq 7 projection, eq 8 with the
    scenario's statistics) over 10k draws of one geometry: per TAP and user the empirical error
    covariance is C_h - C_hhat of eqs 10-11, at a pilot power where the error is not tiny."""
    from gr_cfisac.channels import draw_comm_channels
    from gr_cfisac.geometry import drop

    cfg = cfg.replace(pilot_power_dbm=-10.0, rician_k_range=(2.0, 2.0))
    n = 10000
    geom = drop(cfg, 8, 1).take(np.zeros(n, dtype=int))
    ch = draw_comm_channels(cfg, geom, 1)
    F_hat = estimate_channels(ch, cfg.rho_p, cfg.tau_p, 2)
    err = split_tap_major(ch.F - F_hat, cfg.NT)  # (n, NT, K, MT)
    emp = np.einsum("bikm,bikn->ikmn", err, err.conj()) / n
    theory = mmse_error_covariance(ch.cov[0], cfg.rho_p, cfg.tau_p)
    rel = np.linalg.norm(emp - theory, axis=(-2, -1)) / np.linalg.norm(theory, axis=(-2, -1))
    assert rel.max() < 0.06, rel.max()
    # the error is neither negligible nor the whole prior here (so a wrong scaling shows)
    ratio = np.trace(theory, axis1=-2, axis2=-1).real / np.trace(ch.cov[0], axis1=-2, axis2=-1).real
    assert 0.1 < np.median(ratio) < 0.9
    with pytest.raises(ValueError, match="rho_p must be a positive"):
        estimate_channels(ch, -1.0, cfg.tau_p, 0)
