"""Learning-rate schedules: per-step multipliers of a method's base ``lr``.

A method with a schedule takes the step ``w_t → w_{t+1}`` with ``lr_t = lr · f(t)``
(``t = 0, 1, ...``); a constant lr is the schedule ``f ≡ 1``. Simulations use ``lr_t``
step by step; closed forms and exact moments take the product of the per-step
transitions over each run of equal ``lr_t`` (see :func:`constant_runs`), so a
piecewise-constant schedule costs O(runs·d) and a smooth one O(T·d) per horizon ``T``.

Examples
--------
>>> from quadsim import GD, schedules
>>> warm = schedules.linear_warmup(4, then=schedules.cosine_decay(8, final=0.1))
>>> GD(0.5, schedule=warm).learning_rates(6).round(3).tolist()
[0.125, 0.25, 0.375, 0.5, 0.5, 0.483]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_count, as_positive, as_vector

__all__ = [
    "Schedule",
    "constant_runs",
    "cosine_decay",
    "linear_warmup",
    "per_step",
    "piecewise_constant",
    "step_decay",
]


@dataclass(frozen=True, eq=False)
class Schedule:
    """Multipliers ``f(t)`` of the base learning rate, one per step.

    Build one with :func:`per_step`, :func:`piecewise_constant`, :func:`step_decay`,
    :func:`linear_warmup` or :func:`cosine_decay`, and pass it to a method as
    ``schedule=``.

    Attributes
    ----------
    description : str
        How the schedule was made (its repr).
    length : int or None
        The number of steps it defines (None: every step).
    """

    description: str
    length: int | None
    _rule: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    def __repr__(self) -> str:
        return self.description

    def factors(self, steps: int) -> np.ndarray:
        """``f(0), ..., f(steps − 1)``, the multipliers of the first `steps` steps.

        Raises
        ------
        ValueError
            If the schedule defines fewer than `steps` steps.
        """
        steps = as_count(steps, "steps")
        if self.length is not None and steps > self.length:
            raise ValueError(f"the schedule {self.description} defines {self.length} steps; "
                             f"the run takes {steps}: give a schedule at least that long")
        return np.ascontiguousarray(self._rule(np.arange(steps, dtype=np.float64)),
                                    dtype=np.float64)


def per_step(factors: object) -> Schedule:
    """The schedule ``f(t) = factors[t]``, defined for ``len(factors)`` steps.

    Parameters
    ----------
    factors : array_like, shape (T,)
        Positive multipliers (a greedy or tuned schedule, say).
    """
    values = as_vector(factors, "factors")
    if values.size == 0 or np.any(values <= 0.0):
        smallest = float(values.min()) if values.size else float("nan")
        raise ValueError("`factors` must be a non-empty array of positive multipliers; its "
                         f"smallest entry is {smallest:.3e}")
    values = values.copy()
    return Schedule(f"per_step(<{values.size} factors>)", values.size,
                    lambda t: values[t.astype(np.int64)])


def piecewise_constant(boundaries: object, values: object) -> Schedule:
    """``f(t) = values[i]`` for ``boundaries[i−1] <= t < boundaries[i]``.

    Parameters
    ----------
    boundaries : array_like of int, shape (m,)
        Strictly increasing positive step indices where the value changes.
    values : array_like, shape (m + 1,)
        Positive multipliers; the last one holds from ``boundaries[-1]`` on.
    """
    edges = np.asarray(boundaries)
    if edges.ndim != 1 or (edges.size and (not np.issubdtype(edges.dtype, np.integer)
                                           or edges[0] <= 0 or np.any(np.diff(edges) <= 0))):
        raise ValueError("`boundaries` must be strictly increasing positive step indices; "
                         f"got {boundaries!r}")
    levels = as_vector(values, "values", edges.size + 1)
    if np.any(levels <= 0.0):
        raise ValueError(f"`values` must be positive; got {levels.tolist()}")
    edges = edges.astype(np.int64)
    return Schedule(f"piecewise_constant({edges.tolist()}, {levels.tolist()})", None,
                    lambda t: levels[np.searchsorted(edges, t, side="right")])


def step_decay(every: int, factor: float) -> Schedule:
    """``f(t) = factor ** ⌊t / every⌋``: multiply the lr by `factor` every `every` steps."""
    period = as_count(every, "every")
    if period == 0:
        raise ValueError("`every` must be a positive number of steps; got 0")
    rate = as_positive(factor, "factor")
    return Schedule(f"step_decay({period}, {rate})", None,
                    lambda t: rate ** np.floor(t / period))


def linear_warmup(steps: int, then: Schedule | None = None) -> Schedule:
    """``f(t) = (t + 1)/steps`` for ``t < steps``, then ``then(t − steps)`` (1 if None).

    The first step already moves (``f(0) = 1/steps``); the full rate is reached at step
    ``steps − 1``.
    """
    warm = as_count(steps, "steps")
    if warm == 0:
        raise ValueError("`steps` must be a positive number of warm-up steps; got 0")
    if then is not None and not isinstance(then, Schedule):
        raise TypeError(f"`then` must be a Schedule or None; got {type(then).__name__}")
    after = then
    length = None if after is None or after.length is None else warm + after.length

    def rule(t: np.ndarray) -> np.ndarray:
        out = np.minimum((t + 1.0) / warm, 1.0)
        later = t >= warm
        if after is not None and np.any(later):
            out[later] = after._rule(t[later] - warm)
        return out

    return Schedule(f"linear_warmup({warm}, then={after!r})", length, rule)


def cosine_decay(horizon: int, final: float = 0.0) -> Schedule:
    """``f(t) = final + (1 − final)(1 + cos(π t/horizon))/2`` for ``t < horizon``, then `final`.

    With ``final = 0`` the run stops moving at step `horizon`.
    """
    span = as_count(horizon, "horizon")
    if span == 0:
        raise ValueError("`horizon` must be a positive number of steps; got 0")
    floor = float(final)
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"`final` must lie in [0, 1]; got {final!r}")
    return Schedule(f"cosine_decay({span}, final={floor})", None,
                    lambda t: floor + (1.0 - floor) * 0.5
                    * (1.0 + np.cos(np.pi * np.minimum(t, span) / span)))


def constant_runs(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split per-step rates into maximal runs of equal values.

    Returns
    -------
    starts : ndarray of int64, shape (m + 1,)
        Run ``i`` covers steps ``starts[i] <= t < starts[i + 1]``.
    values : ndarray, shape (m,)
        The rate of each run.
    """
    change = np.flatnonzero(np.diff(rates) != 0.0) + 1
    starts = np.concatenate(([0], change, [rates.shape[0]])).astype(np.int64)
    return starts, np.ascontiguousarray(rates[starts[:-1]])
