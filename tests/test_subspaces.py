"""Gradient subspaces: simulated against the per-axis closed form and dense linear algebra."""

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose

from quadsim import (
    GD,
    GradientFlow,
    LinearRegression,
    Momentum,
    Nesterov,
    Preconditioned,
    Quadratic,
    schedules,
)
from quadsim.calculus import finite_difference_directional, projector
from quadsim.subspaces import (
    gradient_fraction,
    gradient_subspace,
    principal_angles,
    top_eigenvectors,
)

#: Fractions from the simulated iterates against the per-axis closed form: both are
#: ratios of sums of squares of the gradient, which the simulation carries with an
#: absolute error ~eps·‖W‖·‖A‖ (so compared only while ‖G_t‖ is well above that).
FRACTION_ATOL = 1e-9
#: Dense twins (eigh, SVD, subspace_angles) of the same numbers: rounding only.
DENSE_ATOL = 1e-10
#: Fractions computed two ways from the same gradient, and their bounds: rounding of
#: sums of squares.
ROUNDING = 1e-12
#: The per-axis closed form against the explicit GD formula from numpy's eigh (two
#: eigendecompositions of A agree to ~κ·eps in the axes).
FORMULA_RTOL = 1e-10
#: Finite-difference directional derivatives (relative).
FD_RTOL = 1e-7

STEPS = np.array([0, 1, 2, 5, 10, 30, 80])


def quadratic():
    return Quadratic.from_eigenvalues(np.geomspace(0.05, 2.0, 7), b=np.linspace(-1, 1, 7),
                                      c=0.3, rng=2)


def regression(m=3):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 7)) * np.geomspace(0.3, 1.5, 7)
    Y = rng.normal(size=(30, m)) if m else rng.normal(size=30)
    return LinearRegression(X, Y, l2=0.01), rng.normal(size=(m, 7) if m else 7)


PROBLEMS = {
    "quadratic": lambda: (quadratic(), np.random.default_rng(4).normal(size=7)),
    "regression": lambda: regression(0),
    "matrix-regression": lambda: regression(3),
}
METHODS = {
    "gd": GD(0.6),
    "momentum": Momentum(0.3, 0.7),
    "nesterov": Nesterov(0.3, 0.6),
    "momentum-step-decay": Momentum(0.3, 0.7, schedule=schedules.step_decay(8, 0.5)),
}


@pytest.mark.parametrize("method_name", sorted(METHODS))
@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
def test_simulated_fraction_equals_the_closed_form(problem_name, method_name):
    problem, w0 = PROBLEMS[problem_name]()
    for k in (1, 3, 7):
        run = gradient_subspace(problem, METHODS[method_name], w0, STEPS, k)
        assert_allclose(run.fraction, run.fraction_theory, rtol=0, atol=FRACTION_ATOL)
        assert np.all((run.fraction >= 0) & (run.fraction <= 1 + ROUNDING))
        if k == 7:
            assert_allclose(run.fraction, 1.0, rtol=ROUNDING)


def test_gradient_flow_fraction_equals_the_closed_form():
    problem, W0 = regression(3)
    times = np.array([0.0, 0.5, 2.0, 10.0])
    run = gradient_subspace(problem, GradientFlow(), W0, times, 2)
    assert_allclose(run.fraction, run.fraction_theory, rtol=0, atol=FRACTION_ATOL)


def test_gd_fraction_against_the_explicit_formula_from_eigh():
    # Σ_{top k} a_j² (1 − lr a_j)^{2t} ẽ_j(0)² / Σ_j ..., rows summed, from numpy's eigh.
    problem, W0 = regression(3)
    A = problem.X.T @ problem.X / problem.n_samples + problem.l2 * np.eye(7)
    a, Q = np.linalg.eigh(A)
    W_star = np.linalg.solve(A, problem.X.T @ problem.y / problem.n_samples).T
    e0 = (W0 - W_star) @ Q  # (m, d), columns by ascending a
    lr, k = 0.6, 2
    t = STEPS[:, None, None]
    g2 = (a**2 * (1 - lr * a) ** (2 * t) * e0**2)
    expected = g2[..., -k:].sum(axis=(1, 2)) / g2.sum(axis=(1, 2))
    run = gradient_subspace(problem, GD(lr), W0, STEPS, k)
    assert_allclose(run.fraction_theory, expected, rtol=FORMULA_RTOL)
    top = top_eigenvectors(problem, k)
    assert_allclose(projector(top), Q[:, -k:] @ Q[:, -k:].T, atol=DENSE_ATOL)


def test_fraction_is_a_ratio_of_directional_derivatives_and_bounded_by_principal_angles():
    problem, W0 = regression(3)
    rng = np.random.default_rng(5)
    for k in (1, 2, 5):
        top = top_eigenvectors(problem, k)
        for W in (W0, rng.normal(size=(3, 7))):
            G = problem.grad(W)
            P = projector(top)
            fraction = gradient_fraction(G, top)
            assert_allclose(fraction, np.sum((G @ P) ** 2) / np.sum(G**2), rtol=ROUNDING)
            # A step along the projected gradient lowers L at rate ‖GP‖², the full one ‖G‖².
            along = finite_difference_directional(problem.value, W, -G @ P)
            full = finite_difference_directional(problem.value, W, -G)
            assert_allclose(along / full, fraction, rtol=FD_RTOL)
            angles = principal_angles(top, G)
            reference = np.sort(scipy.linalg.subspace_angles(top, G.T))
            assert_allclose(angles, reference, atol=DENSE_ATOL)
            cos2 = np.cos(angles) ** 2
            lower = cos2.min() if k >= 3 else 0.0  # rank G = 3: k < 3 leaves directions at 90°
            assert lower - ROUNDING <= fraction <= cos2.max() + ROUNDING
    # A rank-1 gradient (vector weights): the fraction is cos² of the one angle.
    vector, w0 = regression(0)
    top = top_eigenvectors(vector, 3)
    g = vector.grad(w0)
    (angle,) = principal_angles(top, g)
    assert_allclose(gradient_fraction(g, top), np.cos(angle) ** 2, rtol=ROUNDING)


def test_update_span_against_dense_svd():
    problem, W0 = regression(3)
    run = gradient_subspace(problem, Momentum(0.3, 0.7), W0, STEPS, 2)
    assert np.isnan(run.update_fraction[0]) and np.all(np.isnan(run.update_angles[0]))
    for t in range(1, STEPS.size):
        _, _, Vt = np.linalg.svd(run.trajectory.w[t] - W0)
        D = Vt[:2].T
        G = problem.grad(run.trajectory.w[t])
        assert_allclose(run.update_fraction[t], np.sum((G @ D) ** 2) / np.sum(G**2),
                        atol=DENSE_ATOL)
        assert_allclose(run.update_angles[t], np.sort(scipy.linalg.subspace_angles(D, G.T)),
                        atol=DENSE_ATOL)
        assert_allclose(run.angles[t], np.sort(scipy.linalg.subspace_angles(
            top_eigenvectors(problem, 2), G.T)), atol=DENSE_ATOL)


def test_bad_subspace_inputs():
    problem, W0 = regression(3)
    with pytest.raises(ValueError, match=r"`k` must lie in 1..d = 7; got 8"):
        gradient_subspace(problem, GD(0.1), W0, 3, 8)
    with pytest.raises(ValueError, match=r"`k` must lie in 1..d = 7; got 0"):
        top_eigenvectors(problem, 0)
    for bad in (1.5, True, "2"):
        with pytest.raises(TypeError, match=r"`k` must be an integer number of directions"):
            gradient_subspace(problem, GD(0.1), W0, 3, bad)
    with pytest.raises(TypeError, match=r"`method` must move along the eigenvectors of A"):
        gradient_subspace(problem, Preconditioned(0.1, np.eye(7)), W0, 3, 2)
    with pytest.raises(ValueError, match=r"`w0` must have shape \(3, 7\)"):
        gradient_subspace(problem, GD(0.1), W0.T, 3, 2)
    with pytest.raises(ValueError, match=r"`basis` must have 7 rows"):
        gradient_fraction(W0, np.eye(5))
