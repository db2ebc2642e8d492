"""Quadratic and LinearRegression against their definitions."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import GD, LinearRegression, Quadratic, Unbounded, axis_regimes
from quadsim.kernels.jacobi import jacobi_diagonalise
from quadsim.problems import JACOBI_RTOL, STATIONARY_KINDS, SpectralFrame

#: Linear algebra on d = 8 problems with entries O(1): a few ulps of the largest entry.
LINALG_RTOL = 1e-12
#: Two SVDs of one X (the regression frame's and LAPACK's) each err by ~eps·‖X‖ in every
#: singular value: relative to s_min that is eps·κ(X) = 2e-12 at κ(X) = 1e4, and a_j = s_j²/n
#: doubles it; the slack is for the (modest) constants of either algorithm.
SVD_RTOL = 5e-11


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


def ill_conditioned_design(n, d, kappa_x, seed):
    """X = U diag(s) Vᵀ with Haar U, V and s spread geometrically over [1/κ(X), 1]·√n."""
    rng = np.random.default_rng(seed)
    k = min(n, d)
    U = np.linalg.qr(rng.normal(size=(n, k)))[0]
    V = np.linalg.qr(rng.normal(size=(d, k)))[0]
    return (U * np.sqrt(n) * np.geomspace(1.0, 1.0 / kappa_x, k)) @ V.T, rng.normal(size=n)


@pytest.mark.parametrize(("n", "d"), [(40, 12), (12, 12), (8, 14)])
@pytest.mark.parametrize("l2", [0.0, 1e-6])
def test_regression_frame_is_the_svd_of_X(n, d, l2):
    X, y = ill_conditioned_design(n, d, 1e4, seed=n + d)
    regression = LinearRegression(X, y, l2=l2)
    q = regression.quadratic
    frame = q.frame
    assert frame is q.frame
    s = np.linalg.svd(X, compute_uv=False)
    expected = np.sort(np.r_[s**2 / n, np.zeros(max(d - n, 0))]) + l2
    assert_allclose(frame.eigenvalues, expected, rtol=SVD_RTOL, atol=0)
    V = frame.basis
    assert_allclose(V.T @ V, np.eye(d), atol=LINALG_RTOL)
    assert_allclose(frame.inverse_basis, V.T, rtol=0, atol=0)
    assert_allclose((V * frame.eigenvalues) @ V.T, q.A, atol=LINALG_RTOL)
    assert_allclose(frame.b, V.T @ q.b, atol=LINALG_RTOL * np.max(np.abs(q.b)))
    assert frame.c == q.c


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_regression_null_axes_are_exact(l2):
    rng = np.random.default_rng(4)
    wide = LinearRegression(rng.normal(size=(3, 7)), rng.normal(size=3), l2=l2).quadratic
    X = rng.normal(size=(9, 4))
    duplicated = LinearRegression(np.c_[X, X[:, 1]], rng.normal(size=9), l2=l2).quadratic
    for q, nullity in ((wide, 4), (duplicated, 1)):
        frame = q.frame
        assert np.all(frame.eigenvalues[:nullity] == l2)
        assert np.all(frame.eigenvalues[nullity:] > l2)
        assert np.all(frame.b[:nullity] == 0.0)
        regimes = axis_regimes(q, GD(0.1))[:nullity]
        assert set(regimes) == ({"frozen"} if l2 == 0.0 else {"converging"})
        assert q.classify() == ("degenerate" if l2 == 0.0 else "strict minimum")


def test_regression_minimum_is_the_residual_loss():
    X, y = ill_conditioned_design(30, 6, 1e5, seed=2)
    for l2 in (0.0, 1e-4):
        regression = LinearRegression(X, y, l2=l2)
        frame = regression.quadratic.frame
        w_star = regression.quadratic.minimizer()
        assert frame.minimum == frame.optimum
        assert_allclose(frame.minimum, regression.value(w_star), rtol=LINALG_RTOL)
    # J* = 0 for an interpolant: what is left is the rounding of the residual Xw* − y.
    interpolating = LinearRegression(X[:4], y[:4]).quadratic.frame
    assert 0.0 <= interpolating.minimum <= 1e-24 * interpolating.c


def test_only_a_frame_that_knows_its_minimum_uses_the_offset_form():
    plain = Quadratic.from_eigenvalues([1.0, 2.0], [1.0, -1.0], rng=0).frame
    assert plain.optimum is None and plain.minimum is None
    with pytest.raises(ValueError, match="the frame knows no J\\*"):
        plain.value_from_offset(np.zeros(2))
    eye = np.eye(2)
    drifting = SpectralFrame(np.array([0.0, 1.0]), eye, eye, np.array([1.0, 0.0]), 0.0,
                             optimum=0.5)
    saddle = SpectralFrame(np.array([-1.0, 1.0]), eye, eye, np.zeros(2), 0.0, optimum=0.5)
    assert drifting.minimum is None and saddle.minimum is None
    bowl = SpectralFrame(np.array([2.0, 1.0]), eye, eye, np.array([-2.0, 1.0]), 3.0, optimum=1.5)
    assert bowl.minimum == 1.5
    assert_allclose(bowl.value_from_offset([[0.0, 0.0], [1.0, 2.0]]), [1.5, 1.5 + 1.0 + 2.0])


def test_jacobi_diagonalises_and_reports_running_out_of_sweeps():
    rng = np.random.default_rng(3)
    M = rng.normal(size=(6, 6))
    H = M @ M.T
    eigenvalues = np.linalg.eigvalsh(H)
    work, axes = H.copy(), np.eye(6)
    assert jacobi_diagonalise(work, axes, JACOBI_RTOL, 1, 0.0) == -1
    work, axes = H.copy(), np.eye(6)
    sweeps = jacobi_diagonalise(work, axes, JACOBI_RTOL, 30, 0.0)
    assert 0 < sweeps < 30
    # eigvalsh errs by eps·‖H‖ on the smallest eigenvalue (3.6e-5 here), Jacobi by less.
    assert_allclose(np.sort(np.diag(work)), eigenvalues, rtol=0, atol=LINALG_RTOL * np.max(H))
    assert_allclose(axes.T @ np.diag(np.diag(work)) @ axes, H, atol=LINALG_RTOL * np.max(H))
    assert len(jacobi_diagonalise.signatures) == 1
