r"""Per-example gradients of every layer of a small MLP, as rank-1 factors (numpy only).

The network maps ``u₀ = x`` through ``s_l = W_l u_{l−1}`` (``W_l`` of shape
(D_l, D_{l−1})), ``u_l = θ(s_l)`` for the hidden layers ``l < L`` and ``ŷ = s_L`` (a
linear output), with the per-example loss ``L_i = ½‖ŷ_i − y_i‖²``. Layer ``l`` is a linear
map of its input, so for any function ``F`` of its output (here the rest of the
network and the loss)

    ∇_W F(W u) = ∇F(v) uᵀ,        v = W u,

since ``∂v_a/∂W_bc = [a = b] u_c`` (the adjoint of ``U ↦ U u`` is ``δ ↦ δ uᵀ``:
:func:`quadsim.calculus.model_vjp`). With ``δ_l = ∂L_i/∂s_l``, the gradient of the
pre-activations of layer ``l``, backpropagation gives

    δ_L = ŷ − y,        δ_{l−1} = (W_lᵀ δ_l) ⊙ θ'(s_{l−1}),
    ∇_{W_l} L_i = δ_l^i (u_{l−1}^i)ᵀ,

a rank-1 matrix per example and per layer, and a batch gradient
``Σ_i ω_i δ_l^i (u_{l−1}^i)ᵀ`` of rank ``≤ min(B, D_l, D_{l−1})``. (In the row-vector
convention ``v = uᵀW`` the same identity reads ``∇_W F(uᵀW) = u ∇F(v)ᵀ``, the transpose.)
:meth:`MLP.per_example` returns, per layer, the factors ``δ_l`` (B × D_l) and ``u_{l−1}``
(B × D_{l−1}) as a :class:`~quadsim.per_example.PerExampleGradients` — ``B·(D_l +
D_{l−1})`` numbers, never the ``B·D_l·D_{l−1}`` of the dense per-example gradients — whose
``batch_gradient`` is their weighted sum and ``singular_values`` come from a ``B × B``
core. :meth:`MLP.rank_one_edit` builds the edit a model-editing method makes from one
example's factors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_count, as_float_array, as_real, as_vector
from quadsim.calculus import _array
from quadsim.per_example import PerExampleGradients

__all__ = ["ACTIVATIONS", "MLP", "Activation", "as_activation"]


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity ``θ`` with its derivative ``θ'``.

    Parameters
    ----------
    name : str
    function : callable
        ``s ↦ θ(s)`` on arrays.
    derivative : callable
        ``s ↦ θ'(s)`` on arrays (for a kink, any one-sided value: the gradient there is
        a subgradient).
    """

    name: str
    function: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    derivative: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        for part in ("function", "derivative"):
            if not callable(getattr(self, part)):
                raise TypeError(f"`{part}` of activation {self.name!r} must be callable; got "
                                f"{type(getattr(self, part)).__name__}")


def _sigmoid(s: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * s))


#: The built-in activations by name.
ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh, lambda s: 1.0 - np.tanh(s) ** 2),
    "relu": Activation("relu", lambda s: np.maximum(s, 0.0), lambda s: (s > 0.0) * 1.0),
    "softplus": Activation("softplus", lambda s: np.logaddexp(0.0, s), _sigmoid),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda s: _sigmoid(s) * (1.0 - _sigmoid(s))),
    "identity": Activation("identity", lambda s: s, np.ones_like),
}


def as_activation(value: object, name: str = "activation") -> Activation:
    """An :class:`Activation` from itself or a name in :data:`ACTIVATIONS`.

    A bare function is refused: backpropagation needs its derivative too.
    """
    if isinstance(value, Activation):
        return value
    if isinstance(value, str):
        if value not in ACTIVATIONS:
            raise ValueError(f"`{name}` must be one of {sorted(ACTIVATIONS)} or an "
                             f"Activation; got {value!r}")
        return ACTIVATIONS[value]
    if callable(value):
        raise TypeError(f"`{name}` must come with its derivative: pass "
                        f"Activation(name, function, derivative) or one of "
                        f"{sorted(ACTIVATIONS)}; got the bare function "
                        f"{getattr(value, '__name__', repr(value))}")
    raise TypeError(f"`{name}` must be an Activation or one of {sorted(ACTIVATIONS)}; got "
                    f"{type(value).__name__}")


@dataclass(frozen=True, eq=False)
class MLP:
    r"""A bias-free MLP ``ŷ = W_L θ(W_{L−1} ⋯ θ(W_1 x))`` with a linear output layer.

    Parameters
    ----------
    weights : sequence of array_like
        ``W_1, …, W_L``, ``W_l`` of shape (D_l, D_{l−1}): each layer's number of columns
        must be the previous layer's number of rows.
    activation : str or Activation
        The hidden layers' nonlinearity (``'tanh'`` by default).

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim.mlp import MLP
    >>> net = MLP.init([6, 8, 5, 3], rng=0)
    >>> rng = np.random.default_rng(1)
    >>> X, Y = rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    >>> layers = net.per_example(X, Y)
    >>> [g.residuals.shape for g in layers]   # δ_l: one row per example
    [(4, 8), (4, 5), (4, 3)]
    >>> [int(np.linalg.matrix_rank(g.gradient(0))) for g in layers]
    [1, 1, 1]
    >>> bool(np.allclose(layers[0].batch_gradient(), net.gradients(X, Y)[0]))
    True
    """

    weights: tuple[np.ndarray, ...] = field(repr=False)
    activation: Activation = field(default=ACTIVATIONS["tanh"])

    def __post_init__(self) -> None:
        if isinstance(self.weights, np.ndarray) or not isinstance(self.weights, Sequence) \
                or len(self.weights) == 0:
            raise TypeError("`weights` must be a non-empty sequence of matrices W_1..W_L")
        layers = tuple(as_float_array(W, f"weights[{i}]", ndim=2)
                       for i, W in enumerate(self.weights))
        for i in range(1, len(layers)):
            if layers[i].shape[1] != layers[i - 1].shape[0]:
                raise ValueError(f"layer sizes do not chain: `weights[{i}]` has shape "
                                 f"{layers[i].shape}, so it takes inputs of size "
                                 f"{layers[i].shape[1]}, but `weights[{i - 1}]` has shape "
                                 f"{layers[i - 1].shape} and outputs {layers[i - 1].shape[0]}")
        object.__setattr__(self, "weights", layers)
        object.__setattr__(self, "activation", as_activation(self.activation))

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activation={self.activation.name!r})"

    @classmethod
    def init(cls, sizes: Sequence[int], activation: object = "tanh", *, rng: object = None,
             scale: float = 1.0) -> MLP:
        """Gaussian weights ``W_l ~ N(0, scale²/D_{l−1})`` for the layer sizes ``D_0..D_L``."""
        dims = [as_count(size, f"sizes[{i}]") for i, size in enumerate(sizes)]
        if len(dims) < 2 or min(dims) == 0:
            raise ValueError(f"`sizes` must hold at least two positive sizes D_0..D_L; got "
                             f"{list(sizes)}")
        generator = np.random.default_rng(rng)  # type: ignore[arg-type]
        scale = as_real(scale, "scale")
        return cls(tuple(scale * generator.normal(size=(out, inp)) / np.sqrt(inp)
                         for inp, out in itertools.pairwise(dims)),
                   as_activation(activation))

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(D_0, D_1, …, D_L)``."""
        return (int(self.weights[0].shape[1]), *(int(W.shape[0]) for W in self.weights))

    def with_layer(self, layer: int, W: object) -> MLP:
        """The same network with ``W_layer`` replaced (of the same shape)."""
        index = self._layer(layer)
        W = as_float_array(W, "W", ndim=2)
        if W.shape != self.weights[index].shape:
            raise ValueError(f"`W` must have the shape of layer {index}, "
                             f"{self.weights[index].shape}; got {W.shape}")
        weights = list(self.weights)
        weights[index] = W
        return MLP(tuple(weights), self.activation)

    def _layer(self, layer: object) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise TypeError(f"`layer` must be an integer; got {layer!r}")
        if not -len(self.weights) <= layer < len(self.weights):
            raise ValueError(f"`layer` must index one of the {len(self.weights)} layers; got "
                             f"{layer}")
        return int(layer) % len(self.weights)

    def _inputs(self, X: object) -> np.ndarray:
        X = _array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"`X` must have shape (B, {self.sizes[0]}); got {X.shape}")
        return X

    def _data(self, X: object, Y: object) -> tuple[np.ndarray, np.ndarray]:
        X, Y = self._inputs(X), _array(Y, "Y")
        if Y.shape != (X.shape[0], self.sizes[-1]):
            raise ValueError(f"`Y` must have shape ({X.shape[0]}, {self.sizes[-1]}); got "
                             f"{Y.shape}")
        return X, Y

    def _forward(self, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Layer inputs ``u_0..u_{L−1}`` and pre-activations ``s_1..s_L``, rows per example."""
        inputs, pre = [X], []
        for i, W in enumerate(self.weights):
            s = inputs[-1] @ W.T
            pre.append(s)
            if i < len(self.weights) - 1:
                inputs.append(self.activation.function(s))
        return inputs, pre

    def forward(self, X: object) -> np.ndarray:
        """``ŷ`` for each row of ``X`` (B, D_0): shape (B, D_L)."""
        return self._forward(self._inputs(X))[1][-1]

    def losses(self, X: object, Y: object) -> np.ndarray:
        """The per-example losses ``L_i = ½‖ŷ_i − y_i‖²``, shape (B,)."""
        X, Y = self._data(X, Y)
        residual = self._forward(X)[1][-1] - Y
        return 0.5 * np.sum(residual * residual, axis=1)

    def loss(self, X: object, Y: object, weights: object = None) -> float:
        """``Σ_i ω_i L_i``, the mean (``ω_i = 1/B``) by default."""
        losses = self.losses(X, Y)
        omega = _example_weights(weights, losses.shape[0])
        return float(omega @ losses)

    def per_example(self, X: object, Y: object, weights: object = None
                    ) -> list[PerExampleGradients]:
        r"""Per layer, the factors of every example's gradient ``δ_l^i (u_{l−1}^i)ᵀ``.

        One forward and one backward pass.

        Parameters
        ----------
        X : array_like, shape (B, D_0)
        Y : array_like, shape (B, D_L)
        weights : array_like, shape (B,), optional
            ``ω_i`` in the batch gradient ``Σ_i ω_i δ^i uᵢᵀ``; ``1/B`` (the mean) by default.

        Returns
        -------
        list of PerExampleGradients
            Layer ``l`` (0-based, ``W_{l+1}``): ``residuals`` ``δ`` (B, D_l) and ``inputs``
            ``u`` (B, D_{l−1}); ``batch_gradient(ridge=False)`` is the layer's batch
            gradient, ``gradient(i)`` one example's (rank 1), ``singular_values()`` the batch
            gradient's from a ``B × B`` core. Memory ``O(B·Σ_l D_l)``; the batch gradients
            cost ``O(B·D_l·D_{l−1})`` flops when asked for.
        """
        X, Y = self._data(X, Y)
        omega = _example_weights(weights, X.shape[0])
        inputs, pre = self._forward(X)
        delta = pre[-1] - Y
        factors: list[PerExampleGradients] = []
        indices = np.arange(X.shape[0], dtype=np.int64)
        for layer in range(len(self.weights) - 1, -1, -1):
            W = self.weights[layer]
            factors.append(PerExampleGradients(indices, delta, inputs[layer], omega,
                                               np.zeros_like(W)))
            if layer:
                delta = (delta @ W) * self.activation.derivative(pre[layer - 1])
        return factors[::-1]

    def gradients(self, X: object, Y: object, weights: object = None) -> list[np.ndarray]:
        """``∇_{W_l} Σ_i ω_i L_i`` for every layer: the sums of the factors' outer products."""
        return [g.batch_gradient(ridge=False) for g in self.per_example(X, Y, weights)]

    def rank_one_edit(self, x: object, y: object, lr: float,
                      layers: Sequence[int] | None = None) -> MLP:
        r"""The network after one example's gradient step, built from its factors alone.

        ``W_l ← W_l − lr·δ_l u_{l−1}ᵀ`` for each layer in `layers` (all by default): a
        rank-1 edit per layer, ``D_l + D_{l−1}`` numbers each, as model-editing methods
        build from an example's factors. On all layers it is exactly the full gradient
        step on ``L_i``; on the output layer alone the output moves by
        ``−lr·‖u_{L−1}‖²·δ_L``, so ``lr = 1/‖u_{L−1}‖²`` puts ``ŷ`` on the target ``y``.
        """
        factors = self.per_example(np.atleast_2d(as_vector(x, "x", self.sizes[0])),
                                   np.atleast_2d(as_vector(y, "y", self.sizes[-1])))
        chosen = range(len(self.weights)) if layers is None else \
            sorted({self._layer(layer) for layer in layers})
        lr = as_real(lr, "lr")
        weights = list(self.weights)
        for layer in chosen:
            weights[layer] = weights[layer] - lr * factors[layer].gradient(0)
        return MLP(tuple(weights), self.activation)


def _example_weights(weights: object, B: int) -> np.ndarray:
    return np.full(B, 1.0 / B) if weights is None else as_vector(weights, "weights", B)
