"""Closed-form trajectories and spectral analysis of the methods.

Per axis, a discrete method is the scalar recurrence
``u_{t+1} = τ u_t − δ u_{t−1} + f`` with ``f = −lr·b̃`` and ``u_{−1} = u_0``
(see :mod:`quadsim.methods`). With the Lucas sequence ``s_0 = 0, s_1 = 1,
s_{n+1} = τ s_n − δ s_{n−1}`` of the companion matrix, its solution is

    u_t = (s_{t+1} − δ s_t) u_0 + f·P_t,       P_t = s_1 + … + s_t,

and :func:`companion_sequences` evaluates ``s_t`` and ``P_t`` in closed form from the
roots (:mod:`quadsim.kernels.lucas`), in O(1) per axis and recorded step whatever ``t``
is, accurately at double roots and as a root approaches 1 (``a → 0``), where ``P_t``
becomes the linear drift. A whole trajectory is recorded by
:func:`~quadsim.kernels.lucas.companion_records`, which advances consecutive records by
the recurrence itself.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_step_indices, as_times
from quadsim.axes import axis_moments, first_bad_step, loss_moments
from quadsim.kernels.lucas import companion_records, lucas_table
from quadsim.methods import GD, GradientFlow, Momentum, Nesterov, _TwoStepMethod
from quadsim.problems import Quadratic, SpectralFrame, as_quadratic
from quadsim.results import Trajectory
from quadsim.rows import matrix_regression, method_frame

#: The per-axis regimes named by :func:`axis_regimes`.
REGIMES = ("converging", "oscillating", "diverging", "drifting", "frozen")


def check_method(method: object) -> _TwoStepMethod | GradientFlow:
    """Return `method` if it is a quadsim method spec, else raise a TypeError."""
    if not isinstance(method, (_TwoStepMethod, GradientFlow)):
        raise TypeError("`method` must be GD, Momentum, Nesterov, Preconditioned or "
                        f"GradientFlow; got {type(method).__name__}")
    return method


def companion_sequences(comp: np.ndarray, n: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed forms of ``s_n``, ``s_{n+1}`` and ``P_n = s_1 + … + s_n``.

    ``s`` is the Lucas sequence of the companion matrix ``[[τ, −δ], [1, 0]]``:
    ``s_0 = 0``, ``s_1 = 1``, ``s_{n+1} = τ s_n − δ s_{n−1}``; ``P_n`` is the response
    to a unit constant forcing. Evaluated by the kernels' own
    :func:`quadsim.kernels.lucas.lucas` (see its notes for the forms).

    Parameters
    ----------
    comp : ndarray, shape (6, d)
        The companions as rows ``(τ, δ, τ²/4 − δ, gap, 1 − δ, far_side)``, from
        :meth:`~quadsim.methods._TwoStepMethod.companion`: ``τ²/4 − δ`` computed in
        factored form (accurate near a double root), ``gap = 1 − τ + δ``, ``1 − δ`` and
        ``far_side = 1 + τ + δ`` from the method's parameters (accurate where a root
        nears ±1 and ``τ`` alone has lost the digits that ``λ^n`` needs for large ``n``).
    n : ndarray, shape (K,)
        Non-negative integer indices (any dtype).

    Returns
    -------
    s_n, s_next, forcing : ndarray, shape (K, d)
    """
    comp = np.ascontiguousarray(comp, dtype=np.float64)
    n = np.ascontiguousarray(n, dtype=np.float64)
    shape = (n.shape[0], comp.shape[1])
    s_n, s_next, forcing = np.empty(shape), np.empty(shape), np.empty(shape)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lucas_table(comp, n, s_n, s_next, forcing)
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


def lucas_trace_derivative(comp: np.ndarray, n: np.ndarray) -> np.ndarray:
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

    trace, det, quarter_discriminant = comp[0], comp[1], comp[2]
    _, s_next, _ = companion_sequences(comp, n)
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


def offset_start(frame: SpectralFrame, u0: np.ndarray) -> tuple[np.ndarray, bool]:
    """The start in the coordinates the closed forms and the eigenbasis kernel run in.

    Where the frame knows ``J* = min J`` (``frame.minimum``, a regression's) the offset
    ``e_0 = u_0 − u*``, on which every method is the homogeneous recurrence (``b̃ = 0``)
    and ``J = J* + ½ Σ a_j e_j²`` has no cancellation; else ``u_0`` itself (problems
    without a minimizer: drift, negative curvature; and plain quadratics).

    Returns
    -------
    start : ndarray, shape (d,)
    offset : bool
        Whether `start` is ``e_0``.
    """
    if frame.minimum is None:
        return u0, False
    u_star = frame.stationary_point
    assert u_star is not None
    return u0 - u_star, True


def _discrete_records(frame: SpectralFrame, method: _TwoStepMethod, u0: np.ndarray,
                      steps: np.ndarray, keep: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-axis closed form at `steps` (:func:`~quadsim.kernels.lucas.companion_records`).

    ``u_t = (s_{t+1} − δ s_t) u_0 − lr·b̃·P_t`` from ``u_{−1} = u_0``; where the frame
    knows ``J*`` the axes run as offsets ``e = u − u*`` (``b̃ = 0``, :func:`offset_start`).

    Returns
    -------
    records : ndarray, shape (K, d) (or (K, 0) when not `keep`)
        ``u_t``, or ``e_t`` when offset.
    loss : ndarray, shape (K,)
    offset : bool
    """
    start, offset = offset_start(frame, u0)
    if offset:
        forcing, b, c = np.zeros(frame.dim), np.zeros(frame.dim), float(frame.minimum or 0.0)
    else:
        forcing, b, c = method.lr * frame.b, frame.b, frame.c
    records = np.empty((steps.shape[0], frame.dim if keep else 0))
    loss = np.empty(steps.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        companion_records(method.companion(method.lr * frame.eigenvalues), forcing,
                          np.ascontiguousarray(start), frame.eigenvalues, b, c,
                          offset, steps, records, loss)
    return records, loss, offset


def _flow_closed_form(frame: SpectralFrame, start: np.ndarray, offset: bool,
                      times: np.ndarray) -> np.ndarray:
    a = frame.eigenvalues
    t = times[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if offset:  # e(t) = e^{−a t} e(0): no 1 − (1 − e^{−a t}) to cancel
            return np.exp(-a * t) * start
        elapsed = np.where(a == 0.0, t, -np.expm1(-a * t) / np.where(a == 0.0, 1.0, a))
        return start - (a * start + frame.b) * elapsed


def trajectory_from_eigen(frame: SpectralFrame, steps: np.ndarray, u: np.ndarray,
                          diverged_at: int | None = None, *, offset: bool = False,
                          loss: np.ndarray | None = None) -> Trajectory:
    """Map eigen-coordinates to a :class:`Trajectory`; non-finite records end the run.

    With ``offset`` the records are ``e = u − u*`` (see :func:`offset_start`) and the
    loss is ``J* + ½ Σ a e²``; else they are ``u`` and the loss ``Σ (½ a u² + b̃ u) + c``
    (computed here unless the caller's kernel has: `loss`). The records, which the
    caller gives up, are mapped to ``w`` in place where that is cheaper
    (:meth:`~quadsim.problems.SpectralFrame.from_eigen`). With ``diverged_at`` None, the
    first record with a non-finite coordinate marks divergence, and it and every later
    record are set to NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if offset:
            loss = frame.value_from_offset(u) if loss is None else loss
            u += frame.stationary_point
        elif loss is None:
            loss = frame.value(u)
        w = frame.from_eigen(u, overwrite=True)
    if diverged_at is None:
        bad = ~np.all(np.isfinite(w.reshape(w.shape[0], -1)), axis=1)
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
    w0 : array_like, shape (d,), or (m, d) for a regression with targets of shape (n, m)
        Starting point (with zero initial velocity for the momentum methods).
    steps : int or array_like
        An int ``T`` records steps ``0..T``; an array gives the increasing step
        indices to record. For :class:`GradientFlow`, float times: a number ``T``
        records ``linspace(0, T, 101)``.

    Returns
    -------
    Trajectory
        ``diverged_at`` is the first recorded step whose value overflows. For matrix
        weights ``w`` has shape (K, m, d) and ``loss`` is summed over the rows.

    See Also
    --------
    simulate : the same trajectory by iterating the update.

    Notes
    -----
    Exact for singular axes (``a = 0``: linear drift ``u_t = u_0 − t·lr·b̃``, or frozen)
    and for negative curvature (escape from a saddle). Step ``10⁹`` costs what step
    ``10`` costs. A :class:`~quadsim.problems.LinearRegression` takes ``a``, the axes
    and ``J*`` from the SVD of X, and its axes run as offsets ``e = u − u*`` with the
    loss ``J* + ½ Σ a_j e_j²``, a sum of non-negative terms (see :func:`offset_start`).
    With matrix weights the ``m`` rows are ``m·d`` independent axes of one
    :class:`~quadsim.problems.StackedFrame` (:mod:`quadsim.rows`).
    A method with a learning-rate schedule or a moving average (``ema``, recorded in
    ``Trajectory.ema``) takes the product of the per-axis transitions over each run of
    constant lr, by doubling (:mod:`quadsim.axes`): O(runs·log T) per axis, so O(T·d)
    for a schedule that changes every step.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, Quadratic, closed_form
    >>> q = Quadratic(np.diag([1.0, 0.0]), b=[-1.0, 1.0])
    >>> closed_form(q, GD(lr=0.5), [0.0, 0.0], [0, 1, 10**9]).w[:, 1].tolist()
    [0.0, -0.5, -500000000.0]
    """
    method = check_method(method)
    frame, w0 = method_frame(problem, method, w0)
    start, offset = offset_start(frame, frame.to_eigen(w0))
    if isinstance(method, GradientFlow):
        times = as_times(steps)
        return trajectory_from_eigen(frame, times, _flow_closed_form(frame, start, offset, times),
                                     offset=offset)
    indices = as_step_indices(steps, record_size=np.size(w0) + 1)
    if method.schedule is not None or method.ema is not None:
        return _transition_product(frame, method, frame.to_eigen(w0), indices)
    records, loss, offset = _discrete_records(frame, method, frame.to_eigen(w0), indices, True)
    return trajectory_from_eigen(frame, indices, records, offset=offset, loss=loss)


def _transition_product(frame: SpectralFrame, method: _TwoStepMethod, u0: np.ndarray,
                        steps: np.ndarray) -> Trajectory:
    """The noise-free run with a schedule or a moving average, from :mod:`quadsim.axes`."""
    silent = np.zeros(frame.dim)
    centre, _, average_centre, _ = axis_moments(frame, method, silent,
                                                np.ascontiguousarray(u0), steps)
    u, loss, _ = loss_moments(frame, centre, np.zeros_like(centre), False)
    ema = ema_loss = None
    if average_centre is not None:
        ema_u, ema_loss, _ = loss_moments(frame, average_centre, np.zeros_like(centre), False)
        ema = frame.from_eigen(ema_u)
    return Trajectory(steps, frame.from_eigen(u), loss, first_bad_step(steps, loss, ema_loss),
                      ema=ema, ema_loss=ema_loss)


def closed_form_loss(problem: object, method: object, w0: object, steps: object) -> np.ndarray:
    """The loss curve ``J(w_t)`` alone, from the closed form, at the recorded steps.

    A Numba kernel evaluates, per axis, ``u_t = (s_{t+1} − δ s_t) u_0 − lr·b̃·P_t`` (for
    GD ``s_t = r^{t−1}``, ``r = 1 − lr·a``) and sums ``½ a u_t² + b̃ u_t``: O(d) per record
    whatever ``t`` is, a few multiply-adds per axis between consecutive records, and no
    mapping back to ``w`` (:func:`~quadsim.kernels.lucas.companion_records`). For a
    regression it runs on the offsets ``e = u − u*`` (``b̃ = 0``) and sums
    ``J* + ½ Σ a e_t²`` (see :func:`offset_start`). Schedules, moving averages and
    gradient flow take ``closed_form(...).loss``.

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
    method = check_method(method)
    if isinstance(method, GradientFlow) or method.schedule is not None \
            or method.ema is not None:
        return closed_form(problem, method, w0, steps).loss
    frame, w0 = method_frame(problem, method, w0)
    indices = as_step_indices(steps, record_size=1)
    return _discrete_records(frame, method, frame.to_eigen(w0), indices, False)[1]


def shared_quadratic(problem: object) -> Quadratic:
    """The problem's quadratic; for matrix weights the curvature every row shares.

    The spectral tools below depend on the curvatures (and on which null axes drift,
    which in a regression none does), so every row of a matrix-valued regression has
    the same answer: its :attr:`~quadsim.LinearRegression.shared_quadratic`.
    """
    regression = matrix_regression(problem)
    return as_quadratic(problem) if regression is None else regression.shared_quadratic


def _axes(problem: object, method: object
          ) -> tuple[SpectralFrame, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """The method's axes and their companion ``(τ, δ, τ²/4 − δ)`` (None for flow)."""
    quadratic = shared_quadratic(problem)
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
    quadratic = shared_quadratic(problem)
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
    quadratic: Quadratic = shared_quadratic(problem)
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

