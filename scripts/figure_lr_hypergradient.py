"""Figure: J(w_T) and dJ(w_T)/dlr against lr at a fixed horizon, analytic and numeric.

Both derivatives are the per-axis closed forms (the tangent kernel agrees with them in
the tests). Central finite differences of the closed-form loss are drawn as
markers on the same axes, and the lr found by following the hypergradient
(``quadsim.sensitivity.tune_lr``) is marked.
"""

from pathlib import Path

import numpy as np

from quadsim import GD, Momentum, Quadratic, closed_form, max_stable_lr
from quadsim.plots import save_figure
from quadsim.sensitivity import closed_form_optimizer_tangents, tune_lr

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "lr_hypergradient.png"
HORIZON = 60
FD_STEP = 1e-6


def _curves(problem, make, w0, lrs, analytic_derivative):
    loss = np.array([closed_form(problem, make(lr), w0, [HORIZON]).loss[0] for lr in lrs])
    derivative = np.array([analytic_derivative(make(lr)) for lr in lrs])
    numeric = np.array([
        (closed_form(problem, make(lr + FD_STEP), w0, [HORIZON]).loss[0]
         - closed_form(problem, make(lr - FD_STEP), w0, [HORIZON]).loss[0]) / (2 * FD_STEP)
        for lr in lrs])
    return loss, derivative, numeric


def main(path=FIGURE):
    import matplotlib.pyplot as plt

    problem = Quadratic.from_eigenvalues(np.geomspace(0.02, 1.0, 12), np.ones(12), rng=4)
    w0 = np.zeros(problem.dim)
    J_star = problem.min_value()
    beta = 0.6
    cases = [
        ("GD", "C0", lambda lr: GD(lr), GD,
         lambda m: closed_form_optimizer_tangents(problem, m, w0, [HORIZON])
         .loss_derivative(problem)[0, 0],
         "closed form per axis"),
        (f"heavy ball, β = {beta}", "C3", lambda lr: Momentum(lr, beta), Momentum,
         lambda m: closed_form_optimizer_tangents(problem, m, w0, [HORIZON])
         .loss_derivative(problem)[0, 0],
         "closed form per axis"),
    ]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7.5), sharex=True)
    for label, color, make, kind, analytic, how in cases:
        edge = max_stable_lr(problem, kind, beta=beta)
        lrs = np.linspace(0.05, 1.01 * edge, 240)
        loss, derivative, numeric = _curves(problem, make, w0, lrs, analytic)
        top.semilogy(lrs, loss - J_star, color=color, label=f"{label}: closed form")
        bottom.plot(lrs, derivative, color=color, label=f"{label}: {how}")
        every = slice(None, None, 12)
        bottom.plot(lrs[every], numeric[every], "o", mfc="none", color=color,
                    label=f"{label}: central differences")
        best = tune_lr(problem, make(1.0), w0, HORIZON).best
        for axis in (top, bottom):
            axis.axvline(edge, color=color, ls="--", lw=1)
            axis.axvline(best, color=color, ls=":", lw=1.5)
        top.plot([best], [closed_form(problem, make(best), w0, [HORIZON]).loss[0] - J_star],
                 "*", ms=12, color=color, label=f"{label}: hypergradient search, lr = {best:.3f}")
    top.set_ylabel(f"J(w_T) − J*   (T = {HORIZON})")
    top.set_title("Loss after a fixed horizon and its learning-rate derivative\n"
                  "(dashed: stability edge; dotted: lr found by following dJ/dlr)")
    top.legend(fontsize=8)
    bottom.axhline(0.0, color="0.6", lw=0.8)
    bottom.set_yscale("symlog", linthresh=1e-2)
    bottom.set_xlabel("learning rate lr")
    bottom.set_ylabel("dJ(w_T)/dlr")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
