"""Plots that read sweeps: heat map and lines, and the figures computed through sweeps."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from quadsim import GD, Momentum, Nesterov, NoisyQuadratic, Quadratic, closed_form, moments
from quadsim.plots import plot_rates, plot_stability
from quadsim.plots_stochastic import plot_batch_scaling, plot_optimal_lr
from quadsim.plots_sweep import plot_heatmap, plot_lines
from quadsim.scaling import batch_size_scaling, method_grid
from quadsim.sweeps import sweep

H = np.geomspace(1e-2, 1.0, 6)
W0 = np.ones(6)
LRS = np.geomspace(0.05, 2.5, 9)
SIZES = [1, 4, 16, 64]


def final_loss(lr, batch_size):
    model = NoisyQuadratic(Quadratic(H), batch_size=batch_size)
    loss = moments(model, GD(lr), W0, [0, 50]).loss[-1]
    return loss if np.isfinite(loss) and loss < 10.0 else None   # diverged: NaN


@pytest.fixture(scope="module")
def losses():
    return sweep(final_loss, {"lr": LRS, "batch_size": SIZES}, progress=False,
                 units={"batch_size": "examples"})


def test_heatmap_labels_cells_and_best(losses):
    ax = plot_heatmap(losses.value, x="batch_size", y="lr", best="min", log_color=True,
                      missing="diverged")
    assert ax.get_xlabel() == "batch size [examples]" and ax.get_ylabel() == "lr"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"   # 2.5/0.05 < LOG_SPAN
    mesh = ax.collections[0]
    assert mesh.get_array().shape == (len(LRS), len(SIZES))
    assert np.ma.count_masked(mesh.get_array()) == int(losses.value.isnull().sum()) > 0
    best = ax.get_lines()[0]
    expected = LRS[np.nanargmin(losses.value.values, axis=0)]
    assert_array_equal(best.get_xdata(), SIZES)
    assert_array_equal(best.get_ydata(), expected)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["diverged", "best lr per batch size (min)"]
    colorbar_axes = ax.figure.axes[1]
    assert colorbar_axes.get_ylabel() == "value"


def test_heatmap_of_string_axes_and_bad_input(losses):
    labelled = losses.value.assign_coords(batch_size=["a", "b", "c", "d"])
    ax = plot_heatmap(labelled, x="batch_size", y="lr")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match=r"select one value of lr first"):
        plot_heatmap(losses.value.expand_dims(step=[1, 2]), x="batch_size", y="step")
    with pytest.raises(ValueError, match="`data` has no dimension `B`"):
        plot_heatmap(losses.value, x="B", y="lr")
    with pytest.raises(ValueError, match="`best` must be 'min', 'max' or None"):
        plot_heatmap(losses.value, x="batch_size", y="lr", best="lowest")
    with pytest.raises(TypeError, match=r"must be an xarray\.DataArray"):
        plot_heatmap(losses, x="batch_size", y="lr")


def test_lines_one_per_hue(losses):
    ax = plot_lines(losses.value.sel(lr=LRS[:3]), x="batch_size", hue="lr")
    lines = ax.get_lines()
    assert len(lines) == 3
    assert lines[0].get_label() == f"lr = {LRS[0]}"
    assert_array_equal(lines[1].get_ydata(), losses.value.sel(lr=LRS[1]).values)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "batch size [examples]"
    single = plot_lines(losses.value.sel(batch_size=4), x="lr")
    assert len(single.get_lines()) == 1 and single.get_legend() is None


def test_batch_scaling_plots_read_a_sweep():
    model = NoisyQuadratic(Quadratic(H))
    grids = {"sgd": method_grid(GD, lr=np.geomspace(0.01, 1.9, 20)),
             "heavy ball": method_grid(Momentum, lr=np.geomspace(0.01, 1.9, 10),
                                       beta=[0.5, 0.9])}
    sizes = 2 ** np.arange(0, 10, 3)

    def scaling(optimizer):
        return batch_size_scaling(model, grids[optimizer], 0.05, W0, sizes)

    ds = sweep(scaling, {"optimizer": list(grids)}, progress=False)
    ax = plot_batch_scaling(ds)
    curve = ax.get_lines()[0]
    assert curve.get_label() == "sgd"
    assert_array_equal(curve.get_ydata(), scaling("sgd").steps[scaling("sgd").steps > 0])
    ax = plot_optimal_lr(ds, edge=2.0)
    assert_array_equal(ax.get_lines()[1].get_ydata(), scaling("heavy ball").best_lrs)
    with pytest.raises(ValueError, match="must be a sweep of batch_size_scaling over one axis"):
        plot_batch_scaling(ds.sel(optimizer="sgd"))


def test_stability_and_rates_figures_compute_through_sweeps():
    problem = Quadratic.from_eigenvalues(H, -H, rng=0)
    methods = [GD(1.0), Nesterov(1.0, beta=0.5)]
    lrs = np.geomspace(0.1, 5.0, 7)
    fig = plot_stability(problem, methods, W0, 20, lrs)
    theory = fig.axes[0].get_lines()[0]
    J_star = problem.min_value()
    start = problem.value(W0) - J_star
    expected = [(closed_form(problem, GD(lr), W0, [20]).loss[0] - J_star) / start
                for lr in lrs]
    shown = np.asarray(theory.get_ydata())
    kept = shown < 1e4   # clipped above
    assert_allclose(shown[kept], np.asarray(expected)[kept], rtol=1e-12)
    problems = [Quadratic.from_eigenvalues(np.geomspace(1.0 / kappa, 1.0, 5), -np.ones(5),
                                           rng=1) for kappa in (10.0, 100.0)]
    fig = plot_rates(problems, decay=1e-6)
    measured = fig.axes[0].get_lines()[1].get_ydata()
    assert_allclose(measured, [(k - 1) / (k + 1) for k in (10.0, 100.0)], rtol=1e-3)
