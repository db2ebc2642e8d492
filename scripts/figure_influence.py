"""Figure: influence estimates against exact leave-one-out, coloured by leverage.

For each training example i the change of a test prediction ``x_testᵀ(w*_{−i} − w*)``
when i is left out: the first-order influence estimate ``x_testᵀH⁻¹∇ℓ_i/n`` (left) and
the same divided by ``1 − h_ii`` (right), both against the exact refits. The first
misses by the factor ``1/(1 − h_ii)``, largest at high leverage; the second is exact.
"""

from pathlib import Path

import numpy as np

from quadsim import LinearRegression
from quadsim.influence import influence, leave_one_out, leverage
from quadsim.plots import save_figure

OUTPUT = Path(__file__).resolve().parent.parent / "figures" / "influence.png"


def regression(seed=0, n=60, d=5, outliers=6):
    """Gaussian design with a few rows scaled up (high leverage), noisy linear targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:outliers] *= np.linspace(2.0, 6.0, outliers)[:, None]
    y = X @ rng.normal(size=d) + rng.normal(size=n)
    return LinearRegression(X, y, l2=0.05), rng.normal(size=d)


def plot(exact, estimate, h):
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    norm = Normalize(0.0, float(np.max(h)))
    lo, hi = float(np.min(exact)), float(np.max(exact))
    pad = 0.05 * (hi - lo)
    titles = (r"first-order estimate $x_{test}^\top H^{-1}\nabla\ell_i / n$",
              r"the same divided by $1 - h_{ii}$")
    for ax, x, title in zip(axes, (estimate, estimate / (1.0 - h)), titles, strict=True):
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1,
                label="y = x")
        points = ax.scatter(x, exact, c=h, cmap="viridis", norm=norm, s=22,
                            edgecolors="k", linewidths=0.3, label="training examples")
        ax.set(xlabel="predicted change of the test prediction", title=title)
        ax.legend(loc="upper left")
    axes[0].set_ylabel(r"exact change $x_{test}^\top(w^*_{-i} - w^*)$ (refits)")
    fig.colorbar(points, ax=axes, label=r"leverage $h_{ii} = x_i^\top H^{-1} x_i / n$")
    return fig


def main():
    problem, x_test = regression()
    exact = leave_one_out(problem, method="refit") @ x_test
    estimate = -influence(problem) @ x_test
    h = leverage(problem)
    save_figure(plot(exact, estimate, h), OUTPUT, dpi=150)
    corrected = estimate / (1.0 - h)
    print(f"max |estimate/(1 − h) − exact| = {np.max(np.abs(corrected - exact)):.2e} "
          f"(max |exact| {np.max(np.abs(exact)):.2e}); leverage up to {np.max(h):.3f}")
    return OUTPUT


if __name__ == "__main__":
    main()
