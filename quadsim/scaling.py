"""Batch size, learning rate and horizon: the noisy quadratic model's questions, exactly.

Everything here is read off the exact expected loss (:func:`~quadsim.moments`), never
off Monte Carlo:

- :func:`steps_to_target`: the first step at which ``E[J(w_t)]`` reaches a target;
- :func:`method_grid` and :func:`scan_steps_to_target`: the same for many candidate
  hyperparameters at once (a Numba kernel, in parallel over candidates);
- :func:`batch_size_scaling`: the best candidate and its steps for each batch size, the
  deterministic (infinite-batch) limit, and the critical batch size.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_count, as_real, as_vector
from quadsim.axes import minimum
from quadsim.kernels.scaling import steps_to_target_grid
from quadsim.methods import Preconditioned, _TwoStepMethod
from quadsim.moments import check_discrete, moments
from quadsim.noise import NoisyQuadratic, as_noise_model
from quadsim.problems import SpectralFrame, as_quadratic
from quadsim.theory import axis_spectral_radius, shared_quadratic

__all__ = [
    "BatchScaling",
    "batch_size_scaling",
    "method_grid",
    "scan_steps_to_target",
    "steps_to_target",
]

#: The horizon searched when none is given: about 2^30 steps, 30 doublings.
DEFAULT_MAX_STEPS = 10**9

#: The expected loss has settled (see ``_settled``) when the slowest axis's transient has
#: decayed below this fraction, and three doubling probes (t, 2t, 4t) agree to this
#: fraction of their distance to the target.
SETTLED_RTOL = 1e-12


def method_grid(method: type, **axes: object) -> list[_TwoStepMethod]:
    """Every combination of the given hyperparameter values, as method specs.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import Momentum
    >>> from quadsim.scaling import method_grid
    >>> grid = method_grid(Momentum, lr=np.logspace(-3, 0, 4), beta=[0.5, 0.9])
    >>> len(grid), grid[1]
    (8, Momentum(lr=0.001, beta=0.9))
    """
    if not (isinstance(method, type) and issubclass(method, _TwoStepMethod)):
        raise TypeError("`method` must be a discrete method class such as GD or Momentum; "
                        f"got {method!r}")
    names = list(axes)
    values = []
    for name in names:
        column = axes[name]
        column = [column] if isinstance(column, np.ndarray) and column.ndim > 1 else column
        if not isinstance(column, (Sequence, np.ndarray)) or len(column) == 0:
            raise ValueError(f"grid axis `{name}` must be a non-empty sequence of values")
        values.append(list(column))
    return [method(**dict(zip(names, combination, strict=True)))
            for combination in itertools.product(*values)]


def _check_target(target: object) -> float:
    return as_real(target, "target")


def _check_max_steps(max_steps: object) -> int:
    count = as_count(max_steps, "max_steps")
    if count == 0:
        raise ValueError("`max_steps` must be a positive number of steps; got 0")
    return count


@dataclass(frozen=True, eq=False)
class _TargetAxes:
    """A frame's axes grouped for :mod:`quadsim.kernels.scaling`.

    Axes of equal curvature and noise share a row: ``weight`` counts them and ``e0`` is
    their root-mean-square start deviation from the minimizer.
    """

    a: np.ndarray
    e0: np.ndarray
    noise: np.ndarray
    weight: np.ndarray
    floor: float


def _target_axes(frame: SpectralFrame, noise: np.ndarray, w0: np.ndarray) -> _TargetAxes | None:
    """Grouped axes, or None where the fast path does not apply (a drifting axis)."""
    u_star = frame.stationary_point
    if u_star is None:
        return None
    _, floor = minimum(frame)
    a = frame.eigenvalues
    e0_squared = (frame.to_eigen(w0) - u_star) ** 2
    moving = a != 0.0
    keys = np.stack([a[moving], noise[moving]], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    weight = np.bincount(inverse, minlength=unique.shape[0]).astype(np.float64)
    e0 = np.sqrt(np.bincount(inverse, weights=e0_squared[moving],
                             minlength=unique.shape[0]) / weight)
    return _TargetAxes(np.ascontiguousarray(unique[:, 0]), e0,
                       np.ascontiguousarray(unique[:, 1]), weight, floor)


def _fast_row(method: _TwoStepMethod, ema: bool, noise_scale: float) -> np.ndarray | None:
    """The kernel's parameter row for `method`, or None if it needs the general path."""
    if not method.constant_lr:
        return None
    plain = method.momentum == 0.0 and method.lookahead == 0.0
    if ema and not plain:
        return None
    low, high = method.double_roots
    rho = method.ema if ema and method.ema is not None else -1.0
    return np.array([method.lr, method.momentum, method.lookahead, low, high, rho,
                     noise_scale])


def _general_steps(problem: object, method: _TwoStepMethod, target: float, w0: np.ndarray,
                   ema: bool, max_steps: int) -> int:
    """Doubling and bisection on :func:`moments`, for what the kernel does not cover.

    The doubling gives up (−1) when the expected loss is not finite, or when it has
    settled above the target (:func:`_settled`). Without that a step-by-step recursion
    (finite data, online SGD) would iterate up to `max_steps` before answering.
    """
    slowest = _slowest_rate(problem, method)

    def loss(t: int) -> float:
        exact = moments(problem, method, w0, [t])
        value = exact.ema_loss if ema else exact.loss
        assert value is not None
        return float(value[0])

    if loss(0) <= target:
        return 0
    low, high = 0, 1
    probes: list[float] = []
    while not (value := loss(high)) <= target:
        probes = [*probes[-2:], value]
        if not np.isfinite(value) or high == max_steps or (
                len(probes) == 3 and _settled(probes, target, slowest, high // 4)):
            return -1
        low = high
        high = min(2 * high, max_steps)
    while high - low > 1:
        middle = low + (high - low) // 2
        if loss(middle) <= target:
            high = middle
        else:
            low = middle
    return high


def _slowest_rate(problem: object, method: _TwoStepMethod) -> float | None:
    """The largest per-axis spectral radius of the mean's recursion (axes with ``a ≠ 0``).

    None for a schedule: its learning rate may still change after any probe.
    """
    if not method.constant_lr:
        return None
    a = method.frame(shared_quadratic(problem)).eigenvalues
    radius = axis_spectral_radius(problem, method)[a != 0.0]
    return float(radius.max()) if radius.size else 0.0


def _settled(probes: list[float], target: float, slowest: float | None, start: int) -> bool:
    """Whether the expected loss has reached its limit, above `target`.

    All three must hold: the learning rate is constant (`slowest` not None); the slowest
    axis's transient, ``slowest^(2·start)`` relative to where it began, is below
    :data:`SETTLED_RTOL` at the first of the three doubling probes (``start``,
    ``2·start``, ``4·start``), so no slow axis is still on its way down; and the three
    probes agree to :data:`SETTLED_RTOL` of their distance to the target.
    """
    if slowest is None or slowest >= 1.0:
        return False
    if 2.0 * start * np.log(max(slowest, 1e-300)) > np.log(SETTLED_RTOL):
        return False
    return max(probes) - min(probes) <= SETTLED_RTOL * (probes[-1] - target)


def scan_steps_to_target(problem: object, methods: Sequence[object], target: float,
                         w0: object, *, ema: bool = False, max_steps: int = DEFAULT_MAX_STEPS,
                         guesses: np.ndarray | None = None) -> np.ndarray:
    """:func:`steps_to_target` of each candidate method, shape (M,), −1 where never.

    Constant-lr GD, heavy ball, Nesterov and preconditioned GD (and GD's moving average)
    on Gaussian noise take a Numba kernel that searches all candidates in parallel,
    O(d·log T) each, with axes of equal curvature and noise grouped; the rest take the
    same search on :func:`moments`. ``guesses`` (shape (M,), 0 for none) are answers
    of a nearby problem (the previous batch size, say): where the expected loss is
    known to fall monotonically (plain SGD starting above its noise floor on every
    axis) the search starts there, with the same result and fewer evaluations.
    """
    quadratic = as_quadratic(problem)
    w0 = as_vector(w0, "w0", quadratic.dim)
    target = _check_target(target)
    max_steps = _check_max_steps(max_steps)
    candidates = [check_discrete(method) for method in methods]
    if ema and any(method.ema is None for method in candidates):
        raise ValueError("`ema=True` targets the moving average's loss: every method needs "
                         "`ema`")
    model = as_noise_model(problem)
    gaussian = model is None or isinstance(model, NoisyQuadratic)
    noise_scale = 1.0 / model.batch_size if isinstance(model, NoisyQuadratic) else 1.0
    out = np.full(len(candidates), -1, dtype=np.int64)
    fast: dict[int, list[int]] = {}
    frames: dict[int, SpectralFrame] = {}
    for m, method in enumerate(candidates):
        row = _fast_row(method, ema, noise_scale) if gaussian else None
        if row is None:
            out[m] = _general_steps(problem, method, target, w0, ema, max_steps)
            continue
        frame = method.frame(quadratic)
        key = id(method.P) if isinstance(method, Preconditioned) else 0
        frames.setdefault(key, frame)
        fast.setdefault(key, []).append(m)
    for key, members in fast.items():
        frame = frames[key]
        unit_noise = (model.with_batch_size(1).axis_variances(frame)
                      if isinstance(model, NoisyQuadratic) else np.zeros(frame.dim))
        axes = _target_axes(frame, unit_noise, w0)
        if axes is None:
            for m in members:
                out[m] = _general_steps(problem, candidates[m], target, w0, ema, max_steps)
            continue
        excess = target - axes.floor
        if excess < 0.0:
            continue  # below the minimum: never
        rows = [_fast_row(candidates[m], ema, noise_scale) for m in members]
        params = np.stack([row for row in rows if row is not None])
        found = np.empty(len(members), dtype=np.int64)
        starts = (np.zeros(len(members), dtype=np.int64) if guesses is None
                  else np.ascontiguousarray(np.maximum(guesses[members], 0), dtype=np.int64))
        with np.errstate(over="ignore", invalid="ignore"):
            steps_to_target_grid(axes.a, axes.e0, axes.noise, axes.weight, params, excess,
                                 max_steps, starts, found)
        out[members] = found
    return out


def steps_to_target(problem: object, method: object, target: float, w0: object, *,
                    ema: bool = False, max_steps: int = DEFAULT_MAX_STEPS) -> int | None:
    """The first step ``t`` at which the exact expected loss ``E[J(w_t)] <= target``.

    Parameters
    ----------
    problem : NoisyQuadratic, Minibatch, OnlineRegression, Quadratic or LinearRegression
    method : GD, Momentum, Nesterov or Preconditioned
    target : float
        The loss to reach.
    w0 : array_like, shape (d,)
    ema : bool
        Count the moving average's loss ``E[J(w̃_t)]`` instead (the method needs ``ema``).
    max_steps : int
        The horizon searched.

    Returns
    -------
    int or None
        None when the target is not reached within `max_steps` (a noise floor above
        it, a diverging run). The searches stop once the expected loss is not finite,
        or (constant lr) once it has settled above the target: every axis's transient
        decayed below 1e-12 and three doubling probes equal to 1e-12 of their distance
        to the target. Models whose moments are iterated step by step (finite data,
        online SGD) pay O(t) per probe, so a schedule, whose loss can always still
        move, is searched to `max_steps`: give a smaller one there.

    Notes
    -----
    The search doubles ``t`` until the expected loss is at or below the target, then
    bisects between the last two probes: O(log T) exact evaluations. It returns the
    first step of the crossing it brackets, which is the first step overall when the
    expected loss falls through the target once — the usual case, a loss decreasing
    toward a noise floor below the target. (An expected loss that dips below the target
    between two probes and rises again before the later one can be missed.)

    The NQM notebook counts the last step whose loss is still above the target: its
    count is this one minus one.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, NoisyQuadratic, Quadratic
    >>> from quadsim.scaling import steps_to_target
    >>> nqm = NoisyQuadratic(Quadratic(np.array([1.0, 0.01])), batch_size=64)
    >>> steps_to_target(nqm, GD(0.5), 0.005, [1.0, 1.0])
    74
    >>> steps_to_target(nqm, GD(1.99), 1e-4, [1.0, 1.0]) is None   # floor above 1e-4
    True
    """
    steps = int(scan_steps_to_target(problem, [method], target, w0, ema=ema,
                                     max_steps=max_steps)[0])
    return None if steps < 0 else steps


@dataclass(frozen=True, eq=False)
class BatchScaling:
    """Steps to a target against batch size, each batch size with its best candidate.

    Attributes
    ----------
    batch_sizes : ndarray of int64, shape (n,)
    methods : tuple of method specs, length M
        The candidates searched at every batch size.
    grid_steps : ndarray of int64, shape (n, M)
        Steps to target of every candidate (−1: never).
    steps : ndarray of int64, shape (n,)
        The fewest steps at each batch size (−1: no candidate reaches the target).
    best : tuple
        The candidate that takes them (None where none reaches it).
    deterministic_steps : int or None
        The infinite-batch limit: the fewest steps of the candidates without noise.
    """

    batch_sizes: np.ndarray = field(repr=False)
    methods: tuple = field(repr=False)
    grid_steps: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    best: tuple = field(repr=False)
    deterministic_steps: int | None = None

    @property
    def best_lrs(self) -> np.ndarray:
        """The best candidate's learning rate at each batch size (NaN where none)."""
        return np.array([np.nan if m is None else m.lr for m in self.best])

    @property
    def critical_batch_size(self) -> int | None:
        """The smallest batch size within twice the infinite-batch steps.

        With ``S(B) ≈ S_min (1 + B*/B)`` (McCandlish et al., 2018) this is ``B*``: below
        it doubling the batch nearly halves the steps (perfect scaling), above it the
        returns diminish.
        """
        if self.deterministic_steps is None:
            return None
        within = (self.steps >= 0) & (self.steps <= 2 * self.deterministic_steps)
        return int(self.batch_sizes[np.argmax(within)]) if np.any(within) else None


def batch_size_scaling(model: NoisyQuadratic, methods: Sequence[object], target: float,
                       w0: object, batch_sizes: object, *, ema: bool = False,
                       max_steps: int = DEFAULT_MAX_STEPS) -> BatchScaling:
    """The best of `methods` and its steps to `target` for each batch size.

    Parameters
    ----------
    model : NoisyQuadratic
        Its batch size is replaced by each of `batch_sizes` in turn.
    methods : sequence of method specs
        The candidates (e.g. :func:`method_grid`).
    target, w0, ema, max_steps
        As in :func:`steps_to_target`.
    batch_sizes : array_like of int
        Increasing positive batch sizes.

    Returns
    -------
    BatchScaling
    """
    if not isinstance(model, NoisyQuadratic):
        raise TypeError(f"`model` must be a NoisyQuadratic; got {type(model).__name__}")
    sizes = np.asarray(batch_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer) \
            or np.any(sizes <= 0) or np.any(np.diff(sizes) <= 0):
        raise ValueError("`batch_sizes` must be increasing positive integers; got "
                         f"{batch_sizes!r}")
    candidates = tuple(check_discrete(method) for method in methods)
    rows: list[np.ndarray] = []
    for B in sizes:
        # Perfect scaling halves the steps per doubling of B: a good place to start.
        guesses = None if not rows else rows[-1] // 2
        rows.append(scan_steps_to_target(model.with_batch_size(int(B)), candidates, target,
                                         w0, ema=ema, max_steps=max_steps, guesses=guesses))
    grid = np.stack(rows)
    reached = np.where(grid >= 0, grid, np.iinfo(np.int64).max)
    best_index = np.argmin(reached, axis=1)
    steps = np.where(grid[np.arange(sizes.size), best_index] >= 0,
                     grid[np.arange(sizes.size), best_index], -1)
    best = tuple(candidates[i] if s >= 0 else None for i, s in zip(best_index, steps,
                                                                    strict=True))
    noiseless = scan_steps_to_target(model.quadratic, candidates, target, w0, ema=ema,
                                     max_steps=max_steps)
    deterministic = int(noiseless[noiseless >= 0].min()) if np.any(noiseless >= 0) else None
    return BatchScaling(sizes.astype(np.int64), candidates, grid, steps, best, deterministic)

