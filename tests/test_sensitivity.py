"""Derivatives through training against finite differences, closed forms and the IFT."""

import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose

from quadsim import GD, LinearRegression, Momentum, Nesterov, Preconditioned, closed_form, simulate
from quadsim.families import (
    AffineFamily,
    feature_decay_family,
    ridge_family,
    sample_weight_family,
    target_family,
)
from quadsim.sensitivity import (
    closed_form_optimizer_tangents,
    closed_form_tangents,
    simulate_optimizer_tangents,
    simulate_tangents,
    tune_lr,
)

#: Raw-basis kernel, eigenbasis kernel and closed form of the same tangents.
TANGENT_RTOL = 1e-10
#: Central differences with step 1e-5: truncation O(1e-10) relative, rounding
#: eps/1e-5 ~ 2e-11 relative, times the scale of the run.
FINITE_DIFFERENCE_RTOL = 1e-7
FD_STEP = 1e-5

STEPS = [0, 1, 2, 7, 30, 150]


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(25, 5)) * np.array([1.0, 0.5, 2.0, 0.3, 1.0])
    return LinearRegression(X, rng.normal(size=25), l2=0.05)


FAMILIES = {
    "ridge": (ridge_family, lambda reg: np.array([0.05])),
    "decay": (feature_decay_family, lambda reg: np.linspace(0.0, 0.2, reg.dim)),
    "targets": (target_family, lambda reg: reg.y),
    "weights": (sample_weight_family, lambda reg: np.linspace(0.5, 1.5, reg.n_samples)),
}


@pytest.fixture(params=sorted(FAMILIES))
def family_and_theta(request, regression):
    make, theta = FAMILIES[request.param]
    return make(regression), theta(regression)


def assert_close(actual, desired, rtol):
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.max(np.abs(desired)))


def central_difference(function, theta, step=FD_STEP):
    """Columns ``(f(θ + h e_k) − f(θ − h e_k))/2h`` stacked on the last axis."""
    columns = []
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = step
        columns.append((function(theta + e) - function(theta - e)) / (2 * step))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("method", [GD(0.3), Momentum(0.25, 0.6), Nesterov(0.25, 0.6)])
def test_tangent_kernels_agree_with_finite_differences(family_and_theta, method):
    family, theta = family_and_theta
    w0 = np.linspace(-1.0, 1.0, family.dim)
    raw = simulate_tangents(family, theta, method, w0, STEPS)
    eigen = simulate_tangents(family, theta, method, w0, STEPS, basis="eigen")
    assert_close(eigen.tangent, raw.tangent, TANGENT_RTOL)
    assert_close(eigen.w, raw.w, TANGENT_RTOL)
    assert_close(raw.w, simulate(family.quadratic(theta), method, w0, STEPS).w, TANGENT_RTOL)
    numeric = central_difference(
        lambda th: simulate(family.quadratic(th), method, w0, STEPS).w, theta)
    assert_close(raw.tangent, numeric, FINITE_DIFFERENCE_RTOL)
    if isinstance(method, GD):
        assert_close(closed_form_tangents(family, theta, method, w0, STEPS), raw.tangent,
                     TANGENT_RTOL)


def test_closed_form_tangents_at_huge_t_are_the_ift_jacobian(family_and_theta):
    family, theta = family_and_theta
    quadratic = family.quadratic(theta)
    w_star = quadratic.minimizer()
    ift = -np.linalg.solve(quadratic.A, family.mixed_jacobian(w_star))
    tangent = closed_form_tangents(family, theta, GD(0.3), np.zeros(family.dim), [10**9])
    assert_close(tangent[0], ift, 1e-9)


def test_tangents_converge_to_the_ift_jacobian_at_the_spectral_rate():
    from quadsim import Quadratic

    q = Quadratic.from_eigenvalues([0.1, 0.5, 1.0, 2.0], [1.0, -1.0, 0.5, 2.0], rng=3)
    ridge = AffineFamily(q.A, q.b, [1.0], np.zeros((4, 1)), np.zeros((1, 4)), [0.0])
    lr = 0.3
    ift = -np.linalg.solve(q.A, ridge.mixed_jacobian(q.minimizer()))
    steps = np.array([200, 300, 400])
    tangents = simulate_tangents(ridge, 0.0, GD(lr), np.zeros(4), steps, basis="eigen").tangent
    # Along the slowest axis the error is (c₁ + c₂·t) ρ^t with ρ = 1 − lr·a_min (the
    # source converges at ρ^t too); the other axes are (0.85/0.97)^200 ~ 1e-12 smaller.
    rho = 1.0 - lr * q.eigenvalues[0]
    slowest = (tangents - ift)[:, :, 0] @ q.eigenvectors[:, 0]
    scaled = slowest / rho**steps  # affine in t
    assert abs(scaled[2] - 2 * scaled[1] + scaled[0]) < 1e-6 * abs(scaled[0])
    assert abs(scaled[2] - scaled[0]) > 1e-3 * abs(scaled[0])  # the t·ρ^t term is there
    others = (tangents - ift)[:, :, 0] @ q.eigenvectors[:, 1:]
    assert np.all(np.abs(others) < 1e-9 * np.abs(slowest)[:, None])


def test_gd_from_the_minimizer_unrolls_the_neumann_series(family_and_theta):
    family, theta = family_and_theta
    quadratic = family.quadratic(theta)
    w_star = quadratic.minimizer()
    lr = 0.3
    mixed = family.mixed_jacobian(w_star)
    neumann, term = [np.zeros_like(mixed)], mixed.copy()
    for _ in range(40):  # −lr Σ_{i<K} (I − lr A)^i ∂²J/∂w∂θ
        neumann.append(neumann[-1] - lr * term)
        term = term - lr * quadratic.A @ term
    unrolled = simulate_tangents(family, theta, GD(lr), w_star, 40).tangent
    assert_close(unrolled, np.array(neumann), TANGENT_RTOL)


@pytest.mark.parametrize("method", [GD(0.3), Momentum(0.25, 0.6), Nesterov(0.25, 0.6)])
def test_optimizer_derivatives_against_finite_differences(regression, method):
    quadratic = regression.quadratic
    w0 = np.linspace(-1.0, 1.0, regression.dim)
    raw = simulate_optimizer_tangents(regression, method, w0, STEPS)
    eigen = simulate_optimizer_tangents(regression, method, w0, STEPS, basis="eigen")
    assert_close(eigen.tangent, raw.tangent, TANGENT_RTOL)

    def run(lr, beta):
        trial = GD(lr) if isinstance(method, GD) else type(method)(lr, beta)
        return closed_form(quadratic, trial, w0, STEPS)

    beta = method.momentum
    by_lr = central_difference(lambda x: run(x[0], beta).w, np.array([method.lr]))
    assert_close(raw.tangent[:, :, :1], by_lr, FINITE_DIFFERENCE_RTOL)
    loss_by_lr = central_difference(lambda x: run(x[0], beta).loss, np.array([method.lr]))
    assert_close(raw.loss_derivative(regression)[:, :1], loss_by_lr, FINITE_DIFFERENCE_RTOL)
    theory = closed_form_optimizer_tangents(regression, method, w0, STEPS)
    assert theory.names == raw.names
    assert_close(theory.tangent, raw.tangent, TANGENT_RTOL)
    if isinstance(method, GD):
        assert raw.names == ("lr",)
    else:
        assert raw.names == ("lr", "beta")
        by_beta = central_difference(lambda x: run(method.lr, x[0]).w, np.array([beta]))
        assert_close(raw.tangent[:, :, 1:], by_beta, FINITE_DIFFERENCE_RTOL)


def test_lr_derivative_on_a_drifting_axis_is_exact():
    from quadsim import Quadratic

    q = Quadratic.from_eigenvalues([0.0, 1.0], [0.5, 1.0], rng=0)
    derivative = closed_form_optimizer_tangents(q, GD(0.1), [0.0, 0.0], [10**6]).tangent
    drifting = q.to_eigenbasis(derivative[:, :, 0])[0, 0]
    assert_allclose(drifting, -10**6 * q.frame.b[0], rtol=1e-12)


#: Closed-form optimizer derivatives against the eigenbasis tangent kernel on the
#: conftest problems; the κ = 1e4 one loses ~eps/(lr·a_min) in the fixed-point form
#: of dP_t (measured 5e-11).
OPTIMIZER_TANGENT_RTOL = 1e-9


@pytest.mark.parametrize("method", [GD(0.4), Momentum(0.3, 0.8), Nesterov(0.25, 0.7),
                                    Momentum(1.0, 0.81), Nesterov(0.5, 0.5)])
def test_closed_form_optimizer_tangents_on_every_kind_of_problem(problem, w0, method):
    steps = [0, 1, 2, 3, 5, 8, 13, 50, 120]
    theory = closed_form_optimizer_tangents(problem, method, w0, steps)
    kernel = simulate_optimizer_tangents(problem, method, w0, steps, basis="eigen")
    finite = np.all(np.isfinite(kernel.tangent), axis=(1, 2))
    assert_close(theory.tangent[finite], kernel.tangent[finite], OPTIMIZER_TANGENT_RTOL)


@pytest.mark.parametrize("method_type", [Momentum, Nesterov])
@pytest.mark.parametrize("offset", [0.0, 1e-12, -1e-9, 1e-6, -1e-3])
def test_closed_form_optimizer_tangents_near_a_double_root(method_type, offset):
    from quadsim import Quadratic

    beta = 0.81
    h_double = ((1 - np.sqrt(beta)) ** 2 if method_type is Momentum
                else ((1 - beta) / (1 + beta)) ** 2)
    q = Quadratic(np.diag([h_double * (1 + offset), 0.7]), [0.3, -0.2])
    method = method_type(1.0, beta)
    steps = [0, 1, 2, 10, 100, 1000]
    theory = closed_form_optimizer_tangents(q, method, [1.0, 1.0], steps)
    kernel = simulate_optimizer_tangents(q, method, [1.0, 1.0], steps, basis="eigen")
    assert_close(theory.tangent, kernel.tangent, OPTIMIZER_TANGENT_RTOL)


@pytest.mark.parametrize("method", [GD(0.5), Momentum(0.5, 0.5)])
def test_tune_lr_finds_the_grid_optimum(method):
    from quadsim import Quadratic

    q = Quadratic.from_eigenvalues(np.geomspace(0.01, 1.0, 10), np.ones(10), rng=0)
    w0, horizon = np.zeros(10), 50
    path = tune_lr(q, method, w0, horizon)

    def loss(lr):
        trial = GD(lr) if isinstance(method, GD) else Momentum(lr, method.beta)
        return closed_form(q, trial, w0, [horizon]).loss[0]

    grid = np.linspace(0.05, 4.0, 4001)
    losses = np.array([loss(lr) for lr in grid])
    best = int(np.nanargmin(losses))
    refined = scipy.optimize.minimize_scalar(loss, bounds=(grid[best - 1], grid[best + 1]),
                                             method="bounded", options={"xatol": 1e-12})
    # J is flat at its minimum: rounding in J (eps) allows an lr error of ~√eps.
    assert_allclose(path.best, refined.x, rtol=1e-7)
    assert path.loss[-1] <= losses[best] + 1e-12 * abs(losses[best])


def test_bad_inputs(regression):
    family = ridge_family(regression)
    with pytest.raises(ValueError, match=r"`theta \(ridge coefficient\)` must have shape \(1,\)"):
        simulate_tangents(family, [0.1, 0.2], GD(0.1), np.zeros(5), 3)
    with pytest.raises(TypeError, match="`method` must be GD, Momentum or Nesterov"):
        simulate_tangents(family, 0.1, Preconditioned(0.1, np.eye(5)), np.zeros(5), 3)
    with pytest.raises(TypeError, match="`method` must be GD for this closed form"):
        closed_form_tangents(family, 0.1, Momentum(0.1, 0.5), np.zeros(5), 3)
    with pytest.raises(TypeError, match="`family` must be an AffineFamily; got LinearRegression"):
        simulate_tangents(regression, 0.1, GD(0.1), np.zeros(5), 3)
    drifting = AffineFamily(np.diag([0.0, 1.0]), [1.0, 0.0], [1.0], np.zeros((2, 1)),
                            np.zeros((1, 2)), [0.0])
    with pytest.raises(ValueError, match="drifting axis"):
        closed_form_tangents(drifting, 0.0, GD(0.1), np.zeros(2), 3)


def test_divergent_runs_report_the_step(regression):
    family = ridge_family(regression)
    traj = simulate_tangents(family, 0.05, GD(5.0), np.ones(5), 2000)
    assert traj.diverged
    assert np.all(np.isnan(traj.tangent[traj.diverged_at:]))
