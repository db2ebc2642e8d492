"""Figures of the phenomena the toy model explains.

Early stopping as ridge and implicit regularization, double descent, the
Marchenko–Pastur law against stochastic Lanczos quadrature, and the speed-up of input
normalization. As in :mod:`quadsim.plots`, each function computes with the public API,
draws theory as lines and simulation or Monte Carlo as markers on the same axes, and
imports matplotlib only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from quadsim.double_descent import (
    asymptotic_risk,
    exact_risk,
    monte_carlo_risk,
    smallest_nonzero_eigenvalue,
)
from quadsim.methods import GD
from quadsim.plots import _new_figure
from quadsim.problems import LinearRegression
from quadsim.regularization import effective_ridge, gd_filter, null_space_part, ridge_filter
from quadsim.simulation import simulate
from quadsim.spectra import MarchenkoPastur, spectral_density
from quadsim.theory import closed_form, convergence_rate, optimal_gd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_double_descent", "plot_early_stopping", "plot_marchenko_pastur",
           "plot_normalization"]


def plot_early_stopping(problem: LinearRegression, lr: float, steps: Sequence[int],
                        w0: object, horizon: int) -> Figure:
    """Early stopping as a spectral filter, and where GD from ``w_0`` ends up.

    Left: GD's filter ``1 − (1 − lr·a)^t`` over the curvatures ``a`` of `problem`'s axes
    for each of `steps` (lines), against the ridge filter ``a/(a + λ(t))`` at the
    effective ridge ``λ(t)`` (dashed). Right: for GD from ``w_0`` (closed form, lines;
    simulation, markers) the distance to ``X⁺y + P_null w_0`` and the distance of the
    null-space part from ``P_null w_0``, which stays at rounding level.
    """
    fig = _new_figure((12.5, 4.8))
    filters, paths = fig.subplots(1, 2)
    a = problem.quadratic.eigenvalues
    grid = np.geomspace(a[a > 0].min() / 10, a.max() * 1.2, 400)
    for i, step in enumerate(steps):
        lam = effective_ridge(problem, lr, step)
        filters.plot(grid, gd_filter(grid, lr, step), color=f"C{i}", lw=1.6,
                     label=f"GD, t = {step}")
        filters.plot(grid, ridge_filter(grid, lam), color=f"C{i}", lw=1.2, ls="--",
                     label=f"ridge, λ(t) = {lam:.3g}  (1/(lr·t) = {1 / (lr * step):.3g})")
    for value in a[a > 0]:
        filters.axvline(value, color="0.85", lw=0.5, zorder=0)
    filters.set(xscale="log", xlabel="curvature a of an axis (grey: the problem's axes)",
                ylabel="filter on the least-squares coordinate",
                title="Early stopping as a spectral filter")
    filters.legend(fontsize=7.5, loc="upper left")
    filters.grid(True, alpha=0.3)
    start = np.asarray(w0, dtype=np.float64)
    target = problem.quadratic.minimizer() + null_space_part(problem, start)
    null0 = null_space_part(problem, start)
    method = GD(lr)
    theory = closed_form(problem, method, start, horizon)
    run = simulate(problem, method, start, horizon, basis="raw")
    t = theory.steps
    shown = np.unique(np.geomspace(1, horizon, 30).astype(np.int64))
    paths.plot(t[1:], np.linalg.norm(theory.w - target, axis=1)[1:], color="C0",
               label="‖w_t − (X⁺y + P_null w₀)‖, closed form")
    paths.plot(shown, np.linalg.norm(run.w[shown] - target, axis=1), "o", color="C0",
               mfc="none", ms=5, label="… simulated")
    drift = np.linalg.norm(null_space_part(problem, run.w) - null0, axis=1)
    paths.plot(t[1:], np.maximum(drift[1:], 1e-18), color="C3",
               label="‖P_null w_t − P_null w₀‖, simulated (rounding, ~t·ε)")
    paths.axhline(np.linalg.norm(null0), color="0.5", ls=":",
                  label=f"‖P_null w₀‖ = {np.linalg.norm(null0):.2f}")
    paths.set(xscale="log", yscale="log", xlabel="step t", ylabel="distance",
              title=f"GD from w₀ (lr = {lr:g}, n = {problem.n_samples} < d = "
                    f"{problem.dim}):\nthe row space converges, the null space stays")
    paths.legend(fontsize=7.5, loc="lower left")
    paths.grid(True, alpha=0.3)
    return fig


def plot_double_descent(n: int, dims: Sequence[int], *, noise: float, signal: float,
                        ridges: Sequence[float] = (), trials: int = 100,
                        rng: int = 0) -> Figure:
    """Excess test risk against ``γ = d/n``: exact, asymptotic, Monte Carlo, and ridge.

    Lines: the exact finite-``n`` risk of minimum-norm least squares and the limits
    (dashed) of minimum norm and of each ridge; markers: Monte Carlo means ± 2 s.e.
    over `trials` draws. The lower panel draws the smallest non-zero eigenvalue of
    ``XᵀX/n`` (one draw per d) against the edge ``(1 − √γ)²``.
    """
    fig = _new_figure((8.0, 7.5))
    risk, edge = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
    sizes = np.asarray(dims)
    gammas = sizes / n
    fine = np.linspace(gammas.min() * 0.9, gammas.max() * 1.05, 600)
    fine = fine[np.abs(fine - 1.0) > 1e-3]
    exact = [exact_risk(n, int(d), noise=noise, signal=signal) for d in sizes]
    risk.plot(gammas, exact, color="C0", lw=1.6, label=f"minimum norm: exact (n = {n})")
    risk.plot(fine, asymptotic_risk(fine, noise=noise, signal=signal), color="C0", ls="--",
              lw=1.0, label="minimum norm: limit n, d → ∞")
    generator = np.random.default_rng(rng)
    for d in sizes:
        if abs(int(d) - n) < 4:
            continue  # the risk has no finite variance there: no error bar
        mean, stderr = monte_carlo_risk(n, int(d), noise=noise, signal=signal, trials=trials,
                                        rng=generator)
        risk.errorbar(d / n, mean, yerr=2 * stderr, fmt="o", color="C0", ms=4, mfc="none")
    for i, lam in enumerate(ridges, start=1):
        risk.plot(fine, asymptotic_risk(fine, noise=noise, signal=signal, ridge=lam),
                  color=f"C{i}", lw=1.4, label=f"ridge λ = {lam:g}: limit")
        for d in sizes[::2]:
            mean, stderr = monte_carlo_risk(n, int(d), noise=noise, signal=signal, ridge=lam,
                                            trials=max(trials // 4, 10), rng=generator)
            risk.errorbar(d / n, mean, yerr=2 * stderr, fmt="s", color=f"C{i}", ms=3.5,
                          mfc="none")
    risk.axvline(1.0, color="0.6", lw=0.8, ls=":")
    risk.set(yscale="log", ylabel="excess test risk E‖ŵ − β*‖²",
             title=f"Double descent (σ² = {noise:g}, ‖β*‖² = {signal:g}); markers: "
                   "Monte Carlo ± 2 s.e.")
    risk.set_ylim(0.5 * min(r for r in exact if r > 0), 50 * (signal + noise))
    risk.legend(fontsize=8)
    risk.grid(True, which="major", alpha=0.3)
    smallest = [smallest_nonzero_eigenvalue(generator.standard_normal((n, int(d))))
                for d in sizes]
    edge.plot(gammas, smallest, "o", color="C3", ms=4, mfc="none",
              label="smallest non-zero eigenvalue of XᵀX/n")
    edge.plot(fine, (1.0 - np.sqrt(fine)) ** 2, color="C3", lw=1.2,
              label="Marchenko–Pastur edge (1 − √γ)²")
    edge.set(yscale="log", xlabel="γ = d/n", ylabel="eigenvalue")
    edge.set_ylim(bottom=1e-4)
    edge.legend(fontsize=8)
    edge.grid(True, which="major", alpha=0.3)
    return fig


def plot_marchenko_pastur(X: object, *, probes: int = 20, steps: int = 60,
                          rng: int = 0) -> Figure:
    """The spectrum of ``XᵀX/n``: histogram, Marchenko–Pastur density and SLQ estimate.

    The stochastic-Lanczos-quadrature estimate uses Hessian-vector products alone.
    """
    data = np.asarray(X, dtype=np.float64)
    n, d = data.shape
    eigenvalues = np.linalg.eigvalsh(data.T @ data / n)
    law = MarchenkoPastur(d / n)
    low, high = law.edges
    density = spectral_density(LinearRegression(data, np.zeros(n)).hvp, d, probes=probes,
                               steps=steps, rng=rng)
    fig = _new_figure((7.5, 4.8))
    ax = fig.subplots()
    positive = eigenvalues[eigenvalues > 1e-9 * high]
    bins = np.linspace(0.0, high * 1.1, 61)
    # Each eigenvalue weighs 1/d: the continuous part integrates to 1 − zero_mass.
    weight = 1.0 / (d * (bins[1] - bins[0]))
    ax.hist(positive, bins=list(bins), weights=np.full(positive.size, weight), color="0.8",
            label=f"eigenvalues of XᵀX/n (n = {n}, d = {d})")
    grid = np.linspace(0.0, high * 1.15, 600)
    ax.plot(grid, law.density(grid), color="C0", lw=2,
            label=f"Marchenko–Pastur, γ = {d / n:g}: edges {low:.3f}, {high:.3f}")
    width = 0.02 * high
    ax.plot(grid, density.density(grid, width), color="C1", lw=1.4, ls="--",
            label=f"stochastic Lanczos quadrature ({probes} probes × {steps} steps,"
                  f" smoothed {width:.2g})")
    ax.set(xlabel="eigenvalue", ylabel="density", title="The spectrum without the matrix")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig


def plot_normalization(raw: LinearRegression, normalized: LinearRegression,
                       horizon: int) -> Figure:
    """GD at its best step before and after input normalization.

    Simulated against closed form, with the predicted rates ``(κ − 1)/(κ + 1)``, on
    log–log axes.
    """
    fig = _new_figure((7.5, 4.8))
    ax = fig.subplots()
    steps = np.unique(np.r_[0, np.geomspace(1, horizon, 200).astype(np.int64)])
    shown = steps[np.unique(np.linspace(0, steps.size - 1, 30).astype(np.int64))]
    top = 0.0
    for i, (name, problem) in enumerate((("raw features", raw),
                                         ("centred and scaled", normalized))):
        method = optimal_gd(problem)
        start = np.zeros(problem.dim)
        theory = closed_form(problem, method, start, steps)
        run = simulate(problem, method, start, shown)
        J_star = problem.quadratic.min_value()
        rate = convergence_rate(problem, method)
        kappa = problem.quadratic.condition_number
        ax.plot(steps[1:], theory.loss[1:] - J_star, color=f"C{i}", lw=1.6,
                label=f"{name}: κ = {kappa:.3g}, rate (κ−1)/(κ+1) = 1 − {1 - rate:.2g}")
        ax.plot(shown[1:], run.loss[1:] - J_star, "o", color=f"C{i}", mfc="none", ms=5)
        ax.plot(steps[1:], (theory.loss[0] - J_star) * rate ** (2 * steps[1:]),
                color=f"C{i}", lw=0.9, ls=":")
        top = max(top, theory.loss[0] - J_star)
    ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="J(w_t) − J*",
           title="GD at lr = 2/(a_min + a_max): closed form (lines), simulated (markers),\n"
                 "(J(w_0) − J*)·rate^{2t} (dotted)")
    ax.set_ylim(1e-12, 30.0 * top)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(True, alpha=0.3)
    return fig
