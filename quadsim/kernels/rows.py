"""Kernels for matrix weights ``W`` (m, d): all rows share one curvature ``A``.

For a matrix-valued regression every row ``w_i`` of ``W`` follows the two-step update
of :mod:`quadsim.kernels.trajectory` with the same ``A`` and its own ``b_i``, so the
rows move together as one matrix–matrix update,

    Y_t     = W_t + γ (W_t − W_{t−1})
    W_{t+1} = W_t + β (W_t − W_{t−1}) − lr · (Y_t A + B) P,        W_{−1} = W_0,

(``B`` the rows ``b_i``, ``P`` symmetric; ``P`` of shape (0, 0) means I). The product
``Y_t A`` is one BLAS-3 ``dgemm`` per step (``np.dot`` inside the kernel, which numba
lowers to scipy's BLAS: cacheable, and threaded by BLAS), ``2·m·d²`` flops against
``O(m·d)`` for the rest of the step. The loss is recorded at the caller's steps as
``J(W) = Σ_ij W_ij (½ (W A)_ij + B_ij) + c``.

:func:`minibatch_rows_run` is minibatch SGD with matrix targets: one batch of rows of
``X`` per step, the same for every row of ``W`` (a real minibatch),
``G = (1/B) Σ_{s∈S} δ_s x_sᵀ + l2·W M`` with the residuals ``δ_s = W x_s − y_s`` (rank
``≤ B`` before the ridge term). It draws its batches exactly as
:func:`quadsim.kernels.ensemble.minibatch_run` does, so row ``i`` of a run equals the
vector run on targets ``Y[:, i]`` with the same seed.
"""

import numba
import numpy as np

from quadsim.kernels._jit import jit_inline, jit_parallel, jit_sum
from quadsim.kernels.ensemble import _draw_batch
from quadsim.kernels.tangent import _apply_curvature
from quadsim.kernels.trajectory import (
    _mark_diverged,
    _two_step_in_place,
    all_finite,
    record_state,
    symmetric_matvec,
)

#: From this many entries ``m·d`` of ``W`` on, the products call BLAS (``np.dot``); below
#: it the jitted row-by-row product is a little faster than the call (per GD step on the
#: 2-core reference machine: 0.23 against 0.26 µs at m = 4, d = 8; 0.43 against 0.31 µs
#: at m = 4, d = 16; 3.4 against 1.0 µs at m = 64, d = 16).
GEMM_MIN_SIZE = 64


@jit_inline
def _times(W, A, out, blas):
    """``out = W @ A`` for ``W`` (m, d) and a symmetric ``A`` (d, d)."""
    if blas:
        np.dot(W, A, out)
    else:
        for i in range(W.shape[0]):
            symmetric_matvec(A, W[i], out[i])


@jit_inline
def _record_rows(k, W, AW, B, c, W_out, loss_out):
    """Write ``W`` and ``J(W) = Σ W ⊙ (½ AW + B) + c`` into record ``k`` (flat views)."""
    size = W.shape[0] * W.shape[1]
    K = W_out.shape[0]
    record_state(k, W.reshape(size), AW.reshape(size), B.reshape(size), c,
                 W_out.reshape((K, size)), loss_out)


@jit_sum
def two_step_rows(A, B, c, P, lr, beta, gamma, W0, steps, W_out, loss_out, blas):
    """Run the matrix update on the dense ``A`` (one ``m×d×d`` product a step).

    ``B`` has shape (m, d), ``W_out`` (K, m, d). Returns the first step with a
    non-finite iterate, or −1.
    """
    m, d = W0.shape
    size = m * d
    precondition = P.shape[0] > 0
    lookahead = gamma != 0.0
    W = W0.copy()
    W_prev = W0.copy()
    Y = np.empty((m, d))
    G = np.empty((m, d))
    AW = np.empty((m, d))
    direction = np.empty((m, d))
    flat_W, flat_prev = W.reshape(size), W_prev.reshape(size)
    flat_G, flat_B = G.reshape(size), B.reshape(size)
    flat_direction = direction.reshape(size)
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        point = W
        if lookahead:
            for i in range(m):
                for j in range(d):
                    Y[i, j] = W[i, j] + gamma * (W[i, j] - W_prev[i, j])
            point = Y
        _times(point, A, G, blas)
        if t == steps[k]:
            current = G  # W A, unless the gradient was taken at the look-ahead point
            if lookahead:
                _times(W, A, AW, blas)
                current = AW
            _record_rows(k, W, current, B, c, W_out, loss_out)
            k += 1
            if k == n_records:
                return -1
        for i in range(size):
            flat_G[i] += flat_B[i]
        step = flat_G
        if precondition:
            _times(G, P, direction, blas)
            step = flat_direction
        _two_step_in_place(flat_W, flat_prev, step, lr, beta)
        t += 1
        if not all_finite(flat_W):
            _mark_diverged(k, W_out.reshape((W_out.shape[0], size)), loss_out)
            return t


@jit_inline
def _batch_gradient_rows(X, targets, batch, l2, metric, W, G, residual):
    """``G = (1/B) Σ_{s∈batch} (W x_s − y_s) x_sᵀ + l2·W M``: a sum of rank-1 terms."""
    m, d = W.shape
    if l2 == 0.0:
        G[:, :] = 0.0
    elif metric.shape[0] > 0:
        for i in range(m):
            symmetric_matvec(metric, W[i], G[i])
            for j in range(d):
                G[i, j] *= l2
    else:
        for i in range(m):
            for j in range(d):
                G[i, j] = l2 * W[i, j]
    weight = 1.0 / batch.shape[0]
    for s in range(batch.shape[0]):
        row = X[batch[s]]
        for i in range(m):
            total = -targets[batch[s], i]
            for j in range(d):
                total += W[i, j] * row[j]
            residual[i] = weight * total
        for i in range(m):
            delta = residual[i]
            for j in range(d):
                G[i, j] += delta * row[j]


@jit_inline
def _record_run(k, W, AW, curvature, B, c, W_out, loss_out, average, ema_out,
                ema_loss_out):
    for i in range(W.shape[0]):
        _apply_curvature(curvature, W[i], AW[i])
    _record_rows(k, W, AW, B, c, W_out, loss_out)
    if ema_out.shape[0] > 0:
        for i in range(W.shape[0]):
            _apply_curvature(curvature, average[i], AW[i])
        _record_rows(k, average, AW, B, c, ema_out, ema_loss_out)


@jit_sum
def minibatch_rows_run(X, targets, l2, metric, curvature, B, c, P, batch_size, sampling,
                       lrs, beta, gamma, ema, W0, steps, state, W_out, loss_out, ema_out,
                       ema_loss_out):
    """One minibatch-SGD run with matrix weights; returns the first non-finite step or −1.

    ``targets`` is ``Y`` (n, m); ``curvature`` the dense ``A`` or a (d, 1) column of
    eigenvalues; ``B`` (m, d). The batch of each step is drawn as in
    :func:`quadsim.kernels.ensemble.minibatch_run`.
    """
    m, d = W0.shape
    size = m * d
    n = X.shape[0]
    W = W0.copy()
    W_prev = W0.copy()
    averaged = ema_out.shape[0] > 0
    average = W0.copy() if averaged else np.empty((0, d))
    Y = np.empty((m, d))
    G = np.empty((m, d))
    AW = np.empty((m, d))
    direction = np.empty((m, d))
    residual = np.empty(m)
    flat_W, flat_prev = W.reshape(size), W_prev.reshape(size)
    flat_G, flat_direction = G.reshape(size), direction.reshape(size)
    flat_average = average.reshape(average.shape[0] * d)
    order = np.arange(n)
    batch = np.empty(batch_size, dtype=np.int64)
    position = n  # an epoch starts at the first step
    constant = lrs.shape[0] == 1
    K = steps.shape[0]
    k = 0
    t = 0
    while True:
        if t == steps[k]:
            _record_run(k, W, AW, curvature, B, c, W_out, loss_out, average, ema_out,
                        ema_loss_out)
            k += 1
            if k == K:
                return -1
        position = _draw_batch(state, sampling, order, batch, position)
        point = W
        if gamma != 0.0:
            for i in range(m):
                for j in range(d):
                    Y[i, j] = W[i, j] + gamma * (W[i, j] - W_prev[i, j])
            point = Y
        _batch_gradient_rows(X, targets, batch, l2, metric, point, G, residual)
        lr = lrs[0] if constant else lrs[t]
        step = flat_G
        if P.shape[0] > 0:
            for i in range(m):
                symmetric_matvec(P, G[i], direction[i])
            step = flat_direction
        _two_step_in_place(flat_W, flat_prev, step, lr, beta)
        if averaged:
            for i in range(size):
                flat_average[i] = ema * flat_average[i] + (1.0 - ema) * flat_W[i]
        t += 1
        if not all_finite(flat_W):
            _mark_diverged(k, W_out.reshape((K, size)), loss_out)
            if averaged:
                _mark_diverged(k, ema_out.reshape((K, size)), ema_loss_out)
            return t


@jit_parallel
def minibatch_rows_runs(X, targets, l2, metric, curvature, B, c, P, batch_size, sampling,
                        lrs, beta, gamma, ema, W0, steps, states, W_out, loss_out, ema_out,
                        ema_loss_out, diverged_out):
    """:func:`minibatch_rows_run` for every run ``r`` (its own ``states[r]``), in parallel."""
    for r in numba.prange(states.shape[0]):
        state = states[r].copy()
        diverged_out[r] = minibatch_rows_run(X, targets, l2, metric, curvature, B, c, P,
                                             batch_size, sampling, lrs, beta, gamma, ema,
                                             W0, steps, state, W_out[r], loss_out[r],
                                             ema_out[r], ema_loss_out[r])
