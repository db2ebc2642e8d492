"""Steps to target, batch-size scaling and short-horizon bias against brute force."""

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from quadsim import (
    GD,
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
)
from quadsim.horizon import best_constant_lr, greedy_schedule, tune_piecewise_schedule
from quadsim.scaling import (
    batch_size_scaling,
    method_grid,
    scan_steps_to_target,
    steps_to_target,
)

H = np.geomspace(1e-3, 1.0, 30)
W0 = np.ones(30)


def nqm(batch_size=16):
    return NoisyQuadratic(Quadratic(H), batch_size=batch_size)


def first_crossing(problem, method, target, horizon, ema=False):
    """Brute force: the exact expected loss at every step, the first one <= target."""
    exact = moments(problem, method, np.ones(problem.dim), horizon)
    loss = exact.ema_loss if ema else exact.loss
    below = np.flatnonzero(loss <= target)
    return int(below[0]) if below.size else None


CASES = {
    "sgd": (GD(0.5), False),
    "heavy-ball": (Momentum(0.2, 0.8), False),
    "nesterov": (Nesterov(0.3, 0.7), False),
    "preconditioned": (Preconditioned(0.5, H**-0.5), False),
    "sgd-ema": (GD(0.5, ema=0.9), True),
    "heavy-ball-ema": (Momentum(0.2, 0.8, ema=0.9), True),
    "sgd-step-decay": (GD(0.8, schedule=schedules.step_decay(50, 0.5)), False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_steps_to_target_is_the_first_crossing(name):
    method, ema = CASES[name]
    target = 0.12
    expected = first_crossing(nqm(), method, target, 3000, ema)
    assert expected is not None
    assert steps_to_target(nqm(), method, target, W0, ema=ema) == expected


def test_steps_to_target_on_finite_data_and_without_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4)) / 2
    data = LinearRegression(X, X @ np.ones(4) + 0.1 * rng.normal(size=20))
    target = data.quadratic.min_value() + 0.01
    model = Minibatch(data, 4)
    expected = first_crossing(model, GD(0.3), target, 400)
    assert steps_to_target(model, GD(0.3), target, np.ones(4)) == expected
    quadratic = Quadratic(H)
    assert steps_to_target(quadratic, Momentum(0.5, 0.5), 0.05, W0) == first_crossing(
        quadratic, Momentum(0.5, 0.5), 0.05, 3000)


def test_grouped_axes_give_the_ungrouped_answer():
    # 100 axes on 10 distinct curvatures; the kernel groups them, the general path not.
    h = np.repeat(np.geomspace(1e-2, 1.0, 10), 10)
    model = NoisyQuadratic(Quadratic(h), batch_size=4)
    w0 = np.random.default_rng(1).normal(size=100)
    for method in (GD(0.7), Momentum(0.3, 0.9)):
        grouped = steps_to_target(model, method, 0.2, w0)
        flat = dataclasses.replace(method, schedule=schedules.per_step(np.ones(5000)))
        assert grouped == steps_to_target(model, flat, 0.2, w0, max_steps=5000)


def test_unreachable_targets_are_none():
    assert steps_to_target(nqm(1), GD(1.9), 1e-3, W0) is None  # noise floor above it
    assert steps_to_target(nqm(), GD(2.5), 0.05, W0, max_steps=10**6) is None  # diverges
    assert steps_to_target(Quadratic(H, c=1.0), GD(0.5), 0.5, W0) is None  # below J*
    assert steps_to_target(nqm(), GD(0.5), 100.0, W0) == 0
    assert scan_steps_to_target(nqm(), [GD(1e-9)], 0.05, W0, max_steps=1000)[0] == -1


def test_a_floor_that_a_later_decay_lowers_is_not_taken_for_the_limit():
    # The loss settles at the first lr's floor for hundreds of steps before the decay at
    # t = 1000 lowers it below the target: the search must not stop at the plateau.
    model = NoisyQuadratic(Quadratic(np.array([1.0, 0.8, 0.5])), batch_size=1)
    method = GD(0.5, schedule=schedules.step_decay(1000, 0.1))
    plateau, final = moments(model, method, np.ones(3), [999, 3000]).loss
    target = 0.5 * (plateau + final)
    assert steps_to_target(model, method, target, np.ones(3), max_steps=10**4) == \
        first_crossing(model, method, target, 3000)
    # A large constant term: the probes agree to 1e-12 of |J| long before the target.
    shifted = Quadratic(np.array([1.0, 0.1]), c=1e11)
    flat = GD(1.0, schedule=schedules.per_step(np.ones(2000)))
    assert steps_to_target(shifted, flat, 1e11 + 1e-3, np.ones(2), max_steps=2000) == \
        first_crossing(shifted, flat, 1e11 + 1e-3, 2000)


def test_step_by_step_recursions_answer_without_iterating_to_the_horizon():
    # Finite data and online SGD iterate their moments step by step: an unreachable target
    # is answered once the expected loss has settled (or stopped being finite), not after
    # DEFAULT_MAX_STEPS = 10⁹ steps.
    stream = OnlineRegression(np.linspace(0.05, 1.0, 30), np.zeros(30), 0.1, 4)
    floor = moments(stream, GD(0.2), W0, [10**4]).loss[0]
    assert steps_to_target(stream, GD(0.2), floor * (1 - 1e-6), W0) is None
    assert steps_to_target(stream, GD(3.0), 0.01, W0) is None  # diverges in mean square
    target = floor * 1.01
    assert steps_to_target(stream, GD(0.2), target, W0) == first_crossing(
        stream, GD(0.2), target, 10**4)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4)) / 2
    data = LinearRegression(X, X @ np.ones(4) + 0.1 * rng.normal(size=20))
    assert steps_to_target(Minibatch(data, 4), GD(0.3), data.quadratic.min_value() + 1e-9,
                           np.ones(4)) is None  # below the noise floor


def test_method_grid_is_the_cartesian_product():
    grid = method_grid(Momentum, lr=[0.1, 0.2, 0.3], beta=[0.5, 0.9])
    assert len(grid) == 6 and grid[3] == Momentum(0.2, 0.9)
    preconditioned = method_grid(Preconditioned, lr=[0.1, 0.2], P=[H**-0.5])
    assert len(preconditioned) == 2
    with pytest.raises(ValueError, match="grid axis `beta` must be a non-empty sequence"):
        method_grid(Momentum, lr=[0.1], beta=[])
    with pytest.raises(TypeError, match="`method` must be a discrete method class"):
        method_grid(GD(0.1), lr=[0.1])


def test_batch_size_scaling():
    grid = method_grid(GD, lr=np.geomspace(1e-3, 1.9, 40))
    sizes = 2 ** np.arange(0, 12)
    scaling = batch_size_scaling(nqm(), grid, 0.05, W0, sizes)
    assert np.all(scaling.steps > 0) and np.all(np.diff(scaling.steps) <= 0)
    for k, B in enumerate(sizes):
        each = scan_steps_to_target(nqm(int(B)), grid, 0.05, W0)
        assert scaling.steps[k] == each[each >= 0].min()
        assert steps_to_target(nqm(int(B)), scaling.best[k], 0.05, W0) == scaling.steps[k]
    noiseless = scan_steps_to_target(Quadratic(H), grid, 0.05, W0)
    assert scaling.deterministic_steps == noiseless.min()
    assert scaling.steps[-1] >= scaling.deterministic_steps
    critical = scaling.critical_batch_size
    k = int(np.flatnonzero(sizes == critical)[0])
    assert scaling.steps[k] <= 2 * scaling.deterministic_steps < scaling.steps[k - 1]
    # Small batches: perfect scaling, the steps halve with each doubling of B.
    assert scaling.steps[0] / scaling.steps[1] == pytest.approx(2.0, rel=0.05)
    assert np.all(np.diff(scaling.best_lrs[:4]) > 0)


def test_greedy_schedule_is_one_step_optimal():
    greedy = greedy_schedule(nqm(4), GD(0.1), W0, 200)
    assert np.all(np.diff(greedy.rates) < 0)  # it decays
    for step in (0, 5, 100):
        for factor in (0.99, 1.01):
            rates = greedy.rates.copy()
            rates[step] *= factor
            nudged = dataclasses.replace(greedy.method, lr=float(rates[0]),
                                         schedule=schedules.per_step(rates / rates[0]))
            after = moments(nqm(4), nudged, W0, [step + 1]).loss[0]
            assert after > greedy.loss[step + 1]


def test_short_horizon_bias():
    # Greedy beats the schedules tuned for T = 2000 early, and loses at T.
    T = 2000
    greedy = greedy_schedule(nqm(4), GD(0.1), W0, T)
    constant = best_constant_lr(nqm(4), GD(0.1), W0, T)
    piecewise = tune_piecewise_schedule(nqm(4), GD(0.1), W0, T, [500, 1000, 1500])
    assert greedy.loss[10] < constant.loss[10]
    assert piecewise.final_loss < constant.final_loss < greedy.final_loss
    # The best constant lr is a minimum of E[J(w_T)].
    for factor in (0.98, 1.02):
        nudged = dataclasses.replace(constant.method, lr=constant.method.lr * factor)
        assert moments(nqm(4), nudged, W0, [T]).loss[0] > constant.final_loss


def test_bad_scaling_inputs():
    with pytest.raises(ValueError, match="`ema=True` targets the moving average's loss"):
        steps_to_target(nqm(), GD(0.1), 0.1, W0, ema=True)
    with pytest.raises(ValueError, match="`max_steps` must be a positive number of steps"):
        steps_to_target(nqm(), GD(0.1), 0.1, W0, max_steps=0)
    with pytest.raises(TypeError, match="`target` must be a real number"):
        steps_to_target(nqm(), GD(0.1), "low", W0)
    with pytest.raises(ValueError, match="`batch_sizes` must be increasing positive integers"):
        batch_size_scaling(nqm(), [GD(0.1)], 0.1, W0, [4, 2])
    with pytest.raises(TypeError, match="`model` must be a NoisyQuadratic"):
        greedy_schedule(Quadratic(H), GD(0.1), W0, 10)
    with pytest.raises(ValueError, match="`boundaries` must be strictly increasing steps"):
        tune_piecewise_schedule(nqm(), GD(0.1), W0, 100, [50, 200])
    with pytest.raises(ValueError, match="drop its `schedule` and `ema`"):
        greedy_schedule(nqm(), GD(0.1, ema=0.5), W0, 10)
    assert_array_equal(scan_steps_to_target(nqm(), [], 0.1, W0), np.zeros(0, dtype=np.int64))


def test_guesses_change_the_work_not_the_answer():
    grid = method_grid(GD, lr=np.geomspace(1e-3, 1.9, 25))
    plain = scan_steps_to_target(nqm(), grid, 0.05, W0)
    for scale in (0.1, 0.5, 1.0, 3.0):
        guesses = np.maximum((plain * scale).astype(np.int64), 0)
        assert_array_equal(scan_steps_to_target(nqm(), grid, 0.05, W0, guesses=guesses), plain)
    assert_array_equal(scan_steps_to_target(nqm(), grid, 0.05, W0,
                                            guesses=np.full(25, 10**8)), plain)
