"""Response Jacobians against dense solves, finite differences, CG and the spectrum."""

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
from numpy.testing import assert_allclose

from quadsim import LinearRegression, Unbounded
from quadsim.families import (
    AffineFamily,
    feature_decay_family,
    ridge_family,
    sample_weight_family,
    target_family,
)
from quadsim.response import (
    ValidationLoss,
    cg_error_bound,
    cg_jacobian,
    finite_difference_jacobian,
    hypergradient_descent,
    minimizer,
    neumann_error,
    neumann_jacobian,
    response_jacobian,
    response_jvp,
    response_vjp,
)

EPS = np.finfo(np.float64).eps
#: Dense linear algebra on d = 6 problems with κ <= 20: a few hundred ulps.
LINALG_RTOL = 1e-12
#: CG run to rtol = 1e-12 (the default): error <= κ·1e-12 relative.
CG_TOL = 1e-10
#: Central differences with h = eps^(1/3)·max(1, |θ|) err by about κ(A)·eps^(2/3)
#: relative (truncation h² and rounding κ·eps/h balance there); measured up to 2.5 times
#: that on these problems.
FD_ERROR_FACTOR = 20.0
#: V(θ) is rounded to a few ulps, so "non-increasing" allows that much.
VALUE_ROUNDING = 8 * EPS
#: Summing K Neumann terms rounds by about K·eps·‖J‖; K <= 200 here.
NEUMANN_ATOL = 1e-13

N_SAMPLES, DIM = 12, 6


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    return LinearRegression(rng.normal(size=(N_SAMPLES, DIM)), rng.normal(size=N_SAMPLES),
                            l2=0.1)


def _theta(name, regression):
    rng = np.random.default_rng(1)
    return {"ridge": np.array([0.3]),
            "decay": rng.uniform(0.1, 1.0, DIM),
            "target": regression.y.copy(),
            "weights": rng.uniform(0.5, 1.5, N_SAMPLES)}[name]


FAMILIES = {"ridge": ridge_family, "decay": feature_decay_family, "target": target_family,
            "weights": sample_weight_family}


@pytest.fixture(params=sorted(FAMILIES))
def case(request, regression):
    """Each of the four families of `regression` with a θ inside its domain."""
    return FAMILIES[request.param](regression), _theta(request.param, regression)


def _dense_jacobian(family, theta):
    """``−A⁻¹B`` by dense solves, with ``B`` from the definitions of A(θ) and b(θ)."""
    A, b = family.A(theta), family.b(theta)
    w = np.linalg.solve(A, -b)
    columns = []
    for k in range(family.n_params):
        step = np.zeros(family.n_params)
        step[k] = 1.0
        dA = family.A(theta + step) - A
        db = family.b(theta + step) - b
        columns.append(dA @ w + db)
    return np.linalg.solve(A, -np.stack(columns, axis=1))


def _isotropic_family(A0, b0):
    """``A(θ) = A0 + θI``, ``b = b0``: a ridge coefficient on any quadratic."""
    d = A0.shape[0]
    return AffineFamily(A0, b0, np.ones(1), np.zeros((d, 1)), np.zeros((1, d)),
                        np.zeros(1), names="shift")


# --- the exact IFT Jacobian ---------------------------------------------------------

def test_ridge_jacobian_is_the_analytic_answer(regression):
    lam = 0.3
    family = ridge_family(regression)
    A = regression.X.T @ regression.X / N_SAMPLES + lam * np.eye(DIM)
    w_star = np.linalg.solve(A, regression.X.T @ regression.y / N_SAMPLES)
    assert_allclose(minimizer(family, lam), w_star, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    assert_allclose(response_jacobian(family, lam)[:, 0], -np.linalg.solve(A, w_star),
                    rtol=LINALG_RTOL, atol=LINALG_RTOL)


def test_jacobian_matches_dense_solves(case):
    family, theta = case
    assert_allclose(response_jacobian(family, theta), _dense_jacobian(family, theta),
                    rtol=LINALG_RTOL, atol=LINALG_RTOL)


def test_jacobian_matches_central_finite_differences(case):
    family, theta = case
    exact = response_jacobian(family, theta)
    tol = FD_ERROR_FACTOR * np.linalg.cond(family.A(theta)) * EPS ** (2 / 3)
    assert_allclose(finite_difference_jacobian(family, theta), exact,
                    rtol=tol, atol=tol * np.max(np.abs(exact)))


# --- singular and indefinite Hessians ------------------------------------------------

@pytest.fixture
def wide_regression():
    """n < d: at λ = 0 the ridge Hessian XᵀX/n is singular (b in its range)."""
    rng = np.random.default_rng(2)
    return LinearRegression(rng.normal(size=(4, DIM)), rng.normal(size=4))


def test_singular_hessian_raises_naming_the_family(wide_regression):
    family = ridge_family(wide_regression)
    with pytest.raises(ValueError, match=r"ridge coefficient family is singular: its "
                                         r"smallest \|eigenvalue\| is 0 \(2 of 6 are within"):
        response_jacobian(family, 0.0)


def test_pinv_answer_is_the_pseudo_inverse_and_the_one_sided_limit(wide_regression):
    family = ridge_family(wide_regression)
    A, b = family.A(0.0), family.b(0.0)
    A_pinv = np.linalg.pinv(A, rcond=1e-10)
    w_plus = -A_pinv @ b
    assert_allclose(minimizer(family, 0.0, singular="pinv"), w_plus,
                    rtol=LINALG_RTOL, atol=LINALG_RTOL)
    pinv_answer = response_jacobian(family, 0.0, singular="pinv")
    assert_allclose(pinv_answer[:, 0], -A_pinv @ w_plus, rtol=1e-10, atol=1e-10)
    # dw*/dλ = Σ_j b̃_j/(a_j + λ)² q_j → the pinv answer as λ → 0⁺, off by ≈ 2λ/a_min⁺
    # on the range of A. (On its null space b̃_j is rounding, ~1e-17, which 1/λ² blows up.)
    lam = 1e-7
    a, Q = family.quadratic(0.0).eigenvalues, family.quadratic(0.0).eigenvectors
    range_projector = Q[:, a > 0] @ Q[:, a > 0].T
    tol = 10 * lam / np.min(a[a > 0])
    assert_allclose(range_projector @ response_jacobian(family, lam), pinv_answer,
                    rtol=tol, atol=tol * np.max(np.abs(pinv_answer)))


def test_pinv_without_a_minimizer_is_unbounded():
    family = _isotropic_family(np.diag([0.0, 1.0, 2.0]), [1.0, 0.0, 0.0])
    with pytest.raises(Unbounded, match=r"null space: J.*has no minimizer"):
        response_jacobian(family, 0.0, singular="pinv")


def test_indefinite_hessian_raises_and_allow_saddle_differentiates_the_saddle(regression):
    family = feature_decay_family(regression)
    theta = np.full(DIM, 0.1)
    theta[0] = -5.0
    with pytest.raises(ValueError, match=r"per-feature decays family is indefinite "
                                         r"\(smallest eigenvalue -\d\.\d{3}e\+00\).*saddle"):
        response_jacobian(family, theta)
    saddle = response_jacobian(family, theta, allow_saddle=True)
    assert_allclose(saddle, _dense_jacobian(family, theta), rtol=LINALG_RTOL,
                    atol=LINALG_RTOL)
    tol = FD_ERROR_FACTOR * np.linalg.cond(family.A(theta)) * EPS ** (2 / 3)
    assert_allclose(finite_difference_jacobian(family, theta, allow_saddle=True), saddle,
                    rtol=tol, atol=tol * np.max(np.abs(saddle)))


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda f: response_jacobian(f, [0.1, 0.2]), ValueError,
     r"`theta \(ridge coefficient\)` must have shape \(1,\); got shape \(2,\)"),
    (lambda f: response_jacobian(f, 0.1, singular="lstsq"), ValueError,
     r"`singular` must be one of \('raise', 'pinv'\); got 'lstsq'"),
    (lambda f: response_jacobian(f.A0, 0.1), TypeError,
     "`family` must be an AffineFamily; got ndarray"),
    (lambda f: response_jvp(f, 0.1, [1.0], damping=-1.0), ValueError,
     r"`damping` must be >= 0; got -1\.0"),
    (lambda f: response_vjp(f, 0.1, np.ones(3)), ValueError,
     r"`u` must have shape \(6,\); got shape \(3,\)"),
    (lambda f: neumann_jacobian(f, 0.1, 3, lr=0.0), ValueError, "`lr` must be > 0"),
    (lambda f: cg_jacobian(f, 0.1, -1), ValueError, "`iterations` must be a non-negative"),
])
def test_bad_inputs_are_named(regression, call, error, message):
    with pytest.raises(error, match=message):
        call(ridge_family(regression))


# --- matrix-free products by conjugate gradients -------------------------------------

def test_cg_products_match_the_exact_jacobian_and_are_adjoint(case):
    family, theta = case
    rng = np.random.default_rng(3)
    v, u = rng.normal(size=family.n_params), rng.normal(size=family.dim)
    exact = response_jacobian(family, theta)
    jv, ju = response_jvp(family, theta, v), response_vjp(family, theta, u)
    assert_allclose(jv, exact @ v, rtol=CG_TOL, atol=CG_TOL * np.max(np.abs(exact @ v)))
    assert_allclose(ju, exact.T @ u, rtol=CG_TOL, atol=CG_TOL * np.max(np.abs(exact.T @ u)))
    # uᵀ(Jv) = (Jᵀu)ᵀv: the two products are transposes of one linear map.
    assert_allclose(u @ jv, ju @ v, rtol=CG_TOL, atol=CG_TOL * np.abs(u) @ np.abs(jv))


def test_damping_solves_with_the_shifted_hessian(case):
    family, theta = case
    damping = 0.7
    v = np.random.default_rng(4).normal(size=family.n_params)
    w_star = np.linalg.solve(family.A(theta), -family.b(theta))
    shifted = family.A(theta) + damping * np.eye(family.dim)
    expected = -np.linalg.solve(shifted, family.mixed_jacobian(w_star) @ v)
    assert_allclose(response_jvp(family, theta, v, damping=damping), expected,
                    rtol=CG_TOL, atol=CG_TOL * np.max(np.abs(expected)))


def test_damped_cg_on_a_singular_hessian_starts_from_the_minimum_norm_minimizer(
        wide_regression):
    family = ridge_family(wide_regression)
    damping = 0.5
    w_plus = minimizer(family, 0.0, singular="pinv")
    expected = -np.linalg.solve(family.A(0.0) + damping * np.eye(DIM), w_plus)
    assert_allclose(response_jvp(family, 0.0, [1.0], damping=damping), expected,
                    rtol=CG_TOL, atol=CG_TOL)
    assert_allclose(response_jvp(family, 0.0, [1.0], damping=damping, w_star=w_plus),
                    expected, rtol=CG_TOL, atol=CG_TOL)


def test_cg_failures_are_errors_not_garbage(regression):
    family = feature_decay_family(regression)
    theta = np.full(DIM, 0.1)
    with pytest.raises(RuntimeError, match=r"did not reach rtol=1\.0e-12 in maxiter=2"):
        response_jvp(family, theta, np.ones(DIM), maxiter=2)
    theta[0] = -5.0
    with pytest.raises(ValueError, match="non-positive curvature"):
        response_vjp(family, theta, np.ones(DIM),
                     w_star=minimizer(family, theta, allow_saddle=True))


# --- truncated approximations ---------------------------------------------------------

@pytest.mark.parametrize("lr_times_a_max", [1.0, 1.9])
def test_neumann_error_equals_the_spectral_prediction(case, lr_times_a_max):
    family, theta = case
    lr = lr_times_a_max / family.quadratic(theta).eigenvalues[-1]
    exact = response_jacobian(family, theta)
    terms = np.arange(0, 200, 13)
    actual = [np.linalg.norm(neumann_jacobian(family, theta, K, lr) - exact) for K in terms]
    assert_allclose(actual, neumann_error(family, theta, terms, lr),
                    rtol=LINALG_RTOL, atol=NEUMANN_ATOL * np.linalg.norm(exact))
    assert_allclose(neumann_error(family, theta, 0, lr), [np.linalg.norm(exact)],
                    rtol=LINALG_RTOL)


def test_neumann_series_diverges_above_the_stability_edge(regression):
    family = ridge_family(regression)
    lr = 2.1 / family.quadratic(0.3).eigenvalues[-1]
    errors = neumann_error(family, 0.3, [10, 20, 40], lr)
    assert np.all(np.diff(errors) > 0)
    assert_allclose(np.linalg.norm(neumann_jacobian(family, 0.3, 40, lr)
                                   - response_jacobian(family, 0.3)),
                    errors[-1], rtol=LINALG_RTOL)


def test_cg_with_d_iterations_is_exact(case):
    family, theta = case
    exact = response_jacobian(family, theta)
    assert_allclose(cg_jacobian(family, theta, family.dim), exact,
                    rtol=CG_TOL, atol=CG_TOL * np.max(np.abs(exact)))
    assert_allclose(cg_jacobian(family, theta, 0), 0.0, atol=0.0)


def test_cg_is_exact_after_as_many_iterations_as_distinct_eigenvalues():
    spectrum = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 5.0])
    Q = scipy.stats.ortho_group.rvs(spectrum.size, random_state=5)
    family = _isotropic_family((Q * spectrum) @ Q.T, np.arange(spectrum.size) - 3.0)
    exact = response_jacobian(family, 0.5)
    assert np.linalg.norm(cg_jacobian(family, 0.5, 2) - exact) > 1e-3
    assert_allclose(cg_jacobian(family, 0.5, 3), exact, rtol=CG_TOL, atol=CG_TOL)


def test_cg_error_stays_within_the_condition_number_bound():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, DIM)) * np.geomspace(1.0, 30.0, DIM)  # κ ≈ 1e3
    family = feature_decay_family(LinearRegression(X, rng.normal(size=40), l2=0.01))
    theta = rng.uniform(0.0, 0.1, DIM)
    A, exact = family.A(theta), response_jacobian(family, theta)
    iterations = np.arange(DIM + 1)
    bound = cg_error_bound(family, theta, DIM)
    kappa = np.linalg.cond(A)
    rho = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
    assert_allclose(bound, 2 * rho**iterations, rtol=1e-9)

    def a_norm(E):
        return np.sqrt(np.einsum("ik,ij,jk->k", E, A, E))

    initial = a_norm(exact)
    for K in iterations:
        ratio = a_norm(cg_jacobian(family, theta, K) - exact) / initial
        assert np.all(ratio <= bound[K] * (1 + 1e-9) + 1e-12)


# --- hypergradients -------------------------------------------------------------------

@pytest.fixture
def split():
    """Sparse truth, noisy targets: 30 training and 200 validation examples, d = 10."""
    rng = np.random.default_rng(0)
    n, d, m = 30, 10, 200
    w_true = np.where(np.arange(d) < 4, 2 * rng.normal(size=d), 0.0)
    X = rng.normal(size=(n + m, d))
    y = X @ w_true + rng.normal(size=n + m)
    return LinearRegression(X[:n], y[:n]), X[n:], y[n:]


def test_hypergradient_is_the_transposed_jacobian_applied_to_the_validation_gradient(case):
    family, theta = case
    rng = np.random.default_rng(7)
    X_val, y_val = rng.normal(size=(9, DIM)), rng.normal(size=9)
    loss = ValidationLoss(family, X_val, y_val)
    value, grad = loss.value_and_grad(theta)
    w_star = minimizer(family, theta)
    residual = X_val @ w_star - y_val
    assert_allclose(value, residual @ residual / 18, rtol=LINALG_RTOL)
    assert_allclose(loss.value(theta), value, rtol=LINALG_RTOL)
    grad_w = X_val.T @ residual / 9
    expected = response_jacobian(family, theta).T @ grad_w
    scale = np.max(np.abs(expected))
    assert_allclose(grad, expected, rtol=LINALG_RTOL, atol=LINALG_RTOL * scale)
    assert_allclose(response_vjp(family, theta, grad_w), grad, rtol=CG_TOL,
                    atol=CG_TOL * scale)


def test_hypergradient_matches_finite_differences_of_the_validation_loss(split):
    regression, X_val, y_val = split
    loss = ValidationLoss(feature_decay_family(regression), X_val, y_val)
    theta = np.linspace(0.05, 1.0, regression.dim)
    _, grad = loss.value_and_grad(theta)
    h = EPS ** (1 / 3)
    fd = [(loss.value(theta + h * e) - loss.value(theta - h * e)) / (2 * h)
          for e in np.eye(theta.size)]
    # V ≈ 0.8 is rounded to eps·V, so the difference quotient errs by ≈ eps·V/h ≈ 3e-11.
    assert_allclose(fd, grad, rtol=1e-6, atol=1e-9)


def test_ridge_hypergradient_descent_ends_at_the_grid_optimum(split):
    regression, X_val, y_val = split
    loss = ValidationLoss(ridge_family(regression), X_val, y_val)
    log_grid = np.linspace(-6.0, 2.0, 801)
    values = [loss.value(np.exp(s)) for s in log_grid]
    k = int(np.argmin(values))
    assert 0 < k < log_grid.size - 1
    refined = scipy.optimize.minimize_scalar(
        lambda s: loss.value(np.exp(s)), bounds=(log_grid[k - 1], log_grid[k + 1]),
        method="bounded", options={"xatol": 1e-10})
    # A minimiser that sees only values places the minimum to ≈ sqrt(2·eps·V/V''(s)),
    # here ≈ 1e-7 in log λ (V ≈ 0.63, V'' ≈ 0.01); allow ten times that.
    s_resolution = 1e-6
    path = hypergradient_descent(loss, 1e-2, lr=20.0, steps=200)
    assert np.all(np.diff(path.value) <= VALUE_ROUNDING * path.value[:-1])
    assert_allclose(np.log(path.theta[-1, 0]), refined.x, rtol=0, atol=s_resolution)
    assert_allclose(path.value[-1], refined.fun, rtol=1e-12)
    assert abs(path.theta[-1, 0] * path.grad[-1, 0]) < 1e-10


def test_feature_decay_descent_beats_the_best_ridge(split):
    regression, X_val, y_val = split
    ridge = ValidationLoss(ridge_family(regression), X_val, y_val)
    best_ridge = scipy.optimize.minimize_scalar(lambda s: ridge.value(np.exp(s)),
                                                bounds=(-6.0, 2.0), method="bounded").fun
    loss = ValidationLoss(feature_decay_family(regression), X_val, y_val)
    path = hypergradient_descent(loss, np.ones(regression.dim), lr=20.0, steps=1000)
    assert np.all(np.diff(path.value) <= VALUE_ROUNDING * path.value[:-1])
    assert path.value[-1] < 0.8 * best_ridge
    # Some decays head to the boundary (0 or ∞), where log-space descent is sublinear.
    log_space_grad = np.linalg.norm(path.theta * path.grad, axis=1)
    assert log_space_grad[-1] < 1e-3 * log_space_grad[0]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda r, X, y: ValidationLoss(ridge_family(r), X[:, :3], y), ValueError,
     r"`X` must have shape \(m, 10\) with m >= 1; got \(200, 3\)"),
    (lambda r, X, y: ValidationLoss(ridge_family(r), X, y[:5]), ValueError,
     r"`y` must have shape \(200,\)"),
    (lambda r, X, y: hypergradient_descent(ValidationLoss(ridge_family(r), X, y), 0.0,
                                           lr=1.0, steps=3), ValueError,
     r"`theta0` must be > 0 \(descent runs on log θ\); got min 0\.000e\+00"),
    (lambda r, X, y: hypergradient_descent(ridge_family(r), 1.0, lr=1.0, steps=3),
     TypeError, "`loss` must be a ValidationLoss; got AffineFamily"),
])
def test_bad_hypergradient_inputs_are_named(split, call, error, message):
    with pytest.raises(error, match=message):
        call(*split)
