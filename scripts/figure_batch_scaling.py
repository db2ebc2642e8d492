"""Figures: NQM steps to target and optimal learning rate against batch size.

The noisy quadratic model of Zhang et al. (2019): d = 10⁴, h_i = 1/i rounded down to 100
geometric bins between 1 and 1e-4 (as the paper's figures; J(w_0) = 4.7025 from w_0 = 1),
C = H, target loss 0.01, batch sizes 2⁰ … 2²¹. For each batch size, the fewest steps
over the paper's grids, all from the exact expected loss: SGD with lr in
logspace(-5, 0.5, 100); heavy ball with lr in logspace(-8, 1, 100) and β in
1 − logspace(-5, 0, 20); preconditioned SGD with P = H^(−1/2); SGD with an exponential
moving average, γ in 1 − logspace(-5, 0, 20).
"""

from pathlib import Path

import numpy as np

from quadsim import GD, Momentum, NoisyQuadratic, Preconditioned, Quadratic
from quadsim.noise import nqm_spectrum
from quadsim.plots import _new_figure, save_figure
from quadsim.plots_stochastic import plot_batch_scaling, plot_optimal_lr
from quadsim.scaling import batch_size_scaling, method_grid

FIGURES = Path(__file__).resolve().parents[1] / "figures"
TARGET = 0.01
BATCH_SIZES = 2 ** np.arange(0, 22)
MOMENTA = 1.0 - np.logspace(-5, 0, 20)


def scalings(h):
    """The four optimizers' batch-size scaling on the NQM with curvatures `h`."""
    model = NoisyQuadratic(Quadratic(h))
    w0 = np.ones(h.size)
    grids = {
        "SGD": (method_grid(GD, lr=np.logspace(-5, 0.5, 100)), False),
        "heavy ball (tuned β)": (method_grid(Momentum, lr=np.logspace(-8, 1, 100),
                                             beta=MOMENTA), False),
        "preconditioned SGD, P = H^(−1/2)": (method_grid(
            Preconditioned, lr=np.logspace(-5, 0.5, 100), P=[h**-0.5]), False),
        "SGD + EMA (tuned γ)": (method_grid(GD, lr=np.logspace(-5, 0.5, 100), ema=MOMENTA),
                                True),
    }
    return {name: batch_size_scaling(model, grid, TARGET, w0, BATCH_SIZES, ema=ema)
            for name, (grid, ema) in grids.items()}


def main(folder=FIGURES):
    h = nqm_spectrum(10_000, bins=100)
    results = scalings(h)
    steps = _new_figure((7.0, 5.0))
    plot_batch_scaling(results, ax=steps.subplots())
    lr = _new_figure((7.0, 5.0))
    plot_optimal_lr({name: results[name] for name in ("SGD", "preconditioned SGD, "
                                                       "P = H^(−1/2)")},
                    edge=2.0 / h.max(), ax=lr.subplots())
    return [save_figure(steps, folder / "nqm_batch_scaling.png"),
            save_figure(lr, folder / "nqm_optimal_lr.png")]


if __name__ == "__main__":
    print(main())
