"""Figure: singular values of minibatch gradients of a matrix-valued linear regression.

n = 100 examples, d = 24 inputs, m = 16 outputs, W random. Each example's gradient is
δ_s x_sᵀ (rank 1), so the batch gradient Σ_s δ_s x_sᵀ / B has rank ≤ min(B, m, d): for
B = 1, 2, 4, 8 the first B singular values are O(1) and the rest sit at rounding.
"""

from pathlib import Path

import numpy as np

from quadsim import LinearRegression
from quadsim.plots import save_figure
from quadsim.plots_calculus import plot_batch_gradient_spectrum

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "per_example.png"


def main(path=FIGURE):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(100, 24)), rng.normal(size=(100, 16))
    problem = LinearRegression(X, Y, l2=0.01)
    ax = plot_batch_gradient_spectrum(problem, rng.normal(size=(16, 24)), (1, 2, 4, 8),
                                      rng=1)
    ax.figure.supxlabel("Dotted lines at i = B + ½: every singular value right of its line is "
                        "a rounding error of the dense SVD;\nthe factored form has exactly "
                        "min(B, m, d) nonzero ones (n = 100, d = 24, m = 16).", fontsize=8.5,
                        color="0.25")
    return save_figure(ax.figure, path)


if __name__ == "__main__":
    print(main())
