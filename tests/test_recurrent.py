"""The linear recurrent network at its fixed point: derivatives, GD, Taylor model, refusals."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import GD, closed_form
from quadsim.calculus import check_grad, finite_difference_hvp
from quadsim.circular_law import ginibre
from quadsim.recurrent import LinearRecurrent, recurrent_task, recurrent_taylor, train
from quadsim.taylor import taylor_model

#: check_grad's Richardson-extrapolated central differences reach ~1e-10 relative on
#: well-scaled functions; (I − W)⁻¹ with ρ(W) ≈ 0.6 costs about a digit.
GRAD_TOL = 1e-8
#: Central differences of the gradient (eps^(2/3) relative, times the conditioning).
HVP_RTOL = 1e-6
#: Rank of a gradient by singular values: below RANK_RTOL·σ_1 is rounding.
RANK_RTOL = 1e-12
#: Exact identities computed two ways (symmetry of the HVP, the model at W0): rounding.
ROUNDING = 1e-11


def scalar_net(d=7, seed=0):
    """The seed's network: one input, one output, z = 2.5 x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=100)
    return LinearRecurrent(rng.normal(size=d) / np.sqrt(d), rng.normal(size=d) / np.sqrt(d),
                           x, 2.5 * x), ginibre(d, rng=seed + 1, std=0.6 / np.sqrt(d))


def vector_net(d=8, seed=0):
    net = recurrent_task(d, [[3.0, 0.9], [-0.6, 2.4], [0.5, 0.0]], n=60, rng=seed)
    return net, ginibre(d, rng=seed + 1, std=0.6 / np.sqrt(d))


NETS = {"scalar": scalar_net, "vector": vector_net}


@pytest.mark.parametrize("name", sorted(NETS))
def test_gradient_and_hvp_against_finite_differences(name):
    net, W = NETS[name]()
    check = check_grad(net.value, net.grad, W)
    assert check.error < GRAD_TOL, check
    rng = np.random.default_rng(3)
    U, V = rng.normal(size=W.shape), rng.normal(size=W.shape)
    exact = net.hvp(W, U)
    assert_allclose(exact, finite_difference_hvp(net.grad, W, U), rtol=0,
                    atol=HVP_RTOL * np.abs(exact).max())
    assert_allclose(np.vdot(V, exact), np.vdot(U, net.hvp(W, V)), rtol=ROUNDING)


@pytest.mark.parametrize("name", sorted(NETS))
def test_gradient_has_rank_at_most_min_inputs_outputs(name):
    net, W = NETS[name]()
    singular = np.linalg.svd(net.grad(W), compute_uv=False)
    rank = min(net.w_in.shape[1], net.w_out.shape[1])
    assert singular[rank - 1] > 1e-3 * singular[0]
    assert np.all(singular[rank:] < RANK_RTOL * singular[0])


def test_fixed_point_is_the_limit_of_the_recurrence():
    net, W = vector_net()
    h = np.zeros((net.n_samples, net.dim))
    for _ in range(400):  # ρ(W) ≈ 0.6: 0.6^400 is far below rounding
        h = h @ W.T + net.x @ net.w_in.T
    assert_allclose(net.fixed_point(W), h, rtol=1e-12, atol=1e-12)
    residual = h @ net.w_out - net.z
    assert_allclose(net.value(W), 0.5 * np.sum(residual**2) / net.n_samples, rtol=1e-12)
    assert_allclose(net.x @ net.gain(W).T, h @ net.w_out, rtol=1e-12, atol=1e-12)


def test_training_runs_while_the_spectral_radius_stays_below_one():
    net, W0 = vector_net(seed=1)
    run = train(net, W0, 0.005, [0, 1, 10, 100])
    assert run.stopped_at is None and run.reason is None
    assert_allclose(run.w[1], W0 - 0.005 * net.grad(W0), rtol=1e-14)
    assert np.all(np.diff(run.loss) < 0) and np.all(run.radius < 1)
    # Gains far beyond what a contraction near W0 gives: GD drives an eigenvalue to 1.
    greedy = recurrent_task(8, [[40.0, 0.0], [0.0, 40.0]], n=60, rng=2)
    stopped = train(greedy, W0, 0.05, 200)
    assert stopped.stopped_at is not None and "ρ(W_" in stopped.reason
    t = stopped.stopped_at
    assert stopped.radius[t] >= 1 and np.all(stopped.radius[:t] < 1)
    assert np.all(np.isnan(stopped.loss[t:])) and np.all(np.isfinite(stopped.loss[:t]))


def test_taylor_model_predicts_early_training_and_reports_where_they_part():
    net, W0 = vector_net(seed=1)
    lr, steps = 0.005, 60
    comparison = recurrent_taylor(net, W0, lr, steps)
    # The model is exact at W0 to second order: one step agrees to rounding.
    assert comparison.deviation[1] <= ROUNDING * comparison.distance[1]
    assert comparison.parting_step is not None and comparison.parting_step > 2
    t = comparison.parting_step
    assert np.all(comparison.deviation[1:t] <= 0.1 * comparison.distance[1:t])
    assert comparison.deviation[t] > 0.1 * comparison.distance[t]
    # The prediction is closed_form of GD on the model: the same from a fresh model.
    model = taylor_model(net.value, net.grad, W0, hvp=net.hvp)
    assert_allclose(model.value(W0.ravel()), net.value(W0), rtol=ROUNDING)
    assert_allclose(model.grad(W0.ravel()), net.grad(W0).ravel(), atol=ROUNDING)
    predicted = closed_form(model, GD(lr), W0.ravel(), [0, t])
    assert_allclose(predicted.loss[-1], comparison.predicted_loss[t], rtol=1e-9)


def test_refusals_name_the_reason():
    net, W = scalar_net()
    with pytest.raises(ValueError, match=r"spectral radius 1\.5 >= 1"):
        net.value(1.5 * np.eye(7))
    with pytest.raises(ValueError, match="spectral radius"):
        net.grad(np.diag(np.r_[1.0, np.zeros(6)]))  # ρ = 1 exactly: I − W is singular
    with pytest.raises(ValueError, match="`W0` has spectral radius"):
        train(net, 1.01 * np.eye(7), 0.1, 5)
    greedy = recurrent_task(8, [[40.0, 0.0], [0.0, 40.0]], n=60, rng=2)
    with pytest.raises(ValueError, match="leaves the region"):
        recurrent_taylor(greedy, vector_net(seed=2)[1], 0.05, 200)
    with pytest.raises(ValueError, match="shape"):
        net.value(np.zeros((7, 6)))
    with pytest.raises(ValueError, match="`x` must have 1 columns"):
        LinearRecurrent(np.ones(4), np.ones(4), np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="`z` must have 5 rows"):
        LinearRecurrent(np.ones(4), np.ones(4), np.ones(5), np.ones(6))
    with pytest.raises(TypeError, match="LinearRecurrent"):
        train("net", W, 0.1, 5)
