"""The affine families against their dense definitions and finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import LinearRegression, Quadratic
from quadsim.families import (
    AffineFamily,
    feature_decay_family,
    ridge_family,
    sample_weight_family,
    target_family,
)

#: Dense linear algebra on O(1) entries.
LINALG_RTOL = 1e-12
#: Central differences of an affine function of θ: exact up to rounding / step.
FD_RTOL = 1e-8


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(2)
    return LinearRegression(rng.normal(size=(12, 4)), rng.normal(size=12), l2=0.2)


@pytest.mark.parametrize(("make", "theta_of"), [
    (ridge_family, lambda reg: np.array([reg.l2])),
    (feature_decay_family, lambda reg: np.zeros(reg.dim)),
    (target_family, lambda reg: reg.y),
    (sample_weight_family, lambda reg: np.ones(reg.n_samples)),
])
def test_each_family_reproduces_its_problem(regression, make, theta_of):
    family = make(regression)
    q = family.quadratic(theta_of(regression))
    assert_allclose(q.A, regression.quadratic.A, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    assert_allclose(q.b, regression.quadratic.b, rtol=LINALG_RTOL, atol=LINALG_RTOL)


@pytest.mark.parametrize("make", [ridge_family, feature_decay_family, target_family,
                                  sample_weight_family])
def test_mixed_products_are_the_derivative_of_the_gradient(regression, make):
    family = make(regression)
    rng = np.random.default_rng(0)
    theta = rng.uniform(0.5, 1.5, family.n_params)
    w = rng.normal(size=family.dim)
    step = 1e-6
    numeric = np.stack([
        (family.quadratic(theta + step * e).grad(w) - family.quadratic(theta - step * e).grad(w))
        / (2 * step) for e in np.eye(family.n_params)], axis=1)
    mixed = family.mixed_jacobian(w)
    assert_allclose(mixed, numeric, rtol=FD_RTOL, atol=FD_RTOL * np.max(np.abs(mixed)))
    v, u = rng.normal(size=family.n_params), rng.normal(size=family.dim)
    assert_allclose(family.mixed_jvp(w, v), mixed @ v, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    assert_allclose(family.mixed_vjp(w, u), mixed.T @ u, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    X = rng.normal(size=(family.dim, 3))
    assert_allclose(family.hvp(theta, X), family.A(theta) @ X, rtol=LINALG_RTOL,
                    atol=LINALG_RTOL)


def test_sample_weights_are_matrix_free(regression):
    family = sample_weight_family(regression)
    assert family.L.shape == (regression.dim, regression.n_samples)
    assert family.R.shape == (regression.n_samples, regression.dim)


def test_bad_families():
    A = np.eye(2)
    with pytest.raises(ValueError, match=r"`L` must have shape \(2, 1\); got \(2, 2\)"):
        AffineFamily(A, [0.0, 0.0], [0.0], np.eye(2), np.zeros((1, 2)), [0.0])
    with pytest.raises(ValueError, match=r"each `R\[k, :\]` must be a multiple of `L\[:, k\]`"):
        AffineFamily(A, [0.0, 0.0], [0.0], [[1.0], [0.0]], [[0.0, 1.0]], [0.0])
    with pytest.raises(TypeError, match="`problem` must be a LinearRegression; got Quadratic"):
        ridge_family(Quadratic(A))
    with pytest.raises(ValueError, match=r"`theta \(per-feature decays\)` must have shape"):
        feature_decay_family(LinearRegression(np.eye(2), [1.0, 0.0])).A([1.0])
