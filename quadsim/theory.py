"""Closed-form trajectories and spectral analysis of the methods.

Per axis, a discrete method is the scalar recurrence
``u_{t+1} = τ u_t − δ u_{t−1} + f`` with ``f = −lr·b̃`` and ``u_{−1} = u_0``
(see :mod:`quadsim.methods`). With the Lucas sequence ``s_0 = 0, s_1 = 1,
s_{n+1} = τ s_n − δ s_{n−1}``, its solution is

    u_t = (s_{t+1} − δ s_t) u_0 + f·P_t,       P_t = s_1 + … + s_t,

and ``s_n`` has a closed form in the roots ``λ± = τ/2 ± √(τ²/4 − δ)``:
``ρ^{n−1} sin(nθ)/sin θ`` for complex roots ``ρe^{±iθ}``,
``±ρ^{n−1} sinh(nφ)/sinh φ`` for real roots of one sign ``±ρe^{±φ}`` (→ ``n ρ^{n−1}``
at a double root, without cancellation), and ``(λ+^n − λ−^n)/(λ+ − λ−)`` for roots of
opposite signs. Each costs O(1) per axis and recorded step whatever ``t`` is.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_step_indices, as_times, as_vector
from quadsim.methods import GD, GradientFlow, Momentum, Nesterov, _TwoStepMethod
from quadsim.problems import Quadratic, SpectralFrame, as_quadratic
from quadsim.results import Trajectory

#: The per-axis regimes named by :func:`axis_regimes`.
REGIMES = ("converging", "oscillating", "diverging", "drifting", "frozen")


def check_method(method: object) -> _TwoStepMethod | GradientFlow:
    """Return `method` if it is a quadsim method spec, else raise a TypeError."""
    if not isinstance(method, (_TwoStepMethod, GradientFlow)):
        raise TypeError("`method` must be GD, Momentum, Nesterov, Preconditioned or "
                        f"GradientFlow; got {type(method).__name__}")
    return method


def lucas_sequence(trace: np.ndarray, det: np.ndarray, quarter_discriminant: np.ndarray,
                   n: np.ndarray) -> np.ndarray:
    """``s_n`` of ``s_{n+1} = τ s_n − δ s_{n−1}``, ``s_0 = 0``, ``s_1 = 1``, in closed form.

    Parameters
    ----------
    trace, det, quarter_discriminant : ndarray, shape (d,)
        ``τ``, ``δ`` and ``τ²/4 − δ`` per axis (the last passed in, so that the caller
        can compute it without cancellation near a double root).
    n : ndarray, shape (K,)
        Non-negative integer indices (any dtype).

    Returns
    -------
    ndarray, shape (K, d)
    """
    n = np.asarray(n, dtype=np.float64)[:, None]
    half = 0.5 * trace
    out = np.empty((n.shape[0], trace.shape[0]))
    complex_roots = quarter_discriminant < 0.0
    same_sign = ~complex_roots & (det > 0.0)
    opposite = ~complex_roots & ~same_sign
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if np.any(complex_roots):
            rho = np.sqrt(det[complex_roots])
            omega = np.sqrt(-quarter_discriminant[complex_roots])
            theta = np.arctan2(omega, half[complex_roots])
            out[:, complex_roots] = (np.exp((n - 1.0) * np.log(rho)) * np.sin(n * theta)
                                     * (rho / omega))
        if np.any(same_sign):
            rho = np.sqrt(det[same_sign])
            phi = np.arcsinh(np.sqrt(quarter_discriminant[same_sign]) / rho)
            magnitude = np.exp((n - 1.0) * np.log(rho) + n * phi)
            double = phi == 0.0
            ratio = -np.expm1(-2.0 * n * phi) / (2.0 * np.sinh(np.where(double, 1.0, phi)))
            ratio = np.where(double, n, ratio)
            sign = np.where((half[same_sign] < 0.0) & (np.mod(n - 1.0, 2.0) == 1.0), -1.0, 1.0)
            out[:, same_sign] = sign * magnitude * ratio
        if np.any(opposite):
            spread = np.sqrt(quarter_discriminant[opposite])
            big = half[opposite] + np.copysign(spread, half[opposite])
            zero = big == 0.0
            small = np.where(zero, 0.0, det[opposite] / np.where(zero, 1.0, big))
            value = (big**n - small**n) / np.where(zero, 1.0, big - small)
            out[:, opposite] = np.where(zero, (n == 1.0).astype(np.float64), value)
    return out


def _forcing_sums(h: np.ndarray, det: np.ndarray, homogeneous: np.ndarray,
                  t: np.ndarray) -> np.ndarray:
    """``P_t = s_1 + … + s_t``, the response to a unit constant forcing, shape (K, d).

    ``homogeneous`` is ``s_{t+1} − δ s_t``; the fixed point gives
    ``P_t = (1 − homogeneous)/h``, evaluated as ``−expm1(t·log1p(−h))/h`` on GD-like
    axes (``δ = 0``, ``0 < h < 1``). On axes with ``h = 0`` the roots are 1 and ``δ``,
    so ``s_j = (1 − δ^j)/(1 − δ)`` and ``P_t = (t − δ(1 − δ^t)/(1 − δ))/(1 − δ)``: linear
    drift, exactly.
    """
    t = np.asarray(t, dtype=np.float64)[:, None]
    singular = h == 0.0
    gd_like = (det == 0.0) & (h > 0.0) & (h < 1.0)
    safe_h = np.where(singular, 1.0, h)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.where(gd_like, -np.expm1(t * np.log1p(-np.where(gd_like, h, 0.0))),
                        1.0 - homogeneous) / safe_h
        delta = np.where(singular, det, 0.0)
        drift = (t - delta * (1.0 - delta**t) / (1.0 - delta)) / (1.0 - delta)
    return np.where(singular, drift, sums)


def _discrete_closed_form(frame: SpectralFrame, method: _TwoStepMethod, u0: np.ndarray,
                          steps: np.ndarray) -> np.ndarray:
    h = method.lr * frame.eigenvalues
    trace, det, quarter_discriminant = method.transition(h)
    n = steps.astype(np.float64)
    s_t = lucas_sequence(trace, det, quarter_discriminant, n)
    s_next = lucas_sequence(trace, det, quarter_discriminant, n + 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        homogeneous = s_next - det * s_t
        forcing = _forcing_sums(h, det, homogeneous, n)
        return homogeneous * u0 - (method.lr * frame.b) * forcing


def _flow_closed_form(frame: SpectralFrame, u0: np.ndarray, times: np.ndarray) -> np.ndarray:
    a = frame.eigenvalues
    t = times[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        elapsed = np.where(a == 0.0, t, -np.expm1(-a * t) / np.where(a == 0.0, 1.0, a))
        return u0 - (a * u0 + frame.b) * elapsed


def trajectory_from_eigen(frame: SpectralFrame, steps: np.ndarray, u: np.ndarray,
                          diverged_at: int | None = None) -> Trajectory:
    """Map eigen-coordinates to a :class:`Trajectory`; non-finite records end the run.

    With ``diverged_at`` None, the first record with a non-finite coordinate or loss
    marks divergence, and it and every later record are set to NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        loss = frame.value(u)
        w = frame.from_eigen(u)
    if diverged_at is None:
        bad = ~np.isfinite(loss) | ~np.all(np.isfinite(w), axis=1)
        if np.any(bad):
            first = int(np.argmax(bad))
            w[first:] = np.nan
            loss[first:] = np.nan
            diverged_at = int(steps[first]) if steps.dtype.kind == "i" else first
    return Trajectory(steps, w, loss, diverged_at)


def closed_form(problem: object, method: object, w0: object, steps: object) -> Trajectory:
    """The trajectory of `method` on `problem` from the solved per-axis recurrences.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
    method : GD, Momentum, Nesterov, Preconditioned or GradientFlow
    w0 : array_like, shape (d,)
        Starting point (with zero initial velocity for the momentum methods).
    steps : int or array_like
        An int ``T`` records steps ``0..T``; an array gives the increasing step
        indices to record. For :class:`GradientFlow`, float times: a number ``T``
        records ``linspace(0, T, 101)``.

    Returns
    -------
    Trajectory
        ``diverged_at`` is the first recorded step whose value overflows.

    See Also
    --------
    simulate : the same trajectory by iterating the update.

    Notes
    -----
    Exact for singular axes (``a = 0``: linear drift ``u_t = u_0 − t·lr·b̃``, or frozen)
    and for negative curvature (escape from a saddle). Step ``10⁹`` costs what step
    ``10`` costs.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, Quadratic, closed_form
    >>> q = Quadratic(np.diag([1.0, 0.0]), b=[-1.0, 1.0])
    >>> closed_form(q, GD(lr=0.5), [0.0, 0.0], [0, 1, 10**9]).w[:, 1]
    array([ 0.0e+00, -5.0e-01, -5.0e+08])
    """
    quadratic = as_quadratic(problem)
    method = check_method(method)
    w0 = as_vector(w0, "w0", quadratic.dim)
    frame = method.frame(quadratic)
    u0 = frame.to_eigen(w0)
    if isinstance(method, GradientFlow):
        times = as_times(steps)
        return trajectory_from_eigen(frame, times, _flow_closed_form(frame, u0, times))
    indices = as_step_indices(steps)
    return trajectory_from_eigen(frame, indices,
                                 _discrete_closed_form(frame, method, u0, indices))


def _per_axis(problem: object, method: object) -> tuple[SpectralFrame, np.ndarray, ...]:
    quadratic = as_quadratic(problem)
    method = check_method(method)
    frame = method.frame(quadratic)
    if isinstance(method, GradientFlow):
        return (frame,)
    return (frame, *method.transition(method.lr * frame.eigenvalues))


def axis_spectral_radius(problem: object, method: object) -> np.ndarray:
    """Per-axis spectral radius of the companion matrix (``e^{−a}`` per unit time for flow).

    Returns
    -------
    ndarray, shape (d,)
        In the order of the method's axes (ascending eigenvalues).
    """
    parts = _per_axis(problem, method)
    if len(parts) == 1:
        return np.exp(-parts[0].eigenvalues)
    _, trace, det, quarter_discriminant = parts
    complex_roots = quarter_discriminant < 0.0
    return np.where(complex_roots, np.sqrt(np.abs(det)),
                    np.abs(0.5 * trace) + np.sqrt(np.abs(quarter_discriminant)))


def axis_regimes(problem: object, method: object) -> np.ndarray:
    """Label each eigen-axis by how `method` moves along it.

    Returns
    -------
    ndarray of str, shape (d,)
        In the order of the method's axes (ascending eigenvalues), one of
        ``'converging'`` (spectral radius < 1, dominant root positive),
        ``'oscillating'`` (radius < 1 with sign flips: complex or negative dominant
        root), ``'diverging'`` (radius >= 1 on an axis with ``a ≠ 0``, including
        negative curvature and the stability edge itself), ``'drifting'``
        (``a = 0``, ``b̃ ≠ 0``: linear drift) or ``'frozen'`` (``a = 0``, ``b̃ = 0``).
    """
    parts = _per_axis(problem, method)
    frame = parts[0]
    radius = axis_spectral_radius(problem, method)
    if len(parts) == 1:
        flips = np.zeros(frame.dim, dtype=bool)
    else:
        _, trace, _, quarter_discriminant = parts
        flips = (quarter_discriminant < 0.0) | (trace <= 0.0)
    labels = np.where(radius >= 1.0, "diverging",
                      np.where(flips, "oscillating", "converging")).astype(object)
    singular = frame.eigenvalues == 0.0
    labels[singular] = np.where(frame.b[singular] == 0.0, "frozen", "drifting")
    return labels.astype(str)


def convergence_rate(problem: object, method: object) -> float:
    """Asymptotic linear rate: the largest per-axis spectral radius over the axes with
    ``a ≠ 0`` (those that must converge); ``>= 1`` means no convergence.

    For :class:`GradientFlow` the rate is per unit time, ``e^{−min a}``.
    """
    frame = _per_axis(problem, method)[0]
    radius = axis_spectral_radius(problem, method)
    moving = frame.eigenvalues != 0.0
    return float(np.max(radius[moving])) if np.any(moving) else 0.0


def max_stable_lr(problem: object, method: object, beta: float = 0.0) -> float:
    """The stability edge in lr: ``2/a_max`` (GD), ``(2+2β)/a_max`` (heavy ball),
    ``(2+2β)/((1+2β) a_max)`` (Nesterov).

    Parameters
    ----------
    problem : Quadratic or LinearRegression
    method : GD, Momentum, Nesterov or Preconditioned, a class or an instance
        For an instance, its lr is ignored and its ``beta`` (and ``P``) are used.
    beta : float, optional
        The momentum when `method` is a class.

    Returns
    -------
    float
        Above it the largest-curvature axis diverges; ``inf`` if no eigenvalue is
        positive.
    """
    quadratic = as_quadratic(problem)
    if isinstance(method, type) and issubclass(method, (GD, Momentum, Nesterov)):
        method = method(1.0) if method is GD else method(1.0, beta)
    method = check_method(method)
    if isinstance(method, GradientFlow):
        raise TypeError("`method` must be a discrete method; GradientFlow has no lr")
    a_max = float(method.frame(quadratic).eigenvalues[-1])
    return method.lr_edge(a_max, method.momentum) if a_max > 0.0 else float("inf")


def _curvature_range(problem: object) -> tuple[float, float]:
    quadratic: Quadratic = as_quadratic(problem)
    a = quadratic.eigenvalues
    if a[0] < 0.0 or a[-1] <= 0.0:
        raise ValueError("tuning needs a positive semi-definite `A` with a positive "
                         f"eigenvalue; its eigenvalues span [{a[0]:.3e}, {a[-1]:.3e}]")
    return float(a[a > 0.0][0]), float(a[-1])


def optimal_gd(problem: object) -> GD:
    """GD with the best fixed step, ``lr = 2/(a_min + a_max)``; rate ``(κ−1)/(κ+1)``.

    ``a_min`` is the smallest *positive* eigenvalue (null axes cannot converge).
    """
    a_min, a_max = _curvature_range(problem)
    return GD(2.0 / (a_min + a_max))


def optimal_momentum(problem: object) -> Momentum:
    """Heavy ball with the best fixed hyperparameters; rate ``(√κ−1)/(√κ+1)``.

    ``lr = 4/(√a_min + √a_max)²`` and ``β = ((√κ − 1)/(√κ + 1))²`` with
    ``κ = a_max/a_min`` over the positive eigenvalues.
    """
    a_min, a_max = _curvature_range(problem)
    root_kappa = np.sqrt(a_max / a_min)
    beta = ((root_kappa - 1.0) / (root_kappa + 1.0)) ** 2
    return Momentum(4.0 / (np.sqrt(a_min) + np.sqrt(a_max)) ** 2, float(beta))

