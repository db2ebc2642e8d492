"""The companion of a two-step method per axis, and its Lucas sequences in closed form.

On an axis with ``h = lr·a`` every two-step method is ``u_{t+1} = τ u_t − δ u_{t−1} + f``
with ``τ = 1 + β − h(1 + γ)``, ``δ = β − hγ`` (:func:`companion`; a moving average of GD
is such a recurrence too, :func:`average_companion`). Its Lucas sequence
``s_0 = 0, s_1 = 1, s_{k+1} = τ s_k − δ s_{k−1}`` gives everything in closed form:

- the trajectory ``u_t = (s_{t+1} − δ s_t) u_0 + f P_t``, ``P_t = s_1 + … + s_t``
  (:func:`lucas`; :func:`companion_trajectory` records it at many steps);
- the variance under additive noise, through ``W_t = s_1² + … + s_t²``
  (:func:`lucas_square_sum`).

Each is O(1) per axis and step whatever the step, and accurate at double roots and as a
root nears ±1 (the companion carries ``gap = 1 − τ + δ``, ``1 − δ`` and
``far_side = 1 + τ + δ`` computed from the method's parameters, not from ``τ``).
``W_t`` is evaluated by whichever of two exact identities is well conditioned on the
axis — the stationary form, from ``s_t``, ``s_{t+1}`` and ``Σ_{k<t} δ^k``, or the modal
form, from geometric sums of ``λ±²`` and ``δ`` — and, where neither is (near a double
root before the axis has mixed), by doubling on a non-negative 2×2 map in O(log t)
(:func:`_square_sum_by_doubling`).
"""

import numpy as np

from quadsim.kernels._jit import jit, jit_inline, jit_sum

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
    ``1 − δ``, not by the rounded ``τ``.

    Notes
    -----
    Complex roots ``ρe^{±iθ}``: ``s_n = ρ^n sin(nθ)/(ρ sin θ)`` with ``log ρ`` from
    ``1 − δ``, and ``P_n`` from the fixed point, ``P_n = (1 − s_{n+1} + δ s_n)/gap``
    (the gap is not small there). Real roots ``|λ+| >= |λ−|``: for one sign,
    ``s_n = (±1)^{n−1} |λ+|^n/ρ · (1 − e^{−2nφ})/(2 sinh φ)`` with ``λ± = ±ρe^{±φ}``
    (→ ``n ρ^{n−1}`` at a double root, without cancellation); for opposite signs or a
    zero root, the difference quotient ``(λ+^n − λ−^n)/(λ+ − λ−)``. Then ``P_n`` is the
    second divided difference of ``x^{n+1}`` at ``1, λ+, λ−``:
    ``P_n = (G_n − s_{n+1})/(1 − λ−)`` with ``G_n = (1 − λ+^{n+1})/(1 − λ+)``, evaluated
    by ``expm1``/``log1p`` and ``1 − λ+ = gap/(1 − λ−)``; at ``a = 0`` (``λ+ = 1``)
    this is ``G_n = n + 1``, the exact linear drift.
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


@jit
def lucas_table(comp, n, s_out, s_next_out, forcing_out):
    """``s_n``, ``s_{n+1}`` and ``P_n`` (:func:`lucas`) for every step ``n`` and axis.

    ``comp`` holds the companions as rows (6, d) (:func:`companion`); outputs (K, d).
    """
    for k in range(n.shape[0]):
        t = np.float64(n[k])
        for j in range(comp.shape[1]):
            s_out[k, j], s_next_out[k, j], forcing_out[k, j] = lucas(
                comp[0, j], comp[1, j], comp[2, j], comp[3, j], comp[4, j], comp[5, j], t)


#: Consecutive records advance ``(s_t, s_{t+1}, P_t)`` by the recurrence, whose rounding
#: compounds (linearly, for GD: ``r = fl(1 − h)`` is off by up to eps/2); every this
#: many such records, and at every jump, :func:`lucas` recomputes them from ``t``, so the
#: drift stays below about ``ANCHOR_EVERY·eps``.
ANCHOR_EVERY = 1024


@jit_sum
def companion_records(comp, forcing, start, a, b, c, offset, steps, u_out, loss_out):
    """The closed-form trajectory ``u_t = (s_{t+1} − δ s_t) u_0 − forcing·P_t`` and its loss.

    ``forcing`` is ``lr·b̃`` per axis (zeros when ``start`` is the offset ``e_0 = u_0 − u*``
    of a frame that knows ``J*``: then ``offset`` and the loss is
    ``c + ½ Σ a e²`` with ``c = J*``; else ``Σ (½ a u² + b u) + c``). A record one step
    after the previous one advances ``(s_t, s_{t+1}, P_t)`` by the recurrence
    ``s_{t+2} = τ s_{t+1} − δ s_t``, ``P_{t+1} = P_t + s_{t+1}``: a few multiply-adds per
    axis; the others (and every :data:`ANCHOR_EVERY`-th) take :func:`lucas` at ``t``.
    ``u_out`` of shape (K, d) receives the coordinates (or has 0 columns: loss only).
    """
    d = comp.shape[1]
    tau, delta = comp[0], comp[1]
    s_t = np.zeros(d)
    s_next = np.zeros(d)
    partial = np.zeros(d)
    linear = np.zeros(d) if offset else b
    keep = u_out.shape[1] > 0
    # Each pass over the axes is a branch-free loop, so that LLVM vectorises it.
    for k in range(steps.shape[0]):
        t = steps[k]
        if k == 0 or t - steps[k - 1] != 1 or k % ANCHOR_EVERY == 0:
            for j in range(d):
                s_t[j], s_next[j], partial[j] = lucas(comp[0, j], comp[1, j], comp[2, j],
                                                      comp[3, j], comp[4, j], comp[5, j],
                                                      np.float64(t))
        else:
            for j in range(d):
                following = tau[j] * s_next[j] - delta[j] * s_t[j]
                partial[j] += s_next[j]
                s_t[j] = s_next[j]
                s_next[j] = following
        total = 0.0
        if keep:
            for j in range(d):
                u = (s_next[j] - delta[j] * s_t[j]) * start[j] - forcing[j] * partial[j]
                u_out[k, j] = u
                total += u * (0.5 * a[j] * u + linear[j])
        else:
            for j in range(d):
                u = (s_next[j] - delta[j] * s_t[j]) * start[j] - forcing[j] * partial[j]
                total += u * (0.5 * a[j] * u + linear[j])
        loss_out[k] = total + c
