"""Figures: NQM steps to target and optimal learning rate against batch size.

The noisy quadratic model of Zhang et al. (2019): d = 10⁴, h_i = 1/i rounded down to 100
geometric bins between 1 and 1e-4 (as the paper's figures; J(w_0) = 4.7025 from w_0 = 1),
C = H, target loss 0.01, batch sizes 2⁰ … 2²¹. For each batch size, the fewest steps
over the paper's grids, all from the exact expected loss: SGD with lr in
logspace(-5, 0.5, 100); heavy ball with lr in logspace(-8, 1, 100) and β in
1 − logspace(-5, 0, 20); preconditioned SGD with P = H^(−1/2); SGD with an exponential
moving average, γ in 1 − logspace(-5, 0, 20). The four optimizers are one sweep
(quadsim.sweeps) over an `optimizer` axis.
"""

from pathlib import Path

import numpy as np

from quadsim import GD, Momentum, NoisyQuadratic, Preconditioned, Quadratic
from quadsim.noise import nqm_spectrum
from quadsim.plots import _new_figure, save_figure
from quadsim.plots_stochastic import plot_batch_scaling, plot_optimal_lr
from quadsim.scaling import batch_size_scaling, method_grid
from quadsim.sweeps import sweep

FIGURES = Path(__file__).resolve().parents[1] / "figures"
TARGET = 0.01
BATCH_SIZES = 2 ** np.arange(0, 22)
MOMENTA = 1.0 - np.logspace(-5, 0, 20)
SGD_LRS = np.logspace(-5, 0.5, 100)
OPTIMIZERS = ("SGD", "heavy ball (tuned β)", "preconditioned SGD, P = H^(−1/2)",
              "SGD + EMA (tuned γ)")
DIM, BINS = 10_000, 100


def candidates(optimizer, h):
    """The optimizer's grid of hyperparameters, and whether it targets the moving average."""
    if optimizer == "SGD":
        return method_grid(GD, lr=SGD_LRS), False
    if optimizer == "heavy ball (tuned β)":
        return method_grid(Momentum, lr=np.logspace(-8, 1, 100), beta=MOMENTA), False
    if optimizer == "preconditioned SGD, P = H^(−1/2)":
        return method_grid(Preconditioned, lr=SGD_LRS, P=[h**-0.5]), False
    return method_grid(GD, lr=SGD_LRS, ema=MOMENTA), True


def optimizer_scaling(optimizer, dim, bins):
    """One optimizer's batch-size scaling on the NQM: one point of the sweep."""
    h = nqm_spectrum(dim, bins=bins)
    grid, ema = candidates(optimizer, h)
    return batch_size_scaling(NoisyQuadratic(Quadratic(h)), grid, TARGET, np.ones(dim),
                              BATCH_SIZES, ema=ema)


def main(folder=FIGURES):
    scaling = sweep(optimizer_scaling, {"optimizer": list(OPTIMIZERS)},
                    constants={"dim": DIM, "bins": BINS})
    steps = _new_figure((7.0, 5.0))
    plot_batch_scaling(scaling, ax=steps.subplots())
    lr = _new_figure((7.0, 5.0))
    plot_optimal_lr(scaling.sel(optimizer=[OPTIMIZERS[0], OPTIMIZERS[2]]),
                    edge=2.0 / nqm_spectrum(DIM, bins=BINS).max(), ax=lr.subplots())
    return [save_figure(steps, folder / "nqm_batch_scaling.png"),
            save_figure(lr, folder / "nqm_optimal_lr.png")]


if __name__ == "__main__":
    print(main())
