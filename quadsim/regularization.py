"""Implicit regularization, and early stopping as a spectral filter the way ridge is one.

Where gradient methods go on an underdetermined regression: in the eigenbasis of
``A = XᵀX/n`` (the right singular vectors of X) the least-squares
solution has coordinates ``u*_j = −b̃_j/a_j`` on the axes with ``a_j > 0``. From
``w_0 = 0`` every method in quadsim applies a *filter* to them:

- GD after ``t`` steps: ``u_j(t) = [1 − (1 − lr·a_j)^t] u*_j`` (:func:`gd_filter`);
- gradient flow at time ``t``: ``1 − e^{−a_j t}`` (:func:`flow_filter`);
- ridge with coefficient λ: ``a_j/(a_j + λ)`` (:func:`ridge_filter`),

and the axes with ``a_j = 0`` (the null space of X) never move: the limit is the
minimum-norm solution ``X⁺y`` plus the null-space part of ``w_0``, untouched
(:func:`null_space_part`). :func:`effective_ridge` finds the λ whose filter matches GD's
at step ``t`` best; :func:`validation_curves` compares the two paths on held-out data.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from quadsim._validation import as_non_negative, as_positive, as_vector
from quadsim.problems import LinearRegression

__all__ = ["effective_ridge", "flow_filter", "gd_filter", "null_space_part", "ridge_filter",
           "validation_curves"]


def gd_filter(a: object, lr: float, t: object) -> np.ndarray:
    """GD's filter after ``t`` steps, ``1 − (1 − lr·a)^t``, accurate for small ``lr·a``.

    Evaluated as ``−expm1(t·log1p(−lr·a))`` (with the sign of ``(1 − lr·a)^t`` where
    ``lr·a > 1``), so a slow axis keeps its digits. Broadcasts ``a`` against ``t``.
    """
    h = as_positive(lr, "lr") * np.asarray(a, dtype=np.float64)
    steps = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = -np.expm1(steps * np.log1p(-np.minimum(h, 1.0)))
        power = np.abs(1.0 - h) ** steps * np.where(np.mod(steps, 2.0) == 1.0, -1.0, 1.0)
        return np.where(h <= 1.0, np.where(h == 1.0, (steps > 0).astype(float), below),
                        1.0 - power)


def flow_filter(a: object, t: object) -> np.ndarray:
    """Gradient flow's filter at time ``t``: ``1 − e^{−a t}`` (``−expm1(−a t)``)."""
    return -np.expm1(-np.asarray(a, dtype=np.float64) * np.asarray(t, dtype=np.float64))


def ridge_filter(a: object, lam: object) -> np.ndarray:
    """Ridge's filter, ``a/(a + λ)``: 1 at λ = 0 for ``a > 0``, and 0 on a null axis."""
    curvature, penalty = np.broadcast_arrays(np.asarray(a, dtype=np.float64),
                                             np.asarray(lam, dtype=np.float64))
    return np.divide(curvature, curvature + penalty, out=np.zeros(curvature.shape),
                     where=curvature > 0.0)


def null_space_part(problem: LinearRegression, w: object) -> np.ndarray:
    """The component of ``w`` in the null space of ``X``, shape like ``w`` (rows ``(..., d)``).

    Gradient methods on the regression move ``w`` only along the row space of X (every
    gradient, full or minibatch, is ``Xᵀ(residuals)/n`` plus the ridge term): with
    ``l2 = 0`` this component never changes.
    """
    if not isinstance(problem, LinearRegression):
        raise TypeError(f"`problem` must be a LinearRegression; got {type(problem).__name__}")
    frame = problem.quadratic.frame
    null = frame.eigenvalues == problem.l2  # zero singular values: a = 0 + l2 exactly
    u = frame.to_eigen(np.asarray(w, dtype=np.float64))
    return frame.from_eigen(np.where(null, u, 0.0))


def _least_squares_axes(problem: LinearRegression) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(problem, LinearRegression):
        raise TypeError(f"`problem` must be a LinearRegression; got {type(problem).__name__}")
    frame = problem.quadratic.frame
    u_star = frame.stationary_point
    assert u_star is not None  # a regression always has a minimizer
    return frame.eigenvalues, u_star


def effective_ridge(problem: LinearRegression, lr: float, t: int) -> float:
    """The ridge coefficient whose solution is closest to GD's after ``t`` steps from 0.

    Minimises ``‖w_GD(t) − w_ridge(λ)‖² = Σ_j (f_t(a_j) − a_j/(a_j + λ))² u*_j²`` over
    ``λ >= 0`` (``f_t`` = :func:`gd_filter`, ``u*`` the least-squares solution of
    `problem`, whose own ``l2`` is kept in ``a``), on ``log λ`` by a bounded scalar
    search around the first-order match ``λ ≈ 1/(lr·t)``.
    """
    a, u_star = _least_squares_axes(problem)
    lr = as_positive(lr, "lr")
    steps = as_positive(t, "t")
    gd = gd_filter(a, lr, steps)

    def mismatch(log_lam: float) -> float:
        return float(np.sum((gd - ridge_filter(a, np.exp(log_lam))) ** 2 * u_star**2))

    guess = np.log(1.0 / (lr * steps))
    result = scipy.optimize.minimize_scalar(mismatch, bounds=(guess - 12.0, guess + 12.0),
                                            method="bounded", options={"xatol": 1e-10})
    return float(np.exp(result.x))


def validation_curves(train: LinearRegression, X_val: object, y_val: object, lr: float,
                      steps: object, lambdas: object) -> tuple[np.ndarray, np.ndarray]:
    """Held-out loss of early-stopped GD (from 0) and of ridge, along their paths.

    Returns ``(gd, ridge)``: the validation loss ``(1/2m)‖X_val w − y_val‖²`` of GD on
    `train` after each of `steps` (its closed form: the GD filter on the least-squares
    axes) and of the ridge solution for each of `lambdas` (its filter), both without
    refitting anything.
    """
    a, u_star = _least_squares_axes(train)
    frame = train.quadratic.frame
    X = np.asarray(X_val, dtype=np.float64)
    y = as_vector(y_val, "y_val", X.shape[0])
    lr = as_positive(lr, "lr")
    t = np.asarray(steps, dtype=np.float64)
    lam = np.asarray(lambdas, dtype=np.float64)
    if np.any(lam < 0.0):
        raise ValueError("`lambdas` must be >= 0")
    for value in t:
        as_non_negative(float(value), "steps")

    def loss(filters: np.ndarray) -> np.ndarray:
        w = frame.from_eigen(filters * u_star)
        residual = w @ X.T - y
        return 0.5 * np.mean(residual**2, axis=-1)

    return loss(gd_filter(a, lr, t[:, None])), loss(ridge_filter(a, lam[:, None]))
