"""Figure: unrolled, Neumann and CG Jacobians converging to the IFT Jacobian.

On ridge regression with per-feature decays (θ ∈ ℝ^d), the error of three finite
approximations of ``dw*/dθ`` against the exact implicit-function-theorem Jacobian, as
the number of steps / terms / iterations grows, each with its theory drawn as a line:

* tangents of GD unrolled from ``w0 = 0`` (markers) against their per-axis closed form;
* the K-term Neumann series, which is the same tangent started at ``w*``, against its
  spectral prediction ``(Σ_j (1 − lr a_j)^{2K} ‖(QᵀJ)_j‖²)^½``;
* K iterations of conjugate gradients, in the A-norm, under the bound
  ``2((√κ − 1)/(√κ + 1))^K``; in floating point CG loses orthogonality, so it is not
  exact at K = d as it would be in exact arithmetic.
"""

from pathlib import Path

import numpy as np

import quadsim as qs
from quadsim.plots import save_figure

FIGURE = Path(__file__).resolve().parents[1] / "figures" / "jacobian_convergence.png"


def _relative(errors, exact):
    return np.linalg.norm(errors, axis=(-2, -1)) / np.linalg.norm(exact)


def _a_norm(matrix, A):
    return np.sqrt(np.trace(matrix.T @ A @ matrix))


def main(path=FIGURE):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    n, d = 200, 30
    X = rng.normal(size=(n, d)) * np.geomspace(1.0, 0.03, d)
    problem = qs.LinearRegression(X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n))
    family = qs.feature_decay_family(problem)
    theta = np.full(d, 1e-3)
    quadratic = family.quadratic(theta)
    exact = qs.response_jacobian(family, theta)
    lr = 1.0 / quadratic.eigenvalues[-1]
    steps = np.linspace(0, 6000, 41).astype(int)
    unrolled = qs.simulate_tangents(family, theta, qs.GD(lr), np.zeros(d), steps,
                                    basis="eigen").tangent
    unrolled_theory = qs.closed_form_tangents(family, theta, qs.GD(lr), np.zeros(d), steps)
    neumann = np.array([qs.neumann_jacobian(family, theta, k, lr) for k in steps])
    iterations = np.arange(0, 4 * d + 1, 2)
    cg = [qs.cg_jacobian(family, theta, k) for k in iterations]
    cg_error = [_a_norm(j - exact, quadratic.A) / _a_norm(exact, quadratic.A) for j in cg]

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    left.semilogy(steps, _relative(unrolled_theory - exact, exact), "-", color="C0",
                label="GD tangent from w0 = 0: closed form per axis")
    left.semilogy(steps, _relative(unrolled - exact, exact), "o", mfc="none", color="C0",
                label="GD tangent from w0 = 0: tangent kernel")
    left.semilogy(steps, qs.neumann_error(family, theta, steps, lr) / np.linalg.norm(exact),
                "-", color="C1", label="Neumann, K terms: spectral prediction")
    left.semilogy(steps, _relative(neumann - exact, exact), "s", mfc="none", color="C1",
                label="Neumann, K terms (= GD tangent from w*)")
    left.set_xlabel("GD steps / Neumann terms K  (lr = 1/a_max)")
    left.set_ylabel("‖J_K − dw*/dθ‖_F / ‖dw*/dθ‖_F")
    left.set_title(f"Unrolled derivatives → IFT Jacobian (κ = {quadratic.condition_number:.0f})")
    left.legend(fontsize=8)

    right.semilogy(iterations, np.maximum(cg_error, 1e-17), "o", mfc="none", color="C2",
                   label="CG, K iterations per column")
    right.semilogy(iterations, qs.cg_error_bound(family, theta, iterations), "-", color="C2",
                   label="bound 2((√κ−1)/(√κ+1))^K")
    right.set_xlabel("CG iterations K")
    right.set_ylabel("A-norm error / ‖dw*/dθ‖_A")
    right.set_ylim(1e-17, 10)
    right.axvline(d, color="0.6", ls=":", lw=1)
    right.set_title(f"Conjugate gradients (dotted: K = d = {d}, where exact arithmetic "
                    "would stop)", fontsize=10)
    right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


if __name__ == "__main__":
    print(main())
