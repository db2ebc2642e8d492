"""Figure: measured rates of tuned GD and tuned heavy ball against κ, with theory.

15 quadratics (d = 50, spectrum ``geomspace(1/κ, 1, d)``, random basis) for κ from
1e1 to 1e4; each rate is measured on a raw-basis simulation.
"""

from pathlib import Path

import numpy as np

from quadsim import Quadratic
from quadsim.plots import plot_rates, save_figure

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "rates.png"
DIM = 50


def problem(kappa, seed=0):
    """Spectrum ``geomspace(1/κ, 1, d)``; minimizer with N(0, 1) eigen-coordinates."""
    rng = np.random.default_rng(seed)
    a = np.geomspace(1.0 / kappa, 1.0, DIM)
    return Quadratic.from_eigenvalues(a, -a * rng.normal(size=DIM), rng=rng)


def main(path=FIGURE):
    problems = [problem(kappa) for kappa in np.geomspace(1e1, 1e4, 15)]
    fig = plot_rates(problems)
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
