"""Spectral tools for a non-symmetric W, each against an independent computation."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import GD, Momentum, closed_form, simulate
from quadsim.calculus import finite_difference_directional, projector
from quadsim.circular_law import edge_margin, ginibre
from quadsim.nonsymmetric import (
    best_rank_k,
    directional_cosine,
    gradient_angles,
    gradient_share,
    outlier_gradient,
    outlier_subspace,
    square_regression,
    subspace_fractions,
)

#: Invariant subspaces, projectors and eigenvalues from two decompositions (Schur, and
#: eig + QR) of the same W: outliers separated from the bulk by ≥ 0.3 amplify rounding
#: by at most ~1/0.3, so ~1e-14; eig's eigenvectors of a non-normal W lose a little more.
SUBSPACE_ATOL = 1e-10
#: Dense twins (SVD, eigh, subspace angles) of the same numbers: rounding only.
DENSE_ATOL = 1e-10
#: Central differences of the quadratic loss are exact up to rounding: eps^(2/3)-ish.
FD_RTOL = 1e-7
#: Simulated against closed-form trajectories, through one Schur decomposition per step:
#: the iterates agree to ~1e-14 relative and the subspaces' separation ≥ 0.3 keeps it so.
TWIN_ATOL = 1e-9


def teacher_matrix(d=60, seed=0):
    """A Gaussian bulk plus a non-normal rank-3 teacher: one real outlier, one pair."""
    rng = np.random.default_rng(seed)
    W = ginibre(d, rng=rng)
    U = np.linalg.qr(rng.normal(size=(d, 3)))[0]
    T = np.array([[2.0, 1.5, 0.0], [0.0, 1.2, -1.0], [0.0, 1.0, 1.2]])  # 2, 1.2 ± i
    return W + U @ T @ U.T


def eig_qr_basis(W, threshold):
    """The outliers' real invariant subspace from numpy's eig and a QR: [Re v, Im v]."""
    values, vectors = np.linalg.eig(W)
    chosen = np.abs(values) > threshold
    columns = []
    for value, vector in zip(values[chosen], vectors[:, chosen].T, strict=True):
        if value.imag >= 0:
            columns += [vector.real] + ([vector.imag] if value.imag > 0 else [])
    return np.linalg.qr(np.array(columns).T)[0], values[chosen]


def test_outlier_subspace_against_eig_and_qr():
    W = teacher_matrix()
    found = outlier_subspace(W)
    assert found.k == 3 and found.threshold == pytest.approx(1 + edge_margin(60))
    Q = found.basis
    assert_allclose(Q.T @ Q, np.eye(3), atol=SUBSPACE_ATOL)
    # Invariant: W Q = Q (Qᵀ W Q), with the outliers as the eigenvalues of the 3 × 3 block.
    block = Q.T @ W @ Q
    assert_allclose(W @ Q, Q @ block, atol=SUBSPACE_ATOL)
    reference, outliers = eig_qr_basis(W, found.threshold)
    assert_allclose(projector(Q), projector(reference), atol=SUBSPACE_ATOL)
    assert_allclose(np.sort_complex(found.outliers), np.sort_complex(outliers),
                    atol=SUBSPACE_ATOL)
    assert_allclose(np.sort_complex(np.linalg.eigvals(block)), np.sort_complex(outliers),
                    atol=SUBSPACE_ATOL)
    assert_allclose(np.sort_complex(found.eigenvalues), np.sort_complex(np.linalg.eigvals(W)),
                    atol=SUBSPACE_ATOL)
    # The complex pair is one real 2-d block: conjugates adjacent, their span real.
    pair = np.flatnonzero(found.outliers.imag != 0)
    assert pair.size == 2 and pair[1] == pair[0] + 1
    assert found.outliers[pair[0]] == np.conj(found.outliers[pair[1]])


def test_empty_outlier_set_is_a_result():
    W = ginibre(100, rng=0)
    found = outlier_subspace(W)
    assert found.k == 0 and found.basis.shape == (100, 0) and found.outliers.size == 0
    G = np.random.default_rng(1).normal(size=(100, 100))
    share = gradient_share(G, found, update=G)
    assert (share.fraction_left, share.fraction_right) == (0.0, 0.0)
    assert share.angles_left.size == 0 and share.angles_right.size == 0
    assert math.isnan(share.projector_cosine) and math.isnan(share.update_cosine)
    assert math.isnan(share.mean_cos2_left)
    # Every eigenvalue counts as an outlier against a small enough radius.
    assert outlier_subspace(W, radius=0.01, margin=0.0).k == 100


def regression_and_point(d=30, seed=0):
    problem, _ = square_regression(d, [1.8, 1.5 * np.exp(0.8j)], signal=6, rng=seed)
    W = ginibre(d, rng=seed + 1) + 0.3 * np.random.default_rng(seed + 2).normal(size=(d, d)) \
        / math.sqrt(d)
    return problem, W


def test_fractions_are_ratios_of_directional_derivatives():
    problem, W = regression_and_point(40)
    G = problem.grad(W)
    found = outlier_subspace(teacher_matrix(40, seed=5))
    assert found.k == 3
    P = projector(found.basis)
    left, right = subspace_fractions(G, found)
    assert_allclose(left, np.sum((P @ G) ** 2) / np.sum(G**2), rtol=1e-12)
    full = finite_difference_directional(problem.value, W, -G)
    assert_allclose(finite_difference_directional(problem.value, W, -P @ G) / full, left,
                    rtol=FD_RTOL)
    assert_allclose(finite_difference_directional(problem.value, W, -G @ P) / full, right,
                    rtol=FD_RTOL)
    # The directional derivative of L along the projector itself, and along ΔŴ_k.
    share = gradient_share(G, found, update=W - ginibre(40, rng=9))
    along_P = finite_difference_directional(problem.value, W, P)
    assert_allclose(share.projector_cosine,
                    along_P / (np.linalg.norm(G) * np.linalg.norm(P)), rtol=FD_RTOL)
    D = best_rank_k(W - ginibre(40, rng=9), 3)
    along_D = finite_difference_directional(problem.value, W, D)
    assert_allclose(share.update_cosine, along_D / (np.linalg.norm(G) * np.linalg.norm(D)),
                    rtol=FD_RTOL)
    assert_allclose(directional_cosine(G, D), share.update_cosine, rtol=1e-12)
    assert math.isnan(directional_cosine(G, np.zeros_like(G)))


def test_angles_against_svd_and_the_fraction_bounds():
    rng = np.random.default_rng(4)
    d, k = 40, 3
    found = outlier_subspace(teacher_matrix(d, seed=5))
    assert found.k == k
    Q = found.basis
    G = rng.normal(size=(d, d))
    left_vectors, _, right_vectors = np.linalg.svd(G)
    for side, span in (("left", left_vectors[:, :k]), ("right", right_vectors[:k].T)):
        cosines = np.linalg.svd(Q.T @ span, compute_uv=False)  # descending
        assert_allclose(np.cos(gradient_angles(G, found, side=side)), cosines, atol=DENSE_ATOL)
    # A rank-2 gradient (k = 3 ≥ rank): its fraction lies between the extreme cos².
    G2 = np.outer(rng.normal(size=d), rng.normal(size=d)) + \
        np.outer(Q[:, 0] + 0.3 * rng.normal(size=d), rng.normal(size=d))
    angles = gradient_angles(G2, found, side="left")
    assert angles.size == 2
    left, _ = subspace_fractions(G2, found)
    cos2 = np.cos(angles) ** 2
    assert cos2.min() - 1e-12 <= left <= cos2.max() + 1e-12
    assert gradient_angles(np.zeros((d, d)), found).size == 0


def test_best_rank_k_against_eigh_and_eckart_young():
    rng = np.random.default_rng(6)
    M = rng.normal(size=(30, 20))
    values, vectors = np.linalg.eigh(M.T @ M)  # ascending: the right singular vectors
    for k in (1, 4, 20):
        top = vectors[:, -k:]
        assert_allclose(best_rank_k(M, k), M @ top @ top.T, atol=DENSE_ATOL)
        residual = np.sum((M - best_rank_k(M, k)) ** 2)
        assert_allclose(residual, np.sum(values[:-k]), atol=DENSE_ATOL)
    assert not np.any(best_rank_k(M, 0))
    with pytest.raises(ValueError, match="at most min"):
        best_rank_k(M, 21)


def test_square_weights_simulated_and_in_closed_form():
    problem, W_star = square_regression(12, [1.5, 1.2 + 0.5j], signal=4, rng=0)
    assert problem.weight_shape == (12, 12)
    assert np.linalg.matrix_rank(W_star) == 3
    assert_allclose(np.sort(np.abs(np.linalg.eigvals(W_star)))[-3:],
                    np.sort([1.5, abs(1.2 + 0.5j), abs(1.2 + 0.5j)]), rtol=1e-12)
    W0 = ginibre(12, rng=1)
    for method in (GD(0.3), Momentum(0.2, 0.8)):
        raw = simulate(problem, method, W0, [0, 5, 50, 500])
        theory = closed_form(problem, method, W0, [0, 5, 50, 500])
        assert_allclose(raw.w, theory.w, rtol=0, atol=1e-10 * np.abs(theory.w).max())


@pytest.mark.parametrize("at", [None, 8])
def test_outlier_gradient_simulated_against_closed_form(at):
    problem, _ = square_regression(40, [1.8, 1.5 * np.exp(0.8j)], signal=6, rng=1)
    W0 = ginibre(40, rng=2)
    steps = [0, 1, 2, 4, 8, 16, 64, 256]
    run = outlier_gradient(problem, GD(0.3), W0, steps, at=at)
    sim, theory = run.simulated, run.theory
    assert np.array_equal(sim.k, theory.k)
    if at is None:
        assert sim.k[0] == 0 and sim.k[-1] == 3  # the outliers appear during training
    else:
        assert np.all(sim.k == 3)
    for name in ("fraction_left", "fraction_right", "projector_cosine", "update_cosine",
                 "mean_cos2_left"):
        assert_allclose(getattr(sim, name), getattr(theory, name), rtol=0, atol=TWIN_ATOL,
                        err_msg=name)
    assert_allclose(np.sort_complex(sim.eigenvalues[-1]), np.sort_complex(theory.eigenvalues[-1]),
                    atol=TWIN_ATOL)
    # By the end the teacher's directions have converged: little of the gradient is left
    # in them from the right (its rows lie along the weak inputs).
    assert sim.fraction_right[-1] < 0.01


def test_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        outlier_subspace(np.ones((3, 4)))
    with pytest.raises(ValueError, match="radius"):
        outlier_subspace(np.eye(3), radius=0.0)
    found = outlier_subspace(teacher_matrix(40, seed=5))
    with pytest.raises(ValueError, match="shape of W"):
        subspace_fractions(np.ones((40, 39)), found)
    with pytest.raises(ValueError, match="side"):
        gradient_angles(np.ones((40, 40)), found, side="up")
    with pytest.raises(TypeError, match="OutlierSubspace"):
        gradient_share(np.ones((40, 40)), found.basis)
    with pytest.raises(ValueError, match="shape of `G`"):
        directional_cosine(np.ones((3, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="signal"):
        square_regression(5, [1.0, 1.0 + 1.0j], signal=2)
    rectangular, _ = square_regression(6, [1.5], rng=0)
    wide = type(rectangular)(rectangular.X, rectangular.y[:, :4])
    with pytest.raises(ValueError, match="square weights"):
        outlier_gradient(wide, GD(0.1), np.zeros((4, 6)), 3)
    with pytest.raises(TypeError, match="matrix targets"):
        outlier_gradient(type(rectangular)(rectangular.X, rectangular.y[:, 0]), GD(0.1),
                         np.zeros(6), 3)
