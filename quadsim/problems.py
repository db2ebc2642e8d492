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
from quadsim.kernels.jacobi import jacobi_diagonalise

#: Eigenvalues with ``|a| <= ZERO_RTOL * d * max|a|`` are set to exactly zero, and the
#: linear term of such an axis with ``|b̃| <= ZERO_RTOL * d * ‖b‖`` too: ``eigh`` returns
#: a null direction of A with an eigenvalue of rounding size, not 0, and the singular
#: axes (drift, frozen) must be exact.
ZERO_RTOL = 16 * np.finfo(np.float64).eps

#: Largest d for which a diagonal problem forms its dense matrix on request (8·d² bytes:
#: 128 MiB at the limit); beyond it only the eigenbasis paths run.
DENSE_DIAGONAL_LIMIT = 4096

#: Singular values of a design matrix with ``s <= SINGULAR_RTOL * max(n, d) * max s`` are
#: set to exactly zero (the rank test of :func:`numpy.linalg.matrix_rank`): the null
#: space of ``X``, whose axes are frozen (``l2 = 0``) or decay at the rate ``l2``.
SINGULAR_RTOL = float(np.finfo(np.float64).eps)

#: Jacobi rotates a pair of axes while ``|H_pq| > JACOBI_RTOL·√(H_pp H_qq)``: below it the
#: rotation would move ``H_pp`` by less than ``JACOBI_RTOL²·H_pp·H_qq/|H_qq − H_pp|``.
JACOBI_RTOL = 4 * float(np.finfo(np.float64).eps)

#: Sweeps allowed to the Jacobi iteration; from the eigenbasis of ``XᵀX`` it converges
#: quadratically and takes one or two.
JACOBI_MAX_SWEEPS = 30

#: Below this dimension :meth:`SpectralFrame.from_eigen` with ``overwrite`` maps records
#: to ``w`` in row blocks of at most :data:`ONE_THREAD_GEMM_SIZE` multiply-adds, in
#: place: OpenBLAS runs such a product on one thread, while one threaded
#: (K × d)·(d × d) product with d ~ 10 waits for the other core, which cost 400–1200 ns
#: a record on the busy 2-core reference machine (13 ns in blocks, 11–22 ns threaded
#: on a quiet one). From it on, one product.
BLOCKED_MAP_MAX_DIM = 32

#: m·n·k up to which OpenBLAS's GEMM stays on one thread (65536 × its default
#: GEMM_MULTITHREAD_THRESHOLD of 4); with another BLAS the blocks are merely small.
ONE_THREAD_GEMM_SIZE = 2**18

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
    preconditioner ``P`` it is ``P^½ Q̃`` with ``P^½ A P^½ = Q̃ diag(a) Q̃ᵀ``; for a
    linear regression it is ``V`` from the SVD ``X = U diag(s) Vᵀ`` (see
    :meth:`from_regression`).

    Where J has a minimizer ``u*`` it is also ``J = J* + ½ Σ_j a_j (u_j − u*_j)²``, a
    sum of non-negative terms; where the frame knows ``J*`` accurately (:attr:`minimum`)
    the closed forms evaluate the loss this way (:meth:`value_from_offset`), without
    the cancellation of ``½ a_j u_j² + b̃_j u_j`` near the minimizer.

    A diagonal problem (``A`` given by its spectrum alone) has a diagonal frame: axis
    ``j`` is coordinate ``axes[j]`` scaled by ``scale[j]``, ``w[axes[j]] = scale[j]·u_j``,
    and no d×d matrix is stored (``basis`` and ``inverse_basis`` are None).

    Attributes
    ----------
    eigenvalues : ndarray, shape (d,)
        The per-axis curvatures ``a_j`` (ascending, rounding-size ones set to 0).
    basis : ndarray, shape (d, d), or None
        Columns are the axes in the original coordinates: ``w = basis @ u``.
    inverse_basis : ndarray, shape (d, d), or None
        ``u = inverse_basis @ w``.
    b : ndarray, shape (d,)
        The linear term in these coordinates, ``b̃ = basisᵀ b``.
    c : float
        The constant term.
    axes : ndarray of int, shape (d,), or None
        For a diagonal frame, the coordinate of each axis.
    scale : ndarray, shape (d,), or None
        For a diagonal frame, ``w[axes[j]] = scale[j]·u_j``.
    optimum : float or None
        ``J*`` where the constructor computes it without cancellation (from the
        residual, for a regression), else None; see :attr:`minimum`.
    """

    eigenvalues: np.ndarray = field(repr=False)
    basis: np.ndarray | None = field(repr=False)
    inverse_basis: np.ndarray | None = field(repr=False)
    b: np.ndarray = field(repr=False)
    c: float = 0.0
    axes: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)
    optimum: float | None = field(default=None, repr=False)

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

    @classmethod
    def from_diagonal(cls, a: np.ndarray, b: np.ndarray, c: float,
                      scale: np.ndarray | None = None) -> SpectralFrame:
        """The frame of ``diag(a)`` (preconditioned by ``diag(scale)²``), axes sorted.

        The curvatures are ``scale² · a``, exact as given (no snapping: a zero is a
        stored zero, and each coordinate is its own axis, so several drifting axes
        stay exact).
        """
        s = np.ones_like(a) if scale is None else scale
        curvature = s * s * a
        axes = np.argsort(curvature, kind="stable")
        return cls(np.ascontiguousarray(curvature[axes]), None, None,
                   np.ascontiguousarray((s * b)[axes]), c, axes, np.ascontiguousarray(s[axes]))

    @classmethod
    def from_regression(cls, X: np.ndarray, y: np.ndarray, l2: float = 0.0, *,
                        A: np.ndarray | None = None,
                        axes: RegressionAxes | None = None) -> SpectralFrame:
        """The frame of least squares ``(1/2n)‖Xw − y‖² + (l2/2)‖w‖²`` from the SVD of X.

        With ``X = U diag(s) Vᵀ`` the axes are the right singular vectors, ``basis = V``,
        with curvatures ``a_j = s_j²/n + l2`` and ``b̃ = −Vᵀ Xᵀy/n``. The singular values
        are accurate to about ``eps·‖X‖`` each, a relative error of ``eps·κ(X)`` at most,
        where the eigenvalues of ``XᵀX/n`` by ``eigh`` are accurate to ``eps·‖XᵀX/n‖``,
        a relative error of ``eps·κ(X)²``.

        Parameters
        ----------
        X : ndarray, shape (n, d)
            Design matrix (C-contiguous float64).
        y : ndarray, shape (n,) or (n, m)
            Targets; a matrix gives the :class:`StackedFrame` of the ``m`` rows of
            ``W`` (shape (m, d)), which share the axes and differ in ``b̃``, ``c``, ``J*``.
        l2 : float, optional
            Ridge coefficient, ``>= 0``.
        A : ndarray, shape (d, d), optional
            ``XᵀX/n + l2·I`` if it is at hand (it is computed otherwise).
        axes : RegressionAxes, optional
            The target-free part, :func:`regression_axes` of ``(X, l2)``, if it is at
            hand (the SVD is computed otherwise).

        Returns
        -------
        SpectralFrame
            With ``optimum = J* = ‖Xw* − y‖²/2n + (l2/2)‖w*‖²`` from the residual, a sum
            of non-negative terms.
        """
        if axes is None:
            axes = regression_axes(X, l2, A)
        n = X.shape[0]
        eigenvalues, basis, zero = axes.eigenvalues, axes.basis, axes.zero
        if y.ndim == 1:
            b_eigen = basis.T @ (-(X.T @ y) / n)
            b_eigen[zero] = 0.0
            u_star = np.divide(-b_eigen, eigenvalues, out=np.zeros_like(b_eigen),
                               where=eigenvalues > 0.0)
            w_star = basis @ u_star
            residual = X @ w_star - y
            optimum = float(residual @ residual / (2 * n) + 0.5 * l2 * (w_star @ w_star))
            return cls(eigenvalues, basis, np.ascontiguousarray(basis.T), b_eigen,
                       float(y @ y) / (2 * n), optimum=optimum)
        # Matrix targets: the same, one column per row of W.
        B_eigen = basis.T @ (-(X.T @ y) / n)  # (d, m)
        B_eigen[zero] = 0.0
        U_star = np.divide(-B_eigen, eigenvalues[:, None], out=np.zeros_like(B_eigen),
                           where=(eigenvalues > 0.0)[:, None])
        W_star = basis @ U_star
        residual = X @ W_star - y
        optimum_rows = (column_squares(residual) / (2 * n)
                        + 0.5 * l2 * column_squares(W_star))
        base = cls(eigenvalues, basis, np.ascontiguousarray(basis.T), np.zeros_like(eigenvalues))
        return StackedFrame.stack(base, B_eigen.T, column_squares(y) / (2 * n), optimum_rows)

    @property
    def dim(self) -> int:
        """Number of axes ``d``."""
        return int(self.eigenvalues.shape[0])

    @property
    def is_diagonal(self) -> bool:
        """Whether the axes are the (scaled) coordinate axes, with no matrix stored."""
        return self._dense() is None

    def _dense(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(basis, inverse_basis)`` of a dense frame, None for a diagonal one."""
        if self.basis is None or self.inverse_basis is None:
            return None
        return self.basis, self.inverse_basis

    def _diagonal(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.axes is not None and self.scale is not None
        return self.axes, self.scale

    @property
    def dense_basis(self) -> np.ndarray:
        """``basis`` as a (d, d) matrix, formed for a diagonal frame.

        Prefer :meth:`to_eigen`, :meth:`from_eigen` and :meth:`basis_transpose_times`,
        which never form it.
        """
        dense = self._dense()
        if dense is not None:
            return dense[0]
        axes, scale = self._diagonal()
        basis = np.zeros((self.dim, self.dim))
        basis[axes, np.arange(self.dim)] = scale
        return basis

    def to_eigen(self, w: np.ndarray) -> np.ndarray:
        """Coordinates ``u`` of ``w`` (any leading shape ``(..., d)``)."""
        w = np.asarray(w)
        dense = self._dense()
        if dense is not None:
            return w @ dense[1].T
        axes, scale = self._diagonal()
        return w[..., axes] / scale

    def from_eigen(self, u: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        """Original coordinates ``w`` of ``u`` (any leading shape ``(..., d)``).

        With `overwrite` the caller gives up `u` (a C-contiguous float64 array): below
        :data:`BLOCKED_MAP_MAX_DIM` it is mapped in place in single-threaded row
        blocks, so that a long run of records needs no second array (whose first-touch
        page faults cost about as much as the product at small d).
        """
        u = np.asarray(u)
        dense = self._dense()
        if dense is not None:
            if (overwrite and u.ndim >= 2 and self.dim < BLOCKED_MAP_MAX_DIM
                    and u.dtype == np.float64 and u.flags.c_contiguous):
                _map_rows_in_place(u.reshape(-1, self.dim), dense[0].T)
                return u
            return u @ dense[0].T
        axes, scale = self._diagonal()
        w = np.empty(u.shape, dtype=np.result_type(u, np.float64))
        w[..., axes] = u * scale
        return w

    def basis_transpose_times(self, M: np.ndarray) -> np.ndarray:
        """``basisᵀ M`` for ``M`` of shape (d, k): how a gradient-like quantity maps in."""
        dense = self._dense()
        if dense is not None:
            return dense[0].T @ M
        axes, scale = self._diagonal()
        return M[axes] * scale[:, None]

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

    @cached_property
    def minimum(self) -> float | None:
        """``J* = min J`` where the constructor computed it (:attr:`optimum`), else None.

        Also None if J has no minimizer (a negative ``a_j``, or a drifting axis). A
        plain quadratic has no ``optimum``: ``c + ½ b̃·u*`` would cancel (its error,
        ``eps·Σ b̃²/a``, is that of the plain sum at the minimizer, but it would be paid
        from the first step on), so its losses stay ``Σ (½ a u² + b̃ u) + c``.
        """
        if self.optimum is None or self.stationary_point is None \
                or np.any(self.eigenvalues < 0.0):
            return None
        return self.optimum

    def value_from_offset(self, e: np.ndarray) -> np.ndarray:
        """``J = J* + ½ Σ_j a_j e_j²`` at ``u = u* + e``, for ``e`` of shape ``(..., d)``.

        Raises
        ------
        ValueError
            If :attr:`minimum` is None.
        """
        if self.minimum is None:
            raise ValueError("the frame knows no J*: J has no minimizer, or its frame was "
                             "not built with `optimum`")
        e = np.asarray(e)
        return self.minimum + 0.5 * np.sum(self.eigenvalues * e * e, axis=-1)


@dataclass(frozen=True, eq=False)
class RegressionAxes:
    """The target-free part of a regression's frame: its axes and curvatures.

    Attributes
    ----------
    eigenvalues : ndarray, shape (d,)
        ``a_j = s_j²/n + l2``, ascending, with the singular values of rounding size
        (and the ``d − n`` smallest when ``n < d``) exactly zero.
    basis : ndarray, shape (d, d)
        The right singular vectors of ``X`` as columns.
    zero : ndarray of bool, shape (d,)
        The null space of ``X``, on which ``b̃`` vanishes exactly.
    """

    eigenvalues: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    zero: np.ndarray = field(repr=False)


def regression_axes(X: np.ndarray, l2: float = 0.0,
                    A: np.ndarray | None = None) -> RegressionAxes:
    """The axes of least squares on ``X`` (ridge ``l2``) from the SVD of ``X``.

    They do not depend on the targets: the ``m`` rows of a matrix-valued regression
    share them (:class:`StackedFrame`).

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Design matrix (C-contiguous float64).
    l2 : float, optional
        Ridge coefficient, ``>= 0``.
    A : ndarray, shape (d, d), optional
        ``XᵀX/n + l2·I`` if it is at hand.

    Returns
    -------
    RegressionAxes

    Notes
    -----
    The SVD is computed by preconditioned Jacobi rather than by LAPACK's ``gesdd``,
    which costs 2.5–3× the old ``eigh`` path at n = 2000, d = 500
    (``scripts/bench.py``): the eigenvectors ``V₀`` of ``A`` make the columns of
    ``B = X V₀`` orthogonal up to rounding, and
    :func:`~quadsim.kernels.jacobi.jacobi_diagonalise` finishes the diagonalisation
    of ``H = BᵀB``, whose entries are accurate relative to ``√(H_pp H_qq)``: one or
    two sweeps, rotating the pairs of axes that ``V₀`` mixed beyond that accuracy
    (hardly any for a well-conditioned X, about 1.2× the ``eigh`` path; most pairs
    when ``XᵀX/n`` spans many decades, about 3–4× it at κ = 1e10).

    Singular values ``s <= SINGULAR_RTOL·max(n, d)·max s`` are exactly zero, and so
    are the ``d − n`` smallest when ``n < d``: those axes span the null space of X,
    where ``b̃`` vanishes exactly (``b`` lies in the row space of X), so they are
    frozen for ``l2 = 0`` and decay at rate ``l2`` otherwise; no axis of a
    regression drifts.
    """
    n, d = X.shape
    if A is None:
        A = X.T @ X / n + l2 * np.eye(d)
    _, vectors = scipy.linalg.eigh(A, driver="evd")
    columns = X @ vectors
    H = np.ascontiguousarray(columns.T @ columns)
    axes = np.ascontiguousarray(vectors.T)
    # Below the zero threshold of the singular values (squared, as H holds them).
    floor = (SINGULAR_RTOL * max(n, d)) ** 2 * float(np.max(np.diag(H)))
    if jacobi_diagonalise(H, axes, JACOBI_RTOL, JACOBI_MAX_SWEEPS, floor) < 0:
        raise np.linalg.LinAlgError(
            f"the Jacobi iteration for the SVD of `X` did not converge in "
            f"{JACOBI_MAX_SWEEPS} sweeps")
    squares = np.maximum(np.diag(H), 0.0)
    order = np.argsort(squares, kind="stable")
    squares, basis = squares[order], np.ascontiguousarray(axes[order].T)
    singular = np.sqrt(squares)
    zero = singular <= SINGULAR_RTOL * max(n, d) * singular[-1]
    zero[:max(d - n, 0)] = True  # rank(X) <= n
    eigenvalues = np.ascontiguousarray(np.where(zero, 0.0, squares / n) + l2)
    return RegressionAxes(eigenvalues, basis, zero)


@dataclass(frozen=True, eq=False)
class StackedFrame(SpectralFrame):
    """The frame of ``m`` independent rows that share one frame's axes.

    A matrix-valued regression ``J(W) = Σ_i J_i(w_i)`` (``w_i`` the rows of ``W``, shape
    (m, d)) has one curvature ``A`` for every row and a linear term ``b̃_i``, constant
    ``c_i`` and minimum ``J*_i`` per row. In the eigenbasis the rows are just more
    independent axes: axis ``i·d + j`` is axis ``j`` of :attr:`base` in row ``i``, with
    curvature ``a_j`` and linear term ``b̃_ij``. So ``eigenvalues`` is ``a`` tiled ``m``
    times (not sorted), ``b`` the rows of ``B̃`` one after the other, ``c = Σ_i c_i`` and
    ``optimum = Σ_i J*_i``; every per-axis tool (closed forms, the eigenbasis kernel,
    exact moments) runs on it unchanged. :meth:`to_eigen` maps ``W`` of shape
    ``(..., m, d)`` to ``u`` of shape ``(..., m·d)`` and :meth:`from_eigen` back; no
    ``(m·d) × (m·d)`` matrix is ever formed.

    Attributes
    ----------
    rows : int
        ``m``.
    base : SpectralFrame
        The shared axes (its own ``b`` and ``c`` are not used).
    row_b : ndarray, shape (m, d)
        ``b̃`` per row (a view of ``b``).
    row_c, row_optimum : ndarray, shape (m,), or None
        ``c_i`` and ``J*_i`` (None where unknown).
    """

    rows: int = 1
    base: SpectralFrame | None = field(default=None, repr=False)
    row_c: np.ndarray | None = field(default=None, repr=False)
    row_optimum: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def stack(cls, base: SpectralFrame, b_rows: np.ndarray, c_rows: np.ndarray,
              optimum_rows: np.ndarray | None = None) -> StackedFrame:
        """Stack ``m`` rows on the axes of `base`: ``b̃`` (m, d), ``c`` and ``J*`` (m,)."""
        m = b_rows.shape[0]
        c_rows = np.asarray(c_rows, dtype=np.float64)
        optimum = None if optimum_rows is None else float(np.sum(optimum_rows))
        return cls(np.ascontiguousarray(np.tile(base.eigenvalues, m)), None, None,
                   np.ascontiguousarray(b_rows, dtype=np.float64).ravel(),
                   float(np.sum(c_rows)), optimum=optimum, rows=m, base=base,
                   row_c=c_rows, row_optimum=None if optimum_rows is None
                   else np.asarray(optimum_rows, dtype=np.float64))

    def _base(self) -> SpectralFrame:
        assert self.base is not None
        return self.base

    @property
    def row_b(self) -> np.ndarray:
        """``b̃`` per row, shape (m, d)."""
        return self.b.reshape(self.rows, self._base().dim)

    @property
    def is_diagonal(self) -> bool:
        """Whether the shared axes are (scaled) coordinate axes."""
        return self._base().is_diagonal

    @property
    def dense_basis(self) -> np.ndarray:
        """Not available: the stacked basis is ``I_m ⊗ basis``; use :attr:`base`."""
        raise ValueError("a stacked frame has no dense basis (it is I_m ⊗ base.basis); "
                         "use `frame.base.dense_basis`")

    def to_eigen(self, w: np.ndarray) -> np.ndarray:
        """``u`` of shape ``(..., m·d)`` from ``W`` of shape ``(..., m, d)``."""
        u = self._base().to_eigen(w)
        return u.reshape(*u.shape[:-2], self.dim)

    def from_eigen(self, u: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        """``W`` of shape ``(..., m, d)`` from ``u`` of shape ``(..., m·d)``."""
        u = np.asarray(u)
        base = self._base()
        return base.from_eigen(u.reshape(*u.shape[:-1], self.rows, base.dim),
                               overwrite=overwrite)

    def basis_transpose_times(self, M: np.ndarray) -> np.ndarray:
        """Not available on stacked frames; map each row with :attr:`base`."""
        raise ValueError("a stacked frame maps rows, not columns: use `frame.base`")


def _map_rows_in_place(rows: np.ndarray, matrix: np.ndarray) -> None:
    """``rows[...] = rows @ matrix`` in blocks of at most :data:`ONE_THREAD_GEMM_SIZE`."""
    d = rows.shape[1]
    size = max(1, ONE_THREAD_GEMM_SIZE // (d * d))
    block = np.empty((min(size, rows.shape[0]), d))
    for start in range(0, rows.shape[0], size):
        part = rows[start:start + size]
        mapped = block[:part.shape[0]]
        np.matmul(part, matrix, out=mapped)
        part[...] = mapped


def column_squares(M: np.ndarray) -> np.ndarray:
    """``‖M[:, i]‖²`` for each column, each a dot product as for a vector (``y @ y``)."""
    return np.array([float(column @ column) for column in M.T])


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
    A : array_like, shape (d, d) or (d,)
        Symmetric matrix (convex, singular and indefinite are all allowed), or a
        vector: the diagonal of a diagonal ``A``, the problem given by its spectrum
        alone. A diagonal problem never forms a d×d matrix (the noisy quadratic model
        runs at d = 10⁴): its eigenbasis is the coordinate axes, and everything that
        works in the eigenbasis works on it; the raw basis needs the dense matrix
        (:attr:`matrix`) and refuses above :data:`DENSE_DIAGONAL_LIMIT`.
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
    moves. A diagonal ``A`` is used as given.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import Quadratic
    >>> q = Quadratic(np.diag([1.0, 4.0]), b=[-1.0, 0.0])
    >>> q.minimizer()
    array([1., 0.])
    >>> q.classify()
    'strict minimum'
    >>> nqm = Quadratic(1.0 / np.arange(1, 10_001))   # h_i = 1/i, no 10⁴×10⁴ matrix
    >>> nqm.condition_number
    10000.0
    """

    A: np.ndarray = field(repr=False)
    b: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]
    c: float = 0.0

    def __post_init__(self) -> None:
        try:
            diagonal = np.ndim(self.A) == 1
        except ValueError:  # ragged nested sequences: the matrix check names them
            diagonal = False
        if diagonal:
            A = as_vector(self.A, "A")
            if A.shape[0] == 0:
                raise ValueError("`A` must not be empty; got shape (0,)")
        else:
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

    @property
    def is_diagonal(self) -> bool:
        """Whether ``A`` is stored as its diagonal (a problem given by its spectrum)."""
        return self.A.ndim == 1

    @property
    def matrix(self) -> np.ndarray:
        """``A`` as a dense (d, d) matrix (formed on each call for a diagonal problem).

        Raises
        ------
        ValueError
            For a diagonal problem with ``d > DENSE_DIAGONAL_LIMIT``.
        """
        if not self.is_diagonal:
            return self.A
        d = self.dim
        if d > DENSE_DIAGONAL_LIMIT:
            raise ValueError(
                f"this problem is given by its spectrum alone (d = {d}); a dense `A` would "
                f"take {d * d * 8 / 2**20:.0f} MiB (the limit is d = {DENSE_DIAGONAL_LIMIT}). "
                "Use basis='eigen', which never forms it")
        return np.diag(self.A)

    @cached_property
    def frame(self) -> SpectralFrame:
        """The cached eigenbasis of ``A`` (see :class:`SpectralFrame`)."""
        if self.is_diagonal:
            return SpectralFrame.from_diagonal(self.A, self.b, self.c)
        return SpectralFrame.from_symmetric(self.A, self.b, self.c)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``A``, ascending (rounding-size ones set to 0)."""
        return self.frame.eigenvalues

    @property
    def eigenvectors(self) -> np.ndarray:
        """Orthonormal eigenvectors of ``A``, as columns, in the order of `eigenvalues`."""
        return self.frame.dense_basis

    def value(self, w: object) -> np.ndarray | float:
        """``J(w) = ½ wᵀAw + bᵀw + c``; `w` may have leading axes ``(..., d)``."""
        w = np.asarray(w, dtype=np.float64)
        out = np.sum(w * (0.5 * self.hvp(w) + self.b), axis=-1) + self.c
        return float(out) if out.ndim == 0 else out

    def grad(self, w: object) -> np.ndarray:
        """``∇J(w) = Aw + b``; `w` may have leading axes ``(..., d)``."""
        return self.hvp(w) + self.b

    def hvp(self, v: object) -> np.ndarray:
        """Hessian-vector product ``Av``; `v` may have leading axes ``(..., d)``."""
        v = np.asarray(v, dtype=np.float64)
        return v * self.A if self.is_diagonal else v @ self.A

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
    r"""Least squares ``L(w) = (1/2n)‖Xw − y‖² + (l2/2)‖w‖²``, or with matrix weights.

    Usable wherever a :class:`Quadratic` is: ``.quadratic`` is the same objective with
    ``A = XᵀX/n + l2·I``, ``b = −Xᵀy/n`` and ``c = yᵀy/(2n)``, whose spectral frame comes
    from the SVD of ``X`` (:meth:`SpectralFrame.from_regression`), not from the
    eigendecomposition of ``A``: it keeps the digits that forming ``XᵀX`` loses.

    With targets ``Y`` of shape (n, m) the weights are a matrix ``W`` of shape (m, d),
    the prediction for an input ``x`` is ``z = W x`` and the loss

        L(W) = (1/2n)‖X Wᵀ − Y‖²_F + (l2/2)‖W‖²_F = Σ_i [(1/2n)‖X w_i − y_i‖² + (l2/2)‖w_i‖²],

    a sum over the rows ``w_i`` of ``W`` (and columns ``y_i`` of ``Y``). Its gradient is
    ``∇L = W A + B`` with the shared ``A = XᵀX/n + l2·I`` and ``B = −YᵀX/n`` (rows
    ``b_i``). Every row is the vector regression on ``y_i`` (:meth:`row`); they share
    one frame (:attr:`frame`, a :class:`StackedFrame`), so ``simulate``,
    ``closed_form``, ``closed_form_loss`` and ``moments`` take ``W0`` of shape (m, d)
    and return iterates of shape (K, m, d). Tools defined for vector weights only
    (response Jacobians, influence, tangents) take :meth:`row`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Design matrix.
    y : array_like, shape (n,) or (n, m)
        Targets: a vector, or a matrix ``Y`` with one column per output.
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
    >>> W = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 3.0]])   # three outputs
    >>> matrix = LinearRegression(X, X @ W.T)
    >>> matrix.weight_shape, np.allclose(matrix.minimizer(), W)
    ((3, 2), True)
    """

    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    l2: float = 0.0

    def __post_init__(self) -> None:
        X = as_float_array(self.X, "X", ndim=2)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"`X` must have at least one row and one column; got {X.shape}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", as_targets(self.y, "y", X.shape[0]))
        object.__setattr__(self, "l2", as_non_negative(self.l2, "l2"))

    @property
    def n_samples(self) -> int:
        """Number of examples ``n``."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Number of features ``d``."""
        return int(self.X.shape[1])

    @property
    def matrix_valued(self) -> bool:
        """Whether the targets are a matrix ``Y`` (n, m) and the weights ``W`` (m, d)."""
        return self.y.ndim == 2

    @property
    def n_outputs(self) -> int:
        """Number of outputs ``m`` (1 for vector targets)."""
        return int(self.y.shape[1]) if self.matrix_valued else 1

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``(d,)`` for vector targets, ``(m, d)`` for matrix targets."""
        return (self.n_outputs, self.dim) if self.matrix_valued else (self.dim,)

    @cached_property
    def curvature(self) -> np.ndarray:
        """``A = XᵀX/n + l2·I``, shape (d, d), shared by every row (cached)."""
        n, d = self.X.shape
        A = self.X.T @ self.X / n + self.l2 * np.eye(d)
        return np.ascontiguousarray(0.5 * (A + A.T))

    @cached_property
    def axes(self) -> RegressionAxes:
        """The target-free axes from the SVD of ``X`` (cached, shared by every row)."""
        return regression_axes(self.X, self.l2, self.curvature)

    @cached_property
    def quadratic(self) -> Quadratic:
        """The equivalent :class:`Quadratic` (cached; its frame is the SVD of ``X``).

        Raises
        ------
        TypeError
            For matrix targets: ``J(W)`` is a quadratic in the ``m·d`` entries of ``W``
            with Hessian ``I_m ⊗ A``, which quadsim never forms; see :attr:`frame`,
            :meth:`row` and :attr:`shared_quadratic`.
        """
        if self.matrix_valued:
            raise TypeError(
                f"this LinearRegression has matrix targets Y of shape {self.y.shape} and "
                f"weights W of shape {self.weight_shape}: it has no vector Quadratic. "
                "simulate, closed_form, closed_form_loss, moments and the spectral tools "
                "take it as it is; for a vector-only tool use `problem.row(i)` (row i of "
                "W) or `problem.shared_quadratic` (the curvature A every row shares)")
        return RegressionQuadratic(self)

    @cached_property
    def frame(self) -> SpectralFrame:
        """The cached frame: the quadratic's, or for matrix targets a :class:`StackedFrame`."""
        if not self.matrix_valued:
            return self.quadratic.frame
        return SpectralFrame.from_regression(self.X, self.y, self.l2, axes=self.axes)

    def row(self, i: int) -> LinearRegression:
        """Row ``i`` of ``W`` as the vector regression on ``Y[:, i]``, sharing the SVD.

        For vector targets, ``row(0)`` is the problem itself.
        """
        m = self.n_outputs
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"`i` must be an integer row index; got {i!r}")
        if not -m <= i < m:
            raise ValueError(f"`i` must index one of the {m} rows of W; got {i}")
        if not self.matrix_valued:
            return self
        return self._sharing(self.y[:, i])

    def _sharing(self, y: np.ndarray) -> LinearRegression:
        """The regression on targets `y` with this one's X, l2, ``A`` and axes (no new SVD)."""
        other = LinearRegression(self.X, y, self.l2)
        other.__dict__["curvature"] = self.curvature  # pre-filled cached properties
        other.__dict__["axes"] = self.axes
        return other

    @cached_property
    def shared_quadratic(self) -> Quadratic:
        """``½ wᵀAw``: the curvature every row shares, as a :class:`Quadratic` (cached).

        Its frame is the regression's axes with ``b̃ = 0``; the spectral tools
        (``max_stable_lr``, ``convergence_rate``, ``axis_regimes``, ...) read a
        matrix-valued regression through it: in a regression no axis drifts, so every
        row has the same regimes.
        """
        return self._sharing(np.zeros(self.n_samples)).quadratic

    def value(self, w: object) -> np.ndarray | float:
        """The loss from the residuals; ``w`` of shape ``(..., d)``, or ``(..., m, d)``.

        ``(1/2n)‖Xw − y‖² + (l2/2)‖w‖²``, summed over the rows for matrix weights.
        """
        w = self._weights(w)
        residual = w @ self.X.T - self._targets
        axes: tuple[int, ...] = (-2, -1) if self.matrix_valued else (-1,)
        out = (0.5 / self.n_samples) * np.sum(residual**2, axis=axes) \
            + 0.5 * self.l2 * np.sum(w**2, axis=axes)
        return float(out) if np.ndim(out) == 0 else out

    def grad(self, w: object) -> np.ndarray:
        """``Xᵀ(Xw − y)/n + l2·w``; for matrix weights ``W A + B = (W Xᵀ − Yᵀ) X/n + l2·W``."""
        w = self._weights(w)
        return (w @ self.X.T - self._targets) @ self.X / self.n_samples + self.l2 * w

    def hvp(self, v: object) -> np.ndarray:
        """``A v = Xᵀ(X v)/n + l2·v`` row by row, without forming ``A``."""
        v = self._weights(v, "v")
        return (v @ self.X.T) @ self.X / self.n_samples + self.l2 * v

    @property
    def _targets(self) -> np.ndarray:
        """The targets laid out like ``w @ Xᵀ``: ``y`` (n,) or ``Yᵀ`` (m, n)."""
        return self.y.T if self.matrix_valued else self.y

    def _weights(self, w: object, name: str = "w") -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        shape = self.weight_shape
        if w.shape[w.ndim - len(shape):] != shape or w.ndim < len(shape):
            raise ValueError(f"`{name}` must have shape (..., {', '.join(map(str, shape))}); "
                             f"got shape {w.shape}")
        return w

    def minimizer(self) -> np.ndarray:
        """The minimum-norm minimizer, shape :attr:`weight_shape`."""
        u_star = self.frame.stationary_point
        assert u_star is not None  # a regression has no drifting axis
        return self.frame.from_eigen(u_star)

    def min_value(self) -> float:
        """``J* = min L``, from the residuals (summed over the rows)."""
        minimum = self.frame.minimum
        assert minimum is not None
        return float(minimum)


class RegressionQuadratic(Quadratic):
    """The :class:`Quadratic` of a :class:`LinearRegression`, framed by the SVD of ``X``."""

    _regression: LinearRegression

    def __init__(self, regression: LinearRegression) -> None:
        X, y = regression.X, regression.y
        n = X.shape[0]
        super().__init__(regression.curvature, -X.T @ y / n, float(y @ y) / (2 * n))
        object.__setattr__(self, "_regression", regression)

    @cached_property
    def frame(self) -> SpectralFrame:
        """The cached SVD frame (see :meth:`SpectralFrame.from_regression`)."""
        regression = self._regression
        return SpectralFrame.from_regression(regression.X, regression.y, regression.l2,
                                             axes=regression.axes)


def as_targets(value: object, name: str, rows: int) -> np.ndarray:
    """Targets of a regression: a finite vector (n,) or matrix (n, m), with ``n = rows``."""
    try:
        shape = np.shape(value)  # type: ignore[call-overload]
    except ValueError:  # ragged nested sequences: the array check names them
        shape = (rows,)
    if len(shape) not in (1, 2):
        raise ValueError(f"`{name}` must be a vector (n,) or a matrix (n, m) of targets; "
                         f"got shape {shape}")
    ndim = len(shape)
    if ndim == 1:
        return as_vector(value, name, rows)
    targets = as_float_array(value, name, ndim=2)
    if targets.shape[0] != rows:
        raise ValueError(f"`{name}` must have shape ({rows}, m), one row per row of `X`; "
                         f"got shape {targets.shape}")
    if targets.shape[1] == 0:
        raise ValueError(f"`{name}` must have at least one column; got shape {targets.shape}")
    return targets


def as_quadratic(problem: object, name: str = "problem") -> Quadratic:
    """Return the :class:`Quadratic` of a problem, or raise a TypeError naming it."""
    quadratic = getattr(problem, "quadratic", None)
    if not isinstance(quadratic, Quadratic):
        raise TypeError(f"`{name}` must be a Quadratic or LinearRegression; "
                        f"got {type(problem).__name__}")
    return quadratic
