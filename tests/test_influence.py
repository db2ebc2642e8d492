"""Influence estimates, leverages and exact leave-one-out refits."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import LinearRegression
from quadsim.families import sample_weight_family
from quadsim.influence import influence, leave_one_out, leverage
from quadsim.response import response_jacobian

#: Dense linear algebra on d = 5 problems with κ <= 1e2: a few hundred ulps.
LINALG_RTOL = 1e-12
#: A difference of two nearly equal O(1)-relative quantities is accurate in absolute,
#: not relative, terms: a few hundred ulps of the larger one.
DIFFERENCE_ATOL = 1e-11

N_SAMPLES, DIM = 25, 5


@pytest.fixture(params=[0.0, 0.3], ids=["ols", "ridge"])
def regression(request):
    """A design with high-leverage rows (three scaled up), with and without l2."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, DIM))
    X[:3] *= 4.0
    return LinearRegression(X, X @ rng.normal(size=DIM) + rng.normal(size=N_SAMPLES),
                            l2=request.param)


def _hessian(regression):
    return regression.X.T @ regression.X / N_SAMPLES + regression.l2 * np.eye(DIM)


def _scale(changes):
    return LINALG_RTOL * np.max(np.abs(changes))


def test_influence_is_minus_inverse_hessian_times_the_example_gradient(regression):
    H = _hessian(regression)
    w_star = np.linalg.solve(H, regression.X.T @ regression.y / N_SAMPLES)
    residual = regression.X @ w_star - regression.y
    expected = np.array([-np.linalg.solve(H, r * x) / N_SAMPLES
                         for x, r in zip(regression.X, residual, strict=True)])
    actual = influence(regression)
    assert_allclose(actual, expected, rtol=LINALG_RTOL, atol=_scale(expected))
    # It is the response Jacobian of the per-example weights at θ = 1, transposed.
    weights = response_jacobian(sample_weight_family(regression), np.ones(N_SAMPLES))
    assert_allclose(actual, weights.T, rtol=LINALG_RTOL, atol=_scale(expected))


def test_leverage_is_the_diagonal_of_the_hat_matrix(regression):
    X = regression.X
    hat = X @ np.linalg.solve(_hessian(regression), X.T) / N_SAMPLES
    h = leverage(regression)
    assert_allclose(h, np.diag(hat), rtol=LINALG_RTOL, atol=LINALG_RTOL)
    assert np.all((h >= 0) & (h < 1))
    s = np.linalg.eigvalsh(X.T @ X / N_SAMPLES)
    assert_allclose(np.sum(h), np.sum(s / (s + regression.l2)), rtol=LINALG_RTOL)


def test_sherman_morrison_equals_the_refits(regression):
    refits = leave_one_out(regression, method="refit")
    assert_allclose(leave_one_out(regression), refits, rtol=LINALG_RTOL,
                    atol=_scale(refits))


def test_refit_is_the_minimizer_without_the_example(regression):
    keep = np.arange(1, N_SAMPLES)
    X, y = regression.X[keep], regression.y[keep]
    # Weight 0 with the 1/n normalisation kept (n = N_SAMPLES, not N_SAMPLES − 1).
    w_without = np.linalg.solve(X.T @ X / N_SAMPLES + regression.l2 * np.eye(DIM),
                                X.T @ y / N_SAMPLES)
    w_star = np.linalg.solve(_hessian(regression),
                             regression.X.T @ regression.y / N_SAMPLES)
    change = leave_one_out(regression, method="refit")[0]
    assert_allclose(change, w_without - w_star, rtol=LINALG_RTOL, atol=_scale(change))


def test_exact_change_is_the_influence_estimate_over_one_minus_leverage(regression):
    refits = leave_one_out(regression, method="refit")
    estimate = -influence(regression)  # w*_{−i} − w* ≈ +H⁻¹∇ℓ_i/n
    corrected = estimate / (1.0 - leverage(regression))[:, None]
    assert_allclose(corrected, refits, rtol=LINALG_RTOL, atol=_scale(refits))
    # The first-order estimate alone is off by the factor 1/(1 − h_ii): its relative
    # error is exactly the leverage.
    gap = np.linalg.norm(refits - estimate, axis=1) / np.linalg.norm(refits, axis=1)
    assert_allclose(gap, leverage(regression), rtol=0, atol=DIFFERENCE_ATOL)


def test_an_example_with_leverage_one_cannot_be_left_out():
    rng = np.random.default_rng(1)
    X = np.hstack([rng.normal(size=(6, 2)), np.zeros((6, 1))])
    X[4, 2] = 1.0  # the only example that sees the third feature
    problem = LinearRegression(X, rng.normal(size=6))
    with pytest.raises(ValueError,
                       match=r"example 4 has leverage h_ii = (1|0\.9{12,}\d*) ≈ 1: without it"):
        leave_one_out(problem)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda p: influence(p.quadratic), TypeError,
     "`problem` must be a LinearRegression; got RegressionQuadratic"),
    (lambda p: leave_one_out(p, method="jackknife"), ValueError,
     r"`method` must be one of \('sherman-morrison', 'refit'\); got 'jackknife'"),
    (lambda p: leverage(LinearRegression(p.X[:3], p.y[:3])), ValueError,
     r"training Hessian XᵀX/n \+ l2·I of `problem` is singular"),
])
def test_bad_inputs_are_named(regression, call, error, message):
    with pytest.raises(error, match=message):
        call(regression)
