"""Trajectory kernels for the two-step linear update, in the raw basis and per axis.

The kernels iterate

    y_t     = w_t + γ (w_t − w_{t−1})
    w_{t+1} = w_t + β (w_t − w_{t−1}) − lr · P (A y_t + b),      w_{−1} = w_0,

and write ``w_t`` and ``J(w_t)`` only at the caller's ``steps`` (strictly increasing),
so memory is O(K·d) whatever the horizon. They stop at the first step whose iterate
is not finite, fill the remaining records with NaN and return that step (−1 if none).

One kernel per idea, so that a call compiles only the code it runs:

- :func:`gd_raw`: plain GD (β = γ = 0, P = I) on the dense ``A``, one product a step;
- :func:`two_step_raw`: heavy ball, Nesterov and preconditioned GD on the dense ``A``;
- :func:`two_step_eigen`: every method, axis by axis in its eigenbasis.

What each compiles for: the API passes C-contiguous float64 arrays, Python floats and
int64 steps, so :func:`two_step_eigen` has one specialisation and each raw kernel
two, one per matrix-vector product (``plan``
None: the jitted :func:`symmetric_matvec`; a tuple: BLAS ``dsymv`` from
:data:`~quadsim.kernels._blas.BLAS_MIN_DIM` on, see
:func:`~quadsim.kernels._blas.symv_plan`). Each compiled specialisation is cached on
disk (see :mod:`quadsim.kernels._jit`).
"""

import numpy as np

from quadsim.kernels._blas import blas_symmetric_matvec
from quadsim.kernels._jit import jit_inline, jit_sum

_LARGEST = np.finfo(np.float64).max


@jit_inline
def symmetric_matvec(A, x, out):
    """``out = A @ x`` for symmetric ``A``, as ``Σ_j x_j A[j, :]``, four rows a pass.

    Each pass is a contiguous axpy, which LLVM vectorises without fastmath (a
    row-times-vector dot product would not); taking four rows a pass reads and writes
    ``out`` four times less.
    """
    d = x.shape[0]
    for i in range(d):
        out[i] = 0.0
    j = 0
    while j + 4 <= d:
        x0, x1, x2, x3 = x[j], x[j + 1], x[j + 2], x[j + 3]
        for i in range(d):
            out[i] += x0 * A[j, i] + x1 * A[j + 1, i] + x2 * A[j + 2, i] + x3 * A[j + 3, i]
        j += 4
    while j < d:
        xj = x[j]
        for i in range(d):
            out[i] += xj * A[j, i]
        j += 1


@jit_inline
def all_finite(x):
    """Whether every entry of ``x`` is finite: ``|x_i| <= max float`` fails for inf and NaN.

    Counting the failures is an integer reduction, which vectorises without fastmath
    (summing ``x_i − x_i``, a floating-point reduction, would not).
    """
    bad = 0
    for i in range(x.shape[0]):
        bad += not (abs(x[i]) <= _LARGEST)
    return bad == 0


@jit_inline
def quadratic_value(w, Aw, b, c):
    """``J(w) = Σ_i w_i (½ (Aw)_i + b_i) + c``."""
    total = 0.0
    for i in range(w.shape[0]):
        total += w[i] * (0.5 * Aw[i] + b[i])
    return total + c


@jit_inline
def record_state(k, w, Aw, b, c, w_out, loss_out):
    """Write ``w`` and ``J(w)`` into record ``k``."""
    for i in range(w.shape[0]):
        w_out[k, i] = w[i]
    loss_out[k] = quadratic_value(w, Aw, b, c)


@jit_inline
def _mark_diverged(k, w_out, loss_out):
    """Fill records ``k`` onwards with NaN (inlined: a separate compile cost more)."""
    for r in range(k, w_out.shape[0]):
        loss_out[r] = np.nan
        for i in range(w_out.shape[1]):
            w_out[r, i] = np.nan


@jit_inline
def _matvec(plan, A, x, out):
    """``out = A @ x`` by the jitted loop (``plan`` None) or by BLAS."""
    if plan is None:
        symmetric_matvec(A, x, out)
    else:
        blas_symmetric_matvec(plan, A, x, out)


@jit_inline
def _two_step_in_place(w, w_prev, step, lr, beta):
    """``w, w_prev ← w + β(w − w_prev) − lr·step, w`` entry by entry.

    Updating in place (no swapping of array variables) avoids reference-count traffic
    that costs more than the whole update at small d.
    """
    if beta == 0.0:
        for i in range(w.shape[0]):
            w[i] -= lr * step[i]
    else:
        for i in range(w.shape[0]):
            current = w[i]
            w[i] = current + beta * (current - w_prev[i]) - lr * step[i]
            w_prev[i] = current


@jit_sum
def gd_raw(A, b, c, lr, w0, steps, w_out, loss_out, plan):
    """Run GD, ``w ← w − lr (A w + b)``, on the dense ``A`` (one product a step).

    ``plan`` is None for the jitted product or the BLAS plan of
    :func:`~quadsim.kernels._blas.symv_plan`. Returns the first step with a non-finite
    iterate, or −1.
    """
    d = w0.shape[0]
    w = w0.copy()
    Aw = np.empty(d)
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        _matvec(plan, A, w, Aw)
        if t == steps[k]:
            record_state(k, w, Aw, b, c, w_out, loss_out)
            k += 1
            if k == n_records:
                return -1
        for i in range(d):
            w[i] -= lr * (Aw[i] + b[i])
        t += 1
        if not all_finite(w):
            _mark_diverged(k, w_out, loss_out)
            return t


@jit_sum
def two_step_raw(A, b, c, P, lr, beta, gamma, w0, steps, w_out, loss_out, plan):
    """Run the update on the dense ``A`` (O(d²) a step); ``P`` of shape (0, 0) means I.

    ``plan`` is None for the jitted products with ``A`` and ``P`` or the BLAS plan of
    :func:`~quadsim.kernels._blas.symv_plan` (faster from ``BLAS_MIN_DIM`` on); the two
    compile one specialisation each, the None one with no trace of BLAS. Plain GD has
    its own, smaller kernel, :func:`gd_raw`. Returns the first step with a non-finite
    iterate, or −1.
    """
    d = w0.shape[0]
    precondition = P.shape[0] > 0
    lookahead = gamma != 0.0
    w = w0.copy()
    w_prev = w0.copy()
    y = np.empty(d)
    grad = np.empty(d)
    Aw = np.empty(d)
    direction = np.empty(d)
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        point = w
        if lookahead:
            for i in range(d):
                y[i] = w[i] + gamma * (w[i] - w_prev[i])
            point = y
        _matvec(plan, A, point, grad)
        if t == steps[k]:
            current = grad  # A w, unless the gradient was taken at the look-ahead point
            if lookahead:
                _matvec(plan, A, w, Aw)
                current = Aw
            record_state(k, w, current, b, c, w_out, loss_out)
            k += 1
            if k == n_records:
                return -1
        for i in range(d):
            grad[i] += b[i]
        step = grad
        if precondition:
            _matvec(plan, P, grad, direction)
            step = direction
        _two_step_in_place(w, w_prev, step, lr, beta)
        t += 1
        if not all_finite(w):
            _mark_diverged(k, w_out, loss_out)
            return t


@jit_sum
def two_step_eigen(a, b, c, lr, beta, gamma, u0, steps, u_out, loss_out):
    """Run the update axis by axis in the eigenbasis (O(d) a step), in place.

    ``a`` and ``b`` are the per-axis curvatures and linear terms; ``u_out`` receives
    eigen-coordinates. Returns the first step with a non-finite iterate, or −1.
    """
    d = u0.shape[0]
    u = u0.copy()
    u_prev = u0.copy()
    au = np.empty(d)
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        if t == steps[k]:
            for i in range(d):
                au[i] = a[i] * u[i]
            record_state(k, u, au, b, c, u_out, loss_out)
            k += 1
            if k == n_records:
                return -1
        for i in range(d):
            current = u[i]
            velocity = current - u_prev[i]
            y = current + gamma * velocity
            u[i] = current + beta * velocity - lr * (a[i] * y + b[i])
            u_prev[i] = current
        t += 1
        if not all_finite(u):
            _mark_diverged(k, u_out, loss_out)
            return t

