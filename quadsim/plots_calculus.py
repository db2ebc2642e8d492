"""Figures of the calculus of training: gradient subspaces, per-example gradients, Taylor models.

Like :mod:`quadsim.plots`, each function computes with the public API, draws on the axes
it is given (new, pyplot-free ones otherwise) and imports matplotlib only when called.
Closed forms are lines, simulations markers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from quadsim.per_example import PerExampleGradients, per_example_gradients
from quadsim.plots import _label, _marker_subset, _new_axes, _new_figure
from quadsim.subspaces import gradient_subspace
from quadsim.taylor import TaylorComparison

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Simulated fractions are drawn only where ``‖G_t‖`` exceeds its rounding level this
#: many times over.
ROUNDING_MARGIN = 1e3

__all__ = ["plot_batch_gradient_spectrum", "plot_gradient_fraction", "plot_taylor_horizon",
           "plot_taylor_losses"]


def plot_gradient_fraction(problem: object, method: object, w0: object, steps: object,
                           ks: Sequence[int], *, ax: Axes | None = None) -> Axes:
    """The gradient's share of the top-``k`` eigenspace of ``A`` along a run, for each k.

    Lines: the closed form ``Σ_{top k} a² ẽ(t)² / Σ a² ẽ(t)²``; markers: the same from the
    simulated ``G_t = ∇L(W_t)`` (:func:`~quadsim.subspaces.gradient_subspace`), left out
    where ``‖G_t‖`` is within ``ROUNDING_MARGIN`` of its rounding level
    ``eps·max|A|·‖W_t‖·√(m·d)`` (its direction is noise there); on a log time axis
    (step 0 at the left edge).
    """
    ax = _new_axes(ax, (6.0, 4.5))
    matrix = problem.curvature if hasattr(problem, "curvature") \
        else problem.quadratic.matrix  # type: ignore[attr-defined]
    eps = np.finfo(np.float64).eps
    for i, k in enumerate(ks):
        run = gradient_subspace(problem, method, w0, steps, k)
        t = np.maximum(run.steps, 0.5)
        w = run.trajectory.w.reshape(t.shape[0], -1)
        floor = eps * np.abs(matrix).max() * np.linalg.norm(w, axis=1) * np.sqrt(w.shape[1])
        shown = _marker_subset(t.shape[0], 25)
        shown = shown[run.gradient_norm[shown] > ROUNDING_MARGIN * floor[shown]]
        ax.plot(t, run.fraction_theory, color=f"C{i}", lw=1.6, label=f"k = {k}")
        ax.plot(t[shown], run.fraction[shown], color=f"C{i}", marker="o", ls="none",
                mfc="none", ms=5)
    ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="step t (step 0 drawn at 0.5)",
           ylabel="‖G_t P_k‖² / ‖G_t‖²", title=_label(method))
    ax.legend(fontsize=8, title="lines: closed form; o: simulated\n(until ‖G_t‖ nears "
                                "rounding)", title_fontsize=7.5)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _draw_factor_spectrum(ax: Axes, grads: PerExampleGradients, color: str, label: str,
                          factors_label: str | None) -> None:
    """Singular values of ``Σ_s ω_s δ_s x_sᵀ``: dense SVD (dots) and the factored core (×).

    Both normalised by their largest, against their index, with a dotted line at
    ``B + ½``: past ``B`` the dense values are rounding.
    """
    dense = np.linalg.svd(grads.batch_gradient(ridge=False), compute_uv=False)
    index = np.arange(1, dense.size + 1)
    ax.plot(index, np.maximum(dense / dense[0], np.finfo(np.float64).tiny), color=color,
            marker="o", ms=4, lw=1.0, label=label)
    factored = grads.singular_values()[:grads.rank_bound]
    ax.plot(index[:factored.size], factored / factored[0], color="k", marker="x", ms=6,
            ls="none", label=factors_label)
    ax.axvline(grads.batch_size + 0.5, color=color, lw=0.8, ls=":")


def _draw_machine_eps(ax: Axes) -> None:
    eps = np.finfo(np.float64).eps
    ax.axhline(eps, color="0.5", lw=0.8, ls="--")
    ax.annotate("machine ε", (0.99, eps), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=8, color="0.4")


def plot_batch_gradient_spectrum(problem: object, w: object, batch_sizes: Sequence[int], *,
                                 rng: object = 0, ax: Axes | None = None) -> Axes:
    """Singular values of minibatch gradients (ridge term left out) for several batch sizes.

    For each ``B`` a batch of ``B`` distinct examples is drawn; the dense gradient
    ``Σ_s δ_s x_sᵀ / B`` is formed and its singular values (numpy's SVD, normalised by the
    largest) drawn against their index: ``B`` of them are O(1), the rest rounding, as the
    factored form (:func:`~quadsim.per_example.per_example_gradients`) says (``rank ≤ B``);
    its nonzero singular values, from the ``B × B`` core, are drawn as crosses.
    """
    ax = _new_axes(ax, (7.5, 5.0))
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    n = problem.n_samples  # type: ignore[attr-defined]
    for i, B in enumerate(batch_sizes):
        batch = generator.choice(n, size=B, replace=False)
        grads = per_example_gradients(problem, w, batch)
        _draw_factor_spectrum(ax, grads, f"C{i}", f"B = {B} (rank bound {grads.rank_bound})",
                              "from the factors (B × B core)" if i == 0 else None)
    _draw_machine_eps(ax)
    ax.set(yscale="log", xlabel="index i", ylabel="σ_i / σ_1 of the batch gradient",
           title="Minibatch gradients Σ_s δ_s x_sᵀ / B: rank ≤ B")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_taylor_losses(runs: Sequence[TaylorComparison], *, floor: float | None = None,
                       log_time: bool = True, ax: Axes | None = None) -> Axes:
    """Loss of real GD (solid) and of its Taylor model's closed form (dashed) against time.

    One colour per run (learning rate), on the time axis ``lr·t``, with the parting step
    marked; the predicted curve is drawn up to where it leaves the plotted range (an
    indefinite model's prediction falls without bound). With `log_time` False the time
    axis is linear and ends at twice the latest parting.
    """
    ax = _new_axes(ax, (6.0, 4.5))
    top = max(float(np.max(run.loss)) for run in runs)
    bottom = min(float(np.min(run.loss)) for run in runs) if floor is None else floor
    span = top - bottom
    parted = [run.lr * run.parting_step for run in runs if run.parting_step is not None]
    for i, run in enumerate(runs):
        time = (np.maximum(run.steps, 0.5) if log_time else run.steps) * run.lr
        color = f"C{i}"
        ax.plot(time, run.loss, color=color, lw=1.6, label=f"lr = {run.lr:.3g}")
        inside = (run.predicted_loss > bottom - 0.1 * span) & np.isfinite(run.predicted_loss)
        last = int(np.argmin(inside)) + 1 if not np.all(inside) else inside.size
        ax.plot(time[:last], run.predicted_loss[:last], color=color, lw=1.2, ls="--")
        if run.parting_step is not None:
            t = run.parting_step
            ax.plot(time[t], run.loss[t], marker="v", color=color, ms=9, mec="k", mew=0.6)
    ax.set(ylim=(bottom - 0.1 * span, top + 0.05 * span), ylabel="loss")
    if log_time:
        ax.set(xscale="log", xlabel="time lr·t (log; step 0 drawn at lr/2)")
    else:
        ax.set(xlim=(0.0, 2.0 * max(parted, default=1.0)), xlabel="time lr·t")
    ax.legend(fontsize=8, title="solid: GD on f; dashed: closed form of\nits Taylor model; "
                                "▼: they part", title_fontsize=7.5)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_taylor_horizon(horizons: Mapping[str, Sequence[TaylorComparison]],
                        scales: Mapping[str, float], *,
                        axes: tuple[Axes, Axes] | None = None) -> tuple[Axes, Axes]:
    """How long the Taylor prediction holds: parting time ``lr·t`` and distance, against lr.

    One colour per starting point (mapping label → runs from
    :func:`~quadsim.taylor.taylor_horizon`); the learning rate is drawn as ``lr·s`` with
    the scale ``s = scales[label]`` (e.g. the largest ``|a|`` of the Taylor model), so
    that different models share an axis. Left: the time ``lr·t`` at which the iterates
    part (log scale); right: the distance ``‖x_t − x₀‖`` travelled by then.
    """
    if axes is None:
        time_ax, distance_ax = _new_figure((11.0, 4.5)).subplots(1, 2)
    else:
        time_ax, distance_ax = axes
    for i, (name, runs) in enumerate(horizons.items()):
        parted = [run for run in runs if run.parting_step is not None]
        rates = np.array([run.lr for run in parted]) * scales[name]
        times = np.array([run.lr * run.parting_step for run in parted])  # type: ignore[operator]
        distances = np.array([run.parting_distance for run in parted], dtype=np.float64)
        time_ax.plot(rates, times, color=f"C{i}", marker="o", lw=1.4, label=name)
        distance_ax.plot(rates, distances, color=f"C{i}", marker="s", lw=1.4, label=name)
    time_ax.set(xscale="log", yscale="log", xlabel="lr · max|a| of the Taylor model",
                ylabel="time lr·t at which they part", title="How long the prediction holds")
    distance_ax.set(xscale="log", xlabel="lr · max|a| of the Taylor model",
                    ylabel="‖x_t − x₀‖ when they part", title="How far the prediction holds")
    distance_ax.set_ylim(bottom=0)
    for ax in (time_ax, distance_ax):
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    return time_ax, distance_ax
