"""Exact first and second moments of stochastic runs, per eigen-axis.

On an axis with curvature ``a``, linear term ``b̃`` and gradient-noise variance ``c``
(already divided by the batch size), a two-step method with constant ``lr`` is

    u_{t+1} = τ u_t − δ u_{t−1} + f + η_t,     f = −lr·b̃,  Var η_t = q = lr²·c,

with ``τ = 1 + β − h(1 + γ)``, ``δ = β − hγ``, ``h = lr·a`` and ``u_{−1} = u_0``. With
the Lucas sequence ``s_0 = 0, s_1 = 1, s_{k+1} = τ s_k − δ s_{k−1}`` (:func:`lucas`):

- the mean deviation from the fixed point is ``(s_{t+1} − δ s_t)(u_0 − u*)``;
- the variance is ``q·W_t`` with ``W_t = s_1² + … + s_t²`` (:func:`lucas_square_sum`);
- a moving average ``ũ_{t+1} = ρ ũ_t + (1 − ρ) u_{t+1}`` of plain GD (``δ = 0``,
  ``τ = r = 1 − h``) is itself a two-root recurrence with roots ``r`` and ``ρ``:
  ``τ' = r + ρ``, ``δ' = rρ``, mean ``(s'_{t+1} − δ' s'_t)(u_0 − u*)`` and variance
  ``q (1 − ρ)² W'_t``.

``W_t`` is evaluated in O(1) by whichever of two exact identities is well conditioned
on the axis — the stationary form, from ``s_t``, ``s_{t+1}`` and ``Σ_{k<t} δ^k``, or the
modal form, from geometric sums of ``λ±²`` and ``δ`` — and, where neither is (near a
double root before the axis has mixed), by doubling on a non-negative 2×2 map in
O(log t) (:func:`_square_sum_by_doubling`). Moving averages of momentum methods and
learning-rate schedules take :func:`propagate_axis`: the mean and covariance of the
state ``(u_t, u_{t−1}, ũ_t)`` advanced by doubling over each run of constant ``lr``.
"""

import numpy as np

from quadsim.kernels._jit import jit, jit_inline

#: The stationary or modal form of ``W_t`` is used when its error factor (the sum of the
#: magnitudes of its terms over the magnitude of their sum, plus for the modal form the
#: amplification of the roots' rounding) is at most this: ~2e-13 relative. Beyond it the
#: O(log t) doubling (error ~ log2(t)·eps) takes over.
CANCELLATION_LIMIT = 1024.0


@jit_inline
def companion(h, beta, gamma, low, high):
    """``(τ, δ, τ²/4 − δ, gap, 1 − δ, far_side)`` of the two-step method at ``h = lr·a``.

    ``τ = 1 + β − h(1 + γ)``, ``δ = β − hγ``; ``τ²/4 − δ = ¼(1 + γ)²(h − low)(h − high)``
    from the method's double roots ``low``, ``high`` (exact where they coincide),
    ``gap = 1 − τ + δ = h``, ``1 − δ = (1 − β) + hγ`` and
    ``far_side = 1 + τ + δ = 2(1 + β) − h(1 + 2γ)``.
    """
    return (1.0 + beta - h * (1.0 + gamma), beta - h * gamma,
            0.25 * (1.0 + gamma) ** 2 * (h - low) * (h - high), h,
            (1.0 - beta) + h * gamma, 2.0 * (1.0 + beta) - h * (1.0 + 2.0 * gamma))


@jit
def companions(h, beta, gamma, low, high):
    """:func:`companion` for every entry of the vector ``h``, stacked: shape (6, d)."""
    out = np.empty((6, h.shape[0]))
    for j in range(h.shape[0]):
        (out[0, j], out[1, j], out[2, j], out[3, j], out[4, j],
         out[5, j]) = companion(h[j], beta, gamma, low, high)
    return out


@jit_inline
def average_companion(h, rho):
    """The companion of GD's moving average at ``h = lr·a``: the roots ``1 − h`` and ``ρ``.

    ``ũ`` obeys ``ũ_{t+1} = (r + ρ) ũ_t − rρ ũ_{t−1} + (1 − ρ) f`` from ``ũ_{−1} = ũ_0``
    (``r = 1 − h``): ``τ' = r + ρ``, ``δ' = rρ``, ``τ'²/4 − δ' = ((1 − ρ) − h)²/4``,
    ``gap' = h(1 − ρ)``, ``1 − δ' = (1 − ρ) + ρh``, ``far_side' = (2 − h)(1 + ρ)``.
    """
    r = 1.0 - h
    return (r + rho, rho * r, 0.25 * ((1.0 - rho) - h) ** 2, h * (1.0 - rho),
            (1.0 - rho) + rho * h, (2.0 - h) * (1.0 + rho))


@jit
def average_companions(h, rho):
    """:func:`average_companion` for every entry of the vector ``h``: shape (6, d)."""
    out = np.empty((6, h.shape[0]))
    for j in range(h.shape[0]):
        (out[0, j], out[1, j], out[2, j], out[3, j], out[4, j],
         out[5, j]) = average_companion(h[j], rho)
    return out


@jit
def lucas(trace, det, quarter, gap, one_minus_det, far_side, n):
    """``(s_n, s_{n+1}, P_n)`` for the companion ``[[τ, −δ], [1, 0]]``; ``P_n = s_1+…+s_n``.

    ``quarter = τ²/4 − δ``, ``gap = 1 − τ + δ``, ``one_minus_det = 1 − δ`` and
    ``far_side = 1 + τ + δ`` are passed in, computed without cancellation by the caller
    from the method's parameters: a root near ``+1`` is then located by ``gap``, one
    near ``−1`` by ``far_side`` and a complex pair near the unit circle by
    ``1 − δ``, not by the rounded ``τ``. The scalar twin of
    :func:`quadsim.theory.companion_sequences` (see its notes for the forms).
    """
    half = 0.5 * trace
    if quarter < 0.0:
        omega = np.sqrt(-quarter)
        log_rho = 0.5 * np.log1p(-one_minus_det)
        theta = np.arctan2(omega, half)
        s_n = np.exp(n * log_rho) * np.sin(n * theta) / omega
        s_next = np.exp((n + 1.0) * log_rho) * np.sin((n + 1.0) * theta) / omega
        return s_n, s_next, (1.0 - s_next + det * s_n) / gap
    big, small, distance, log_big = _real_roots(trace, det, quarter, gap, far_side)
    spread = np.sqrt(quarter)
    s_n = _lucas_real(big, small, det, spread, log_big, n)
    s_next = _lucas_real(big, small, det, spread, log_big, n + 1.0)
    if big > 0.0:
        geometric = n + 1.0 if distance == 0.0 else -np.expm1((n + 1.0) * log_big) / distance
    else:
        geometric = (1.0 - _signed_power(big, log_big, n + 1.0)) / (1.0 - big)
    return s_n, s_next, (geometric - s_next) / (1.0 - small)


@jit_inline
def _real_roots(trace, det, quarter, gap, far_side):
    """Real roots ``(λ+, λ−)`` (``|λ+| >= |λ−|``) with ``1 − |λ+|`` and ``log|λ+|``.

    ``1 − λ+ = gap/(1 − λ−)`` when ``λ+ > 0`` and ``1 + λ+ = far_side/(1 + λ−)`` when
    ``λ+ < 0``: accurate as the root nears ``±1``, where ``τ`` alone has lost the digits.
    """
    half = 0.5 * trace
    big = half + np.copysign(np.sqrt(quarter), half)
    small = 0.0 if big == 0.0 else det / big
    if half > 0.0 and small != 1.0:
        distance = gap / (1.0 - small)
    elif half < 0.0 and small != -1.0:
        distance = far_side / (1.0 + small)
    else:
        distance = 1.0 - np.abs(big)
    return big, small, distance, np.log1p(-distance)


@jit_inline
def _log_abs(x, one_minus_x):
    """``log|x|``, from ``1 − x`` when ``x > 0`` (accurate as ``x → 1``)."""
    return np.log1p(-one_minus_x) if x > 0.0 else np.log(-x)


@jit_inline
def _signed_power(x, log_abs_x, k):
    power = np.exp(k * log_abs_x)
    if x < 0.0 and np.mod(k, 2.0) == 1.0:
        return -power
    return power


@jit_inline
def _lucas_real(big, small, det, spread, log_big, k):
    """``s_k`` for real roots ``big`` (largest modulus) and ``small``."""
    if det > 0.0:
        phi = np.arcsinh(spread / np.sqrt(det))
        ratio = k if phi == 0.0 else -np.expm1(-2.0 * k * phi) / (2.0 * np.sinh(phi))
        return _signed_power(big, log_big, k) * np.sign(big) * np.exp(phi - log_big) * ratio
    if big == 0.0:
        return 1.0 if k == 1.0 else 0.0
    return (_signed_power(big, log_big, k) - small**k) / (big - small)


@jit_inline
def geometric_sum(x, one_minus_x, log_abs_x, t):
    """``Σ_{k<t} x^k`` for real ``x``, given ``1 − x`` and ``log|x|`` accurately."""
    if one_minus_x == 0.0:
        return t
    if x == 0.0:
        return 1.0 if t > 0.0 else 0.0
    if x > 0.0:
        return -np.expm1(t * log_abs_x) / one_minus_x
    return (1.0 - _signed_power(x, log_abs_x, t)) / one_minus_x


@jit
def _square_sum_by_doubling(half_trace, log_half_trace, quarter, t):
    """``W_t = Σ_{k=1}^{t} s_k²`` by doubling on a map with non-negative entries.

    In coordinates ``p_k = v_k − m v_{k−1}`` with ``m = |τ|/2`` (the sign of ``τ`` only
    flips signs of ``s_k``), the impulse response ``v`` of the companion is the state
    ``(p_k, v_{k−1})`` of ``z_{k+1} = m B z_k``, ``B = I + N``, ``N = [[0, q/m], [1/m, 0]]``,
    from ``z_1 = (1, 0)``, with ``q = τ²/4 − δ``. Then
    ``W_t = [1, m] Σ_t [1, m]ᵀ`` with ``Σ_t = Σ_{k<t} m^{2k} B^k e₁e₁ᵀ B^kᵀ``.

    The doubling keeps ``B^k − I`` rather than ``B^k`` (``E_{2k} = 2E_k + E_k²``), so the
    small part of an entry near 1 is not rounded away at each squaring, and the scale
    ``m^{2k} = exp(2k·log m)`` apart, with ``log m`` from ``1 − m`` computed by the
    caller. For real roots every entry of ``N`` is ``>= 0``, so no product or sum can
    cancel; for complex roots near a double root ``q`` is small. O(log t).
    """
    m = np.abs(half_trace)
    n12, n21 = quarter / m, 1.0 / m
    # A = I + (a..) is B^done, R the sum so far; P = I + (p..) is B^block, S its sum.
    a11, a12, a21, a22 = 0.0, 0.0, 0.0, 0.0
    r11, r12, r22 = 0.0, 0.0, 0.0
    p11, p12, p21, p22 = 0.0, n12, n21, 0.0
    s11, s12, s22 = 1.0, 0.0, 0.0
    done = 0.0
    block = 1.0
    remaining = np.int64(t)
    while remaining > 0:
        if remaining & 1:
            # R += m^{2·done} A S Aᵀ, then A ← A P.
            scale = np.exp(2.0 * done * log_half_trace)
            b11, b22 = 1.0 + a11, 1.0 + a22
            x11 = b11 * s11 + a12 * s12
            x12 = b11 * s12 + a12 * s22
            x21 = a21 * s11 + b22 * s12
            x22 = a21 * s12 + b22 * s22
            r11 += scale * (x11 * b11 + x12 * a12)
            r12 += scale * (x11 * a21 + x12 * b22)
            r22 += scale * (x21 * a21 + x22 * b22)
            a11, a12, a21, a22 = (a11 + p11 + a11 * p11 + a12 * p21,
                                  a12 + p12 + a11 * p12 + a12 * p22,
                                  a21 + p21 + a21 * p11 + a22 * p21,
                                  a22 + p22 + a21 * p12 + a22 * p22)
            done += block
        remaining >>= 1
        if remaining > 0:
            # S ← S + m^{2·block} P S Pᵀ, then P ← P².
            scale = np.exp(2.0 * block * log_half_trace)
            b11, b22 = 1.0 + p11, 1.0 + p22
            x11 = b11 * s11 + p12 * s12
            x12 = b11 * s12 + p12 * s22
            x21 = p21 * s11 + b22 * s12
            x22 = p21 * s12 + b22 * s22
            s11, s12, s22 = (s11 + scale * (x11 * b11 + x12 * p12),
                             s12 + scale * (x11 * p21 + x12 * b22),
                             s22 + scale * (x21 * p21 + x22 * b22))
            p11, p12, p21, p22 = (2.0 * p11 + p11 * p11 + p12 * p21,
                                  2.0 * p12 + p11 * p12 + p12 * p22,
                                  2.0 * p21 + p21 * p11 + p22 * p21,
                                  2.0 * p22 + p21 * p12 + p22 * p22)
            block *= 2.0
    return r11 + 2.0 * m * r12 + m * m * r22


@jit
def lucas_square_sum(trace, det, quarter, gap, one_minus_det, far_side, t, s_t, s_next):
    """``W_t = Σ_{k=1}^{t} s_k²`` of the companion ``[[τ, −δ], [1, 0]]``.

    Parameters
    ----------
    trace, det, quarter, gap
        ``τ``, ``δ``, ``τ²/4 − δ`` and ``1 − τ + δ``, as for :func:`lucas`.
    one_minus_det, far_side
        ``1 − δ`` and ``1 + τ + δ``, computed without cancellation from the method's
        parameters (the distances to the two ends of the stability interval).
    t
        The horizon (a non-negative integer as a float).
    s_t, s_next
        ``s_t`` and ``s_{t+1}`` from :func:`lucas` (the caller has them already).

    Notes
    -----
    ``δ = 0`` (plain GD, ``s_k = τ^{k−1}``): ``W_t = Σ_{k<t} τ^{2k}``. Otherwise, from the
    symmetric square of the companion matrix,

        stationary: ``W_t = [(1 + δ) Σ_{k<t} δ^k − s_t (τ s_{t+1} − δ(1 + δ) s_t)]
                    / [(1 − τ + δ)(1 + τ + δ)]``,
        modal:      ``W_t = [g(λ+²) − 2 g(δ) + g(λ−²)] / (λ+ − λ−)²``,
                    ``g(x) = Σ_{k=1}^{t} x^k``,

    and the one whose terms cancel least is taken (complex ``g`` for complex roots); if
    both cancel by more than :data:`CANCELLATION_LIMIT`,
    :func:`_square_sum_by_doubling`.
    """
    if t == 0.0:
        return 0.0
    if det == 0.0:
        # s_k = τ^{k−1}: W_t = Σ_{k<t} τ^{2k}, 1 − τ² = gap·far_side.
        if trace == 0.0:
            return 1.0
        log_abs = np.log1p(-(gap if trace > 0.0 else far_side))
        return geometric_sum(trace * trace, gap * far_side, 2.0 * log_abs, t)
    best, best_cancel = 0.0, np.inf
    if gap != 0.0 and far_side != 0.0:
        powers = geometric_sum(det, one_minus_det, _log_abs(det, one_minus_det), t)
        first = (1.0 + det) * powers
        second = s_t * (trace * s_next - det * (1.0 + det) * s_t)
        numerator = first - second
        magnitude = np.abs(first) + np.abs(s_t) * (np.abs(trace * s_next)
                                                   + np.abs(det * (1.0 + det) * s_t))
        if numerator != 0.0:
            best = numerator / (gap * far_side)
            best_cancel = magnitude / np.abs(numerator)
    if best_cancel > 2.0 and quarter != 0.0:
        modal, cancel = _modal_square_sum(trace, det, quarter, gap, one_minus_det, far_side,
                                          t)
        if cancel < best_cancel:
            best, best_cancel = modal, cancel
    if best_cancel <= CANCELLATION_LIMIT:
        return best
    # log(|τ|/2) from 1 − |τ|/2 = (1 − δ + gap)/2 (τ > 0) or (1 − δ + far_side)/2.
    distance = 0.5 * (one_minus_det + (gap if trace > 0.0 else far_side))
    doubled = _square_sum_by_doubling(0.5 * trace, np.log1p(-distance), quarter, t)
    return doubled if np.isfinite(doubled) else best


@jit
def _modal_square_sum(trace, det, quarter, gap, one_minus_det, far_side, t):
    """The modal form of ``W_t`` and its error factor.

    The factor is the cancellation of the numerator plus ``|λ|/|λ+ − λ−|``: the roots
    come from ``τ``, the denominator ``(λ+ − λ−)² = 4q`` from the exact ``q``.
    """
    log_abs_det = _log_abs(det, one_minus_det)
    g_det = det * geometric_sum(det, one_minus_det, log_abs_det, t)
    half = 0.5 * trace
    if quarter > 0.0:
        big, small, distance, log_big = _real_roots(trace, det, quarter, gap, far_side)
        # 1 − λ+² = (1 − |λ+|)(1 + |λ+|).
        big_square = big * big
        g_big = big_square * geometric_sum(big_square, distance * (2.0 - distance),
                                           2.0 * log_big, t)
        small_square = small * small
        g_small = small_square * geometric_sum(small_square, 1.0 - small_square,
                                               2.0 * np.log(np.abs(small)), t)
        numerator = g_big - 2.0 * g_det + g_small
        magnitude = np.abs(g_big) + 2.0 * np.abs(g_det) + np.abs(g_small)
        spread = np.abs(big) / (2.0 * np.sqrt(quarter))
    else:
        # λ+² = δ e^{2iθ}: 2 Re g(λ+²), with g(x) = x (1 − x^t)/(1 − x).
        omega = np.sqrt(-quarter)
        theta = np.arctan2(omega, half)
        x = det * np.exp(2j * theta)
        power = np.exp(t * log_abs_det) * np.exp(2j * theta * t)
        g_complex = x * (1.0 - power) / (1.0 - x)
        numerator = 2.0 * g_complex.real - 2.0 * g_det
        magnitude = 2.0 * np.abs(g_complex) + 2.0 * np.abs(g_det)
        spread = np.sqrt(np.abs(det)) / (2.0 * omega)
    if numerator == 0.0:
        return 0.0, np.inf
    return numerator / (4.0 * quarter), magnitude / np.abs(numerator) + spread


@jit
def square_sums(trace, det, quarter, gap, one_minus_det, far_side, t):
    """:func:`lucas_square_sum` over arrays of axes (shape (d,)) at one horizon ``t``."""
    out = np.empty(trace.shape[0])
    for j in range(trace.shape[0]):
        s_t, s_next, _ = lucas(trace[j], det[j], quarter[j], gap[j], one_minus_det[j],
                               far_side[j], t)
        out[j] = lucas_square_sum(trace[j], det[j], quarter[j], gap[j], one_minus_det[j],
                                  far_side[j], t, s_t, s_next)
    return out


@jit_inline
def axis_statistics(a, b, u0, noise, lr, comp, gain, j, t):
    """Mean and variance of one axis after ``t`` steps of a constant-lr method.

    ``comp`` holds the companions of all axes as rows ``(τ, δ, q, gap, 1 − δ, far_side)``
    (shape (6, d)), ``u0`` the start, and ``gain`` the weight with which the forcing
    ``−lr·b̃`` and the noise enter the recorded quantity (1 for the iterate, ``1 − ρ``
    for its moving average). Returns ``(centre, variance)``: on an axis with ``a ≠ 0``
    the centre is the mean's deviation from ``u* = −b̃/a`` (so that the excess loss has
    no cancellation), on a null axis the mean itself.
    """
    trace, det, quarter = comp[0, j], comp[1, j], comp[2, j]
    gap, one_minus_det, far_side = comp[3, j], comp[4, j], comp[5, j]
    s_t, s_next, forcing = lucas(trace, det, quarter, gap, one_minus_det, far_side, t)
    response = s_next - det * s_t
    if a[j] != 0.0:
        centre = response * (u0[j] + b[j] / a[j])
    else:
        centre = response * u0[j] - gain * lr * b[j] * forcing
    variance = 0.0
    if noise[j] != 0.0:
        variance = (gain * lr) ** 2 * noise[j] * lucas_square_sum(
            trace, det, quarter, gap, one_minus_det, far_side, t, s_t, s_next)
    return centre, variance


@jit
def gaussian_moments(a, b, u0, noise, lr, comp, average_weight, average_comp, steps,
                     centre_out, variance_out, average_centre_out, average_variance_out):
    """Fill per-axis centres and variances (:func:`axis_statistics`) at every step.

    The moving average's too when ``average_comp`` has columns (its companion has the
    roots ``r = 1 − h`` and ``ρ``, and gain ``1 − ρ``).
    """
    averaged = average_comp.shape[1] > 0
    gain = 1.0 - average_weight
    for k in range(steps.shape[0]):
        t = np.float64(steps[k])
        for j in range(a.shape[0]):
            centre_out[k, j], variance_out[k, j] = axis_statistics(a, b, u0, noise, lr, comp,
                                                                    1.0, j, t)
            if averaged:
                average_centre_out[k, j], average_variance_out[k, j] = axis_statistics(
                    a, b, u0, noise, lr, average_comp, gain, j, t)


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
def _jump(T, F, noise_vector, n, mean, cov, work):
    """Advance ``(mean, cov)`` by ``n`` steps of ``x ← T x + F + η·v``, ``Var η = 1``.

    Doubling: ``T^n``, ``Σ_{k<n} T^k F`` and ``Σ_{k<n} T^k v vᵀ T^kᵀ`` in O(log n) 3×3
    products. ``work`` is a (10, 3, 3) scratch array.
    """
    P, Ls, A, Lacc, tmp, tmp2 = work[0], work[1], work[2], work[3], work[4], work[5]
    Fs, Facc = work[6, 0], work[6, 1]
    if n == 1:
        for i in range(3):
            total = F[i]
            for k in range(3):
                total += T[i, k] * mean[k]
            work[6, 2, i] = total
        mean[:] = work[6, 2]
        _sandwich3(T, cov, tmp, tmp2)
        for i in range(3):
            for k in range(3):
                cov[i, k] = tmp2[i, k] + noise_vector[i] * noise_vector[k]
        return
    P[:, :] = T
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
            for i in range(3):
                total = Facc[i]
                for k in range(3):
                    total += A[i, k] * Fs[k]
                work[6, 2, i] = total
            Facc[:] = work[6, 2]
            _sandwich3(A, Ls, tmp, tmp2)
            Lacc += tmp2
            _mul3(A, P, tmp)
            A[:, :] = tmp
        remaining >>= 1
        if remaining > 0:
            for i in range(3):
                total = Fs[i]
                for k in range(3):
                    total += P[i, k] * Fs[k]
                work[6, 2, i] = total
            Fs[:] = work[6, 2]
            _sandwich3(P, Ls, tmp, tmp2)
            Ls += tmp2
            _mul3(P, P, tmp)
            P[:, :] = tmp
    for i in range(3):
        total = Facc[i]
        for k in range(3):
            total += A[i, k] * mean[k]
        work[6, 2, i] = total
    mean[:] = work[6, 2]
    _sandwich3(A, cov, tmp, tmp2)
    cov[:, :] = tmp2 + Lacc


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
        cov[:, :] = 0.0
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
                    cov[:, :] = work[8]
                    _jump(T, F, v, np.int64(stop - t), mean, cov, work)
                    to_p[0, 1] = m
                    mean[0] = mean[0] + m * mean[1]
                    _sandwich3(to_p, cov, work[7], work[8])
                    cov[:, :] = work[8]
                t = stop
            centre_out[k, j] = mean[0]
            variance_out[k, j] = cov[0, 0]
            average_centre_out[k, j] = mean[2]
            average_variance_out[k, j] = cov[2, 2]


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
