"""Figure: NQM steps to target over (learning rate, batch size), the best lr marked.

The noisy quadratic model of figure_batch_scaling.py (d = 10⁴, h_i = 1/i in 100 bins,
C = H, target 0.01, w_0 = 1), plain SGD: a sweep over the batch sizes 2⁰ … 2²¹, each
point scanning 100 learning rates (logspace(-5, 0.5)) in one call of
scan_steps_to_target, from the exact expected loss. Grey: the target is never reached
(a noise floor above it, or divergence). White dots: the best lr per batch size, which
grows linearly with B up to the stability edge 2/h_max (dotted).
"""

from pathlib import Path

import numpy as np
import xarray as xr

from quadsim import GD, NoisyQuadratic, Quadratic
from quadsim.noise import nqm_spectrum
from quadsim.plots import save_figure
from quadsim.plots_sweep import plot_heatmap
from quadsim.scaling import method_grid, scan_steps_to_target
from quadsim.sweeps import sweep

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "nqm_steps_heatmap.png"
TARGET = 0.01
BATCH_SIZES = 2 ** np.arange(0, 22)
LRS = np.logspace(-5, 0.5, 100)
DIM, BINS = 10_000, 100


def sgd_steps(batch_size, dim, bins):
    """Steps to target of SGD at every lr for one batch size (NaN: never)."""
    model = NoisyQuadratic(Quadratic(nqm_spectrum(dim, bins=bins)), batch_size=batch_size)
    steps = scan_steps_to_target(model, method_grid(GD, lr=LRS), TARGET, np.ones(dim))
    return xr.DataArray(np.where(steps >= 0, steps, np.nan), dims="lr", name="steps",
                        coords={"lr": ("lr", LRS, {"long_name": "learning rate lr"})},
                        attrs={"long_name": f"steps to E[J] ≤ {TARGET}", "units": "steps"})


def main(path=FIGURE):
    steps = sweep(sgd_steps, {"batch_size": BATCH_SIZES}, constants={"dim": DIM, "bins": BINS},
                  units={"batch_size": "examples"})
    ax = plot_heatmap(steps.steps, x="batch_size", y="lr", best="min", log_color=True,
                      missing="target never reached (noise floor above it, or diverged)")
    edge = 2.0 / nqm_spectrum(DIM, bins=BINS).max()
    ax.axhline(edge, color="k", ls=":", lw=1.0)
    ax.annotate(f"stability edge 2/h_max = {edge:.3g}", (BATCH_SIZES[0], edge),
                xytext=(2, 3), textcoords="offset points", fontsize=8)
    ax.set_title(f"NQM (d = {DIM}, h_i = 1/i): SGD steps to target over (lr, batch size)",
                 fontsize=10)
    return save_figure(ax.figure, path)


if __name__ == "__main__":
    print(main())
