"""Figure: loss after T steps against lr, with the stability edges max_stable_lr.

GD, heavy ball (β = 0.9) and Nesterov (β = 0.9) on one quadratic (d = 30, κ = 100),
200 learning rates each: closed form as lines, eigenbasis simulation as markers.
"""

from pathlib import Path

import numpy as np

from quadsim import GD, Momentum, Nesterov, Quadratic
from quadsim.plots import plot_stability, save_figure

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "stability.png"
DIM = 30
HORIZON = 100


def main(path=FIGURE):
    rng = np.random.default_rng(1)
    a = np.geomspace(0.01, 1.0, DIM)
    problem = Quadratic.from_eigenvalues(a, -a * rng.normal(size=DIM), rng=rng)
    methods = [GD(1.0), Momentum(1.0, beta=0.9), Nesterov(1.0, beta=0.9)]
    lrs = np.geomspace(1e-3, 10.0, 200)
    fig = plot_stability(problem, methods, np.zeros(DIM), HORIZON, lrs)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
