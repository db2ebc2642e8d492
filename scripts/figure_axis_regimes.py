"""Figure: the five per-axis regimes of GD, simulated and in closed form.

One 5-d quadratic in a random basis whose eigen-axes, under GD with lr = 1, are:
frozen (a = 0, b̃ = 0), drifting (a = 0, b̃ ≠ 0), converging (0 < lr·a < 1),
oscillating (1 < lr·a < 2) and diverging (lr·a > 2).
"""

from pathlib import Path

import numpy as np

from quadsim import GD, Quadratic
from quadsim.plots import plot_axis_regimes, save_figure

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "axis_regimes.png"
HORIZON = 25


def main(path=FIGURE):
    problem = Quadratic.from_eigenvalues([0.0, 0.0, 0.25, 1.7, 2.08],
                                         b=[0.0, 0.08, 0.25, 0.85, 1.04], rng=3)
    w0 = problem.from_eigenbasis(np.ones(problem.dim))
    fig = plot_axis_regimes(problem, GD(lr=1.0), w0, HORIZON)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
