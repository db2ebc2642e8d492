"""The calculus toolkit against dense linear algebra and finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import LinearRegression, Quadratic
from quadsim.calculus import (
    check_grad,
    directional_derivative,
    finite_difference_directional,
    finite_difference_hvp,
    gauss_newton_vp,
    hvp,
    loss_jvp,
    loss_vjp,
    model_jacobian,
    model_jvp,
    model_vjp,
    projector,
)

#: A right gradient against check_grad's extrapolated central differences: rounding,
#: ~eps^(2/3) ≈ 4e-11 times the ratio of the function's scale to its gradient's (the
#: functions below reach 3e-11; log-sum-exp at 500 too, where plain central differences
#: at the same step are off by 2e-7).
GRAD_RTOL = 1e-9
#: A wrong gradient must be flagged by far more than the check's own error.
WRONG_ABOVE = 1e-2
#: Matrix-free products against the dense matrices: rounding only.
DENSE_RTOL = 1e-12
#: Two constructions of one projector (SVD here, pinv or other columns there): each is
#: off by ~eps·κ(V) in its entries.
PROJECTOR_ATOL = 1e-10
#: Finite-difference directional derivatives and HVPs (step eps^(1/3)): ~eps^(2/3)
#: relative, times the scale ratio.
FD_RTOL = 1e-8


def regression(m=3, l2=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 5))
    Y = rng.normal(size=(20, m)) if m else rng.normal(size=20)
    shape = (m, 5) if m else (5,)
    return LinearRegression(X, Y, l2=l2), rng.normal(size=shape), rng.normal(size=shape)


def test_check_grad_on_classic_identities():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))  # not symmetric
    x = rng.normal(size=4)
    assert check_grad(lambda x: x @ A @ x, lambda x: (A + A.T) @ x, x).error < GRAD_RTOL
    # ∇_V ‖X − UV‖²_F = −2Uᵀ(X − UV), a function of a matrix.
    X, U, V = rng.normal(size=(5, 6)), rng.normal(size=(5, 3)), rng.normal(size=(3, 6))
    check = check_grad(lambda V: np.sum((X - U @ V) ** 2), lambda V: -2 * U.T @ (X - U @ V), V)
    assert check.error < GRAD_RTOL and check.analytic.shape == (3, 6)
    # ∇_W ½‖θ(Wx)‖² = (θ′(Wx) ⊙ θ(Wx)) xᵀ, for θ = tanh and the logistic function.
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    for theta, slope in ((np.tanh, lambda s: 1 - np.tanh(s) ** 2),
                         (lambda s: 1 / (1 + np.exp(-s)),
                          lambda s: np.exp(-s) / (1 + np.exp(-s)) ** 2)):
        check = check_grad(lambda W, t=theta: 0.5 * np.sum(t(W @ x) ** 2),
                           lambda W, t=theta, p=slope: np.outer(p(W @ x) * t(W @ x), x), W)
        assert check.error < GRAD_RTOL
    # ∇ log(eˣ + eʸ) = softmax(x, y), also far from 0 (a stable log-sum-exp).
    for point in ([0.3, -1.2], [500.0, 499.0]):
        check = check_grad(lambda z: np.logaddexp(z[0], z[1]),
                           lambda z: np.exp(z - np.logaddexp(z[0], z[1])), point)
        assert check.error < GRAD_RTOL


def test_check_grad_flags_a_wrong_gradient_and_where():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(5, 5))
    x = rng.normal(size=5)
    check = check_grad(lambda x: x @ A @ x, lambda x: 2 * A @ x, x)  # right for A = Aᵀ only
    assert check.error > WRONG_ABOVE
    right = (A + A.T) @ x
    assert check.worst == (int(np.argmax(np.abs(2 * A @ x - right))),)
    assert_allclose(check.numerical, right, rtol=FD_RTOL, atol=FD_RTOL * np.abs(right).max())
    assert not check.passed()
    # A wrong entry of a matrix gradient is located as a matrix index.
    W = rng.normal(size=(3, 4))

    def off_by_one_entry(W):
        g = 2 * W
        g[1, 2] += 0.5
        return g

    check = check_grad(lambda W: np.sum(W**2), off_by_one_entry, W)
    assert check.worst == (1, 2) and check.error > WRONG_ABOVE


def test_check_grad_bad_inputs():
    x = np.ones((3, 4))
    with pytest.raises(TypeError, match=r"`f` must be callable; got ndarray"):
        check_grad(x, lambda x: x, x)
    with pytest.raises(TypeError, match=r"`grad` must be callable; got float"):
        check_grad(np.sum, 2.0, x)
    with pytest.raises(ValueError, match=r"`grad\(x\)` must have the shape of `x`, "
                                         r"\(3, 4\); got \(4, 3\)"):
        check_grad(np.sum, lambda x: np.ones((4, 3)), x)
    with pytest.raises(TypeError, match=r"`f` must return a real number; got ndarray"):
        check_grad(lambda x: x.sum(axis=0), np.ones_like, x)
    with pytest.raises(ValueError, match=r"`x` must be finite"):
        check_grad(np.sum, np.ones_like, [1.0, np.nan])


def test_model_jacobian_products_against_the_3_tensor():
    rng = np.random.default_rng(3)
    x, U, v = rng.normal(size=5), rng.normal(size=(3, 5)), rng.normal(size=3)
    J = model_jacobian(x, 3)
    assert J.shape == (3, 3, 5)
    assert_allclose(model_jvp(x, U), np.tensordot(J, U), rtol=DENSE_RTOL)
    assert_allclose(model_jvp(x, U), U @ x, rtol=DENSE_RTOL)
    assert_allclose(model_vjp(x, v), np.tensordot(v, J, 1), rtol=DENSE_RTOL)
    assert np.linalg.matrix_rank(model_vjp(x, v)) == 1
    # The adjoint identity ⟨J U, V⟩ = ⟨U, Jᵀ V⟩, for a batch too.
    X, V = rng.normal(size=(7, 5)), rng.normal(size=(7, 3))
    assert_allclose(np.vdot(model_jvp(X, U), V), np.vdot(U, model_vjp(X, V)), rtol=DENSE_RTOL)
    assert_allclose(model_vjp(X, V), sum(np.outer(V[s], X[s]) for s in range(7)),
                    rtol=DENSE_RTOL)
    with pytest.raises(ValueError, match=r"`U` must have 5 columns"):
        model_jvp(x, U.T)


@pytest.mark.parametrize("m", [0, 3])  # vector weights, matrix weights
def test_loss_derivatives_are_matrix_free_twins_of_dense_ones(m):
    problem, W, U = regression(m)
    A = problem.X.T @ problem.X / problem.n_samples + problem.l2 * np.eye(5)
    b = -(problem.X.T @ problem.y) / problem.n_samples
    dense_grad = W @ A + b.T  # (m, d) or (d,)
    assert_allclose(loss_vjp(problem, W), dense_grad, rtol=DENSE_RTOL)
    assert_allclose(loss_vjp(problem, W, 2.5), 2.5 * dense_grad, rtol=DENSE_RTOL)
    assert_allclose(loss_jvp(problem, W, U), np.vdot(dense_grad, U), rtol=DENSE_RTOL)
    assert_allclose(loss_jvp(problem, W, U),
                    finite_difference_directional(problem.value, W, U), rtol=FD_RTOL)
    assert_allclose(hvp(problem, U), U @ A, rtol=DENSE_RTOL)
    assert_allclose(hvp(problem, U), finite_difference_hvp(problem.grad, W, U), rtol=FD_RTOL)
    assert check_grad(problem.value, problem.grad, W).error < GRAD_RTOL
    # Gauss–Newton of a squared loss of a linear model is the Hessian.
    n = problem.n_samples
    gn = gauss_newton_vp(lambda V: model_jvp(problem.X, V), lambda Z: model_vjp(problem.X, Z),
                         lambda Z: Z / n, U) + problem.l2 * U
    assert_allclose(gn, hvp(problem, U), rtol=DENSE_RTOL)


def test_gauss_newton_misses_the_residual_term_of_a_nonlinear_model():
    # L(W) = ½‖tanh(W x) − y‖²: ∇²L[U] = J_zᵀJ_z U + ((z − y) ⊙ θ''(s) ⊙ (U x)) xᵀ.
    rng = np.random.default_rng(4)
    W, U, x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=4), \
        rng.normal(size=3)
    s = W @ x
    slope, curvature = 1 - np.tanh(s) ** 2, -2 * np.tanh(s) * (1 - np.tanh(s) ** 2)

    def grad(W):
        return np.outer((np.tanh(W @ x) - y) * (1 - np.tanh(W @ x) ** 2), x)

    assert check_grad(lambda W: 0.5 * np.sum((np.tanh(W @ x) - y) ** 2), grad, W).error \
        < GRAD_RTOL
    hessian = finite_difference_hvp(grad, W, U)
    gn = gauss_newton_vp(lambda V: slope * (V @ x), lambda v: np.outer(slope * v, x),
                         lambda v: v, U)
    residual_term = np.outer((np.tanh(s) - y) * curvature * (U @ x), x)
    assert np.linalg.norm(hessian - gn) > 0.1 * np.linalg.norm(hessian)
    assert_allclose(hessian - gn, residual_term, rtol=FD_RTOL,
                    atol=FD_RTOL * np.abs(hessian).max())
    # At zero residual (y = tanh(Wx)) the two agree.
    y = np.tanh(s)
    assert_allclose(finite_difference_hvp(grad, W, U), gn, rtol=FD_RTOL,
                    atol=FD_RTOL * np.abs(gn).max())


def test_directional_derivatives_of_functions_of_matrices():
    rng = np.random.default_rng(5)
    M = rng.normal(size=(4, 4))

    def f(M):  # log det(I + MᵀM)
        return np.linalg.slogdet(np.eye(4) + M.T @ M)[1]

    def grad(M):
        return 2 * M @ np.linalg.inv(np.eye(4) + M.T @ M)

    assert check_grad(f, grad, M).error < GRAD_RTOL
    vectors = rng.normal(size=(4, 2))
    P = projector(vectors)
    value = directional_derivative(grad, M, P)
    assert_allclose(value, np.trace(grad(M).T @ P), rtol=DENSE_RTOL)
    assert_allclose(value, finite_difference_directional(f, M, P), rtol=FD_RTOL)
    # The regression loss along the gradient projected onto a span of input directions.
    problem, W, _ = regression(3)
    G = problem.grad(W)
    along = G @ projector(rng.normal(size=(5, 2)))
    assert_allclose(directional_derivative(problem.grad, W, along),
                    finite_difference_directional(problem.value, W, along), rtol=FD_RTOL)
    with pytest.raises(ValueError, match=r"`v` must have the shape of `x`, \(4, 4\); got"):
        directional_derivative(grad, M, vectors)


def test_projector_is_the_orthogonal_projector_onto_the_span():
    rng = np.random.default_rng(6)
    V = rng.normal(size=(6, 3))
    P = projector(V)
    assert_allclose(P @ P, P, atol=DENSE_RTOL)
    assert_allclose(P, P.T, atol=DENSE_RTOL)
    assert_allclose(P @ V, V, atol=DENSE_RTOL * np.abs(V).max())
    assert_allclose(P, V @ np.linalg.pinv(V), atol=PROJECTOR_ATOL)
    assert round(np.trace(P)) == 3
    dependent = np.column_stack([V, V[:, 0] + V[:, 1]])
    assert_allclose(projector(dependent), P, atol=PROJECTOR_ATOL)
    with pytest.raises(ValueError, match=r"`vectors` must be a non-empty \(d, k\) array"):
        projector(np.empty((3, 0)))


def test_finite_difference_hvp_of_a_quadratic():
    q = Quadratic.from_eigenvalues(np.linspace(0.5, 3.0, 6), rng=7)
    v, x = np.random.default_rng(8).normal(size=(2, 6))
    assert_allclose(finite_difference_hvp(q.grad, x, v), q.A @ v, rtol=FD_RTOL,
                    atol=FD_RTOL * np.abs(q.A @ v).max())
    assert_allclose(hvp(q, v), q.A @ v, rtol=DENSE_RTOL)
