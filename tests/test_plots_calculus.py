"""The calculus figures draw what they compute (smoke tests on tiny problems)."""

import numpy as np
import pytest

from quadsim import GD, LinearRegression
from quadsim.plots_calculus import (
    plot_batch_gradient_spectrum,
    plot_gradient_fraction,
    plot_taylor_horizon,
    plot_taylor_losses,
)
from quadsim.taylor import TanhReadout, taylor_horizon

pytest.importorskip("matplotlib")  # the module imports it only when drawing


def test_calculus_figures_draw_their_curves():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 6)), rng.normal(size=(30, 4))
    problem = LinearRegression(X, Y, l2=0.01)
    ax = plot_gradient_fraction(problem, GD(0.1), np.zeros((4, 6)), 20, (1, 3))
    assert len(ax.lines) == 4  # a closed-form line and simulated markers per k
    ax = plot_batch_gradient_spectrum(problem, rng.normal(size=(4, 6)), (1, 2))
    dense = ax.lines[0].get_ydata()
    assert dense.shape == (4,) and dense[0] == 1.0 and dense[1] < 1e-12  # B = 1: rank 1
    readout = TanhReadout(rng.normal(size=5), outputs=2)
    W0 = rng.normal(size=(2, 5))
    runs = taylor_horizon(readout.value, readout.grad, W0, [0.05, 0.1], 400, hvp=readout.hvp)
    ax = plot_taylor_losses(runs, log_time=False)
    assert len(ax.lines) >= 4
    time_ax, distance_ax = plot_taylor_horizon({"seed": runs}, {"seed": 1.0})
    assert time_ax.lines[0].get_xdata().tolist() == [0.05, 0.1]
    distances = [run.parting_distance for run in runs]
    assert distance_ax.lines[0].get_ydata().tolist() == distances
