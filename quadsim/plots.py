"""Figures: simulated trajectories drawn against their closed-form twins.

Each function takes a problem and method specs, computes what it draws with the
public API (:func:`~quadsim.simulate`, :func:`~quadsim.closed_form`,
:func:`~quadsim.axis_regimes`, :func:`~quadsim.max_stable_lr`, ...; grids of
hyperparameters through :func:`quadsim.sweeps.sweep`), draws on the figure or axes it is
given (a new, pyplot-free :class:`matplotlib.figure.Figure` otherwise) and returns the
figure. Theory is drawn as lines and simulation as markers
on the same axes. matplotlib is imported inside the functions only, so importing this
module does not need it.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from quadsim.methods import GD, GradientFlow, Momentum, Nesterov, Preconditioned
from quadsim.simulation import measured_rate, simulate
from quadsim.sweeps import sweep
from quadsim.theory import (
    axis_regimes,
    closed_form,
    convergence_rate,
    max_stable_lr,
    optimal_gd,
    optimal_momentum,
)

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_agreement",
    "plot_axis_regimes",
    "plot_rates",
    "plot_stability",
    "save_figure",
]

#: Marker styles of the two simulations (closed forms are lines).
_RAW: dict[str, Any] = {"marker": "o", "ls": "none", "mfc": "none", "ms": 5, "mew": 1.0}
_EIGEN: dict[str, Any] = {"marker": "+", "ls": "none", "ms": 7, "mew": 1.2}



def save_figure(fig: Any, path: Any, *, dpi: int = 130) -> Any:
    """Write `fig` to `path` (creating its folder), close it if pyplot owns it; return path."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)
    return path


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return _new_figure(figsize).subplots() if ax is None else ax


def _label(method: object) -> str:
    """A short name of a method spec with its hyperparameters."""
    if isinstance(method, Nesterov):
        return f"Nesterov (lr = {method.lr:.3g}, β = {method.beta:.3g})"
    if isinstance(method, Momentum):
        return f"heavy ball (lr = {method.lr:.3g}, β = {method.beta:.3g})"
    if isinstance(method, Preconditioned):
        return f"preconditioned GD (lr = {method.lr:.3g})"
    if isinstance(method, GD):
        return f"GD (lr = {method.lr:.3g})"
    if isinstance(method, GradientFlow):
        return "gradient flow"
    return type(method).__name__


def _marker_subset(n: int, count: int) -> np.ndarray:
    """About `count` evenly spread indices of ``range(n)``, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(np.int64))


def _style_legend(ax: Axes) -> None:
    """A legend for the line and marker styles: closed form, raw and eigenbasis."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.2", lw=1.5, label="closed form"),
               Line2D([], [], color="0.2", **_RAW, label="simulate, raw basis"),
               Line2D([], [], color="0.2", **_EIGEN, label="simulate, eigenbasis")]
    ax.add_artist(ax.legend(handles=handles, loc="lower left", fontsize=8))


def plot_agreement(problem: object, methods: Sequence[object], w0: object, steps: object, *,
                   caption: str | None = None, fig: Figure | None = None) -> Figure:
    """Loss curves of the three ways to get a trajectory, and how far apart they are.

    For each method the trajectory is computed by :func:`~quadsim.simulate` in the raw
    basis (the dense update in ``w``), by :func:`~quadsim.simulate` in the eigenbasis
    (per-axis recurrences iterated) and by :func:`~quadsim.closed_form` (per-axis
    recurrences solved). The left panel draws ``J(w_t) − J*`` on a log scale (closed
    form as lines, simulations as markers); the right panel draws
    ``|J_sim(w_t) − J_closed(w_t)| / max(|J_closed(w_t)|, J(w_0) − J*)`` for both simulations.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        A problem with a minimizer (positive semi-definite, bounded below).
    methods : sequence of GD, Momentum, Nesterov or Preconditioned
        The methods to compare, one colour each.
    w0 : array_like, shape (d,)
        Starting point.
    steps : int or array_like
        Recorded steps, as in :func:`~quadsim.simulate`.
    caption : str, optional
        Text written under the panels.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (two panels are added); a new one if None.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    quadsim.simulate, quadsim.closed_form

    Notes
    -----
    ``J(w_t) − J*`` cannot go below the rounding floor ``≈ eps·|J|`` of the recorded
    losses, whichever way they are computed; records at or below zero are not drawn.
    A trajectory through a double root of the companion matrix (heavy ball at its
    optimal tuning, on the extreme axes) moves by ``~t²·δ`` when a curvature moves by
    ``δ``; the raw-basis run iterates the stored ``A``, whose exact spectrum differs
    from the computed eigenvalues by ``~eps·‖A‖``, so there its difference from the
    closed form grows above the rounding level of the other runs.
    The right panel draws the maximum over blocks of consecutive steps (so that the
    rounding noise reads as a band); blocks whose differences are all exactly 0 are not
    drawn.
    """
    quadratic = problem.quadratic  # type: ignore[attr-defined]
    J_star = quadratic.min_value()
    fig = _new_figure((13.0, 5.0)) if fig is None else fig
    curves, errors = fig.subplots(1, 2)
    for i, method in enumerate(methods):
        color = f"C{i}"
        theory = closed_form(problem, method, w0, steps)
        raw = simulate(problem, method, w0, steps)
        eigen = simulate(problem, method, w0, steps, basis="eigen")
        t = theory.steps
        shown = _marker_subset(t.shape[0], 30)
        scale = np.maximum(np.abs(theory.loss), theory.loss[0] - J_star)
        with np.errstate(invalid="ignore"):
            excess = np.where(theory.loss - J_star > 0.0, theory.loss - J_star, np.nan)
        curves.plot(t, excess, color=color, lw=1.5, label=_label(method))
        for run, style in ((raw, _RAW), (eigen, _EIGEN)):
            gap = run.loss[shown] - J_star
            curves.plot(t[shown], np.where(gap > 0.0, gap, np.nan), color=color, **style)
        for run, ls, name in ((raw, "-", "raw"), (eigen, ":", "eigenbasis")):
            diff = np.abs(run.loss - theory.loss) / scale
            block_t, block_max = _block_max(t, diff)
            errors.plot(block_t, np.where(block_max > 0.0, block_max, np.nan), color=color,
                        ls=ls, lw=1.3,
                        label=f"{_label(method).split(' (')[0]}, {name} − closed form "
                              f"(max {np.nanmax(diff):.1e})")
    curves.set(yscale="log", xlabel="step t", ylabel="J(w_t) − J*  (log scale)",
               title=f"Loss curves, d = {quadratic.dim}, "
                     f"κ = {_number(quadratic.condition_number)}")
    _style_legend(curves)
    curves.legend(loc="upper right", fontsize=8)
    curves.grid(True, which="major", alpha=0.3)
    eps = np.finfo(np.float64).eps
    errors.axhline(eps, color="0.5", lw=0.8, ls="--")
    errors.annotate("machine ε", (0.99, eps), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=8, color="0.4")
    errors.set(yscale="log", xlabel="step t",
               ylabel="|J_sim(w_t) − J_closed(w_t)| / max(|J(w_t)|, J(w_0) − J*)",
               title="Simulation against closed form: relative loss difference\n"
                     "(maximum over blocks of steps; exact zeros not drawn)")
    errors.legend(fontsize=8, loc="upper left")
    errors.grid(True, which="major", alpha=0.3)
    if caption:
        fig.supxlabel(caption, fontsize=8.5, color="0.25")
    return fig


def _block_max(t: np.ndarray, values: np.ndarray, blocks: int = 120
               ) -> tuple[np.ndarray, np.ndarray]:
    """Maxima of `values` over about `blocks` consecutive groups, at each group's middle."""
    edges = np.unique(np.linspace(0, t.shape[0], min(blocks, t.shape[0]) + 1).astype(np.int64))
    middle = np.array([t[lo:hi].mean() for lo, hi in itertools.pairwise(edges)])
    return middle, np.maximum.reduceat(values, edges[:-1])


def _number(value: float) -> str:
    """``1e+04`` as ``1e4``; other values with 3 significant digits."""
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{value:.3g}")


def plot_axis_regimes(problem: object, method: object, w0: object, steps: object, *,
                      which: Sequence[int] | None = None, fig: Figure | None = None
                      ) -> Figure:
    """Each eigen-coordinate ``u_j(t)``, simulated and in closed form, one panel per axis.

    Panel titles name the axis' regime from :func:`~quadsim.axis_regimes`
    (converging, oscillating, diverging, drifting or frozen) with its curvature ``a_j``,
    its linear term ``b̃_j`` and ``lr·a_j``. The stationary value ``u*_j = −b̃_j/a_j``
    of an axis with ``a_j ≠ 0`` is drawn dashed.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
    method : GD, Momentum, Nesterov or Preconditioned
    w0 : array_like, shape (d,)
        Starting point.
    steps : int or array_like
        Recorded steps, as in :func:`~quadsim.simulate`.
    which : sequence of int, optional
        The axes to draw (in the ascending order of the method's eigenvalues); all by
        default.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (one row of panels is added); a new one if None.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    quadsim.axis_regimes, quadsim.closed_form
    """
    quadratic = problem.quadratic  # type: ignore[attr-defined]
    frame = method.frame(quadratic)  # type: ignore[attr-defined]
    regimes = axis_regimes(problem, method)
    theory = closed_form(problem, method, w0, steps)
    raw = simulate(problem, method, w0, steps)
    eigen = simulate(problem, method, w0, steps, basis="eigen")
    u_theory, u_raw, u_eigen = (frame.to_eigen(run.w) for run in (theory, raw, eigen))
    t = theory.steps
    shown = _marker_subset(t.shape[0], 40)
    which = list(range(frame.dim)) if which is None else list(which)
    fig = _new_figure((3.1 * len(which), 3.6)) if fig is None else fig
    panels = np.atleast_1d(fig.subplots(1, len(which)))
    lr = getattr(method, "lr", 1.0)
    for ax, j in zip(panels, which, strict=True):
        a, b = frame.eigenvalues[j], frame.b[j]
        if a != 0.0:
            ax.axhline(-b / a, color="0.5", ls="--", lw=0.8, label="u*_j = −b̃_j / a_j")
        ax.plot(t, u_theory[:, j], color="C0", lw=1.2, label="closed form")
        ax.plot(t[shown], u_raw[shown, j], color="C1", **_RAW, label="simulate, raw basis")
        ax.plot(t[shown], u_eigen[shown, j], color="C2", **_EIGEN,
                label="simulate, eigenbasis")
        low, high = np.nanmin(u_theory[:, j]), np.nanmax(u_theory[:, j])
        if high - low < 1e-6 * max(1.0, abs(high)):  # a constant coordinate
            ax.set_ylim(low - 0.5 * max(1.0, abs(low)), high + 0.5 * max(1.0, abs(high)))
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_title(f"axis {j}: {regimes[j]}\na = {a:.3g}, b̃ = {b:.3g}, lr·a = {lr * a:.3g}",
                     fontsize=10)
        ax.set_xlabel("step t")
        ax.grid(True, alpha=0.3)
    panels[0].set_ylabel("eigen-coordinate u_j(t)")
    labelled = max(panels, key=lambda ax: len(ax.get_legend_handles_labels()[1]))
    fig.legend(*labelled.get_legend_handles_labels(), loc="outside lower center", ncol=4,
               fontsize=9)
    fig.suptitle(f"Per-axis regimes of {_label(method)}: u_j(t) in the eigenbasis of A")
    return fig


def _losses_after(problem: object, methods: Sequence[object], w0: object, horizon: int,
                  lrs: np.ndarray, basis: str) -> xr.Dataset:
    """``J(w_T)`` of each method template at each lr, closed form and simulated: a sweep.

    Variables ``closed_form`` and ``simulate`` over (``optimizer``: the index in
    `methods`, ``lr``); inf or NaN where the run overflowed.
    """

    def loss_after(optimizer: int, lr: float) -> dict[str, float]:
        spec = dataclasses.replace(methods[optimizer], lr=lr)  # type: ignore[type-var]
        with np.errstate(over="ignore", invalid="ignore"):
            return {"closed_form": closed_form(problem, spec, w0, [horizon]).loss[0],
                    "simulate": simulate(problem, spec, w0, [horizon], basis=basis).loss[0]}

    return sweep(loss_after, {"optimizer": list(range(len(methods))), "lr": lrs},
                 progress=False)


def plot_stability(problem: object, methods: Sequence[object], w0: object, horizon: int,
                   lrs: object = None, *, clip: float = 1e4, basis: str = "eigen",
                   ax: Axes | None = None) -> Figure:
    """Loss after `horizon` steps against the learning rate, with the stability edges.

    For each method (a template whose lr is replaced by each value of `lrs`) the
    relative excess loss ``(J(w_T) − J*) / (J(w_0) − J*)`` is drawn on log-log axes:
    :func:`~quadsim.closed_form` as a line, :func:`~quadsim.simulate` as markers, and the
    edge :func:`~quadsim.max_stable_lr` as a dashed vertical line. Lines are clipped at
    `clip`; simulated runs above it, or whose iterates overflowed, are marked with a
    cross in the shaded band above the plot, one row per method. The grid of methods ×
    learning rates is computed by :func:`quadsim.sweeps.sweep` (in this process).

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        A problem with a minimizer.
    methods : sequence of GD, Momentum, Nesterov or Preconditioned
        Templates: their ``beta`` (and ``P``) are kept, their lr is swept.
    w0 : array_like, shape (d,)
        Starting point.
    horizon : int
        The number of steps ``T``.
    lrs : array_like, optional
        Learning rates; by default 200 values log-spaced from 1e-2 times the smallest
        edge to 2 times the largest.
    clip : float, optional
        Largest relative excess loss drawn.
    basis : {'eigen', 'raw'}, optional
        The basis of the simulation.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; new ones if None.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    quadsim.max_stable_lr, quadsim.convergence_rate
    """
    from matplotlib.lines import Line2D

    quadratic = problem.quadratic  # type: ignore[attr-defined]
    J_star = quadratic.min_value()
    start = float(quadratic.value(w0)) - J_star
    edges = [max_stable_lr(problem, method) for method in methods]
    if lrs is None:
        lrs = np.geomspace(1e-2 * min(edges), 2.0 * max(edges), 200)
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = _losses_after(problem, methods, w0, horizon, lrs, basis)
    ax = _new_axes(ax, (9.5, 6.0))
    rows = clip * 10.0 ** (0.4 * (np.arange(len(methods)) + 0.75))
    top = clip * 10.0 ** (0.4 * (len(methods) + 0.5))
    ax.axhspan(clip, top, color="0.92", zorder=0)
    ax.text(lrs[0], rows[-1], " diverged or above the clip", fontsize=8, va="center",
            color="0.3")
    method_handles = []
    for i, (method, edge) in enumerate(zip(methods, edges, strict=True)):
        color = f"C{i}"
        name = _label(method).split(" (")[0]
        beta = getattr(method, "beta", None)
        if beta is not None:
            name = f"{name}, β = {beta:.3g}"
        with np.errstate(invalid="ignore", over="ignore"):
            theory = (losses.closed_form.isel(optimizer=i).values - J_star) / start
            simulated = (losses.simulate.isel(optimizer=i).values - J_star) / start
        ax.plot(lrs, np.where(np.isfinite(theory) & (theory < clip), theory, clip),
                color=color, lw=1.5)
        over = ~np.isfinite(simulated) | (simulated > clip)
        ax.plot(lrs[~over], simulated[~over], color=color, **{**_RAW, "ms": 3.5})
        ax.plot(lrs[over], np.full(np.count_nonzero(over), rows[i]), color=color,
                marker="x", ls="none", ms=4)
        ax.axvline(edge, color=color, ls="--", lw=1.0)
        method_handles.append(Line2D([], [], color=color, lw=3,
                                     label=f"{name}  (max_stable_lr = {edge:.3g})"))
    styles = [Line2D([], [], color="0.2", lw=1.5, label="closed form"),
              Line2D([], [], color="0.2", **{**_RAW, "ms": 3.5},
                     label=f"simulate ({basis} basis)"),
              Line2D([], [], color="0.2", marker="x", ls="none", ms=4,
                     label="simulate: diverged or clipped"),
              Line2D([], [], color="0.2", ls="--", lw=1.0, label="stability edge")]
    ax.add_artist(ax.legend(handles=styles, loc="lower center", fontsize=8))
    ax.legend(handles=method_handles, loc="lower left", fontsize=8)
    ax.set(xscale="log", yscale="log", ylim=(None, top), xlabel="learning rate lr",
           ylabel=f"relative excess loss (J(w_T) − J*) / (J(w_0) − J*),  T = {horizon}",
           title=f"Loss after {horizon} steps against lr "
                 f"(d = {quadratic.dim}, κ = {_number(quadratic.condition_number)}, "
                 f"a_max = {quadratic.eigenvalues[-1]:.3g})")
    ax.grid(True, which="major", alpha=0.3)
    return ax.figure  # type: ignore[return-value]


def _tuned_rates(problems: Sequence[object], tuned: dict[str, Any], decay: float,
                 basis: str) -> xr.Dataset:
    """Measured rates of each tuned method on each problem, and the window's prediction.

    A sweep over (``problem``: the index in `problems`, ``optimizer``: a key of `tuned`)
    with variables ``measured`` and ``window``: see :func:`plot_rates`.
    """

    def rate(problem: int, optimizer: str) -> dict[str, float]:
        spec = tuned[optimizer](problems[problem])
        rho = convergence_rate(problems[problem], spec)
        stop = max(2, int(np.ceil(np.log(decay) / np.log(rho))))
        start = stop // 2
        w0 = np.zeros(problems[problem].quadratic.dim)  # type: ignore[attr-defined]
        growth = (1.0 + (1.0 - rho) * stop) / (1.0 + (1.0 - rho) * start)
        return {"measured": measured_rate(problems[problem], spec, w0, start, stop,
                                          basis=basis),
                "window": rho * growth ** (1.0 / (stop - start))}

    return sweep(rate, {"problem": list(range(len(problems))), "optimizer": list(tuned)},
                 progress=False)


def plot_rates(problems: Sequence[object], *, decay: float = 1e-10, basis: str = "raw",
               fig: Figure | None = None) -> Figure:
    """Measured rates of tuned GD and tuned heavy ball against the condition number.

    For each problem the methods :func:`~quadsim.optimal_gd` and
    :func:`~quadsim.optimal_momentum` are run from ``w0 = 0`` and their rate is measured
    by :func:`~quadsim.measured_rate` over the window ``[T/2, T]``, with ``T`` the step at which
    the theoretical rate ``ρ`` has shrunk the error by `decay` (``ρ^T = decay``). The
    theory lines are ``(κ−1)/(κ+1)`` and ``(√κ−1)/(√κ+1)``; for heavy ball the slowest
    axes sit at a double root, the error decays as ``(1 + (1−ρ)t)·ρ^t`` and the window
    measures ``ρ·((1 + (1−ρ)T)/(1 + (1−ρ)T0))^(1/(T−T0))``, drawn dotted. The left
    panel shows the rate, the right one ``1 − rate`` (log-log), where the gap is visible.
    The grid of problems × methods is computed by :func:`quadsim.sweeps.sweep`.

    Parameters
    ----------
    problems : sequence of Quadratic or LinearRegression
        Positive definite problems; ``κ`` is their ``condition_number``.
    decay : float, optional
        The error reduction that fixes the horizon.
    basis : {'raw', 'eigen'}, optional
        The basis of the simulations.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (two panels are added); a new one if None.

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    quadsim.convergence_rate, quadsim.optimal_gd, quadsim.optimal_momentum
    """
    kappa = np.array([p.quadratic.condition_number for p in problems])  # type: ignore[attr-defined]
    tuned = {"GD": optimal_gd, "heavy ball": optimal_momentum}
    rates = _tuned_rates(problems, tuned, decay, basis)
    measured = {name: rates.measured.sel(optimizer=name).values for name in tuned}
    window = {name: rates.window.sel(optimizer=name).values for name in tuned}
    grid = np.geomspace(kappa.min(), kappa.max(), 200)
    root = np.sqrt(grid)
    theory = {"GD": ((grid - 1.0) / (grid + 1.0), "(κ−1)/(κ+1)"),
              "heavy ball": ((root - 1.0) / (root + 1.0), "(√κ−1)/(√κ+1)")}
    fig = _new_figure((13.0, 5.2)) if fig is None else fig
    panels = fig.subplots(1, 2)
    for ax, transform in zip(panels, (lambda r: r, lambda r: 1.0 - r), strict=True):
        for i, name in enumerate(tuned):
            color = f"C{i}"
            curve, formula = theory[name]
            ax.plot(grid, transform(curve), color=color, lw=1.5,
                    label=f"tuned {name}, theory {formula}")
            ax.plot(kappa, transform(measured[name]), color=color, **_RAW,
                    label=f"tuned {name}, measured over [T/2, T] ({basis} basis)")
        ax.plot(kappa, transform(window["heavy ball"]), color="C1", ls=":", lw=1.5,
                label="heavy ball, double-root prediction for the window")
        ax.set_xscale("log")
        ax.set_xlabel("condition number κ = a_max / a_min")
        ax.grid(True, which="both", alpha=0.3)
    panels[0].set(ylabel="rate ρ:  ‖w_t − w*‖ ∝ ρ^t", title="Convergence rate")
    panels[0].legend(fontsize=8, loc="lower right")
    panels[1].set(yscale="log", ylabel="1 − ρ  (log scale)",
                  title="1 − ρ: the double root biases the heavy-ball measurement")
    panels[1].legend(fontsize=8, loc="lower left")
    fig.supxlabel("Measured rate: (‖e_T‖ / ‖e_T0‖)^(1/(T − T0)) with e_t = w_t − w*, "
                  "T0 = T/2. Tuned heavy ball has a double root (Jordan block) on the "
                  "extreme axes: there e_t ∝ (1 + (1−ρ)t)·ρ^t,\nso any finite window "
                  "measures ρ·((1 + (1−ρ)T)/(1 + (1−ρ)T0))^(1/(T−T0)) (dotted), which "
                  "approaches ρ only like log(T)/T; tuned GD has simple roots and its "
                  "measurement sits on the theory.", fontsize=8.5, color="0.25")
    fig.suptitle(f"Tuned methods: rate measured from simulated runs ({len(problems)} "
                 f"problems, horizon T with ρ^T = {decay:.0e}) against theory",
                 fontsize=11)
    return fig
