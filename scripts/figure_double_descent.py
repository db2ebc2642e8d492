"""Figure: double descent of minimum-norm least squares, and ridge flattening the peak.

x ~ N(0, I_d), y = xᵀβ* + ε with ‖β*‖² = 1 and σ² = 0.25, n = 40 examples, d from 4 to
160. Exact finite-n risk (Wishart moments), its n, d → ∞ limit, Monte Carlo means over
100 draws; ridge λ = 0.05 and 0.5 (limits from the Marchenko–Pastur Stieltjes
transform, Monte Carlo over 25 draws); below, the smallest non-zero eigenvalue of XᵀX/n.
"""

from pathlib import Path

import numpy as np

from quadsim.plots import save_figure
from quadsim.plots_phenomena import plot_double_descent

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "double_descent.png"


def main(path=FIGURE):
    dims = np.unique(np.r_[np.arange(4, 37, 4), 38, 39, 41, 42, np.arange(44, 161, 8)])
    fig = plot_double_descent(40, dims, noise=0.25, signal=1.0, ridges=(0.05, 0.5),
                              trials=100)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
