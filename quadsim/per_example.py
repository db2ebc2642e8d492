r"""Per-example gradients of a linear regression, in factored form.

For the prediction ``z = W x`` (``W`` of shape (m, d)) and the per-example loss
``L_s(W) = ½‖W x_s − y_s‖²`` the chain rule gives

    ∇_W L_s = (∂L_s/∂z)ᵀ ∂z/∂W = δ_s x_sᵀ,        δ_s = W x_s − y_s ∈ R^m,

because ``∂z/∂W`` is the linear map ``U ↦ U x_s`` (as an array the 3-tensor
``∂z_i/∂W_jk = [i = j] x_k``), whose adjoint sends ``δ`` to ``δ x_sᵀ``. So every
per-example gradient is the rank-1 outer product of the example's residual and its
input, and a minibatch gradient

    G = Σ_{s∈S} ω_s δ_s x_sᵀ = Δᵀ Ω X_S        (+ l2·W, the ridge term, not per example)

is a sum of ``B = |S|`` rank-1 terms: ``rank G ≤ min(B, m, d)``. :func:`per_example_gradients`
returns the factors ``δ_s`` and ``x_s`` (``B·(m + d)`` numbers, never the ``B·m·d`` of
the dense gradients), and :class:`PerExampleGradients` builds what is asked of them —
one example's gradient, the batch gradient, its singular values from a ``B × B`` core.
For vector targets (``m = 1``) ``δ_s`` is a number and ``∇_w L_s = δ_s x_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_float_array, as_vector
from quadsim.problems import LinearRegression
from quadsim.rows import as_start

__all__ = ["PerExampleGradients", "per_example_gradients"]


@dataclass(frozen=True, eq=False)
class PerExampleGradients:
    """The gradients ``δ_s x_sᵀ`` of the examples ``s`` of a batch, as their factors.

    Of a linear regression (:func:`per_example_gradients`), or of one layer of an MLP
    (:meth:`quadsim.mlp.MLP.per_example`: ``δ_s`` the gradient of the layer's
    pre-activations, ``x_s`` its input, ``ridge`` zero).

    Attributes
    ----------
    indices : ndarray of int64, shape (B,)
        The examples (rows of ``X``); repeats allowed (sampling with replacement).
    residuals : ndarray, shape (B, m), or (B,) for vector targets
        ``δ_s = W x_s − y_s`` (for a regression).
    inputs : ndarray, shape (B, d)
        ``x_s``.
    weights : ndarray, shape (B,)
        ``ω_s``, each example's weight in the batch gradient (``1/B``: the mean).
    ridge : ndarray, shape of ``W``
        ``l2·W``, the gradient of the ridge term, which belongs to no example.
    """

    indices: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    inputs: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    ridge: np.ndarray = field(repr=False)

    def __repr__(self) -> str:
        return (f"PerExampleGradients(batch={self.batch_size}, shape={self.ridge.shape}, "
                f"rank_bound={self.rank_bound})")

    @property
    def batch_size(self) -> int:
        """``B``."""
        return int(self.indices.shape[0])

    @property
    def rank_bound(self) -> int:
        """``min(B, m, d)``: no batch gradient (without the ridge term) has a larger rank."""
        return min(self.batch_size, *self.ridge.shape)

    def gradient(self, s: int) -> np.ndarray:
        """The dense gradient ``δ_s x_sᵀ`` of example ``s`` of the batch (rank 1)."""
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"`s` must be an integer position in the batch; got {s!r}")
        if not -self.batch_size <= s < self.batch_size:
            raise ValueError(f"`s` must index one of the {self.batch_size} examples of the "
                             f"batch; got {s}")
        return np.multiply.outer(self.residuals[s], self.inputs[s])

    def batch_gradient(self, *, ridge: bool = True) -> np.ndarray:
        """``G = Σ_s ω_s δ_s x_sᵀ = Δᵀ Ω X_S`` (plus ``l2·W`` if `ridge`)."""
        data = (self.weights * self.residuals.T) @ self.inputs
        return data + self.ridge if ridge else data

    def singular_values(self) -> np.ndarray:
        """Singular values of ``Δᵀ Ω X_S`` (no ridge term), descending, ``min(m, d)`` of them.

        From the factors: with the thin QR factorisations ``(ΩΔ)ᵀ = Q_δ R_δ`` (m × B) and
        ``X_Sᵀ = Q_x R_x`` (d × B), ``Δᵀ Ω X_S = Q_δ (R_δ R_xᵀ) Q_xᵀ``, so its singular
        values are those of the core ``R_δ R_xᵀ``, at most ``B × B``: ``O(B²(m + d))``
        work, and the rest (at least ``min(m, d) − B`` of them) are exactly 0.
        """
        residuals = self.residuals if self.residuals.ndim == 2 else self.residuals[:, None]
        _, r_delta = np.linalg.qr((self.weights[:, None] * residuals).T)
        _, r_x = np.linalg.qr(self.inputs.T)
        values = np.linalg.svd(r_delta @ r_x.T, compute_uv=False)
        out = np.zeros(min(residuals.shape[1], self.inputs.shape[1]))
        out[:min(out.size, values.size)] = values[:out.size]
        return out


def per_example_gradients(problem: object, w: object, batch: object = None, *,
                          weights: object = None) -> PerExampleGradients:
    r"""The per-example gradients ``∇_W ½‖W x_s − y_s‖² = δ_s x_sᵀ`` of a batch, factored.

    Parameters
    ----------
    problem : LinearRegression
        Vector or matrix targets.
    w : array_like, shape (d,), or (m, d) for targets of shape (n, m)
        The weights.
    batch : array_like of int, shape (B,), optional
        The examples (rows of ``X``, repeats allowed); all ``n`` by default.
    weights : array_like, shape (B,), optional
        Each example's weight in :meth:`~PerExampleGradients.batch_gradient`; ``1/B``
        by default, so that the batch gradient is the minibatch gradient
        ``(1/B) Σ_s δ_s x_sᵀ + l2·W`` that :class:`~quadsim.Minibatch` samples, and
        with the whole data set the full gradient ``∇L(W)``.

    Returns
    -------
    PerExampleGradients
        ``B·(m + d)`` numbers: the residuals and the inputs.

    See Also
    --------
    quadsim.calculus.check_grad : the factors against central differences.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> from quadsim.per_example import per_example_gradients
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(50, 6)), rng.normal(size=(50, 4))
    >>> problem = LinearRegression(X, Y)
    >>> W = rng.normal(size=(4, 6))
    >>> grads = per_example_gradients(problem, W, batch=[3, 17])
    >>> np.linalg.matrix_rank(grads.gradient(0)), np.linalg.matrix_rank(grads.batch_gradient())
    (np.int64(1), np.int64(2))
    >>> full = per_example_gradients(problem, W)
    >>> bool(np.allclose(full.batch_gradient(), problem.grad(W)))
    True
    """
    if not isinstance(problem, LinearRegression):
        raise TypeError(f"`problem` must be a LinearRegression; got {type(problem).__name__}")
    W = as_start(problem, w, "w")
    n = problem.n_samples
    if batch is None:
        indices = np.arange(n, dtype=np.int64)
    else:
        array = np.asarray(batch)
        if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"`batch` must be a non-empty 1-d array of example indices; got "
                             f"{array!r}")
        if array.min() < 0 or array.max() >= n:
            raise ValueError(f"`batch` indices must lie in [0, {n}); got {array.min()} to "
                             f"{array.max()}")
        indices = array.astype(np.int64)
    B = indices.shape[0]
    omega = np.full(B, 1.0 / B) if weights is None else as_vector(weights, "weights", B)
    inputs = as_float_array(problem.X[indices], "X", ndim=2)
    residuals = inputs @ W.T - problem.y[indices]
    return PerExampleGradients(indices, residuals, inputs, omega, problem.l2 * W)
