"""Figure: a linear recurrent network at its fixed point, trained by GD.

h = (I − W)⁻¹ w_in x, ẑ = w_outᵀ h, L(W) = ½ E_x ‖ẑ − z‖² with d = 30 units, two inputs
and two outputs (w_in, w_out with orthonormal columns), n = 200 examples x ~ N(0, I) and
targets z = C x for gains C = [[3, 0.9], [−0.6, 2.4]]. W_0 has i.i.d. N(0, 0.6²/d)
entries: its bulk fills the disk of radius 0.6. Left: the eigenvalues of W_0 and of the
trained W (1500 steps of GD at lr = 1e-3), outliers beyond 0.6·(1 + edge_margin(30))
ringed. Middle: the loss of GD against the closed form of the second-order Taylor model
at W_0 (a quadsim Quadratic in the 900 entries of W), for three learning rates, with the
step where they part. Right: the spectral radius along training, and a run asked for
gains three times larger, which stops when ρ(W_t) reaches 1.
"""

from pathlib import Path

import numpy as np

from quadsim.circular_law import ginibre
from quadsim.nonsymmetric import outlier_subspace
from quadsim.plots import _new_figure, save_figure
from quadsim.plots_calculus import plot_taylor_losses
from quadsim.plots_weights import plot_eigenvalues, plot_spectral_radius
from quadsim.recurrent import recurrent_task, recurrent_taylor, train
from quadsim.taylor import taylor_model

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "recurrent.png"
D, BULK = 30, 0.6
GAINS = np.array([[3.0, 0.9], [-0.6, 2.4]])
LRS = (2.5e-4, 5e-4, 1e-3)
STEPS = 1500
CAPTION = ("Reaching gains of order 3 through (I − W)⁻¹ takes eigenvalues near 1: two outliers "
           "leave the bulk. The Taylor model at W₀ is indefinite, so its closed form runs away "
           "once the prediction parts from GD,\nat a time lr·t that hardly depends on lr. "
           "Asked for three times the gains, GD drives ρ(W_t) to 1, where the fixed point stops "
           "being the recurrence's limit, and the run stops there.")


def main(path=FIGURE):
    net = recurrent_task(D, GAINS, rng=0)
    W0 = ginibre(D, rng=1, std=BULK / np.sqrt(D))
    model = taylor_model(net.value, net.grad, W0, hvp=net.hvp)
    comparisons = [recurrent_taylor(net, W0, lr, STEPS, model=model) for lr in LRS]
    trained = train(net, W0, LRS[-1], STEPS)
    greedy = train(recurrent_task(D, 3 * GAINS, rng=0), W0, LRS[-1], STEPS)
    fig = _new_figure((17.0, 5.6))
    left, middle, right = fig.subplots(1, 3)
    plot_eigenvalues(np.linalg.eigvals(W0), outlier_subspace(trained.w[-1], radius=BULK),
                     title=f"Recurrent W: eigenvalues of W₀ and W at step {STEPS}", ax=left)
    plot_taylor_losses(comparisons, floor=0.0, ax=middle)
    middle.set_title("GD on L(W) against the closed form of its Taylor model at W₀")
    plot_spectral_radius([trained, greedy], ["gains C", "gains 3C"], ax=right)
    fig.suptitle("A linear recurrent network at its fixed point h = (I − W)⁻¹ w_in x "
                 f"(d = {D})", fontsize=11)
    fig.supxlabel(CAPTION, fontsize=8.5, color="0.25")
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
