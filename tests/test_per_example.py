"""Per-example gradients: rank-1 factors, their sums, against finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import GD, LinearRegression, Minibatch, Momentum, simulate
from quadsim._validation import as_rng_root
from quadsim.calculus import check_grad
from quadsim.kernels.random import draw_bounded, run_states
from quadsim.per_example import per_example_gradients

#: Sums of factors against dense sums and the full gradient: rounding only.
DENSE_RTOL = 1e-12
#: The factors against check_grad's central differences (see tests/test_calculus.py).
GRAD_RTOL = 1e-9
#: Singular values from the B × B core against numpy's SVD of the dense gradient, and
#: the ones that must vanish, relative to the largest.
SVD_RTOL = 1e-10


def regression(n=40, d=7, m=5, l2=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, m)) if m else rng.normal(size=n)
    return LinearRegression(X, Y, l2=l2), rng.normal(size=(m, d) if m else d)


@pytest.mark.parametrize("m", [0, 5])
def test_each_factor_is_the_gradient_of_its_example(m):
    problem, W = regression(m=m)
    grads = per_example_gradients(problem, W, batch=[0, 3, 3, 11])
    for s, i in enumerate(grads.indices):
        x, y = problem.X[i], problem.y[i]
        check = check_grad(lambda W, x=x, y=y: 0.5 * np.sum((W @ x - y) ** 2),
                           lambda W, s=s: grads.gradient(s), W)
        assert check.error < GRAD_RTOL
        if m:
            assert np.linalg.matrix_rank(grads.gradient(s)) == 1
    assert grads.residuals.shape == ((4, m) if m else (4,))
    assert grads.inputs.shape == (4, 7)


@pytest.mark.parametrize("m", [0, 5])
def test_the_full_batch_gradient_is_the_loss_gradient(m):
    problem, W = regression(m=m)
    full = per_example_gradients(problem, W)
    assert_allclose(full.batch_gradient(), problem.grad(W), rtol=DENSE_RTOL,
                    atol=DENSE_RTOL * np.abs(problem.grad(W)).max())
    assert check_grad(problem.value, lambda W: full.batch_gradient(), W).error < GRAD_RTOL
    weights = np.linspace(0.1, 1.0, 40)
    weighted = per_example_gradients(problem, W, weights=weights)
    dense = sum(w * weighted.gradient(s) for s, w in enumerate(weights))
    assert_allclose(weighted.batch_gradient(ridge=False), dense, rtol=DENSE_RTOL,
                    atol=DENSE_RTOL * np.abs(dense).max())


@pytest.mark.parametrize("B", [1, 2, 3, 5, 9])
def test_a_batch_gradient_has_rank_at_most_the_batch_size(B):
    problem, W = regression(d=12, m=8)
    grads = per_example_gradients(problem, W, batch=np.arange(B) * 3)
    G = grads.batch_gradient(ridge=False)
    bound = min(B, 8, 12)
    assert grads.rank_bound == bound
    assert np.linalg.matrix_rank(G) == bound  # generic data reach the bound
    values = grads.singular_values()
    dense = np.linalg.svd(G, compute_uv=False)
    assert values.shape == (8,)
    assert_allclose(values[:bound], dense[:bound], rtol=SVD_RTOL)
    assert np.all(values[bound:] == 0.0)
    assert np.all(dense[bound:] <= SVD_RTOL * dense[0])
    # The ridge term is no example's: with it the gradient has full rank.
    assert np.linalg.matrix_rank(grads.batch_gradient()) == 8


def test_a_minibatch_step_is_the_sum_of_its_examples_gradients():
    problem, W0 = regression()
    for B in (1, 4):
        for method in (GD(0.05), Momentum(0.05, 0.9)):  # the first step has no momentum yet
            step = simulate(Minibatch(problem, B), method, W0, [0, 1], runs=1, rng=9).w[0, 1]
            batch = draw_bounded(run_states(as_rng_root(9), 0, 1)[0].copy(), 40, B)
            grads = per_example_gradients(problem, W0, batch=batch)
            assert_allclose(step, W0 - 0.05 * grads.batch_gradient(), rtol=DENSE_RTOL,
                            atol=DENSE_RTOL)


def test_bad_per_example_inputs():
    problem, W = regression()
    with pytest.raises(ValueError, match=r"`w` must have shape \(5, 7\)"):
        per_example_gradients(problem, W.T)
    with pytest.raises(ValueError, match=r"`batch` indices must lie in \[0, 40\); got 0 to 40"):
        per_example_gradients(problem, W, batch=[0, 40])
    with pytest.raises(ValueError, match=r"`batch` must be a non-empty 1-d array"):
        per_example_gradients(problem, W, batch=[0.5])
    with pytest.raises(ValueError, match=r"`weights` must have shape \(2,\)"):
        per_example_gradients(problem, W, batch=[0, 1], weights=[1.0])
    with pytest.raises(TypeError, match=r"`problem` must be a LinearRegression"):
        per_example_gradients(problem.row(0).quadratic, W[0])
    with pytest.raises(ValueError, match=r"`s` must index one of the 40 examples"):
        per_example_gradients(problem, W).gradient(40)
