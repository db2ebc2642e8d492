"""Figure: early stopping as ridge, and implicit regularization of GD from w₀.

An underdetermined regression: n = 30 examples, d = 60 features (rows N(0, I/d)), labels
from a random β* plus noise 0.1; GD with lr = 1. Left: GD's filter at t = 3, 30, 300
against ridge at the effective λ(t); right: GD from a random w₀ converging to
X⁺y + P_null w₀ while the null-space part stays put.
"""

from pathlib import Path

import numpy as np

from quadsim import LinearRegression
from quadsim.plots import save_figure
from quadsim.plots_phenomena import plot_early_stopping

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "early_stopping.png"


def main(path=FIGURE):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 60)) / np.sqrt(60)
    problem = LinearRegression(X, X @ rng.normal(size=60) + 0.1 * rng.normal(size=30))
    fig = plot_early_stopping(problem, 1.0, [3, 30, 300], rng.normal(size=60), 3000)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
