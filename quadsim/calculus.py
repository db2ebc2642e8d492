r"""The calculus of training: derivatives with respect to weight vectors and matrices.

Matrix-free products for the linear model and its least-squares loss, and the tools to
check any gradient. For the prediction ``z = W x`` (``W`` of shape (m, d); for a batch
``Z = X Wᵀ``, shape (n, m)) and ``L(W) = ℓ(Z) + (l2/2)‖W‖²_F`` with
``ℓ(Z) = (1/2n)‖Z − Y‖²_F``:

- the Jacobian of the model is the linear map ``J_z: U ↦ U x`` (``X Uᵀ`` for a batch):
  :func:`model_jvp`; as an array, the 3-tensor ``∂z_i/∂W_jk = [i = j] x_k``
  (:func:`model_jacobian`). Its adjoint is ``J_zᵀ: v ↦ v xᵀ`` (``Vᵀ X``): :func:`model_vjp`;
- the chain rule: ``∇L = J_zᵀ ∇ℓ + l2·W = (Z − Y)ᵀ X / n + l2·W`` (:func:`loss_vjp`), and
  the directional derivative ``L'(W)[U] = ⟨∇ℓ, J_z U⟩ + l2 ⟨W, U⟩ = ⟨∇L, U⟩_F =
  tr(∇Lᵀ U)`` (:func:`loss_jvp`);
- the Hessian-vector product ``H[U] = U A = (U Xᵀ) X / n + l2·U`` (:func:`hvp`), without
  forming ``A = XᵀX/n + l2·I``; for vector weights ``Xᵀ(X v)/n + l2·v``;
- the Gauss–Newton product ``J_zᵀ H_ℓ J_z U`` (:func:`gauss_newton_vp`), which is the
  Hessian for a squared loss of a linear model and differs from it by the residual term
  ``Σ_k (∂ℓ/∂z_k) ∇²z_k`` for a nonlinear one.

For any function: :func:`directional_derivative` and its finite-difference twin,
:func:`projector` (the direction "orthogonal projector onto a span"),
:func:`finite_difference_hvp`, and :func:`check_grad`, a central-difference gradient
check for functions of vectors or matrices. Second-order Taylor models are in
:mod:`quadsim.taylor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_float_array
from quadsim.problems import LinearRegression, Quadratic, as_quadratic

__all__ = [
    "FD_RELATIVE_STEP",
    "GradientCheck",
    "check_grad",
    "directional_derivative",
    "finite_difference_directional",
    "finite_difference_hvp",
    "gauss_newton_vp",
    "hvp",
    "loss_jvp",
    "loss_vjp",
    "model_jacobian",
    "model_jvp",
    "model_vjp",
    "projector",
]

#: Central-difference step relative to ``max(1, |x|)``: ``eps^(1/3)`` (≈ 6.1e-6) balances
#: the truncation error ``h²|f'''|/6`` against the rounding error ``eps·|f|/h``, so a
#: well-scaled derivative comes out to about ``eps^(2/3)`` ≈ 4e-11 relative.
FD_RELATIVE_STEP = float(np.finfo(np.float64).eps ** (1.0 / 3.0))

#: Relative rank tolerance of :func:`projector` (as :func:`numpy.linalg.matrix_rank`).
RANK_RTOL = float(np.finfo(np.float64).eps)


def _array(value: object, name: str) -> np.ndarray:
    """A finite float64 array of any shape (a vector or a matrix of weights, a scalar)."""
    array = np.asarray(value)
    return as_float_array(array, name, ndim=array.ndim)


def _point_and_direction(x: object, v: object) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and a direction ``v`` of the same shape, as finite float64 arrays."""
    x, v = _array(x, "x"), _array(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"`v` must have the shape of `x`, {x.shape}; got {v.shape}")
    return x, v


def _callable(value: object, name: str) -> Callable[..., object]:
    if not callable(value):
        raise TypeError(f"`{name}` must be callable; got {type(value).__name__}")
    return value


def model_jvp(x: object, U: object) -> np.ndarray:
    """``J_z[U] = U x``: the tangent of the prediction ``z = W x`` along ``U``.

    Parameters
    ----------
    x : array_like, shape (d,) or (n, d)
        One input, or a batch as rows (then ``Z = X Wᵀ`` and the tangent is ``X Uᵀ``).
    U : array_like, shape (m, d) or (d,)
        The direction in weight space (a vector for a single output).

    Returns
    -------
    ndarray
        Shape (m,), (n, m), (n,) or () as ``z`` has. It does not depend on ``W``: the
        model is linear in ``W``.
    """
    x, U = _array(x, "x"), _array(U, "U")
    if U.shape[-1] != x.shape[-1]:
        raise ValueError(f"`U` must have {x.shape[-1]} columns, one per input feature; got "
                         f"shape {U.shape}")
    return x @ U.T


def model_vjp(x: object, V: object) -> np.ndarray:
    """``J_zᵀ[v] = v xᵀ``: the cotangent of ``z = W x`` pulled back to the weights.

    Parameters
    ----------
    x : array_like, shape (d,) or (n, d)
        One input, or a batch as rows.
    V : array_like
        A cotangent of ``z``: shape (m,) or () for one input, (n, m) or (n,) for a batch.

    Returns
    -------
    ndarray, shape (m, d) or (d,)
        ``v xᵀ``, or ``Vᵀ X = Σ_s v_s x_sᵀ`` for a batch: a sum of rank-1 matrices.
    """
    x, V = _array(x, "x"), _array(V, "V")
    if x.ndim == 1:
        return np.multiply.outer(V, x)
    if V.shape[:1] != x.shape[:1]:
        raise ValueError(f"`V` must have one row per input, {x.shape[0]}; got shape {V.shape}")
    return V.T @ x


def model_jacobian(x: object, m: int) -> np.ndarray:
    """``∂z/∂W`` for ``z = W x`` as the 3-tensor ``J[i, j, k] = [i = j] x_k``, shape (m, m, d).

    Only for looking at: :func:`model_jvp` and :func:`model_vjp` apply it without
    forming it (``tensordot(J, U) = U x``, ``tensordot(v, J, 1) = v xᵀ``).
    """
    x = _array(x, "x")
    if x.ndim != 1:
        raise ValueError(f"`x` must be one input of shape (d,); got shape {x.shape}")
    return np.einsum("ij,k->ijk", np.eye(m), x)


def _regression(problem: object) -> LinearRegression:
    if not isinstance(problem, LinearRegression):
        raise TypeError(f"`problem` must be a LinearRegression; got {type(problem).__name__}")
    return problem


def loss_jvp(problem: object, W: object, U: object) -> float:
    """``L'(W)[U] = ⟨(Z − Y)/n, X Uᵀ⟩_F + l2 ⟨W, U⟩_F = tr(∇L(W)ᵀ U)``, by the chain rule.

    Parameters
    ----------
    problem : LinearRegression
    W, U : array_like, shape (d,) or (m, d)
        The point and the direction.
    """
    regression = _regression(problem)
    W, U = regression._weights(W), regression._weights(U, "U")
    residual = W @ regression.X.T - regression._targets
    tangent = model_jvp(regression.X, U)
    return float(np.vdot(residual.T, tangent) / regression.n_samples
                 + regression.l2 * np.vdot(W, U))


def loss_vjp(problem: object, W: object, cotangent: float = 1.0) -> np.ndarray:
    """``s·∇L(W) = s·(J_zᵀ[(Z − Y)/n] + l2·W)`` for the scalar cotangent ``s``.

    With ``s = 1`` it is the gradient, ``(Z − Y)ᵀ X/n + l2·W`` — the rank-``≤ n`` data part
    is the sum of the per-example gradients ``δ_s x_sᵀ/n`` (:mod:`quadsim.per_example`).
    """
    regression = _regression(problem)
    W = regression._weights(W)
    residual = W @ regression.X.T - regression._targets
    gradient = model_vjp(regression.X, residual.T / regression.n_samples) + regression.l2 * W
    return float(cotangent) * gradient


def hvp(problem: object, v: object) -> np.ndarray:
    """The Hessian-vector product: ``A v`` of a quadratic, never forming ``A`` for a regression.

    For a :class:`~quadsim.LinearRegression` ``Xᵀ(X v)/n + l2·v`` (vector weights) or
    ``(V Xᵀ) X/n + l2·V = V A`` row by row (matrix weights): ``O(n·d·m)`` instead of the
    ``O(d²·m)`` of a formed ``A`` (and none of its ``O(n·d²)`` cost). The Hessian of a
    quadratic does not depend on the point.
    """
    if isinstance(problem, LinearRegression):
        return problem.hvp(v)
    quadratic: Quadratic = as_quadratic(problem)
    return quadratic.hvp(_array(v, "v"))


def gauss_newton_vp(jvp: Callable[[np.ndarray], np.ndarray],
                    vjp: Callable[[np.ndarray], np.ndarray],
                    output_hvp: Callable[[np.ndarray], np.ndarray],
                    v: object) -> np.ndarray:
    r"""The Gauss–Newton product ``J_zᵀ H_ℓ J_z v`` of a loss ``L(w) = ℓ(z(w))``.

    Parameters
    ----------
    jvp : callable
        ``v ↦ J_z v``, the model's Jacobian at the point (:func:`model_jvp` for a linear
        model).
    vjp : callable
        ``u ↦ J_zᵀ u``, its adjoint (:func:`model_vjp`).
    output_hvp : callable
        ``u ↦ H_ℓ u``, the Hessian of ``ℓ`` with respect to the outputs (``u/n`` for
        ``ℓ = ‖Z − Y‖²/2n``).
    v : array_like
        The direction, in weight space.

    Returns
    -------
    ndarray
        Shape of `v`.

    Notes
    -----
    ``∇²L = J_zᵀ H_ℓ J_z + Σ_k (∂ℓ/∂z_k) ∇²z_k``. For a model linear in the weights
    (``z = W x``) the second term vanishes and Gauss–Newton is the Hessian; for
    ``z = θ(W x)`` with an elementwise nonlinearity it is the residual term
    ``((∂ℓ/∂z) ⊙ θ''(W x) ⊙ (V x)) xᵀ``, which vanishes where the residuals do.
    """
    v = _array(v, "v")
    return np.asarray(vjp(output_hvp(jvp(v))))


def directional_derivative(grad: Callable[[np.ndarray], object], x: object,
                           v: object) -> float:
    """``f'(x)[v] = ⟨∇f(x), v⟩_F = tr(∇f(x)ᵀ v)`` for ``f`` of a vector or a matrix.

    Parameters
    ----------
    grad : callable
        ``x ↦ ∇f(x)``, of the shape of ``x``.
    x, v : array_like
        The point and the direction, of one shape. For the direction "the orthogonal
        projector onto ``span{v_1..v_k}``" of a function of a d × d matrix pass
        :func:`projector` of the vectors.

    See Also
    --------
    finite_difference_directional : the twin, from values of ``f`` alone.
    """
    x, v = _point_and_direction(x, v)
    gradient = _gradient_at(_callable(grad, "grad"), x, "grad")
    return float(np.vdot(gradient, v))


def finite_difference_directional(f: Callable[[np.ndarray], object], x: object, v: object,
                                  *, step: float | None = None) -> float:
    """``(f(x + h v) − f(x − h v)) / 2h``, ``h = eps^(1/3)·max(1, ‖x‖)/‖v‖`` by default.

    The central difference's error is ``h²|f'''|/6`` plus ``eps·|f|/h``: about
    ``eps^(2/3)`` relative for a well-scaled ``f``.
    """
    f = _callable(f, "f")
    x, v = _point_and_direction(x, v)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return 0.0
    h = FD_RELATIVE_STEP * max(1.0, float(np.linalg.norm(x))) / norm if step is None \
        else float(step)
    return (_value_at(f, x + h * v) - _value_at(f, x - h * v)) / (2.0 * h)


def projector(vectors: object) -> np.ndarray:
    """The orthogonal projector ``P = Q Qᵀ`` onto the span of the columns of `vectors`.

    ``Q`` is an orthonormal basis of the span (from the SVD, so dependent columns are
    allowed: ``P`` has the rank of `vectors`). ``P`` is symmetric and ``P² = P``.

    Parameters
    ----------
    vectors : array_like, shape (d, k)
        ``v_1..v_k`` as columns (a single vector of shape (d,) is one column).
    """
    V = _array(vectors, "vectors")
    if V.ndim == 1:
        V = V[:, None]
    if V.ndim != 2 or V.size == 0:
        raise ValueError(f"`vectors` must be a non-empty (d, k) array of columns; got shape "
                         f"{V.shape}")
    left, singular, _ = np.linalg.svd(V, full_matrices=False)
    rank = int(np.sum(singular > RANK_RTOL * max(V.shape) * singular[0])) if singular[0] > 0 \
        else 0
    Q = left[:, :rank]
    return Q @ Q.T


def finite_difference_hvp(grad: Callable[[np.ndarray], object], x: object, v: object, *,
                          step: float | None = None) -> np.ndarray:
    """``(∇f(x + h v) − ∇f(x − h v)) / 2h``: a Hessian-vector product from gradients alone.

    ``h = eps^(1/3)·max(1, ‖x‖)/‖v‖`` by default, the central-difference balance of
    truncation (``h²``) and rounding (``eps/h``): about ``eps^(2/3)`` relative.
    """
    grad = _callable(grad, "grad")
    x, v = _point_and_direction(x, v)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros_like(x)
    h = FD_RELATIVE_STEP * max(1.0, float(np.linalg.norm(x))) / norm if step is None \
        else float(step)
    up = _gradient_at(grad, x + h * v, "grad")
    down = _gradient_at(grad, x - h * v, "grad")
    return (up - down) / (2.0 * h)


@dataclass(frozen=True, eq=False)
class GradientCheck:
    """The result of :func:`check_grad`.

    Attributes
    ----------
    error : float
        ``max|g − ĝ| / max(max|g|, max|ĝ|)``: the largest discrepancy between the given
        gradient ``g`` and the central differences ``ĝ``, relative to the gradient's
        scale (0 when both vanish).
    worst : tuple of int
        The index (into ``x``) where ``|g − ĝ|`` is largest.
    analytic, numerical : ndarray
        ``g`` and ``ĝ``, of the shape of ``x``.
    """

    error: float
    worst: tuple[int, ...]
    analytic: np.ndarray = field(repr=False)
    numerical: np.ndarray = field(repr=False)

    def passed(self, tolerance: float = 1e-6) -> bool:
        """Whether :attr:`error` is at most `tolerance` (central differences reach ~1e-10)."""
        return self.error <= tolerance


def check_grad(f: Callable[[np.ndarray], object], grad: Callable[[np.ndarray], object],
               x: object, *, step: float | None = None) -> GradientCheck:
    r"""Check a gradient function against central differences of ``f``, entry by entry.

    For each entry ``x_i`` (of a vector or a matrix) the central difference
    ``D(h) = (f(x + h e_i) − f(x − h e_i)) / (x_i⁺ − x_i⁻)`` (the representable step
    ``x_i⁺ − x_i⁻`` actually taken), at ``h_i = eps^(1/3)·max(1, |x_i|)`` and at ``h_i/2``,
    combined by Richardson extrapolation: ``D(h) = ∂_i f + c·h² + O(h⁴)``, so
    ``ĝ_i = (h²·D(h/2) − (h/2)²·D(h)) / (h² − (h/2)²)`` removes the ``h²`` term. What is
    left is the rounding error, about ``eps·|f|/h``: for a well-scaled ``f`` a right
    gradient agrees to about ``eps^(2/3)`` ≈ 4e-11 relative, and a wrong one by O(1).
    The ``h²`` term alone (plain central differences at this step) would be
    ``h²|∂³f|/6`` — about 1e-7 for ``log(eˣ + eʸ)`` at ``x = 500``, where ``max(1, |x|)``
    overstates the scale on which ``f`` curves; extrapolated it is 1e-10 there. Costs
    ``4·x.size`` evaluations of ``f``.

    Parameters
    ----------
    f : callable
        ``x ↦ f(x)``, a real number.
    grad : callable
        ``x ↦ ∇f(x)``, of the shape of ``x``.
    x : array_like
        The point: a vector, a matrix, any shape.
    step : float, optional
        The same absolute step ``h`` for every entry instead.

    Returns
    -------
    GradientCheck
        The relative error and the index where the discrepancy is largest.

    Raises
    ------
    TypeError
        If `f` or `grad` is not callable, or ``f(x)`` is not a real number.
    ValueError
        If ``grad(x)`` does not have the shape of ``x``, or is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim.calculus import check_grad
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> x = np.array([1.0, -2.0])
    >>> f = lambda x: x @ A @ x
    >>> check_grad(f, lambda x: (A + A.T) @ x, x).error < 1e-9
    True
    >>> wrong = check_grad(f, lambda x: 2 * A @ x, x)   # right only for symmetric A
    >>> round(wrong.error, 3), wrong.worst
    (0.167, (0,))
    """
    f, grad = _callable(f, "f"), _callable(grad, "grad")
    x = _array(x, "x")
    analytic = _gradient_at(grad, x, "grad")
    _value_at(f, x)  # checks that f gives a number before 2·size calls
    numerical = np.empty_like(x)
    flat, out = x.reshape(-1), numerical.reshape(-1)

    def central(i: int, h: float) -> tuple[float, float]:
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        taken = up[i] - down[i]  # the representable step
        difference = _value_at(f, up.reshape(x.shape)) - _value_at(f, down.reshape(x.shape))
        return difference / taken, taken

    for i in range(flat.size):
        h = FD_RELATIVE_STEP * max(1.0, abs(flat[i])) if step is None else float(step)
        wide, wide_step = central(i, h)
        narrow, narrow_step = central(i, 0.5 * h)
        # Richardson: D(h) = f' + c·h² + O(h⁴) for both steps; eliminate c.
        out[i] = (wide_step**2 * narrow - narrow_step**2 * wide) \
            / (wide_step**2 - narrow_step**2)
    difference = np.abs(analytic - numerical)
    scale = max(float(np.max(np.abs(analytic), initial=0.0)),
                float(np.max(np.abs(numerical), initial=0.0)))
    worst = np.unravel_index(int(np.argmax(difference)), x.shape) if x.size else ()
    error = float(np.max(difference, initial=0.0)) / scale if scale > 0.0 else 0.0
    return GradientCheck(error, tuple(int(i) for i in worst), analytic, numerical)


def _value_at(f: Callable[[np.ndarray], object], x: np.ndarray) -> float:
    value = f(x)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        shape = getattr(value, "shape", ())
        raise TypeError(f"`f` must return a real number; got {type(value).__name__} of "
                        f"shape {shape}")
    return float(value)


def _gradient_at(grad: Callable[[np.ndarray], object], x: np.ndarray, name: str) -> np.ndarray:
    value = np.asarray(grad(x), dtype=np.float64)
    if value.shape != x.shape:
        raise ValueError(f"`{name}(x)` must have the shape of `x`, {x.shape}; got "
                         f"{value.shape}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"`{name}(x)` must be finite")
    return value
