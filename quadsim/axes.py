"""Per-axis statistics of the two-step methods, shared by closed forms and exact moments.

In the frame of a method every axis evolves on its own; :func:`axis_moments` gives the
mean (as a deviation from the axis's minimizer) and the variance of each axis at the
recorded steps, for any schedule and moving average, and :func:`loss_moments` sums them
into ``E[J]`` without cancellation. :func:`quadsim.closed_form` takes the means of a
noise-free run from here when the method has a schedule or a moving average;
:func:`quadsim.moments` takes means and variances.
"""

from __future__ import annotations

import numpy as np

from quadsim.kernels.lucas import average_companions
from quadsim.kernels.moments import gaussian_moments, loss_statistics, propagate_moments
from quadsim.methods import _TwoStepMethod
from quadsim.problems import SpectralFrame
from quadsim.schedules import constant_runs


def _solved_per_axis(method: _TwoStepMethod) -> bool:
    """Whether the O(1) closed forms apply (else the doubling product of transitions)."""
    plain = method.momentum == 0.0 and method.lookahead == 0.0
    return method.constant_lr and (method.ema is None or plain)


def axis_moments(frame: SpectralFrame, method: _TwoStepMethod, noise: np.ndarray,
                 u0: np.ndarray, steps: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per-axis centres and variances of the iterate (and of its moving average).

    The centre of an axis with ``a ≠ 0`` is the mean's deviation from ``u*``, of a
    null axis the mean itself. Shapes (K, d).
    """
    a, b = frame.eigenvalues, frame.b
    K, d = steps.shape[0], frame.dim
    centre, variance = np.empty((K, d)), np.empty((K, d))
    averaged = method.ema is not None
    average_centre = np.empty((K, d) if averaged else (0, 0))
    average_variance = np.empty((K, d) if averaged else (0, 0))
    rho = 0.0 if method.ema is None else method.ema
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if _solved_per_axis(method):
            h = method.lr * a
            average_comp = average_companions(h, rho) if averaged else np.empty((6, 0))
            gaussian_moments(a, b, u0, noise, method.lr, method.companion(h), rho,
                             average_comp, steps, centre, variance, average_centre,
                             average_variance)
        else:
            horizon = max(int(steps[-1]), 1)
            if method.constant_lr:
                starts, values = np.array([0, horizon]), np.array([method.lr])
            else:
                starts, values = constant_runs(method.learning_rates(horizon))
            momentum = method.momentum != 0.0 or method.lookahead != 0.0
            if not averaged:
                average_centre = np.empty((K, d))
                average_variance = np.empty((K, d))
            propagate_moments(a, b, u0, noise, starts, values, method.momentum,
                              method.lookahead, rho, momentum, steps, centre, variance,
                              average_centre, average_variance)
    if not averaged:
        return centre, variance, None, None
    return centre, variance, average_centre, average_variance


def minimum(frame: SpectralFrame) -> tuple[np.ndarray, float]:
    """``u*`` and ``J0`` with ``J = J0 + Σ_{a≠0} ½ a (u − u*)² + Σ_{a=0} b̃ u`` on the frame.

    ``u* = −b̃/a`` (0 on null axes) and ``J0 = c − Σ_{a≠0} b̃²/(2a)``, which is ``J*`` when
    J has a minimizer; where the frame knows ``J*`` without cancellation (a regression,
    :attr:`~quadsim.problems.SpectralFrame.minimum`) that value is taken.
    """
    a, b = frame.eigenvalues, frame.b
    moving = a != 0.0
    safe = np.where(moving, a, 1.0)
    u_star = np.where(moving, -b / safe, 0.0)
    if frame.minimum is not None:
        return u_star, frame.minimum
    return u_star, frame.c - 0.5 * float(np.sum(np.where(moving, b * b / safe, 0.0)))


def loss_moments(frame: SpectralFrame, centre: np.ndarray, variance: np.ndarray,
                  independent: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``E[w]`` (frame coordinates), ``E[J]`` and ``Var J`` from per-axis moments.

    ``E[J] = J* + Σ_{a≠0} ½ a (centre² + var) + Σ_{a=0} b̃·mean`` with
    ``J* = c − Σ_{a≠0} b̃²/(2a)``: the excess is a sum of non-negative terms on a convex
    problem. For Gaussian axes that are independent,
    ``Var J = Σ_j var_j (a_j mean_j + b̃_j)² + ½ a_j² var_j²``.
    """
    u_star, floor = minimum(frame)
    K = centre.shape[0]
    mean, loss, loss_var = np.empty_like(centre), np.empty(K), np.empty(K)
    loss_statistics(frame.eigenvalues, frame.b, u_star, floor, centre, variance, mean, loss,
                    loss_var)
    return mean, loss, loss_var if independent else None


def first_bad_step(steps: np.ndarray, *curves: np.ndarray | None) -> int | None:
    """The first recorded step at which any of `curves` is not finite, or None."""
    bad = np.zeros(steps.shape[0], dtype=bool)
    for curve in curves:
        if curve is not None:
            bad |= ~np.isfinite(curve)
    return int(steps[np.argmax(bad)]) if np.any(bad) else None
