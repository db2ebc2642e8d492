"""Figure: the Marchenko–Pastur law against the spectrum of XᵀX/n and its SLQ estimate.

X: n = 2000 by d = 500 standard Gaussian entries (γ = 1/4). The stochastic Lanczos
quadrature estimate uses only products v ↦ Xᵀ(Xv)/n (20 probes, 60 Lanczos steps).
"""

from pathlib import Path

import numpy as np

from quadsim.plots import save_figure
from quadsim.plots_phenomena import plot_marchenko_pastur

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "marchenko_pastur.png"


def main(path=FIGURE):
    X = np.random.default_rng(0).normal(size=(2000, 500))
    return save_figure(plot_marchenko_pastur(X), path)


if __name__ == "__main__":
    print(main())
