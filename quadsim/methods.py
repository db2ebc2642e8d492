"""Optimizer specs: small immutable descriptions of first-order methods.

Every discrete method here is one instance of the two-step linear update

    y_t     = w_t + γ (w_t − w_{t−1})
    w_{t+1} = w_t + β (w_t − w_{t−1}) − lr · P ∇J(y_t),        w_{−1} = w_0,

(GD: β = γ = 0, P = I; heavy ball: γ = 0; Nesterov: γ = β; preconditioned GD:
β = γ = 0). In the eigenbasis of ``P^½ A P^½`` each axis ``j`` with ``h = lr·a_j``
follows the scalar recurrence ``u_{t+1} = τ u_t − δ u_{t−1} − lr b̃_j`` whose
companion matrix ``[[τ, −δ], [1, 0]]`` has trace ``τ = 1 + β − h(1 + γ)`` and
determinant ``δ = β − hγ``. A spec knows these, its coordinates, and its stability edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import scipy.linalg

from quadsim._validation import (
    as_positive,
    as_symmetric_matrix,
    as_unit_interval,
    as_vector,
)
from quadsim.kernels.lucas import companions
from quadsim.problems import Quadratic, SpectralFrame, as_quadratic
from quadsim.schedules import Schedule


@dataclass(frozen=True)
class _TwoStepMethod:
    """Shared behaviour of the discrete methods (not public).

    Every discrete method also takes, by keyword, a learning-rate ``schedule``
    (:mod:`quadsim.schedules`: step ``t`` uses ``lr_t = lr · f(t)``) and ``ema``, the
    weight ``γ`` of an exponential moving average of the iterates recorded beside them,
    ``w̃_{t+1} = γ w̃_t + (1 − γ) w_{t+1}``, ``w̃_0 = w_0``.
    """

    lr: float
    schedule: Schedule | None = field(default=None, kw_only=True)
    ema: float | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", as_positive(self.lr, "lr"))
        if self.schedule is not None and not isinstance(self.schedule, Schedule):
            raise TypeError("`schedule` must be a quadsim.schedules.Schedule or None; got "
                            f"{type(self.schedule).__name__}")
        if self.ema is not None:
            object.__setattr__(self, "ema", as_unit_interval(self.ema, "ema"))

    def __repr__(self) -> str:
        ordered = sorted(fields(self), key=lambda f: bool(f.kw_only))
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in ordered
                 if f.repr and not (f.kw_only and getattr(self, f.name) is None)]
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def constant_lr(self) -> bool:
        """Whether every step uses ``lr`` (no schedule)."""
        return self.schedule is None

    def learning_rates(self, steps: int) -> np.ndarray:
        """``lr_0, ..., lr_{steps−1}``; a constant lr gives the one-entry array ``[lr]``."""
        if self.schedule is None:
            return np.array([self.lr])
        return self.lr * self.schedule.factors(steps)

    @property
    def momentum(self) -> float:
        """β, the weight of ``w_t − w_{t−1}`` in the update."""
        return 0.0

    @property
    def lookahead(self) -> float:
        """γ, where the gradient is taken: ``y_t = w_t + γ(w_t − w_{t−1})``."""
        return 0.0

    def frame(self, quadratic: Quadratic) -> SpectralFrame:
        """Coordinates in which this method on `quadratic` separates into axes."""
        return quadratic.frame

    @property
    def double_roots(self) -> tuple[float, float]:
        """The two ``h = lr·a`` at which the companion has a double root.

        ``τ²/4 − δ = ¼(1 + γ)²(h − h₁)(h − h₂)``: GD ``(1, 1)``, heavy ball
        ``((1 − √β)², (1 + √β)²)``, Nesterov ``((1 − β)²/(1 + β)², 1)``; the low one
        written without cancellation as β → 1.
        """
        return 1.0, 1.0

    def transition(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-axis companion matrix of the update for ``h = lr·a``.

        Returns
        -------
        trace, det, quarter_discriminant : ndarray
            ``τ``, ``δ`` and ``τ²/4 − δ`` (computed in factored form,
            :attr:`double_roots`, so that it is accurate near a repeated root); the
            roots are ``τ/2 ± √(τ²/4 − δ)``.
        """
        comp = self.companion(h)
        return comp[0], comp[1], comp[2]

    def companion(self, h: np.ndarray) -> np.ndarray:
        """The per-axis companions as rows ``(τ, δ, τ²/4 − δ, gap, 1 − δ, far_side)``.

        ``gap = 1 − τ + δ = h`` and ``far_side = 1 + τ + δ = 2(1 + β) − h(1 + 2γ)`` are
        the distances of the characteristic polynomial's values at ``+1`` and ``−1``
        from zero: written in the method's parameters they keep the digits that the
        rounded ``τ`` loses when a root nears ``±1``. Shape ``(6, d)``; computed by
        :func:`quadsim.kernels.moments.companions`, the kernels' own formula.
        """
        low, high = self.double_roots
        flat = np.ascontiguousarray(h, dtype=np.float64).ravel()
        rows = companions(flat, self.momentum, self.lookahead, low, high)
        return rows.reshape((6, *np.shape(h)))

    @staticmethod
    def lr_edge(curvature: float, beta: float = 0.0) -> float:
        """Largest stable lr on an axis of curvature ``a > 0``: ``2/a`` for GD."""
        return 2.0 / curvature


@dataclass(frozen=True, repr=False)
class GD(_TwoStepMethod):
    """Gradient descent.

    Update: ``w_{t+1} = w_t − lr·(A w_t + b)``. Per axis,
    ``u_{t+1} = (1 − lr·a) u_t − lr·b̃``, stable iff ``0 < lr·a < 2``.

    Parameters
    ----------
    lr : float
        Step size, ``> 0``.

    Examples
    --------
    >>> from quadsim import GD
    >>> GD(lr=0.1)
    GD(lr=0.1)
    """


@dataclass(frozen=True, repr=False)
class _MomentumMethod(_TwoStepMethod):
    """Shared behaviour of the methods with a momentum ``β`` (not public)."""

    beta: float = 0.9

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "beta", as_unit_interval(self.beta, "beta"))

    @property
    def momentum(self) -> float:
        return self.beta


@dataclass(frozen=True, repr=False)
class Momentum(_MomentumMethod):
    """Heavy-ball momentum (Polyak), started with zero velocity.

    Update: ``w_{t+1} = w_t − lr·(A w_t + b) + β (w_t − w_{t−1})``, ``w_{−1} = w_0``.
    Per axis the companion matrix is ``[[1 + β − lr·a, −β], [1, 0]]``, stable iff
    ``0 < lr·a < 2 + 2β``.

    Parameters
    ----------
    lr : float
        Step size, ``> 0``.
    beta : float
        Momentum, in ``[0, 1)``.
    """

    @property
    def double_roots(self) -> tuple[float, float]:  # noqa: D102
        root = np.sqrt(self.beta)
        return float(((1.0 - self.beta) / (1.0 + root)) ** 2), float((1.0 + root) ** 2)

    @staticmethod
    def lr_edge(curvature: float, beta: float = 0.0) -> float:
        """Largest stable lr on an axis of curvature ``a > 0``: ``(2 + 2β)/a``."""
        return (2.0 + 2.0 * beta) / curvature


@dataclass(frozen=True, repr=False)
class Nesterov(_MomentumMethod):
    """Nesterov's accelerated gradient with constant momentum.

    Update: ``y_t = w_t + β (w_t − w_{t−1})``, ``w_{t+1} = y_t − lr·(A y_t + b)``,
    ``w_{−1} = w_0``. Per axis the companion matrix is
    ``[[(1 − lr·a)(1 + β), −(1 − lr·a) β], [1, 0]]``, stable iff
    ``0 < lr·a < (2 + 2β)/(1 + 2β)``.

    Parameters
    ----------
    lr : float
        Step size, ``> 0``.
    beta : float
        Momentum, in ``[0, 1)``.
    """

    @property
    def lookahead(self) -> float:  # noqa: D102
        return self.beta

    @property
    def double_roots(self) -> tuple[float, float]:  # noqa: D102
        return float(((1.0 - self.beta) / (1.0 + self.beta)) ** 2), 1.0

    @staticmethod
    def lr_edge(curvature: float, beta: float = 0.0) -> float:
        """Largest stable lr on an axis of curvature ``a > 0``: ``(2+2β)/((1+2β)a)``."""
        return (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * curvature)


@dataclass(frozen=True, eq=False, repr=False)
class Preconditioned(_TwoStepMethod):
    """Preconditioned gradient descent.

    Update: ``w_{t+1} = w_t − lr·P (A w_t + b)`` with ``P`` symmetric positive
    definite. With ``P^½ A P^½ = Q̃ diag(a) Q̃ᵀ`` and ``w = P^½ Q̃ u`` each axis is GD:
    ``u_{t+1} = (1 − lr·a) u_t − lr·b̃`` with ``b̃ = (P^½ Q̃)ᵀ b``; stable iff
    ``0 < lr·a < 2`` for the eigenvalues ``a`` of ``PA``. Newton's method is
    ``P = A⁻¹``, ``lr = 1`` (see :func:`newton`).

    Parameters
    ----------
    lr : float
        Step size, ``> 0``.
    P : array_like, shape (d, d) or (d,)
        Symmetric positive definite preconditioner, or the positive diagonal of a
        diagonal one. On a diagonal problem a diagonal ``P`` keeps every matrix out
        (the noisy quadratic model's ``P = H^(−p)`` is ``a ** -p``).
    """

    P: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        super().__post_init__()
        if np.ndim(self.P) == 1:
            P = as_vector(self.P, "P")
            if P.size == 0 or np.any(P <= 0.0):
                smallest = float(P.min()) if P.size else float("nan")
                raise ValueError("`P` must be a non-empty positive diagonal; its smallest "
                                 f"entry is {smallest:.3e}")
        else:
            P = as_symmetric_matrix(self.P, "P")
            try:
                np.linalg.cholesky(P)
            except np.linalg.LinAlgError:
                min_eig = float(np.linalg.eigvalsh(P)[0])
                raise ValueError(f"`P` must be symmetric positive definite; its smallest "
                                 f"eigenvalue is {min_eig:.3e}") from None
        object.__setattr__(self, "P", P)

    @property
    def matrix(self) -> np.ndarray:
        """``P`` as a dense (d, d) matrix."""
        return np.diag(self.P) if self.P.ndim == 1 else self.P

    def frame(self, quadratic: Quadratic) -> SpectralFrame:
        """The eigenbasis of ``P^½ A P^½``, mapped back by ``P^½``."""
        if self.P.shape[0] != quadratic.dim:
            shape = (quadratic.dim,) * self.P.ndim
            raise ValueError(f"`P` must have shape {shape} to match the problem; got shape "
                             f"{self.P.shape}")
        if self.P.ndim == 1:
            root = np.sqrt(self.P)
            if quadratic.is_diagonal:
                return SpectralFrame.from_diagonal(quadratic.A, quadratic.b, quadratic.c,
                                                   scale=root)
            return SpectralFrame.from_symmetric(quadratic.A, quadratic.b, quadratic.c,
                                                scale=np.diag(root))
        root = np.ascontiguousarray(scipy.linalg.sqrtm(self.P).real)
        return SpectralFrame.from_symmetric(quadratic.matrix, quadratic.b, quadratic.c,
                                            scale=0.5 * (root + root.T))


@dataclass(frozen=True)
class GradientFlow:
    """Gradient flow, the continuous-time limit of GD: ``dw/dt = −(A w + b)``.

    Per axis ``u(t) = u(0) − (a u(0) + b̃)·(1 − e^{−a t})/a`` (``u(0) − b̃ t`` when
    ``a = 0``). Trajectories are recorded at float times instead of step indices.
    """

    def frame(self, quadratic: Quadratic) -> SpectralFrame:
        """The eigenbasis of ``A``."""
        return quadratic.frame


#: The methods that iterate in discrete steps.
DiscreteMethod = GD | Momentum | Nesterov | Preconditioned
Method = DiscreteMethod | GradientFlow


def newton(problem: object) -> Preconditioned:
    """Newton's method as a spec: ``Preconditioned(lr=1, P=A⁻¹)``; converges in one step.

    Raises
    ------
    ValueError
        If ``A`` is not positive definite.
    """
    quadratic = as_quadratic(problem)
    a = quadratic.eigenvalues
    if a[0] <= 0.0:
        raise ValueError(f"Newton's method needs a positive definite `A`; its smallest "
                         f"eigenvalue is {a[0]:.3e}")
    Q = quadratic.eigenvectors
    return Preconditioned(1.0, (Q / a) @ Q.T)
