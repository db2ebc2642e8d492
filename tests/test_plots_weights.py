"""The weight-matrix figures draw what they compute (smoke tests on tiny problems)."""

import numpy as np
import pytest

from quadsim import GD
from quadsim.circular_law import ginibre
from quadsim.mlp import MLP
from quadsim.nonsymmetric import outlier_gradient, outlier_subspace, square_regression
from quadsim.plots_weights import (
    plot_eigenvalues,
    plot_layer_spectra,
    plot_outlier_fraction,
    plot_rank_one_edit,
    plot_spectral_radius,
    plot_three_answers,
)
from quadsim.recurrent import recurrent_task, train

pytest.importorskip("matplotlib")  # the module imports it only when drawing


def test_outlier_figures_draw_their_curves():
    problem, _ = square_regression(20, [1.8, 1.4 + 0.6j], signal=4, rng=0)
    W0 = ginibre(20, rng=1)
    run = outlier_gradient(problem, GD(0.3), W0, [0, 2, 5, 10, 40])
    found = outlier_subspace(run.trajectory.w[-1])
    ax = plot_eigenvalues(np.linalg.eigvals(W0), found)
    assert ax.lines[1].get_xdata().shape == (20,) and ax.lines[2].get_xdata().size == found.k
    ax = plot_outlier_fraction(run)
    assert np.array_equal(ax.lines[0].get_ydata(), run.theory.fraction_left, equal_nan=True)
    ax = plot_three_answers(outlier_gradient(problem, GD(0.3), W0, [0, 5, 40], at=10))
    assert len(ax.lines) == 9  # four answers as lines and markers, and the zero line


def test_recurrent_and_mlp_figures_draw_their_curves():
    W0 = ginibre(6, rng=0, std=0.5 / np.sqrt(6))
    runs = [train(recurrent_task(6, [[1.0]], rng=0), W0, 0.05, 20),
            train(recurrent_task(6, [[60.0]], rng=0), W0, 0.05, 20)]
    ax = plot_spectral_radius(runs, ["fine", "stops"])
    assert runs[1].stopped_at is not None and len(ax.lines) == 4  # two runs, a stop, ρ = 1
    net = MLP.init((5, 7, 4), rng=0)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(4, 5)), rng.normal(size=(4, 4))
    axes = plot_layer_spectra(net, X, Y, (1, 2))
    dense = axes[0].lines[0].get_ydata()
    assert dense.shape == (5,) and dense[0] == 1.0 and dense[1] < 1e-12  # B = 1: rank 1
    ax = plot_rank_one_edit(net, X[0], Y[0], np.linspace(0, 0.2, 5))
    assert ax.lines[0].get_ydata()[0] == pytest.approx(net.losses(X[:1], Y[:1])[0])
