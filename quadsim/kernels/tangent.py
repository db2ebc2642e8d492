"""Forward-mode tangents of the two-step update, carried in the same pass as the run.

The run is the update of :mod:`quadsim.kernels.trajectory` on
``J(w; θ) = ½ wᵀA(θ)w + b(θ)ᵀw + c`` (``P = I``), with ``v_t = w_t − w_{t−1}``:

    y_t     = w_t + γ v_t,       g_t = A y_t + b,
    w_{t+1} = w_t + β v_t − lr g_t.

Its tangent ``Ẇ_t = dw_t/dθ`` (d × p, ``Ẇ_0 = Ẇ_{−1} = 0``) obeys the same recurrence
plus a source term,

    Ẏ_t     = Ẇ_t + γ V̇_t,
    Ẇ_{t+1} = Ẇ_t + β V̇_t − lr (A Ẏ_t + S(y_t)),

with ``S(y)[:, k] = σ_k y + L[:, k](R[k]·y + r_k) = ∂(A y + b)/∂θ_k`` (the matrix-free
form of :class:`quadsim.families.AffineFamily`). Optionally two more columns follow, the
derivatives with respect to the optimizer's own ``lr`` and ``β``:

    lr column: source ``−g_t`` in the update;
    β column:  source ``+v_t`` in the update and ``(dγ/dβ)·v_t`` in ``Ẏ_t``.

``curvature`` is either the dense symmetric ``A`` (d × d, raw basis, O(d²·p) a step)
or the eigenvalues as a column (d × 1, eigenbasis, where ``L``, ``R`` and ``b`` are
given in eigen-coordinates; O(d·p) a step).

Compiles for: :func:`two_step_tangent` once, for both bases and every method (the
``curvature`` is a 2-d float64 array either way, the branches are on its shape and on
the scalars); the dense ``A Ẏ`` is a BLAS product (``np.dot``), which makes this the
slowest kernel to compile.
"""

import numpy as np

from quadsim.kernels._jit import jit_inline, jit_sum
from quadsim.kernels.trajectory import (
    _mark_diverged,
    all_finite,
    record_state,
    symmetric_matvec,
)


@jit_inline
def _apply_curvature(curvature, x, out):
    """``out = A x`` for a dense ``A`` or a (d, 1) column of eigenvalues."""
    if curvature.shape[1] == 1:
        for i in range(x.shape[0]):
            out[i] = curvature[i, 0] * x[i]
    else:
        symmetric_matvec(curvature, x, out)


@jit_inline
def _apply_curvature_columns(curvature, X, out):
    """``out = A X`` for X of shape (d, P): BLAS for a dense ``A``."""
    if curvature.shape[1] == 1:
        for i in range(X.shape[0]):
            for k in range(X.shape[1]):
                out[i, k] = curvature[i, 0] * X[i, k]
    else:
        np.dot(curvature, X, out)


@jit_inline
def _record_tangent(k, T, tangent_out):
    """``tangent_out[k] = T`` entry by entry.

    Explicit loops here and for the NaN records: an array slice assignment compiles
    numba's shape-mismatch error path, whose message formatting took over half of this
    kernel's compile time.
    """
    for i in range(T.shape[0]):
        for col in range(T.shape[1]):
            tangent_out[k, i, col] = T[i, col]


@jit_sum
def two_step_tangent(curvature, b, c, isotropic, L, R, r, lr, beta, gamma, lookahead_slope,
                     hyper_columns, w0, steps, w_out, loss_out, tangent_out):
    """Run the update and its tangents; record ``w_t``, ``J(w_t)`` and ``dw_t/dθ``.

    ``tangent_out`` has shape (K, d, p + hyper_columns): the family's p columns, then
    ``d/dlr`` if ``hyper_columns >= 1``, then ``d/dβ`` if ``hyper_columns == 2``.
    ``lookahead_slope`` is ``dγ/dβ`` (1 for Nesterov, 0 for heavy ball). Everything is
    updated in place. Returns the first step whose iterate or tangent is not finite,
    or −1.
    """
    d = w0.shape[0]
    p = isotropic.shape[0]
    P = p + hyper_columns
    w = w0.copy()
    w_prev = w0.copy()
    velocity = np.zeros(d)
    y = np.empty(d)
    grad = np.empty(d)
    Aw = np.empty(d)
    Ry = np.empty(p)
    T = np.zeros((d, P))
    T_velocity = np.zeros((d, P))
    Ty = np.empty((d, P))
    ATy = np.empty((d, P))
    n_records = steps.shape[0]
    k = 0
    t = 0
    while True:
        for i in range(d):
            velocity[i] = w[i] - w_prev[i]
            y[i] = w[i] + gamma * velocity[i]
        _apply_curvature(curvature, y, grad)
        if t == steps[k]:
            _apply_curvature(curvature, w, Aw)
            record_state(k, w, Aw, b, c, w_out, loss_out)
            _record_tangent(k, T, tangent_out)
            k += 1
            if k == n_records:
                return -1
        for i in range(d):
            grad[i] += b[i]
        for i in range(d):
            for col in range(P):
                Ty[i, col] = T[i, col] + gamma * T_velocity[i, col]
        if hyper_columns == 2:
            for i in range(d):
                Ty[i, p + 1] += lookahead_slope * velocity[i]
        _apply_curvature_columns(curvature, Ty, ATy)
        for m in range(p):
            total = 0.0
            for i in range(d):
                total += R[m, i] * y[i]
            Ry[m] = total + r[m]
        for i in range(d):
            for col in range(p):
                ATy[i, col] += isotropic[col] * y[i] + L[i, col] * Ry[col]
        for i in range(d):
            for col in range(P):
                T_velocity[i, col] = beta * T_velocity[i, col] - lr * ATy[i, col]
            if hyper_columns >= 1:
                T_velocity[i, p] -= grad[i]
            if hyper_columns == 2:
                T_velocity[i, p + 1] += velocity[i]
            for col in range(P):
                T[i, col] += T_velocity[i, col]
        for i in range(d):
            w_prev[i] = w[i]
            w[i] += beta * velocity[i] - lr * grad[i]
        t += 1
        if not (all_finite(w) and all_finite(T.ravel())):
            _mark_diverged(k, w_out, loss_out)
            for rec in range(k, n_records):
                for i in range(d):
                    for col in range(P):
                        tangent_out[rec, i, col] = np.nan
            return t
