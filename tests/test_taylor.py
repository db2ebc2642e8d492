"""Taylor models: exact on quadratics, their Hessians against exact HVPs, GD against them."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim import GD, Quadratic, closed_form
from quadsim.calculus import check_grad, finite_difference_hvp
from quadsim.taylor import (
    TanhReadout,
    TwoLayerTanh,
    compare_with_taylor,
    taylor_horizon,
    taylor_model,
    teacher_data,
)

#: Gradients against check_grad (see tests/test_calculus.py), for functions whose value
#: is up to ~30× their largest gradient entry.
GRAD_RTOL = 3e-9
#: Hessians from central differences of the gradient: ~eps^(2/3) relative, times the
#: scale ratio.
FD_RTOL = 1e-7
#: Exact Hessian-vector products against each other: rounding only.
EXACT_RTOL = 1e-12


def quadratic():
    return Quadratic.from_eigenvalues(np.array([-0.3, 0.0, 0.5, 1.0, 2.0]),
                                      b=np.array([0.2, 0.0, -1.0, 0.4, 1.0]), c=0.7, rng=1)


@pytest.mark.parametrize("exact", [False, True])
def test_the_taylor_model_of_a_quadratic_is_the_quadratic(exact):
    q = quadratic()
    x0 = np.random.default_rng(2).normal(size=5)
    hvp = (lambda x, v: q.A @ v) if exact else None
    model = taylor_model(q.value, q.grad, x0, hvp=hvp)
    rtol = EXACT_RTOL if exact else FD_RTOL
    assert_allclose(model.A, q.A, rtol=0, atol=rtol * np.abs(q.A).max())
    assert_allclose(model.b, q.b, rtol=0, atol=rtol * 10)
    assert_allclose(model.c, q.c, rtol=0, atol=rtol * 10)
    run = compare_with_taylor(q.value, q.grad, x0, 0.3, 50, model=model)
    assert run.parting_step is None
    assert_allclose(run.predicted_loss, run.loss, rtol=0, atol=rtol * 100)


def test_taylor_model_matches_value_gradient_and_hessian_at_the_point():
    rng = np.random.default_rng(3)
    readout = TanhReadout(rng.normal(size=(6, 4)), rng.normal(size=(6, 3)))
    W0, U = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    assert check_grad(readout.value, readout.grad, W0).error < GRAD_RTOL
    assert_allclose(readout.hvp(W0, U), finite_difference_hvp(readout.grad, W0, U),
                    rtol=FD_RTOL, atol=FD_RTOL * np.abs(readout.hvp(W0, U)).max())
    exact = taylor_model(readout.value, readout.grad, W0, hvp=readout.hvp)
    fd = taylor_model(readout.value, readout.grad, W0)
    assert exact.dim == 12
    assert_allclose(fd.A, exact.A, rtol=0, atol=FD_RTOL * np.abs(exact.A).max())
    x0 = W0.ravel()
    assert_allclose(exact.value(x0), readout.value(W0), rtol=EXACT_RTOL)
    # g − H x₀ + H x₀: cancellation of ~|H x₀| · eps.
    assert_allclose(exact.grad(x0), readout.grad(W0).ravel(), rtol=0,
                    atol=EXACT_RTOL * np.abs(exact.A @ x0).max())
    assert_allclose(exact.A @ U.ravel(), readout.hvp(W0, U).ravel(), rtol=EXACT_RTOL,
                    atol=EXACT_RTOL)


def test_the_seed_loss_and_its_taylor_horizon():
    # L(W) = ½‖θ(W x)‖², θ = tanh: ∇L = (θ′(Wx) ⊙ θ(Wx)) xᵀ, a rank-1 gradient.
    rng = np.random.default_rng(4)
    x, W0 = rng.normal(size=5), rng.normal(size=(3, 5))
    readout = TanhReadout(x, outputs=3)
    assert_allclose(readout.value(W0), 0.5 * np.sum(np.tanh(W0 @ x) ** 2), rtol=EXACT_RTOL)
    z = np.tanh(W0 @ x)
    assert_allclose(readout.grad(W0), np.outer((1 - z**2) * z, x), rtol=EXACT_RTOL)
    assert np.linalg.matrix_rank(readout.grad(W0)) == 1
    runs = taylor_horizon(readout.value, readout.grad, W0, [0.005, 0.01, 0.02], 4000,
                          hvp=readout.hvp)
    steps = [run.parting_step for run in runs]
    assert all(step is not None for step in steps)
    assert steps[0] > steps[1] > steps[2]  # smaller steps part later ...
    times = np.array(steps) * np.array([0.005, 0.01, 0.02])
    assert times.max() < 1.5 * times.min()  # ... at about the same time lr·t (gradient flow)
    for run in runs:
        # The model has f's gradient at W0: one step agrees to the cancellation above.
        assert run.deviation[1] <= EXACT_RTOL * run.distance[1]
        t = run.parting_step
        assert run.deviation[t] > run.tolerance * run.distance[t]
        assert np.all(run.deviation[1:t] <= run.tolerance * run.distance[1:t])
        assert run.parting_distance == run.distance[t]


def test_two_layer_network_gradient_and_taylor_prediction():
    X, y = teacher_data(32, 3, rng=5)
    net = TwoLayerTanh(X, y, hidden=6)
    theta = net.init(6)
    assert net.size == 24 and theta.shape == (24,)
    assert check_grad(net.value, net.grad, theta).error < GRAD_RTOL
    assert_allclose(net.value(np.zeros(24)), 0.5 * np.mean(y**2), rtol=EXACT_RTOL)
    W1, W2 = net.unpack(theta)
    assert W1.shape == (6, 3) and W2.shape == (1, 6)
    model = taylor_model(net.value, net.grad, theta)
    lr = 0.2 / model.eigenvalues[-1]
    run = compare_with_taylor(net.value, net.grad, theta, lr, 500, model=model)
    assert run.parting_step is not None and run.parting_step > 2
    early = closed_form(model, GD(lr), theta, [0, 1, 2])
    assert_allclose(run.predicted_loss[:3], early.loss, rtol=EXACT_RTOL)
    # Second-order accurate: after one step the loss error is the cubic term, O(lr³), and
    # after two the iterates differ by lr·O(‖x₁ − x₀‖²) = O(lr³): halving lr divides by ~8.
    half = compare_with_taylor(net.value, net.grad, theta, lr / 2, 2, model=model)
    loss_ratio = abs(run.loss[1] - run.predicted_loss[1]) \
        / abs(half.loss[1] - half.predicted_loss[1])
    assert 7.0 < loss_ratio < 9.0, loss_ratio
    assert 7.0 < run.deviation[2] / half.deviation[2] < 9.0


def test_bad_taylor_inputs():
    q = quadratic()
    x0 = np.zeros(5)
    with pytest.raises(TypeError, match=r"`f` must be callable"):
        taylor_model(None, q.grad, x0)
    with pytest.raises(TypeError, match=r"`hvp` must be callable"):
        taylor_model(q.value, q.grad, x0, hvp=q.A)
    with pytest.raises(ValueError, match=r"`grad\(x\)` must have the shape of `x`, \(5,\); "
                                         r"got \(4,\)"):
        taylor_model(q.value, lambda x: x[:4], x0)
    with pytest.raises(ValueError, match=r"`hvp\(x\)` must have the shape of `x`"):
        taylor_model(q.value, q.grad, x0, hvp=lambda x, v: v[:2])
    with pytest.raises(ValueError, match=r"`model` must be a Quadratic of dimension"):
        compare_with_taylor(q.value, q.grad, x0, 0.1, 10, model=Quadratic(np.eye(3)))
    with pytest.raises(TypeError, match=r"`steps` must be an integer horizon"):
        compare_with_taylor(q.value, q.grad, x0, 0.1, [0, 10])
    with pytest.raises(ValueError, match=r"`tolerance` must lie in \[0, 1\)"):
        compare_with_taylor(q.value, q.grad, x0, 0.1, 10, tolerance=1.5)
    with pytest.raises(ValueError, match=r"`W` must have shape \(3, 5\)"):
        TanhReadout(np.ones(5), outputs=3).grad(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"`theta` must have shape \(24,\)"):
        TwoLayerTanh(*teacher_data(8, 3, rng=0), hidden=6).value(np.ones(3))
