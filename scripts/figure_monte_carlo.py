"""Figure: Monte Carlo ensembles against the exact expected loss, with the noise floor.

Top: minibatch SGD and heavy-ball SGD (B = 4, with replacement) on a linear regression
(n = 64, d = 10, rows N(0, I/d), label noise σ = 0.3, l2 = 0.01). Bottom: the noisy
quadratic model, h_i = 1/i for d = 100 with C = H and B = 8. Third row: online SGD on
fresh Gaussian examples, d = 20, Σ with eigenvalues from 1 to 0.02 in a random basis,
teacher w* = 1, label-noise variance 0.1, B = 4 (noise that grows with the loss). 2000
seeded runs each; the band is ±2 standard errors of the mean, the dashed line the exact
E[J(w_t)].
"""

from pathlib import Path

import numpy as np

from quadsim import (
    GD,
    LinearRegression,
    Minibatch,
    Momentum,
    NoisyQuadratic,
    OnlineRegression,
    Quadratic,
)
from quadsim.noise import nqm_spectrum
from quadsim.plots import _new_figure, save_figure
from quadsim.plots_stochastic import plot_monte_carlo

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "monte_carlo.png"
STEPS = np.unique(np.geomspace(1, 3000, 80).astype(np.int64))


def regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 10)) / np.sqrt(10)
    return LinearRegression(X, X @ rng.normal(size=10) + 0.3 * rng.normal(size=64), l2=0.01)


def main(path=FIGURE):
    fig = _new_figure((12.0, 13.0))
    axes = fig.subplots(3, 2)
    data = Minibatch(regression(), 4)
    nqm = NoisyQuadratic(Quadratic(nqm_spectrum(100)), batch_size=8)
    covariance = Quadratic.from_eigenvalues(np.geomspace(1.0, 0.02, 20), rng=2).A
    stream = OnlineRegression(covariance, np.ones(20), noise=0.1, batch_size=4)
    cases = [(data, GD(0.5), np.zeros(10)), (data, Momentum(0.1, 0.8), np.zeros(10)),
             (nqm, GD(1.0), np.ones(100)), (nqm, Momentum(0.2, 0.9), np.ones(100)),
             (stream, GD(0.5), np.zeros(20)), (stream, Momentum(0.1, 0.8), np.zeros(20))]
    for ax, (model, method, w0) in zip(axes.ravel(), cases, strict=True):
        plot_monte_carlo(model, method, w0, np.r_[0, STEPS], runs=2000, rng=1,
                         floor_step=30_000, ax=ax)
    for ax in axes[0]:
        ax.set_title(f"Minibatch (n = 64, d = 10, B = 4): {ax.get_title()}", fontsize=10)
    for ax in axes[1]:
        ax.set_title(f"NQM (d = 100, h_i = 1/i, B = 8): {ax.get_title()}", fontsize=10)
    for ax in axes[2]:
        ax.set_title(f"Online Gaussian regression (d = 20, B = 4): {ax.get_title()}",
                     fontsize=10)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
