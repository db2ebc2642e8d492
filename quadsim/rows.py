r"""Matrix weights: the rows of ``W`` (m, d) as independent trajectories on one frame.

A :class:`~quadsim.LinearRegression` with targets ``Y`` of shape (n, m) has weights
``W`` of shape (m, d) and the loss ``L(W) = Σ_i L_i(w_i)``, one vector regression per
row, all with the curvature ``A = XᵀX/n + l2·I``. Every method here updates the rows
independently, with the same transition:

    W_{t+1} = W_t + β (W_t − W_{t−1}) − lr · (Y_t A + B) P,        B = −YᵀX/n (rows b_i),

so in the eigenbasis ``W = U Sᵀ`` (``S`` the method's frame) the ``m·d`` entries of
``U`` are independent axes, axis ``j`` of every row having curvature ``a_j``: the
:class:`~quadsim.problems.StackedFrame`. The closed forms, the eigenbasis kernel and the
exact moments run on it unchanged (:func:`method_frame` hands it to them); the raw
basis is one matrix–matrix product a step (:func:`simulate_rows_raw`,
:mod:`quadsim.kernels.rows`), never the ``(m·d) × (m·d)`` Hessian ``I_m ⊗ A``.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_float_array, as_vector
from quadsim.kernels.rows import GEMM_MIN_SIZE, two_step_rows
from quadsim.methods import GradientFlow, Preconditioned, _TwoStepMethod
from quadsim.problems import (
    ZERO_RTOL,
    LinearRegression,
    SpectralFrame,
    StackedFrame,
    as_quadratic,
    column_squares,
)
from quadsim.results import Trajectory

__all__ = ["as_start", "matrix_regression", "method_frame", "row_targets", "simulate_rows_raw"]

_IDENTITY = np.empty((0, 0))


def matrix_regression(problem: object) -> LinearRegression | None:
    """The matrix-valued regression behind `problem` (itself or a noise model's), or None."""
    regression = getattr(problem, "regression", problem)
    if isinstance(regression, LinearRegression) and regression.matrix_valued:
        return regression
    return None


def as_weights(regression: LinearRegression, value: object, name: str = "w0") -> np.ndarray:
    """Return matrix weights of shape ``(m, d)`` for `regression`, or raise naming `name`."""
    shape = regression.weight_shape
    try:
        given = np.shape(value)  # type: ignore[call-overload]
    except ValueError:  # ragged nested sequences: the array check names them
        given = shape
    if len(given) != 2:
        raise ValueError(f"`{name}` must have shape {shape} (one row of weights per column of "
                         f"Y, whose shape is {regression.y.shape}); got shape {given}")
    W = as_float_array(value, name, ndim=2)
    if W.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape} (one row of weights per column of "
                         f"Y, whose shape is {regression.y.shape}); got shape {W.shape}")
    return W


def as_start(problem: object, w0: object, name: str = "w0") -> np.ndarray:
    """`w0` checked against `problem`: a vector (d,), or a matrix (m, d) for matrix targets."""
    regression = matrix_regression(problem)
    if regression is not None:
        return as_weights(regression, w0, name)
    return as_vector(w0, name, as_quadratic(problem).dim)


def row_targets(regression: LinearRegression) -> tuple[np.ndarray, np.ndarray]:
    """``B = −YᵀX/n`` (m, d), the rows' linear terms, and ``c_i = ‖y_i‖²/2n`` (m,)."""
    n = regression.n_samples
    Y = regression.y
    return np.ascontiguousarray(-(Y.T @ regression.X) / n), column_squares(Y) / (2 * n)


def _stacked(regression: LinearRegression, method: object) -> StackedFrame:
    """The stacked frame of `method` on a matrix-valued regression."""
    if not isinstance(method, Preconditioned):
        frame = regression.frame
        assert isinstance(frame, StackedFrame)
        return frame
    # The axes of P^½ A P^½ (b = 0: the null-space rotation of from_symmetric is then the
    # identity), and b̃_i = Sᵀ b_i per row; a b̃ of rounding size on a null axis is 0, as
    # from_symmetric sets it for one row.
    base = method.frame(regression.shared_quadratic)
    B, c = row_targets(regression)
    b_rows = B @ base.dense_basis
    null = base.eigenvalues == 0.0
    if np.any(null):
        scale = ZERO_RTOL * base.dim * np.linalg.norm(b_rows, axis=1, keepdims=True)
        b_rows[:, null] = np.where(np.abs(b_rows[:, null]) <= scale, 0.0, b_rows[:, null])
    return StackedFrame.stack(base, b_rows, c)


def method_frame(problem: object, method: object, w0: object, name: str = "w0"
                 ) -> tuple[SpectralFrame, np.ndarray]:
    """The frame in which `method` separates on `problem`, and the checked start.

    For vector weights ``method.frame(problem.quadratic)`` and ``w0`` of shape (d,); for
    a matrix-valued regression its :class:`~quadsim.problems.StackedFrame` (the rows as
    more axes) and ``w0`` of shape (m, d).
    """
    regression = matrix_regression(problem)
    if regression is None:
        quadratic = as_quadratic(problem)
        assert isinstance(method, (_TwoStepMethod, GradientFlow))
        return method.frame(quadratic), as_vector(w0, name, quadratic.dim)
    return _stacked(regression, method), as_weights(regression, w0, name)


def simulate_rows_raw(regression: LinearRegression, method: _TwoStepMethod, W0: np.ndarray,
                      steps: np.ndarray) -> Trajectory:
    """The raw-basis run with matrix weights: one ``(m, d) × (d, d)`` product a step.

    Parameters
    ----------
    regression : LinearRegression
        With matrix targets.
    method : GD, Momentum, Nesterov or Preconditioned
    W0 : ndarray, shape (m, d)
        Checked start.
    steps : ndarray of int64
        Checked recorded steps.

    Returns
    -------
    Trajectory
        ``w`` of shape (K, m, d); ``loss`` is ``L(W_t)`` summed over the rows.
    """
    A = regression.curvature
    B, c = row_targets(regression)
    P = method.matrix if isinstance(method, Preconditioned) else _IDENTITY
    if P.shape[0] not in (0, regression.dim):
        method.frame(regression.shared_quadratic)  # raises the shape error
    K, (m, d) = steps.shape[0], W0.shape
    records, loss = np.empty((K, m, d)), np.empty(K)
    diverged = two_step_rows(A, B, float(np.sum(c)), P, method.lr, method.momentum,
                             method.lookahead, W0, steps, records, loss, m * d >= GEMM_MIN_SIZE)
    return Trajectory(steps, records, loss, None if diverged < 0 else int(diverged))
