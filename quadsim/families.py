"""Hyperparameterised quadratics ``J(w; θ) = ½ wᵀA(θ)w + b(θ)ᵀw + c`` with A, b affine in θ.

Every family is stored in one matrix-free form: for ``θ ∈ ℝ^p``

    A(θ) = A₀ + Σ_k θ_k (σ_k I + L[:, k] R[k, :]),     b(θ) = b₀ + Σ_k θ_k r_k L[:, k],

so that the mixed derivative ``∂²J/∂w∂θ_k = σ_k w + L[:, k] (R[k, :]·w + r_k)`` costs
O(d·p) and no d×d matrix per parameter is ever built (each ``L[:, k] R[k, :]`` must be
symmetric: ``R[k, :]`` is a multiple of ``L[:, k]``, or zero). The ready-made families
of a :class:`~quadsim.problems.LinearRegression` are all of this form:

========================  =====  ==========  ==========  =======  ======
family                    p      σ           L           R        r
========================  =====  ==========  ==========  =======  ======
ridge coefficient λ       1      1           0           0        0
per-feature decays        d      0           I           I        0
targets y                 n      0           Xᵀ/n        0        −1
per-example weights       n      0           Xᵀ/n        X        −y
========================  =====  ==========  ==========  =======  ======
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_float_array, as_symmetric_matrix, as_vector
from quadsim.problems import LinearRegression, Quadratic

#: Relative asymmetry above which a low-rank term ``L[:, k] R[k, :]`` is rejected.
_LOW_RANK_SYMMETRY_RTOL = 1e-12


@dataclass(frozen=True, eq=False)
class AffineFamily:
    r"""The family ``J(w; θ)`` above, with ``θ ∈ ℝ^p``.

    Parameters
    ----------
    A0 : array_like, shape (d, d)
        Symmetric part of ``A`` that does not depend on θ.
    b0 : array_like, shape (d,)
        Part of ``b`` that does not depend on θ.
    isotropic : array_like, shape (p,)
        ``σ``: θ_k adds ``θ_k σ_k I`` to ``A``.
    L : array_like, shape (d, p)
        Columns of the symmetric rank-one terms and of ``∂b/∂θ``.
    R : array_like, shape (p, d)
        Rows of the rank-one terms (each a multiple of ``L[:, k]``, or zero).
    r : array_like, shape (p,)
        ``∂b/∂θ_k = r_k L[:, k]``.
    c : float, optional
        Constant term (it does not move ``w*``).
    names : str, optional
        What θ is, for messages.
    """

    A0: np.ndarray = field(repr=False)
    b0: np.ndarray = field(repr=False)
    isotropic: np.ndarray = field(repr=False)
    L: np.ndarray = field(repr=False)
    R: np.ndarray = field(repr=False)
    r: np.ndarray = field(repr=False)
    c: float = 0.0
    names: str = "theta"

    def __post_init__(self) -> None:
        A0 = as_symmetric_matrix(self.A0, "A0")
        d = A0.shape[0]
        isotropic = as_vector(self.isotropic, "isotropic")
        p = isotropic.shape[0]
        L = as_float_array(self.L, "L", ndim=2)
        R = as_float_array(self.R, "R", ndim=2)
        if L.shape != (d, p):
            raise ValueError(f"`L` must have shape ({d}, {p}); got {L.shape}")
        if R.shape != (p, d):
            raise ValueError(f"`R` must have shape ({p}, {d}); got {R.shape}")
        # L[:, k] R[k, :] is symmetric iff R[k] ∥ L[:, k]: |R_k|·|L_k| = |R_k·L_k|.
        dots = np.abs(np.einsum("ik,ki->k", L, R))
        norms = np.linalg.norm(L, axis=0) * np.linalg.norm(R, axis=1)
        if np.any(norms - dots > _LOW_RANK_SYMMETRY_RTOL * norms):
            raise ValueError("each `R[k, :]` must be a multiple of `L[:, k]` (or zero) so "
                             "that θ keeps A symmetric")
        for name, value in (("A0", A0), ("isotropic", isotropic), ("L", L), ("R", R)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "b0", as_vector(self.b0, "b0", d))
        object.__setattr__(self, "r", as_vector(self.r, "r", p))

    @property
    def dim(self) -> int:
        """Dimension ``d`` of ``w``."""
        return int(self.A0.shape[0])

    @property
    def n_params(self) -> int:
        """Number ``p`` of hyperparameters."""
        return int(self.isotropic.shape[0])

    def check_theta(self, theta: object) -> np.ndarray:
        """Return θ as a float vector of length ``p``, or raise naming the family."""
        if np.ndim(theta) == 0 and self.n_params == 1:  # type: ignore[arg-type]
            theta = [theta]
        return as_vector(theta, f"theta ({self.names})", self.n_params)

    def A(self, theta: object) -> np.ndarray:
        """``A(θ)`` (dense, d×d)."""
        theta = self.check_theta(theta)
        A = self.A0 + np.sum(theta * self.isotropic) * np.eye(self.dim)
        A += (self.L * theta) @ self.R
        return 0.5 * (A + A.T)

    def hvp(self, theta: object, X: np.ndarray) -> np.ndarray:
        """``A(θ) X`` without forming ``A(θ)``: ``A₀X + (σ·θ) X + L (θ ⊙ (R X))``.

        `X` has shape (d,) or (d, k); the cost is O(d²k + dpk).
        """
        theta = self.check_theta(theta)
        scaled = theta * (self.R @ X).T  # (k, p) or (p,)
        return self.A0 @ X + float(self.isotropic @ theta) * X + (scaled @ self.L.T).T

    def b(self, theta: object) -> np.ndarray:
        """``b(θ)``."""
        theta = self.check_theta(theta)
        return self.b0 + self.L @ (theta * self.r)

    def quadratic(self, theta: object) -> Quadratic:
        """The :class:`Quadratic` at θ (each call builds and diagonalises a new one)."""
        return Quadratic(self.A(theta), self.b(theta), self.c)

    def mixed_jacobian(self, w: object) -> np.ndarray:
        """``∂²J/∂w∂θ`` at ``w``, shape (d, p): columns ``σ_k w + L[:, k](R[k]·w + r_k)``.

        It does not depend on θ (A and b are affine in θ).
        """
        w = as_vector(w, "w", self.dim)
        return np.outer(w, self.isotropic) + self.L * (self.R @ w + self.r)

    def mixed_jvp(self, w: object, v: object) -> np.ndarray:
        """``(∂²J/∂w∂θ) v`` for ``v ∈ ℝ^p`` in O(d·p), shape (d,)."""
        w = as_vector(w, "w", self.dim)
        v = as_vector(v, "v", self.n_params)
        return (self.isotropic @ v) * w + self.L @ (v * (self.R @ w + self.r))

    def mixed_vjp(self, w: object, v: object) -> np.ndarray:
        """``(∂²J/∂w∂θ)ᵀ v`` for ``v ∈ ℝ^d`` in O(d·p), shape (p,)."""
        w = as_vector(w, "w", self.dim)
        v = as_vector(v, "v", self.dim)
        return self.isotropic * (v @ w) + (v @ self.L) * (self.R @ w + self.r)


def as_regression(problem: object) -> LinearRegression:
    """Return `problem` if it is a LinearRegression, else raise a TypeError naming it."""
    if not isinstance(problem, LinearRegression):
        raise TypeError(f"`problem` must be a LinearRegression; got {type(problem).__name__}")
    if problem.matrix_valued:
        raise TypeError(f"`problem` must have vector targets; its targets have shape "
                        f"{problem.y.shape}: take one row of W with `problem.row(i)`")
    return problem


def ridge_family(problem: LinearRegression) -> AffineFamily:
    """θ = (λ,): ``A(λ) = XᵀX/n + λI``; the problem's own ``l2`` is the natural θ."""
    reg = as_regression(problem)
    n, d = reg.X.shape
    return AffineFamily(reg.X.T @ reg.X / n, -reg.X.T @ reg.y / n, np.ones(1),
                        np.zeros((d, 1)), np.zeros((1, d)), np.zeros(1),
                        float(reg.y @ reg.y) / (2 * n), "ridge coefficient")


def feature_decay_family(problem: LinearRegression) -> AffineFamily:
    """θ ∈ ℝ^d: ``A(θ) = XᵀX/n + l2·I + diag(θ)`` (per-feature weight decay)."""
    reg = as_regression(problem)
    d = reg.dim
    base = reg.quadratic
    return AffineFamily(base.A, base.b, np.zeros(d), np.eye(d), np.eye(d), np.zeros(d),
                        base.c, "per-feature decays")


def target_family(problem: LinearRegression) -> AffineFamily:
    """θ = y ∈ ℝ^n: ``b(y) = −Xᵀy/n`` (A fixed). ``c`` is left at 0: it does not move w*."""
    reg = as_regression(problem)
    n, d = reg.X.shape
    return AffineFamily(reg.quadratic.A, np.zeros(d), np.zeros(n), reg.X.T / n,
                        np.zeros((n, d)), -np.ones(n), 0.0, "targets")


def sample_weight_family(problem: LinearRegression) -> AffineFamily:
    """θ ∈ ℝ^n, per-example weights: ``J = (1/2n) Σ_i θ_i (x_iᵀw − y_i)² + (l2/2)‖w‖²``.

    At θ = 1 this is the problem itself. ``c`` is left at 0: it does not move w*.
    """
    reg = as_regression(problem)
    n, d = reg.X.shape
    return AffineFamily(reg.l2 * np.eye(d), np.zeros(d), np.zeros(n), reg.X.T / n, reg.X,
                        -reg.y, 0.0, "per-example weights")
