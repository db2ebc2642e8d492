"""The phenomena of the toy model against independent computations."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import (
    GD,
    GradientFlow,
    LinearRegression,
    Minibatch,
    Momentum,
    Nesterov,
    Quadratic,
    closed_form,
    convergence_rate,
    measured_rate,
    optimal_gd,
    simulate,
)
from quadsim.double_descent import (
    asymptotic_risk,
    exact_risk,
    monte_carlo_risk,
    smallest_nonzero_eigenvalue,
)
from quadsim.normalization import mean_outlier_bounds, standardize, synthetic_features
from quadsim.regularization import (
    effective_ridge,
    flow_filter,
    gd_filter,
    null_space_part,
    ridge_filter,
    validation_curves,
)
from quadsim.spectra import (
    MarchenkoPastur,
    hutchinson_trace,
    spectral_density,
    top_eigenpairs,
)

#: Linear algebra on small well-scaled problems (pinv, dense solves): rounding only.
LINALG_RTOL = 1e-10
#: A component that no update touches, against itself: the rounding of the projection.
UNTOUCHED_ATOL = 1e-12
#: Monte Carlo bound in standard errors computed from the samples (about 25 comparisons).
MC_SIGMAS = 4.0


def underdetermined(seed=0, n=20, d=50):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    return LinearRegression(X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)), rng


@pytest.mark.parametrize("method", [GD(0.5), Momentum(0.3, 0.9), Nesterov(0.3, 0.9)],
                         ids=["gd", "heavy-ball", "nesterov"])
def test_methods_from_zero_reach_the_minimum_norm_solution(method):
    problem, rng = underdetermined()
    min_norm = np.linalg.pinv(problem.X) @ problem.y
    limit = closed_form(problem, method, np.zeros(50), [10**7]).w[-1]
    assert_allclose(limit, min_norm, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    # From any w0 the null-space part stays: the limit is X⁺y plus that part.
    w0 = rng.normal(size=50)
    null0 = null_space_part(problem, w0)
    theory = closed_form(problem, method, w0, [0, 10, 1000, 10**7])
    assert_allclose(null_space_part(problem, theory.w), np.broadcast_to(null0, (4, 50)),
                    atol=UNTOUCHED_ATOL)
    assert_allclose(theory.w[-1], min_norm + null0, rtol=LINALG_RTOL, atol=LINALG_RTOL)
    for basis in ("raw", "eigen"):
        run = simulate(problem, method, w0, 300, basis=basis)
        assert_allclose(null_space_part(problem, run.w), np.broadcast_to(null0, (301, 50)),
                        atol=UNTOUCHED_ATOL)


def test_sgd_never_moves_the_null_space_part_on_any_path():
    problem, rng = underdetermined(1)
    w0 = rng.normal(size=50)
    runs = simulate(Minibatch(problem, 3), Momentum(0.05, 0.5), w0, 200, runs=16, rng=2)
    drift = null_space_part(problem, runs.w) - null_space_part(problem, w0)
    assert np.abs(drift).max() < UNTOUCHED_ATOL
    null = np.linalg.svd(problem.X)[2][20:]  # an independent basis of the null space
    assert_allclose(runs.w @ null.T, np.broadcast_to(null @ w0, (16, 201, 30)),
                    atol=UNTOUCHED_ATOL)


def test_filters_are_the_closed_forms():
    problem, _ = underdetermined(2)
    frame = problem.quadratic.frame
    a, u_star = frame.eigenvalues, frame.stationary_point
    moving = a > 0
    steps = [1, 7, 100, 5000]
    gd = frame.to_eigen(closed_form(problem, GD(0.7), np.zeros(50), steps).w)
    assert_allclose(gd[:, moving] / u_star[moving], gd_filter(a[moving], 0.7, np.c_[steps]),
                    rtol=1e-9)
    times = np.array([0.5, 3.0, 40.0])
    flow = frame.to_eigen(closed_form(problem, GradientFlow(), np.zeros(50), times).w)
    assert_allclose(flow[:, moving] / u_star[moving], flow_filter(a[moving], times[:, None]),
                    rtol=1e-9)
    for lam in (0.01, 0.3):
        dense = np.linalg.solve(problem.X.T @ problem.X / 20 + lam * np.eye(50),
                                problem.X.T @ problem.y / 20)
        assert_allclose(frame.from_eigen(ridge_filter(a, lam) * u_star), dense,
                        rtol=LINALG_RTOL, atol=LINALG_RTOL)
    # GD past the stability edge: the filter carries the sign of (1 − lr·a)^t.
    assert_allclose(gd_filter([3.0], 1.0, 3), [1.0 - (-2.0) ** 3])


def test_effective_ridge_is_the_closest_ridge():
    problem, _ = underdetermined(3)
    frame = problem.quadratic.frame
    a, u_star = frame.eigenvalues, frame.stationary_point
    for lr, t in ((0.5, 3), (0.5, 30), (1.0, 200)):  # GD not yet converged: λ matters
        lam = effective_ridge(problem, lr, t)
        gd = gd_filter(a, lr, t)

        def mismatch(x, gd=gd):
            return np.sum((gd - ridge_filter(a, x)) ** 2 * u_star**2)

        grid = lam * np.geomspace(0.5, 2.0, 41)
        assert mismatch(lam) <= min(mismatch(x) for x in grid) + 1e-15
        assert 0.1 < lam * lr * t < 10.0  # the first-order match λ ≈ 1/(lr·t)


def test_validation_curves_are_refits():
    problem, rng = underdetermined(4)
    X_val = rng.normal(size=(30, 50)) / np.sqrt(50)
    y_val = X_val @ rng.normal(size=50)
    gd, ridge = validation_curves(problem, X_val, y_val, 0.5, [3, 40], [0.05, 1.0])
    for k, t in enumerate([3, 40]):
        w = closed_form(problem, GD(0.5), np.zeros(50), [t]).w[0]
        assert gd[k] == pytest.approx(0.5 * np.mean((X_val @ w - y_val) ** 2), rel=1e-10)
    for k, lam in enumerate([0.05, 1.0]):
        w = LinearRegression(problem.X, problem.y, l2=lam).quadratic.minimizer()
        assert ridge[k] == pytest.approx(0.5 * np.mean((X_val @ w - y_val) ** 2), rel=1e-10)


@pytest.mark.parametrize("d", [10, 34, 46, 80])
def test_double_descent_exact_risk_against_monte_carlo(d):
    # Away from d = n ± 3, where the risk has a finite variance.
    n = 40
    mean, stderr = monte_carlo_risk(n, d, noise=0.25, signal=1.0, trials=300, rng=d)
    exact = exact_risk(n, d, noise=0.25, signal=1.0)
    assert abs(mean - exact) < MC_SIGMAS * stderr


def test_double_descent_peak_and_limits():
    assert exact_risk(40, 40, noise=0.25, signal=1.0) == np.inf
    assert exact_risk(40, 39, noise=0.25, signal=1.0) == np.inf
    risks = [exact_risk(40, d, noise=0.25, signal=1.0) for d in (20, 30, 36, 38)]
    assert np.all(np.diff(risks) > 0)  # rising towards the peak
    # The finite-n formulas tend to the proportional limits.
    for gamma in (0.5, 2.0):
        limit = asymptotic_risk(gamma, noise=0.25, signal=1.0)[0]
        big = exact_risk(10**6, int(gamma * 10**6), noise=0.25, signal=1.0)
        assert big == pytest.approx(limit, rel=1e-5)
    # Ridge flattens the peak: finite at γ = 1, and below min-norm around it.
    ridge = asymptotic_risk([0.8, 1.0, 1.25], noise=0.25, signal=1.0, ridge=0.1)
    plain = asymptotic_risk([0.8, 1.0, 1.25], noise=0.25, signal=1.0)
    assert np.all(np.isfinite(ridge)) and np.all(ridge < plain)
    with pytest.raises(ValueError, match="`gamma` must be d/n > 0"):
        asymptotic_risk([0.5, -1.0], noise=1.0, signal=1.0)


@pytest.mark.parametrize(("gamma", "lam"), [(0.5, 0.1), (1.0, 0.1), (2.0, 0.5)])
def test_ridge_limit_against_monte_carlo(gamma, lam):
    # n = 120: the finite-size correction is O(1/n); 3% covers it (measured ≤ 1%).
    n = 120
    mean, stderr = monte_carlo_risk(n, int(gamma * n), noise=0.25, signal=1.0, ridge=lam,
                                    trials=40, rng=5)
    limit = asymptotic_risk(gamma, noise=0.25, signal=1.0, ridge=lam)[0]
    assert abs(mean - limit) < MC_SIGMAS * stderr + 0.03 * limit


def test_smallest_nonzero_eigenvalue_tends_to_the_edge():
    rng = np.random.default_rng(6)
    for n, d in ((1600, 400), (400, 1600)):
        value = smallest_nonzero_eigenvalue(rng.normal(size=(n, d)))
        assert value == pytest.approx((1.0 - np.sqrt(d / n)) ** 2, rel=0.1)


def test_normalization_removes_the_mean_outlier_and_speeds_gd():
    X = synthetic_features(400, 8, rng=1)
    y = X @ np.ones(8)
    raw = LinearRegression(X, y)
    low, high = mean_outlier_bounds(X)
    assert low <= raw.quadratic.eigenvalues[-1] * (1 + 1e-12)
    assert raw.quadratic.eigenvalues[-1] <= high * (1 + 1e-12)
    Z, _, _ = standardize(X)
    assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    scaled = LinearRegression(Z, y - y.mean())
    assert scaled.quadratic.condition_number < raw.quadratic.condition_number / 100
    for problem in (raw, scaled):
        method = optimal_gd(problem)
        theory = convergence_rate(problem, method)
        # A window where the error has fallen by 1e2 and not yet by 1e8 (rounding).
        start = int(np.log(1e-2) / np.log(theory))
        measured = measured_rate(problem, method, np.zeros(8), start, 3 * start)
        assert measured == pytest.approx(theory, rel=2e-3)


def known_spectrum(seed=0):
    rng = np.random.default_rng(seed)
    values = np.r_[np.zeros(150), rng.uniform(0.1, 1.0, 140), [3, 5, 8, 13, 21, 34, 55, 89,
                                                               144, 233]]
    return Quadratic.from_eigenvalues(values, rng=seed), values


def test_lanczos_top_eigenpairs_within_their_residual_bound():
    problem, values = known_spectrum()
    found, vectors, residuals = top_eigenpairs(problem.hvp, 300, 10)
    expected = np.sort(values)[::-1][:10]
    assert np.all(np.abs(found - expected) <= residuals + 1e-12 * expected)
    assert_allclose(vectors.T @ vectors, np.eye(10), atol=1e-10)
    with pytest.raises(ValueError, match="`k` must be smaller than the dimension d = 300"):
        top_eigenpairs(problem.hvp, 300, 300)
    with pytest.raises(ValueError, match=r"`hvp` must map a vector of shape \(300,\)"):
        top_eigenpairs(lambda v: v[:3], 300, 2)
    with pytest.raises(TypeError, match="`hvp` must be a callable"):
        top_eigenpairs(np.eye(3), 3, 1)


def test_hutchinson_trace_within_its_error():
    problem, values = known_spectrum(1)
    estimate, stderr = hutchinson_trace(problem.hvp, 300, 400, rng=3)
    assert abs(estimate - values.sum()) < MC_SIGMAS * stderr
    diagonal = Quadratic(np.arange(1.0, 11.0))
    assert hutchinson_trace(diagonal.hvp, 10, 3) == (55.0, 0.0)  # no variance on a diagonal
    with pytest.raises(ValueError, match="`probes` must be a positive integer; got 0"):
        hutchinson_trace(diagonal.hvp, 10, 0)


def test_spectral_density_close_to_the_spectrum():
    problem, values = known_spectrum(2)
    density = spectral_density(problem.hvp, 300, probes=20, steps=60, rng=4)
    grid = np.linspace(-1.0, 240.0, 5000)
    exact = np.searchsorted(np.sort(values), grid, side="right") / 300
    estimate = density.cdf(grid)
    # Wasserstein-1 distance of the spectral measures, relative to their spread: the
    # rule is exact on polynomials of degree < 120 for each probe; 20 probes leave a
    # probe-to-probe error of the CDF (cdf_stderr) of ~1e-2.
    wasserstein = np.sum(np.abs(estimate - exact)) * (grid[1] - grid[0])
    assert wasserstein < 0.02 * values.std()
    assert np.max(np.abs(estimate - exact)) < MC_SIGMAS * density.cdf_stderr(grid).max() + 0.02
    smoothed = density.density(np.linspace(-5, 240, 2000), 0.5)
    assert np.sum(smoothed) * (245 / 1999) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize(("n", "d"), [(2000, 500), (500, 1000)])
def test_marchenko_pastur_against_the_empirical_spectrum(n, d):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, d))
    eigenvalues = np.linalg.eigvalsh(X.T @ X / n)
    eigenvalues[np.abs(eigenvalues) < 1e-9] = 0.0
    law = MarchenkoPastur(d / n)
    assert np.mean(eigenvalues == 0.0) == pytest.approx(law.zero_mass, abs=1e-12)
    grid = np.linspace(0.0, law.edges[1] * 1.1, 400)
    empirical = np.searchsorted(np.sort(eigenvalues), grid, side="right") / d
    # Spectral CDFs fluctuate by O(1/min(n, d)), and the edges move by O(n^(-2/3)).
    assert np.max(np.abs(empirical - law.cdf(grid))) < 0.02
    low, high = law.edges
    positive = eigenvalues[eigenvalues > 0]
    assert positive.min() == pytest.approx(low, rel=0.15)
    assert positive.max() == pytest.approx(high, rel=0.05)
    with pytest.raises(ValueError, match="`gamma` must be > 0"):
        MarchenkoPastur(0.0)
