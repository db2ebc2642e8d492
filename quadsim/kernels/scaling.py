"""Steps to a target expected loss, for many candidate hyperparameters at once.

The axes are those of a method's frame with a minimizer, given as curvatures ``a``, the
root-mean-square start deviation ``e0`` from the minimizer (so that axes with equal
``a`` and noise can be grouped, with ``weight`` the group size) and noise variances
``c`` per unit batch. A candidate is a two-step method with a constant lr: a row of
``params`` holds ``(lr, β, γ, h₁, h₂, ρ, s)``: the double roots ``h₁, h₂`` of its
companion (:func:`quadsim.kernels.moments.companion`), the weight ``ρ`` of a moving
average of plain GD whose loss is the one that counts (``ρ < 0``: the iterate itself)
and the factor ``s`` of the noise variances (``1/B``). The expected excess loss
``Σ_j weight_j · ½ a_j (centre_j² + var_j)`` at step ``t`` is evaluated per axis in
closed form (:func:`quadsim.kernels.moments.axis_statistics`); for plain SGD it is one
``expm1`` per axis,

    ½ a e0² r^{2t} + ½ a·lr² s c·(1 − r^{2t})/(1 − r²),     r = 1 − lr·a.

The first step at which it is ``<= target`` is found by doubling ``t`` until it is, then
narrowing the last bracket (:func:`_first_step_below`): O(log T) evaluations.
``prange`` runs over the candidates.
"""

import numba
import numpy as np

from quadsim.kernels._jit import jit, jit_inline, jit_parallel
from quadsim.kernels.lucas import average_companion, companion
from quadsim.kernels.moments import axis_statistics


@jit_inline
def _sgd_terms(a, noise, lr, noise_scale, log_decay, stationary):
    """Per axis ``log r²`` and the stationary excess ``½ a lr² s c/(1 − r²)`` of SGD."""
    for j in range(a.shape[0]):
        h = lr * a[j]
        if h < 1.0:
            log_decay[j] = 2.0 * np.log1p(-h)
        elif h == 1.0:
            log_decay[j] = -np.inf
        else:
            log_decay[j] = 2.0 * np.log(h - 1.0)
        shrink = h * (2.0 - h)  # 1 − r²; 0 at h = 2, where the variance grows like t
        stationary[j] = (0.5 * a[j] * lr * lr * noise_scale * noise[j] / shrink
                         if shrink != 0.0 else np.inf)


@jit
def _excess(plain, a, e0, noise, weight, zero, lr, noise_scale, gain, comp, log_decay,
            stationary, t):
    """The expected excess loss at step ``t`` (see the module docstring)."""
    total = 0.0
    if plain:
        for j in range(a.shape[0]):
            start = 0.5 * a[j] * e0[j] * e0[j]
            if np.isinf(stationary[j]):
                growth = 0.5 * a[j] * lr * lr * noise_scale * noise[j] * t
                total += weight[j] * (start + growth)
            else:
                change = np.expm1(t * log_decay[j])
                total += weight[j] * (start * (1.0 + change) - stationary[j] * change)
        return total
    for j in range(a.shape[0]):
        centre, variance = axis_statistics(a, zero, e0, noise, lr, comp, gain, j, t)
        total += weight[j] * 0.5 * a[j] * (centre * centre + noise_scale * variance)
    return total


@jit
def _first_step_below(plain, a, e0, noise, weight, zero, lr, noise_scale, gain, comp,
                      log_decay, stationary, target, max_steps, guess):
    """First ``t <= max_steps`` with excess ``<= target``, or −1.

    Doubling ``t`` from 1 brackets the crossing, ``(low, high]``; the bracket then shrinks
    by regula falsi on the logarithm of the excess (nearly linear in ``t`` while the loss
    decays geometrically), with the Illinois modification and a bisection step
    whenever the interpolation would not shrink it by a quarter, down to width 1. A
    non-finite excess (a diverging run) counts as above the target.

    Plain SGD whose every axis starts at or above its stationary excess has an expected
    loss that decreases monotonically to ``Σ stationary``: then a target below that is
    never reached (−1 at once), and the bracket may start from ``guess`` (``> 0``: a
    nearby candidate's answer) instead of from 1, with the same result.
    """
    start = _excess(plain, a, e0, noise, weight, zero, lr, noise_scale, gain, comp,
                    log_decay, stationary, 0.0)
    if start <= target:
        return 0
    monotone = plain
    floor = 0.0
    if plain:
        for j in range(a.shape[0]):
            begin = 0.5 * a[j] * e0[j] * e0[j]
            if not (log_decay[j] < 0.0 and begin >= stationary[j]):
                monotone = False
            floor += weight[j] * stationary[j]
        if monotone and floor > target:
            return -1
    log_target = np.log(target) if target > 0.0 else -np.inf
    low, high = 0, 1
    bracketed = False
    if monotone and guess > 1:
        probe = min(guess, max_steps)
        value = _excess(plain, a, e0, noise, weight, zero, lr, noise_scale, gain, comp,
                        log_decay, stationary, np.float64(probe))
        if value <= target:  # halve down to a step still above the target
            high = probe
            bracketed = True
            while high > 1:
                half = high // 2
                below = _excess(plain, a, e0, noise, weight, zero, lr, noise_scale, gain,
                                comp, log_decay, stationary, np.float64(half))
                if below > target:
                    low, start = half, below
                    break
                high, value = half, below
        elif probe == max_steps:
            return -1
        else:
            low, start = probe, value
            high = min(2 * probe, max_steps)
    while not bracketed:
        value = _excess(plain, a, e0, noise, weight, zero, lr, noise_scale, gain, comp,
                        log_decay, stationary, np.float64(high))
        if value <= target:
            break
        low, start = high, value
        if high == max_steps:
            return -1
        high = min(2 * high, max_steps)
    # g = log(excess) − log(target): g(low) > 0 >= g(high).
    g_low = np.log(start) - log_target if np.isfinite(start) else np.inf
    g_high = np.log(value) - log_target if value > 0.0 else -np.inf
    while high - low > 1:
        width = high - low
        middle = low + width // 2
        if np.isfinite(g_low) and np.isfinite(g_high) and g_low > g_high:
            guessed = low + int(width * g_low / (g_low - g_high))
            if low + width // 8 < guessed < high - width // 8:
                middle = guessed
            elif guessed <= low:
                middle = low + 1
            elif guessed >= high:
                middle = high - 1
        middle = min(max(middle, low + 1), high - 1)
        value = _excess(plain, a, e0, noise, weight, zero, lr, noise_scale, gain, comp,
                        log_decay, stationary, np.float64(middle))
        g_middle = np.log(value) - log_target if value > 0.0 else -np.inf
        if value <= target:
            high, g_high = middle, g_middle
            g_low *= 0.5  # Illinois: the stale end loses weight
        else:
            low, g_low = middle, g_middle
            g_high *= 0.5
    return high


@jit_parallel
def steps_to_target_grid(a, e0, noise, weight, params, target, max_steps, guesses, out):
    """``out[m]``: the first step at which candidate ``m``'s excess is ``<= target``, or −1.

    ``guesses[m] > 0`` is a nearby candidate's answer, where the search may start (see
    :func:`_first_step_below`); 0 for none.
    """
    d = a.shape[0]
    zero = np.zeros(d)
    for m in numba.prange(params.shape[0]):
        lr, beta, gamma, low, high, rho, noise_scale = (
            params[m, 0], params[m, 1], params[m, 2], params[m, 3], params[m, 4],
            params[m, 5], params[m, 6])
        plain = beta == 0.0 and gamma == 0.0 and rho < 0.0
        log_decay = np.empty(d)
        stationary = np.empty(d)
        comp = np.empty((6, d))
        gain = 1.0
        if plain:
            _sgd_terms(a, noise, lr, noise_scale, log_decay, stationary)
        else:
            for j in range(d):
                h = lr * a[j]
                if rho < 0.0:
                    (comp[0, j], comp[1, j], comp[2, j], comp[3, j], comp[4, j],
                     comp[5, j]) = companion(h, beta, gamma, low, high)
                else:
                    (comp[0, j], comp[1, j], comp[2, j], comp[3, j], comp[4, j],
                     comp[5, j]) = average_companion(h, rho)
            if rho >= 0.0:
                gain = 1.0 - rho
        out[m] = _first_step_below(plain, a, e0, noise, weight, zero, lr, noise_scale, gain,
                                   comp, log_decay, stationary, target, max_steps, guesses[m])
