"""Raw basis, eigenbasis, closed form and a naive numpy loop all give one trajectory."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from reference import axis_by_matrix_power, gradient_flow, loss, two_step

from quadsim import (
    GD,
    GradientFlow,
    LinearRegression,
    Momentum,
    Nesterov,
    Preconditioned,
    Quadratic,
    closed_form,
    newton,
    simulate,
)
from quadsim.kernels import trajectory as kernels

#: Agreement of the three computations (and the numpy loop) in float64, relative to
#: the largest entry of the trajectory.
TRAJECTORY_RTOL = 1e-10
#: Closed form at t = 0 against w0: one rotation into the eigenbasis and back.
ROUND_TRIP_RTOL = 1e-13
#: Closed form at t up to 1e12 against 60-digit matrix powers: the inputs' rounding,
#: amplified by t·h ~ 1e4 at t = 1e12, h = 1e-8.
HUGE_T_RTOL = 1e-11
#: The adaptive ODE solver used as gradient flow's independent twin reaches ~1e-11.
ODE_RTOL = 1e-9

STEPS = np.array([0, 1, 2, 3, 5, 8, 13, 50, 120])
PRECONDITIONER = np.diag(np.linspace(0.5, 1.5, 8)) + 0.05


def methods():
    return {
        "gd": GD(0.4),
        "momentum": Momentum(0.3, 0.8),
        "nesterov": Nesterov(0.25, 0.7),
        "preconditioned": Preconditioned(0.5, PRECONDITIONER),
    }


def assert_same(actual, desired, rtol=TRAJECTORY_RTOL):
    assert_array_equal(actual.steps, desired.steps)
    assert actual.diverged_at == desired.diverged_at
    assert_allclose(actual.w, desired.w, rtol=rtol, atol=rtol * np.max(np.abs(desired.w)))
    assert_allclose(actual.loss, desired.loss, rtol=rtol,
                    atol=rtol * np.max(np.abs(desired.loss)))


def reference_iterates(problem, method, w0, T):
    P = method.P if isinstance(method, Preconditioned) else None
    return two_step(problem.A, problem.b, w0, T, method.lr, method.momentum,
                    method.lookahead, P)


@pytest.mark.parametrize("name", sorted(methods()))
def test_three_ways_agree_with_numpy_loop(problem, w0, name):
    method = methods()[name]
    raw = simulate(problem, method, w0, STEPS)
    eigen = simulate(problem, method, w0, STEPS, basis="eigen")
    theory = closed_form(problem, method, w0, STEPS)
    iterates = reference_iterates(problem, method, w0, STEPS[-1])[STEPS]
    assert_allclose(raw.w, iterates, rtol=TRAJECTORY_RTOL,
                    atol=TRAJECTORY_RTOL * np.max(np.abs(iterates)))
    reference_loss = loss(problem.A, problem.b, problem.c, iterates)
    assert_allclose(raw.loss, reference_loss, rtol=TRAJECTORY_RTOL,
                    atol=TRAJECTORY_RTOL * np.max(np.abs(reference_loss)))
    assert raw.diverged_at is None
    assert_same(eigen, raw)
    assert_same(theory, raw)


def test_gradient_flow_three_ways(problem, w0):
    times = np.array([0.0, 0.1, 0.5, 1.0, 2.5, 6.0])
    raw = simulate(problem, GradientFlow(), w0, times)
    eigen = simulate(problem, GradientFlow(), w0, times, basis="eigen")
    assert_same(eigen, raw)
    ode = gradient_flow(problem.A, problem.b, w0, times)
    assert_allclose(raw.w, ode, rtol=ODE_RTOL, atol=ODE_RTOL * np.max(np.abs(ode)))


@pytest.mark.parametrize("name", sorted(methods()))
def test_closed_form_at_zero_is_start(problem, w0, name):
    traj = closed_form(problem, methods()[name], w0, [0])
    assert_allclose(traj.w[0], w0, rtol=ROUND_TRIP_RTOL, atol=ROUND_TRIP_RTOL)
    assert_allclose(traj.loss[0], problem.value(w0), rtol=ROUND_TRIP_RTOL)


@pytest.mark.parametrize("name", sorted(methods()))
def test_closed_form_at_large_t_is_minimizer(name):
    from conftest import PROBLEMS

    problem = PROBLEMS["well"]()
    w0 = np.ones(problem.dim)
    method = {"gd": GD(0.2), "momentum": Momentum(0.2, 0.5), "nesterov": Nesterov(0.2, 0.5),
              "preconditioned": Preconditioned(0.2, PRECONDITIONER)}[name]
    traj = closed_form(problem, method, w0, [10**6, 10**12])
    for w in traj.w:
        assert_allclose(w, problem.minimizer(), rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL)
    assert_allclose(closed_form(problem, GradientFlow(), w0, [1e6]).w[0],
                    problem.minimizer(), rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL)


def test_gd_with_small_lr_approaches_gradient_flow(w0):
    from conftest import PROBLEMS

    problem = PROBLEMS["well"]()
    s = 1.5
    flow = closed_form(problem, GradientFlow(), w0, [s]).w[0]
    errors = []
    for T in (100, 1000, 10000):
        gd = closed_form(problem, GD(s / T), w0, [T]).w[0]
        errors.append(np.linalg.norm(gd - flow))
    # Euler's global error is first order in the step: ×10 fewer steps, ×10 less error.
    assert_allclose(np.array(errors[:-1]) / errors[1:], 10.0, rtol=0.02)


def test_newton_converges_in_one_step(w0):
    from conftest import PROBLEMS

    problem = PROBLEMS["ill"]()
    method = newton(problem)
    for basis in ("raw", "eigen"):
        traj = simulate(problem, method, w0, 1, basis=basis)
        assert_allclose(traj.w[1], problem.minimizer(), rtol=1e-9,
                        atol=1e-9 * np.max(np.abs(problem.minimizer())))
    assert_allclose(closed_form(problem, method, w0, [1]).w[0], problem.minimizer(),
                    rtol=1e-9)


@pytest.mark.parametrize("method", [GD(0.5), Momentum(0.3, 0.9), Nesterov(0.2, 0.6)])
def test_singular_axes_drift_and_freeze_exactly(method):
    from conftest import PROBLEMS

    problem = PROBLEMS["singular"]()
    frame = problem.frame
    w0 = np.random.default_rng(0).normal(size=problem.dim)
    u0 = frame.to_eigen(w0)
    steps = [0, 1, 7, 10**4, 10**9]
    traj = closed_form(problem, method, w0, steps)
    u = frame.to_eigen(traj.w)
    frozen, drifting = 0, 1  # the two null axes, b̃ = 0 and b̃ ≠ 0
    assert frame.eigenvalues[frozen] == frame.eigenvalues[drifting] == 0.0
    assert frame.b[frozen] == 0.0 and frame.b[drifting] != 0.0
    # Mapping back from w costs rounding relative to the drifted coordinate (~1e8).
    for row in u:
        assert_allclose(row[frozen], u0[frozen], rtol=0,
                        atol=ROUND_TRIP_RTOL * np.max(np.abs(row)))
    # Momentum sums its velocity: the drift per step tends to lr·b̃/(1 − β).
    t = np.asarray(steps, float)
    beta = method.momentum
    drift = -method.lr * frame.b[drifting] * (t - beta * (1 - beta**t) / (1 - beta)) / (1 - beta)
    assert_allclose(u[:, drifting] - u0[drifting], drift, rtol=1e-10, atol=1e-12)
    assert_same(simulate(problem, method, w0, steps[:4], basis="eigen"),
                closed_form(problem, method, w0, steps[:4]))


def test_divergence_is_reported_not_raised(w0):
    from conftest import PROBLEMS

    problem = PROBLEMS["well"]()
    lr = 2.2 / problem.eigenvalues[-1]
    # |1 − lr·a_max| = 1.2: overflow after about log(1e308/|u0|)/log(1.2) steps.
    offset = problem.to_eigenbasis(w0 - np.linalg.solve(problem.A, -problem.b))[-1]
    predicted = (np.log(np.finfo(float).max) - np.log(abs(offset))) / np.log(1.2)
    for basis in ("raw", "eigen"):
        traj = simulate(problem, GD(lr), w0, 5000, basis=basis)
        assert traj.diverged
        # The raw basis may overflow a few steps early, in A·w (|A w| ≤ 4|w| here).
        assert predicted - np.log(8 * problem.dim) / np.log(1.2) < traj.diverged_at
        assert traj.diverged_at < predicted + 1
        assert np.all(np.isnan(traj.w[traj.diverged_at:]))
        assert np.all(np.isnan(traj.loss[traj.diverged_at:]))
        # The loss (quadratic in w) may overflow to inf before the iterate does.
        assert not np.any(np.isnan(traj.loss[:traj.diverged_at]))
        assert np.all(np.isfinite(traj.w[:traj.diverged_at]))
    theory = closed_form(problem, GD(lr), w0, [10, 10**4])
    assert theory.diverged_at == 10**4
    assert np.isfinite(theory.loss[0]) and np.isnan(theory.loss[1])


@pytest.mark.parametrize("method_type", [Momentum, Nesterov])
@pytest.mark.parametrize("offset", [0.0, 1e-12, -1e-12, 1e-8, -1e-8, 1e-4, -1e-4])
def test_closed_form_near_a_repeated_root(method_type, offset):
    beta, lr = 0.81, 1.0
    # The companion matrix has a double root at h = (1−√β)² (heavy ball) and at
    # h = ((1−β)/(1+β))² (Nesterov): the Jordan-block case.
    if method_type is Momentum:
        h_double = (1 - np.sqrt(beta)) ** 2
    else:
        h_double = ((1 - beta) / (1 + beta)) ** 2
    a = np.array([h_double * (1 + offset), 1.0])
    problem = Quadratic(np.diag(a), b=[0.3, -0.2])
    method = method_type(lr, beta)
    steps = [0, 1, 2, 10, 100, 1000, 3000]
    assert_same(closed_form(problem, method, [1.0, 1.0], steps),
                simulate(problem, method, [1.0, 1.0], steps, basis="eigen"))


@pytest.mark.parametrize("method", [GD(1.0), Momentum(0.5, 0.5), Nesterov(0.5, 0.5)])
def test_closed_form_at_huge_t(method):
    # h = 1e-8 per step on the slow axis: after 10^8 steps it has moved by about e^{-1},
    # and the closed form must keep full accuracy (expm1/log1p, no pow of 1 − h).
    a, b = np.array([1e-8, 0.5]), np.array([1e-8, 0.1])
    problem = Quadratic(np.diag(a), b)
    w0 = [3.0, 1.0]
    steps = [0, 10**4, 10**6]
    # The iterated kernel accumulates rounding ~ t·eps, so it is compared up to 10^6.
    assert_same(closed_form(problem, method, w0, steps),
                simulate(problem, method, w0, steps, basis="eigen"))
    for t in (10**6, 10**8, 10**12):
        theory = closed_form(problem, method, w0, [t]).w[0]
        exact = [axis_by_matrix_power(a[j], b[j], w0[j], t, method.lr, method.momentum,
                                      method.lookahead) for j in range(2)]
        assert_allclose(theory, exact, rtol=HUGE_T_RTOL, atol=HUGE_T_RTOL)


def test_linear_regression_is_usable_as_a_problem():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(30, 5)), rng.normal(size=30)
    regression = LinearRegression(X, y, l2=0.1)
    w0 = rng.normal(size=5)
    traj = simulate(regression, GD(0.2), w0, 40)
    assert_same(traj, simulate(regression.quadratic, GD(0.2), w0, 40))
    assert_allclose(traj.loss, regression.value(traj.w), rtol=1e-12)
    assert_same(closed_form(regression, Momentum(0.2, 0.5), w0, 40),
                simulate(regression, Momentum(0.2, 0.5), w0, 40))


def test_steps_are_recorded_exactly_as_asked(w0):
    from conftest import PROBLEMS

    problem = PROBLEMS["well"]()
    steps = np.array([3, 4, 1000])
    traj = simulate(problem, GD(0.1), w0, steps)
    assert_array_equal(traj.steps, steps)
    assert traj.w.shape == (3, problem.dim) and traj.loss.shape == (3,)
    full = simulate(problem, GD(0.1), w0, 1000)
    assert_allclose(traj.w, full.w[steps], rtol=0, atol=0)


def test_trajectory_round_trips_through_npz(tmp_path, w0):
    from conftest import PROBLEMS

    problem = PROBLEMS["well"]()
    traj = simulate(problem, GD(0.6), w0, [0, 10, 10**5])
    path = tmp_path / "run.npz"
    traj.save(path)
    back = type(traj).load(path)
    assert_array_equal(back.w, traj.w)
    assert back.diverged_at == traj.diverged_at


def test_each_kernel_compiles_one_specialisation_per_product(w0):
    from conftest import PROBLEMS

    problem = PROBLEMS["well"]()
    simulate(problem, GD(1), w0.astype(np.float32), np.array([0, 2], dtype=np.int32))
    simulate(problem, GD(np.float32(0.5)), list(w0), np.array([1, 4], dtype=np.uint8))
    simulate(problem, Momentum(0.1, 0), list(w0), 3)
    simulate(problem, Nesterov(np.float32(0.1), 0.5), w0, 3)
    simulate(problem, Preconditioned(0.1, np.eye(8)), w0, 3)
    simulate(problem, GD(1), w0.astype(np.float32), [0, 2], basis="eigen")
    simulate(problem, Nesterov(0.1, 0.5), list(w0), 3, basis="eigen")
    test_large_problems_take_the_blas_path_and_agree("gd")
    test_large_problems_take_the_blas_path_and_agree("momentum")
    # A raw kernel compiles once with the jitted product and once with BLAS (its last
    # argument); the argument types are otherwise the same for every call.
    for kernel in (kernels.gd_raw, kernels.two_step_raw):
        assert len(kernel.signatures) == 2
        assert len({signature[:-1] for signature in kernel.signatures}) == 1
    assert len(kernels.two_step_eigen.signatures) == 1


spectra = st.lists(
    st.one_of(st.just(0.0), st.floats(-0.5, 3.0, allow_nan=False)), min_size=1, max_size=6)


@settings(deadline=None, max_examples=40)
@given(spectrum=spectra, seed=st.integers(0, 2**32 - 1),
       method_index=st.integers(0, 2))
def test_rotation_equivariance(spectrum, seed, method_index):
    """Simulating Q·problem from Q·w0 gives Q·trajectory."""
    rng = np.random.default_rng(seed)
    d = len(spectrum)
    problem = Quadratic.from_eigenvalues(spectrum, rng.normal(size=d), rng=rng)
    Q = Quadratic.from_eigenvalues(np.ones(d), rng=rng).eigenvectors
    rotated = Quadratic(Q @ problem.A @ Q.T, Q @ problem.b, problem.c)
    w0 = rng.normal(size=d)
    method = (GD(0.3), Momentum(0.2, 0.7), Nesterov(0.2, 0.5))[method_index]
    steps = [0, 1, 5, 20]
    traj = simulate(problem, method, w0, steps)
    turned = simulate(rotated, method, Q @ w0, steps)
    scale = max(1.0, np.max(np.abs(traj.w)))
    assert_allclose(turned.w, traj.w @ Q.T, rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_RTOL * scale)
    assert_allclose(turned.loss, traj.loss, rtol=TRAJECTORY_RTOL,
                    atol=TRAJECTORY_RTOL * max(1.0, np.max(np.abs(traj.loss))))
    assert_same(closed_form(rotated, method, Q @ w0, steps), turned)


@pytest.mark.parametrize("name", sorted(methods()))
def test_large_problems_take_the_blas_path_and_agree(name):
    from quadsim.kernels._blas import BLAS_MIN_DIM

    d = BLAS_MIN_DIM + 13
    rng = np.random.default_rng(6)
    problem = Quadratic.from_eigenvalues(np.linspace(0.05, 3.0, d), rng.normal(size=d), rng=6)
    method = {"gd": GD(0.5), "momentum": Momentum(0.3, 0.8), "nesterov": Nesterov(0.3, 0.7),
              "preconditioned": Preconditioned(0.4, np.diag(np.linspace(0.5, 1.5, d)))}[name]
    w0 = rng.normal(size=d)
    steps = [0, 1, 2, 10, 40]
    raw = simulate(problem, method, w0, steps)
    iterates = reference_iterates(problem, method, w0, steps[-1])[steps]
    assert_allclose(raw.w, iterates, rtol=TRAJECTORY_RTOL,
                    atol=TRAJECTORY_RTOL * np.max(np.abs(iterates)))
    assert_same(closed_form(problem, method, w0, steps), raw)
    assert_same(simulate(problem, method, w0, steps, basis="eigen"), raw)  # BLAS-3 map


@pytest.mark.parametrize("name", sorted(methods()))
def test_closed_form_loss_curve_is_the_closed_form_loss(problem, w0, name):
    from quadsim.theory import closed_form_loss

    method = methods()[name]
    steps = np.r_[np.arange(0, 60), 61, 75, 500, 501, 10**4]
    expected = closed_form(problem, method, w0, steps)
    finite = np.isfinite(expected.loss)
    loss = closed_form_loss(problem, method, w0, steps)
    # K·eps growth of the running products over 65 records stays far below this.
    assert_allclose(loss[finite], expected.loss[finite], rtol=TRAJECTORY_RTOL,
                    atol=TRAJECTORY_RTOL * np.max(np.abs(expected.loss[finite])))


def ill_regression(l2=0.0):
    """n = 30, d = 6 with XᵀX/n spread over [1e-4, 1] (κ = 1e4), in a random basis."""
    rng = np.random.default_rng(8)
    U = np.linalg.qr(rng.normal(size=(30, 6)))[0]
    V = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    X = (U * np.sqrt(30 * np.geomspace(1.0, 1e-4, 6))) @ V.T
    return LinearRegression(X, rng.normal(size=30), l2=l2), rng.normal(size=6)


@pytest.mark.parametrize("name", sorted(methods()))
@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_regressions_run_as_offsets_from_the_minimizer_everywhere(name, l2):
    # closed_form, closed_form_loss and simulate(basis="eigen") all take the offset form
    # J* + ½ Σ a e² for a regression; each must still agree with the raw-basis run.
    from quadsim.theory import closed_form_loss

    regression, w0 = ill_regression(l2)
    method = methods()[name]
    if isinstance(method, Preconditioned):
        method = Preconditioned(0.5, np.diag(np.linspace(0.5, 1.5, 6)))
    assert regression.quadratic.frame.minimum is not None
    steps = np.r_[0:40, 41, 100, 777, 3000]
    raw = simulate(regression, method, w0, steps)
    assert_same(simulate(regression, method, w0, steps, basis="eigen"), raw)
    assert_same(closed_form(regression, method, w0, steps), raw)
    loss = closed_form_loss(regression, method, w0, steps)
    assert_allclose(loss, raw.loss, rtol=TRAJECTORY_RTOL, atol=0)
    assert_allclose(raw.loss, regression.value(raw.w), rtol=TRAJECTORY_RTOL, atol=0)


def test_regression_divergence_is_reported_as_before():
    from quadsim.theory import closed_form_loss

    regression, w0 = ill_regression()
    method = GD(2.2 / regression.quadratic.eigenvalues[-1])
    raw = simulate(regression, method, w0, 5000)
    eigen = simulate(regression, method, w0, 5000, basis="eigen")
    assert raw.diverged and eigen.diverged
    # The bases overflow within a step or two of each other (in A·w, or in lr·a·u).
    assert abs(eigen.diverged_at - raw.diverged_at) <= 2
    for traj in (raw, eigen):
        assert np.all(np.isnan(traj.w[traj.diverged_at:]))
        assert np.all(np.isnan(traj.loss[traj.diverged_at:]))
    theory = closed_form(regression, method, w0, [10, 10**4])
    assert theory.diverged_at == 10**4
    assert np.isfinite(theory.loss[0]) and np.isnan(theory.loss[1])
    assert not np.isfinite(closed_form_loss(regression, method, w0, [10**4])[0])


def test_long_loss_curves_do_not_drift():
    # Consecutive records advance by r = fl(1 − h), whose rounding would compound to
    # T·eps/2 ≈ 5e-12 over T = 1e5 steps; the kernel recomputes r^t every ANCHOR_EVERY.
    from quadsim.kernels.lucas import ANCHOR_EVERY
    from quadsim.theory import closed_form_loss

    regression, w0 = ill_regression()
    method = GD(0.7)
    T = 100 * ANCHOR_EVERY
    curve = closed_form_loss(regression, method, w0, T)
    checked = np.r_[1, ANCHOR_EVERY - 1, ANCHOR_EVERY + 1, T // 3, T - 1, T]
    alone = np.array([closed_form_loss(regression, method, w0, [t])[0] for t in checked])
    assert_allclose(curve[checked], alone, rtol=ANCHOR_EVERY * np.finfo(float).eps, atol=0)


def test_eigenbasis_path_returns_the_kernel_loss(monkeypatch, w0):
    """The eigenbasis kernel computes J(w_t); simulate must not evaluate it again."""
    from conftest import PROBLEMS

    from quadsim import SpectralFrame

    problem = PROBLEMS["singular"]()
    raw = simulate(problem, Momentum(0.3, 0.8), w0, STEPS)

    def second_evaluation(*args, **kwargs):
        raise AssertionError("the loss was evaluated a second time")

    monkeypatch.setattr(SpectralFrame, "value", second_evaluation)
    monkeypatch.setattr(Quadratic, "value", second_evaluation)
    assert_same(simulate(problem, Momentum(0.3, 0.8), w0, STEPS, basis="eigen"), raw)


def test_eigenbasis_records_map_back_in_blocks(w0):
    """At d = 8 the 10001 records map back to w in several row blocks."""
    from conftest import PROBLEMS

    problem = PROBLEMS["ill"]()
    assert_same(simulate(problem, Momentum(0.5, 0.5), w0, 10_000, basis="eigen"),
                simulate(problem, Momentum(0.5, 0.5), w0, 10_000))
