"""Figure: a second-order Taylor model against real training of a nonlinear network.

A two-layer tanh network (4 inputs, 16 hidden units, one output; 80 parameters) on 64
examples from a random tanh teacher with label noise 0.1. GD on the real loss (a plain
numpy loop, solid) against the closed-form GD run of its Taylor model (dashed), from
the initialisation (top left: the Hessian there is indefinite, smallest eigenvalue
−0.91, so the model's loss falls without bound once the run reaches its negative
curvature) and from the point reached after 300 steps (top right: smallest eigenvalue
−0.007). Bottom: the time lr·t and the distance ‖x_t − x₀‖ at which the iterates part
(differ by 10% of the distance travelled), against lr in units of 1/max|a|, with the
seed's ½‖tanh(W x)‖² (W: 3 × 5, one input x) as a third case.
"""

from pathlib import Path

import numpy as np

from quadsim.plots import _new_figure, save_figure
from quadsim.plots_calculus import plot_taylor_horizon, plot_taylor_losses
from quadsim.taylor import TanhReadout, TwoLayerTanh, taylor_horizon, taylor_model, teacher_data

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "taylor.png"
FRACTIONS = np.array([0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6])  # lr · max|a| of the model at x₀
SHOWN = (1, 3, 5)
HORIZON = 4000
CAPTION = ("For small lr, GD follows gradient flow: the prediction holds for a fixed time lr·t "
           "and a fixed distance (larger steps part somewhat later and farther). Near a "
           "minimum (after 300 steps; at lr·max|a| = 0.02\nthey have not parted by step "
           f"{HORIZON}) the gradient is small and the run slow: the prediction holds a hundred "
           "times longer in time, over a shorter distance (0.22 against 0.5).")


def main(path=FIGURE):
    X, y = teacher_data(64, 4, rng=0)
    net = TwoLayerTanh(X, y, hidden=16)
    start = net.init(1)
    a_max = taylor_model(net.value, net.grad, start).eigenvalues[-1]
    trained = start.copy()
    for _ in range(300):
        trained = trained - 0.5 / a_max * net.grad(trained)
    rng = np.random.default_rng(2)
    seed = TanhReadout(rng.normal(size=5), outputs=3)
    W0 = rng.normal(size=(3, 5))
    cases = {"network at init": (net, start, None),
             "network after 300 steps": (net, trained, None),
             "½‖tanh(Wx)‖²": (seed, W0, seed.hvp)}
    horizons, scales = {}, {}
    for name, (model, x0, hvp) in cases.items():
        scale = float(np.abs(taylor_model(model.value, model.grad, x0, hvp=hvp)
                             .eigenvalues).max())
        horizons[name] = taylor_horizon(model.value, model.grad, x0, FRACTIONS / scale,
                                        HORIZON, hvp=hvp)
        scales[name] = scale
    fig = _new_figure((13.0, 9.5))
    (init_ax, trained_ax), (time_ax, distance_ax) = fig.subplots(2, 2)
    plot_taylor_losses([horizons["network at init"][i] for i in SHOWN], log_time=False,
                       ax=init_ax)
    init_ax.set_title("Two-layer tanh network: Taylor model at initialisation", fontsize=10)
    plot_taylor_losses([horizons["network after 300 steps"][i] for i in SHOWN], ax=trained_ax)
    trained_ax.set_title("The same network: Taylor model after 300 GD steps (the three runs "
                         "overlap)", fontsize=10)
    plot_taylor_horizon(horizons, scales, axes=(time_ax, distance_ax))
    fig.supxlabel(CAPTION, fontsize=8.5, color="0.25")
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
