"""Figure: the gradient's share of the top-k eigenspace of A along training.

A matrix-valued linear regression (n = 200, d = 20, m = 8 outputs, the column scales of X
spanning two decades, l2 = 1e-3), from W_0 = 0: per recorded step the fraction
‖G_t P_k‖²/‖G_t‖² of the gradient in the span of the top-k eigenvectors of
A = XᵀX/n + l2·I, simulated (markers: G_t = W_t A + B from the raw-basis run) and in
closed form (lines: Σ_{top k} a_j² ẽ_j(t)² / Σ_j a_j² ẽ_j(t)², summed over the rows), for
GD at lr = 0.5/a_max and heavy ball at the same lr with β = 0.9.
"""

from pathlib import Path

import numpy as np

from quadsim import GD, LinearRegression, Momentum, max_stable_lr
from quadsim.plots import _new_figure, save_figure
from quadsim.plots_calculus import plot_gradient_fraction

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "gradient_subspace.png"
STEPS = np.unique(np.r_[0, np.geomspace(1, 5000, 80).astype(np.int64)])
KS = (1, 2, 4, 8)
CAPTION = ("The stiff directions converge first, so the gradient leaves the top eigenspace: GD's "
           "fraction falls once t·lr·a_k ≳ 1 for the k-th largest curvature a_k.\nHeavy ball's "
           "top axes oscillate (complex roots, decaying as √β per step) and keep most of the "
           "gradient until they fall below the slow axes.")


def regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 20)) * np.geomspace(1.0, 0.01, 20)
    teacher = rng.normal(size=(8, 20))
    return LinearRegression(X, X @ teacher.T + 0.1 * rng.normal(size=(200, 8)), l2=1e-3)


def main(path=FIGURE):
    problem = regression()
    lr = max_stable_lr(problem, GD) / 4
    W0 = np.zeros(problem.weight_shape)
    fig = _new_figure((12.0, 4.8))
    left, right = fig.subplots(1, 2, sharey=True)
    plot_gradient_fraction(problem, GD(lr), W0, STEPS, KS, ax=left)
    plot_gradient_fraction(problem, Momentum(lr, 0.9), W0, STEPS, KS, ax=right)
    fig.suptitle("Fraction of the gradient in the top-k eigenspace of A (matrix weights "
                 "W: 8 × 20)", fontsize=11)
    fig.supxlabel(CAPTION, fontsize=8.5, color="0.25")
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
