"""Stochastic ensembles: seeding, raw = eigen path by path, Monte Carlo against exact moments."""

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from quadsim import (
    GD,
    Ensemble,
    GradientFlow,
    LinearRegression,
    Minibatch,
    Momentum,
    Nesterov,
    NoisyQuadratic,
    OnlineRegression,
    Preconditioned,
    Quadratic,
    moments,
    schedules,
    simulate,
)

#: Monte Carlo bound in standard errors computed from the samples. With about 200
#: comparisons in this file a false alarm has probability ~200 · 2Φ(−4.5) ≈ 1e-3 at most.
MC_SIGMAS = 4.5
#: Raw basis against eigenbasis on the same random numbers: rounding only.
PATH_RTOL = 1e-10

DIM = 5
STEPS = np.array([0, 1, 3, 10, 30, 100])


def nqm(batch_size=2, noise=None):
    problem = Quadratic.from_eigenvalues(np.linspace(0.2, 1.5, DIM), rng=3)
    return NoisyQuadratic(problem, noise, batch_size=batch_size)


def regression(l2=0.1):
    rng = np.random.default_rng(4)
    # Rows of norm ~1, so that single-example steps are stable in mean square at lr 0.5
    # (a heavy-tailed, mean-square divergent run has no Monte Carlo error bar).
    X = rng.normal(size=(12, DIM)) / np.sqrt(DIM)
    return LinearRegression(X, X @ rng.normal(size=DIM) + 0.5 * rng.normal(size=12), l2=l2)


def online(batch_size=2):
    rng = np.random.default_rng(6)
    covariance = Quadratic.from_eigenvalues(np.linspace(0.1, 0.8, DIM), rng=5).A
    return OnlineRegression(covariance, rng.normal(size=DIM), 0.25, batch_size)


MODELS = {
    "nqm": lambda: nqm(),
    "online": lambda: online(),
    "nqm-dense-noise": lambda: nqm(3, np.diag(np.linspace(0.1, 1.0, DIM)) + 0.05),
    "with-replacement": lambda: Minibatch(regression(), 2),
    "without-replacement": lambda: Minibatch(regression(), 3, replace=False),
}
#: The models of the path-by-path test: MODELS and two diagonal problems given out of order
#: (with a zero), whose axes are a permutation of the coordinates that the raw basis and
#: the eigenbasis must pair alike.
PATH_MODELS = {
    **MODELS,
    "nqm-diagonal": lambda: NoisyQuadratic(Quadratic(np.array([0.9, 0.0, 1.4, 0.3, 0.6]),
                                                     np.array([0.0, 0.0, 0.2, -0.1, 0.3])),
                                           batch_size=2),
    "online-diagonal": lambda: OnlineRegression(np.array([0.5, 0.1, 0.0, 0.8, 0.3]),
                                                np.linspace(-1.0, 1.0, DIM), 0.25, 2),
}
METHODS = {
    "sgd": GD(0.5),
    "heavy-ball": Momentum(0.3, 0.6),
    "nesterov-ema": Nesterov(0.3, 0.6, ema=0.7),
    "sgd-schedule": GD(0.6, schedule=schedules.linear_warmup(5, schedules.step_decay(20, 0.5))),
}


def assert_within_monte_carlo_error(ensemble, exact, ema=False):
    estimate = ensemble.mean_loss(ema=ema)
    stderr = ensemble.loss_stderr(ema=ema)
    target = exact.ema_loss if ema else exact.loss
    deterministic = stderr <= 1e-12 * np.abs(estimate)  # step 0: every run is at w0
    assert_allclose(estimate[deterministic], target[deterministic], rtol=1e-12)
    z = (estimate[~deterministic] - target[~deterministic]) / stderr[~deterministic]
    assert np.all(np.abs(z) < MC_SIGMAS), z


@pytest.mark.parametrize("method_name", sorted(METHODS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_ensemble_mean_loss_matches_exact_moments(model_name, method_name):
    model, method = MODELS[model_name](), METHODS[method_name]
    w0 = np.linspace(-1.0, 2.0, DIM)
    runs = simulate(model, method, w0, STEPS, runs=3000, rng=11, basis="eigen")
    exact = moments(model, method, w0, STEPS)
    assert_within_monte_carlo_error(runs, exact)
    if method.ema is not None:
        assert_within_monte_carlo_error(runs, exact, ema=True)


def test_loss_variance_matches_the_gaussian_formula():
    model = nqm(batch_size=1)
    runs = simulate(model, Momentum(0.3, 0.6), np.ones(DIM), [50, 200], runs=20000, rng=5,
                    basis="eigen")
    exact = moments(model, Momentum(0.3, 0.6), np.ones(DIM), [50, 200])
    centred = runs.loss - runs.loss.mean(axis=0)
    sample_var = np.mean(centred**2, axis=0) * runs.runs / (runs.runs - 1)
    # Standard error of a sample variance from the samples' fourth moment.
    stderr = np.sqrt((np.mean(centred**4, axis=0) - sample_var**2) / runs.runs)
    assert np.all(np.abs(sample_var - exact.loss_var) < MC_SIGMAS * stderr)


@pytest.mark.parametrize("model_name", sorted(PATH_MODELS))
@pytest.mark.parametrize("method", [Momentum(0.3, 0.6, ema=0.5),
                                    Preconditioned(0.4, np.linspace(0.5, 1.5, DIM))],
                         ids=["heavy-ball-ema", "preconditioned"])
def test_raw_and_eigen_runs_agree_path_by_path(model_name, method):
    model = PATH_MODELS[model_name]()
    w0 = np.linspace(-1.0, 2.0, DIM)
    raw = simulate(model, method, w0, STEPS, runs=4, rng=2)
    eigen = simulate(model, method, w0, STEPS, runs=4, rng=2, basis="eigen")
    scale = np.abs(raw.w).max()
    assert_allclose(eigen.w, raw.w, rtol=PATH_RTOL, atol=PATH_RTOL * scale)
    assert_allclose(eigen.loss, raw.loss, rtol=PATH_RTOL)
    if method.ema is not None:
        assert_allclose(eigen.ema, raw.ema, rtol=PATH_RTOL, atol=PATH_RTOL * scale)
    assert np.std(raw.loss[:, -1]) > 0.0  # the runs differ: there is noise


def test_online_runs_and_moments_keep_their_digits_for_a_far_teacher():
    # J = ½ eᵀΣe + σ²/2 on the deviation e = w − w*: with |w*| ≈ 1e8 the plain form
    # ½ wᵀΣw + bᵀw + c would lose every digit of the loss (J* = σ²/2 = 0.125).
    covariance = Quadratic.from_eigenvalues(np.linspace(0.1, 0.8, DIM), rng=5).A
    teacher = 2.0**27 * np.arange(-2.0, 3.0)  # ≈ 1e8, and w0 = w* + 1 exactly
    model = OnlineRegression(covariance, teacher, 0.25, 2)
    near = OnlineRegression(covariance, np.zeros(DIM), 0.25, 2)
    steps = [0, 10, 10**4]
    far = moments(model, GD(0.5), teacher + 1.0, steps)
    assert_allclose(far.loss, moments(near, GD(0.5), np.ones(DIM), steps).loss, rtol=1e-12)
    assert far.loss[0] == pytest.approx(0.125 + 0.5 * np.sum(covariance), rel=1e-12)
    runs = simulate(model, GD(0.5), teacher + 1.0, steps, runs=3, rng=4)
    shifted = simulate(near, GD(0.5), np.ones(DIM), steps, runs=3, rng=4)
    assert_allclose(runs.loss, shifted.loss, rtol=1e-12)
    assert_allclose(runs.w - teacher, shifted.w, atol=1e-7)  # |w| = 1e8: rounding of w


def test_reshuffling_runs_agree_path_by_path():
    model = Minibatch(regression(), 4, replace=False, reshuffle=True)
    raw = simulate(model, GD(0.3), np.zeros(DIM), 40, runs=3, rng=1)
    eigen = simulate(model, GD(0.3), np.zeros(DIM), 40, runs=3, rng=1, basis="eigen")
    assert_allclose(eigen.w, raw.w, rtol=PATH_RTOL, atol=PATH_RTOL)


def test_run_r_does_not_depend_on_the_number_of_runs_or_threads():
    model = MODELS["with-replacement"]()
    method = Momentum(0.3, 0.6)
    many = simulate(model, method, np.zeros(DIM), 30, runs=9, rng=123)
    few = simulate(model, method, np.zeros(DIM), 30, runs=3, rng=123)
    assert_array_equal(few.w, many.w[:3])
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = simulate(model, method, np.zeros(DIM), 30, runs=9, rng=123)
    finally:
        numba.set_num_threads(threads)
    assert_array_equal(serial.w, many.w)
    other = simulate(model, method, np.zeros(DIM), 30, runs=3, rng=124)
    assert not np.array_equal(other.w, few.w)
    generator = np.random.default_rng(7)
    first = simulate(model, method, np.zeros(DIM), 30, runs=2, rng=generator)
    second = simulate(model, method, np.zeros(DIM), 30, runs=2, rng=generator)
    assert not np.array_equal(first.w, second.w)  # the generator advanced


def test_sampling_without_replacement_draws_distinct_rows():
    # Each step's batch of n distinct rows is the whole data: full-batch GD exactly.
    data = regression()
    full = simulate(Minibatch(data, 12, replace=False), Momentum(0.2, 0.5), np.zeros(DIM),
                    STEPS, runs=3, rng=0)
    gd = simulate(data, Momentum(0.2, 0.5), np.zeros(DIM), STEPS)
    for r in range(3):
        assert_allclose(full.w[r], gd.w, rtol=1e-12, atol=1e-13)


def test_reshuffling_beats_independent_batches_at_epoch_ends():
    # Random reshuffling visits every example once per epoch: the noise of an epoch's
    # batches sums to zero at first order, so at epoch ends its excess loss is below a tenth
    # of that of independent subsets (whose exact moments are known; measured: ~1/50).
    data = regression(l2=0.0)
    epoch = 3  # 12 examples, batches of 4
    ends = np.arange(1200, 1300, epoch)  # past the transient (slowest rate 1 − 0.5·0.067)
    reshuffled = simulate(Minibatch(data, 4, replace=False, reshuffle=True), GD(0.5),
                          np.zeros(DIM), ends, runs=2000, rng=9, basis="eigen")
    independent = moments(Minibatch(data, 4, replace=False), GD(0.5), np.zeros(DIM), ends)
    floor = data.quadratic.min_value()
    gap = reshuffled.mean_loss() - floor
    assert np.all(gap + MC_SIGMAS * reshuffled.loss_stderr() < 0.1 * (independent.loss - floor))


def test_ensemble_summaries_and_storage(tmp_path):
    runs = simulate(nqm(), GD(0.5, ema=0.9), np.ones(DIM), STEPS, runs=50, rng=0)
    assert isinstance(runs, Ensemble) and runs.runs == 50
    assert runs.w.shape == (50, len(STEPS), DIM) and runs.ema.shape == runs.w.shape
    assert_allclose(runs.mean_loss(), runs.loss.mean(axis=0))
    assert runs.loss_quantiles([0.1, 0.9]).shape == (2, len(STEPS))
    one = runs.run(3)
    assert_array_equal(one.w, runs.w[3]) and one.diverged_at is None
    path = tmp_path / "runs.npz"
    runs.save(path)
    again = Ensemble.load(path)
    assert_array_equal(again.w, runs.w)
    assert_array_equal(again.ema_loss, runs.ema_loss)
    assert "runs=50" in repr(runs)


def test_divergence_is_recorded_per_run():
    runs = simulate(nqm(), GD(1.6), np.ones(DIM), [0, 10, 5000], runs=4, rng=0)
    assert np.all(runs.diverged) and np.all(runs.diverged_at > 10)
    assert np.all(np.isnan(runs.loss[:, -1])) and np.all(np.isfinite(runs.loss[:, 1]))


def test_large_diagonal_nqm_runs_in_the_eigenbasis():
    d = 10_000
    h = 1.0 / np.arange(1, d + 1)
    runs = simulate(NoisyQuadratic(Quadratic(h), batch_size=64), GD(1.0), np.ones(d),
                    [0, 20], runs=2, rng=0, basis="eigen")
    assert runs.w.shape == (2, 2, d)
    with pytest.raises(ValueError, match="spectrum alone"):
        simulate(NoisyQuadratic(Quadratic(h)), GD(1.0), np.ones(d), 2, runs=1)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"runs": 0}, ValueError, "`runs` must be a positive integer; got 0"),
    ({"runs": 2.0}, TypeError, "`runs` must be a positive integer"),
    ({"rng": "seed"}, TypeError, "`rng` must be an int seed, a numpy Generator or None"),
    ({"rng": -1}, ValueError, "`rng` must be a non-negative seed"),
])
def test_bad_ensemble_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        simulate(nqm(), GD(0.1), np.ones(DIM), 3, **kwargs)


def test_bad_noise_models():
    problem = Quadratic(np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="`noise=None` means C = A, which must be positive"):
        NoisyQuadratic(problem)
    with pytest.raises(ValueError, match="`noise` covariance must be positive semi-definite"):
        NoisyQuadratic(Quadratic(np.eye(2)), np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="`noise` covariance must be symmetric"):
        NoisyQuadratic(Quadratic(np.eye(2)), np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"`noise` must have shape \(2,\)"):
        NoisyQuadratic(Quadratic(np.eye(2)), np.eye(3))
    with pytest.raises(ValueError, match="`noise` variances must be >= 0"):
        NoisyQuadratic(Quadratic(np.eye(2)), [1.0, -0.1])
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer; got 0"):
        NoisyQuadratic(Quadratic(np.eye(2)), batch_size=0)
    with pytest.raises(TypeError, match="`batch_size` must be a positive integer"):
        Minibatch(regression(), 2.5)
    with pytest.raises(ValueError, match=r"`batch_size` must be <= n = 12"):
        Minibatch(regression(), 13, replace=False)
    with pytest.raises(ValueError, match="pass replace=False"):
        Minibatch(regression(), 2, reshuffle=True)
    with pytest.raises(TypeError, match="`regression` must be a LinearRegression"):
        Minibatch(Quadratic(np.eye(2)), 1)
    with pytest.raises(ValueError, match="`covariance` must not be empty"):
        OnlineRegression(np.ones(0), np.ones(0))
    with pytest.raises(ValueError, match="`P`"):
        simulate(online(), Preconditioned(0.1, np.eye(3)), np.ones(DIM), 3, runs=2)
    with pytest.raises(ValueError, match="`covariance` must be positive semi-definite"):
        OnlineRegression(np.diag([1.0, -1.0]), np.ones(2))
    with pytest.raises(ValueError, match="`covariance` must be a non-empty square matrix"):
        OnlineRegression(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="`covariance` must be symmetric"):
        OnlineRegression(np.array([[1.0, 0.5], [0.0, 1.0]]), np.ones(2))
    with pytest.raises(ValueError, match="`teacher` must have shape"):
        OnlineRegression(np.eye(2), np.ones(3))
    with pytest.raises(ValueError, match="`noise` must be"):
        OnlineRegression(np.eye(2), np.ones(2), noise=-1.0)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer; got 0"):
        OnlineRegression(np.eye(2), np.ones(2), batch_size=0)
    with pytest.raises(TypeError, match="`runs` and `rng` need a noise model"):
        simulate(Quadratic(np.eye(2)), GD(0.1), np.ones(2), 3, runs=2)
    with pytest.raises(TypeError, match="GradientFlow has no stochastic version"):
        simulate(nqm(), GradientFlow(), np.ones(DIM), 1.0)


def test_bad_schedules():
    with pytest.raises(ValueError, match="`factors` must be a non-empty array of positive"):
        schedules.per_step([1.0, 0.0])
    with pytest.raises(ValueError, match="defines 3 steps; the run takes 10"):
        simulate(nqm(), GD(0.1, schedule=schedules.per_step([1.0, 1.0, 1.0])), np.ones(DIM),
                 10, runs=1)
    with pytest.raises(ValueError, match="`boundaries` must be strictly increasing"):
        schedules.piecewise_constant([5, 3], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match=r"`values` must have shape \(3,\)"):
        schedules.piecewise_constant([3, 5], [1.0, 0.5])
    with pytest.raises(TypeError, match=r"`schedule` must be a quadsim\.schedules\.Schedule"):
        GD(0.1, schedule=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"`ema` must lie in \[0, 1\)"):
        GD(0.1, ema=1.0)
