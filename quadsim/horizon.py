"""Short-horizon bias: greedy learning rates against schedules tuned for the whole run.

Wu, Ren, Liao and Grosse (2018) showed on the noisy quadratic model that choosing each
step's learning rate to minimise the *next* expected loss decays it far too fast: the
greedy schedule wins the first steps and loses the long run. Here every schedule is
scored by the exact expected loss (:func:`~quadsim.moments`):

- :func:`greedy_schedule`: the one-step-optimal lr at every step, in closed form;
- :func:`best_constant_lr`: the constant lr that minimises ``E[J(w_T)]``;
- :func:`tune_piecewise_schedule`: the best decaying piecewise-constant schedule on
  given boundaries (step decay), for ``E[J(w_T)]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from quadsim._validation import as_count, as_positive, as_vector
from quadsim.kernels.moments import greedy_rates
from quadsim.methods import _TwoStepMethod
from quadsim.moments import check_discrete, moments
from quadsim.noise import NoisyQuadratic
from quadsim.schedules import per_step, piecewise_constant
from quadsim.theory import max_stable_lr

__all__ = ["ScheduleSearch", "best_constant_lr", "greedy_schedule", "tune_piecewise_schedule"]

#: Points of the log-spaced lr scan that brackets the minimum before it is refined.
SCAN_POINTS = 64


@dataclass(frozen=True, eq=False)
class ScheduleSearch:
    """A tuned or greedy schedule and its exact expected loss.

    Attributes
    ----------
    method : method spec
        The method with the schedule (a constant lr has none).
    rates : ndarray, shape (T,)
        ``lr_t`` for ``t < T``.
    loss : ndarray, shape (T + 1,)
        ``E[J(w_t)]`` for ``t = 0..T``.
    """

    method: _TwoStepMethod
    rates: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)

    @property
    def final_loss(self) -> float:
        """``E[J(w_T)]``."""
        return float(self.loss[-1])


def _check(model: object, method: object, w0: object, horizon: object
           ) -> tuple[NoisyQuadratic, _TwoStepMethod, np.ndarray, int]:
    if not isinstance(model, NoisyQuadratic):
        raise TypeError(f"`model` must be a NoisyQuadratic; got {type(model).__name__}")
    method = check_discrete(method)
    if method.schedule is not None or method.ema is not None:
        raise ValueError("`method` gives the momentum and preconditioner only: drop its "
                         "`schedule` and `ema`")
    T = as_count(horizon, "horizon")
    if T == 0:
        raise ValueError("`horizon` must be a positive number of steps; got 0")
    return model, method, as_vector(w0, "w0", model.dim), T


def _search(model: NoisyQuadratic, method: _TwoStepMethod, w0: np.ndarray, T: int
            ) -> ScheduleSearch:
    rates = method.learning_rates(T)
    rates = np.full(T, rates[0]) if rates.shape[0] == 1 else rates
    return ScheduleSearch(method, rates, moments(model, method, w0, T).loss)


def greedy_schedule(model: NoisyQuadratic, method: object, w0: object, horizon: int
                    ) -> ScheduleSearch:
    """The greedy schedule: each ``lr_t`` minimises ``E[J(w_{t+1})]`` given the past.

    Parameters
    ----------
    model : NoisyQuadratic
    method : GD, Momentum, Nesterov or Preconditioned
        Its momentum and preconditioner are kept; its lr is replaced step by step.
    w0 : array_like, shape (d,)
    horizon : int
        ``T``.

    Returns
    -------
    ScheduleSearch
        ``method`` carries the greedy rates as a per-step schedule.

    Notes
    -----
    Per axis of the method's frame the second moments of ``(e_t, e_{t−1})`` (``e`` the
    deviation from the minimizer) are exact; ``E[J(w_{t+1})]`` is a quadratic in
    ``lr_t``, minimised in closed form (:func:`quadsim.kernels.moments.greedy_rates`).
    """
    model, method, w0, T = _check(model, method, w0, horizon)
    frame = method.frame(model.quadratic)
    u_star = frame.stationary_point
    if u_star is None:
        raise ValueError("the greedy schedule needs a minimizer; the problem has a drifting "
                         "axis")
    rates, excess = np.empty(T), np.empty(T + 1)
    greedy_rates(frame.eigenvalues, np.ascontiguousarray(frame.to_eigen(w0) - u_star),
                 np.ascontiguousarray(model.axis_variances(frame)), method.momentum,
                 method.lookahead, T, rates, excess)
    if not np.all(rates > 0.0):
        raise ValueError("the greedy learning rate reached 0: the iterate is at the minimizer")
    greedy = dataclasses.replace(method, lr=float(rates[0]),
                                 schedule=per_step(rates / rates[0]))
    return _search(model, greedy, w0, T)


def best_constant_lr(model: NoisyQuadratic, method: object, w0: object, horizon: int, *,
                     lr_range: tuple[float, float] | None = None) -> ScheduleSearch:
    """The constant learning rate that minimises ``E[J(w_T)]``.

    A log-spaced scan of :data:`SCAN_POINTS` lrs (by default from ``10⁻⁶·edge`` to the
    stability edge) brackets the minimum; a bounded scalar search on ``log lr`` refines
    it, each evaluation exact and O(d) (:func:`~quadsim.moments`).
    """
    model, method, w0, T = _check(model, method, w0, horizon)
    if lr_range is None:
        edge = max_stable_lr(model.quadratic, method)
        lr_range = (1e-6 * edge, edge * (1.0 - 1e-9))
    low, high = (as_positive(x, "lr_range") for x in lr_range)
    if not low < high:
        raise ValueError(f"`lr_range` must be (low, high) with low < high; got {lr_range!r}")

    def final(log_lr: float) -> float:
        value = moments(model, dataclasses.replace(method, lr=float(np.exp(log_lr))), w0,
                        [T]).loss[0]
        return float(value) if np.isfinite(value) else np.inf

    grid = np.linspace(np.log(low), np.log(high), SCAN_POINTS)
    values = np.array([final(x) for x in grid])
    k = int(np.argmin(values))
    bracket = (grid[max(k - 1, 0)], grid[min(k + 1, SCAN_POINTS - 1)])
    refined = scipy.optimize.minimize_scalar(final, bounds=bracket, method="bounded",
                                             options={"xatol": 1e-10})
    best = float(np.exp(refined.x if refined.fun <= values[k] else grid[k]))
    return _search(model, dataclasses.replace(method, lr=best), w0, T)


def tune_piecewise_schedule(model: NoisyQuadratic, method: object, w0: object, horizon: int,
                            boundaries: object) -> ScheduleSearch:
    """The decaying piecewise-constant schedule on `boundaries` minimising ``E[J(w_T)]``.

    The first learning rate (inside the stability edge) and each piece's decay factor
    (``<= 1``) are optimised together by Nelder–Mead on log scale from the best constant
    lr; each evaluation is exact, O(pieces·d·log T) (the product of the per-piece
    transitions by doubling).

    Parameters
    ----------
    boundaries : array_like of int
        Strictly increasing steps in ``(0, T)`` where the lr may change.
    """
    model, method, w0, T = _check(model, method, w0, horizon)
    edges = np.asarray(boundaries)
    if edges.ndim != 1 or edges.size == 0 or not np.issubdtype(edges.dtype, np.integer) \
            or edges[0] <= 0 or edges[-1] >= T or np.any(np.diff(edges) <= 0):
        raise ValueError("`boundaries` must be strictly increasing steps inside (0, horizon); "
                         f"got {boundaries!r}")
    start = best_constant_lr(model, method, w0, T).method.lr
    edge = max_stable_lr(model.quadratic, method) * (1.0 - 1e-9)

    def scheduled(x: np.ndarray) -> _TwoStepMethod:
        # x = (log lr_0, log of each piece's ratio to the one before, <= 0).
        factors = np.exp(np.concatenate(([0.0], np.cumsum(x[1:]))))
        return dataclasses.replace(method, lr=float(np.exp(x[0])),
                                   schedule=piecewise_constant(edges, factors))

    def final(x: np.ndarray) -> float:
        value = moments(model, scheduled(x), w0, [T]).loss[0]
        return float(value) if np.isfinite(value) else np.inf

    # Decaying schedules, inside the stability interval: the linear model would otherwise
    # reward blowing the stiff axes up in one piece and contracting them in the next.
    bounds = [(np.log(1e-6 * edge), np.log(edge))] + [(np.log(1e-6), 0.0)] * edges.size
    x0 = np.concatenate(([np.log(start)], np.zeros(edges.size)))
    result = scipy.optimize.minimize(final, x0, method="Nelder-Mead", bounds=bounds,
                                     options={"xatol": 1e-6, "fatol": 1e-14, "maxiter": 4000})
    return _search(model, scheduled(result.x), w0, T)
