r"""Response Jacobians ``dw*/dθ`` of a hyperparameterised quadratic, and hypergradients.

For a family ``J(w; θ) = ½ wᵀA(θ)w + b(θ)ᵀw + c`` (:class:`~quadsim.families.AffineFamily`)
the minimizer solves ``A(θ) w* + b(θ) = 0``, and the implicit function theorem gives

    dw*/dθ = −A(θ)⁻¹ B,        B = ∂²J/∂w∂θ at w* (d × p).

Four routes to it, each a twin of the others:

* :func:`response_jacobian` — exact, in the eigenbasis ``A = Q diag(a) Qᵀ``:
  ``dw*/dθ = −Q diag(1/a) QᵀB``;
* :func:`response_jvp`, :func:`response_vjp` — matrix-free, one conjugate-gradient solve
  with ``A`` (plus optional damping) and one mixed product with ``B``;
* :func:`neumann_jacobian`, :func:`cg_jacobian` — truncated: ``K`` Neumann terms of
  ``A⁻¹`` (exactly ``K`` steps of the GD tangent started at ``w*``) or ``K`` CG
  iterations, with their spectral error (:func:`neumann_error`, :func:`cg_error_bound`);
* :func:`finite_difference_jacobian` — central differences of the minimizer.

A validation loss ``V(θ) = (1/2m)‖X_val w*(θ) − y_val‖²`` (:class:`ValidationLoss`) has
the hypergradient ``dV/dθ = (dw*/dθ)ᵀ ∇V(w*)``, one adjoint solve;
:func:`hypergradient_descent` follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import (
    as_choice,
    as_count,
    as_float_array,
    as_non_negative,
    as_positive,
    as_step_indices,
    as_vector,
)
from quadsim.families import AffineFamily
from quadsim.problems import ZERO_RTOL, Quadratic, SpectralFrame, Unbounded

#: What :func:`response_jacobian` does where ``A(θ)`` has a zero eigenvalue.
SINGULAR_MODES = ("raise", "pinv")

#: Default CG stopping rule: ``‖r_k‖ <= CG_RTOL · ‖rhs‖`` (recursive residual).
CG_RTOL = 1e-12

#: Central-difference step relative to ``max(1, |θ_k|)``: ``eps^(1/3)`` balances the
#: truncation error ``O(h²)`` against the rounding error ``O(eps/h)``.
FD_RELATIVE_STEP = float(np.finfo(np.float64).eps ** (1.0 / 3.0))


def _check_family(family: object) -> AffineFamily:
    if not isinstance(family, AffineFamily):
        raise TypeError(f"`family` must be an AffineFamily; got {type(family).__name__}")
    return family


@dataclass(frozen=True, eq=False)
class _Inverse:
    """``A⁻¹`` (``A⁺`` on null axes, in 'pinv' mode) applied in a cached eigenbasis."""

    frame: SpectralFrame
    reciprocal: np.ndarray  # 1/a_j, and 0 on the null axes in 'pinv' mode

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``A⁻¹ rhs`` for ``rhs`` of shape (d,) or (d, k)."""
        return self.frame.from_eigen(self.reciprocal * self.frame.to_eigen(rhs.T)).T

    @property
    def w_star(self) -> np.ndarray:
        """The stationary point ``−A⁻¹b`` (minimum-norm ``−A⁺b`` in 'pinv' mode).

        :func:`_invert` has checked that it exists, so it is the frame's own (cached).
        """
        u_star = self.frame.stationary_point
        assert u_star is not None
        return self.frame.from_eigen(u_star)


def _invert(quadratic: Quadratic, what: str, singular: str, allow_saddle: bool) -> _Inverse:
    """The inverse Hessian of `quadratic`, or a ValueError naming `what` and the spectrum."""
    singular = as_choice(singular, "singular", SINGULAR_MODES)
    frame = quadratic.frame
    a = frame.eigenvalues
    if a[0] < 0.0 and not allow_saddle:
        raise ValueError(
            f"{what} is indefinite (smallest eigenvalue {a[0]:.3e}): w* is a saddle point, "
            "not a minimizer; pass allow_saddle=True for the derivative of the stationary "
            "point")
    zero = a == 0.0
    if np.any(zero):
        if singular == "raise":
            raise ValueError(
                f"{what} is singular: its smallest |eigenvalue| is 0 ({np.count_nonzero(zero)} "
                f"of {a.size} are within {ZERO_RTOL * a.size:.1e}·max|a| of 0), so w* is not "
                "unique; pass singular='pinv' for the minimum-norm answer")
        if frame.stationary_point is None:
            raise Unbounded(f"{what} is singular and b(θ) has a component along its null "
                            "space: J(w; θ) has no minimizer")
    reciprocal = np.divide(1.0, a, out=np.zeros_like(a), where=~zero)
    return _Inverse(frame, reciprocal)


def _family_inverse(family: AffineFamily, theta: np.ndarray, singular: str = "raise",
                    allow_saddle: bool = False) -> _Inverse:
    return _invert(family.quadratic(theta), f"A(θ) of the {family.names} family",
                   singular, allow_saddle)


def minimizer(family: object, theta: object, *, singular: str = "raise",
              allow_saddle: bool = False) -> np.ndarray:
    """The minimizer ``w*(θ) = −A(θ)⁻¹ b(θ)`` of a family at θ.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
        The hyperparameters (a number when ``p = 1``).
    singular, allow_saddle
        As in :func:`response_jacobian`: ``'pinv'`` gives the minimum-norm minimizer
        ``−A⁺b``; ``allow_saddle=True`` the stationary point of an indefinite ``A``.

    Returns
    -------
    ndarray, shape (d,)

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> from quadsim.families import ridge_family
    >>> from quadsim.response import minimizer
    >>> problem = LinearRegression(np.eye(2), [1.0, 2.0])
    >>> minimizer(ridge_family(problem), 0.5)   # (XᵀX/n + λ)⁻¹ Xᵀy/n with n = 2
    array([0.5, 1. ])
    """
    family = _check_family(family)
    return _family_inverse(family, family.check_theta(theta), singular, allow_saddle).w_star


def response_jacobian(family: object, theta: object, *, singular: str = "raise",
                      allow_saddle: bool = False) -> np.ndarray:
    r"""The exact response Jacobian ``dw*/dθ = −A(θ)⁻¹ ∂²J/∂w∂θ`` (implicit function theorem).

    With ``A(θ) = Q diag(a) Qᵀ`` (the cached eigendecomposition of ``family.quadratic(θ)``)
    and ``B = ∂²J/∂w∂θ`` at ``w* = −Q diag(1/a) Qᵀ b``,

        dw*/dθ = −Q diag(1/a) Qᵀ B,        B[:, k] = ∂A/∂θ_k w* + ∂b/∂θ_k.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
        The hyperparameters (a number when ``p = 1``).
    singular : {'raise', 'pinv'}
        Where ``A(θ)`` has a zero eigenvalue (one the decomposition snaps to 0,
        ``|a| <= 16·d·eps·max|a|``) w* is not unique. ``'raise'`` (default) raises a
        ValueError naming the family; ``'pinv'`` returns the pseudo-inverse answer
        ``−A⁺ B`` at the minimum-norm minimizer ``w⁺ = −A⁺b``: the minimum-norm
        (least-squares) solution of the linearised optimality condition
        ``A ẇ = −B``. It is the derivative of ``θ ↦ −A(θ)⁺b(θ)`` when moving θ keeps the
        null space of ``A`` fixed and ``B`` has no null component (e.g. the one-sided
        limit ``λ → 0⁺`` of a ridge family); otherwise it is a convention. If ``b(θ)``
        has a null component there is no minimizer and
        :class:`~quadsim.problems.Unbounded` is raised.
    allow_saddle : bool
        If ``A(θ)`` has a negative eigenvalue, ``w* = −A⁻¹b`` is a saddle point, not a
        minimizer; by default that raises a ValueError. With True the same formula is
        returned: the derivative of the stationary point.

    Returns
    -------
    ndarray, shape (d, p)

    Raises
    ------
    ValueError
        θ of the wrong length, or ``A(θ)`` singular (``singular='raise'``) or indefinite
        (``allow_saddle=False``).

    See Also
    --------
    response_jvp, response_vjp : the same Jacobian applied to vectors by CG.
    finite_difference_jacobian : its finite-difference twin.
    neumann_jacobian, cg_jacobian : truncated approximations converging to it.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> from quadsim.families import ridge_family
    >>> from quadsim.response import response_jacobian
    >>> problem = LinearRegression(np.eye(2), [1.0, 2.0])
    >>> response_jacobian(ridge_family(problem), 0.5)   # −(A + λI)⁻¹ w*
    array([[-0.5],
           [-1. ]])
    """
    family = _check_family(family)
    inverse = _family_inverse(family, family.check_theta(theta), singular, allow_saddle)
    return -inverse.solve(family.mixed_jacobian(inverse.w_star))


def finite_difference_jacobian(family: object, theta: object, *,
                               allow_saddle: bool = False) -> np.ndarray:
    r"""Central finite differences of the minimizer, ``(w*(θ + h e_k) − w*(θ − h e_k))/2h``.

    The step is ``h_k = eps^(1/3) · max(1, |θ_k|)`` (≈ 6e-6 for θ of order 1): the
    truncation error is ``h²/6 · |∂³w*/∂θ_k³|`` and the rounding error about
    ``κ(A)·eps·|w*| / h``, so the result agrees with the exact Jacobian to roughly
    ``κ(A) · eps^(2/3)`` ≈ ``κ(A) · 4e-11`` relative. The step actually taken is the
    representable difference ``(θ_k + h) − (θ_k − h)``.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    allow_saddle : bool
        Differentiate the stationary point of an indefinite ``A(θ)``.

    Returns
    -------
    ndarray, shape (d, p)
        Costs ``2p`` eigendecompositions.

    See Also
    --------
    response_jacobian : the exact twin.
    """
    family = _check_family(family)
    theta = family.check_theta(theta)
    columns = []
    for k, step in enumerate(FD_RELATIVE_STEP * np.maximum(1.0, np.abs(theta))):
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        w_up = minimizer(family, up, allow_saddle=allow_saddle)
        w_down = minimizer(family, down, allow_saddle=allow_saddle)
        columns.append((w_up - w_down) / (up[k] - down[k]))
    return np.stack(columns, axis=1)


def _curvature(family: AffineFamily, theta: np.ndarray,
               damping: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Matrix-free ``X ↦ (A(θ) + damping·I) X`` for X of shape (d, k), in O(d²k + dpk)."""
    def matvec(X: np.ndarray) -> np.ndarray:
        return family.hvp(theta, X) + damping * X

    return matvec


def _conjugate_gradients(matvec: Callable[[np.ndarray], np.ndarray], rhs: np.ndarray,
                         iterations: int, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """Independent CG solves ``M x = rhs[:, j]``, one per column, all from ``x = 0``.

    Each column runs until ``‖r‖ <= rtol·‖rhs[:, j]‖`` (its recursive residual) or for
    `iterations` steps; with ``rtol = 0`` exactly `iterations` steps unless the residual
    is exactly 0. Returns the solutions and a mask of the columns that did not stop.
    """
    X = np.zeros_like(rhs)
    R = rhs.copy()
    P = R.copy()
    rr = np.sum(R * R, axis=0)
    target = rtol**2 * rr
    active = rr > target
    for _ in range(iterations):
        if not np.any(active):
            break
        p = P[:, active]
        Mp = matvec(p)
        curvature = np.sum(p * Mp, axis=0)
        if np.any(curvature <= 0.0):
            raise ValueError(
                "CG met non-positive curvature pᵀMp = "
                f"{float(np.min(curvature)):.3e}: the matrix is not positive definite; "
                "use `damping` > 0 or response_jacobian")
        alpha = rr[active] / curvature
        X[:, active] += alpha * p
        R[:, active] -= alpha * Mp
        rr_new = np.sum(R[:, active] ** 2, axis=0)
        P[:, active] = R[:, active] + (rr_new / rr[active]) * p
        rr[active] = rr_new
        active = rr > target
    return X, active


def _cg_solve(matvec: Callable[[np.ndarray], np.ndarray], rhs: np.ndarray, rtol: float,
              maxiter: int, what: str) -> np.ndarray:
    """CG to tolerance for a vector `rhs`; a RuntimeError if it does not get there."""
    x, unconverged = _conjugate_gradients(matvec, rhs[:, None], maxiter, rtol)
    if unconverged[0]:
        raise RuntimeError(f"CG for {what} did not reach rtol={rtol:.1e} in maxiter={maxiter} "
                           "iterations; raise `maxiter`, `rtol` or `damping`")
    return x[:, 0]


def _cg_setup(family: object, theta: object, damping: object, rtol: object, maxiter: object,
              w_star: object) -> tuple[AffineFamily, Callable[[np.ndarray], np.ndarray],
                                       float, int, np.ndarray]:
    """Validate the shared arguments of the CG products; solve for w* if not given."""
    family = _check_family(family)
    theta = family.check_theta(theta)
    damped = _curvature(family, theta, as_non_negative(damping, "damping"))
    rtol = as_non_negative(rtol, "rtol")
    maxiter = 10 * family.dim if maxiter is None else as_count(maxiter, "maxiter")
    if w_star is None:
        w = _cg_solve(_curvature(family, theta), -family.b(theta), rtol, maxiter,
                      "w* = −A(θ)⁻¹b(θ)")
    else:
        w = as_vector(w_star, "w_star", family.dim)
    return family, damped, rtol, maxiter, w


def response_jvp(family: object, theta: object, v: object, *, damping: float = 0.0,
                 rtol: float = CG_RTOL, maxiter: int | None = None,
                 w_star: object = None) -> np.ndarray:
    r"""Jacobian-vector product ``(dw*/dθ) v = −(A(θ) + δI)⁻¹ B v`` by conjugate gradients.

    Matrix-free: ``B v`` is ``family.mixed_jvp(w*, v)`` (O(d·p)) and the solve uses only
    products with ``A(θ)`` (never a d×d matrix per parameter, never the dense Jacobian).

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    v : array_like, shape (p,)
        Direction in θ.
    damping : float, optional
        ``δ >= 0``: solve with ``A + δI`` (regularises a singular or ill-conditioned
        Hessian; the answer is then biased towards 0 along the flat directions).
        ``w*`` itself is the undamped minimizer.
    rtol : float, optional
        Each CG solve stops when its residual is ``<= rtol·‖rhs‖``; the error in the
        result is then at most ``κ(A + δI) · rtol`` relative.
    maxiter : int, optional
        Iteration cap per solve (``10·d`` by default). Not reaching `rtol` within it
        raises a RuntimeError.
    w_star : array_like, shape (d,), optional
        The minimizer at θ if already known; otherwise found by CG on ``A(θ)w = −b(θ)``
        (from 0, which gives the minimum-norm minimizer of a singular, consistent system).

    Returns
    -------
    ndarray, shape (d,)

    Raises
    ------
    ValueError
        If CG meets non-positive curvature (``A + δI`` not positive definite).
    RuntimeError
        If CG does not converge within `maxiter`.

    See Also
    --------
    response_jacobian : the exact dense Jacobian (``response_jacobian(...) @ v``).
    response_vjp : the transposed product.

    Notes
    -----
    CG is written here (a few lines of numpy) rather than taken from
    ``scipy.sparse.linalg.cg``: :func:`cg_jacobian` needs exactly ``K`` iterations with no
    stopping test of its own, and running the ``p`` columns as one block turns the
    products into matrix-matrix ones; both share this one implementation.
    """
    family, damped, rtol, maxiter, w = _cg_setup(family, theta, damping, rtol, maxiter,
                                                 w_star)
    rhs = -family.mixed_jvp(w, as_vector(v, "v", family.n_params))
    return _cg_solve(damped, rhs, rtol, maxiter, "(A(θ) + damping·I)⁻¹ B v")


def response_vjp(family: object, theta: object, u: object, *, damping: float = 0.0,
                 rtol: float = CG_RTOL, maxiter: int | None = None,
                 w_star: object = None) -> np.ndarray:
    r"""Vector-Jacobian product ``(dw*/dθ)ᵀ u = −Bᵀ (A(θ) + δI)⁻¹ u`` by conjugate gradients.

    The adjoint route: one CG solve ``(A + δI) z = −u`` (A is symmetric), then
    ``Bᵀ z = family.mixed_vjp(w*, z)``. Its cost does not grow with ``p``, which makes
    it the way to a hypergradient over many hyperparameters.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    u : array_like, shape (d,)
        Cotangent of ``w*``.
    damping, rtol, maxiter, w_star
        As in :func:`response_jvp`.

    Returns
    -------
    ndarray, shape (p,)
        ``uᵀ (response_jvp(v)) = (response_vjp(u))ᵀ v`` for every ``v``.

    See Also
    --------
    response_jvp : the forward product.
    ValidationLoss : a hypergradient by one exact adjoint solve.
    """
    family, damped, rtol, maxiter, w = _cg_setup(family, theta, damping, rtol, maxiter,
                                                 w_star)
    adjoint = _cg_solve(damped, -as_vector(u, "u", family.dim), rtol, maxiter,
                        "(A(θ) + damping·I)⁻¹ u")
    return family.mixed_vjp(w, adjoint)


def _mixed_at_minimizer(family: object, theta: object
                        ) -> tuple[AffineFamily, np.ndarray, _Inverse, np.ndarray]:
    family = _check_family(family)
    theta = family.check_theta(theta)
    inverse = _family_inverse(family, theta)
    return family, theta, inverse, family.mixed_jacobian(inverse.w_star)


def neumann_jacobian(family: object, theta: object, terms: int, lr: float) -> np.ndarray:
    r"""``K``-term Neumann approximation ``J_K = −lr Σ_{i<K} (I − lr A)^i B`` of ``dw*/dθ``.

    ``A⁻¹ = lr Σ_{i≥0} (I − lr A)^i`` when ``0 < lr·a_j < 2`` on every axis, so ``J_K``
    converges to the IFT Jacobian; it is exactly the tangent ``dw_K/dθ`` of ``K`` GD steps
    with step `lr` started at ``w*``. Computed by the recursion
    ``N_{i+1} = B + (I − lr A) N_i`` from ``N_0 = 0`` (matrix-free products with A).

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    terms : int
        ``K >= 0``.
    lr : float
        Step ``> 0`` (above ``2/a_max`` the series diverges, and so does the result).

    Returns
    -------
    ndarray, shape (d, p)

    See Also
    --------
    neumann_error : its exact error from the spectrum.
    response_jacobian : the limit ``K → ∞``.
    """
    family, theta, _, B = _mixed_at_minimizer(family, theta)
    terms = as_count(terms, "terms")
    lr = as_positive(lr, "lr")
    matvec = _curvature(family, theta)
    series = np.zeros_like(B)
    for _ in range(terms):
        series = B + series - lr * matvec(series)
    return -lr * series


def neumann_error(family: object, theta: object, terms: object, lr: float) -> np.ndarray:
    r"""Spectral prediction of ``‖J_K − dw*/dθ‖_F`` for the Neumann approximation.

    In the eigenbasis the ``K``-term sum on axis ``j`` is ``(1 − (1 − lr a_j)^K)/a_j``, so

        J_K − J = −Q diag((1 − lr a)^K) Qᵀ J,
        ‖J_K − J‖_F = ( Σ_j (1 − lr a_j)^{2K} ‖(QᵀJ)_{j,:}‖² )^½

    with ``J`` the exact Jacobian: each axis's error shrinks by ``|1 − lr a_j|`` per term.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    terms : int or array_like of int
        An int ``K`` means ``0..K``; an array gives increasing term counts.
    lr : float
        Step ``> 0``.

    Returns
    -------
    ndarray, shape (len(terms),)

    See Also
    --------
    neumann_jacobian : the approximation itself.
    """
    family, _, inverse, B = _mixed_at_minimizer(family, theta)
    counts = as_step_indices(terms, "terms")
    lr = as_positive(lr, "lr")
    factor = 1.0 - lr * inverse.frame.eigenvalues
    rows = np.sum(inverse.frame.to_eigen(inverse.solve(B).T) ** 2, axis=0)
    return np.sqrt(np.sum(factor ** (2 * counts[:, None]) * rows, axis=1))


def cg_jacobian(family: object, theta: object, iterations: int) -> np.ndarray:
    r"""``dw*/dθ`` by exactly ``K`` conjugate-gradient iterations per column, from zero.

    Each column solves ``A x = −B[:, k]`` (``B`` at the exact ``w*``). CG minimises the
    ``A``-norm error over the Krylov space of dimension ``K``, so it is exact (in exact
    arithmetic) once ``K`` reaches the number of distinct eigenvalues of ``A``, at most d.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    iterations : int
        ``K >= 0``.

    Returns
    -------
    ndarray, shape (d, p)

    See Also
    --------
    cg_error_bound : the standard bound on its A-norm error.
    response_jacobian : the exact answer.
    """
    family, theta, _, B = _mixed_at_minimizer(family, theta)
    iterations = as_count(iterations, "iterations")
    return _conjugate_gradients(_curvature(family, theta), -B, iterations, 0.0)[0]


def cg_error_bound(family: object, theta: object, iterations: object) -> np.ndarray:
    r"""The standard bound ``‖e_K‖_A / ‖e_0‖_A <= 2((√κ − 1)/(√κ + 1))^K`` for CG on ``A(θ)``.

    ``κ = a_max/a_min`` is the condition number of ``A(θ)``, ``e_K`` the error after
    ``K`` iterations and ``‖e‖_A = (eᵀAe)^½``; from zero, ``‖e_0‖_A = ‖x*‖_A``.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    iterations : int or array_like of int
        An int ``K`` means ``0..K``; an array gives increasing iteration counts.

    Returns
    -------
    ndarray, shape (len(iterations),)

    See Also
    --------
    cg_jacobian : the iterates it bounds.
    """
    family = _check_family(family)
    a = _family_inverse(family, family.check_theta(theta)).frame.eigenvalues
    counts = as_step_indices(iterations, "iterations")
    root_kappa = np.sqrt(a[-1] / a[0])
    return 2.0 * ((root_kappa - 1.0) / (root_kappa + 1.0)) ** counts


@dataclass(frozen=True, eq=False)
class ValidationLoss:
    r"""Held-out loss of the minimizer, ``V(θ) = (1/2m)‖X_val w*(θ) − y_val‖²``.

    Its hypergradient needs one adjoint solve, not the d×p Jacobian:

        dV/dθ = (dw*/dθ)ᵀ ∇V(w*) = Bᵀ z,        z = −A(θ)⁻¹ ∇V(w*),
        ∇V(w) = X_valᵀ(X_val w − y_val)/m,

    with ``A(θ)⁻¹`` applied exactly in the eigenbasis that gives ``w*``.

    Parameters
    ----------
    family : AffineFamily
    X : array_like, shape (m, d)
        Validation inputs.
    y : array_like, shape (m,)
        Validation targets.

    See Also
    --------
    response_vjp : the same product by CG, matrix-free.
    hypergradient_descent : follows ``dV/dθ``.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> from quadsim.families import ridge_family
    >>> from quadsim.response import ValidationLoss
    >>> loss = ValidationLoss(ridge_family(LinearRegression(np.eye(2), [1.0, 2.0])),
    ...                       np.eye(2), [1.0, 2.0])
    >>> value, grad = loss.value_and_grad(0.5)   # w* = [0.5, 1], dw*/dλ = −[0.5, 1]
    >>> value, grad
    (0.3125, array([0.625]))
    """

    family: AffineFamily
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        family = _check_family(self.family)
        X = as_float_array(self.X, "X", ndim=2)
        if X.shape[0] == 0 or X.shape[1] != family.dim:
            raise ValueError(f"`X` must have shape (m, {family.dim}) with m >= 1; "
                             f"got {X.shape}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", as_vector(self.y, "y", X.shape[0]))

    def _residual(self, w: np.ndarray) -> np.ndarray:
        return self.X @ w - self.y

    def value(self, theta: object) -> float:
        """``V(θ)``."""
        residual = self._residual(minimizer(self.family, theta))
        return float(residual @ residual) / (2 * self.y.shape[0])

    def value_and_grad(self, theta: object) -> tuple[float, np.ndarray]:
        """``V(θ)`` and ``dV/dθ`` (shape (p,)) from one eigendecomposition of ``A(θ)``."""
        inverse = _family_inverse(self.family, self.family.check_theta(theta))
        w = inverse.w_star
        residual = self._residual(w)
        m = self.y.shape[0]
        adjoint = -inverse.solve(self.X.T @ residual / m)
        return float(residual @ residual) / (2 * m), self.family.mixed_vjp(w, adjoint)


@dataclass(frozen=True, eq=False)
class HypergradientPath:
    """The iterates of :func:`hypergradient_descent`.

    Attributes
    ----------
    theta : ndarray, shape (K + 1, p)
        ``θ_0..θ_K``.
    value : ndarray, shape (K + 1,)
        ``V(θ_k)``.
    grad : ndarray, shape (K + 1, p)
        ``dV/dθ`` at ``θ_k`` (with respect to θ itself, not log θ).
    """

    theta: np.ndarray = field(repr=False)
    value: np.ndarray = field(repr=False)
    grad: np.ndarray = field(repr=False)

    def __repr__(self) -> str:
        return (f"HypergradientPath(steps={self.value.shape[0] - 1}, "
                f"params={self.theta.shape[1]}, final_value={self.value[-1]:.6g})")


def hypergradient_descent(loss: ValidationLoss, theta0: object, *, lr: float,
                          steps: int) -> HypergradientPath:
    r"""Gradient descent on ``log θ`` for a validation loss: ``s_{k+1} = s_k − lr·θ_k ⊙ dV/dθ``.

    The hyperparameters are optimised in log space, ``θ = exp(s)``, which keeps every
    ``θ_k`` positive (a ridge coefficient, per-feature decays) and makes the step
    scale-free; ``dV/ds = θ ⊙ dV/dθ`` by the chain rule, and a stationary point has
    ``θ ⊙ dV/dθ = 0``.

    Parameters
    ----------
    loss : ValidationLoss
    theta0 : array_like, shape (p,)
        Start, every entry ``> 0`` (a number when ``p = 1``).
    lr : float
        Step in log space, ``> 0``.
    steps : int
        Number of steps ``K``.

    Returns
    -------
    HypergradientPath
        ``K + 1`` records, the start included.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> from quadsim.families import ridge_family
    >>> from quadsim.response import ValidationLoss, hypergradient_descent
    >>> rng = np.random.default_rng(0)
    >>> X, w = rng.normal(size=(40, 3)), np.array([1.0, -1.0, 0.5])
    >>> y = X @ w + rng.normal(size=40)
    >>> loss = ValidationLoss(ridge_family(LinearRegression(X[:20], y[:20])),
    ...                       X[20:], y[20:])
    >>> path = hypergradient_descent(loss, 1.0, lr=1.0, steps=50)
    >>> bool(path.value[-1] < path.value[0])
    True
    """
    if not isinstance(loss, ValidationLoss):
        raise TypeError(f"`loss` must be a ValidationLoss; got {type(loss).__name__}")
    theta = loss.family.check_theta(theta0)
    if np.any(theta <= 0.0):
        raise ValueError("`theta0` must be > 0 (descent runs on log θ); "
                         f"got min {float(np.min(theta)):.3e}")
    lr = as_positive(lr, "lr")
    steps = as_count(steps, "steps")
    thetas, values, grads = [], [], []
    for k in range(steps + 1):
        value, grad = loss.value_and_grad(theta)
        thetas.append(theta)
        values.append(value)
        grads.append(grad)
        if k < steps:
            theta = theta * np.exp(-lr * theta * grad)
    return HypergradientPath(np.array(thetas), np.array(values), np.array(grads))
