"""Stochastic simulation: ensembles of seeded runs on a noise model, in parallel.

:func:`quadsim.simulate` sends a noise model here. Randomness is decided in Python: the
``rng`` argument gives one root state, and run ``r`` draws from that state jumped ``r``
times (:mod:`quadsim.kernels.random`), so run ``r`` has the same numbers whatever the
number of runs and the thread count.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_batch_size, as_rng_root
from quadsim.kernels.ensemble import gaussian_runs, minibatch_runs, plain_minibatch_runs
from quadsim.kernels.random import run_states
from quadsim.methods import Preconditioned, _TwoStepMethod
from quadsim.noise import Minibatch, NoiseModel, NoisyQuadratic
from quadsim.results import Ensemble

_IDENTITY = np.empty((0, 0))


def simulate_ensemble(model: NoiseModel, method: _TwoStepMethod, w0: np.ndarray,
                      steps: np.ndarray, basis: str, runs: object, rng: object) -> Ensemble:
    """Run ``runs`` independent samples of `method` on `model` (validated inputs)."""
    count = as_batch_size(runs, "runs")
    states = run_states(as_rng_root(rng), 0, count)
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
    if frame is not None:
        w = frame.from_eigen(w)
        if keep_average:
            ema_w = frame.from_eigen(ema_w)
    return Ensemble(steps, w, loss, diverged, ema_w if keep_average else None,
                    ema_loss if keep_average else None)
