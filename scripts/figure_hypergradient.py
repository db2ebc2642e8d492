"""Figure: validation loss against the ridge coefficient, with the hypergradient path on it.

Left: ``V(λ) = (1/2m)‖X_val w*(λ) − y_val‖²`` on a fine grid (the exact curve) and the
iterates of hypergradient descent on ``log λ`` placed on it. Right: ``V`` along the
descent for the ridge coefficient and for a vector of per-feature decays, against the
best ridge value.
"""

from pathlib import Path

import numpy as np

from quadsim import LinearRegression
from quadsim.families import feature_decay_family, ridge_family
from quadsim.plots import save_figure
from quadsim.response import ValidationLoss, hypergradient_descent

OUTPUT = Path(__file__).resolve().parent.parent / "figures" / "hypergradient.png"


def split(seed=0, n=30, m=200, d=10):
    """Sparse truth (4 of d features), unit noise: training problem and validation set."""
    rng = np.random.default_rng(seed)
    w_true = np.where(np.arange(d) < 4, 2 * rng.normal(size=d), 0.0)
    X = rng.normal(size=(n + m, d))
    y = X @ w_true + rng.normal(size=n + m)
    return LinearRegression(X[:n], y[:n]), X[n:], y[n:]


def plot(lambdas, curve, ridge_path, decay_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(lambdas, curve, color="0.3", label="V(λ), exact on a grid")
    lam = ridge_path.theta[:, 0]
    left.plot(lam, ridge_path.value, "o-", color="C1", ms=4, lw=0.8,
              label="hypergradient descent on log λ")
    left.plot(lam[0], ridge_path.value[0], "s", color="C3", ms=7, label="start")
    best = np.argmin(curve)
    left.axvline(lambdas[best], color="C0", ls="--", lw=1, label="grid argmin")
    left.set(xscale="log", xlabel="ridge coefficient λ", ylabel="validation loss V",
             title="V(λ) and the descent path")
    left.legend()

    for path, color, label in ((ridge_path, "C1", "ridge λ (1 parameter)"),
                               (decay_path, "C2", "per-feature decays "
                                                  f"({decay_path.theta.shape[1]} parameters)")):
        right.plot(np.arange(path.value.size), path.value, color=color, label=label)
    right.axhline(curve[best], color="C0", ls="--", lw=1, label="best ridge (grid)")
    right.set_xscale("symlog", linthresh=1.0)
    right.set(xlim=(0, max(ridge_path.value.size, decay_path.value.size) - 1),
              xlabel="descent step k", ylabel=r"validation loss $V(\theta_k)$",
              title="Validation loss along the descent")
    right.legend()
    return fig


def main():
    regression, X_val, y_val = split()
    ridge = ValidationLoss(ridge_family(regression), X_val, y_val)
    lambdas = np.geomspace(1e-4, 1e2, 400)
    curve = np.array([ridge.value(lam) for lam in lambdas])
    ridge_path = hypergradient_descent(ridge, 30.0, lr=20.0, steps=60)
    decays = ValidationLoss(feature_decay_family(regression), X_val, y_val)
    decay_path = hypergradient_descent(decays, np.full(regression.dim, 30.0), lr=20.0,
                                       steps=1000)
    save_figure(plot(lambdas, curve, ridge_path, decay_path), OUTPUT, dpi=150)
    print(f"final λ = {ridge_path.theta[-1, 0]:.6g} "
          f"(grid argmin {lambdas[np.argmin(curve)]:.6g}); "
          f"V: ridge {ridge_path.value[-1]:.6f}, decays {decay_path.value[-1]:.6f}")
    return OUTPUT


if __name__ == "__main__":
    main()
