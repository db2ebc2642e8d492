"""The closed-form loss curve of GD-like methods, evaluated record by record.

On an axis with ``h = lr·a`` and ``r = 1 − h`` the iterate after ``t`` steps is

    u_t = r^t u_0 − lr·b̃·G_t,        G_t = Σ_{k<t} r^k = (1 − r^t)/h   (= t when h = 0),

and ``J = c + Σ_j (½ a_j u_j² + b̃_j u_j)``. Between two records ``Δ`` steps apart the
pair ``(r^t, G_t)`` advances as ``r^{t+Δ} = r^Δ r^t``, ``G_{t+Δ} = G_Δ + r^Δ G_t`` with
``r^Δ = exp(Δ·log1p(−h))`` and ``G_Δ = −expm1(Δ·log1p(−h))/h`` (``Δ`` when ``h = 0``),
so a record costs O(d) whatever ``t`` is, and consecutive records (``Δ = 1``) cost
one multiply-add per axis. Rounding grows like ``K·eps`` over ``K`` records.

Compiles for: :func:`gd_loss_curve` once (float64 vectors, float ``c`` and ``lr``,
int64 steps), for GD and preconditioned GD alike.
"""

import numpy as np

from quadsim.kernels._jit import jit_inline, jit_sum


@jit_inline
def _jump(h, delta, power, geometric):
    """Move ``(r^t, G_t)`` on every axis forward by ``delta`` steps, in place."""
    for j in range(h.shape[0]):
        if h[j] == 0.0:
            step_power, step_sum = 1.0, float(delta)
        elif h[j] < 1.0:
            log_r = np.log1p(-h[j])
            step_power = np.exp(delta * log_r)
            step_sum = -np.expm1(delta * log_r) / h[j]
        else:
            step_power = (1.0 - h[j]) ** delta
            step_sum = (1.0 - step_power) / h[j]
        geometric[j] = step_sum + step_power * geometric[j]
        power[j] *= step_power


@jit_inline
def _loss(a, b, c, lr, u0, power, geometric, h, advance):
    """``J`` at ``(r^t, G_t)``, after advancing them one step first if ``advance``.

    The one-step advance shares the pass over the axes with the loss sum.
    """
    total = 0.0
    for j in range(a.shape[0]):
        if advance:
            r = 1.0 - h[j]
            geometric[j] = 1.0 + r * geometric[j]
            power[j] *= r
        u = power[j] * u0[j] - lr * b[j] * geometric[j]
        total += u * (0.5 * a[j] * u + b[j])
    return total + c


@jit_sum
def gd_loss_curve(a, b, c, lr, u0, steps, loss_out):
    """Write ``J(w_t)`` of GD in eigen-coordinates at the increasing ``steps``."""
    d = a.shape[0]
    h = lr * a
    power = np.ones(d)
    geometric = np.zeros(d)
    t = 0
    for k in range(steps.shape[0]):
        gap = steps[k] - t
        if gap > 1:
            _jump(h, gap, power, geometric)
        loss_out[k] = _loss(a, b, c, lr, u0, power, geometric, h, gap == 1)
        t = steps[k]
