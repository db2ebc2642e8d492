"""Stochastic simulation: ensembles of seeded runs on a noise model, in parallel.

:func:`quadsim.simulate` sends a noise model here. Randomness is decided in Python: the
``rng`` argument gives one root state, and run ``r`` draws from that state jumped ``r``
times (:mod:`quadsim.kernels.random`), so run ``r`` has the same numbers whatever the
number of runs and the thread count.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_batch_size, as_rng_root, check_record_memory
from quadsim.kernels.ensemble import (
    gaussian_runs,
    minibatch_runs,
    online_runs,
    plain_minibatch_runs,
)
from quadsim.kernels.random import run_states
from quadsim.kernels.rows import minibatch_rows_runs
from quadsim.methods import Preconditioned, _TwoStepMethod
from quadsim.noise import Minibatch, NoiseModel, NoisyQuadratic, OnlineRegression
from quadsim.problems import SpectralFrame, StackedFrame
from quadsim.results import Ensemble
from quadsim.rows import matrix_regression, method_frame, row_targets

_IDENTITY = np.empty((0, 0))


def simulate_ensemble(model: NoiseModel, method: _TwoStepMethod, w0: np.ndarray,
                      steps: np.ndarray, basis: str, runs: object, rng: object) -> Ensemble:
    """Run ``runs`` independent samples of `method` on `model` (validated inputs)."""
    count = as_batch_size(runs, "runs")
    copies = 2 if method.ema is not None else 1  # the iterate and its moving average
    check_record_memory(steps.shape[0], count * copies * (np.size(w0) + 1), "steps")
    states = run_states(as_rng_root(rng), 0, count)
    if isinstance(model, Minibatch) and matrix_regression(model) is not None:
        return _minibatch_rows(model, method, w0, steps, basis, states)
    quadratic = model.quadratic
    K, d = steps.shape[0], quadratic.dim
    w, loss = np.empty((count, K, d)), np.empty((count, K))
    keep_average = method.ema is not None
    ema_w = np.empty((count, K if keep_average else 0, d))
    ema_loss = np.empty((count, K if keep_average else 0))
    diverged = np.empty(count, dtype=np.int64)
    lrs = method.learning_rates(max(int(steps[-1]), 1))
    ema = 0.0 if method.ema is None else method.ema
    if basis == "raw":
        frame = None
        curvature, b, start = quadratic.matrix, quadratic.b, w0
        P = method.matrix if isinstance(method, Preconditioned) else _IDENTITY
        if P.shape[0] not in (0, d):
            method.frame(quadratic)  # raises the shape error naming P
    else:
        frame = method.frame(quadratic)
        curvature, b = np.ascontiguousarray(frame.eigenvalues[:, None]), frame.b
        start = np.ascontiguousarray(frame.to_eigen(w0))
        P = _IDENTITY
    common = (method.momentum, method.lookahead, ema, start, steps, states, w, loss, ema_w,
              ema_loss, diverged)
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(model, NoisyQuadratic):
            factor = model.factor(frame)
            scale = 1.0 / np.sqrt(model.batch_size) if np.any(factor) else 0.0
            gaussian_runs(curvature, b, quadratic.c, factor, scale, P, lrs, *common)
        elif isinstance(model, OnlineRegression):
            # Runs on the deviation e = w − w* (J = ½ eᵀΣe + σ²/2, no b, no cancellation
            # for a large teacher); w* is added back to the records below.
            shift = model.teacher if frame is None else frame.to_eigen(model.teacher)
            online_runs(curvature, np.zeros(d), 0.5 * model.noise, model.factor(frame),
                        float(np.sqrt(model.noise)), model.batch_size, P, lrs, *common[:3],
                        np.ascontiguousarray(start - shift), *common[4:])
        else:
            assert isinstance(model, Minibatch)
            X, metric = model.design(frame)
            y, l2 = model.regression.y, model.regression.l2
            plain = (metric is None and P.shape[0] == 0 and not keep_average
                     and method.momentum == 0.0 and method.lookahead == 0.0
                     and lrs.shape[0] == 1)
            if plain:
                plain_minibatch_runs(X, y, l2, curvature, b, quadratic.c, model.batch_size,
                                     model.sampling, float(lrs[0]), start, steps, states, w,
                                     loss, diverged)
            else:
                minibatch_runs(X, y, l2, _IDENTITY if metric is None else metric, curvature,
                               b, quadratic.c, P, model.batch_size, model.sampling, lrs,
                               *common)
    result = _ensemble(frame, steps, w, loss, diverged, ema_w if keep_average else None,
                       ema_loss if keep_average else None)
    if isinstance(model, OnlineRegression):
        result.w[...] += model.teacher
        if result.ema is not None:
            result.ema[...] += model.teacher
    return result


def _minibatch_rows(model: Minibatch, method: _TwoStepMethod, W0: np.ndarray,
                    steps: np.ndarray, basis: str, states: np.ndarray) -> Ensemble:
    """Minibatch SGD with matrix weights ``W0`` (m, d): one batch of examples for all rows.

    Row ``i`` of a run is the vector run on the targets ``Y[:, i]`` with the same seed
    (the kernels draw the same batches), and ``J`` is summed over the rows.
    """
    regression = model.regression
    count, K, (m, d) = states.shape[0], steps.shape[0], W0.shape
    B, c = row_targets(regression)
    if basis == "raw":
        frame = None
        curvature, start = regression.curvature, W0
        P = method.matrix if isinstance(method, Preconditioned) else _IDENTITY
        if P.shape[0] not in (0, d):
            method.frame(regression.shared_quadratic)  # raises the shape error
    else:
        stacked, _ = method_frame(model, method, W0)
        assert isinstance(stacked, StackedFrame) and stacked.base is not None
        frame = stacked.base
        curvature = np.ascontiguousarray(frame.eigenvalues[:, None])
        B = np.ascontiguousarray(stacked.b.reshape(m, d))
        start = np.ascontiguousarray(frame.to_eigen(W0))
        P = _IDENTITY
    X, metric = model.design(frame)
    keep_average = method.ema is not None
    w, loss = np.empty((count, K, m, d)), np.empty((count, K))
    ema_w = np.empty((count, K if keep_average else 0, m, d))
    ema_loss = np.empty((count, K if keep_average else 0))
    diverged = np.empty(count, dtype=np.int64)
    with np.errstate(over="ignore", invalid="ignore"):
        minibatch_rows_runs(X, regression.y, regression.l2,
                            _IDENTITY if metric is None else metric, curvature, B,
                            float(np.sum(c)), P, model.batch_size, model.sampling,
                            method.learning_rates(max(int(steps[-1]), 1)), method.momentum,
                            method.lookahead, 0.0 if method.ema is None else method.ema,
                            start, steps, states, w, loss, ema_w, ema_loss, diverged)
    return _ensemble(frame, steps, w, loss, diverged, ema_w if keep_average else None,
                     ema_loss if keep_average else None)


def _ensemble(frame: SpectralFrame | None, steps: np.ndarray, w: np.ndarray,
              loss: np.ndarray, diverged: np.ndarray, ema_w: np.ndarray | None,
              ema_loss: np.ndarray | None) -> Ensemble:
    """The result, with records mapped back from `frame` (None: already raw)."""
    if frame is not None:
        w = frame.from_eigen(w)
        if ema_w is not None:
            ema_w = frame.from_eigen(ema_w)
    return Ensemble(steps, w, loss, diverged, ema_w, ema_loss)
