"""Exact moments of stochastic runs: the stochastic twin of :func:`~quadsim.closed_form`.

``moments(model, method, w0, steps)`` gives ``E[w_t]``, ``E[J(w_t)]`` and, where it has a
closed form, ``Var J(w_t)``: what an ensemble from :func:`~quadsim.simulate` estimates.

- Gaussian noise (:class:`~quadsim.NoisyQuadratic`, and a deterministic problem as its
  noise-free case): the axes of the method's frame evolve independently, and each
  needs only its own noise variance. With a constant lr, GD, heavy ball, Nesterov and
  preconditioned GD (and GD's moving average) are solved per axis in closed form,
  O(1) per axis and record whatever the step (:mod:`quadsim.kernels.moments`);
  a schedule, or a moving average of a momentum method, is the product of the per-run
  transitions by doubling, O(runs·log T) per axis.
- Finite data (:class:`~quadsim.Minibatch`): the exact recursion of the full second
  moment, see :func:`minibatch_moments`.
- Online SGD on Gaussian data (:class:`~quadsim.OnlineRegression`): the per-axis second
  moments close through one sum over the axes, iterated step by step, see
  :func:`online_regression_moments`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from quadsim._validation import as_step_indices
from quadsim.axes import axis_moments, first_bad_step, loss_moments, minimum
from quadsim.kernels.minibatch import minibatch_second_moments
from quadsim.kernels.moments import online_moments
from quadsim.methods import _TwoStepMethod
from quadsim.noise import Minibatch, NoisyQuadratic, OnlineRegression, as_noise_model
from quadsim.results import Moments
from quadsim.rows import as_start, matrix_regression, method_frame
from quadsim.theory import check_method

__all__ = ["minibatch_moments", "moments", "online_regression_moments"]

#: Largest dimension for the exact minibatch recursion: it keeps up to nine (d, d)
#: blocks of second moments (72 MiB at the limit) and a step costs O(n·d² + d³).
MINIBATCH_MOMENTS_MAX_DIM = 1000


def check_discrete(method: object) -> _TwoStepMethod:
    """Return a discrete method spec, or raise a TypeError naming `method`."""
    method = check_method(method)
    if not isinstance(method, _TwoStepMethod):
        raise TypeError("`method` must be GD, Momentum, Nesterov or Preconditioned; "
                        f"got {type(method).__name__}")
    return method


def moments(problem: object, method: object, w0: object, steps: object) -> Moments:
    """Exact mean and expected loss of `method` on a noise model, at the recorded steps.

    Parameters
    ----------
    problem : NoisyQuadratic, Minibatch, OnlineRegression, Quadratic or LinearRegression
        A noise model; a deterministic problem is the noise-free case.
    method : GD, Momentum, Nesterov or Preconditioned
        With its schedule and moving average, if any.
    w0 : array_like, shape (d,), or (m, d) for a regression with targets of shape (n, m)
        The (deterministic) start, with zero initial velocity. With matrix weights the
        rows are independent (a :class:`~quadsim.Minibatch` shares its batches between
        them, which leaves each row's own dynamics unchanged), so ``E[J]`` is the sum
        of the rows' expected losses.
    steps : int or array_like
        As in :func:`~quadsim.simulate`.

    Returns
    -------
    Moments
        ``mean`` equals ``closed_form(...).w``; ``loss`` is ``E[J(w_t)]``.

    See Also
    --------
    simulate : Monte Carlo ensembles whose averages these are.
    closed_form : the mean trajectory alone.

    Notes
    -----
    With Gaussian noise of per-axis variance ``c_j`` (noise covariance ``SᵀCS/B`` in the
    method's frame ``w = S u``), each axis follows ``u_{t+1} = τ u_t − δ u_{t−1} − lr b̃ +
    η_t`` with ``Var η_t = lr² c_j``; the mean deviation from ``u*`` is
    ``(s_{t+1} − δ s_t)(u_0 − u*)`` and the variance ``lr² c_j Σ_{k=1}^{t} s_k²`` with the
    Lucas sequence ``s`` of the companion (:mod:`quadsim.kernels.moments`). For SGD the
    steady state per axis is ``lr·c/(2(2 − lr·a))`` in loss, for heavy ball
    ``(1 + β) lr·c / (2 (1 − β)(2β + 2 − lr·a))``.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import Momentum, NoisyQuadratic, Quadratic, moments
    >>> model = NoisyQuadratic(Quadratic(np.array([1.0])), batch_size=1)
    >>> exact = moments(model, Momentum(0.1, 0.9), [0.0], [10**9])
    >>> round(float(exact.loss[0]), 12)   # (1 + β) α / (2 (1 − β)(2β + 2 − α))
    0.256756756757
    """
    method = check_discrete(method)
    w0 = as_start(problem, w0)
    indices = as_step_indices(steps)
    model = as_noise_model(problem)
    if isinstance(model, Minibatch):
        return minibatch_moments(model, method, w0, indices)
    if isinstance(model, OnlineRegression):
        return online_regression_moments(model, method, w0, indices)
    frame, w0 = method_frame(problem, method, w0)
    if isinstance(model, NoisyQuadratic):
        noise, independent = model.axis_variances(frame), model.independent_axes(frame)
    else:
        noise, independent = np.zeros(frame.dim), True
    u0 = np.ascontiguousarray(frame.to_eigen(w0))
    centre, variance, average_centre, average_variance = axis_moments(
        frame, method, np.ascontiguousarray(noise), u0, indices)
    mean, loss, loss_var = loss_moments(frame, centre, variance, independent)
    ema_mean = ema_loss = ema_loss_var = None
    if average_centre is not None and average_variance is not None:
        ema_u, ema_loss, ema_loss_var = loss_moments(frame, average_centre, average_variance,
                                                      independent)
        ema_mean = frame.from_eigen(ema_u)
    return Moments(indices, frame.from_eigen(mean), loss, loss_var,
                   first_bad_step(indices, loss, ema_loss), ema_mean, ema_loss, ema_loss_var)


def online_regression_moments(model: OnlineRegression, method: _TwoStepMethod,
                              w0: np.ndarray, steps: np.ndarray) -> Moments:
    """Exact moments of online SGD on fresh Gaussian examples (any two-step method).

    In the method's frame the features' coordinates are independent with variances
    ``a_j``; the Gaussian fourth moment ``E[x xᵀ M x xᵀ] = 2ΣMΣ + tr(ΣM)Σ`` makes each
    axis's gradient-noise variance ``(a_j² E[y_j²] + a_j (Σ_k a_k E[y_k²] + σ²)) / B``
    at the gradient point ``y``, so the per-axis means and variances of
    ``(u_t, u_{t−1}, ũ_t)`` close and are iterated step by step
    (:func:`~quadsim.kernels.moments.online_moments`): O(T·d) for a horizon T, with
    schedules and moving averages. ``loss_var`` is None: the loss couples the axes
    through the off-diagonal moments, which this recursion does not carry.

    For SGD with a constant lr the steady state solves in closed form: with
    ``S = Σ_j lr a_j / (B (2 − lr a_j (1 + 1/B)))`` the excess risk tends to
    ``½ σ² S / (1 − S)`` when ``S < 1`` and every ``lr a_j (1 + 1/B) < 2``.
    """
    frame, w0 = method_frame(model, method, w0)
    # Iterated on the deviation e = w − w*, in every frame (a preconditioned one too)
    # J = σ²/2 + ½ Σ a_j e_j²: no cancellation for a large teacher.
    deviation = replace(frame, b=np.zeros(frame.dim), c=0.5 * model.noise,
                        optimum=0.5 * model.noise)
    K, d = steps.shape[0], frame.dim
    centre, variance = np.empty((K, d)), np.empty((K, d))
    average_centre, average_variance = np.empty((K, d)), np.empty((K, d))
    lrs = method.learning_rates(max(int(steps[-1]), 1))
    rho = 0.0 if method.ema is None else method.ema
    with np.errstate(over="ignore", invalid="ignore"):
        online_moments(frame.eigenvalues,
                       np.ascontiguousarray(frame.to_eigen(w0 - model.teacher)), model.noise,
                       model.batch_size, lrs, method.momentum, method.lookahead, rho, steps,
                       centre, variance, average_centre, average_variance)
        mean, loss, _ = loss_moments(deviation, centre, variance, False)
        ema_mean = ema_loss = None
        if method.ema is not None:
            ema_e, ema_loss, _ = loss_moments(deviation, average_centre, average_variance,
                                              False)
            ema_mean = model.teacher + frame.from_eigen(ema_e)
    return Moments(steps, model.teacher + frame.from_eigen(mean), loss, None,
                   first_bad_step(steps, loss, ema_loss), ema_mean, ema_loss, None)


def minibatch_moments(model: Minibatch, method: _TwoStepMethod, w0: np.ndarray,
                      steps: np.ndarray) -> Moments:
    """Exact moments of minibatch SGD (with momentum, schedule, average) on finite data.

    Iterates the mean and the full second moment of the deviation from the minimizer,
    jointly over ``(w_t, w_{t−1}, w̃_t)`` as the method needs
    (:mod:`quadsim.kernels.minibatch`): O(n·d² + d³) per step and O(d²) memory, for
    ``d <= MINIBATCH_MOMENTS_MAX_DIM``. Sampling with replacement scales the
    per-example gradient covariance by ``1/B``, without replacement by
    ``(n − B)/(B(n − 1))`` (zero at ``B = n``: deterministic GD). Epoch reshuffling has
    no such recursion (its batches within an epoch are dependent): a ValueError.

    With matrix weights ``w0`` (m, d) each row is minibatch SGD on its own column of
    ``Y`` (the shared batches correlate the rows, not a row's own moments), so the
    moments are the rows' own, stacked, and ``E[J]`` their sum.
    """
    if matrix_regression(model) is not None:
        return _sum_of_rows(model, method, w0, steps)
    if model.reshuffle:
        raise ValueError("epoch-wise reshuffling has no exact moment recursion here (the "
                         "batches of an epoch are dependent); estimate it with simulate(..., "
                         "runs=R), or use replace=False for independent subsets")
    regression = model.regression
    d = regression.dim
    if d > MINIBATCH_MOMENTS_MAX_DIM:
        raise ValueError(f"the exact minibatch recursion keeps (d, d) second moments; d = {d} "
                         f"exceeds its limit {MINIBATCH_MOMENTS_MAX_DIM}: estimate with "
                         "simulate(..., runs=R)")
    frame = method.frame(model.quadratic)
    u_star = frame.stationary_point
    if u_star is None:
        raise ValueError("the regression's frame has a drifting axis (rounding in its null "
                         "space): no minimizer to expand around")
    _, floor = minimum(frame)
    X, metric = model.design(frame)
    n = regression.n_samples
    residual = X @ u_star - regression.y
    g_star = X.T @ residual / n
    if metric is None:
        gram = (frame.eigenvalues - regression.l2)[:, None].copy()
    else:
        gram = np.ascontiguousarray(X.T @ X / n)
    K = steps.shape[0]
    mean_e, excess = np.empty((K, d)), np.empty(K)
    averaged = method.ema is not None
    average_mean = np.empty((K, d)) if averaged else np.empty((0, d))
    average_excess = np.empty(K if averaged else 0)
    momentum = method.momentum != 0.0 or method.lookahead != 0.0
    e0 = np.ascontiguousarray(frame.to_eigen(w0) - u_star)
    with np.errstate(over="ignore", invalid="ignore"):
        minibatch_second_moments(
            X, residual, g_star, gram, np.ascontiguousarray(frame.eigenvalues),
            method.learning_rates(max(int(steps[-1]), 1)), method.momentum, method.lookahead,
            0.0 if method.ema is None else method.ema, momentum, averaged,
            model.noise_scale, e0, steps, mean_e, excess, average_mean, average_excess)
    loss = floor + excess
    ema_mean = frame.from_eigen(u_star + average_mean) if averaged else None
    ema_loss = floor + average_excess if averaged else None
    return Moments(steps, frame.from_eigen(u_star + mean_e), loss, None,
                   first_bad_step(steps, loss, ema_loss), ema_mean, ema_loss, None)


def _sum_of_rows(model: Minibatch, method: _TwoStepMethod, W0: np.ndarray,
                 steps: np.ndarray) -> Moments:
    """Per-row exact moments of a matrix-valued Minibatch model, stacked and summed."""
    regression = model.regression
    rows = [minibatch_moments(replace(model, regression=regression.row(i)), method, W0[i],
                              steps)
            for i in range(regression.n_outputs)]
    loss = np.sum([row.loss for row in rows], axis=0)
    ema_loss = ema_mean = None
    if method.ema is not None:
        ema_loss = np.sum([row.ema_loss for row in rows if row.ema_loss is not None], axis=0)
        ema_mean = np.stack([row.ema_mean for row in rows if row.ema_mean is not None], axis=1)
    return Moments(steps, np.stack([row.mean for row in rows], axis=1), loss, None,
                   first_bad_step(steps, loss, ema_loss), ema_mean, ema_loss, None)
