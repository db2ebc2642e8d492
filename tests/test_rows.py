"""Matrix weights W (m, d): every path equals running each row of W on its own."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import two_step_rows

from quadsim import (
    GD,
    GradientFlow,
    LinearRegression,
    Minibatch,
    Momentum,
    Nesterov,
    NoisyQuadratic,
    Preconditioned,
    closed_form,
    closed_form_loss,
    max_stable_lr,
    measured_rate,
    moments,
    schedules,
    simulate,
)
from quadsim.families import ridge_family
from quadsim.kernels.rows import GEMM_MIN_SIZE

#: Matrix-weight runs against the rows run one by one, and against the numpy loop:
#: rounding only (the matrix product sums in another order than the vector one).
ROWS_RTOL = 1e-10
#: Ensemble runs of the matrix kernel against the vector kernel on the same seed: the
#: same batches and the same sums, so they agree to a few ulps.
PATH_RTOL = 1e-12
#: Dense numpy twins of the loss, gradient and HVP: rounding only.
DENSE_RTOL = 1e-12
#: Sums of the very same per-row numbers (the order of the additions differs).
SUM_RTOL = 1e-14
#: The minimizer against numpy's pinv, and the closed form at t = 1e8 against it:
#: κ(X)·eps-sized differences of two solvers.
SOLVE_RTOL = 1e-10
#: Gradient flow by expm of the augmented generator, matrix against vector (scipy's
#: scaling and squaring reaches ~1e-12 here).
FLOW_RTOL = 1e-9
#: Monte Carlo bound in standard errors computed from the samples (18 comparisons:
#: a false alarm has probability ~18 · 2Φ(−4.5) ≈ 1e-4).
MC_SIGMAS = 4.5

STEPS = np.array([0, 1, 2, 5, 17, 60])


def regression(n=24, d=6, m=3, l2=0.05, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    Y = X @ rng.normal(size=(d, m)) + 0.3 * rng.normal(size=(n, m))
    return LinearRegression(X, Y, l2=l2), rng.normal(size=(m, d))


METHODS = {
    "gd": GD(0.5),
    "momentum": Momentum(0.3, 0.7),
    "nesterov": Nesterov(0.3, 0.6),
    "preconditioned": Preconditioned(0.4, np.diag(np.linspace(0.6, 1.4, 6)) + 0.05),
}


def assert_rows(matrix, rows, rtol=ROWS_RTOL):
    """A matrix-weight trajectory against the per-row trajectories: stacked w, summed loss."""
    w = np.stack([row.w for row in rows], axis=-2)
    loss = np.sum([row.loss for row in rows], axis=0)
    assert_array_equal(matrix.steps, rows[0].steps)
    assert_allclose(matrix.w, w, rtol=rtol, atol=rtol * np.max(np.abs(w)))
    assert_allclose(matrix.loss, loss, rtol=rtol, atol=rtol * np.max(np.abs(loss)))


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("how", ["raw", "eigen", "closed_form"])
def test_matrix_weights_equal_rows_run_separately(name, how):
    problem, W0 = regression()
    method = METHODS[name]

    def run(p, w):
        if how == "closed_form":
            return closed_form(p, method, w, STEPS)
        return simulate(p, method, w, STEPS, basis=how)

    matrix = run(problem, W0)
    assert matrix.w.shape == (STEPS.size, 3, 6)
    assert matrix.diverged_at is None
    assert_rows(matrix, [run(problem.row(i), W0[i]) for i in range(3)])
    assert_allclose(matrix.loss, problem.value(matrix.w), rtol=ROWS_RTOL)


@pytest.mark.parametrize("d", [3, GEMM_MIN_SIZE // 4 + 5])  # the jitted product, then BLAS
@pytest.mark.parametrize("name", sorted(METHODS))
def test_raw_matrix_kernel_against_numpy_loop(d, name):
    problem, W0 = regression(n=40, d=d, m=4, seed=d)
    assert (4 * d >= GEMM_MIN_SIZE) == (d > 3)
    method = METHODS[name]
    if isinstance(method, Preconditioned):
        method = Preconditioned(0.4, np.diag(np.linspace(0.6, 1.4, d)) + 0.05)
    B = -(problem.y.T @ problem.X) / problem.n_samples
    expected = two_step_rows(problem.curvature, B, W0, STEPS[-1], method.lr, method.momentum,
                             method.lookahead, getattr(method, "P", None))[STEPS]
    raw = simulate(problem, method, W0, STEPS)
    assert_allclose(raw.w, expected, rtol=ROWS_RTOL, atol=ROWS_RTOL * np.max(np.abs(expected)))
    assert_allclose(raw.loss, problem.value(expected), rtol=ROWS_RTOL)


def test_schedules_moving_averages_and_flow_with_matrix_weights():
    problem, W0 = regression()
    method = Momentum(0.3, 0.6, ema=0.8, schedule=schedules.step_decay(10, 0.5))
    matrix = closed_form(problem, method, W0, STEPS)
    rows = [closed_form(problem.row(i), method, W0[i], STEPS) for i in range(3)]
    assert_rows(matrix, rows)
    assert_allclose(matrix.ema, np.stack([r.ema for r in rows], axis=1), rtol=ROWS_RTOL,
                    atol=ROWS_RTOL)
    times = np.array([0.0, 0.3, 2.0, 9.0])
    flow = simulate(problem, GradientFlow(), W0, times)
    assert_rows(flow, [simulate(problem.row(i), GradientFlow(), W0[i], times)
                       for i in range(3)], rtol=FLOW_RTOL)
    assert_rows(closed_form(problem, GradientFlow(), W0, times),
                [closed_form(problem.row(i), GradientFlow(), W0[i], times) for i in range(3)])
    gd = GD(0.5)
    assert_allclose(closed_form_loss(problem, gd, W0, STEPS),
                    closed_form(problem, gd, W0, STEPS).loss, rtol=ROWS_RTOL)
    assert_allclose(moments(problem, method, W0, STEPS).loss, matrix.loss, rtol=ROWS_RTOL)


def test_matrix_regression_loss_gradient_and_minimizer():
    problem, W = regression(l2=0.0)
    X, Y, n = problem.X, problem.y, problem.n_samples
    assert problem.weight_shape == (3, 6) and problem.n_outputs == 3
    assert_allclose(problem.value(W), 0.5 / n * np.sum((X @ W.T - Y) ** 2), rtol=SUM_RTOL)
    assert_allclose(problem.value(np.stack([W, 2 * W])),
                    [problem.value(W), problem.value(2 * W)], rtol=SUM_RTOL)
    A, B = X.T @ X / n, -(Y.T @ X) / n
    assert_allclose(problem.grad(W), W @ A + B, rtol=DENSE_RTOL, atol=DENSE_RTOL)
    assert_allclose(problem.hvp(W), W @ A, rtol=DENSE_RTOL, atol=DENSE_RTOL)
    W_star = problem.minimizer()
    assert_allclose(W_star, (np.linalg.pinv(X) @ Y).T, rtol=SOLVE_RTOL, atol=SOLVE_RTOL)
    assert_allclose(problem.min_value(), problem.value(W_star), rtol=DENSE_RTOL)
    late = closed_form(problem, GD(0.5), W, [10**8])
    assert_allclose(late.w[0], W_star, rtol=SOLVE_RTOL, atol=SOLVE_RTOL)
    assert max_stable_lr(problem, GD) == max_stable_lr(problem.row(1), GD)
    rate = measured_rate(problem, GD(0.5), W, 200, 400)
    assert rate == pytest.approx(measured_rate(problem.row(0), GD(0.5), W[0], 200, 400),
                                 rel=1e-3)


def test_divergence_with_matrix_weights():
    problem, W0 = regression()
    lr = 1.2 * max_stable_lr(problem, GD)
    raw = simulate(problem, GD(lr), W0, 10**5)
    rows = [simulate(problem.row(i), GD(lr), W0[i], 10**5) for i in range(3)]
    assert raw.diverged_at == min(row.diverged_at for row in rows)
    assert np.all(np.isnan(raw.w[raw.diverged_at:]))
    assert closed_form(problem, GD(lr), W0, [0, 10**5]).diverged_at == 10**5


MINIBATCHES = {
    "with-replacement": dict(batch_size=2),
    "without-replacement": dict(batch_size=3, replace=False),
    "reshuffle": dict(batch_size=5, replace=False, reshuffle=True),
}


@pytest.mark.parametrize("basis", ["raw", "eigen"])
@pytest.mark.parametrize("sampling", sorted(MINIBATCHES))
def test_minibatch_rows_share_batches_path_by_path(sampling, basis):
    problem, W0 = regression()
    method = Nesterov(0.2, 0.5, ema=0.6)
    matrix = simulate(Minibatch(problem, **MINIBATCHES[sampling]), method, W0, STEPS, runs=4,
                      rng=7, basis=basis)
    assert matrix.w.shape == (4, STEPS.size, 3, 6)
    rows = [simulate(Minibatch(problem.row(i), **MINIBATCHES[sampling]), method, W0[i],
                     STEPS, runs=4, rng=7, basis=basis) for i in range(3)]
    for r in range(4):
        assert_rows(matrix.run(r), [row.run(r) for row in rows], rtol=PATH_RTOL)
        assert_allclose(matrix.ema[r], np.stack([row.ema[r] for row in rows], axis=1),
                        rtol=PATH_RTOL, atol=PATH_RTOL)


def test_minibatch_rows_monte_carlo_against_summed_moments():
    problem, W0 = regression()
    model = Minibatch(problem, 2)
    for method in (GD(0.5), Momentum(0.3, 0.6)):
        runs = simulate(model, method, W0, STEPS, runs=2000, rng=3, basis="eigen")
        exact = moments(model, method, W0, STEPS)
        rows = [moments(Minibatch(problem.row(i), 2), method, W0[i], STEPS) for i in range(3)]
        assert_allclose(exact.loss, np.sum([r.loss for r in rows], axis=0), rtol=SUM_RTOL)
        assert_allclose(exact.mean, np.stack([r.mean for r in rows], axis=1), rtol=SUM_RTOL)
        stderr = runs.loss_stderr()
        moving = stderr > DENSE_RTOL * runs.mean_loss()  # step 0: every run is at W0
        assert_allclose(runs.mean_loss()[~moving], exact.loss[~moving], rtol=DENSE_RTOL)
        z = (runs.mean_loss()[moving] - exact.loss[moving]) / stderr[moving]
        assert np.all(np.abs(z) < MC_SIGMAS), z


def test_summed_moments_carry_the_moving_average():
    problem, W0 = regression()
    method = Nesterov(0.2, 0.5, ema=0.7)
    exact = moments(Minibatch(problem, 2, replace=False), method, W0, STEPS)
    rows = [moments(Minibatch(problem.row(i), 2, replace=False), method, W0[i], STEPS)
            for i in range(3)]
    assert exact.ema_mean.shape == (STEPS.size, 3, 6)
    assert_allclose(exact.ema_loss, np.sum([r.ema_loss for r in rows], axis=0), rtol=SUM_RTOL)
    assert_allclose(exact.ema_mean, np.stack([r.ema_mean for r in rows], axis=1), rtol=SUM_RTOL)


def test_bad_matrix_inputs():
    problem, W0 = regression()
    X = problem.X
    with pytest.raises(ValueError, match=r"`y` must have shape \(24, m\), one row per row "
                                         r"of `X`; got shape \(23, 3\)"):
        LinearRegression(X, problem.y[:-1])
    with pytest.raises(ValueError, match=r"`y` must have at least one column"):
        LinearRegression(X, np.empty((24, 0)))
    with pytest.raises(ValueError, match=r"`y` must be a vector \(n,\) or a matrix"):
        LinearRegression(X, np.ones((24, 2, 2)))
    for bad in (W0.T, W0[0], W0[:2]):
        with pytest.raises(ValueError, match=r"`w0` must have shape \(3, 6\) \(one row of "
                                             r"weights per column of Y"):
            simulate(problem, GD(0.1), bad, 5)
        with pytest.raises(ValueError, match=r"`w0` must have shape \(3, 6\)"):
            closed_form(problem, GD(0.1), bad, 5)
        with pytest.raises(ValueError, match=r"`w0` must have shape \(3, 6\)"):
            moments(Minibatch(problem, 2), GD(0.1), bad, 5)
    with pytest.raises(ValueError, match=r"`w0` must be 1-d; got shape \(3, 6\)"):
        simulate(problem.row(0), GD(0.1), W0, 5)
    with pytest.raises(TypeError, match=r"matrix targets Y of shape \(24, 3\).*problem.row"):
        NoisyQuadratic(problem)
    with pytest.raises(TypeError, match=r"`problem` must have vector targets"):
        ridge_family(problem)
    with pytest.raises(ValueError, match=r"`i` must index one of the 3 rows of W; got 3"):
        problem.row(3)
    with pytest.raises(ValueError, match=r"`w` must have shape \(\.\.\., 3, 6\)"):
        problem.value(W0.T)
    with pytest.raises(ValueError, match=r"`P` must have shape \(6, 6\)"):
        simulate(problem, Preconditioned(0.1, np.eye(4)), W0, 5)


def test_matrix_kernels_compile_one_specialisation():
    from quadsim.kernels import rows as kernels

    problem, W0 = regression()
    simulate(problem, GD(0.1), W0.astype(np.float32), np.array([0, 2], dtype=np.int32))
    simulate(problem, Momentum(0.1, 0.5), W0.tolist(), 3)
    simulate(problem, Preconditioned(0.1, np.eye(6)), W0, 3)
    simulate(Minibatch(problem, 2), GD(0.1), W0.astype(np.float32), 3, runs=2, rng=0)
    simulate(Minibatch(problem, 2), Nesterov(0.1, 0.5, ema=0.5), W0, [0, 3], runs=2, rng=0,
             basis="eigen")
    assert len(kernels.two_step_rows.signatures) == 1
    assert len(kernels.minibatch_rows_runs.signatures) == 1
