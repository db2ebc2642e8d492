"""Exact moments against the recursion iterated, high precision, enumeration and theory."""

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose
from reference import (
    axis_moments,
    enumerated_minibatch_loss,
    lucas_square_sum,
    online_regression_loss,
)

from quadsim import (
    GD,
    LinearRegression,
    Minibatch,
    Momentum,
    Nesterov,
    NoisyQuadratic,
    OnlineRegression,
    Preconditioned,
    Quadratic,
    closed_form,
    moments,
    schedules,
    simulate,
)
from quadsim.kernels.lucas import square_sums
from quadsim.noise import nqm_spectrum

#: Closed forms against the float64 recursion iterated over ≤ 300 steps: both exact up to
#: rounding, which the iteration accumulates step by step.
RECURSION_RTOL = 1e-11
#: Σ s_k² against 60-digit arithmetic from the same float inputs, away from the upper
#: double root of heavy ball (measured worst 8.6e-13 over β ∈ [0, 1 − 1e-5], double
#: roots, t up to 1e9).
SQUARE_SUM_RTOL = 2e-12
#: At heavy ball's upper double root h ≈ (1 + √β)² (the edge of stability) the distance
#: 2(1 + β) − h is itself rounded in float64 (1 + β loses β's last bits): measured 5.6e-11.
EDGE_SQUARE_SUM_RTOL = 1e-10
#: Against enumeration of every batch sequence (a sum of up to 4096 paths).
ENUMERATION_RTOL = 1e-12
#: Two float64 evaluations of the same closed form in different orders.
SAME_RTOL = 1e-13


def _companions(beta, gamma, h):
    method = (GD(1.0) if beta == 0.0 else
              Nesterov(1.0, beta) if gamma else Momentum(1.0, beta))
    return method.companion(np.atleast_1d(np.asarray(h, dtype=float)))


def _square_sum_cases():
    cases = []
    for beta in (0.0, 0.5, 0.9, 0.99, 0.9999, 1 - 1e-5):
        root = np.sqrt(beta)
        hs = [1e-9, 1e-6, 1e-3, 0.1, 0.5, 1.0, 1.5, 1.9]
        if beta:
            low = (1 - root) ** 2
            hs += [low, low * (1 + 1e-8), low * (1 - 1e-8), low * 1.1, low * 0.9]
        for h in hs:
            for gamma in ((0.0, beta) if beta else (0.0,)):
                edge = (2 + 2 * beta) / (1 + 2 * gamma)
                if h < 0.99 * edge:
                    cases.append((beta, gamma, h))
    return cases


@pytest.mark.parametrize("t", [1, 7, 100, 10**4, 10**6, 10**9])
def test_square_sums_against_high_precision(t):
    cases = _square_sum_cases()
    comps = np.concatenate([_companions(*case) for case in cases], axis=1)
    got = square_sums(*comps, float(t))
    exact = np.array([lucas_square_sum(*case, t) for case in cases])
    assert_allclose(got, exact, rtol=SQUARE_SUM_RTOL, atol=0)


def test_square_sums_at_the_upper_double_root():
    cases = [(beta, 0.0, (1 + np.sqrt(beta)) ** 2 * (1 - 1e-6)) for beta in (0.9, 0.9999,
                                                                             1 - 1e-5)]
    comps = np.concatenate([_companions(*case) for case in cases], axis=1)
    for t in (1, 100, 10**4, 10**6):
        exact = np.array([lucas_square_sum(*case, t) for case in cases])
        assert_allclose(square_sums(*comps, float(t)), exact, rtol=EDGE_SQUARE_SUM_RTOL)


def _axis_problem():
    # Every kind of axis: fast, slow, null with drift, null frozen, negative curvature.
    a = np.array([2.0, 0.5, 1e-3, 0.0, 0.0, -0.05])
    b = np.array([0.3, -0.2, 1e-3, 0.4, 0.0, 0.1])
    return Quadratic(a, b, 0.5), np.array([0.2, 1.0, 0.5, 0.3, 0.6, 0.01])


METHODS = {
    "sgd": GD(0.4),
    "heavy-ball": Momentum(0.3, 0.8),
    "nesterov": Nesterov(0.25, 0.7),
    "sgd-ema": GD(0.4, ema=0.9),
    "heavy-ball-ema": Momentum(0.3, 0.8, ema=0.7),
    "nesterov-step-decay": Nesterov(0.25, 0.7, schedule=schedules.step_decay(40, 0.5)),
    "sgd-cosine-ema": GD(0.4, ema=0.5, schedule=schedules.cosine_decay(100, final=0.1)),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_moments_equal_the_recursion_iterated(name):
    method = METHODS[name]
    quadratic, noise = _axis_problem()
    model = NoisyQuadratic(quadratic, noise, batch_size=2)
    w0 = np.array([1.0, -1.0, 2.0, 0.5, -0.3, 0.2])
    T = 300
    exact = moments(model, method, w0, T)
    lrs = method.learning_rates(T)
    rho = 0.0 if method.ema is None else method.ema
    a, b = quadratic.A, quadratic.b
    loss = np.full(T + 1, quadratic.c)
    average_loss = np.full(T + 1, quadratic.c)
    for j in range(6):
        path = axis_moments(a[j], b[j], noise[j] / 2, w0[j], lrs, method.momentum,
                            method.lookahead, rho, T)
        assert_allclose(exact.mean[:, j], path[:, 0], rtol=RECURSION_RTOL,
                        atol=RECURSION_RTOL * np.abs(path[:, 0]).max())
        loss += 0.5 * a[j] * (path[:, 0] ** 2 + path[:, 1]) + b[j] * path[:, 0]
        average_loss += 0.5 * a[j] * (path[:, 2] ** 2 + path[:, 3]) + b[j] * path[:, 2]
    assert_allclose(exact.loss, loss, rtol=RECURSION_RTOL)
    if method.ema is not None:
        assert_allclose(exact.ema_loss, average_loss, rtol=RECURSION_RTOL)
    else:
        assert exact.ema_loss is None


@pytest.mark.parametrize("method", [GD(0.5), Momentum(0.1, 0.9), Nesterov(0.1, 0.95)],
                         ids=["sgd", "heavy-ball", "nesterov"])
def test_constant_lr_closed_form_equals_the_product_of_transitions(method):
    # A one-run piecewise schedule takes the doubling path; no schedule, the closed form.
    model = NoisyQuadratic(Quadratic(1.0 / np.arange(1, 41)), batch_size=3)
    flat = dataclasses.replace(method, schedule=schedules.piecewise_constant([7], [1.0, 1.0]))
    steps = [0, 1, 5, 60, 1000, 10**6]
    closed = moments(model, method, np.ones(40), steps)
    doubled = moments(model, flat, np.ones(40), steps)
    assert_allclose(closed.loss, doubled.loss, rtol=1e-12)
    assert_allclose(closed.mean, doubled.mean, rtol=1e-12, atol=1e-14)


def test_steady_state_risk_of_sgd_and_heavy_ball():
    h = 1.0 / np.arange(1, 201)
    lr, beta, B = 0.7, 0.9, 8
    nqm = NoisyQuadratic(Quadratic(h), batch_size=B)
    sgd = moments(nqm, GD(lr), np.ones(200), [10**12]).loss[0]
    assert sgd == pytest.approx(np.sum(lr * h / (2 * B * (2 - lr * h))), rel=SAME_RTOL)
    heavy = moments(nqm, Momentum(lr, beta), np.ones(200), [10**12]).loss[0]
    expected = np.sum((1 + beta) * lr * h / (2 * B * (2 * beta + 2 - lr * h) * (1 - beta)))
    assert heavy == pytest.approx(expected, rel=SAME_RTOL)


def test_mean_is_the_closed_form():
    quadratic, noise = _axis_problem()
    model = NoisyQuadratic(quadratic, noise)
    for method in (GD(0.4), Momentum(0.3, 0.8), Preconditioned(0.3, np.linspace(0.5, 2, 6))):
        steps = [0, 3, 50, 400]
        assert_allclose(moments(model, method, np.ones(6), steps).mean,
                        closed_form(quadratic, method, np.ones(6), steps).w, rtol=1e-12,
                        atol=1e-12)


def test_deterministic_problem_is_the_noise_free_case():
    quadratic, _ = _axis_problem()
    exact = moments(quadratic, Momentum(0.3, 0.8), np.ones(6), [0, 10, 100])
    assert_allclose(exact.loss, closed_form(quadratic, Momentum(0.3, 0.8), np.ones(6),
                                            [0, 10, 100]).loss, rtol=1e-12)
    assert_allclose(exact.loss_var, 0.0, atol=0)


def test_ema_loss_stays_positive_as_gamma_and_beta_approach_one():
    # Where the NQM notebook's eigendecomposition returns negative expected losses.
    h = np.geomspace(1e-4, 1.0, 100)
    nqm = NoisyQuadratic(Quadratic(h), batch_size=1)
    for rho in (1 - 1e-5, 1 - 1e-4, 0.999):
        for lr in (1e-6, 1e-3, 0.5):
            exact = moments(nqm, GD(lr, ema=rho), np.ones(100), [1, 10, 10**3, 10**6])
            assert np.all(exact.ema_loss > 0.0) and np.all(exact.loss > 0.0)
    for beta in (1 - 1e-5, 0.9999):
        exact = moments(nqm, Momentum(1e-4, beta), np.ones(100), [1, 10**3, 10**6, 10**9])
        assert np.all(exact.loss > 0.0)


ENUMERATED = [
    (1, True, GD(0.2)), (2, True, GD(0.2)), (2, False, GD(0.2)), (3, False, GD(0.2)),
    (2, True, Momentum(0.15, 0.5)), (2, False, Nesterov(0.15, 0.5)),
    (1, True, GD(0.2, ema=0.6)), (2, False, Momentum(0.1, 0.5, ema=0.5)),
]


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize(("batch", "replace", "method"), ENUMERATED,
                         ids=[f"B{b}-{'with' if r else 'without'}-{type(m).__name__}"
                              f"{'-ema' if m.ema else ''}" for b, r, m in ENUMERATED])
def test_minibatch_moments_against_enumeration(batch, replace, method, l2):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    y = X @ np.ones(3) + rng.normal(size=4)
    model = Minibatch(LinearRegression(X, y, l2=l2), batch, replace=replace)
    exact = moments(model, method, np.zeros(3), 3)
    rho = 0.0 if method.ema is None else method.ema
    loss, average_loss = enumerated_minibatch_loss(X, y, l2, batch, replace, method.lr,
                                                   method.momentum, method.lookahead, rho, 3)
    assert_allclose(exact.loss, loss, rtol=ENUMERATION_RTOL)
    if method.ema is not None:
        assert_allclose(exact.ema_loss, average_loss, rtol=ENUMERATION_RTOL)


def _online(batch_size=3, d=4):
    rng = np.random.default_rng(8)
    factor = rng.normal(size=(d, d)) / np.sqrt(d)
    return OnlineRegression(factor @ factor.T + 0.05 * np.eye(d), rng.normal(size=d), 0.3,
                            batch_size)


@pytest.mark.parametrize("method", [
    GD(0.4), Momentum(0.2, 0.7), Nesterov(0.2, 0.7),
    GD(0.5, schedule=schedules.cosine_decay(60)),
    Preconditioned(0.3, np.diag([1.5, 1.0, 0.7, 0.5]) + 0.1),
], ids=["sgd", "heavy-ball", "nesterov", "sgd-cosine", "preconditioned"])
def test_online_moments_equal_the_dense_recursion(method):
    # The per-axis closure against the full second moment of (e_t, e_{t−1}) in the raw
    # coordinates, with the Gaussian fourth moment written out (tests/reference.py).
    model = _online()
    w0 = np.array([1.0, -2.0, 0.5, 0.0])
    T = 60
    exact = moments(model, method, w0, np.arange(T + 1))
    P = method.matrix if isinstance(method, Preconditioned) else None
    dense = online_regression_loss(model.covariance, model.teacher, model.noise,
                                   model.batch_size, method.learning_rates(T) *
                                   np.ones(T), method.momentum, method.lookahead, w0, T, P)
    assert_allclose(exact.loss, dense, rtol=RECURSION_RTOL)
    assert_allclose(exact.mean, closed_form(model, method, w0, np.arange(T + 1)).w,
                    rtol=RECURSION_RTOL, atol=1e-14)


def test_online_sgd_steady_state_and_the_noise_free_limit():
    a = np.linspace(0.05, 1.0, 40)
    lr, B, noise = 0.2, 4, 0.2  # S ≈ 0.57
    model = OnlineRegression(a, np.ones(40), noise, B)
    S = np.sum(lr * a / (B * (2 - lr * a * (1 + 1 / B))))
    exact = moments(model, GD(lr), np.zeros(40), [4000])
    assert exact.loss[0] - 0.5 * noise == pytest.approx(0.5 * noise * S / (1 - S),
                                                        rel=SAME_RTOL * 100)
    # Past lr·a·(1 + 1/B) = 2 the second moment of that axis grows without bound (here
    # by ~8× a step), though the mean still converges (lr·a < 2).
    unstable = OnlineRegression(a, np.ones(40), noise, 1)
    assert moments(unstable, GD(1.9), np.zeros(40), [2000]).diverged_at == 2000
    # B → ∞: no noise left, the expected loss is the loss of the mean.
    huge = model.with_batch_size(10**15)
    steps = [0, 5, 50]
    assert_allclose(moments(huge, Momentum(0.3, 0.5), np.zeros(40), steps).loss,
                    closed_form(huge, Momentum(0.3, 0.5), np.zeros(40), steps).loss,
                    rtol=1e-12)


def test_online_moments_at_full_size_without_a_matrix():
    model = OnlineRegression(nqm_spectrum(10_000), np.ones(10_000), 0.1, 8)
    exact = moments(model, Momentum(0.5, 0.5, ema=0.9), np.zeros(10_000), [0, 10, 20])
    assert exact.mean.shape == (3, 10_000)
    assert np.all(np.diff(exact.loss) < 0) and np.all(np.diff(exact.ema_loss) < 0)


def test_full_batch_without_replacement_is_deterministic_gd():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 4))
    regression = LinearRegression(X, rng.normal(size=10), l2=0.1)
    exact = moments(Minibatch(regression, 10, replace=False), Momentum(0.1, 0.5),
                    np.ones(4), [0, 5, 50])
    gd = closed_form(regression, Momentum(0.1, 0.5), np.ones(4), [0, 5, 50])
    assert_allclose(exact.loss, gd.loss, rtol=1e-12)
    assert_allclose(exact.mean, gd.w, rtol=1e-12, atol=1e-13)


def test_minibatch_moments_refuse_reshuffling_and_large_d():
    X = np.ones((4, 2))
    model = Minibatch(LinearRegression(X, np.ones(4)), 2, replace=False, reshuffle=True)
    with pytest.raises(ValueError, match="reshuffling has no exact moment recursion"):
        moments(model, GD(0.1), np.zeros(2), 3)
    wide = Minibatch(LinearRegression(np.ones((2, 1001)), np.ones(2)), 1)
    with pytest.raises(ValueError, match="d = 1001 exceeds its limit 1000"):
        moments(wide, GD(0.1), np.zeros(1001), 3)


def test_nqm_at_full_size_without_a_matrix():
    d = 10_000
    h = 1.0 / np.arange(1, d + 1)
    nqm = NoisyQuadratic(Quadratic(h), batch_size=16)
    exact = moments(nqm, Preconditioned(0.5, h**-0.5), np.ones(d), [0, 100, 10**4])
    assert exact.mean.shape == (3, d)
    # Per axis, with u = P^-½ w: curvature √h, start h^¼, noise √h/B, r = 1 − lr√h.
    curvature, start, noise = np.sqrt(h), h**0.25, np.sqrt(h) / 16
    r = 1.0 - 0.5 * curvature
    for t, loss in zip([0, 100, 10**4], exact.loss, strict=True):
        decay = r ** (2 * t)
        variance = 0.25 * noise * (1 - decay) / (1 - r**2)
        assert loss == pytest.approx(np.sum(0.5 * curvature * (decay * start**2 + variance)),
                                     rel=1e-12)


def test_divergence_is_reported():
    nqm = NoisyQuadratic(Quadratic(np.array([1.0, 2.0])))
    exact = moments(nqm, GD(1.01), np.ones(2), [0, 10, 10**4, 10**6])
    assert exact.diverged_at == 10**6
    assert np.isfinite(exact.loss[2]) and not np.isfinite(exact.loss[3])


@pytest.mark.parametrize("method", [GD(0.4, ema=0.9), Momentum(0.3, 0.8, ema=0.5),
                                    Nesterov(0.25, 0.7, schedule=schedules.step_decay(7, 0.5)),
                                    GD(0.3, schedule=schedules.cosine_decay(20))],
                         ids=["sgd-ema", "heavy-ball-ema", "nesterov-step", "gd-cosine"])
def test_closed_form_takes_schedules_and_moving_averages(method):
    quadratic, _ = _axis_problem()
    w0 = np.array([1.0, -1.0, 2.0, 0.5, -0.3, 0.2])
    run = closed_form(quadratic, method, w0, [0, 1, 5, 30])
    lrs = method.learning_rates(30)
    rho = 0.0 if method.ema is None else method.ema
    for j in range(6):
        path = axis_moments(quadratic.A[j], quadratic.b[j], 0.0, w0[j], lrs,
                            method.momentum, method.lookahead, rho, 30)[[0, 1, 5, 30]]
        assert_allclose(run.w[:, j], path[:, 0], rtol=RECURSION_RTOL, atol=1e-14)
        if method.ema is not None:
            assert_allclose(run.ema[:, j], path[:, 2], rtol=RECURSION_RTOL, atol=1e-14)
    assert_allclose(run.loss, quadratic.value(run.w), rtol=1e-12)
    assert (run.ema is None) == (method.ema is None)
    if method.ema is not None:
        assert_allclose(run.ema_loss, quadratic.value(run.ema), rtol=1e-12)


@pytest.mark.parametrize("basis", ["raw", "eigen"])
@pytest.mark.parametrize("method", [GD(0.4, ema=0.9), Momentum(0.3, 0.8, ema=0.5),
                                    Nesterov(0.25, 0.7, schedule=schedules.step_decay(7, 0.5)),
                                    GD(0.3, schedule=schedules.cosine_decay(20))],
                         ids=["sgd-ema", "heavy-ball-ema", "nesterov-step", "gd-cosine"])
def test_simulate_takes_schedules_and_moving_averages(method, basis):
    quadratic = Quadratic.from_eigenvalues([0.2, 0.5, 1.0, 1.5], [0.3, -0.2, 0.1, 0.4],
                                           rng=3)
    w0 = np.array([1.0, -1.0, 2.0, 0.5])
    run = simulate(quadratic, method, w0, [0, 1, 5, 30], basis=basis)
    theory = closed_form(quadratic, method, w0, [0, 1, 5, 30])
    assert_allclose(run.w, theory.w, rtol=1e-12, atol=1e-14)
    assert_allclose(run.loss, theory.loss, rtol=1e-12, atol=1e-14)
    if method.ema is not None:
        assert_allclose(run.ema, theory.ema, rtol=1e-12, atol=1e-14)
        assert_allclose(run.ema_loss, theory.ema_loss, rtol=1e-12, atol=1e-14)
