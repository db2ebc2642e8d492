r"""Second-order Taylor models: the bridge from a real network to the toy model.

Near a point ``x₀`` any twice-differentiable loss is, to second order,

    Q(x) = f(x₀) + gᵀ(x − x₀) + ½ (x − x₀)ᵀ H (x − x₀) = ½ xᵀHx + (g − Hx₀)ᵀx + c,

with ``g = ∇f(x₀)``, ``H = ∇²f(x₀)`` and ``c = f(x₀) − gᵀx₀ + ½ x₀ᵀHx₀``.
:func:`taylor_model` builds it from a gradient function (``H`` column by column from
Hessian-vector products: the user's, or central differences of the gradient) and
returns it as a :class:`~quadsim.Quadratic` in the flattened coordinates of ``x₀``, so
every quadsim tool applies: ``closed_form`` predicts a whole GD run from ``x₀`` at once.

:func:`compare_with_taylor` runs GD on the real function (a plain loop) beside the
closed-form prediction of its Taylor model and reports where they part: the first step
whose iterates differ by more than a fraction of the distance travelled.
:func:`taylor_horizon` does it for several learning rates: for small lr, GD follows
gradient flow, so the prediction holds for a fixed time ``lr·t`` and a fixed distance,
and larger steps (the third-order term acting on larger increments) part sooner.

Two worked nonlinear models, numpy only: :class:`TanhReadout`,
``L(W) = (1/2n) Σ_s ‖tanh(W x_s) − y_s‖²`` (with zero targets and one input the seed's
``½‖θ(Wx)‖²``), whose exact Hessian-vector product is known; and :class:`TwoLayerTanh`,
``(1/2n) ‖tanh(X W₁ᵀ) W₂ᵀ − Y‖²_F``, with its gradient by backpropagation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_float_array, as_positive, as_step_indices, as_unit_interval
from quadsim.calculus import _array, _callable, _gradient_at, _value_at, finite_difference_hvp
from quadsim.methods import GD
from quadsim.problems import Quadratic
from quadsim.theory import closed_form

__all__ = [
    "TanhReadout",
    "TaylorComparison",
    "TwoLayerTanh",
    "compare_with_taylor",
    "taylor_horizon",
    "taylor_model",
    "teacher_data",
]

#: Default fraction of the distance travelled by which the real and predicted iterates
#: may differ before :func:`compare_with_taylor` calls them parted.
PARTING_TOLERANCE = 0.1


def taylor_model(f: Callable[[np.ndarray], object], grad: Callable[[np.ndarray], object],
                 x0: object, *, hvp: Callable[[np.ndarray, np.ndarray], object] | None = None
                 ) -> Quadratic:
    r"""The second-order Taylor model of ``f`` at ``x₀``, as a :class:`~quadsim.Quadratic`.

    Parameters
    ----------
    f : callable
        ``x ↦ f(x)``, a real number.
    grad : callable
        ``x ↦ ∇f(x)``, of the shape of ``x`` (check it with
        :func:`~quadsim.calculus.check_grad`).
    x0 : array_like
        The point: a vector, or a matrix of weights (any shape).
    hvp : callable, optional
        ``(x, v) ↦ ∇²f(x) v``. By default central differences of `grad`
        (:func:`~quadsim.calculus.finite_difference_hvp`), accurate to about
        ``eps^(2/3)`` relative.

    Returns
    -------
    Quadratic
        ``½ xᵀHx + (g − Hx₀)ᵀx + c`` in the flattened coordinates ``x.ravel()`` (dimension
        ``p = x0.size``); ``H`` is formed from ``p`` Hessian-vector products and
        symmetrised. It may be indefinite or singular: quadsim's closed forms are exact
        there too.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, closed_form
    >>> from quadsim.taylor import taylor_model
    >>> f = lambda x: np.log(np.cosh(x[0])) + x[1] ** 2
    >>> grad = lambda x: np.array([np.tanh(x[0]), 2 * x[1]])
    >>> q = taylor_model(f, grad, [0.5, 1.0])
    >>> bool(abs(q.value([0.5, 1.0]) - f(np.array([0.5, 1.0]))) < 1e-14)
    True
    >>> round(float(closed_form(q, GD(0.1), [0.5, 1.0], [10**4]).w[0, 0]), 8)   # x₀ − H⁻¹g
    -0.0876006
    >>> round(float(0.5 - np.tanh(0.5) * np.cosh(0.5) ** 2), 8)
    -0.0876006
    """
    f, grad = _callable(f, "f"), _callable(grad, "grad")
    x0 = _array(x0, "x0")
    if hvp is not None:
        hvp = _callable(hvp, "hvp")
    value = _value_at(f, x0)
    g = _gradient_at(grad, x0, "grad").ravel()
    p = x0.size
    H = np.empty((p, p))
    basis = np.zeros(p)
    for j in range(p):
        basis[j] = 1.0
        direction = basis.reshape(x0.shape)
        column = finite_difference_hvp(grad, x0, direction) if hvp is None \
            else _gradient_at(lambda v, x=x0: hvp(x, v), direction, "hvp")  # type: ignore[misc]
        H[:, j] = np.asarray(column).ravel()
        basis[j] = 0.0
    H = 0.5 * (H + H.T)
    x = x0.ravel()
    Hx = H @ x
    return Quadratic(H, g - Hx, value - g @ x + 0.5 * x @ Hx)


@dataclass(frozen=True, eq=False)
class TaylorComparison:
    """GD on a real function beside the closed-form run of its Taylor model at ``x₀``.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        Every step ``0..T``.
    lr : float
    loss, predicted_loss : ndarray, shape (K,)
        ``f(x_t)`` of the real run and ``Q(x̂_t)`` of the model's closed form.
    distance : ndarray, shape (K,)
        ``‖x_t − x₀‖``, the distance travelled by the real run.
    deviation : ndarray, shape (K,)
        ``‖x_t − x̂_t‖``, how far the prediction is off.
    parting_step : int or None
        The first step with ``deviation > tolerance · distance`` (None if none by ``T``).
    parting_distance : float or None
        ``‖x_t − x₀‖`` at that step.
    tolerance : float
    """

    steps: np.ndarray = field(repr=False)
    lr: float
    loss: np.ndarray = field(repr=False)
    predicted_loss: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)
    deviation: np.ndarray = field(repr=False)
    parting_step: int | None
    parting_distance: float | None
    tolerance: float


def compare_with_taylor(f: Callable[[np.ndarray], object],
                        grad: Callable[[np.ndarray], object], x0: object, lr: float,
                        steps: int, *, model: Quadratic | None = None,
                        hvp: Callable[[np.ndarray, np.ndarray], object] | None = None,
                        tolerance: float = PARTING_TOLERANCE) -> TaylorComparison:
    r"""GD on ``f`` (a plain loop) against ``closed_form`` on its Taylor model at ``x₀``.

    The real run is ``x_{t+1} = x_t − lr·∇f(x_t)``; the prediction is
    :func:`~quadsim.closed_form` of GD on :func:`taylor_model` from the same ``x₀``. They
    agree at ``t = 1`` (the model has the gradient of ``f`` at ``x₀``) and part as the
    third-order term ``O(‖x_t − x₀‖²)`` of ``∇f`` accumulates: the parting step is the
    first with ``‖x_t − x̂_t‖ > tolerance · ‖x_t − x₀‖``.

    Parameters
    ----------
    f, grad, x0, hvp
        As in :func:`taylor_model`.
    lr : float
        The step size, ``> 0``.
    steps : int
        ``T``: steps ``0..T`` are run and recorded.
    model : Quadratic, optional
        The Taylor model at ``x0``, if it is at hand (it is built otherwise).
    tolerance : float, optional
        In ``(0, 1)``.

    Returns
    -------
    TaylorComparison
    """
    f, grad = _callable(f, "f"), _callable(grad, "grad")
    x0 = _array(x0, "x0")
    lr = as_positive(lr, "lr")
    tolerance = as_unit_interval(tolerance, "tolerance")
    if tolerance == 0.0:
        raise ValueError("`tolerance` must be > 0")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"`steps` must be an integer horizon T; got {steps!r}")
    indices = as_step_indices(steps)
    if model is None:
        model = taylor_model(f, grad, x0, hvp=hvp)
    elif not isinstance(model, Quadratic) or model.dim != x0.size:
        raise ValueError(f"`model` must be a Quadratic of dimension x0.size = {x0.size}")
    predicted = closed_form(model, GD(lr), x0.ravel(), indices)
    T = int(indices[-1])
    x = x0.copy()
    iterates = np.empty((T + 1, x0.size))
    loss = np.empty(T + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T + 1):
            iterates[t] = x.ravel()
            loss[t] = _value_at(f, x)
            if t < T:
                x = x - lr * np.asarray(grad(x), dtype=np.float64)
        distance = np.linalg.norm(iterates - x0.ravel(), axis=1)
        deviation = np.linalg.norm(iterates - predicted.w, axis=1)
        parted = np.flatnonzero(~(deviation <= tolerance * distance) & (indices > 0))
    first = int(parted[0]) if parted.size else None
    return TaylorComparison(indices, lr, loss, predicted.loss, distance, deviation, first,
                            None if first is None else float(distance[first]), tolerance)


def taylor_horizon(f: Callable[[np.ndarray], object], grad: Callable[[np.ndarray], object],
                   x0: object, lrs: object, steps: int, *,
                   hvp: Callable[[np.ndarray, np.ndarray], object] | None = None,
                   tolerance: float = PARTING_TOLERANCE) -> list[TaylorComparison]:
    """:func:`compare_with_taylor` for each lr in `lrs`, with one Taylor model at ``x₀``.

    The parting steps times lr (the time ``lr·t`` the prediction holds) and the parting
    distances show how far, in time and in weight space, the quadratic model is right.
    """
    x0 = _array(x0, "x0")
    model = taylor_model(f, grad, x0, hvp=hvp)
    rates = as_float_array(lrs, "lrs", ndim=1)
    return [compare_with_taylor(f, grad, x0, float(lr), steps, model=model,
                                tolerance=tolerance) for lr in rates]


@dataclass(frozen=True, eq=False)
class TanhReadout:
    r"""``L(W) = (1/2n) Σ_s ‖tanh(W x_s) − y_s‖²`` for ``W`` of shape (m, d).

    With ``s_s = W x_s``, ``r_s = tanh(s_s) − y_s`` and ``θ' = 1 − tanh²``,
    ``θ'' = −2 tanh·θ'``:

        ∇L = (1/n) Σ_s (r_s ⊙ θ'(s_s)) x_sᵀ,
        ∇²L[U] = (1/n) Σ_s ((θ'(s_s)² + r_s ⊙ θ''(s_s)) ⊙ (U x_s)) x_sᵀ,

    the first term of the Hessian the Gauss–Newton product, the second the residual term.
    One input and zero targets give the seed's ``½‖θ(W x)‖²``, whose gradient is
    ``(θ'(Wx) ⊙ θ(Wx)) xᵀ``.

    Parameters
    ----------
    X : array_like, shape (n, d) or (d,)
        Inputs (one input as a vector).
    Y : array_like, shape (n, m) or (m,), optional
        Targets; zero by default (then `outputs` gives ``m``).
    outputs : int, optional
        ``m`` when `Y` is not given.
    """

    X: np.ndarray = field(repr=False)
    Y: np.ndarray | None = field(default=None, repr=False)
    outputs: int | None = None

    def __post_init__(self) -> None:
        X = np.atleast_2d(as_float_array(self.X, "X", ndim=np.ndim(self.X)))
        if X.ndim != 2:
            raise ValueError(f"`X` must be (n, d) or (d,); got shape {np.shape(self.X)}")
        if self.Y is None:
            if self.outputs is None:
                raise ValueError("give the targets `Y` or the number of `outputs`")
            Y = np.zeros((X.shape[0], int(self.outputs)))
        else:
            Y = np.atleast_2d(as_float_array(self.Y, "Y", ndim=np.ndim(self.Y)))
            if Y.shape[0] != X.shape[0]:
                raise ValueError(f"`Y` must have one row per input, {X.shape[0]}; got shape "
                                 f"{np.shape(self.Y)}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)
        object.__setattr__(self, "outputs", Y.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """The shape ``(m, d)`` of ``W``."""
        assert self.Y is not None
        return self.Y.shape[1], self.X.shape[1]

    def _terms(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        W = np.asarray(W, dtype=np.float64)
        if W.shape != self.shape:
            raise ValueError(f"`W` must have shape {self.shape}; got {W.shape}")
        z = np.tanh(self.X @ W.T)
        return z, z - self.Y, 1.0 - z * z

    def value(self, W: np.ndarray) -> float:
        """``L(W)``."""
        _, residual, _ = self._terms(W)
        return 0.5 * float(np.sum(residual**2)) / self.X.shape[0]

    def grad(self, W: np.ndarray) -> np.ndarray:
        """``∇L(W)``, shape (m, d)."""
        _, residual, slope = self._terms(W)
        return (residual * slope).T @ self.X / self.X.shape[0]

    def hvp(self, W: np.ndarray, U: np.ndarray) -> np.ndarray:
        """The exact ``∇²L(W)[U]``, shape (m, d)."""
        z, residual, slope = self._terms(W)
        weight = slope * slope - 2.0 * residual * z * slope
        return (weight * (self.X @ np.asarray(U).T)).T @ self.X / self.X.shape[0]


@dataclass(frozen=True, eq=False)
class TwoLayerTanh:
    r"""A two-layer tanh network, ``f(θ) = (1/2n) ‖tanh(X W₁ᵀ) W₂ᵀ − Y‖²_F``.

    ``θ`` is the vector ``(W₁.ravel(), W₂.ravel())`` with ``W₁`` of shape (h, d) and
    ``W₂`` of shape (m, h). The gradient is backpropagation: with ``Hd = tanh(X W₁ᵀ)``
    and ``R = Hd W₂ᵀ − Y``, ``∇W₂ = Rᵀ Hd / n`` and ``∇W₁ = ((R W₂) ⊙ (1 − Hd²))ᵀ X / n``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    Y : array_like, shape (n, m) or (n,)
    hidden : int
        ``h``.
    """

    X: np.ndarray = field(repr=False)
    Y: np.ndarray = field(repr=False)
    hidden: int = 16

    def __post_init__(self) -> None:
        X = as_float_array(self.X, "X", ndim=2)
        Y = as_float_array(self.Y, "Y", ndim=np.ndim(self.Y))
        Y = Y[:, None] if Y.ndim == 1 else Y
        if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise ValueError(f"`Y` must have one row per row of `X`, {X.shape[0]}; got shape "
                             f"{np.shape(self.Y)}")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, (int, np.integer)) \
                or self.hidden < 1:
            raise ValueError(f"`hidden` must be a positive integer; got {self.hidden!r}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)

    @property
    def size(self) -> int:
        """Number of parameters ``h·d + m·h``."""
        return self.hidden * (self.X.shape[1] + self.Y.shape[1])

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(W₁, W₂)`` from the parameter vector."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.size,):
            raise ValueError(f"`theta` must have shape ({self.size},); got {theta.shape}")
        h, d = self.hidden, self.X.shape[1]
        return theta[:h * d].reshape(h, d), theta[h * d:].reshape(self.Y.shape[1], h)

    def init(self, rng: object = None, scale: float = 1.0) -> np.ndarray:
        """Gaussian parameters, ``W₁ ~ N(0, scale²/d)``, ``W₂ ~ N(0, scale²/h)``."""
        generator = np.random.default_rng(rng)  # type: ignore[arg-type]
        h, d, m = self.hidden, self.X.shape[1], self.Y.shape[1]
        return np.concatenate([generator.normal(size=h * d) * scale / np.sqrt(d),
                               generator.normal(size=m * h) * scale / np.sqrt(h)])

    def value(self, theta: np.ndarray) -> float:
        """``f(θ)``."""
        W1, W2 = self.unpack(theta)
        residual = np.tanh(self.X @ W1.T) @ W2.T - self.Y
        return 0.5 * float(np.sum(residual**2)) / self.X.shape[0]

    def grad(self, theta: np.ndarray) -> np.ndarray:
        """``∇f(θ)`` by backpropagation, shape (size,)."""
        W1, W2 = self.unpack(theta)
        n = self.X.shape[0]
        hidden = np.tanh(self.X @ W1.T)
        residual = hidden @ W2.T - self.Y
        grad_W2 = residual.T @ hidden / n
        grad_W1 = ((residual @ W2) * (1.0 - hidden * hidden)).T @ self.X / n
        return np.concatenate([grad_W1.ravel(), grad_W2.ravel()])


def teacher_data(n: int, d: int, *, hidden: int = 4, noise: float = 0.1,
                 rng: object = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic regression data from a random two-layer tanh teacher.

    ``X ~ N(0, I)`` (n, d) and ``y = tanh(X V₁ᵀ) v₂ + noise·N(0, 1)`` with Gaussian
    teacher weights ``V₁`` (hidden, d) scaled by ``1/√d`` and ``v₂`` by ``1/√hidden``.
    """
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    X = generator.normal(size=(n, d))
    V1 = generator.normal(size=(hidden, d)) / np.sqrt(d)
    v2 = generator.normal(size=hidden) / np.sqrt(hidden)
    return X, np.tanh(X @ V1.T) @ v2 + noise * generator.normal(size=n)
