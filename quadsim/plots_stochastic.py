"""Figures of stochastic training.

Monte Carlo against exact moments, batch-size scaling, optimal learning rates and
short-horizon bias. Like :mod:`quadsim.plots`, each function computes with the public
API (the batch-scaling plots read a :func:`~quadsim.sweeps.sweep` of
:func:`~quadsim.scaling.batch_size_scaling` over the optimizers), draws on the axes it is
given (new, pyplot-free ones otherwise) and imports matplotlib only when called. Exact
curves are lines; Monte Carlo estimates are bands and thin sample paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from quadsim.horizon import ScheduleSearch
from quadsim.moments import moments
from quadsim.plots import _label, _new_axes
from quadsim.problems import as_quadratic
from quadsim.results import Ensemble
from quadsim.simulation import simulate

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = ["plot_batch_scaling", "plot_monte_carlo", "plot_optimal_lr", "plot_short_horizon"]


def plot_monte_carlo(problem: object, method: object, w0: object, steps: object, *,
                     runs: int = 1000, rng: object = 0, paths: int = 4,
                     floor_step: int | None = None, ax: Axes | None = None) -> Axes:
    """An ensemble's mean loss with its error band against the exact expected loss.

    Draws ``E[J(w_t)] − J*`` from :func:`~quadsim.moments` (line), the Monte Carlo mean
    of ``runs`` runs from :func:`~quadsim.simulate` with a band of ±2 standard errors,
    `paths` single runs (thin), and the exact loss at ``floor_step`` (default: 100 times
    the last step), the noise floor the runs settle to (dashed), on log–log axes.

    Parameters
    ----------
    problem : NoisyQuadratic, Minibatch or OnlineRegression
    method : GD, Momentum, Nesterov or Preconditioned
    w0 : array_like
    steps : int or array_like
        Recorded steps (step 0 is left off the log axis).
    runs, rng : int
        The ensemble.
    paths : int
        Single runs drawn.
    floor_step : int, optional
        Where the noise floor is read off the exact moments.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax, (6.0, 4.5))
    J_star = as_quadratic(problem).min_value()
    ensemble = simulate(problem, method, w0, steps, runs=runs, rng=rng, basis="eigen")
    if not isinstance(ensemble, Ensemble):
        raise TypeError("`problem` must be a noise model (NoisyQuadratic, Minibatch or "
                        f"OnlineRegression); got {type(problem).__name__}")
    exact = moments(problem, method, w0, ensemble.steps)
    t = ensemble.steps
    shown = t > 0
    floor_at = 100 * int(t[-1]) if floor_step is None else floor_step
    floor = float(moments(problem, method, w0, [floor_at]).loss[0]) - J_star
    mean = ensemble.mean_loss() - J_star
    band = 2.0 * ensemble.loss_stderr()
    for r in range(min(paths, ensemble.runs)):
        ax.plot(t[shown], ensemble.loss[r, shown] - J_star, color="0.6", lw=0.6, alpha=0.7,
                label="single runs" if r == 0 else None)
    ax.fill_between(t[shown], (mean - band)[shown], (mean + band)[shown], color="C1",
                    alpha=0.35, lw=0, label=f"Monte Carlo mean ± 2 s.e. ({ensemble.runs} runs)")
    ax.plot(t[shown], mean[shown], color="C1", lw=1.0)
    ax.plot(t[shown], exact.loss[shown] - J_star, color="C0", lw=1.6, ls="--",
            label="exact E[J(w_t)] − J*")
    ax.axhline(floor, color="k", lw=0.9, ls=":", label=f"noise floor (exact, t = {floor_at:.0e})")
    ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="J(w_t) − J*",
           title=_label(method))
    ax.legend(fontsize=7.5, loc="lower left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _curves(scaling: xr.Dataset) -> str:
    """The dimension of a batch-scaling sweep that names its curves (all but batch_size)."""
    others = [str(dim) for dim in scaling.steps.dims if dim != "batch_size"]
    if "batch_size" not in scaling.steps.dims or len(others) != 1:
        raise ValueError("`scaling` must be a sweep of batch_size_scaling over one axis (the "
                         f"optimizers), with `steps` over it and batch_size; got dims "
                         f"{tuple(scaling.steps.dims)}")
    return others[0]


def plot_batch_scaling(scaling: xr.Dataset, *, ax: Axes | None = None) -> Axes:
    """Steps to target against batch size, one curve per optimizer, on log–log axes.

    For each optimizer: its fewest steps at each batch size (markers and line), the
    infinite-batch limit (dotted) and the critical batch size (where the steps are
    within twice that limit, a vertical tick). The first optimizer's perfect scaling,
    steps ∝ 1/B from its smallest batch, is drawn as a grey line: below the critical
    batch size each doubling of the batch halves the steps.

    Parameters
    ----------
    scaling : xarray.Dataset
        A :func:`~quadsim.sweeps.sweep` of :func:`~quadsim.scaling.batch_size_scaling`
        over one grid axis that names the optimizers: variables ``steps`` (that axis,
        ``batch_size``), ``deterministic_steps`` and ``critical_batch_size``.
    ax : matplotlib.axes.Axes, optional
    """
    names = _curves(scaling)
    ax = _new_axes(ax, (6.5, 4.8))
    B = scaling.batch_size.values
    first = True
    for i, name in enumerate(scaling[names].values):
        color = f"C{i}"
        row = scaling.sel({names: name})
        steps = row.steps.values
        reached = np.isfinite(steps) & (steps > 0)
        ax.plot(B[reached], steps[reached], "o-", ms=3.5, color=color, label=str(name))
        deterministic = float(row.deterministic_steps)
        if np.isfinite(deterministic):
            ax.axhline(deterministic, color=color, lw=0.8, ls=":")
        critical = float(row.critical_batch_size)
        if np.isfinite(critical):
            k = int(np.flatnonzero(B == critical)[0])
            ax.plot([critical], [steps[k]], marker="|", ms=16, mew=2, color=color)
        if first and np.any(reached):
            k = int(np.argmax(reached))
            ax.plot(B, steps[k] * B[k] / B, color="0.5", lw=1.0, ls="-",
                    label="perfect scaling (steps ∝ 1/B)")
            first = False
    ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="steps to target",
           title="Steps to reach the target expected loss")
    ax.set_ylim(bottom=0.3 * float(scaling.deterministic_steps.min()))
    ax.legend(fontsize=8, title="dotted: infinite batch; |: critical batch size",
              title_fontsize=7.5)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_optimal_lr(scaling: xr.Dataset, *, edge: float | None = None,
                    ax: Axes | None = None) -> Axes:
    """The best learning rate against batch size, with linear scaling and the stability edge.

    Parameters
    ----------
    scaling : xarray.Dataset
        As in :func:`plot_batch_scaling`, with ``best_lr``; the first optimizer's
        smallest batch anchors the linear-scaling line.
    edge : float, optional
        The stability edge in lr, drawn as a horizontal line.
    ax : matplotlib.axes.Axes, optional
    """
    names = _curves(scaling)
    ax = _new_axes(ax, (6.5, 4.8))
    B = scaling.batch_size.values
    for i, name in enumerate(scaling[names].values):
        ax.plot(B, scaling.best_lr.sel({names: name}).values, "o-", ms=3.5, color=f"C{i}",
                label=str(name))
    lrs = scaling.best_lr.isel({names: 0}).values
    if np.isfinite(lrs[0]):
        ax.plot(B, lrs[0] * B / B[0], color="0.5", lw=1.0, label="linear scaling (lr ∝ B)")
    if edge is not None:
        ax.axhline(edge, color="k", lw=0.9, ls=":", label=f"stability edge 2/h_max = {edge:.3g}")
    ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="best learning rate",
           title="Optimal learning rate against batch size")
    ax.set_ylim(0.5 * float(scaling.best_lr.min()),
                3.0 * max(float(scaling.best_lr.max()), edge or 0.0))
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_short_horizon(searches: Mapping[str, ScheduleSearch], J_star: float = 0.0, *,
                       axes: tuple[Axes, Axes] | None = None) -> tuple[Axes, Axes]:
    """Expected loss and learning rate over the run, one line per schedule.

    Left: ``E[J(w_t)] − J*`` (exact); right: ``lr_t``. Greedy schedules win early and
    lose late: short-horizon bias.
    """
    if axes is None:
        from quadsim.plots import _new_figure

        loss_ax, rate_ax = _new_figure((12.0, 4.6)).subplots(1, 2)
    else:
        loss_ax, rate_ax = axes
    for i, (name, search) in enumerate(searches.items()):
        T = search.rates.shape[0]
        t = np.arange(1, T + 1)
        label = f"{name}: E[J(w_T)] − J* = {search.final_loss - J_star:.3g}"
        loss_ax.plot(t, search.loss[1:] - J_star, color=f"C{i}", lw=1.5, label=label)
        rate_ax.plot(np.arange(T), search.rates, color=f"C{i}", lw=1.5, label=name)
    loss_ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="E[J(w_t)] − J* (exact)",
                title=f"Expected loss, horizon T = {T}")
    loss_ax.legend(fontsize=8)
    loss_ax.grid(True, which="major", alpha=0.3)
    rate_ax.set(xscale="symlog", yscale="log", xlabel="step t", ylabel="learning rate lr_t",
                title="Learning-rate schedules")
    rate_ax.legend(fontsize=8)
    rate_ax.grid(True, which="major", alpha=0.3)
    return loss_ax, rate_ax
