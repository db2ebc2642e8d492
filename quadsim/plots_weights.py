"""Figures of weight matrices: outlier eigenvalues, the gradient in their span, MLP layer ranks.

Like :mod:`quadsim.plots`, each function draws on the axes it is given (new, pyplot-free
ones otherwise) and imports matplotlib only when called. Closed forms are lines,
simulations markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from quadsim.mlp import MLP
from quadsim.nonsymmetric import OutlierRun, OutlierSubspace
from quadsim.plots import _marker_subset, _new_axes
from quadsim.plots_calculus import _draw_factor_spectrum, _draw_machine_eps
from quadsim.recurrent import RecurrentRun

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_eigenvalues",
    "plot_layer_spectra",
    "plot_outlier_fraction",
    "plot_rank_one_edit",
    "plot_spectral_radius",
    "plot_three_answers",
]


def _circle(ax: Axes, radius: float, **style: object) -> None:
    angle = np.linspace(0.0, 2 * np.pi, 400)
    ax.plot(radius * np.cos(angle), radius * np.sin(angle), **style)  # type: ignore[arg-type]


def plot_eigenvalues(initial: object, trained: OutlierSubspace, *, title: str = "",
                     ax: Axes | None = None) -> Axes:
    """Eigenvalues of ``W_0`` and ``W_t`` in the complex plane, outliers marked.

    Parameters
    ----------
    initial : array_like of complex
        The eigenvalues of ``W_0`` (grey dots).
    trained : OutlierSubspace
        Of ``W_t`` (blue dots); its outliers ringed in red. Drawn: the unit circle, the
        bulk's radius (dashed) and the outlier threshold ``radius·(1 + margin)`` (dotted).
    """
    ax = _new_axes(ax, (5.0, 5.0))
    start = np.asarray(initial, dtype=np.complex128)
    ax.plot(start.real, start.imag, ls="none", marker=".", ms=4, color="0.6",
            label="W₀")
    values = trained.eigenvalues
    ax.plot(values.real, values.imag, ls="none", marker=".", ms=4, color="C0", label="W_t")
    outliers = trained.outliers
    ax.plot(outliers.real, outliers.imag, ls="none", marker="o", ms=11, mfc="none",
            mec="C3", mew=1.5, label=f"outliers of W_t (k = {trained.k})")
    _circle(ax, 1.0, color="k", lw=1.0, label="unit circle")
    if trained.radius != 1.0:
        _circle(ax, trained.radius, color="0.3", lw=0.9, ls="--",
                label=f"bulk radius {trained.radius:.3g}")
    _circle(ax, trained.threshold, color="C3", lw=0.9, ls=":",
            label=f"threshold: radius·(1 + {trained.margin:.3f})")
    reach = max(1.1, 1.1 * float(np.max(np.abs(values))), trained.threshold * 1.1)
    ax.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal", xlabel="Re λ",
           ylabel="Im λ", title=title)
    ax.legend(fontsize=7.5, loc="lower left")
    ax.grid(True, alpha=0.3)
    return ax


def _log_steps(steps: np.ndarray) -> np.ndarray:
    return np.maximum(steps, 0.5)


def plot_outlier_fraction(run: OutlierRun, *, ax: Axes | None = None) -> Axes:
    """``‖P G_t‖²/‖G_t‖²`` and ``‖G_t P‖²/‖G_t‖²`` along training, simulated and closed form.

    Lines from the closed-form iterates, markers from the simulated ones
    (:func:`~quadsim.nonsymmetric.outlier_gradient`), on a log time axis (step 0 at
    0.5); the number of outliers ``k_t`` is written where it changes.
    """
    ax = _new_axes(ax, (6.0, 4.5))
    t = _log_steps(run.steps)
    shown = _marker_subset(t.size, 30)
    for color, name, label in (("C0", "fraction_left", "‖P G‖² / ‖G‖²  (left: columns)"),
                               ("C1", "fraction_right", "‖G P‖² / ‖G‖²  (right: rows)")):
        ax.plot(t, getattr(run.theory, name), color=color, lw=1.6, label=label)
        ax.plot(t[shown], getattr(run.simulated, name)[shown], color=color, ls="none",
                marker="o", mfc="none", ms=5)
    k = run.theory.k
    for row, i in enumerate(np.flatnonzero(np.r_[True, k[1:] != k[:-1]])):
        ax.annotate(f"k = {k[i]} from step {run.steps[i]}", (t[i], 1.0),
                    xytext=(2, -10 - 10 * row), textcoords="offset points", fontsize=7.5,
                    color="0.3")
        ax.axvline(t[i], color="0.7", lw=0.7, ls=":")
    where = "its own W_t" if run.at is None else f"W at step {run.at}"
    ax.set(xscale="log", ylim=(-0.02, 1.05), xlabel="step t (step 0 drawn at 0.5)",
           ylabel="fraction of ‖G_t‖² in the outlier subspace",
           title=f"Gradient in the outliers' invariant subspace of {where}")
    ax.legend(fontsize=8, title="lines: closed form; o: simulated", title_fontsize=7.5)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_three_answers(run: OutlierRun, *, ax: Axes | None = None) -> Axes:
    """The three answers to "how much of ``G`` lies in the outlier span", on one axis.

    The projector fraction ``‖P G‖²/‖G‖²``, the mean ``cos²`` of the principal angles to
    the gradient's top-``k`` column space, and the rank-``k`` directional derivative
    ``tr(Gᵀ ΔŴ_k)/(‖G‖ ‖ΔŴ_k‖)`` (negative: training moves against the gradient), and the
    derivative along the projector ``tr(Gᵀ P)/(‖G‖ ‖P‖)``; closed form lines, simulated
    markers.
    """
    ax = _new_axes(ax, (6.0, 4.5))
    t = _log_steps(run.steps)
    shown = _marker_subset(t.size, 30)
    curves = (("C0", "fraction_left", "projector: ‖P G‖² / ‖G‖²"),
              ("C2", "mean_cos2_left", "principal cosines: mean cos² θ_i"),
              ("C3", "update_cosine", "rank-k: tr(Gᵀ ΔŴ_k) / (‖G‖ ‖ΔŴ_k‖)"),
              ("C4", "projector_cosine", "along P: tr(Gᵀ P) / (‖G‖ ‖P‖)"))
    for color, name, label in curves:
        ax.plot(t, getattr(run.theory, name), color=color, lw=1.6, label=label)
        ax.plot(t[shown], getattr(run.simulated, name)[shown], color=color, ls="none",
                marker="o", mfc="none", ms=5)
    ax.axhline(0.0, color="k", lw=0.7)
    where = "of each step" if run.at is None else f"from step t = {run.at}"
    ax.set(xscale="log", ylim=(-1.02, 1.02), xlabel="step t′ of the gradient (0 at 0.5)",
           ylabel="share / cosine", title=f"Three answers; outlier span and ΔW {where}")
    ax.legend(fontsize=7.5, title="lines: closed form; o: simulated", title_fontsize=7.5)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_spectral_radius(runs: Sequence[RecurrentRun], labels: Sequence[str], *,
                         ax: Axes | None = None) -> Axes:
    """``ρ(W_t)`` along GD runs on the recurrent loss, with the edge ``ρ = 1`` and stops.

    On a log time axis (step 0 at 0.5); a run that stopped (``ρ(W_t) >= 1``) is marked
    with a cross at the radius that stopped it.
    """
    ax = _new_axes(ax, (6.0, 4.5))
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        t = _log_steps(run.steps)
        ax.plot(t, run.radius, color=f"C{i}", lw=1.4, label=label)
        if run.stopped_at is not None:
            last = int(np.flatnonzero(np.isfinite(run.radius))[-1])
            ax.plot(t[last], run.radius[last], marker="X", ms=10, color=f"C{i}",
                    mec="k", label=f"stopped at step {run.stopped_at}: ρ ≥ 1")
    ax.axhline(1.0, color="k", lw=1.0, ls="--")
    ax.set(xscale="log", xlabel="step t (step 0 drawn at 0.5)", ylabel="spectral radius ρ(W_t)",
           title="GD on the recurrent loss runs while ρ(W_t) < 1")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def plot_layer_spectra(net: MLP, X: object, Y: object, batch_sizes: Sequence[int], *,
                       axes: Sequence[Axes] | None = None) -> list[Axes]:
    """Singular values of each layer's batch gradient for several batch sizes: rank ≤ B.

    One panel per layer; for each ``B`` the first ``B`` rows of ``X, Y`` form the batch.
    Dots: dense SVD of ``Σ_i δ_l^i u_{l−1}^{iᵀ} / B`` normalised by its largest; crosses:
    from the factors' ``B × B`` core; dotted lines at ``i = B + ½``, where the rank-``B``
    cliff falls to rounding.
    """
    if axes is None:
        from quadsim.plots import _new_figure

        axes = list(_new_figure((4.2 * len(net.weights), 4.2)).subplots(
            1, len(net.weights), squeeze=False)[0])
    X, Y = np.asarray(X), np.asarray(Y)
    sizes = net.sizes
    for i, B in enumerate(batch_sizes):
        layers = net.per_example(X[:B], Y[:B])
        for layer, (ax, grads) in enumerate(zip(axes, layers, strict=True)):
            _draw_factor_spectrum(ax, grads, f"C{i}", f"B = {B}",
                                  "from the factors" if i == 0 and layer == 0 else None)
    for layer, ax in enumerate(axes):
        _draw_machine_eps(ax)
        ax.set(yscale="log", xlabel="index i",
               title=f"layer {layer + 1}: W is {sizes[layer + 1]} × {sizes[layer]}")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("σ_i / σ_1 of the batch gradient")
    axes[0].legend(fontsize=7.5, loc="center right")
    return list(axes)


def plot_rank_one_edit(net: MLP, x: object, y: object, lrs: object, *,
                       ax: Axes | None = None) -> Axes:
    """One example's loss after a rank-1 edit of each layer, and after the full step.

    For each layer ``l`` the edit ``W_l ← W_l − lr·δ_l u_{l−1}ᵀ`` built from the example's
    factors (:meth:`~quadsim.mlp.MLP.rank_one_edit`), and the edit of all layers at once
    (solid); the full gradient step with the dense gradients of every layer (markers:
    it is the all-layer edit); for the linear output layer the exact
    ``½‖δ_L‖² (1 − lr‖u_{L−1}‖²)²`` (black dashes), zero at ``lr = 1/‖u_{L−1}‖²`` (dotted).
    """
    ax = _new_axes(ax, (6.0, 4.5))
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rates = np.asarray(lrs, dtype=np.float64)
    X, Y = x[None, :], y[None, :]
    L = len(net.weights)
    for layer in range(L):
        losses = [net.rank_one_edit(x, y, lr, layers=[layer]).losses(X, Y)[0] for lr in rates]
        ax.plot(rates, losses, color=f"C{layer}", lw=1.4, label=f"rank-1 edit of layer "
                                                                 f"{layer + 1} only")
    every = [net.rank_one_edit(x, y, lr).losses(X, Y)[0] for lr in rates]
    ax.plot(rates, every, color="k", lw=1.6, label=f"rank-1 edits of all {L} layers")
    dense = net.gradients(X, Y)
    shown = _marker_subset(rates.size, 15)
    full = [MLP(tuple(W - lr * G for W, G in zip(net.weights, dense, strict=True)),
                net.activation).losses(X, Y)[0] for lr in rates[shown]]
    ax.plot(rates[shown], full, ls="none", marker="o", mfc="none", ms=6, color="k",
            label="full gradient step (dense gradients)")
    factors = net.per_example(X, Y)[-1]
    u, delta = factors.inputs[0], factors.residuals[0]
    exact = 0.5 * float(delta @ delta) * (1.0 - rates * float(u @ u)) ** 2
    ax.plot(rates, exact, color="k", lw=0.9, ls="--",
            label=f"layer {L} (linear output), exact: ½‖δ‖²(1 − lr‖u‖²)²")
    ax.axvline(1.0 / float(u @ u), color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="lr", ylabel="loss of the edited example",
           ylim=(0.0, 1.5 * max(every[0], exact[0])),
           title="Editing one example: rank-1 updates from (δ, u)")
    ax.legend(fontsize=7.5)
    ax.grid(True, alpha=0.3)
    return ax
