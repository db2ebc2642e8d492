"""Exact first and second moments of stochastic runs, per eigen-axis.

On an axis with curvature ``a``, linear term ``b̃`` and gradient-noise variance ``c``
(already divided by the batch size), a two-step method with constant ``lr`` is

    u_{t+1} = τ u_t − δ u_{t−1} + f + η_t,     f = −lr·b̃,  Var η_t = q = lr²·c,

with ``τ = 1 + β − h(1 + γ)``, ``δ = β − hγ``, ``h = lr·a`` and ``u_{−1} = u_0``. With
the Lucas sequence ``s_0 = 0, s_1 = 1, s_{k+1} = τ s_k − δ s_{k−1}``:

- the mean deviation from the fixed point is ``(s_{t+1} − δ s_t)(u_0 − u*)``;
- the variance is ``q·W_t`` with ``W_t = s_1² + … + s_t²``;
- a moving average ``ũ_{t+1} = ρ ũ_t + (1 − ρ) u_{t+1}`` of plain GD (``δ = 0``,
  ``τ = r = 1 − h``) is itself a two-root recurrence with roots ``r`` and ``ρ``:
  ``τ' = r + ρ``, ``δ' = rρ``, mean ``(s'_{t+1} − δ' s'_t)(u_0 − u*)`` and variance
  ``q (1 − ρ)² W'_t``.

Both are O(1) per axis and record (:mod:`quadsim.kernels.lucas`). Moving averages of
momentum methods and learning-rate schedules take :func:`propagate_moments`: the mean
and covariance of the state ``(u_t, u_{t−1}, ũ_t)`` advanced by doubling over each run
of constant ``lr``. :func:`greedy_rates` iterates the second moments under the greedy
schedule. :func:`online_moments` iterates them step by step where the noise variance
depends on the state (online SGD on Gaussian data).
"""

import numpy as np

from quadsim.kernels._jit import jit, jit_inline, jit_sum
from quadsim.kernels.lucas import ANCHOR_EVERY, lucas, lucas_square_sum


@jit_inline
def _centre_variance(a, b, u0, noise, lr, det, gain, j, s_t, s_next, partial, squares):
    """Centre and variance of axis ``j`` from ``s_t``, ``s_{t+1}``, ``P_t`` and ``W_t``."""
    response = s_next - det * s_t
    if a[j] != 0.0:
        centre = response * (u0[j] + b[j] / a[j])
    else:
        centre = response * u0[j] - gain * lr * b[j] * partial
    return centre, (gain * lr) ** 2 * noise[j] * squares


@jit_inline
def axis_statistics(a, b, u0, noise, lr, comp, gain, j, t):
    """Mean and variance of one axis after ``t`` steps of a constant-lr method.

    ``comp`` holds the companions of all axes as rows ``(τ, δ, q, gap, 1 − δ, far_side)``
    (shape (6, d)), ``u0`` the start, and ``gain`` the weight with which the forcing
    ``−lr·b̃`` and the noise enter the recorded quantity (1 for the iterate, ``1 − ρ``
    for its moving average). Returns ``(centre, variance)``: on an axis with ``a ≠ 0``
    the centre is the mean's deviation from ``u* = −b̃/a`` (so that the excess loss has
    no cancellation), on a null axis the mean itself. O(1) whatever ``t``.
    """
    trace, det, quarter = comp[0, j], comp[1, j], comp[2, j]
    gap, one_minus_det, far_side = comp[3, j], comp[4, j], comp[5, j]
    s_t, s_next, partial = lucas(trace, det, quarter, gap, one_minus_det, far_side, t)
    squares = 0.0
    if noise[j] != 0.0:
        squares = lucas_square_sum(trace, det, quarter, gap, one_minus_det, far_side, t, s_t,
                                   s_next)
    return _centre_variance(a, b, u0, noise, lr, det, gain, j, s_t, s_next, partial, squares)


@jit_inline
def _axis_constants(a, b, u0, noise, lr, gain, start, forcing, scale):
    """Per axis, what :func:`_centre_variance` computes from each record's state.

    ``centre = (s_{t+1} − δ s_t)·start − forcing·P_t`` and ``variance = scale·W_t``:
    ``start = u_0 + b̃/a``, ``forcing = 0`` on an axis with ``a ≠ 0``; ``start = u_0``,
    ``forcing = gain·lr·b̃`` on a null axis; ``scale = (gain·lr)²·noise``.
    """
    for j in range(a.shape[0]):
        if a[j] != 0.0:
            start[j] = u0[j] + b[j] / a[j]
            forcing[j] = 0.0
        else:
            start[j] = u0[j]
            forcing[j] = gain * lr * b[j]
        scale[j] = (gain * lr) ** 2 * noise[j]


@jit_inline
def _record_axes(comp, start, forcing, scale, exact, t, state, centre_out, variance_out):
    """One record of every axis, from ``state = (s_t, s_{t+1}, P_t, W_t)`` per axis.

    An ``exact`` record computes the state from ``t`` (:func:`axis_statistics`'s forms);
    any other is one step after the last, and the state advances by the recurrence:
    ``s_{t+2} = τ s_{t+1} − δ s_t``, ``P_{t+1} = P_t + s_{t+1}``, ``W_{t+1} = W_t + s_{t+1}²``.
    Each pass over the axes is a branch-free loop, so that LLVM vectorises it.
    """
    trace, det = comp[0], comp[1]
    s_t, s_next, partial, squares = state[0], state[1], state[2], state[3]
    d = start.shape[0]
    if exact:
        for j in range(d):
            s_t[j], s_next[j], partial[j] = lucas(comp[0, j], comp[1, j], comp[2, j],
                                                  comp[3, j], comp[4, j], comp[5, j], t)
            squares[j] = 0.0
            if scale[j] != 0.0:
                squares[j] = lucas_square_sum(comp[0, j], comp[1, j], comp[2, j], comp[3, j],
                                              comp[4, j], comp[5, j], t, s_t[j], s_next[j])
    else:
        for j in range(d):
            following = trace[j] * s_next[j] - det[j] * s_t[j]
            partial[j] += s_next[j]
            squares[j] += s_next[j] * s_next[j]
            s_t[j] = s_next[j]
            s_next[j] = following
    for j in range(d):
        centre_out[j] = (s_next[j] - det[j] * s_t[j]) * start[j] - forcing[j] * partial[j]
        # A noise-free axis has no variance, even where its W_t has overflowed.
        variance_out[j] = scale[j] * squares[j] if scale[j] != 0.0 else 0.0


@jit
def gaussian_moments(a, b, u0, noise, lr, comp, average_weight, average_comp, steps,
                     centre_out, variance_out, average_centre_out, average_variance_out):
    """Fill per-axis centres and variances (:func:`axis_statistics`) at every step.

    The moving average's too when ``average_comp`` has columns (its companion has the
    roots ``r = 1 − h`` and ``ρ``, and gain ``1 − ρ``). Records one step apart advance
    by the recurrences (a few multiply-adds per axis), the others, and every
    :data:`~quadsim.kernels.lucas.ANCHOR_EVERY`-th, from their closed forms.
    """
    d = a.shape[0]
    averaged = average_comp.shape[1] > 0
    constants = np.empty((3, d))
    average_constants = np.empty((3, d))
    _axis_constants(a, b, u0, noise, lr, 1.0, constants[0], constants[1], constants[2])
    _axis_constants(a, b, u0, noise, lr, 1.0 - average_weight, average_constants[0],
                    average_constants[1], average_constants[2])
    state = np.zeros((4, d))
    average_state = np.zeros((4, d))
    for k in range(steps.shape[0]):
        exact = k == 0 or steps[k] - steps[k - 1] != 1 or k % ANCHOR_EVERY == 0
        t = np.float64(steps[k])
        _record_axes(comp, constants[0], constants[1], constants[2], exact, t, state,
                     centre_out[k], variance_out[k])
        if averaged:
            _record_axes(average_comp, average_constants[0], average_constants[1],
                         average_constants[2], exact, t, average_state,
                         average_centre_out[k], average_variance_out[k])


@jit_sum
def loss_statistics(a, b, u_star, floor, centre, variance, mean_out, loss_out, loss_var_out):
    """Means, ``E[J]`` and (for independent Gaussian axes) ``Var J`` at every record.

    ``mean = u* + centre`` (a null axis: ``centre``);
    ``E[J] = floor + Σ_{a≠0} ½ a (centre² + var) + Σ_{a=0} b̃·centre`` and
    ``Var J = Σ_j var_j (a_j mean_j + b̃_j)² + ½ a_j² var_j²``, where
    ``a_j mean_j + b̃_j = a_j·centre_j`` on an axis with ``a ≠ 0``.
    """
    for k in range(centre.shape[0]):
        total = 0.0
        spread = 0.0
        for j in range(a.shape[0]):
            c, v = centre[k, j], variance[k, j]
            if a[j] != 0.0:
                mean_out[k, j] = u_star[j] + c
                total += 0.5 * a[j] * (c * c + v)
                slope = a[j] * c
            else:
                mean_out[k, j] = c
                total += b[j] * c
                slope = b[j]
            spread += v * slope * slope + 0.5 * (a[j] * v) ** 2
        loss_out[k] = floor + total
        loss_var_out[k] = spread


@jit_inline
def _mul3(A, B, out):
    """``out = A @ B`` for 3×3 arrays (``out`` distinct from both)."""
    for i in range(3):
        for k in range(3):
            total = 0.0
            for j in range(3):
                total += A[i, j] * B[j, k]
            out[i, k] = total


@jit_inline
def _sandwich3(A, S, scratch, out):
    """``out = A S Aᵀ`` for 3×3 arrays."""
    _mul3(A, S, scratch)
    for i in range(3):
        for k in range(3):
            total = 0.0
            for j in range(3):
                total += scratch[i, j] * A[k, j]
            out[i, k] = total


@jit_inline
def _affine3(M, v, base, out):
    """``out = base + M v`` for a 3×3 ``M`` (``out`` distinct from the inputs)."""
    for i in range(3):
        total = base[i]
        for k in range(3):
            total += M[i, k] * v[k]
        out[i] = total


@jit_inline
def _copy3(source, out):
    """``out[:] = source`` for 3-vectors, as a loop.

    A slice assignment would compile Numba's shape-mismatch error path at each site.
    """
    for i in range(3):
        out[i] = source[i]


@jit_inline
def _copy33(source, out):
    """``out[:, :] = source`` for 3×3 arrays, as a loop (see :func:`_copy3`)."""
    for i in range(3):
        for k in range(3):
            out[i, k] = source[i, k]


@jit_inline
def _add3(source, out):
    """``out += source`` for 3×3 arrays, as a loop (see :func:`_copy3`)."""
    for i in range(3):
        for k in range(3):
            out[i, k] += source[i, k]


@jit
def _jump(T, F, noise_vector, n, mean, cov, work):
    """Advance ``(mean, cov)`` by ``n`` steps of ``x ← T x + F + η·v``, ``Var η = 1``.

    Doubling: ``T^n``, ``Σ_{k<n} T^k F`` and ``Σ_{k<n} T^k v vᵀ T^kᵀ`` in O(log n) 3×3
    products. ``work`` is a (10, 3, 3) scratch array.
    """
    P, Ls, A, Lacc, tmp, tmp2 = work[0], work[1], work[2], work[3], work[4], work[5]
    Fs, Facc = work[6, 0], work[6, 1]
    if n == 1:
        _affine3(T, mean, F, work[6, 2])
        _copy3(work[6, 2], mean)
        _sandwich3(T, cov, tmp, tmp2)
        for i in range(3):
            for k in range(3):
                cov[i, k] = tmp2[i, k] + noise_vector[i] * noise_vector[k]
        return
    _copy33(T, P)
    for i in range(3):
        Fs[i] = F[i]
        Facc[i] = 0.0
        for k in range(3):
            Ls[i, k] = noise_vector[i] * noise_vector[k]
            A[i, k] = 1.0 if i == k else 0.0
            Lacc[i, k] = 0.0
    remaining = n
    while remaining > 0:
        if remaining & 1:
            _affine3(A, Fs, Facc, work[6, 2])
            _copy3(work[6, 2], Facc)
            _sandwich3(A, Ls, tmp, tmp2)
            _add3(tmp2, Lacc)
            _mul3(A, P, tmp)
            _copy33(tmp, A)
        remaining >>= 1
        if remaining > 0:
            _affine3(P, Fs, Fs, work[6, 2])
            _copy3(work[6, 2], Fs)
            _sandwich3(P, Ls, tmp, tmp2)
            _add3(tmp2, Ls)
            _mul3(P, P, tmp)
            _copy33(tmp, P)
    _affine3(A, mean, Facc, work[6, 2])
    _copy3(work[6, 2], mean)
    _sandwich3(A, cov, tmp, tmp2)
    _add3(Lacc, tmp2)
    _copy33(tmp2, cov)


@jit
def propagate_moments(a, b, u0, noise, starts, rates, beta, gamma, average_weight, momentum,
                      steps, centre_out, variance_out, average_centre_out,
                      average_variance_out):
    """Per-axis mean and variance of ``(u_t, ũ_t)`` under a piecewise-constant lr.

    The learning rate is ``rates[i]`` on steps ``starts[i] <= t < starts[i + 1]``. The
    state ``x = (u_t, u_{t−1}, ũ_t)`` follows, with ``h = lr·a``, ``τ = 1 + β − h(1 + γ)``,
    ``δ = β − hγ`` and ``ρ`` = ``average_weight``,

        u_{t+1} = τ u_t − δ u_{t−1} + f + η,   ũ_{t+1} = ρ ũ_t + (1 − ρ) u_{t+1},

    ``f = −lr·b̃`` and ``Var η = lr²·noise``. Each run of constant lr is one
    :func:`_jump` in the coordinates ``(u_t − m u_{t−1}, u_{t−1}, ũ_t)`` with
    ``m = τ/2`` (``m = 0`` without momentum), where the transition of a method with
    real roots has no negative entries. On an axis with ``a ≠ 0`` the state is the
    deviation from ``u* = −b̃/a`` (no forcing), as in :func:`axis_statistics`.
    """
    work = np.zeros((10, 3, 3))
    T = np.empty((3, 3))
    to_p = np.eye(3)
    F = np.zeros(3)
    v = np.zeros(3)
    mean = np.zeros(3)
    cov = np.zeros((3, 3))
    rho = average_weight
    for j in range(a.shape[0]):
        start = u0[j] + b[j] / a[j] if a[j] != 0.0 else u0[j]
        mean[0], mean[1], mean[2] = start, start, start
        for i in range(3):
            for k in range(3):
                cov[i, k] = 0.0
        t = 0
        run = 0
        for k in range(steps.shape[0]):
            while t < steps[k]:
                while starts[run + 1] <= t:
                    run += 1
                stop = min(steps[k], starts[run + 1])
                lr = rates[run]
                h = lr * a[j]
                trace = 1.0 + beta - h * (1.0 + gamma)
                det = beta - h * gamma
                m = 0.5 * trace if momentum and stop - t > 1 else 0.0
                # T in p-coordinates (p = u − m u_prev, u_prev, ũ); a single step needs no
                # change of coordinates (m = 0).
                T[0, 0], T[0, 1], T[0, 2] = trace - m, (trace - m) * m - det, 0.0
                T[1, 0], T[1, 1], T[1, 2] = 1.0, m, 0.0
                T[2, 0] = (1.0 - rho) * trace
                T[2, 1], T[2, 2] = (1.0 - rho) * (trace * m - det), rho
                force = -lr * b[j] if a[j] == 0.0 else 0.0
                F[0], F[1], F[2] = force, 0.0, (1.0 - rho) * force
                scale = lr * np.sqrt(noise[j])
                v[0], v[1], v[2] = scale, 0.0, (1.0 - rho) * scale
                if m == 0.0:
                    _jump(T, F, v, np.int64(stop - t), mean, cov, work)
                else:  # into p-coordinates, jump, and back
                    to_p[0, 1] = -m
                    mean[0] = mean[0] - m * mean[1]
                    _sandwich3(to_p, cov, work[7], work[8])
                    _copy33(work[8], cov)
                    _jump(T, F, v, np.int64(stop - t), mean, cov, work)
                    to_p[0, 1] = m
                    mean[0] = mean[0] + m * mean[1]
                    _sandwich3(to_p, cov, work[7], work[8])
                    _copy33(work[8], cov)
                t = stop
            centre_out[k, j] = mean[0]
            variance_out[k, j] = cov[0, 0]
            average_centre_out[k, j] = mean[2]
            average_variance_out[k, j] = cov[2, 2]


@jit
def online_moments(a, e0, label_variance, batch_size, lrs, beta, gamma, average_weight, steps,
                   centre_out, variance_out, average_centre_out, average_variance_out):
    """Per-axis mean and variance of ``(u_t, ũ_t)`` for online SGD on Gaussian examples.

    The features have independent coordinates of variances ``a_j`` in this frame, so the
    gradient noise on axis ``j`` has variance

        ``c_j = (a_j² E[y_j²] + a_j (Σ_k a_k E[y_k²] + σ²)) / B``

    at the gradient point ``y = (1 + γ) e_t − γ e_{t−1}`` (deviations from the teacher,
    starting at ``e0``; second moments about 0): every axis is coupled to the others
    through one sum. Each step advances the mean and covariance of
    ``x = (e_t, e_{t−1}, ẽ_t)`` on every axis by ``x ← T x + η v`` (the transition of
    :func:`propagate_moments`, ``Var η = lr_t² c_j``, ``v = (1, 0, 1 − ρ)``): O(d) a step,
    O(T·d) in all. ``lrs`` holds every step's lr or one constant. The centres written
    out are the mean deviations, on every axis (``a = 0`` axes never move).
    """
    d = a.shape[0]
    rho = average_weight
    constant = lrs.shape[0] == 1
    mean = np.empty((d, 3))
    cov = np.zeros((d, 3, 3))
    second_y = np.empty(d)
    T = np.zeros((3, 3))
    T[1, 0] = 1.0
    T[2, 2] = rho
    no_force = np.zeros(3)
    v = np.zeros(3)
    scratch = np.empty((3, 3))
    new_cov = np.empty((3, 3))
    new_mean = np.empty(3)
    for j in range(d):
        mean[j, 0], mean[j, 1], mean[j, 2] = e0[j], e0[j], e0[j]
    t = 0
    for k in range(steps.shape[0]):
        while t < steps[k]:
            lr = lrs[0] if constant else lrs[t]
            coupling = label_variance
            for j in range(d):
                m0, m1 = mean[j, 0], mean[j, 1]
                second_y[j] = ((1.0 + gamma) ** 2 * (cov[j, 0, 0] + m0 * m0)
                               - 2.0 * gamma * (1.0 + gamma) * (cov[j, 0, 1] + m0 * m1)
                               + gamma**2 * (cov[j, 1, 1] + m1 * m1))
                coupling += a[j] * second_y[j]
            for j in range(d):
                h = lr * a[j]
                trace = 1.0 + beta - h * (1.0 + gamma)
                det = beta - h * gamma
                T[0, 0], T[0, 1] = trace, -det
                T[2, 0], T[2, 1] = (1.0 - rho) * trace, -(1.0 - rho) * det
                # max(·, 0): E[y_j²] is a PSD form of the moments, negative only by rounding.
                scale = lr * np.sqrt(max(a[j] * a[j] * second_y[j] + a[j] * coupling, 0.0)
                                     / batch_size)
                v[0], v[2] = scale, (1.0 - rho) * scale
                _affine3(T, mean[j], no_force, new_mean)
                _copy3(new_mean, mean[j])
                _sandwich3(T, cov[j], scratch, new_cov)
                for p in range(3):
                    for q in range(3):
                        cov[j, p, q] = new_cov[p, q] + v[p] * v[q]
            t += 1
        for j in range(d):
            centre_out[k, j] = mean[j, 0]
            variance_out[k, j] = cov[j, 0, 0]
            average_centre_out[k, j] = mean[j, 2]
            average_variance_out[k, j] = cov[j, 2, 2]


@jit
def greedy_rates(a, e0, noise, beta, gamma, horizon, rates_out, excess_out):
    """The greedy schedule: each step's lr minimises the next expected excess loss.

    Per axis the second moments ``P = E[e_t²]``, ``Q = E[e_t e_{t−1}]``, ``R = E[e_{t−1}²]``
    of the deviation from the minimizer are exact under additive noise of variance ``c``;
    with ``X = (1 + β) e_t − β e_{t−1}`` and ``Y = a((1 + γ) e_t − γ e_{t−1})`` the next
    iterate is ``X − lr (Y + ξ)``, so ``E[e_{t+1}²] = E[X²] − 2 lr E[XY] + lr² (E[Y²] + c)``
    and the minimiser of ``Σ_j ½ a_j E[e_{t+1,j}²]`` is
    ``lr_t = Σ a E[XY] / Σ a (E[Y²] + c)``. Fills ``rates_out[t]`` (t < horizon) and
    ``excess_out[t] = Σ ½ a P_t`` (t <= horizon). O(horizon·d).
    """
    d = a.shape[0]
    P = e0 * e0
    Q = P.copy()
    R = P.copy()
    XX = np.empty(d)
    XY = np.empty(d)
    YY = np.empty(d)
    for t in range(horizon + 1):
        excess_out[t] = 0.5 * np.sum(a * P)
        if t == horizon:
            break
        top = 0.0
        bottom = 0.0
        for j in range(d):
            XX[j] = (1.0 + beta) ** 2 * P[j] - 2.0 * beta * (1.0 + beta) * Q[j] + beta**2 * R[j]
            XY[j] = a[j] * ((1.0 + beta) * (1.0 + gamma) * P[j]
                            - ((1.0 + beta) * gamma + beta * (1.0 + gamma)) * Q[j]
                            + beta * gamma * R[j])
            YY[j] = a[j] ** 2 * ((1.0 + gamma) ** 2 * P[j] - 2.0 * gamma * (1.0 + gamma) * Q[j]
                                 + gamma**2 * R[j])
            top += a[j] * XY[j]
            bottom += a[j] * (YY[j] + noise[j])
        lr = top / bottom
        rates_out[t] = lr
        for j in range(d):
            h = lr * a[j]
            next_P = XX[j] - 2.0 * lr * XY[j] + lr * lr * (YY[j] + noise[j])
            Q[j] = (1.0 + beta) * P[j] - beta * Q[j] - h * ((1.0 + gamma) * P[j] - gamma * Q[j])
            R[j] = P[j]
            P[j] = next_P
