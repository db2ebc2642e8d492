"""Ensembles of stochastic runs: one parallel region over the runs, a serial worker per run.

Every run iterates the two-step update of :mod:`quadsim.kernels.trajectory` with a
sampled gradient ``g_t`` and a per-step learning rate:

    y_t     = w_t + γ (w_t − w_{t−1})
    w_{t+1} = w_t + β (w_t − w_{t−1}) − lr_t · P g_t(y_t),          w_{−1} = w_0,
    w̃_{t+1} = ρ w̃_t + (1 − ρ) w_{t+1},                              w̃_0 = w_0,

(``w̃`` the moving average, kept only when ``ema_out`` has records), and records ``w_t``,
``J(w_t)`` (and ``w̃_t``, ``J(w̃_t)``) at the caller's steps. ``lrs`` holds ``lr_t`` for
every step, or one entry for a constant lr. The gradient is sampled by

- :func:`gaussian_runs`: ``g = A y + b + s·F z`` with ``z ~ N(0, I)`` (``s = 1/√B``;
  ``s = 0`` draws nothing: the deterministic run of a method with a schedule or an
  average);
- :func:`online_runs`: ``g = (1/B) Σ_i x_i (x_iᵀ y − σ ε_i)`` over ``B`` fresh examples
  ``x_i = F z_i`` (``z_i``, ``ε_i`` standard normals, drawn in that order): online SGD on
  Gaussian data, run on the deviation ``y = w − w*`` from the teacher;
- :func:`minibatch_runs`: ``g = (1/B) Σ_{i∈S} x_i (x_iᵀ y − y_i) + l2·M y`` over a batch
  ``S`` of rows of ``X`` drawn with replacement (``sampling = 0``), as an independent
  subset of distinct rows each step (``1``), or by epoch-wise reshuffling (``2``: each
  epoch a fresh permutation cut into ``⌊n/B⌋`` batches, the rest dropped).

``curvature`` is the dense ``A`` (d × d, the raw basis) or the eigenvalues as a column
(d × 1, the eigenbasis); ``factor_rows`` is ``Fᵀ`` (d × d) or the per-axis noise scales
as a column; ``P`` of shape (0, 0) and ``M`` of shape (0, 0) mean the identity. The raw
basis and the eigenbasis draw the same normals and the same rows, so their runs agree
path by path. Run ``r`` draws from its own xoshiro256** state ``states[r]``
(:mod:`quadsim.kernels.random`), so its numbers depend neither on the number of runs
nor on the thread count. Products with ``A`` use the jitted loop, not BLAS, so that the
runs' threads do not start BLAS threads of their own.
"""

import numba
import numpy as np

from quadsim.kernels._jit import jit_inline, jit_parallel, jit_sum
from quadsim.kernels.random import bounded, fill_normal
from quadsim.kernels.tangent import _apply_curvature
from quadsim.kernels.trajectory import (
    _LARGEST,
    _mark_diverged,
    all_finite,
    record_state,
    symmetric_matvec,
)


@jit_inline
def _run_vectors(w0, averaged):
    """The vectors of a run: ``w``, ``w_prev`` and the average (length 0 if not kept).

    Then four work vectors: ``y``, the gradient, ``A w`` and the preconditioned direction.
    """
    d = w0.shape[0]
    average = w0.copy() if averaged else np.empty(0)
    return w0.copy(), w0.copy(), average, np.empty(d), np.empty(d), np.empty(d), np.empty(d)


@jit_inline
def _record(k, w, Aw, curvature, b, c, w_out, loss_out, average, scratch, ema_out,
            ema_loss_out):
    """Write record ``k``: ``w``, ``J(w)`` (from ``Aw``) and the moving average's pair.

    ``scratch`` receives ``A w̃``; it must not be ``Aw``, which the caller may still need
    (the gradient ``A w``).
    """
    record_state(k, w, Aw, b, c, w_out, loss_out)
    if ema_out.shape[0] > 0:
        _apply_curvature(curvature, average, scratch)
        record_state(k, average, scratch, b, c, ema_out, ema_loss_out)


@jit_inline
def _mark_all_diverged(k, w_out, loss_out, ema_out, ema_loss_out):
    """NaN in records ``k`` onwards, of the iterate and of its average if kept."""
    _mark_diverged(k, w_out, loss_out)
    if ema_out.shape[0] > 0:
        _mark_diverged(k, ema_out, ema_loss_out)


@jit_inline
def _advance(w, w_prev, grad, P, direction, lr, beta, average, ema):
    """The two-step update from the sampled gradient, then the moving average.

    ``P`` of shape (0, 0) means no preconditioner, an ``average`` of length 0 none.
    """
    d = w.shape[0]
    if P.shape[0] > 0:
        symmetric_matvec(P, grad, direction)
        for i in range(d):
            grad[i] = direction[i]
    if beta == 0.0:
        for i in range(d):
            w[i] -= lr * grad[i]
    else:
        for i in range(d):
            current = w[i]
            w[i] = current + beta * (current - w_prev[i]) - lr * grad[i]
            w_prev[i] = current
    if average.shape[0] > 0:
        for i in range(d):
            average[i] = ema * average[i] + (1.0 - ema) * w[i]


@jit_inline
def _lookahead(w, w_prev, gamma, y):
    for i in range(w.shape[0]):
        y[i] = w[i] + gamma * (w[i] - w_prev[i])


@jit_sum
def gaussian_run(curvature, b, c, factor_rows, noise_scale, P, lrs, beta, gamma, ema, w0,
                 steps, state, w_out, loss_out, ema_out, ema_loss_out):
    """One run with Gaussian gradient noise; returns the first non-finite step or −1."""
    d = w0.shape[0]
    w, w_prev, average, y, grad, Aw, direction = _run_vectors(w0, ema_out.shape[0] > 0)
    z = np.empty(d)
    noise = np.empty(d)
    constant = lrs.shape[0] == 1
    k = 0
    t = 0
    while True:
        point = w
        if gamma != 0.0:
            _lookahead(w, w_prev, gamma, y)
            point = y
        _apply_curvature(curvature, point, grad)
        if t == steps[k]:
            current = grad  # A w, unless the gradient was taken at the look-ahead point
            if gamma != 0.0:
                _apply_curvature(curvature, w, Aw)
                current = Aw
            _record(k, w, current, curvature, b, c, w_out, loss_out, average, direction,
                    ema_out, ema_loss_out)
            k += 1
            if k == steps.shape[0]:
                return -1
        if noise_scale != 0.0:
            fill_normal(state, z)
            _apply_curvature(factor_rows, z, noise)
            for i in range(d):
                grad[i] += b[i] + noise_scale * noise[i]
        else:  # the noise-free case: a deterministic run with a schedule or an average
            for i in range(d):
                grad[i] += b[i]
        _advance(w, w_prev, grad, P, direction, lrs[0] if constant else lrs[t], beta,
                 average, ema)
        t += 1
        if not all_finite(w):
            _mark_all_diverged(k, w_out, loss_out, ema_out, ema_loss_out)
            return t


@jit_sum
def online_run(curvature, b, c, factor_rows, label_std, batch_size, P, lrs, beta, gamma, ema,
               w0, steps, state, w_out, loss_out, ema_out, ema_loss_out):
    """One run of online SGD on fresh Gaussian examples; the first non-finite step or −1."""
    d = w0.shape[0]
    w, w_prev, average, y, grad, Aw, direction = _run_vectors(w0, ema_out.shape[0] > 0)
    z = np.empty(d)
    x = np.empty(d)
    label = np.empty(1)
    weight = 1.0 / batch_size
    constant = lrs.shape[0] == 1
    k = 0
    t = 0
    while True:
        if t == steps[k]:
            _apply_curvature(curvature, w, Aw)
            _record(k, w, Aw, curvature, b, c, w_out, loss_out, average, direction, ema_out,
                    ema_loss_out)
            k += 1
            if k == steps.shape[0]:
                return -1
        point = w
        if gamma != 0.0:
            _lookahead(w, w_prev, gamma, y)
            point = y
        for i in range(d):
            grad[i] = 0.0
        for _ in range(batch_size):
            fill_normal(state, z)
            fill_normal(state, label)
            _apply_curvature(factor_rows, z, x)
            residual = -label_std * label[0]
            for i in range(d):
                residual += x[i] * point[i]
            residual *= weight
            for i in range(d):
                grad[i] += residual * x[i]
        _advance(w, w_prev, grad, P, direction, lrs[0] if constant else lrs[t], beta,
                 average, ema)
        t += 1
        if not all_finite(w):
            _mark_all_diverged(k, w_out, loss_out, ema_out, ema_loss_out)
            return t


@jit_inline
def _draw_batch(state, sampling, order, batch, position):
    """Fill ``batch`` with row indices; returns the updated epoch position."""
    n = order.shape[0]
    size = batch.shape[0]
    if sampling == 0:
        for i in range(size):
            batch[i] = bounded(state, n)
        return position
    if sampling == 1:
        # A partial Fisher–Yates shuffle: a uniform random ordered subset of `size`.
        for i in range(size):
            j = i + bounded(state, n - i)
            order[i], order[j] = order[j], order[i]
            batch[i] = order[i]
        return position
    if position + size > n:
        for i in range(n - 1, 0, -1):
            j = bounded(state, i + 1)
            order[i], order[j] = order[j], order[i]
        position = 0
    for i in range(size):
        batch[i] = order[position + i]
    return position + size


@jit_inline
def _batch_gradient(X, targets, batch, l2, y, residuals, grad):
    """``grad = (1/B) Σ_{i∈batch} x_i (x_iᵀ y − targets_i) + l2·y``.

    All the residuals first (into ``residuals``, length B), then the sum of rows: the
    two passes run about twice as fast as one residual-then-row pass per example (the
    loads of ``y`` no longer follow stores to ``grad``; measured at d = 10 … 1000), with
    the same numbers. Rows are read in place (``X[i, j]``, no row views); the ridge term
    with a metric ``M ≠ I`` is the caller's correction, so that this loop stays
    branch-free.
    """
    d = y.shape[0]
    weight = 1.0 / batch.shape[0]
    for m in range(batch.shape[0]):
        row = batch[m]
        residual = -targets[row]
        for i in range(d):
            residual += X[row, i] * y[i]
        residuals[m] = residual * weight
    for i in range(d):
        grad[i] = l2 * y[i]
    for m in range(batch.shape[0]):
        row = batch[m]
        residual = residuals[m]
        for i in range(d):
            grad[i] += residual * X[row, i]


@jit_inline
def _metric_correction(l2, metric, y, scratch, grad):
    """``grad += l2·(M − I) y`` for a ridge metric ``M`` (none: shape (0, 0))."""
    if metric.shape[0] > 0 and l2 != 0.0:
        symmetric_matvec(metric, y, scratch)
        for i in range(y.shape[0]):
            grad[i] += l2 * (scratch[i] - y[i])


@jit_sum
def plain_minibatch_run(X, targets, l2, curvature, b, c, batch_size, sampling, lr, w0, steps,
                        state, w_out, loss_out):
    """Plain minibatch SGD (constant lr, no momentum, preconditioner or average).

    The same numbers as :func:`minibatch_run` for such a method, from a loop with
    nothing else in it, written out: at d = 10 a step costs about a third as much.
    """
    d = w0.shape[0]
    n = X.shape[0]
    w = w0.copy()
    grad = np.empty(d)
    Aw = np.empty(d)
    order = np.arange(n)
    batch = np.empty(batch_size, dtype=np.int64)
    residuals = np.empty(batch_size)
    position = n
    weight = 1.0 / batch_size
    k = 0
    t = 0
    while True:
        if t == steps[k]:
            _apply_curvature(curvature, w, Aw)
            record_state(k, w, Aw, b, c, w_out, loss_out)
            k += 1
            if k == steps.shape[0]:
                return -1
        position = _draw_batch(state, sampling, order, batch, position)
        # Written out rather than through the inlined _batch_gradient (the same two passes:
        # residuals, then rows): measured at d = 10, B = 1, numba's IR inlining of the
        # helper costs this loop 30–100 ns a step.
        for m in range(batch_size):
            row = batch[m]
            residual = -targets[row]
            for i in range(d):
                residual += X[row, i] * w[i]
            residuals[m] = residual * weight
        for i in range(d):
            grad[i] = l2 * w[i]
        for m in range(batch_size):
            row = batch[m]
            residual = residuals[m]
            for i in range(d):
                grad[i] += residual * X[row, i]
        bad = 0
        for i in range(d):
            w[i] -= lr * grad[i]
            bad += not (abs(w[i]) <= _LARGEST)
        t += 1
        if bad:
            _mark_diverged(k, w_out, loss_out)
            return t


@jit_sum
def minibatch_run(X, targets, l2, metric, curvature, b, c, P, batch_size, sampling, lrs,
                  beta, gamma, ema, w0, steps, state, w_out, loss_out, ema_out,
                  ema_loss_out):
    """One minibatch-SGD run; returns the first non-finite step or −1."""
    n = X.shape[0]
    w, w_prev, average, y, grad, Aw, direction = _run_vectors(w0, ema_out.shape[0] > 0)
    order = np.arange(n)
    batch = np.empty(batch_size, dtype=np.int64)
    residuals = np.empty(batch_size)
    position = n  # an epoch starts at the first step
    constant = lrs.shape[0] == 1
    k = 0
    t = 0
    while True:
        if t == steps[k]:
            _apply_curvature(curvature, w, Aw)
            _record(k, w, Aw, curvature, b, c, w_out, loss_out, average, direction, ema_out,
                    ema_loss_out)
            k += 1
            if k == steps.shape[0]:
                return -1
        position = _draw_batch(state, sampling, order, batch, position)
        point = w
        if gamma != 0.0:
            _lookahead(w, w_prev, gamma, y)
            point = y
        _batch_gradient(X, targets, batch, l2, point, residuals, grad)
        _metric_correction(l2, metric, point, direction, grad)
        _advance(w, w_prev, grad, P, direction, lrs[0] if constant else lrs[t], beta,
                 average, ema)
        t += 1
        if not all_finite(w):
            _mark_all_diverged(k, w_out, loss_out, ema_out, ema_loss_out)
            return t


@jit_parallel
def gaussian_runs(curvature, b, c, factor_rows, noise_scale, P, lrs, beta, gamma, ema, w0,
                  steps, states, w_out, loss_out, ema_out, ema_loss_out, diverged_out):
    """:func:`gaussian_run` for every run ``r`` (its own ``states[r]``), in parallel."""
    for r in numba.prange(states.shape[0]):
        state = states[r].copy()
        diverged_out[r] = gaussian_run(curvature, b, c, factor_rows, noise_scale, P, lrs,
                                       beta, gamma, ema, w0, steps, state, w_out[r],
                                       loss_out[r], ema_out[r], ema_loss_out[r])


@jit_parallel
def online_runs(curvature, b, c, factor_rows, label_std, batch_size, P, lrs, beta, gamma, ema,
                w0, steps, states, w_out, loss_out, ema_out, ema_loss_out, diverged_out):
    """:func:`online_run` for every run ``r`` (its own ``states[r]``), in parallel."""
    for r in numba.prange(states.shape[0]):
        state = states[r].copy()
        diverged_out[r] = online_run(curvature, b, c, factor_rows, label_std, batch_size, P,
                                     lrs, beta, gamma, ema, w0, steps, state, w_out[r],
                                     loss_out[r], ema_out[r], ema_loss_out[r])


@jit_parallel
def plain_minibatch_runs(X, targets, l2, curvature, b, c, batch_size, sampling, lr, w0, steps,
                         states, w_out, loss_out, diverged_out):
    """:func:`plain_minibatch_run` for every run ``r`` (its own ``states[r]``), in parallel."""
    for r in numba.prange(states.shape[0]):
        state = states[r].copy()
        diverged_out[r] = plain_minibatch_run(X, targets, l2, curvature, b, c, batch_size,
                                              sampling, lr, w0, steps, state, w_out[r],
                                              loss_out[r])


@jit_parallel
def minibatch_runs(X, targets, l2, metric, curvature, b, c, P, batch_size, sampling, lrs,
                   beta, gamma, ema, w0, steps, states, w_out, loss_out, ema_out,
                   ema_loss_out, diverged_out):
    """:func:`minibatch_run` for every run ``r`` (its own ``states[r]``), in parallel."""
    for r in numba.prange(states.shape[0]):
        state = states[r].copy()
        diverged_out[r] = minibatch_run(X, targets, l2, metric, curvature, b, c, P,
                                        batch_size, sampling, lrs, beta, gamma, ema, w0,
                                        steps, state, w_out[r], loss_out[r], ema_out[r],
                                        ema_loss_out[r])
