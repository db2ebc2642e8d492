"""The closed-form loss curve of GD-like methods, evaluated record by record.

On an axis with ``h = lr·a`` and ``r = 1 − h`` the iterate after ``t`` steps is

    u_t = r^t u_0 − lr·b̃·G_t,        G_t = Σ_{k<t} r^k = (1 − r^t)/h   (= t when h = 0),

and ``J = c + Σ_j (½ a_j u_j² + b̃_j u_j)``. A record one step after the previous one
advances ``(r^t, G_t)`` by one multiply-add per axis, ``r^{t+1} = r·r^t``,
``G_{t+1} = 1 + r·G_t``; any other record, and every :data:`ANCHOR_EVERY`-th
consecutive one, computes the pair from ``t`` itself, ``r^t = exp(t·log1p(−h))`` and
``G_t = −expm1(t·log1p(−h))/h`` (``t`` when ``h = 0``; for ``h > 1``, where ``r < 0``,
from ``log|r| = log1p(h − 2)`` with the sign ``(−1)^t``). So a record costs O(d)
whatever ``t`` is, and rounding cannot compound over a long curve. Called with
``b̃ = 0``, ``c = J*`` and the offsets ``e_0 = u_0 − u*`` it sums ``J* + ½ Σ a e_t²``,
without cancellation (see :func:`quadsim.theory.offset_start`).
"""

import numpy as np

from quadsim.kernels._jit import jit_inline, jit_sum


@jit_inline
def _at_step(h, t, power, geometric):
    """Set ``(r^t, G_t)`` on every axis from ``t`` itself, in place.

    ``r^t`` and ``1 − r^t`` come from ``exp``/``expm1`` of ``t·log|r|`` (``log1p(−h)``
    for ``h < 1``; ``log1p(h − 2)`` for ``h > 1``, where ``r < 0`` and ``r^t`` takes the
    sign ``(−1)^t``), so neither loses digits as ``|r| → 1``; ``r = 0`` at ``h = 1``.
    """
    for j in range(h.shape[0]):
        if h[j] == 0.0:
            power[j], geometric[j] = 1.0, float(t)
        elif h[j] == 1.0:
            power[j], geometric[j] = 0.0, 1.0
        else:
            log_r = np.log1p(-h[j]) if h[j] < 1.0 else np.log1p(h[j] - 2.0)
            magnitude = np.exp(t * log_r)
            if h[j] > 1.0 and t % 2 == 1:
                power[j], geometric[j] = -magnitude, (1.0 + magnitude) / h[j]
            else:
                power[j], geometric[j] = magnitude, -np.expm1(t * log_r) / h[j]


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


#: Consecutive records advance ``(r^t, G_t)`` by one multiply-add from ``r = fl(1 − h)``,
#: whose rounding (up to eps/2) compounds linearly; after this many such steps the pair
#: is recomputed from ``t`` by :func:`_at_step`, so the drift stays below
#: ``ANCHOR_EVERY·eps/2 ≈ 1e-13`` relative, at no cost that the bench can see.
ANCHOR_EVERY = 1024


@jit_sum
def gd_loss_curve(a, b, c, lr, u0, steps, loss_out):
    """Write ``J(w_t)`` of GD in eigen-coordinates at the increasing ``steps``.

    A record one step after the previous one advances ``(r^t, G_t)`` in the pass that
    sums the loss; any other record, and every :data:`ANCHOR_EVERY`-th consecutive one,
    computes the pair from ``t`` afresh, so that neither jumps nor runs of single steps
    accumulate rounding.
    """
    d = a.shape[0]
    h = lr * a
    power = np.ones(d)
    geometric = np.zeros(d)
    t = 0
    advanced = 0
    for k in range(steps.shape[0]):
        gap = steps[k] - t
        advance = gap == 1 and advanced < ANCHOR_EVERY
        if advance:
            advanced += 1
        elif gap > 0:
            _at_step(h, steps[k], power, geometric)
            advanced = 0
        loss_out[k] = _loss(a, b, c, lr, u0, power, geometric, h, advance)
        t = steps[k]
