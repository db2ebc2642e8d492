"""Figure: GD before and after input normalization, simulated against closed form.

Features from :func:`quadsim.normalization.synthetic_features` (n = 400, d = 8: offsets
μ_j ~ U(1, 5), scales 10^U(−1, 1), correlated), targets a noisy linear function of them;
GD at its best fixed step on the raw features and on the centred and scaled ones.
"""

from pathlib import Path

import numpy as np

from quadsim import LinearRegression
from quadsim.normalization import standardize, synthetic_features
from quadsim.plots import save_figure
from quadsim.plots_phenomena import plot_normalization

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "normalization.png"


def main(path=FIGURE):
    rng = np.random.default_rng(1)
    X = synthetic_features(400, 8, rng=rng)
    y = X @ rng.normal(size=8) + rng.normal(size=400)
    Z, _, _ = standardize(X)
    fig = plot_normalization(LinearRegression(X, y), LinearRegression(Z, y - y.mean()), 10**8)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
