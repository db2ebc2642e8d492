"""Ill-conditioned regressions and the runs on which quadsim is held to 60-digit arithmetic.

Shared by ``tests/test_accuracy.py`` and ``scripts/accuracy_table.py``: each case is a
problem (κ, shape, ridge), a method with hyperparameters chosen for the horizon ``t``,
and the relative errors of ``w_t`` and ``J(w_t)`` against :class:`reference.ExactRegression`.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np
from reference import ExactRegression

import quadsim as qs

KAPPAS = (1e6, 1e10)
#: (n, d): fewer examples than features, as many, more.
SHAPES = ((4, 6), (5, 5), (8, 4))
RIDGES = ("l2 = 0", "l2 > 0")
HORIZONS = (10**3, 10**6, 10**9)
METHODS = ("GD", "heavy ball", "Nesterov", "gradient flow")
BETA = 0.9
#: The slowest axis moves by about e^{−SLOW_DECAY} over the horizon where the stability
#: edge allows it, so that it still matters at t = 10⁹ (and no loss underflows to J*).
SLOW_DECAY = 3.0


@cache
def problem(kappa, shape, ridge):
    """X = U diag(s) Vᵀ (Haar U, V) with ``s²/n`` spread geometrically over [1/κ, 1].

    ``y`` is random (with a part outside the range of X when n > d); ``l2 > 0`` means
    ``l2 = 1/κ``, the size of the smallest nonzero curvature.
    """
    n, d = shape
    rng = np.random.default_rng([int(np.log10(kappa)), n, d])
    k = min(n, d)
    s = np.sqrt(n * np.geomspace(1.0, 1.0 / kappa, k))
    U = np.linalg.qr(rng.normal(size=(n, k)))[0]
    V = np.linalg.qr(rng.normal(size=(d, k)))[0]
    X = (U * s) @ V.T
    y = rng.normal(size=n)
    l2 = 0.0 if ridge == "l2 = 0" else 1.0 / kappa
    return qs.LinearRegression(X, y, l2=l2), rng.normal(size=d)


@cache
def exact(kappa, shape, ridge):
    regression, _ = problem(kappa, shape, ridge)
    return ExactRegression(regression.X, regression.y, regression.l2)


def method_for(name, kappa, t):
    """The method for horizon t: the largest stable-with-margin lr, or the lr that moves
    the slowest axis (curvature 1/κ) by e^{−SLOW_DECAY} in t steps, if smaller.
    Gradient flow runs for the time GD covers, ``lr·t``."""
    a_min = 1.0 / kappa
    if name == "GD" or name == "gradient flow":
        lr = min(1.5, SLOW_DECAY / (a_min * t))
        return (qs.GD(lr), t) if name == "GD" else (qs.GradientFlow(), lr * t)
    momentum_lr = SLOW_DECAY * (1.0 - BETA) / (a_min * t)
    if name == "heavy ball":
        return qs.Momentum(min(1.5, momentum_lr), BETA), t
    return qs.Nesterov(min(1.0, momentum_lr), BETA), t


@dataclass(frozen=True)
class Errors:
    """Relative errors of one run: ``‖Δw_t‖/‖w_t‖`` and ``|ΔJ(w_t)|/J(w_t)``."""

    w: float
    loss: float
    loss_curve: float | None  # closed_form_loss, GD only


def errors(kappa, shape, ridge, name, t, gram=False):
    """quadsim's closed form against the exact run, for one case.

    With ``gram`` the closed form runs on ``Quadratic(XᵀX/n + l2·I, −Xᵀy/n, yᵀy/2n)``,
    whose frame is the ``eigh`` of the Gram matrix and whose loss is the plain per-axis
    sum: quadsim's regressions before their frame came from the SVD of X.
    """
    regression, w0 = problem(kappa, shape, ridge)
    if gram:
        q = regression.quadratic
        regression = qs.Quadratic(q.A, q.b, q.c)
    method, horizon = method_for(name, kappa, t)
    if isinstance(method, qs.GradientFlow):
        w_exact, loss_exact = exact(kappa, shape, ridge).run(w0, horizon)
    else:
        w_exact, loss_exact = exact(kappa, shape, ridge).run(
            w0, horizon, method.lr, method.momentum, method.lookahead)
    run = qs.closed_form(regression, method, w0, [horizon])
    curve = None
    if isinstance(method, qs.GD):
        curve = abs(qs.closed_form_loss(regression, method, w0, [horizon])[0] - loss_exact) \
            / loss_exact
    return Errors(np.linalg.norm(run.w[0] - w_exact) / np.linalg.norm(w_exact),
                  abs(run.loss[0] - loss_exact) / loss_exact, curve)
