"""Quadratic and LinearRegression against their definitions."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import LinearRegression, Quadratic, Unbounded
from quadsim.problems import STATIONARY_KINDS

#: Linear algebra on d = 8 problems with entries O(1): a few ulps of the largest entry.
LINALG_RTOL = 1e-12


def test_value_grad_hvp_match_definitions(problem, w0):
    A, b, c = problem.A, problem.b, problem.c
    assert_allclose(problem.value(w0), 0.5 * w0 @ A @ w0 + b @ w0 + c, rtol=LINALG_RTOL)
    assert_allclose(problem.grad(w0), A @ w0 + b, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    assert_allclose(problem.hvp(w0), A @ w0, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    batch = np.stack([w0, 2 * w0])
    assert_allclose(problem.value(batch), [problem.value(w0), problem.value(2 * w0)],
                    rtol=LINALG_RTOL)


def test_eigendecomposition_is_cached_and_reconstructs_A(problem):
    assert problem.frame is problem.frame
    a, Q = problem.eigenvalues, problem.eigenvectors
    assert np.all(np.diff(a) >= 0)
    assert_allclose(Q.T @ Q, np.eye(problem.dim), atol=LINALG_RTOL)
    assert_allclose((Q * a) @ Q.T, problem.A, atol=LINALG_RTOL)
    w = np.arange(problem.dim, dtype=float)
    assert_allclose(problem.from_eigenbasis(problem.to_eigenbasis(w)), w, atol=LINALG_RTOL)


def test_from_eigenvalues_has_the_prescribed_spectrum_and_b():
    spectrum = np.array([3.0, -1.0, 0.0, 2.0])
    b_eigen = np.array([1.0, 2.0, 0.0, -1.0])
    q = Quadratic.from_eigenvalues(spectrum, b_eigen, rng=7)
    assert_allclose(q.eigenvalues, np.sort(spectrum), atol=LINALG_RTOL)
    order = np.argsort(spectrum)
    assert_allclose(np.abs(q.frame.b), np.abs(b_eigen[order]), atol=LINALG_RTOL)
    again = Quadratic.from_eigenvalues(spectrum, b_eigen, rng=7)
    assert_allclose(again.A, q.A, rtol=0, atol=0)


def test_minimizer_is_the_minimum_norm_solution(problem):
    if problem.classify() not in ("strict minimum", "degenerate"):
        with pytest.raises(Unbounded, match="unbounded below"):
            problem.minimizer()
        return
    w_star = problem.minimizer()
    assert_allclose(w_star, -np.linalg.pinv(problem.A, rcond=1e-10) @ problem.b,
                    rtol=1e-10, atol=1e-10)
    assert_allclose(problem.grad(w_star), 0.0, atol=1e-12)


def test_classify_names_every_situation():
    def make(spectrum, b_eigen=None):
        return Quadratic.from_eigenvalues(spectrum, b_eigen, rng=0).classify()

    assert make([1.0, 2.0]) == "strict minimum"
    assert make([-1.0, -2.0]) == "strict maximum"
    assert make([-1.0, 2.0]) == "saddle"
    assert make([0.0, 2.0], [0.0, 1.0]) == "degenerate"
    assert make([0.0, 2.0], [1.0, 1.0]) == "no stationary point"
    assert make([0.0, 0.0, 1.0], [0.0, 0.5, 1.0]) == "no stationary point"
    assert {make([1.0, 2.0]), make([-1.0, -2.0]), make([-1.0, 2.0]), make([0.0, 2.0]),
            make([0.0, 2.0], [1.0, 1.0])} == set(STATIONARY_KINDS)


@pytest.mark.parametrize(("spectrum", "b_eigen", "message"), [
    ([-1.0, 2.0], [0.0, 0.0], "negative eigenvalue"),
    ([0.0, 2.0], [1.0, 0.0], "null space"),
])
def test_minimizer_refuses_unbounded_problems(spectrum, b_eigen, message):
    with pytest.raises(Unbounded, match=message):
        Quadratic.from_eigenvalues(spectrum, b_eigen, rng=0).minimizer()


def test_null_space_splits_into_one_drifting_axis_and_frozen_ones():
    q = Quadratic.from_eigenvalues([0.0, 0.0, 0.0, 1.0], [0.3, -0.4, 1.2, 1.0], rng=3)
    null = q.eigenvalues == 0.0
    assert np.count_nonzero(null) == 3
    b_null = q.frame.b[null]
    assert np.count_nonzero(b_null) == 1
    assert_allclose(np.abs(b_null).max(), np.linalg.norm([0.3, -0.4, 1.2]), rtol=LINALG_RTOL)


def test_condition_number():
    assert_allclose(Quadratic.from_eigenvalues([1e-4, 0.5, 1.0], rng=0).condition_number,
                    1e4, rtol=1e-9)
    assert Quadratic(np.diag([-1.0, 1.0])).condition_number == np.inf


def test_linear_regression_equals_its_quadratic():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)), rng.normal(size=40)
    regression = LinearRegression(X, y, l2=0.25)
    q = regression.quadratic
    assert_allclose(q.A, X.T @ X / 40 + 0.25 * np.eye(6), rtol=LINALG_RTOL)
    assert_allclose(q.b, -X.T @ y / 40, rtol=LINALG_RTOL)
    assert_allclose(q.c, y @ y / 80, rtol=LINALG_RTOL)
    w = rng.normal(size=(3, 6))
    assert_allclose(regression.value(w), q.value(w), rtol=LINALG_RTOL)
    assert_allclose(regression.grad(w), q.grad(w), rtol=LINALG_RTOL, atol=LINALG_RTOL)
    ridge = np.linalg.solve(X.T @ X / 40 + 0.25 * np.eye(6), X.T @ y / 40)
    assert_allclose(q.minimizer(), ridge, rtol=1e-10)


def test_underdetermined_regression_gives_the_minimum_norm_interpolant():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(3, 6)), rng.normal(size=3)
    q = LinearRegression(X, y).quadratic
    assert q.classify() == "degenerate"
    assert_allclose(q.minimizer(), np.linalg.pinv(X) @ y, rtol=1e-9, atol=1e-12)
