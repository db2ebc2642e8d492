"""Spectral analysis against its definitions and against simulation."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import (
    GD,
    GradientFlow,
    Momentum,
    Nesterov,
    Preconditioned,
    Quadratic,
    axis_regimes,
    axis_spectral_radius,
    closed_form,
    convergence_rate,
    max_stable_lr,
    measured_rate,
    optimal_gd,
    optimal_momentum,
    simulate,
)
from quadsim.theory import REGIMES, companion_sequences, lucas_trace_derivative

#: Closed-form sequences against the recurrence iterated 60 times in float64.
SEQUENCE_RTOL = 1e-11


@pytest.mark.parametrize("method", [GD(0.5), Momentum(0.5, 0.6), Nesterov(0.5, 0.6)])
def test_companion_sequences_solve_the_recurrence(method):
    h = np.array([-0.3, 0.0, 1e-9, 0.1, 0.4, 0.8, 1.0, 1.3, 1.9, 2.5, 3.0])
    trace, det, _ = method.transition(h)
    n = np.arange(60)
    s, s_next, forcing = companion_sequences(method.companion(h), n)
    expected = np.zeros((61, h.size))
    expected[1] = 1.0
    for k in range(1, 60):
        expected[k + 1] = trace * expected[k] - det * expected[k - 1]
    # Errors are relative to each axis's largest term (the sequences grow or decay).
    scale = np.max(np.abs(expected), axis=0)
    assert_allclose(s / scale, expected[:60] / scale, rtol=SEQUENCE_RTOL, atol=SEQUENCE_RTOL)
    assert_allclose(s_next / scale, expected[1:] / scale, rtol=SEQUENCE_RTOL,
                    atol=SEQUENCE_RTOL)
    sums = np.cumsum(expected[:60], axis=0)
    sums_scale = np.max(np.abs(sums), axis=0)
    assert_allclose(forcing / sums_scale, sums / sums_scale, rtol=SEQUENCE_RTOL,
                    atol=SEQUENCE_RTOL)


@pytest.mark.parametrize("method", [GD(0.5), Momentum(0.5, 0.6), Nesterov(0.5, 0.6),
                                    Momentum(1.0, 0.81), Nesterov(1.0, 0.81)])
def test_lucas_trace_derivative_is_the_self_convolution(method):
    # Both double roots (heavy ball at h = (1−√β)², Nesterov at ((1−β)/(1+β))²) and
    # their neighbourhoods, where the series replaces the closed form.
    doubles = [(1 - np.sqrt(0.81)) ** 2, ((1 - 0.81) / 1.81) ** 2]
    h = np.array([-0.3, 0.0, 1e-9, 0.1, 0.4, 1.0, 1.3, 2.5]
                 + [x * (1 + e) for x in doubles for e in (0.0, 1e-9, -1e-7, 1e-3)])
    trace, det, _ = method.transition(h)
    n = np.arange(300)
    derivative = lucas_trace_derivative(method.companion(h), n)
    s = np.zeros((301, h.size))
    s[1] = 1.0
    for k in range(1, 300):
        s[k + 1] = trace * s[k] - det * s[k - 1]
    convolution = np.array([np.sum(s[:k + 1] * s[k::-1], axis=0) for k in range(300)])
    scale = np.max(np.abs(convolution), axis=0)
    assert_allclose(derivative / scale, convolution / scale, rtol=SEQUENCE_RTOL,
                    atol=SEQUENCE_RTOL)


def test_axis_regimes_name_the_five_cases():
    # Eigenvalues 0 (frozen), 0 (drifting), 0.5 (converging at lr = 1),
    # 1.5 (oscillating: 1 − lr·a = −0.5), 2.5 (diverging: 1 − lr·a = −1.5).
    q = Quadratic.from_eigenvalues([0.0, 0.0, 0.5, 1.5, 2.5], [0.0, 1.0, 1.0, 1.0, 1.0], rng=2)
    assert list(axis_regimes(q, GD(1.0))) == [
        "frozen", "drifting", "converging", "oscillating", "diverging"]
    assert set(axis_regimes(q, GD(1.0))) == set(REGIMES)
    saddle = Quadratic(np.diag([-1.0, 1.0]))
    assert list(axis_regimes(saddle, GD(0.1))) == ["diverging", "converging"]
    assert list(axis_regimes(saddle, GradientFlow())) == ["diverging", "converging"]
    # Heavy ball with β > (1 − √(lr·a))² has complex roots: it oscillates.
    assert list(axis_regimes(Quadratic(np.diag([1.0])), Momentum(0.5, 0.9))) == ["oscillating"]
    assert list(axis_regimes(Quadratic(np.diag([1.0])), Momentum(0.5, 0.01))) == ["converging"]


def test_oscillating_axes_do_change_sign():
    q = Quadratic(np.diag([1.5, 1.0]))
    u = closed_form(q, GD(1.0), [1.0, 0.0], 10).w[:, 0]
    assert np.all(u[:-1] * u[1:] < 0)


@pytest.mark.parametrize("method", [GD(0.3), Momentum(0.3, 0.5), Nesterov(0.3, 0.5),
                                    Preconditioned(0.3, np.diag([1.0, 2.0, 0.5]))])
def test_convergence_rate_is_the_measured_rate(method):
    q = Quadratic.from_eigenvalues([0.05, 0.4, 1.0], rng=4)
    for basis in ("raw", "eigen"):
        measured = measured_rate(q, method, np.ones(3), 400, 600, basis=basis)
        assert_allclose(measured, convergence_rate(q, method), rtol=1e-3)


def test_spectral_radius_matches_the_companion_matrix():
    q = Quadratic(np.diag([0.0, 0.2, 0.7, 1.3, 2.0]))
    for method in (GD(0.9), Momentum(0.9, 0.4), Nesterov(0.9, 0.4)):
        trace, det, _ = method.transition(method.lr * q.eigenvalues)
        expected = [np.max(np.abs(np.linalg.eigvals([[t, -d], [1.0, 0.0]])))
                    for t, d in zip(trace, det, strict=True)]
        assert_allclose(axis_spectral_radius(q, method), expected, rtol=1e-12)


@pytest.mark.parametrize(("method_type", "edge"), [
    (GD, lambda beta: 2.0), (Momentum, lambda beta: 2 + 2 * beta),
    (Nesterov, lambda beta: (2 + 2 * beta) / (1 + 2 * beta))])
def test_max_stable_lr_is_the_edge(method_type, edge):
    q = Quadratic.from_eigenvalues([0.1, 1.0, 4.0], rng=1)
    beta = 0.0 if method_type is GD else 0.7
    lr_max = max_stable_lr(q, method_type, beta=beta)
    assert_allclose(lr_max, edge(beta) / 4.0, rtol=1e-12)
    make = (lambda lr: GD(lr)) if method_type is GD else (lambda lr: method_type(lr, beta))
    assert convergence_rate(q, make(lr_max * (1 - 1e-6))) < 1.0
    assert convergence_rate(q, make(lr_max * (1 + 1e-6))) > 1.0
    assert_allclose(convergence_rate(q, make(lr_max)), 1.0, rtol=1e-9)
    for factor, grows in ((1.01, True), (0.99, False)):
        traj = simulate(q, make(lr_max * factor), np.ones(3), [0, 5000], basis="eigen")
        grew = traj.diverged or np.max(np.abs(traj.w[1])) > 1e3
        assert grew == grows
    assert max_stable_lr(q, make(1.0)) == lr_max


@pytest.mark.parametrize("kappa", [10.0, 1e2, 1e4])
def test_optimal_hyperparameters_reach_the_textbook_rates(kappa):
    q = Quadratic.from_eigenvalues(np.geomspace(1.0, kappa, 6), rng=0)
    assert_allclose(convergence_rate(q, optimal_gd(q)), (kappa - 1) / (kappa + 1), rtol=1e-12)
    root = np.sqrt(kappa)
    assert_allclose(convergence_rate(q, optimal_momentum(q)), (root - 1) / (root + 1),
                    rtol=1e-7)  # a double root: the radius is √δ up to √eps.


def test_tuning_refuses_indefinite_problems():
    with pytest.raises(ValueError, match="positive semi-definite"):
        optimal_gd(Quadratic(np.diag([-1.0, 1.0])))
