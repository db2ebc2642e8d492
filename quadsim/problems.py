"""Problems: quadratics ``J(w) = ½ wᵀAw + bᵀw + c`` and linear regression.

A problem validates its data once, at construction, and caches its spectral
decomposition ``A = Q diag(a) Qᵀ``; every closed form, stability limit and rate
reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.linalg

from quadsim._validation import (
    as_float_array,
    as_non_negative,
    as_real,
    as_symmetric_matrix,
    as_vector,
)

#: Eigenvalues with ``|a| <= ZERO_RTOL * d * max|a|`` are set to exactly zero, and the
#: linear term of such an axis with ``|b̃| <= ZERO_RTOL * d * ‖b‖`` too: ``eigh`` returns
#: a null direction of A with an eigenvalue of rounding size, not 0, and the singular
#: axes (drift, frozen) must be exact.
ZERO_RTOL = 16 * np.finfo(np.float64).eps

#: The stationary-point situations that :meth:`Quadratic.classify` names.
STATIONARY_KINDS = ("strict minimum", "strict maximum", "saddle", "degenerate",
                    "no stationary point")


class Unbounded(ValueError):
    """J has no minimizer: it is unbounded below."""


@dataclass(frozen=True, eq=False)
class SpectralFrame:
    """Coordinates in which a quadratic separates into independent axes.

    With ``w = basis @ u`` the objective reads
    ``J = Σ_j (½ a_j u_j² + b̃_j u_j) + c`` and every method in quadsim updates each
    ``u_j`` on its own. For a plain quadratic ``basis = Q`` (orthogonal); for a
    preconditioner ``P`` it is ``P^½ Q̃`` with ``P^½ A P^½ = Q̃ diag(a) Q̃ᵀ``.

    Attributes
    ----------
    eigenvalues : ndarray, shape (d,)
        The per-axis curvatures ``a_j`` (ascending, rounding-size ones set to 0).
    basis : ndarray, shape (d, d)
        Columns are the axes in the original coordinates: ``w = basis @ u``.
    inverse_basis : ndarray, shape (d, d)
        ``u = inverse_basis @ w``.
    b : ndarray, shape (d,)
        The linear term in these coordinates, ``b̃ = basisᵀ b``.
    c : float
        The constant term.
    """

    eigenvalues: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    inverse_basis: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    c: float = 0.0

    @classmethod
    def from_symmetric(cls, A: np.ndarray, b: np.ndarray, c: float,
                       scale: np.ndarray | None = None) -> SpectralFrame:
        """Diagonalise ``S A S`` (``S = scale``, identity if None) and snap zeros."""
        d = A.shape[0]
        H = A if scale is None else scale @ A @ scale
        eigenvalues, vectors = scipy.linalg.eigh(H)
        basis = vectors if scale is None else scale @ vectors
        if scale is None:
            inverse_basis = vectors.T.copy()
        else:
            inverse_basis = vectors.T @ np.linalg.inv(scale)
        b_eigen = basis.T @ b
        zero = np.abs(eigenvalues) <= ZERO_RTOL * d * np.max(np.abs(eigenvalues))
        eigenvalues = np.where(zero, 0.0, eigenvalues)
        null = np.flatnonzero(zero)
        if null.size:
            # Any orthonormal basis of the null space is an eigenbasis; pick the one in
            # which b̃ has at most one nonzero null coordinate, so that the axes split
            # exactly into one drifting axis and frozen ones.
            reflect = _householder_to_last_axis(b_eigen[null])
            basis[:, null] = basis[:, null] @ reflect
            inverse_basis[null] = reflect @ inverse_basis[null]
            b_eigen[null] = reflect @ b_eigen[null]
            tiny = np.abs(b_eigen[null]) <= ZERO_RTOL * d * np.linalg.norm(b_eigen)
            b_eigen[null[tiny]] = 0.0
        return cls(np.ascontiguousarray(eigenvalues), np.ascontiguousarray(basis),
                   np.ascontiguousarray(inverse_basis), np.ascontiguousarray(b_eigen), c)

    @property
    def dim(self) -> int:
        """Number of axes ``d``."""
        return int(self.eigenvalues.shape[0])

    def to_eigen(self, w: np.ndarray) -> np.ndarray:
        """Coordinates ``u`` of ``w`` (any leading shape ``(..., d)``)."""
        return np.asarray(w) @ self.inverse_basis.T

    def from_eigen(self, u: np.ndarray) -> np.ndarray:
        """Original coordinates ``w`` of ``u`` (any leading shape ``(..., d)``)."""
        return np.asarray(u) @ self.basis.T

    def value(self, u: np.ndarray) -> np.ndarray:
        """``J = Σ_j (½ a_j u_j² + b̃_j u_j) + c`` for ``u`` of shape ``(..., d)``."""
        u = np.asarray(u)
        return np.sum(u * (0.5 * self.eigenvalues * u + self.b), axis=-1) + self.c

    @cached_property
    def stationary_point(self) -> np.ndarray | None:
        """Minimum-norm (in ``u``) stationary point, or None if there is none."""
        zero = self.eigenvalues == 0.0
        if np.any(self.b[zero] != 0.0):
            return None
        safe = np.where(zero, 1.0, self.eigenvalues)
        return np.where(zero, 0.0, -self.b / safe)


def _householder_to_last_axis(v: np.ndarray) -> np.ndarray:
    """Symmetric orthogonal ``H`` with ``H v = ±‖v‖ e_last`` (identity if ``v = 0``)."""
    k = v.shape[0]
    norm = np.linalg.norm(v)
    if norm == 0.0:
        return np.eye(k)
    u = v.copy()
    u[-1] += np.copysign(norm, v[-1])
    return np.eye(k) - 2.0 * np.outer(u, u) / (u @ u)


@dataclass(frozen=True, eq=False)
class Quadratic:
    r"""The quadratic ``J(w) = ½ wᵀAw + bᵀw + c`` with symmetric ``A`` of any sign.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Symmetric matrix (convex, singular and indefinite are all allowed).
    b : array_like, shape (d,), optional
        Linear term; zero by default.
    c : float, optional
        Constant term.

    Notes
    -----
    The spectral decomposition ``A = Q diag(a) Qᵀ`` is computed once, on first use,
    with eigenvalues of rounding size (``|a| <= 16·d·eps·max|a|``) set to exactly 0 so
    that the singular axes are exact: an axis with ``a_j = 0`` and ``b̃_j ≠ 0``
    (``b̃ = Qᵀb``) drifts linearly under gradient descent, one with ``b̃_j = 0`` never
    moves.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import Quadratic
    >>> q = Quadratic(np.diag([1.0, 4.0]), b=[-1.0, 0.0])
    >>> q.minimizer()
    array([1., 0.])
    >>> q.classify()
    'strict minimum'
    """

    A: np.ndarray = field(repr=False)
    b: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]
    c: float = 0.0

    def __post_init__(self) -> None:
        A = as_symmetric_matrix(self.A, "A")
        d = A.shape[0]
        b = np.zeros(d) if self.b is None else as_vector(self.b, "b", d)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", as_real(self.c, "c"))

    @classmethod
    def from_eigenvalues(cls, eigenvalues: object, b: object = None, *,
                         c: float = 0.0, rng: object = None) -> Quadratic:
        """Quadratic with a prescribed spectrum in a random (Haar) orthonormal basis.

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
            The spectrum of ``A``; zeros and negative values are allowed.
        b : array_like, shape (d,), optional
            The linear term *in the eigenbasis*, ``b̃``: axis ``j`` gets curvature
            ``eigenvalues[j]`` and linear coefficient ``b[j]``, so a zero eigenvalue
            paired with a nonzero ``b[j]`` makes a drifting axis and with ``b[j] = 0``
            a frozen one. Zero by default.
        c : float, optional
            Constant term.
        rng : int, numpy.random.Generator or None
            Seed or generator for the rotation.

        Returns
        -------
        Quadratic
            ``A = Q diag(eigenvalues) Qᵀ`` and ``b = Q b̃`` for a random orthogonal ``Q``.
        """
        spectrum = as_vector(eigenvalues, "eigenvalues")
        d = spectrum.shape[0]
        b_eigen = np.zeros(d) if b is None else as_vector(b, "b", d)
        generator = np.random.default_rng(rng)  # type: ignore[arg-type]
        if d > 1:
            # scipy.stats takes about a second to import: only this method needs it.
            from scipy.stats import ortho_group

            Q = ortho_group.rvs(d, random_state=generator)
        else:
            Q = np.eye(1)
        A = (Q * spectrum) @ Q.T
        return cls(0.5 * (A + A.T), Q @ b_eigen, c)

    @property
    def quadratic(self) -> Quadratic:
        """The problem itself (every problem exposes its quadratic this way)."""
        return self

    @property
    def dim(self) -> int:
        """Dimension ``d`` of ``w``."""
        return int(self.A.shape[0])

    @cached_property
    def frame(self) -> SpectralFrame:
        """The cached eigenbasis of ``A`` (see :class:`SpectralFrame`)."""
        return SpectralFrame.from_symmetric(self.A, self.b, self.c)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``A``, ascending (rounding-size ones set to 0)."""
        return self.frame.eigenvalues

    @property
    def eigenvectors(self) -> np.ndarray:
        """Orthonormal eigenvectors of ``A``, as columns, in the order of `eigenvalues`."""
        return self.frame.basis

    def value(self, w: object) -> np.ndarray | float:
        """``J(w) = ½ wᵀAw + bᵀw + c``; `w` may have leading axes ``(..., d)``."""
        w = np.asarray(w, dtype=np.float64)
        out = np.sum(w * (0.5 * (w @ self.A) + self.b), axis=-1) + self.c
        return float(out) if out.ndim == 0 else out

    def grad(self, w: object) -> np.ndarray:
        """``∇J(w) = Aw + b``; `w` may have leading axes ``(..., d)``."""
        return np.asarray(w, dtype=np.float64) @ self.A + self.b

    def hvp(self, v: object) -> np.ndarray:
        """Hessian-vector product ``Av``."""
        return np.asarray(v, dtype=np.float64) @ self.A

    def to_eigenbasis(self, w: object) -> np.ndarray:
        """``u = Qᵀw`` (rows of a ``(..., d)`` array are mapped one by one)."""
        return self.frame.to_eigen(np.asarray(w, dtype=np.float64))

    def from_eigenbasis(self, u: object) -> np.ndarray:
        """``w = Qu`` (rows of a ``(..., d)`` array are mapped one by one)."""
        return self.frame.from_eigen(np.asarray(u, dtype=np.float64))

    def classify(self) -> str:
        """Name the stationary-point situation from the spectrum.

        Returns
        -------
        str
            One of ``'strict minimum'`` (all ``a > 0``), ``'strict maximum'`` (all
            ``a < 0``), ``'saddle'`` (both signs, none zero), ``'degenerate'`` (some
            ``a = 0``, and ``b̃`` vanishes on those axes so stationary points form an
            affine set) or ``'no stationary point'`` (some ``a = 0`` with ``b̃ ≠ 0``).
        """
        a = self.eigenvalues
        if self.frame.stationary_point is None:
            return "no stationary point"
        if np.any(a == 0.0):
            return "degenerate"
        if np.all(a > 0.0):
            return "strict minimum"
        if np.all(a < 0.0):
            return "strict maximum"
        return "saddle"

    def minimizer(self) -> np.ndarray:
        """The minimum-norm minimizer ``w* = -A⁺b``.

        Raises
        ------
        Unbounded
            If ``A`` has a negative eigenvalue, or ``b`` has a component along the
            null space of ``A``: then J is unbounded below.
        """
        a = self.eigenvalues
        if np.any(a < 0.0):
            raise Unbounded(
                f"J is unbounded below: `A` has a negative eigenvalue (min {a[0]:.3e})")
        u_star = self.frame.stationary_point
        if u_star is None:
            raise Unbounded("J is unbounded below: `b` has a component along the null "
                            "space of `A` (no stationary point)")
        return self.frame.from_eigen(u_star)

    def min_value(self) -> float:
        """``J(w*)``, the minimum (raises :class:`Unbounded` like :meth:`minimizer`)."""
        return float(self.value(self.minimizer()))

    @cached_property
    def condition_number(self) -> float:
        """``max a / min a`` over the nonzero eigenvalues (inf if any is negative)."""
        a = self.eigenvalues
        if np.any(a < 0.0):
            return float("inf")
        positive = a[a > 0.0]
        return float(positive[-1] / positive[0]) if positive.size else float("nan")


@dataclass(frozen=True, eq=False)
class LinearRegression:
    r"""Least squares ``L(w) = (1/2n)‖Xw − y‖² + (l2/2)‖w‖²``.

    Usable wherever a :class:`Quadratic` is: ``.quadratic`` is the same objective with
    ``A = XᵀX/n + l2·I``, ``b = −Xᵀy/n`` and ``c = yᵀy/(2n)``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Design matrix.
    y : array_like, shape (n,)
        Targets.
    l2 : float, optional
        Ridge coefficient, ``>= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> problem = LinearRegression(X, X @ [1.0, -1.0])
    >>> np.allclose(problem.quadratic.minimizer(), [1.0, -1.0])
    True
    """

    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    l2: float = 0.0

    def __post_init__(self) -> None:
        X = as_float_array(self.X, "X", ndim=2)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"`X` must have at least one row and one column; got {X.shape}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", as_vector(self.y, "y", X.shape[0]))
        object.__setattr__(self, "l2", as_non_negative(self.l2, "l2"))

    @property
    def n_samples(self) -> int:
        """Number of examples ``n``."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Number of features ``d``."""
        return int(self.X.shape[1])

    @cached_property
    def quadratic(self) -> Quadratic:
        """The equivalent :class:`Quadratic` (cached, with its eigendecomposition)."""
        n, d = self.X.shape
        A = self.X.T @ self.X / n + self.l2 * np.eye(d)
        return Quadratic(A, -self.X.T @ self.y / n, float(self.y @ self.y) / (2 * n))

    def value(self, w: object) -> np.ndarray | float:
        """``(1/2n)‖Xw − y‖² + (l2/2)‖w‖²`` from the residuals (``w`` may be ``(..., d)``)."""
        w = np.asarray(w, dtype=np.float64)
        residual = w @ self.X.T - self.y
        out = (0.5 / self.n_samples) * np.sum(residual**2, axis=-1) \
            + 0.5 * self.l2 * np.sum(w**2, axis=-1)
        return float(out) if np.ndim(out) == 0 else out

    def grad(self, w: object) -> np.ndarray:
        """``Xᵀ(Xw − y)/n + l2·w``."""
        w = np.asarray(w, dtype=np.float64)
        return (w @ self.X.T - self.y) @ self.X / self.n_samples + self.l2 * w


def as_quadratic(problem: object, name: str = "problem") -> Quadratic:
    """Return the :class:`Quadratic` of a problem, or raise a TypeError naming it."""
    quadratic = getattr(problem, "quadratic", None)
    if not isinstance(quadratic, Quadratic):
        raise TypeError(f"`{name}` must be a Quadratic or LinearRegression; "
                        f"got {type(problem).__name__}")
    return quadratic
