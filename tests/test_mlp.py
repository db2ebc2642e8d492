"""Rank-1 per-example gradients in every layer of an MLP, against check_grad and dense SVDs."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from quadsim.calculus import check_grad, model_vjp
from quadsim.mlp import ACTIVATIONS, MLP, Activation, as_activation

#: check_grad's error is relative to max|∇f|, but its rounding part is eps·|f|/h ≈
#: 4e-11·|f|: for the first layer of a sigmoid network |f|/max|∇f| reaches ~300, so
#: ~1e-8; 1e-6 leaves room, and a wrong factor is off by O(1).
GRAD_TOL = 1e-6
#: A singular value of a dense D_l × D_{l−1} matrix counts as zero below
#: RANK_RTOL·max(D_l, D_{l−1})·σ_1: the SVD's rounding is about eps·max(D)·σ_1, and 10×
#: that is numpy's matrix_rank threshold with room to spare.
RANK_RTOL = 10 * np.finfo(np.float64).eps
#: The factored singular values (B × B core) against the dense SVD: rounding.
SVD_RTOL = 1e-10
#: Identities evaluated two ways in float64.
ROUNDING = 1e-12

SIZES = (12, 20, 16, 9)


def data(B, seed=1, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, sizes[0])), rng.normal(size=(B, sizes[-1]))


@pytest.mark.parametrize("activation", ["tanh", "softplus", "sigmoid", "relu"])
def test_per_example_factors_against_check_grad_in_every_layer(activation):
    net = MLP.init(SIZES, activation, rng=0)
    X, Y = data(2)
    layers = net.per_example(X, Y)
    for layer, factors in enumerate(layers):
        assert factors.residuals.shape == (2, SIZES[layer + 1])
        assert factors.inputs.shape == (2, SIZES[layer])
        for i in range(2):
            def loss(W, i=i, layer=layer):
                return net.with_layer(layer, W).losses(X[i:i + 1], Y[i:i + 1])[0]

            check = check_grad(loss, lambda W, i=i, f=factors: f.gradient(i),
                               net.weights[layer])
            assert check.error < GRAD_TOL, (layer, i, check)


def test_batch_gradient_is_the_sum_of_the_factors():
    net = MLP.init(SIZES, "tanh", rng=2)
    X, Y = data(5, seed=3)
    weights = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    gradients = net.gradients(X, Y, weights)
    for layer, G in enumerate(gradients):
        def loss(W, layer=layer):
            return net.with_layer(layer, W).loss(X, Y, weights)

        assert check_grad(loss, lambda W, G=G: G, net.weights[layer]).error < GRAD_TOL
    factors = net.per_example(X, Y, weights)
    for layer, G in enumerate(gradients):
        summed = sum(weights[i] * factors[layer].gradient(i) for i in range(5))
        assert_allclose(G, summed, rtol=0, atol=ROUNDING * np.abs(G).max())
    # Factors only: B·(D_l + D_{l−1}) numbers per layer, never B·D_l·D_{l−1}.
    for layer, f in enumerate(factors):
        assert f.residuals.size + f.inputs.size == 5 * (SIZES[layer + 1] + SIZES[layer])


def test_ranks_by_singular_values():
    net = MLP.init((30, 24, 20, 18), "tanh", rng=4)
    for B in (1, 2, 5, 16, 40):
        X, Y = data(B, seed=B, sizes=net.sizes)
        for factors in net.per_example(X, Y):
            tolerance = RANK_RTOL * max(factors.ridge.shape)
            one = np.linalg.svd(factors.gradient(0), compute_uv=False)
            assert one[1] <= tolerance * one[0]  # every example: rank 1
            dense = np.linalg.svd(factors.batch_gradient(ridge=False), compute_uv=False)
            bound = factors.rank_bound
            assert bound == min(B, *factors.ridge.shape)
            scale = tolerance * dense[0]
            assert np.all(dense[bound:] <= scale)  # rank ≤ min(B, D_l, D_{l−1})
            assert dense[bound - 1] > 1e3 * scale  # and generically equal to it
            assert_allclose(factors.singular_values()[:bound], dense[:bound], rtol=SVD_RTOL)


def random_function(size, seed):
    """A smooth F: R^size → R with random coefficients, and its gradient."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=size), rng.normal(size=size), rng.normal(size=size)
    M = rng.normal(size=(size, size))
    M = M + M.T

    def F(v):
        return float(c @ np.sin(a * v + b) + 0.5 * v @ M @ v + np.log(np.sum(np.exp(v))))

    def grad(v):
        softmax = np.exp(v - v.max())
        return c * a * np.cos(a * v + b) + M @ v + softmax / softmax.sum()

    return F, grad


@pytest.mark.parametrize("seed", range(4))
def test_gradient_of_a_function_of_a_linear_layer_is_an_outer_product(seed):
    rng = np.random.default_rng(10 + seed)
    W, u = rng.normal(size=(7, 5)), rng.normal(size=5)
    F, grad_F = random_function(7, seed)
    # Column convention v = W u: ∇_W F(W u) = ∇F(v) uᵀ = model_vjp(u, ∇F(v)).
    check = check_grad(lambda W: F(W @ u), lambda W: model_vjp(u, grad_F(W @ u)), W)
    assert check.error < GRAD_TOL
    assert_allclose(model_vjp(u, grad_F(W @ u)), np.outer(grad_F(W @ u), u), rtol=ROUNDING)
    # Row convention v = uᵀ W (W of shape (5, 7)): the transpose, u ∇F(v)ᵀ.
    V = W.T
    check = check_grad(lambda V: F(u @ V), lambda V: np.outer(u, grad_F(u @ V)), V)
    assert check.error < GRAD_TOL


def test_rank_one_edit_from_the_factors():
    net = MLP.init(SIZES, "tanh", rng=5)
    x, y = data(1, seed=6)
    full = net.rank_one_edit(x[0], y[0], 0.1)
    dense = net.gradients(x, y)  # B = 1: the example's own gradient in every layer
    for W_edit, W, G in zip(full.weights, net.weights, dense, strict=True):
        assert_allclose(W_edit, W - 0.1 * G, rtol=0, atol=ROUNDING)
        assert np.linalg.matrix_rank(W_edit - W) == 1
    # On the linear output layer alone, lr = 1/‖u_{L−1}‖² puts the output on the target.
    u = net.per_example(x, y)[-1].inputs[0]
    edited = net.rank_one_edit(x[0], y[0], 1.0 / (u @ u), layers=[-1])
    assert_allclose(edited.forward(x)[0], y[0], rtol=0, atol=ROUNDING * 10)
    assert all(np.array_equal(a, b) for a, b in zip(edited.weights[:-1], net.weights[:-1],
                                                    strict=True))


def test_bad_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="do not chain"):
        MLP((rng.normal(size=(5, 4)), rng.normal(size=(3, 6))))
    with pytest.raises(TypeError, match="derivative"):
        MLP.init((4, 5, 3), np.tanh)
    with pytest.raises(ValueError, match="one of"):
        as_activation("gelu")
    with pytest.raises(TypeError, match="callable"):
        Activation("broken", np.tanh, None)
    with pytest.raises(TypeError, match="non-empty sequence"):
        MLP(rng.normal(size=(3, 4)))
    net = MLP.init((4, 5, 3), rng=0)
    with pytest.raises(ValueError, match=r"`X` must have shape \(B, 4\)"):
        net.per_example(np.ones((2, 5)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"`Y` must have shape \(2, 3\)"):
        net.per_example(np.ones((2, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="one of the 2 layers"):
        net.with_layer(2, np.ones((3, 5)))
    with pytest.raises(ValueError, match="at least two"):
        MLP.init((4,))
    assert set(ACTIVATIONS) >= {"tanh", "relu", "identity"}
    custom = Activation("cube", lambda s: s**3, lambda s: 3 * s**2)
    X, Y = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    cubic = MLP(net.weights, custom)
    check = check_grad(lambda W: cubic.with_layer(0, W).loss(X, Y),
                       lambda W: cubic.gradients(X, Y)[0], net.weights[0])
    assert check.error < GRAD_TOL
