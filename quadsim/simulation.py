"""Simulation: iterate a method on a problem with a Numba kernel."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from quadsim._validation import as_choice, as_step_indices, as_times
from quadsim.ensembles import simulate_ensemble
from quadsim.kernels._blas import symv_plan
from quadsim.kernels.trajectory import gd_raw, two_step_eigen, two_step_raw
from quadsim.methods import GD, GradientFlow, Preconditioned, _TwoStepMethod
from quadsim.noise import Minibatch, NoisyQuadratic, as_noise_model
from quadsim.problems import LinearRegression, Quadratic, as_quadratic
from quadsim.results import Ensemble, Trajectory
from quadsim.rows import as_start, matrix_regression, method_frame, row_targets, simulate_rows_raw
from quadsim.theory import check_method, closed_form, offset_start, trajectory_from_eigen

_NO_PRECONDITIONER = np.empty((0, 0))


def simulate(problem: object, method: object, w0: object, steps: object, *,
             basis: str = "raw", runs: object = None, rng: object = None
             ) -> Trajectory | Ensemble:
    """Run `method` on `problem` from `w0` and record iterates and losses.

    The discrete methods iterate
    ``y_t = w_t + γ(w_t − w_{t−1})``, ``w_{t+1} = w_t + β(w_t − w_{t−1}) − lr_t·P g_t``
    from ``w_{−1} = w_0`` (GD, heavy ball, Nesterov, preconditioned GD; see
    :mod:`quadsim.methods`), with ``g_t = A y_t + b`` on a deterministic problem and a
    sampled gradient on a noise model (stochastic gradient descent and its momentum
    and preconditioned variants).

    Parameters
    ----------
    problem : Quadratic, LinearRegression, NoisyQuadratic, Minibatch or OnlineRegression
        A noise model (:mod:`quadsim.noise`) makes the run stochastic.
    method : GD, Momentum, Nesterov, Preconditioned or GradientFlow
        Gradient flow is deterministic only.
    w0 : array_like, shape (d,), or (m, d) for a regression with targets of shape (n, m)
        Starting point. With matrix weights every row follows its own regression, all
        with the same ``A`` (:mod:`quadsim.rows`): the raw basis is one BLAS-3 product
        ``W A`` a step, and a :class:`~quadsim.Minibatch` draws one batch of examples
        for all the rows.
    steps : int or array_like
        An int ``T`` records steps ``0..T``; an array gives strictly increasing step
        indices to record. Memory is O(K·d) for K records, whatever the horizon. For
        :class:`GradientFlow`: float times (a number ``T`` means ``linspace(0, T, 101)``).
    basis : {'raw', 'eigen'}
        ``'raw'`` iterates the dense update in ``w`` (O(d²) a step); ``'eigen'``
        iterates each eigen-axis on its own (O(d) a step), for a deterministic
        regression as the offset ``u − u*`` from the minimizer (see
        :func:`~quadsim.theory.offset_start`). For gradient flow ``'raw'`` is the matrix
        exponential of the augmented generator ``[[−A, −b], [0, 0]]`` (independent of
        the eigendecomposition) and ``'eigen'`` the exact per-axis solution. A stochastic
        run draws the same random numbers in both bases (the same rows, the same
        normals mapped through the basis), so the two agree path by path to rounding.
    runs : int, optional
        For a noise model: the number of independent runs (1 if not given), computed
        in parallel. Not allowed on a deterministic problem.
    rng : int, numpy.random.Generator or None
        For a noise model: the seed. Run ``r`` draws from its own stream derived from
        it, so it gives the same numbers whatever `runs` and the thread count are.

    Returns
    -------
    Trajectory or Ensemble
        A :class:`Trajectory` for a deterministic problem, with ``diverged_at`` the
        first step whose iterate is not finite (None if none); an :class:`Ensemble` of
        ``runs`` runs for a noise model. Matrix weights give ``w`` of shape (K, m, d)
        (an ensemble's (R, K, m, d)) and the loss summed over the rows.

    See Also
    --------
    closed_form : the same trajectory from the solved per-axis recurrences.
    moments : the exact mean and expected loss of an ensemble.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, Quadratic, simulate
    >>> q = Quadratic(np.diag([1.0, 10.0]))
    >>> traj = simulate(q, GD(lr=0.1), w0=[1.0, 1.0], steps=[0, 1, 2])
    >>> traj.w[-1]
    array([0.81, 0.  ])
    """
    method = check_method(method)
    w0 = as_start(problem, w0)
    basis = as_choice(basis, "basis", ("raw", "eigen"))
    regression = matrix_regression(problem)
    model = as_noise_model(problem)
    if model is None and (runs is not None or rng is not None):
        raise TypeError("`runs` and `rng` need a noise model (NoisyQuadratic, Minibatch or "
                        "OnlineRegression); "
                        f"got a deterministic {type(problem).__name__}")
    if model is None and isinstance(method, _TwoStepMethod) and (
            method.schedule is not None or method.ema is not None):
        # The deterministic problem is the noise-free case of the stochastic kernels,
        # which take per-step learning rates and keep the moving average: a quadratic
        # with zero gradient noise, or (for matrix weights) the full batch.
        silent: NoisyQuadratic | Minibatch
        if regression is not None:
            silent = Minibatch(regression, regression.n_samples, replace=False)
        else:
            quadratic = as_quadratic(problem)
            silent = NoisyQuadratic(quadratic, np.zeros(quadratic.dim))
        ensemble = simulate_ensemble(silent, method, w0, as_step_indices(steps), basis, 1, 0)
        return ensemble.run(0)
    if model is not None:
        if isinstance(method, GradientFlow):
            raise TypeError("`method` must be a discrete method on a noise model; "
                            "GradientFlow has no stochastic version")
        return simulate_ensemble(model, method, w0, as_step_indices(steps), basis,
                                 1 if runs is None else runs, rng)
    if isinstance(method, GradientFlow):
        if basis == "eigen":
            return closed_form(problem, method, w0, steps)
        if regression is not None:
            return _flow_rows_by_expm(regression, w0, as_times(steps))
        return _flow_by_expm(as_quadratic(problem), w0, as_times(steps))
    indices = as_step_indices(steps, record_size=np.size(w0) + 1)
    if basis == "raw" and regression is not None:
        return simulate_rows_raw(regression, method, w0, indices)
    if basis == "raw":
        quadratic = as_quadratic(problem)
        records = np.empty((indices.shape[0], quadratic.dim))
        loss = np.empty(indices.shape[0])
        plan = symv_plan(quadratic.dim)
        if type(method) is GD:
            diverged = gd_raw(quadratic.matrix, quadratic.b, quadratic.c, method.lr, w0,
                              indices, records, loss, plan)
        else:
            P = method.matrix if isinstance(method, Preconditioned) else _NO_PRECONDITIONER
            if P.shape[0] not in (0, quadratic.dim):
                method.frame(quadratic)  # raises the shape error
            diverged = two_step_raw(quadratic.matrix, quadratic.b, quadratic.c, P, method.lr,
                                    method.momentum, method.lookahead, w0, indices, records,
                                    loss, plan)
        return Trajectory(indices, records, loss, None if diverged < 0 else int(diverged))
    # The eigenbasis: for matrix weights the rows are more axes of a stacked frame.
    frame, w0 = method_frame(problem, method, w0)
    start, offset = offset_start(frame, frame.to_eigen(w0))
    b, c = (np.zeros(frame.dim), frame.minimum) if offset else (frame.b, frame.c)
    records = np.empty((indices.shape[0], frame.dim))
    loss = np.empty(indices.shape[0])
    diverged = two_step_eigen(frame.eigenvalues, b, float(c),  # type: ignore[arg-type]
                              method.lr, method.momentum, method.lookahead,
                              np.ascontiguousarray(start), indices, records, loss)
    # The kernel's losses are kept (no second evaluation); its records, NaN from
    # divergence on, map to w in place.
    return trajectory_from_eigen(frame, indices, records, None if diverged < 0 else int(diverged),
                                 offset=offset, loss=loss)


def _flow_by_expm(quadratic: Quadratic, w0: np.ndarray, times: np.ndarray) -> Trajectory:
    """Gradient flow as ``[w(t); 1] = expm(t·[[−A, −b], [0, 0]]) [w0; 1]``."""
    d = quadratic.dim
    generator = np.zeros((d + 1, d + 1))
    generator[:d, :d] = -quadratic.matrix
    generator[:d, d] = -quadratic.b
    start = np.append(w0, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.array([(scipy.linalg.expm(t * generator) @ start)[:d] for t in times])
        loss = np.asarray(quadratic.value(w))
    return _flow_trajectory(times, w, loss)


def _flow_rows_by_expm(regression: LinearRegression, W0: np.ndarray,
                       times: np.ndarray) -> Trajectory:
    """Gradient flow of matrix weights: ``[W(t)ᵀ; I] = expm(t·[[−A, −Bᵀ], [0, 0]]) [W0ᵀ; I]``."""
    m, d = W0.shape
    B, _ = row_targets(regression)
    generator = np.zeros((d + m, d + m))
    generator[:d, :d] = -regression.curvature
    generator[:d, d:] = -B.T
    start = np.vstack([W0.T, np.eye(m)])
    with np.errstate(over="ignore", invalid="ignore"):
        W = np.array([(scipy.linalg.expm(t * generator) @ start)[:d].T for t in times])
        loss = np.asarray(regression.value(W))
    return _flow_trajectory(times, W, loss)


def _flow_trajectory(times: np.ndarray, w: np.ndarray, loss: np.ndarray) -> Trajectory:
    """The flow's records, NaN from the first time whose ``w`` is not finite on."""
    finite = np.all(np.isfinite(w.reshape(w.shape[0], -1)), axis=1)
    diverged_at = None
    if not np.all(finite):
        first = int(np.argmax(~finite))
        w[first:] = np.nan
        loss[first:] = np.nan
        diverged_at = first
    return Trajectory(times, w, loss, diverged_at)


def measured_rate(problem: object, method: object, w0: object, start: int, stop: int, *,
                  basis: str = "raw") -> float:
    """Linear rate measured from a simulated run: ``(‖e_T‖ / ‖e_T0‖)^(1/(T − T0))``.

    ``e_t = w_t − w*`` is the distance to the minimum-norm minimizer, ``T0 = start``
    and ``T = stop``.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        A problem with a minimizer.
    method : GD, Momentum, Nesterov or Preconditioned
    w0 : array_like, shape (d,) or (m, d)
        Starting point.
    start, stop : int
        The window ``0 <= T0 < T``.
    basis : {'raw', 'eigen'}, optional
        The basis of the simulation.

    Returns
    -------
    float
        The geometric mean contraction per step over the window. It approaches
        :func:`~quadsim.convergence_rate` as the window moves out, from above when the
        slowest axis has a repeated root (error ``∝ t·ρ^t``).
    """
    run = simulate(problem, method, w0, [start, stop], basis=basis)
    regression = matrix_regression(problem)
    w_star = as_quadratic(problem).minimizer() if regression is None else regression.minimizer()
    error = np.linalg.norm((run.w - w_star).reshape(2, -1), axis=1)
    return float((error[1] / error[0]) ** (1.0 / (stop - start)))
