"""Trajectory kernels for the two-step linear update, in the raw basis and per axis.

Both kernels iterate

    y_t     = w_t + γ (w_t − w_{t−1})
    w_{t+1} = w_t + β (w_t − w_{t−1}) − lr · P (A y_t + b),      w_{−1} = w_0,

and write ``w_t`` and ``J(w_t)`` only at the caller's ``steps`` (strictly increasing),
so memory is O(K·d) whatever the horizon. They stop at the first step whose iterate
is not finite, fill the remaining records with NaN and return that step (−1 if none).
"""

import numpy as np

from quadsim.kernels._jit import jit


@jit
def symmetric_matvec(A, x, out):
    """``out = A @ x`` for symmetric ``A``, as ``Σ_j x_j A[j, :]``.

    Each term is a contiguous axpy, which LLVM vectorises without fastmath (a
    row-times-vector dot product would not), so this runs at memory bandwidth.
    """
    d = x.shape[0]
    for i in range(d):
        out[i] = 0.0
    for j in range(d):
        xj = x[j]
        for i in range(d):
            out[i] += xj * A[j, i]


@jit
def record_state(k, w, Aw, b, c, w_out, loss_out):
    """Write ``w`` and ``J(w) = Σ_i w_i (½ (Aw)_i + b_i) + c`` into record ``k``."""
    loss = c
    for i in range(w.shape[0]):
        loss += w[i] * (0.5 * Aw[i] + b[i])
        w_out[k, i] = w[i]
    loss_out[k] = loss


@jit
def _mark_diverged(k, w_out, loss_out):
    for r in range(k, w_out.shape[0]):
        loss_out[r] = np.nan
        for i in range(w_out.shape[1]):
            w_out[r, i] = np.nan


@jit
def two_step_raw(A, b, c, P, lr, beta, gamma, w0, steps, w_out, loss_out):
    """Run the update on the dense ``A`` (O(d²) a step); ``P`` of shape (0, 0) means I.

    Returns the first step with a non-finite iterate, or −1.
    """
    d = w0.shape[0]
    precondition = P.shape[0] > 0
    lookahead = gamma != 0.0
    w = w0.copy()
    w_prev = w0.copy()
    w_next = np.empty(d)
    y = np.empty(d)
    grad = np.empty(d)
    Aw = np.empty(d)
    direction = np.empty(d)
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        if lookahead:
            for i in range(d):
                y[i] = w[i] + gamma * (w[i] - w_prev[i])
            symmetric_matvec(A, y, grad)
        else:
            symmetric_matvec(A, w, grad)
        if t == steps[k]:
            if lookahead:
                symmetric_matvec(A, w, Aw)
                record_state(k, w, Aw, b, c, w_out, loss_out)
            else:
                record_state(k, w, grad, b, c, w_out, loss_out)
            k += 1
            if k == n_records:
                return -1
        for i in range(d):
            grad[i] += b[i]
        if precondition:
            symmetric_matvec(P, grad, direction)
        else:
            direction[:] = grad
        nonfinite = 0.0
        for i in range(d):
            w_next[i] = w[i] + beta * (w[i] - w_prev[i]) - lr * direction[i]
            nonfinite += w_next[i] - w_next[i]
        w_prev, w, w_next = w, w_next, w_prev
        t += 1
        if nonfinite != 0.0:
            _mark_diverged(k, w_out, loss_out)
            return t


@jit
def two_step_eigen(a, b, c, lr, beta, gamma, u0, steps, u_out, loss_out):
    """Run the update axis by axis in the eigenbasis (O(d) a step).

    ``a`` and ``b`` are the per-axis curvatures and linear terms; ``u_out`` receives
    eigen-coordinates. Returns the first step with a non-finite iterate, or −1.
    """
    d = u0.shape[0]
    u = u0.copy()
    u_prev = u0.copy()
    u_next = np.empty(d)
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        if t == steps[k]:
            loss = c
            for i in range(d):
                loss += u[i] * (0.5 * a[i] * u[i] + b[i])
                u_out[k, i] = u[i]
            loss_out[k] = loss
            k += 1
            if k == n_records:
                return -1
        nonfinite = 0.0
        for i in range(d):
            velocity = u[i] - u_prev[i]
            y = u[i] + gamma * velocity
            u_next[i] = u[i] + beta * velocity - lr * (a[i] * y + b[i])
            nonfinite += u_next[i] - u_next[i]
        u_prev, u, u_next = u, u_next, u_prev
        t += 1
        if nonfinite != 0.0:
            _mark_diverged(k, u_out, loss_out)
            return t
