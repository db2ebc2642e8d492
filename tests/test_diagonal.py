"""Problems given by their spectrum alone: the same numbers as the dense problem."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import (
    GD,
    Momentum,
    Nesterov,
    Preconditioned,
    Quadratic,
    axis_regimes,
    closed_form,
    closed_form_loss,
    convergence_rate,
    max_stable_lr,
    simulate,
)
from quadsim.problems import DENSE_DIAGONAL_LIMIT

#: Diagonal and dense problems differ only in the order of floating-point operations.
SAME_RTOL = 1e-12

SPECTRUM = np.array([0.5, 2.0, 0.0, 1.0, 0.0, 3.0])
LINEAR = np.array([0.3, -1.0, 0.7, 0.2, -0.4, 0.5])  # two drifting null axes


def pair():
    return Quadratic(SPECTRUM, LINEAR, 0.25), Quadratic(np.diag(SPECTRUM), LINEAR, 0.25)


def test_value_grad_hvp_match_the_dense_problem():
    diagonal, dense = pair()
    w = np.random.default_rng(0).normal(size=(3, 6))
    assert diagonal.is_diagonal and not dense.is_diagonal
    assert_allclose(diagonal.value(w), dense.value(w), rtol=SAME_RTOL)
    assert_allclose(diagonal.grad(w), dense.grad(w), rtol=SAME_RTOL, atol=SAME_RTOL)
    assert_allclose(diagonal.hvp(w[0]), dense.hvp(w[0]), rtol=SAME_RTOL, atol=SAME_RTOL)
    assert_allclose(diagonal.matrix, dense.A, rtol=0, atol=0)


def test_frame_sorts_the_coordinate_axes_without_a_matrix():
    diagonal, _ = pair()
    frame = diagonal.frame
    assert frame.is_diagonal and frame.basis is None
    assert np.all(np.diff(frame.eigenvalues) >= 0)
    assert_allclose(frame.eigenvalues, np.sort(SPECTRUM), rtol=0, atol=0)
    w = np.arange(6.0)
    assert_allclose(frame.from_eigen(frame.to_eigen(w)), w, rtol=0, atol=0)
    assert_allclose(frame.value(frame.to_eigen(w)), diagonal.value(w), rtol=SAME_RTOL)


@pytest.mark.parametrize("method", [GD(0.3), Momentum(0.2, 0.8), Nesterov(0.25, 0.6),
                                    Preconditioned(0.4, np.linspace(0.5, 1.5, 6))],
                         ids=["gd", "momentum", "nesterov", "preconditioned"])
def test_every_path_matches_the_dense_problem(method):
    diagonal, dense = pair()
    w0 = np.linspace(-1.0, 1.0, 6)
    steps = [0, 1, 5, 40, 10**6]
    reference = closed_form(dense, method, w0, steps)
    for basis in ("raw", "eigen"):
        run = simulate(diagonal, method, w0, steps[:-1], basis=basis)
        assert_allclose(run.w, reference.w[:-1], rtol=SAME_RTOL, atol=SAME_RTOL)
    theory = closed_form(diagonal, method, w0, steps)
    assert_allclose(theory.w, reference.w, rtol=1e-10, atol=1e-10)
    assert_allclose(closed_form_loss(diagonal, method, w0, steps), reference.loss, rtol=1e-10)


def test_each_null_axis_drifts_on_its_own():
    diagonal, _ = pair()
    run = closed_form(diagonal, GD(0.5), np.zeros(6), [0, 10, 10**9])
    null = SPECTRUM == 0.0
    assert_allclose(run.w[:, null], -0.5 * np.outer([0, 10, 10**9], LINEAR[null]), rtol=1e-15)
    assert sorted(axis_regimes(diagonal, GD(0.2))) == sorted(
        ["drifting", "drifting", "converging", "converging", "converging", "converging"])


def test_large_spectrum_runs_in_the_eigenbasis_and_refuses_the_raw_basis():
    d = 10_000
    h = 1.0 / np.arange(1, d + 1)
    nqm = Quadratic(h)
    method = GD(1.0)
    assert max_stable_lr(nqm, GD) == pytest.approx(2.0)
    assert convergence_rate(nqm, method) == pytest.approx(1.0 - 1.0 / d)
    w0 = np.ones(d)
    eigen = simulate(nqm, method, w0, [0, 10], basis="eigen")
    exact = 0.5 * np.sum(h * (1.0 - h) ** 20)
    assert eigen.loss[-1] == pytest.approx(exact, rel=1e-12)
    assert closed_form(nqm, method, w0, [10]).loss[0] == pytest.approx(exact, rel=1e-12)
    assert closed_form(nqm, Preconditioned(0.5, h**-0.5), w0, [10]).w.shape == (1, d)
    with pytest.raises(ValueError, match=rf"spectrum alone \(d = {d}\).*basis='eigen'"):
        simulate(nqm, method, w0, 10)
    assert DENSE_DIAGONAL_LIMIT < d


def test_bad_diagonal_preconditioner():
    with pytest.raises(ValueError, match="`P` must be a non-empty positive diagonal"):
        Preconditioned(0.1, [1.0, 0.0])
    with pytest.raises(ValueError, match=r"`P` must have shape \(6,\) to match"):
        closed_form(Quadratic(SPECTRUM), Preconditioned(0.1, [1.0, 2.0]), np.zeros(6), 3)
