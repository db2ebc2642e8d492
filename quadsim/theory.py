"""Closed-form trajectories and spectral analysis of the methods.

Per axis, a discrete method is the scalar recurrence
``u_{t+1} = τ u_t − δ u_{t−1} + f`` with ``f = −lr·b̃`` and ``u_{−1} = u_0``
(see :mod:`quadsim.methods`). With the Lucas sequence ``s_0 = 0, s_1 = 1,
s_{n+1} = τ s_n − δ s_{n−1}`` of the companion matrix, its solution is

    u_t = (s_{t+1} − δ s_t) u_0 + f·P_t,       P_t = s_1 + … + s_t,

and :func:`companion_sequences` evaluates ``s_t`` and ``P_t`` in closed form from the
roots, in O(1) per axis and recorded step whatever ``t`` is, accurately at double
roots and as a root approaches 1 (``a → 0``), where ``P_t`` becomes the linear drift.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_step_indices, as_times, as_vector
from quadsim.kernels.closed_form import gd_loss_curve
from quadsim.methods import GD, GradientFlow, Momentum, Nesterov, Preconditioned, _TwoStepMethod
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


def companion_sequences(trace: np.ndarray, det: np.ndarray, quarter_discriminant: np.ndarray,
                        gap: np.ndarray, n: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed forms of ``s_n``, ``s_{n+1}`` and ``P_n = s_1 + … + s_n``.

    ``s`` is the Lucas sequence of the companion matrix ``[[τ, −δ], [1, 0]]``:
    ``s_0 = 0``, ``s_1 = 1``, ``s_{n+1} = τ s_n − δ s_{n−1}``; ``P_n`` is the response
    to a unit constant forcing.

    Parameters
    ----------
    trace, det, quarter_discriminant, gap : ndarray, shape (d,)
        ``τ``, ``δ``, ``τ²/4 − δ`` and ``1 − τ + δ = (1 − λ+)(1 − λ−)`` per axis. The
        last two are passed in so that the caller can compute them without
        cancellation: ``τ²/4 − δ`` near a double root, and the gap (``lr·a`` for every
        method here) near ``a = 0``, where a root approaches 1 and ``τ`` alone has lost
        the digits that ``λ^n`` needs for large ``n``.
    n : ndarray, shape (K,)
        Non-negative integer indices (any dtype).

    Returns
    -------
    s_n, s_next, forcing : ndarray, shape (K, d)

    Notes
    -----
    Complex roots ``ρe^{±iθ}``: ``s_n = ρ^n sin(nθ)/(ρ sin θ)`` and ``P_n`` from the
    fixed point, ``P_n = (1 − s_{n+1} + δ s_n)/gap`` (the gap is not small there).
    Real roots ``|λ+| >= |λ−|``: for one sign, ``s_n = (±1)^{n−1} |λ+|^n/ρ ·
    (1 − e^{−2nφ})/(2 sinh φ)`` with ``λ± = ±ρe^{±φ}`` (→ ``n ρ^{n−1}`` at a double
    root, without cancellation); for opposite signs or a zero root, the difference
    quotient ``(λ+^n − λ−^n)/(λ+ − λ−)``. Then ``P_n`` is the second divided difference
    of ``x^{n+1}`` at ``1, λ+, λ−``: ``P_n = (G_n − s_{n+1})/(1 − λ−)`` with
    ``G_n = (1 − λ+^{n+1})/(1 − λ+)``, evaluated by ``expm1``/``log1p`` and
    ``1 − λ+ = gap/(1 − λ−)``; at ``a = 0`` (``λ+ = 1``) this is ``G_n = n + 1``, the
    exact linear drift.
    """
    n = np.asarray(n, dtype=np.float64)[:, None]
    half = 0.5 * trace
    shape = (n.shape[0], trace.shape[0])
    s_n, s_next, forcing = np.empty(shape), np.empty(shape), np.empty(shape)
    complex_roots = quarter_discriminant < 0.0
    real = ~complex_roots
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if np.any(complex_roots):
            # Roots m ± iω; ρ from m and ω (not √δ) keeps s_1 = 1 exactly.
            omega = np.sqrt(-quarter_discriminant[complex_roots])
            rho = np.hypot(half[complex_roots], omega)
            theta = np.arctan2(omega, half[complex_roots])

            def lucas(k: np.ndarray) -> np.ndarray:
                return np.exp(k * np.log(rho)) * np.sin(k * theta) / omega

            s_n[:, complex_roots] = lucas(n)
            s_next[:, complex_roots] = lucas(n + 1.0)
            forcing[:, complex_roots] = (1.0 - s_next[:, complex_roots]
                                         + det[complex_roots] * s_n[:, complex_roots]
                                         ) / gap[complex_roots]
        if np.any(real):
            m, delta, gap_real = half[real], det[real], gap[real]
            spread = np.sqrt(quarter_discriminant[real])
            big = m + np.copysign(spread, m)  # the root of largest modulus
            zero = big == 0.0
            small = np.where(zero, 0.0, delta / np.where(zero, 1.0, big))
            # 1 − λ+ without cancellation when λ+ → 1.
            one_minus_big = np.where((m > 0.0) & (small != 1.0),
                                     gap_real / np.where(small == 1.0, 1.0, 1.0 - small),
                                     1.0 - big)
            log_big = np.where(m > 0.0, np.log1p(-one_minus_big), np.log(np.abs(big)))
            phi = np.arcsinh(spread / np.sqrt(np.where(delta > 0.0, delta, 1.0)))
            double = phi == 0.0
            sinh_phi = 2.0 * np.sinh(np.where(double, 1.0, phi))

            def big_power(k: np.ndarray) -> np.ndarray:
                power = np.exp(k * log_big)
                return np.where((big < 0.0) & (np.mod(k, 2.0) == 1.0), -power, power)

            def lucas(k: np.ndarray) -> np.ndarray:
                ratio = np.where(double, k, -np.expm1(-2.0 * k * phi) / sinh_phi)
                same_sign = big_power(k) * np.sign(big) * np.exp(phi - log_big) * ratio
                opposite = (big_power(k) - small**k) / np.where(zero, 1.0, big - small)
                opposite = np.where(zero, (k == 1.0).astype(np.float64), opposite)
                return np.where(delta > 0.0, same_sign, opposite)

            s_n[:, real] = lucas(n)
            s_next[:, real] = lucas(n + 1.0)
            unit_root = one_minus_big == 0.0
            geometric = np.where(
                unit_root, n + 1.0,
                np.where(big > 0.0, -np.expm1((n + 1.0) * log_big), 1.0 - big_power(n + 1.0))
                / np.where(unit_root, 1.0, one_minus_big))
            forcing[:, real] = (geometric - s_next[:, real]) / (1.0 - small)
    return s_n, s_next, forcing


#: Below ``n·φ`` (or ``n·θ``) = 1 the derivative of the Lucas sequence is summed from
#: its power series (no cancellation at a double root); this many terms reach eps.
_SERIES_TERMS = 16


def _odd_binomial_sums(n: np.ndarray, terms: int) -> list[np.ndarray]:
    """``B_k = ((n+1)^{2k} − (n−1)^{2k})/2`` for k = 1..terms.

    Summed as ``Σ_{odd j} C(2k, j) n^{2k−j}``, positive terms only, so that large n
    loses no digits to cancellation.
    """
    from math import comb

    sums = []
    for k in range(1, terms + 1):
        total = np.zeros_like(n)
        for j in range(1, 2 * k + 1, 2):
            total = total + comb(2 * k, j) * n ** (2 * k - j)
        sums.append(total)
    return sums


def lucas_trace_derivative(trace: np.ndarray, det: np.ndarray,
                           quarter_discriminant: np.ndarray, gap: np.ndarray,
                           n: np.ndarray) -> np.ndarray:
    """``C_n = ∂s_n/∂τ = Σ_{k=0}^{n} s_k s_{n−k}`` in closed form, shape (K, d).

    With it ``∂s_n/∂δ = −C_{n−1}``. Arguments as in :func:`companion_sequences`.

    Notes
    -----
    For roots ``±ρe^{±φ}`` of one sign,
    ``C_n = (±1)^n ρ^{n−2} [(n−1) sinh((n+1)φ) − (n+1) sinh((n−1)φ)] / (4 sinh³φ)``,
    and with ``sin`` for complex roots ``ρe^{±iθ}`` (and the opposite sign); below
    ``nφ = 1`` the bracket is summed from its series
    ``(n² − 1) Σ_{k≥1} φ^{2k+1} B_k/(2k+1)!`` (alternating for θ), which tends to
    ``n(n² − 1)/3 · ρ^{n−2}`` at a double root. For roots of opposite signs,
    ``C_n = ((n+1)(λ+^n + λ−^n) − 2 s_{n+1})/(λ+ − λ−)²``.
    """
    from math import factorial

    _, s_next, _ = companion_sequences(trace, det, quarter_discriminant, gap, n)
    n = np.asarray(n, dtype=np.float64)[:, None]
    half = 0.5 * trace
    out = np.empty((n.shape[0], trace.shape[0]))
    opposite = (quarter_discriminant >= 0.0) & (det <= 0.0)
    paired = ~opposite
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if np.any(opposite):
            spread = np.sqrt(quarter_discriminant[opposite])
            big = half[opposite] + np.copysign(spread, half[opposite])
            zero = big == 0.0
            small = np.where(zero, 0.0, det[opposite] / np.where(zero, 1.0, big))
            value = ((n + 1.0) * (big**n + small**n) - 2.0 * s_next[:, opposite]) \
                / np.where(zero, 1.0, 4.0 * quarter_discriminant[opposite])
            out[:, opposite] = np.where(zero, (n == 2.0).astype(np.float64), value)
        if np.any(paired):
            m, q = half[paired], quarter_discriminant[paired]
            rotating = q < 0.0  # complex roots: angle θ; else real of one sign: φ
            spread = np.sqrt(np.abs(q))
            rho = np.where(rotating, np.hypot(m, spread), np.sqrt(np.abs(det[paired])))
            angle = np.where(rotating, np.arctan2(spread, m),
                             np.arcsinh(spread / np.where(rho > 0.0, rho, 1.0)))
            sign = np.where(rotating | (m > 0.0), 1.0, -1.0)
            flip = np.where(rotating, -1.0, 1.0)  # sin vs sinh: the series alternates

            def sinh_like(x: np.ndarray) -> np.ndarray:
                return np.where(rotating, np.sin(x), np.sinh(x))

            closed = ((n - 1.0) * sinh_like((n + 1.0) * angle)
                      - (n + 1.0) * sinh_like((n - 1.0) * angle)) \
                / (2.0 * sinh_like(angle) ** 3)
            series, power = np.zeros_like(closed), np.ones_like(angle)
            ratio = angle / sinh_like(np.where(angle == 0.0, 1.0, angle))
            ratio = np.where(angle == 0.0, 1.0, ratio) ** 3
            for k, b_k in enumerate(_odd_binomial_sums(n, _SERIES_TERMS), start=1):
                series = series + power * b_k * flip**k * 2.0 / factorial(2 * k + 1)
                power = power * angle**2
            series = series * (n * n - 1.0) * 0.5 * ratio
            bracket = np.where(n * angle < 1.0, series, closed)
            out[:, paired] = flip * sign**n * np.exp((n - 2.0) * np.log(rho)) * bracket * 0.5
    return out


def _discrete_closed_form(frame: SpectralFrame, method: _TwoStepMethod, u0: np.ndarray,
                          steps: np.ndarray) -> np.ndarray:
    # u_t = (s_{t+1} − δ s_t) u_0 + P_t · (−lr b̃), from u_{−1} = u_0.
    h = method.lr * frame.eigenvalues
    trace, det, quarter_discriminant = method.transition(h)
    s_t, s_next, forcing = companion_sequences(trace, det, quarter_discriminant, h, steps)
    with np.errstate(over="ignore", invalid="ignore"):
        return (s_next - det * s_t) * u0 - (method.lr * frame.b) * forcing


def _flow_closed_form(frame: SpectralFrame, u0: np.ndarray, times: np.ndarray) -> np.ndarray:
    a = frame.eigenvalues
    t = times[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        elapsed = np.where(a == 0.0, t, -np.expm1(-a * t) / np.where(a == 0.0, 1.0, a))
        return u0 - (a * u0 + frame.b) * elapsed


def trajectory_from_eigen(frame: SpectralFrame, steps: np.ndarray, u: np.ndarray,
                          diverged_at: int | None = None) -> Trajectory:
    """Map eigen-coordinates to a :class:`Trajectory`; non-finite records end the run.

    With ``diverged_at`` None, the first record with a non-finite coordinate marks
    divergence, and it and every later record are set to NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        loss = frame.value(u)
        w = frame.from_eigen(u)
    if diverged_at is None:
        bad = ~np.all(np.isfinite(w), axis=1)
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
    >>> closed_form(q, GD(lr=0.5), [0.0, 0.0], [0, 1, 10**9]).w[:, 1].tolist()
    [0.0, -0.5, -500000000.0]
    """
    quadratic = as_quadratic(problem)
    method = check_method(method)
    w0 = as_vector(w0, "w0", quadratic.dim)
    frame = method.frame(quadratic)
    u0 = frame.to_eigen(w0)
    if isinstance(method, GradientFlow):
        times = as_times(steps)
        return trajectory_from_eigen(frame, times, _flow_closed_form(frame, u0, times))
    indices = as_step_indices(steps, record_size=quadratic.dim + 1)
    return trajectory_from_eigen(frame, indices,
                                 _discrete_closed_form(frame, method, u0, indices))


def closed_form_loss(problem: object, method: object, w0: object, steps: object) -> np.ndarray:
    """The loss curve ``J(w_t)`` alone, from the closed form, at the recorded steps.

    For GD and preconditioned GD a Numba kernel evaluates, per axis with ``r = 1 − lr·a``,
    ``u_t = r^t u_0 − lr·b̃·Σ_{k<t} r^k`` and sums ``½ a u_t² + b̃ u_t``: O(d) per record
    whatever ``t`` is, one multiply-add per axis between consecutive records, and no
    mapping back to ``w`` (see :mod:`quadsim.kernels.closed_form`). Other methods take
    ``closed_form(...).loss``.

    Parameters
    ----------
    problem, method, w0, steps
        As in :func:`closed_form`.

    Returns
    -------
    ndarray, shape (K,)
        Overflow shows as inf or NaN (``closed_form`` reports the step).

    See Also
    --------
    closed_form : the whole trajectory.
    """
    quadratic = as_quadratic(problem)
    method = check_method(method)
    if not isinstance(method, (GD, Preconditioned)):
        return closed_form(quadratic, method, w0, steps).loss
    w0 = as_vector(w0, "w0", quadratic.dim)
    indices = as_step_indices(steps, record_size=1)
    frame = method.frame(quadratic)
    loss = np.empty(indices.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        gd_loss_curve(frame.eigenvalues, frame.b, frame.c, method.lr,
                      np.ascontiguousarray(frame.to_eigen(w0)), indices, loss)
    return loss


def _axes(problem: object, method: object
          ) -> tuple[SpectralFrame, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """The method's axes and their companion ``(τ, δ, τ²/4 − δ)`` (None for flow)."""
    quadratic = as_quadratic(problem)
    method = check_method(method)
    frame = method.frame(quadratic)
    if isinstance(method, GradientFlow):
        return frame, None
    return frame, method.transition(method.lr * frame.eigenvalues)


def _spectral_radius(frame: SpectralFrame,
                     transition: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                     ) -> np.ndarray:
    if transition is None:
        return np.exp(-frame.eigenvalues)
    trace, det, quarter_discriminant = transition
    return np.where(quarter_discriminant < 0.0, np.sqrt(np.abs(det)),
                    np.abs(0.5 * trace) + np.sqrt(np.abs(quarter_discriminant)))


def axis_spectral_radius(problem: object, method: object) -> np.ndarray:
    """Per-axis spectral radius of the companion matrix (``e^{−a}`` per unit time for flow).

    Returns
    -------
    ndarray, shape (d,)
        In the order of the method's axes (ascending eigenvalues).
    """
    return _spectral_radius(*_axes(problem, method))


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
    frame, transition = _axes(problem, method)
    radius = _spectral_radius(frame, transition)
    if transition is None:
        flips = np.zeros(frame.dim, dtype=bool)
    else:
        trace, _, quarter_discriminant = transition
        flips = (quarter_discriminant < 0.0) | (trace <= 0.0)
    labels = np.where(radius >= 1.0, "diverging",
                      np.where(flips, "oscillating", "converging")).astype(object)
    singular = frame.eigenvalues == 0.0
    labels[singular] = np.where(frame.b[singular] == 0.0, "frozen", "drifting")
    return labels.astype(str)


def convergence_rate(problem: object, method: object) -> float:
    """Asymptotic linear rate of `method` on `problem`.

    The largest per-axis spectral radius over the axes with ``a ≠ 0`` (those that must
    converge); ``>= 1`` means no convergence. For :class:`GradientFlow` the rate is per
    unit time, ``e^{−min a}``.
    """
    frame, transition = _axes(problem, method)
    radius = _spectral_radius(frame, transition)
    moving = frame.eigenvalues != 0.0
    return float(np.max(radius[moving])) if np.any(moving) else 0.0


def max_stable_lr(problem: object, method: object, beta: float = 0.0) -> float:
    """The stability edge in lr.

    ``2/a_max`` (GD and preconditioned GD, with ``a`` the eigenvalues of ``PA``),
    ``(2+2β)/a_max`` (heavy ball), ``(2+2β)/((1+2β) a_max)`` (Nesterov).

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
    if method is GD:
        method = GD(1.0)
    elif method in (Momentum, Nesterov):
        method = method(1.0, beta)
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

